"""release/ is exactly what `make release` (python -m autograder.release) generates from source/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autograder.release import release
from tests.notebooks.course_notebooks import ASSIGNMENTS, RELEASE


def _files(folder: Path) -> dict[str, object]:
    """Every file of a released folder; notebooks as parsed JSON (formatting-independent)."""
    return {
        p.name: json.loads(p.read_text()) if p.suffix == ".ipynb" else p.read_bytes()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


@pytest.mark.slow
def test_release_is_up_to_date(tmp_path: Path) -> None:
    folders = release(out_dir=tmp_path)
    assert sorted(f.name for f in folders) == sorted(ASSIGNMENTS)
    assert sorted(p.name for p in RELEASE.iterdir() if p.is_dir()) == sorted(ASSIGNMENTS)
    for folder in folders:
        assert _files(folder) == _files(RELEASE / folder.name), (
            f"release/{folder.name} is out of date: run `make release` and commit release/"
        )
