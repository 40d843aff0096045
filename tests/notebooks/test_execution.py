"""Every released notebook, run top to bottom in a fresh kernel: with the source's solutions put into
its solution cells it passes all its visible checks; as released (stubs), every visible check fails with
the stub's NotImplementedError."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.notebooks.course_notebooks import (
    ASSIGNMENTS,
    errors,
    execute,
    grade_id,
    read,
    release_notebook,
    stub_message,
    with_solutions,
)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solutions_pass_the_visible_checks(assignment: str, tmp_path: Path) -> None:
    nb = execute(with_solutions(assignment), assignment, tmp_path, allow_errors=False)
    visible = [c for c in nb.cells if grade_id(c).startswith("visible_")]
    assert visible
    for cell in visible:
        printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert "all checks passed" in printed, grade_id(cell)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_stubs_fail_the_visible_checks_with_the_stub_message(assignment: str, tmp_path: Path) -> None:
    nb = execute(read(release_notebook(assignment)), assignment, tmp_path, allow_errors=True)
    for cell in nb.cells:
        if grade_id(cell).startswith("visible_"):
            (error,) = errors(cell)
            assert error.ename == "NotImplementedError" and error.evalue == stub_message(), grade_id(cell)
        elif grade_id(cell) == "setup" or grade_id(cell).startswith("test_"):
            assert not errors(cell), grade_id(cell)
