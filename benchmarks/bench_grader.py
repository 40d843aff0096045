"""The batch grader against ``nbgrader autograde``, on the same generated submissions.

``python -m benchmarks grader`` builds a temporary nbgrader course (this course's
``nbgrader_config.py`` and ``source/`` folders) and, for each numpy assignment, ``N`` submissions per
kind (``BENCH_GRADER_N``, default 2): *correct* (the instructor's solution), *buggy* (every other
function returns ``result + 1``) and *stub* (the released ``NotImplementedError``), in nbgrader's
``submitted/STUDENT/ASSIGNMENT/`` layout. Then, one after the other on the same machine:

- ``python -m autograder grade COURSE --assignment A --jobs 2`` (sandboxed, property-based),
- ``nbgrader autograde A --create --force`` (runs every notebook in a Jupyter kernel; the hidden test
  cells call the same ``check`` in-kernel).

It prints wall-clock seconds and notebooks per second for both, their ratio (target: the batch
grader >= 5x nbgrader), the median seconds per notebook of the batch grader (per-submission time in
one grading process; target <= 2 s), and whether both gave every submission the same total.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from autograder import notebook as nb
from autograder.items import ASSIGNMENTS

ROOT = Path(__file__).resolve().parent.parent
NUMPY_ASSIGNMENTS = ("conv_arithmetic", "convolution_by_hand", "backprop_conv_pool")
KINDS = ("correct", "buggy", "stub")


def buggy_cell(source: str, grade_id: str) -> str:
    """The instructor's solution, wrapped so that the result (or its first element) is off by one."""
    return (
        f"{source}\n\n_student_{grade_id} = {grade_id}\n\n\n"
        f"def {grade_id}(*args, **kwargs):\n"
        f"    out = _student_{grade_id}(*args, **kwargs)\n"
        f"    return (out[0] + 1, *out[1:]) if isinstance(out, tuple) else out + 1\n"
    )


def make_course(folder: Path, assignments: tuple[str, ...], per_kind: int) -> dict[tuple[str, str], str]:
    """A temporary nbgrader course with generated submissions; returns ``{(assignment, student): kind}``."""
    shutil.copy(ROOT / "nbgrader_config.py", folder / "nbgrader_config.py")
    kinds: dict[tuple[str, str], str] = {}
    for assignment in assignments:
        shutil.copytree(ROOT / "source" / assignment, folder / "source" / assignment)
        source = nb.load_source(folder / "source" / assignment / f"{assignment}.ipynb")
        solved = nb.student_copy(source, "solution")
        solutions = {
            c.metadata["nbgrader"]["grade_id"]: c.source
            for c in solved.cells
            if c.get("metadata", {}).get("nbgrader", {}).get("solution") and c.cell_type == "code"
        }
        graded = [g for g in ASSIGNMENTS[assignment] if g in solutions]
        notebooks = {
            "correct": solved,
            "buggy": nb.student_copy(source, {g: buggy_cell(solutions[g], g) for g in graded[::2]}),
            "stub": nb.student_copy(source, "stub"),
        }
        for kind in KINDS:
            for k in range(per_kind):
                student = f"{kind}{k}"
                target = folder / "submitted" / student / assignment / f"{assignment}.ipynb"
                target.parent.mkdir(parents=True, exist_ok=True)
                nbformat.write(notebooks[kind], target)
                helpers = (folder / "source" / assignment).glob("*.py")
                for helper in helpers:
                    shutil.copy(helper, target.parent / helper.name)
                kinds[(assignment, student)] = kind
    return kinds


def run_timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def ours(
    course: Path, assignment: str, out: Path, env: dict[str, str], isolation: str = "namespaces"
) -> tuple[float, list[float], dict[str, float]]:
    """Wall seconds, per-submission seconds and totals of ``python -m autograder grade --jobs 2``."""
    seconds = run_timed(
        [sys.executable, "-m", "autograder", "grade", str(course), "--assignment", assignment,
         "--jobs", "2", "--out", str(out), "--quiet", "--force", "--isolation", isolation],
        course,
        env,
    )  # fmt: skip
    per, totals = [], {}
    for record in sorted(out.glob("*/grading.json")):
        data = json.loads(record.read_text())
        per.append(float(data["seconds"]))
        totals[data["student"]] = float(data["total"])
    return seconds, per, totals


