"""Every assignment end to end through ``nbgrader autograde`` and the standalone grader, in a fresh
course per assignment (autograder.demo's class builder and score table): the solution gets full
automatic points, the stub 0, each buggy student strictly between, losing points exactly on the
functions its bug touches; both graders agree on every function of every submission; and no graded
test cell of the solution writes to stderr (nbgrader zeroes such a cell); nbgrader's feedback holds no
hidden test code and its CSV export has every student."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from autograder.demo import (
    SOLUTION,
    STUB,
    STUDENTS,
    Student,
    build_class,
    collect,
    feedback_and_export,
    grade_both,
    table,
)
from tests.notebooks.course_notebooks import ASSIGNMENTS, grade_id

#: The buggy students graded here per assignment (the demo grades them all): each one costs a full
#: notebook run in nbgrader's kernel, so the test keeps the first of each assignment's demo mutants.
MUTANTS_PER_ASSIGNMENT = 1


def _class(assignment: str) -> tuple[Student, ...]:
    mutants = [s for s in STUDENTS[assignment] if s.edits]
    return (SOLUTION, STUB, *mutants[:MUTANTS_PER_ASSIGNMENT])


def test_every_assignment_has_a_solution_a_stub_and_a_mutant_in_the_demo() -> None:
    assert sorted(STUDENTS) == sorted(ASSIGNMENTS)
    for assignment in ASSIGNMENTS:
        students = _class(assignment)
        assert students[:2] == (SOLUTION, STUB) and len(students) == 2 + MUTANTS_PER_ASSIGNMENT, assignment
        assert set(STUDENTS[assignment]) >= set(students), assignment


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_nbgrader_and_the_standalone_grader_score_the_class_as_predicted(
    assignment: str, tmp_path: Path
) -> None:
    root = tmp_path / "course"
    students = {assignment: _class(assignment)}
    build_class(root, [assignment], students=students)
    grade_both(root, [assignment])
    rows = collect(root, [assignment], students)

    assert [row.student for row in rows] == list(students[assignment])
    for row in rows:
        name = row.student.name
        assert row.points and set(row.nbgrader) == set(row.standalone) == set(row.points), name
        for item in row.points:
            assert row.nbgrader[item] == pytest.approx(row.standalone[item], abs=1e-6), (name, item)
        kept = {item for item in row.points if not (row.student.stub or item in row.student.loses)}
        full = {item for item, earned in row.standalone.items() if earned >= row.points[item] - 1e-9}
        assert full == kept, name
        if row.student.edits:
            assert 0 < row.total("nbgrader") < row.max_total, row.student.name
        assert row.problems == [], (row.student.name, row.problems)
    assert "<--" not in table(rows)
    assert feedback_and_export(root, [assignment]) == []
    assert (root / "grades.csv").read_text().count(assignment) == len(rows)

    solution = nbformat.read(root / "autograded" / SOLUTION.name / assignment / f"{assignment}.ipynb", 4)
    graded = [c for c in solution.cells if grade_id(c).startswith("test_")]
    assert {grade_id(c)[len("test_") :] for c in graded} == set(rows[0].points)
    for cell in graded:
        streams = [o for o in cell.outputs if o.output_type == "stream"]
        assert streams and all(o.name == "stdout" for o in streams), (grade_id(cell), streams)
        assert not [o for o in cell.outputs if o.output_type == "error"], grade_id(cell)
