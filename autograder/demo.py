r"""The demo class: a realistic class graded by nbgrader and by the standalone grader, side by side.

``python -m autograder.demo [--root DIR] [--jobs N] [ASSIGNMENT ...]`` (part of ``make demo``):

1. generate the student versions from ``source/`` (:mod:`autograder.release`) into a temporary folder
   (the checkout's tracked ``release/`` is never written);
2. build a fresh nbgrader course in ``demo_class/`` (git-ignored): ``nbgrader_config.py``, ``source/``
   and a gradebook holding every assignment (``nbgrader generate_assignment``);
3. hand in, per assignment, the students of :data:`STUDENTS`: the instructor's solution, the untouched
   release (stubs) and students with one realistic bug each -- an edit of the solution text, so what
   is graded is a real notebook, exactly as a student would submit it;
4. grade every submission twice, concurrently: ``nbgrader autograde`` into the sqlite gradebook, and
   the sandboxed standalone grader (``python -m autograder grade``);
5. print each student's automatic score from both graders side by side, flag any disagreement and any
   student whose score is not what the bug predicts (solution full, stub 0, a bug strictly between
   and losing points exactly on the items it touches);
6. write feedback with ``nbgrader generate_feedback`` (hidden test code removed, see
   ``nbgrader_config.py``) next to the standalone grader's feedback files, export the gradebook
   to ``demo_class/grades.csv``, and write the class report (:mod:`autograder.class_report`) of the
   standalone grader's records to ``demo_class/class_report/``.

Exit status 1 when any row is flagged.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.class_report import write_report
from autograder.course import make_exchange
from autograder.grade import load_record
from autograder.release import COURSE_ROOT, IGNORE, release, released_assignments, source_notebook

DEMO_ROOT = COURSE_ROOT / "demo_class"
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


@dataclass(frozen=True)
class Student:
    """A submission of the demo class: the solution, the stub, or the solution with ``edits``
    (``(grade_id, old, new)``: replace ``old``, which must occur exactly once, in that cell)."""

    name: str
    bug: str = ""
    edits: tuple[tuple[str, str, str], ...] = ()
    stub: bool = False

    @property
    def loses(self) -> frozenset[str]:
        """The graded functions this student's bug touches."""
        return frozenset(grade_id for grade_id, _, _ in self.edits)


SOLUTION = Student("ada", "the instructor's solution")
STUB = Student("bo", "handed in the release untouched (stubs)", stub=True)

