"""``nbgrader validate``, as an instructor (the course's nbgrader_config.py, on the source notebooks) and
as a student (only the student settings, ``student/etc/jupyter/nbgrader_config.py``, on the released
notebook in a folder of their own).

The instructor's source passes. A student's untouched release fails, and the report names every
function still to write (each failing check cell starts with "# Checks for NAME") and every unanswered
question, without any hidden test: the released test cells hold none, and they pass. On main, Validate
said "Success!" for a notebook of stubs once the written questions were answered: it looked only at
grade cells, and the visible checks are not grade cells."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from autograder.demo import _run
from autograder.release import COURSE_ROOT, IGNORE
from tests.notebooks.course_notebooks import ASSIGNMENTS, grade_id, meta, read, stub_message

FAILED_CELL = "The following cell failed:"
NO_RESPONSE = "You did not provide a response."
STUDENT_SETTINGS = COURSE_ROOT / "student" / "etc" / "jupyter" / "nbgrader_config.py"


def _validate(cwd: Path, notebook: Path, log: Path) -> str:
    """``nbgrader validate`` run in ``cwd``; what it printed (stdout and stderr)."""
    _run(["nbgrader", "validate", str(notebook)], cwd, log)
    return log.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_validate_passes_the_source_and_names_every_stub_to_a_student(
    assignment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy2(COURSE_ROOT / "nbgrader_config.py", course)
    shutil.copytree(COURSE_ROOT / "source" / assignment, course / "source" / assignment, ignore=IGNORE)
    printed = _validate(
        course, course / "source" / assignment / f"{assignment}.ipynb", tmp_path / "source.log"
    )
    assert "Success! Your notebook passes all the tests." in printed, printed[-3000:]
    assert FAILED_CELL not in printed and "Traceback" not in printed

    # the student: their own folder, no course configuration, the student environment's settings
    settings = tmp_path / "student-jupyter"
    settings.mkdir()
    shutil.copy2(STUDENT_SETTINGS, settings / "nbgrader_config.py")
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(settings))
    monkeypatch.delenv("JUPYTER_CONFIG_PATH", raising=False)
    home = tmp_path / "student" / assignment
    shutil.copytree(COURSE_ROOT / "release" / assignment, home, ignore=IGNORE)
    stub = home / f"{assignment}.ipynb"
    released = read(stub)
    written = [c for c in released.cells if c.cell_type == "markdown" and meta(c).get("grade")]
    visible = [c for c in released.cells if grade_id(c).startswith("visible_")]
    assert written and visible

    printed = _validate(home, stub, tmp_path / "stub.log")
    assert f"VALIDATION FAILED ON {len(written) + len(visible)} CELL(S)!" in printed, printed[-3000:]
    assert printed.count(FAILED_CELL) == len(written) + len(visible)
    assert printed.count(NO_RESPONSE) == len(written)
    named = re.findall(r"^ +# Checks for (\w+)", printed, re.MULTILINE)
    assert sorted(set(named)) == sorted(grade_id(c)[len("visible_") :] for c in visible)
    assert printed.count(f"NotImplementedError: {stub_message()[:40]}") >= len(visible)
    for secret in ("HIDDEN TESTS", "from autograder", "check("):
        assert secret not in printed, secret
