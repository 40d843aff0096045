"""The demo class end to end through nbgrader and the standalone grader (autograder.demo): the solution
gets full automatic points, the stub 0, every buggy student strictly between and loses points exactly
on the functions the bug touches, both graders agree on every function, and the feedback nbgrader
writes contains no hidden test code."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from autograder.demo import STUDENTS, run_demo, submission
from tests.notebooks.course_notebooks import ASSIGNMENTS, grade_id


@pytest.mark.parametrize("assignment", [a for a in ASSIGNMENTS if a in STUDENTS])
def test_every_demo_student_is_a_valid_notebook_that_differs_where_the_bug_is(assignment: str) -> None:
    solution = submission(assignment, STUDENTS[assignment][0])
    for student in STUDENTS[assignment][2:]:
        nb = submission(assignment, student)
        nbformat.validate(nb)
        changed = {grade_id(a) for a, b in zip(nb.cells, solution.cells, strict=True) if a.source != b.source}
        assert changed == student.loses, student.name


@pytest.mark.slow
def test_demo_class_through_nbgrader_and_the_standalone_grader(tmp_path: Path) -> None:
    rows, problems = run_demo(tmp_path / "demo_class", ["conv_arithmetic"], quiet=True)
    assert problems == []
    assert [r.student.name for r in rows] == [s.name for s in STUDENTS["conv_arithmetic"]]
    totals = {r.student.name: (r.total("nbgrader"), r.total("standalone"), r.max_total) for r in rows}
    assert totals["ada"] == (11, 11, 11) and totals["bo"] == (0, 0, 11)
    assert (tmp_path / "demo_class" / "grades.csv").read_text().count("conv_arithmetic") == len(rows)