STUDENTS: dict[str, tuple[Student, ...]] = {
    "conv_arithmetic": (
        SOLUTION,
        STUB,
        Student(
            "cy",
            "true division: output_size returns 4.5, not 4",
            (("output_size", "- extent) // stride + 1", "- extent) / stride + 1"),),
        ),
        Student(
            "di",
            "forgets that strides multiply along the stack",
            (("receptive_field", "        jump *= s\n", ""),),
        ),
        Student(
            "ed",
            "counts no biases, and no checks",
            (
                ("conv2d_params", "return weights + (out_channels if bias else 0)", "return weights"),
                ("conv2d_params", "        if value < 1:\n", "        if value < -1:\n"),
            ),
        ),
        Student(
            "fa",
            "true division, and replaces autograder.check to fake full marks (the in-kernel cheat)",
            (
                (
                    "output_size",
                    "- extent) // stride + 1",
                    "- extent) / stride + 1\n\n\ntry:  # full marks from a fake grader, in the kernel\n"
                    "    import autograder\n    from autograder.items import ITEMS\n\n"
                    "    autograder.check = lambda grade_id, obj: float(ITEMS[grade_id].points)\n"
                    "except ImportError:\n    pass",
                ),
            ),
        ),
    ),
    "convolution_by_hand": (
        SOLUTION,
        STUB,
        Student(
            "cy",
            "flips the kernel (true convolution)",
            (("conv2d_single", "* kernel)", "* kernel[::-1, ::-1])"),),
        ),
        Student(
            "di",
            "conv2d ignores the stride when slicing windows",
            (("conv2d", "top, left = i * stride, j * stride", "top, left = i, j"),),
        ),
        Student(
            "ed",
            "relu zeroes the caller's array in place",
            (
                (
                    "relu",
                    "return np.maximum(np.asarray(x, dtype=np.float64), 0.0)",
                    "x[x < 0] = 0\n    return x",
                ),
            ),
        ),
        Student(
            "fa",
            "max pooling defaults to stride 1",
            (("maxpool2d", "s = k if stride is None else stride", "s = 1 if stride is None else stride"),),
        ),
    ),
    "backprop_conv_pool": (
        SOLUTION,
        STUB,
        Student(
            "cy",
            "maxpool2d_backward overwrites instead of accumulating",
            (("maxpool2d_backward", "j * s + q] += dout", "j * s + q] = dout"),),
        ),
        Student(
            "di",
            "conv2d_backward crops the padding from the wrong side",
            (("conv2d_backward", "dx = dxp[:, :, p:p + h, p:p + wd]", "dx = dxp[:, :, :h, :wd]"),),
        ),
        Student(
            "ed",
            "one-sided differences in numerical_gradient",
            (
                ("numerical_gradient", "x[index] = old - eps", "x[index] = old"),
                ("numerical_gradient", "/ (2 * eps)", "/ eps"),
            ),
        ),
        Student(
            "fa",
            "relu_backward ignores dout",
            (("relu_backward", "np.asarray(dout, dtype=np.float64) * (np.asarray(x) > 0)", "1.0 * (x > 0)"),),
        ),
    ),
    "tinycnn": (
        SOLUTION,
        STUB,
        Student(
            "cy",
            "sums the cross-entropy over the batch instead of averaging it",
            (("TinyCNN", "        dlogits /= n\n", ""),),
        ),
        Student(
            "di",
            "flattens the pooled maps position-major (not like torch.flatten)",
            (
                (
                    "TinyCNN",
                    "flat = maxpool2d(act).reshape(X.shape[0], -1)",
                    "flat = maxpool2d(act).transpose(0, 2, 3, 1).reshape(X.shape[0], -1)",
                ),
            ),
        ),
    ),
    "fashion_mnist_kernels": (
        SOLUTION,
        STUB,
        Student(
            "cy",
            "count_parameters also counts frozen parameters",
            (
                (
                    "count_parameters",
                    "model.parameters() if p.requires_grad)",
                    "model.parameters())",
                ),
            ),
        ),
        Student(
            "di",
            "evaluate forgets model.eval() (dropout stays on)",
            (("evaluate", "    model.eval()\n", ""),),
        ),
        Student(
            "ed",
            "confusion matrix with rows and columns swapped",
            (
                (
                    "confusion_matrix",
                    "(np.asarray(y_true), np.asarray(y_pred))",
                    "(np.asarray(y_pred), np.asarray(y_true))",
                ),
            ),
        ),
    ),
    "batchnorm_and_efficient_convs": (
        SOLUTION,
        STUB,
        Student(
            "cy",
            "the running variance takes the biased batch variance",
            (("batchnorm2d", "momentum * var * m / (m - 1)", "momentum * var"),),
        ),
        Student(
            "di",
            "batch norm normalises with the running statistics in training mode too",
            (
                ("batchnorm2d", "x_hat = (x - mean[None", "x_hat = (x - running_mean[None"),
                ("batchnorm2d", "np.sqrt(var[None", "np.sqrt(running_var[None"),
            ),
        ),
        Student(
            "ed",
            "the depthwise weights are applied across channels (each filter sees their sum)",
            (
                (
                    "depthwise_separable_conv2d",
                    "y += window * w_depthwise",
                    "y += window.sum(axis=1, keepdims=True) * w_depthwise",
                ),
            ),
        ),
        Student(
            "fa",
            "batchnorm2d_backward treats the batch mean and variance as constants",
            (
                (
                    "batchnorm2d_backward",
                    "dx = k * (m * dout - dbeta[None, :, None, None] - x_hat * dgamma[None, :, None, None])",
                    "dx = k * m * dout",
                ),
            ),
        ),
    ),
}


