"""Corpus cases through ``nbgrader autograde`` with the course's configuration, which grades through
the sandbox (autograder/gradebook.py): the gradebook, read with nbgrader's own API, holds exactly
the standalone grader's score for every test cell -- the in-kernel cheats included (a replaced
``autograder.check``, patched numpy, an object whose ``__eq__`` always agrees), which fool a grader
running in the student's kernel but not this one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from autograder import grade
from tests.hardening import corpus as C
from tests.hardening.grading import LIMITS, grade_folder, hardened, record

CASES = (
    "control_solution",
    "loop_top_level",  # interrupted after the cell timeout, like the standalone grader
    "metadata_points",  # the source's points, not the edited ones
    "patch_autograder_check",  # in a kernel, the student's fake check() would award the points
    "patch_numpy",  # in a kernel, numpy's comparisons would always agree
    "eq_always_true",  # in a kernel, an object equal to everything could pass a comparison
)


def nbgrader(args: list[str], course: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def gradebook_scores(course: Path, assignment: str) -> dict[str, dict[str, float]]:
    """``{student: {item: auto_score}}`` of every graded test cell, from nbgrader's gradebook."""
    scores: dict[str, dict[str, float]] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for submission in gb.assignment_submissions(assignment):
            for notebook in submission.notebooks:
                for g in notebook.grades:
                    if g.name.startswith("test_"):
                        scores.setdefault(submission.student.id, {})[g.name[5:]] = float(g.auto_score or 0)
    return scores


@pytest.mark.slow
def test_nbgrader_autograde_records_the_sandboxs_scores(tmp_path: Path) -> None:
    course = tmp_path / "course"
    (course / "source").mkdir(parents=True)
    shutil.copy2(grade.COURSE_ROOT / "nbgrader_config.py", course)
    shutil.copytree(grade.COURSE_ROOT / "source" / C.ARITHMETIC, course / "source" / C.ARITHMETIC)
    context = C.Context(grade.COURSE_ROOT, tmp_path / "out")
    for name in CASES:
        folder = course / "submitted" / name / C.ARITHMETIC
        folder.mkdir(parents=True)
        (folder / f"{C.ARITHMETIC}.ipynb").write_bytes(C.build(C.CASES[name], context))
    nbgrader(["generate_assignment", C.ARITHMETIC, "--force"], course)
    limits = [f"--SandboxGrade.cell_timeout={LIMITS.cell_timeout}",
              f"--SandboxGrade.call_timeout={LIMITS.call_timeout}"]  # fmt: skip
    nbgrader(["autograde", C.ARITHMETIC, "--create", "--force", *limits], course)
    theirs = gradebook_scores(course, C.ARITHMETIC)
    with hardened(tmp_path):
        grade_folder(course / "submitted", C.ARITHMETIC, tmp_path / "out")
    ours = {
        name: {item["grade_id"]: item["earned"] for item in record(tmp_path / "out", name)["items"]}
        for name in CASES
    }
    assert theirs == ours
    for cheat in ("patch_autograder_check", "patch_numpy", "eq_always_true"):
        assert ours[cheat]["output_size"] == 0, cheat  # what the cheat aimed at, lost in both
    # the autograded notebook shows the sandbox's feedback in the test cell, and no hidden test code
    nbgrader(["generate_feedback", C.ARITHMETIC, "--force"], course)
    page = (
        course / "feedback" / "patch_autograder_check" / C.ARITHMETIC / f"{C.ARITHMETIC}.html"
    ).read_text()
    assert "output_size: 0/5 points" in page
    assert "BEGIN HIDDEN TESTS" not in page and "check(&quot;output_size&quot;" not in page
