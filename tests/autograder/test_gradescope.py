"""The Gradescope bundle, unpacked into a simulated /autograder and run like Gradescope runs it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import grade, gradescope
from autograder import notebook as nb

ASSIGNMENT = "conv_arithmetic"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return gradescope.build_bundle(ASSIGNMENT, tmp_path_factory.mktemp("bundle") / "autograder.zip")


def unpack(bundle: Path, root: Path) -> Path:
    """Gradescope's layout: the zip in ROOT/source, the student's files in ROOT/submission."""
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
        for info in archive.infolist():
            mode = (info.external_attr >> 16) & 0o777
            os.chmod(root / "source" / info.filename, mode)
    (root / "submission").mkdir()
    (root / "results").mkdir()
    return root


def run_autograder(root: Path) -> dict[str, object]:
    env = {
        "PATH": os.environ["PATH"],
        "AUTOGRADER_ROOT": str(root),
        "AUTOGRADER_PYTHON": sys.executable,
        "PYTHONPATH": str(root / "source" / "package"),  # what setup.sh's pip install provides
    }
    done = subprocess.run(
        [str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads((root / "results" / "results.json").read_text())


def test_bundle_holds_scripts_packages_and_the_source_notebook(bundle: Path) -> None:
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        modes = {i.filename: (i.external_attr >> 16) for i in archive.infolist()}
    assert {"setup.sh", "run_autograder", "requirements.txt", "package/pyproject.toml"} <= names
    assert f"course/source/{ASSIGNMENT}/{ASSIGNMENT}.ipynb" in names
    assert {"package/autograder/grade.py", "package/course_lib/__init__.py"} <= names
    assert modes["run_autograder"] & stat.S_IXUSR and modes["setup.sh"] & stat.S_IXUSR
    assert not any("__pycache__" in n for n in names)


def test_bundle_is_reproducible(bundle: Path, tmp_path: Path) -> None:
    again = gradescope.build_bundle(ASSIGNMENT, tmp_path / "again.zip")
    assert again.read_bytes() == bundle.read_bytes()


def test_run_autograder_grades_the_submission_into_results_json(bundle: Path, tmp_path: Path) -> None:
    root = unpack(bundle, tmp_path / "autograder")
    source = nb.load_source(grade.COURSE_ROOT / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    nbformat.write(nb.student_copy(source, "solution"), root / "submission" / "my_work.ipynb")
    data = run_autograder(root)
    full = sum(p for _, p in nb.plan(source, source).items)
    assert data["score"] == data["max_score"] == full
    assert [t["name"] for t in data["tests"]] == [g for g, _ in nb.plan(source, source).items]  # type: ignore[union-attr]


def test_run_autograder_without_a_notebook_scores_zero(bundle: Path, tmp_path: Path) -> None:
    root = unpack(bundle, tmp_path / "autograder")
    (root / "submission" / "notes.txt").write_text("forgot the notebook")
    data = run_autograder(root)
    assert data["score"] == 0
    assert "no notebook" in str(data["output"])


def test_unknown_assignment_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no source notebook"):
        gradescope.build_bundle("nope", tmp_path / "x.zip")