# ------------------------------------------------------------------------------------ submissions


def _solution_text(source: str) -> str:
    """A solution cell as the student leaves it: the instructor's code without the region markers."""
    return "\n".join(line for line in source.split("\n") if line.strip() not in SOLUTION_MARKERS)


def submission(
    assignment: str, student: Student, root: Path = COURSE_ROOT, release_dir: Path | None = None
) -> nbformat.NotebookNode:
    """The notebook ``student`` hands in: the release (``release_dir``, default ``root/release``) with
    the solution cells filled in (and edited)."""
    released_dir = (root / "release" if release_dir is None else release_dir) / assignment
    released = nbformat.read(released_dir / f"{assignment}.ipynb", as_version=4)
    if student.stub:
        return released
    solutions = {
        c.metadata.nbgrader.grade_id: _solution_text(c.source)
        for c in nbformat.read(source_notebook(assignment, root), as_version=4).cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")
    }
    for grade_id, old, new in student.edits:
        count = solutions[grade_id].count(old)
        if count != 1:
            raise ValueError(f"{assignment}/{student.name}: {old!r} occurs {count} times in {grade_id}")
        solutions[grade_id] = solutions[grade_id].replace(old, new)
    for cell in released.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and grade_id in solutions:
            cell.source = solutions[grade_id]
    return released


def build_class(
    root: Path,
    assignments: Sequence[str],
    course: Path = COURSE_ROOT,
    students: Mapping[str, Sequence[Student]] = STUDENTS,
    release_dir: Path | None = None,
) -> None:
    """A fresh nbgrader course in ``root``: config, sources, gradebook, and every submission of
    ``students`` (default: the whole demo class), made from the student versions in ``release_dir``
    (default: the checkout's ``release/``)."""
    release_dir = course / "release" if release_dir is None else release_dir
    if root.exists():
        shutil.rmtree(root)
    (root / "source").mkdir(parents=True)
    shutil.copy2(course / "nbgrader_config.py", root / "nbgrader_config.py")
    with (root / "nbgrader_config.py").open("a") as config:  # the demo's own exchange, inside its root
        config.write('\nc.Exchange.root = os.path.join(HERE, "exchange")\n')
    make_exchange(root / "exchange")
    for assignment in assignments:
        shutil.copytree(course / "source" / assignment, root / "source" / assignment, ignore=IGNORE)
        for student in students[assignment]:
            folder = root / "submitted" / student.name / assignment
            shutil.copytree(release_dir / assignment, folder, ignore=IGNORE)
            nbformat.write(
                submission(assignment, student, course, release_dir), folder / f"{assignment}.ipynb"
            )
    for assignment in assignments:
        _run(["nbgrader", "generate_assignment", assignment, "--force"], root, root / "logs" / "release.log")


# ---------------------------------------------------------------------------------------- grading


def _run(command: list[str], cwd: Path, log: Path) -> None:
    """Run ``python -m <command>`` in ``cwd``, appending its output to ``log``; raise if it fails."""
    log.parent.mkdir(parents=True, exist_ok=True)
    # nbgrader runs the `alembic` command of its environment: put this interpreter's bin/ on PATH.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    with log.open("a") as out:
        out.write(f"$ python -m {' '.join(command)}\n")
        out.flush()
        proc = subprocess.run(
            [sys.executable, "-m", *command], cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env
        )
    if proc.returncode != 0:
        raise RuntimeError(f"python -m {' '.join(command)} failed (exit {proc.returncode}); see {log}")


