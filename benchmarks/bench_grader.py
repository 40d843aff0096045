"""Every grading path on the same generated submissions, side by side: ``python -m benchmarks grader``.

Builds a temporary nbgrader course (this course's ``nbgrader_config.py`` and ``source/`` folders) and,
for each numpy assignment, ``N`` submissions per kind (``BENCH_GRADER_N``, default 2): *correct* (the
instructor's solution), *buggy* (every other function returns ``result + 1``) and *stub* (the
released ``NotImplementedError``), in nbgrader's ``submitted/STUDENT/ASSIGNMENT/`` layout. Then, one
after the other on the same machine, each in its own copy of the course:

- **stock nbgrader**: ``nbgrader autograde`` with nbgrader's own kernel execution step (the hidden
  test cells call ``check`` in the student's kernel: no sandbox);
- **nbgrader + sandbox**: ``nbgrader autograde`` with the course's configuration (the
  ``SandboxGrade`` preprocessor grades each submission in the sandbox);
- **parallel gradebook**: ``python -m autograder grade COURSE --assignment A --gradebook --jobs 2``
  (sandboxed grading in 2 processes, then nbgrader records it);
- **standalone**: ``python -m autograder grade --jobs 2`` at ``--isolation namespaces`` and at
  ``--isolation none`` (the sandbox's cost).

It prints wall-clock seconds per path and assignment, the speed of each path relative to stock
nbgrader (target: the parallel gradebook path >= 5x), the sandbox's cost (target: the isolated
throughput >= 80 % of the unisolated one), the median seconds per notebook of the standalone grader,
and whether every path gave every submission the same total (the in-kernel path is allowed to differ
only where a cheat could reach the grader: these submissions hold none).
"""

from __future__ import annotations

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


STOCK_PREPROCESSORS = """
c.Autograde.autograde_preprocessors = [
    "nbgrader.preprocessors.Execute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
"""


def nbgrader_autograde(course: Path, assignment: str, env: dict[str, str]) -> tuple[float, dict[str, float]]:
    nbgrader = str(Path(sys.executable).parent / "nbgrader")
    run_timed([nbgrader, "generate_assignment", assignment, "--force"], course, env)
    seconds = run_timed([nbgrader, "autograde", assignment, "--create", "--force"], course, env)
    return seconds, nbgrader_totals(course, assignment)


def parallel_gradebook(course: Path, assignment: str, env: dict[str, str]) -> tuple[float, dict[str, float]]:
    nbgrader = str(Path(sys.executable).parent / "nbgrader")
    run_timed([nbgrader, "generate_assignment", assignment, "--force"], course, env)
    seconds = run_timed(
        [sys.executable, "-m", "autograder", "grade", str(course), "--assignment", assignment,
         "--gradebook", "--jobs", "2", "--quiet", "--force"],
        course,
        env,
    )  # fmt: skip
    return seconds, nbgrader_totals(course, assignment)


def main() -> None:
    per_kind = int(os.environ.get("BENCH_GRADER_N", "2"))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    env["MPLBACKEND"] = "Agg"
    paths = ("stock nbgrader", "nbgrader + sandbox", "parallel gradebook", "standalone", "standalone, none")
    rows: list[tuple[str, int, dict[str, float], float, bool]] = []
    all_per: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-grader-") as tmp:
        base = Path(tmp) / "course"
        base.mkdir()
        kinds = make_course(base, NUMPY_ASSIGNMENTS, per_kind)
        courses = {}
        for path in ("stock nbgrader", "nbgrader + sandbox", "parallel gradebook", "standalone"):
            courses[path] = Path(tmp) / path.replace(" ", "-").replace("+", "plus")
            shutil.copytree(base, courses[path])
        with (courses["stock nbgrader"] / "nbgrader_config.py").open("a") as config:
            config.write(STOCK_PREPROCESSORS)
        for assignment in NUMPY_ASSIGNMENTS:
            n = sum(1 for a, _ in kinds if a == assignment)
            seconds: dict[str, float] = {}
            totals: dict[str, dict[str, float]] = {}
            seconds["stock nbgrader"], totals["stock nbgrader"] = nbgrader_autograde(
                courses["stock nbgrader"], assignment, env
            )
            seconds["nbgrader + sandbox"], totals["nbgrader + sandbox"] = nbgrader_autograde(
                courses["nbgrader + sandbox"], assignment, env
            )
            seconds["parallel gradebook"], totals["parallel gradebook"] = parallel_gradebook(
                courses["parallel gradebook"], assignment, env
            )
            out = Path(tmp) / "out" / assignment
            seconds["standalone"], per, totals["standalone"] = ours(
                courses["standalone"], assignment, out, env
            )
            seconds["standalone, none"], _, totals["standalone, none"] = ours(
                courses["standalone"], assignment, Path(tmp) / "out-none" / assignment, env, isolation="none"
            )
            all_per += per
            same = all(
                abs(t.get(student, -1) - totals["standalone"][student]) < 1e-6
                for t in totals.values()
                for student in totals["standalone"]
            )
            rows.append((assignment, n, seconds, statistics.median(per), same))
            for student, total in sorted(totals["standalone"].items()):
                kind = kinds[(assignment, student)]
                print(f"  {assignment:20s} {student:9s} {kind:8s} total {total}", flush=True)
    print(
        f"\nN = {per_kind} submissions per kind (correct, buggy, stub) per assignment; "
        "--jobs 2 where parallel"
    )
    header = "".join(f"{p:>20s}" for p in paths)
    print(f"{'seconds':22s}{'notebooks':>10s}{header}{'same totals':>13s}")
    for assignment, n, seconds, _median, same in rows:
        print(
            f"{assignment:22s}{n:10d}"
            + "".join(f"{seconds[p]:20.1f}" for p in paths)
            + f"{'yes' if same else 'NO':>13s}"
        )
    n_all = sum(r[1] for r in rows)
    total = {p: sum(r[2][p] for r in rows) for p in paths}
    print(f"{'all':22s}{n_all:10d}" + "".join(f"{total[p]:20.1f}" for p in paths))
    print(
        f"{'x stock nbgrader':32s}" + "".join(f"{total['stock nbgrader'] / total[p]:19.1f}x" for p in paths)
    )
    print(f"median seconds per notebook (standalone, one grading process): {statistics.median(all_per):.2f}")
    print(
        f"the sandbox's cost: namespaces {total['standalone']:.1f} s, "
        f"none {total['standalone, none']:.1f} s; "
        f"isolated throughput = {total['standalone, none'] / total['standalone']:.0%} of the unisolated one"
    )
    print("targets: parallel gradebook >= 5x stock nbgrader; isolated throughput >= 80 % of unisolated")


if __name__ == "__main__":
    main()
