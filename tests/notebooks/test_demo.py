"""The demo class's submissions (autograder.demo): every buggy student is a valid notebook that differs
from the solution exactly in the cells its bug touches. Grading them through nbgrader and the standalone
grader is tests/notebooks/test_nbgrader_e2e.py."""

from __future__ import annotations

import nbformat
import pytest

from autograder.demo import STUDENTS, submission
from tests.notebooks.course_notebooks import ASSIGNMENTS, grade_id


@pytest.mark.parametrize("assignment", [a for a in ASSIGNMENTS if a in STUDENTS])
def test_every_demo_student_is_a_valid_notebook_that_differs_where_the_bug_is(assignment: str) -> None:
    solution = submission(assignment, STUDENTS[assignment][0])
    for student in STUDENTS[assignment][2:]:
        nb = submission(assignment, student)
        nbformat.validate(nb)
        changed = {grade_id(a) for a, b in zip(nb.cells, solution.cells, strict=True) if a.source != b.source}
        assert changed == student.loses, student.name