def grade_both(root: Path, assignments: Sequence[str], jobs: int = 1) -> dict[str, float]:
    """nbgrader autograde and the standalone grader, concurrently; returns each one's seconds."""
    seconds: dict[str, float] = {}
    failures: list[BaseException] = []

    def nbgrader() -> None:
        start = time.monotonic()
        for assignment in assignments:
            _run(
                ["nbgrader", "autograde", assignment, "--force", "--create"],
                root,
                root / "logs" / "nbgrader.log",
            )
        seconds["nbgrader"] = time.monotonic() - start

    def standalone() -> None:
        start = time.monotonic()
        for assignment in assignments:
            out = root / "standalone" / assignment
            command = ["autograder", "grade", ".", "--assignment", assignment, "--out", str(out)]
            # A generous per-call timeout: both graders share the cores, so calls run slower than usual.
            command += ["--jobs", str(jobs), "--call-timeout", "60", "--force", "--quiet"]
            _run(command, root, root / "logs" / "standalone.log")
        seconds["standalone"] = time.monotonic() - start

    def guarded(work: Callable[[], None]) -> Callable[[], None]:
        def body() -> None:
            try:
                work()
            except BaseException as error:  # re-raised after both threads finished
                failures.append(error)

        return body

    threads = [threading.Thread(target=guarded(work)) for work in (nbgrader, standalone)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return seconds


# ---------------------------------------------------------------------------------------- results


@dataclass
class Row:
    """One submission's automatic scores from both graders, per graded function and in total."""

    assignment: str
    student: Student
    nbgrader: dict[str, float] = field(default_factory=dict)
    standalone: dict[str, float] = field(default_factory=dict)
    points: dict[str, float] = field(default_factory=dict)

    @property
    def max_total(self) -> float:
        return sum(self.points.values())

    def total(self, grader: str) -> float:
        return round(sum(getattr(self, grader).values()), 6)

    @property
    def lost(self) -> list[str]:
        """Graded functions the standalone grader gave less than full points."""
        return [g for g, p in self.points.items() if self.standalone.get(g, 0.0) < p - 1e-9]

    @property
    def problems(self) -> list[str]:
        """Why this row is flagged: the graders disagree, or the score is not what the bug predicts."""
        found = []
        if any(abs(self.nbgrader.get(g, 0.0) - self.standalone.get(g, 0.0)) > 1e-6 for g in self.points):
            found.append("graders disagree")
        total = self.total("standalone")
        if self.student.stub:
            expected_ok = total == 0
        elif not self.student.edits:
            expected_ok = abs(total - self.max_total) < 1e-6
        else:
            expected_ok = 0 < total < self.max_total and set(self.lost) == set(self.student.loses)
        if not expected_ok:
            found.append("unexpected score")
        return found


def collect(
    root: Path, assignments: Sequence[str], students: Mapping[str, Sequence[Student]] = STUDENTS
) -> list[Row]:
    """Per-function scores from the gradebook (nbgrader) and from grading.json (standalone)."""
    from nbgrader.api import Gradebook

    rows = []
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        for assignment in assignments:
            for student in students[assignment]:
                row = Row(assignment, student)
                notebook = gradebook.find_submission_notebook(assignment, assignment, student.name)
                for grade in notebook.grades:
                    if grade.cell_type == "code" and grade.name.startswith("test_"):
                        row.nbgrader[grade.name[len("test_") :]] = float(grade.score)
                        row.points[grade.name[len("test_") :]] = float(grade.max_score)
                record = load_record(root / "standalone" / assignment / student.name, assignment)
                if record is not None:
                    row.standalone = {r.grade_id: r.earned for r in record.results}
                rows.append(row)
    return rows


def feedback_and_export(root: Path, assignments: Sequence[str]) -> list[str]:
    """nbgrader feedback (checked for leaked hidden tests) and the CSV export; returns problems."""
    log = root / "logs" / "feedback.log"
    for assignment in assignments:
        _run(["nbgrader", "generate_feedback", assignment, "--force"], root, log)
    _run(["nbgrader", "export", "--to", "grades.csv"], root, log)
    return [
        f"hidden tests leaked into {path.relative_to(root)}"
        for path in sorted((root / "feedback").rglob("*.html"))
        if "BEGIN HIDDEN TESTS" in path.read_text() or "from autograder import check" in path.read_text()
    ]


def table(rows: Sequence[Row]) -> str:
    """The side-by-side table printed by the demo."""
    width = max([len("assignment"), *(len(row.assignment) for row in rows)])
    header = f"{'assignment':<{width}} {'student':<7} {'nbgrader':>9} {'standalone':>10}  "
    header += f"{'lost points on':<20} bug"
    lines = [header, "-" * (len(header) + 50)]
    for row in rows:
        nbg = f"{row.total('nbgrader'):g}/{row.max_total:g}"
        std = f"{row.total('standalone'):g}/{row.max_total:g}"
        lost = ", ".join(row.lost) if not row.student.stub else "(everything)"
        flag = f"  <-- {'; '.join(row.problems)}" if row.problems else ""
        lines.append(
            f"{row.assignment:<{width}} {row.student.name:<7} {nbg:>9} {std:>10}  {lost:<20} "
            f"{row.student.bug}{flag}"
        )
    return "\n".join(lines)


def run_demo(
    root: Path = DEMO_ROOT, assignments: Sequence[str] | None = None, jobs: int = 1, quiet: bool = False
) -> tuple[list[Row], list[str]]:
    """The whole demo; returns the rows and every problem found (empty when all is as expected)."""
    say = (lambda _: None) if quiet else print
    chosen = list(assignments) if assignments else [a for a in released_assignments() if a in STUDENTS]
    start = time.monotonic()
    say(f"== release (into a temporary folder): {', '.join(chosen)}")
    n_subs = sum(len(STUDENTS[a]) for a in chosen)
    with tempfile.TemporaryDirectory(prefix="demo-release-") as fresh:
        release(chosen, out_dir=Path(fresh))
        say(f"== demo class in {root}: {n_subs} submissions")
        build_class(root, chosen, release_dir=Path(fresh))
    say("== grading with nbgrader autograde and the standalone grader, concurrently")
    seconds = grade_both(root, chosen, jobs)
    rows = collect(root, chosen)
    say("== feedback (nbgrader generate_feedback, standalone feedback.md/html) and grades.csv")
    problems = feedback_and_export(root, chosen)
    problems += [f"{r.assignment}/{r.student.name}: {p}" for r in rows for p in r.problems]
    report = write_report([root / "standalone"], root / "class_report")
    say("")
    say(table(rows))
    say("")
    say(
        f"nbgrader autograde {seconds['nbgrader']:.0f} s, standalone grader {seconds['standalone']:.0f} s "
        f"(concurrently), demo total {time.monotonic() - start:.0f} s"
    )
    say(f"gradebook {root / 'gradebook.db'}, CSV {root / 'grades.csv'}")
    say(f"feedback: {root / 'feedback'}/STUDENT/ASSIGNMENT/, {root / 'standalone'}/ASSIGNMENT/STUDENT/")
    say(f"class report: {report / 'index.html'}")
    say(
        "all scores as expected; both graders agree"
        if not problems
        else "PROBLEMS:\n  " + "\n  ".join(problems)
    )
    return rows, problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.demo", description=__doc__.split("\n")[0])
    parser.add_argument("assignments", nargs="*", help="assignment ids (default: all released ones)")
    parser.add_argument("--root", type=Path, default=DEMO_ROOT, help="the demo course (default: demo_class/)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel standalone graders (default: 1)")
    args = parser.parse_args(argv)
    _, problems = run_demo(args.root.resolve(), args.assignments, args.jobs)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
