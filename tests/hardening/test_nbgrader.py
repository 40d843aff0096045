"""A few corpus cases through ``nbgrader autograde`` too (it runs every notebook in a Jupyter kernel,
so only a handful): nbgrader finishes and scores every test cell, and agrees with the standalone
grader except where a cheat reaches into the kernel, which is why the standalone verdict stands
(docs/threat_model.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import grade
from benchmarks.bench_grader import nbgrader_totals
from tests.hardening import corpus as C
from tests.hardening.grading import grade_folder, hardened

#: Cases graded by both graders: (name, whether both must agree).
CASES = {
    "loop_top_level": True,  # nbgrader interrupts the cell after --Execute.timeout, like the sandbox
    "metadata_points": True,  # nbgrader restores the test cell's points from its gradebook
    "patch_autograder_check": False,  # in the kernel, the student's fake check() awards the points
}


def nbgrader(args: list[str], course: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.skipif(
    shutil.which("nbgrader", path=str(Path(sys.executable).parent)) is None, reason="no nbgrader"
)
def test_nbgrader_autograde_on_representative_cases(tmp_path: Path) -> None:
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
    nbgrader(["autograde", C.ARITHMETIC, "--create", "--force", "--Execute.timeout=3"], course)
    theirs = nbgrader_totals(course, C.ARITHMETIC)
    with hardened(tmp_path):
        ours = grade_folder(course / "submitted", C.ARITHMETIC, tmp_path / "out")
    assert set(theirs) == set(ours) == set(CASES)
    for name, agree in CASES.items():
        if agree:
            assert theirs[name] == ours[name], (name, theirs[name], ours[name])
        else:
            assert ours[name] < theirs[name], (name, theirs[name], ours[name])
