"""autograder.release: refuses to publish a source notebook with outputs or a course_lib import, and
only releases declared assignments. (That release/ is up to date: tests/notebooks/test_release.py.)"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from autograder.release import ReleaseError, check_source, course_assignments, release


def _write(tmp_path: Path, cell: nbformat.NotebookNode) -> Path:
    path = tmp_path / "nb.ipynb"
    nbformat.write(new_notebook(cells=[cell]), path)
    return path


def test_clean_notebook_passes(tmp_path: Path) -> None:
    check_source(_write(tmp_path, new_code_cell("import numpy as np")))


def test_outputs_are_refused(tmp_path: Path) -> None:
    cell = new_code_cell("print(1)", outputs=[new_output("stream", name="stdout", text="1\n")])
    with pytest.raises(ReleaseError, match="cell 0 has outputs"):
        check_source(_write(tmp_path, cell))


def test_execution_count_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError, match="outputs"):
        check_source(_write(tmp_path, new_code_cell("1", execution_count=3)))


@pytest.mark.parametrize(
    "line", ["import course_lib", "from course_lib.conv import conv2d", "  import course_lib.x"]
)
def test_course_lib_import_is_refused(tmp_path: Path, line: str) -> None:
    with pytest.raises(ReleaseError, match="imports course_lib"):
        check_source(_write(tmp_path, new_code_cell(f"x = 1\n{line}")))


def test_mentioning_course_lib_is_fine(tmp_path: Path) -> None:
    check_source(_write(tmp_path, new_code_cell("# unlike course_lib, this is yours\nimport course_library")))


def test_assignments_come_from_nbgrader_config() -> None:
    assert course_assignments()[:3] == ("conv_arithmetic", "convolution_by_hand", "backprop_conv_pool")


def test_unknown_assignment_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError, match=r"not in nbgrader_config\.ASSIGNMENTS"):
        release(["no_such_assignment"], out_dir=tmp_path)
    assert not any(tmp_path.iterdir())
