"""The README's "Running the course" section, followed literally from a fresh course root.

The README's walkthrough blocks run in bash, unchanged except that the exchange is a temporary folder
instead of /srv/nbgrader/exchange and ``source .venv/bin/activate`` is this interpreter's environment.
The instructor (this process) and two students each have their own home folder; the students are real
users created with ``useradd`` (nbgrader takes the student id from the process's uid), which run the
students' commands with ``runuser`` when they can execute this interpreter, else in a user namespace
that gives the process their uid (``unshare --map-user``). Without root the test is skipped. Between
fetching and submitting the students do their work: alice hands in the instructor's solution, bob the
demo student who divides with ``/`` in output_size.

Checked through nbgrader's own gradebook and files: both submissions are autograded (alice full
automatic points, bob losing points on output_size only), the sandboxed grader agrees on every item,
the feedback reaches each student's home (formulas as MathML, no hidden tests), grades.csv has both,
the class report is written, no nbgrader warning about changed checksums or unrecognized config is
printed, and nothing is written into the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.demo import SOLUTION, STUDENTS, submission
from autograder.release import COURSE_ROOT
from tests.course.readme import walkthrough

ASSIGNMENT = "conv_arithmetic"
BUG = next(s for s in STUDENTS[ASSIGNMENT] if s.name == "cy")  # true division in output_size
WORK_MARKER = "# ... write the functions"

# `source .venv/bin/activate` in the README: this interpreter's environment is already on PATH
PRELUDE = 'source() { if [ "$1" = .venv/bin/activate ]; then return 0; fi; builtin source "$@"; }\n'


def _git_status() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=COURSE_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@contextmanager
def students(*names: str) -> Iterator[dict[str, tuple[str, list[str]]]]:
    """Real users for ``names``: ``{name: (user name, command prefix that runs as that user)}``."""
    if os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("acting as two students needs root (useradd)")
    made: dict[str, tuple[str, list[str]]] = {}
    try:
        for name in names:
            user = f"cnn-{name}-{os.getpid()}"
            subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/bash", user], check=True)
            made[name] = (user, [])
            uid, gid = (
                subprocess.run(["id", flag, user], capture_output=True, text=True, check=True).stdout.strip()
                for flag in ("-u", "-g")
            )
            probe = subprocess.run(
                ["runuser", "-u", user, "--", sys.executable, "-c", "pass"], capture_output=True
            )
            prefix = ["runuser", "-u", user, "-m", "--"] if probe.returncode == 0 else [
                "unshare", "--user", f"--map-user={uid}", f"--map-group={gid}"]  # fmt: skip
            made[name] = (user, prefix)
        yield made
    finally:
        for user, _ in made.values():
            subprocess.run(["userdel", user], capture_output=True)


def _bash(script: str, cwd: Path, env: dict[str, str], prefix: list[str] | None = None) -> str:
    proc = subprocess.run(
        [*(prefix or []), "bash", "-euo", "pipefail", "-c", PRELUDE + script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"exit {proc.returncode} running:\n{script}\n---\n{output[-4000:]}"
    return output


@pytest.mark.slow
def test_the_readme_course_section_end_to_end() -> None:
    blocks = walkthrough()
    assert list(blocks) == ["setup", "student", "grading", "feedback"]
    before = _git_status()
    with students("alice", "bob") as users, tempfile.TemporaryDirectory(prefix="walkthrough-") as scratch:
        root = Path(scratch)
        root.chmod(0o755)  # the students reach the course's for_students/ folder
        _walkthrough(blocks, root, users)
    assert _git_status() == before, "the walkthrough wrote into the checkout"


def _walkthrough(blocks: dict[str, str], root: Path, users: dict[str, tuple[str, list[str]]]) -> None:
    exchange = root / "exchange"
    homes = {name: root / name for name in ("instructor", *users)}
    for name, home in homes.items():
        home.mkdir(mode=0o755)
        if name in users and users[name][1][0] == "runuser":  # (in a user namespace, root's files are theirs)
            shutil.chown(home, users[name][0], users[name][0])
    course = homes["instructor"] / "cnn-course"
    base = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER_")}
    base["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), base.get("PATH", "")])

    def env(name: str) -> dict[str, str]:
        user = users[name][0] if name in users else os.environ.get("USER", "root")
        return {**base, "HOME": str(homes[name]), "USER": user, "LOGNAME": user, "COURSE": str(course)}

    setup = blocks["setup"].replace("/srv/nbgrader/exchange", str(exchange))
    _bash(setup, COURSE_ROOT, env("instructor"))
    assert (course / "gradebook.db").is_file() and oct(exchange.stat().st_mode & 0o7777) == "0o1777"
    for released in (COURSE_ROOT / "release").glob("*/*.ipynb"):  # students get the checkout's release/
        ours = course / "release" / released.parent.name / released.name
        assert json.loads(ours.read_text()) == json.loads(released.read_text()), released.name

    before_work, after_work = blocks["student"].split(WORK_MARKER)
    after_work = after_work.split("\n", 1)[1]  # the rest of the marker's line is a comment
    for name, student in (("alice", SOLUTION), ("bob", BUG)):
        _bash(before_work, homes[name], env(name), users[name][1])
        fetched = homes[name] / "cnn-course" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        work = nbformat.read(fetched, as_version=4)
        done = {
            c.metadata.get("nbgrader", {}).get("grade_id"): c.source
            for c in submission(ASSIGNMENT, student).cells
        }
        for cell in work.cells:
            if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
                cell.source = done[cell.metadata.nbgrader.grade_id]
        nbformat.write(work, fetched)  # as the student would save it (root writes; ownership unchanged)
        _bash(after_work, homes[name], env(name), users[name][1])

    printed = _bash(blocks["grading"], homes["instructor"], env("instructor"))
    assert "has changed" not in printed and "not recognized by" not in printed, printed[-3000:]
    for name in users:
        _bash(blocks["feedback"], homes[name], env(name), users[name][1])

    ids = {name: users[name][0] for name in users}
    items = ("output_size", "receptive_field", "conv2d_params")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        assert {a.name for a in gradebook.assignments} >= {
            "conv_arithmetic",
            "tinycnn",
            "fashion_mnist_kernels",
        }
        scores, maximum = {}, {}
        for name, student_id in ids.items():
            notebook = gradebook.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student_id)
            tests = [g for g in notebook.grades if g.name.startswith("test_")]
            scores[name] = {g.name[len("test_") :]: g.score for g in tests}
            maximum = {g.name[len("test_") :]: g.max_score for g in tests}
    assert scores["alice"] == maximum
    assert {i for i in items if scores["bob"][i] < maximum[i]} == {"output_size"}
    for name, student_id in ids.items():
        record = json.loads((course / "graded" / ASSIGNMENT / student_id / "grading.json").read_text())
        assert {r["grade_id"]: r["earned"] for r in record["items"]} == pytest.approx(scores[name])
        (page,) = (homes[name] / "cnn-course" / ASSIGNMENT / "feedback").glob(f"*/{ASSIGNMENT}.html")
        html = page.read_text()
        assert "<math" in html and "HIDDEN TESTS" not in html and "from autograder" not in html
    exported = (course / "grades.csv").read_text()
    assert all(student_id in exported for student_id in ids.values()), exported
    assert (course / "graded" / ASSIGNMENT / "class_report" / "index.html").is_file()
