"""``nbgrader validate`` with the course's nbgrader_config.py, in a temporary copy of the course: on each
source notebook (solutions in, hidden tests calling ``autograder.check``) it reports success; on the
released stub it reports the failing cells -- by default the unanswered written questions (the release has
no hidden tests to fail), with ``--Validator.validate_all=True`` also every visible check failing with
the stub's message -- and never crashes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autograder.demo import _run
from autograder.release import COURSE_ROOT, IGNORE
from tests.notebooks.course_notebooks import ASSIGNMENTS, grade_id, meta, read, stub_message

FAILED_CELL = "The following cell failed:"
NO_RESPONSE = "You did not provide a response."


def _validate(course: Path, notebook: Path, name: str, *options: str) -> str:
    """``nbgrader validate`` run in ``course``; what it printed (stdout and stderr)."""
    log = course / "logs" / f"validate_{name}.log"
    _run(["nbgrader", "validate", str(notebook), *options], course, log)
    return log.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_validate_passes_the_source_and_lists_the_stubs_failures(assignment: str, tmp_path: Path) -> None:
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy2(COURSE_ROOT / "nbgrader_config.py", course)
    for folder in ("source", "release"):
        shutil.copytree(COURSE_ROOT / folder / assignment, course / folder / assignment, ignore=IGNORE)

    printed = _validate(course, course / "source" / assignment / f"{assignment}.ipynb", "source")
    assert "Success! Your notebook passes all the tests." in printed, printed[-3000:]
    assert FAILED_CELL not in printed and "Traceback" not in printed

    stub = course / "release" / assignment / f"{assignment}.ipynb"
    released = read(stub)
    written = [c for c in released.cells if c.cell_type == "markdown" and meta(c).get("grade")]
    visible = [c for c in released.cells if grade_id(c).startswith("visible_")]
    assert written and visible

    printed = _validate(course, stub, "stub")
    assert f"VALIDATION FAILED ON {len(written)} CELL(S)!" in printed, printed[-3000:]
    assert printed.count(FAILED_CELL) == printed.count(NO_RESPONSE) == len(written)

    printed = _validate(course, stub, "stub_all", "--Validator.validate_all=True")
    assert "VALIDATION FAILED ON" in printed and printed.count(NO_RESPONSE) == len(written), printed[-3000:]
    assert printed.count(FAILED_CELL) >= len(written) + len(visible)
    for cell in visible:
        # validate shows each failing cell's lines cut at 80 characters
        assert cell.source.strip().split("\n")[0][:60] in printed, grade_id(cell)
    assert printed.count(f"NotImplementedError: {stub_message()[:40]}") >= len(visible)