def nbgrader_totals(course: Path, assignment: str) -> dict[str, float]:
    """Each student's autograded score from the course's gradebook."""
    query = (
        "SELECT student.id, SUM(grade.auto_score) FROM grade "
        "JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id "
        "JOIN submitted_assignment ON submitted_notebook.assignment_id = submitted_assignment.id "
        "JOIN assignment ON submitted_assignment.assignment_id = assignment.id "
        "JOIN student ON submitted_assignment.student_id = student.id "
        "WHERE assignment.name = ? GROUP BY student.id"
    )
    with sqlite3.connect(course / "gradebook.db") as db:
        return {str(s): round(float(v or 0.0), 6) for s, v in db.execute(query, (assignment,))}


def theirs(course: Path, assignment: str, env: dict[str, str]) -> tuple[float, dict[str, float]]:
    nbgrader = str(Path(sys.executable).parent / "nbgrader")
    run_timed([nbgrader, "generate_assignment", assignment, "--force"], course, env)
    seconds = run_timed([nbgrader, "autograde", assignment, "--create", "--force"], course, env)
    return seconds, nbgrader_totals(course, assignment)


def main() -> None:
    per_kind = int(os.environ.get("BENCH_GRADER_N", "2"))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    env["MPLBACKEND"] = "Agg"
    rows = []
    isolation_rows = []
    all_per: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-grader-") as tmp:
        course = Path(tmp) / "course"
        course.mkdir()
        kinds = make_course(course, NUMPY_ASSIGNMENTS, per_kind)
        for assignment in NUMPY_ASSIGNMENTS:
            n = sum(1 for a, _ in kinds if a == assignment)
            our_s, per, our_totals = ours(course, assignment, Path(tmp) / "out" / assignment, env)
            none_s, none_per, none_totals = ours(
                course, assignment, Path(tmp) / "out-none" / assignment, env, isolation="none"
            )
            isolation_rows.append(
                (assignment, n, our_s, none_s, statistics.median(per), statistics.median(none_per),
                 none_totals == our_totals)
            )  # fmt: skip
            their_s, their_totals = theirs(course, assignment, env)
            all_per += per
            agree = sum(1 for s, t in our_totals.items() if abs(their_totals.get(s, -1) - t) < 1e-6)
            rows.append((assignment, n, our_s, their_s, statistics.median(per), f"{agree}/{n}"))
            with (Path(tmp) / "out" / assignment / "grades.csv").open() as handle:
                for row in csv.DictReader(handle):
                    kind = kinds[(assignment, row["student"])]
                    print(
                        f"  {assignment:20s} {row['student']:9s} {kind:8s} total {row['total']}", flush=True
                    )
    print(
        f"\nN = {per_kind} submissions per kind (correct, buggy, stub) per assignment; autograder --jobs 2\n"
        f"{'assignment':22s}{'notebooks':>10s}{'autograder s':>14s}{'nb/s':>8s}{'nbgrader s':>12s}"
        f"{'nb/s':>8s}{'ratio':>8s}{'median s/nb':>13s}{'same total':>12s}"
    )
    for assignment, n, our_s, their_s, median, agree in rows:
        print(
            f"{assignment:22s}{n:10d}{our_s:14.1f}{n / our_s:8.2f}{their_s:12.1f}{n / their_s:8.2f}"
            f"{their_s / our_s:8.1f}{median:13.2f}{agree:>12s}"
        )
    n_all = sum(r[1] for r in rows)
    our_all, their_all = sum(r[2] for r in rows), sum(r[3] for r in rows)
    print(
        f"{'all':22s}{n_all:10d}{our_all:14.1f}{n_all / our_all:8.2f}"
        f"{their_all:12.1f}{n_all / their_all:8.2f}"
        f"{their_all / our_all:8.1f}{statistics.median(all_per):13.2f}"
    )
    print("targets: ratio >= 5x, median <= 2 s per notebook")
    print(
        "\nthe sandbox's cost, side by side (--jobs 2): --isolation namespaces against --isolation none\n"
        f"{'assignment':22s}{'notebooks':>10s}{'namespaces s':>14s}{'none s':>9s}{'throughput':>12s}"
        f"{'median s/nb':>13s}{'(none)':>8s}{'same totals':>13s}"
    )
    for assignment, n, ns_s, none_s, ns_median, none_median, same in isolation_rows:
        print(
            f"{assignment:22s}{n:10d}{ns_s:14.1f}{none_s:9.1f}{none_s / ns_s:11.0%} "
            f"{ns_median:13.2f}{none_median:8.2f}{'yes' if same else 'NO':>13s}"
        )
    ns_all = sum(r[2] for r in isolation_rows)
    none_all = sum(r[3] for r in isolation_rows)
    print(f"{'all':22s}{n_all:10d}{ns_all:14.1f}{none_all:9.1f}{none_all / ns_all:11.0%}")
    print("target: the isolated throughput >= 80 % of the unisolated one")


if __name__ == "__main__":
    main()
