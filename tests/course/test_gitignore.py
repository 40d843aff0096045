"""What nbgrader, the demo and the tests write is git-ignored, so running a course (or the demo) in a
copy of this checkout never shows up as changes to commit."""

from __future__ import annotations

import subprocess

import pytest

from autograder.release import COURSE_ROOT

WRITTEN = [
    "submitted/alice/conv_arithmetic/conv_arithmetic.ipynb",  # nbgrader collect
    "autograded/alice/conv_arithmetic/conv_arithmetic.ipynb",  # nbgrader autograde
    "feedback/alice/conv_arithmetic/conv_arithmetic.html",  # nbgrader generate_feedback
    "grades.csv",  # nbgrader export
    "gradebook.db",
    ".nbgrader.log",
    "logs/nbgrader.log",
    "demo_class/class_report/index.html",  # make demo
    "out/screenshots/formgrader.png",  # the browser tests
    "out/figures/tinycnn/figure_01.png",  # the notebook tests
]


@pytest.mark.parametrize("path", WRITTEN)
def test_is_ignored(path: str) -> None:
    proc = subprocess.run(["git", "check-ignore", "--no-index", path], cwd=COURSE_ROOT, capture_output=True)
    assert proc.returncode == 0, f"{path} is not git-ignored"
