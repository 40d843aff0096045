"""Command line: ``python -m autograder grade | gradescope-bundle | release | course | report``.

``grade PATH... --assignment NAME [--jobs N] [--out DIR] [--source DIR] [--force]`` grades
notebooks, folders of notebooks or an nbgrader course (``submitted/STUDENT/ASSIGNMENT/``) in the
sandbox; ``gradescope-bundle ASSIGNMENT --out FILE.zip`` builds a Gradescope autograder;
``release`` regenerates ``release/`` from ``source/`` (see :mod:`autograder.release`); ``course ROOT``
sets up a running nbgrader course (:mod:`autograder.course`); ``report OUT`` writes the class report
(:mod:`autograder.class_report`). The help texts below are plain text (``--help``).
Exit status: 0 when grading ran (whatever the students scored), 1 when the results cannot be
written, 2 for a usage error, 130 after Ctrl-C (SIGINT) and 143 after SIGTERM: grading stops, the
sandbox's processes are stopped, finished records are kept, and re-running the command finishes
the rest. All temporary folders of a run live in one ``autograder-run-*`` folder of the temporary
directory (see :func:`autograder.sandbox.run_folder`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from autograder.sandbox import LEVELS, IsolationUnavailable, Limits, run_folder

_LIMIT_HELP = {
    "cpu_seconds": "CPU seconds per worker process",
    "memory_mb": "memory (MB) for the student's code, on top of the imported modules",
    "max_processes": "processes/threads the student's code may add",
    "file_size_mb": "largest file the student's code may write (MB)",
    "disk_mb": "size of the submission's private tmpfs working folder, /tmp included (MB)",
    "open_files": "open file descriptors per worker",
    "call_timeout": "wall-clock seconds per call of a student's function",
    "cell_timeout": "wall-clock seconds per notebook cell",
    "submission_timeout": "wall-clock seconds for a whole submission",
    "output_bytes": "bytes of the student's printed output kept",
}


DESCRIPTION = """\
The CNN course's grader: grade notebooks in a sandbox, build a Gradescope autograder, release the
assignments, set up a running nbgrader course and report on a graded class."""
EXAMPLES = """\
examples:
  python -m autograder grade submitted/ --assignment conv_arithmetic --out graded/conv_arithmetic
  python -m autograder report graded/conv_arithmetic
  python -m autograder gradescope-bundle conv_arithmetic --out conv_arithmetic.zip
  python -m autograder release
  python -m autograder course ~/cnn-course --exchange /srv/nbgrader/exchange

Run 'python -m autograder COMMAND --help' for a command's options."""
GRADE_EXAMPLES = """\
PATH is a notebook, a folder of notebooks (or of STUDENT/*.ipynb folders), or an nbgrader course root
(submitted/STUDENT/ASSIGNMENT/*.ipynb). Each submission gets OUT/STUDENT/results.json, feedback.md,
feedback.html and grading.json; OUT/grades.csv has one row per student. Exit status 0 whenever grading
ran, 1 when the results cannot be written, 2 for a usage error, 130/143 after Ctrl-C/SIGTERM (re-run
the same command to finish).

examples:
  python -m autograder grade ~/cnn-course --assignment conv_arithmetic --out graded/conv_arithmetic
  python -m autograder grade alice.ipynb bob.ipynb --assignment tinycnn --jobs 2 --out graded/tinycnn"""
BUNDLE_EXAMPLES = """\
example:
  python -m autograder gradescope-bundle convolution_by_hand --out convolution_by_hand.zip"""
#: Commands with their own module and parser: ``python -m autograder NAME ...`` runs ``MODULE.main``.
DELEGATED = {
    "release": ("autograder.release", "regenerate release/ from source/ with nbgrader"),
    "course": ("autograder.course", "create or update a running nbgrader course outside the checkout"),
    "report": ("autograder.class_report", "write the class report from the grader's records"),
}


def _parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="python -m autograder", description=DESCRIPTION, epilog=EXAMPLES, formatter_class=raw
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    grade = sub.add_parser(
        "grade",
        help="grade submissions in the sandbox",
        description="Grade submitted notebooks in the sandbox: the same checks as the notebooks' hidden\n"
        "tests, partial credit per property, feedback naming the smallest failing call.",
        epilog=GRADE_EXAMPLES,
        formatter_class=raw,
    )
    grade.add_argument("paths", nargs="+", type=Path, help="notebooks, folders, or an nbgrader course root")
    grade.add_argument("--assignment", required=True, help="assignment id (source/<id>/<id>.ipynb)")
    grade.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="parallel graders (default: cores)"
    )
    grade.add_argument("--out", type=Path, default=Path("graded"), help="output folder (default: graded)")
    grade.add_argument(
        "--source", type=Path, default=None, help="course root with source/ (default: this course)"
    )
    grade.add_argument("--force", action="store_true", help="regrade submissions that are already done")
    grade.add_argument("--quiet", action="store_true", help="no progress bar")
    grade.add_argument(
        "--gradebook",
        action="store_true",
        help="PATH is an nbgrader course root: grade its submitted/ notebooks with --jobs processes, then "
        "record everything in its gradebook through `nbgrader autograde` (records in COURSE/graded/)",
    )
    grade.add_argument(
        "--max-notebook-mb",
        type=float,
        default=20.0,
        help="most code and text a notebook may hold (MB; outputs do not count)",
    )
    grade.add_argument(
        "--max-file-mb",
        type=float,
        default=256.0,
        help="largest notebook file read at all (MB, outputs included)",
    )
    grade.add_argument(
        "--isolation",
        choices=LEVELS,
        default="namespaces",
        help="how the sandbox isolates a submission (default: namespaces, which needs bubblewrap and "
        "user namespaces; uid: root only, a dedicated uid; none: no isolation, trusted code only)",
    )
    defaults = Limits()
    for name, text in _LIMIT_HELP.items():
        value = getattr(defaults, name)
        grade.add_argument(
            "--" + name.replace("_", "-"), type=type(value), default=value, help=f"{text} (default: {value})"
        )

    bundle = sub.add_parser(
        "gradescope-bundle",
        help="build a Gradescope autograder zip",
        description="Build a Gradescope autograder (a reproducible zip) that grades one assignment with\n"
        "the same sandboxed pipeline.",
        epilog=BUNDLE_EXAMPLES,
        formatter_class=raw,
    )
    bundle.add_argument("assignment", help="assignment id (source/<id>/<id>.ipynb)")
    bundle.add_argument("--out", type=Path, required=True, help="the zip file to write")
    bundle.add_argument(
        "--source", type=Path, default=None, help="course root with source/ (default: this course)"
    )
    bundle.add_argument(
        "--isolation",
        choices=(*LEVELS, "auto"),
        default="auto",
        help="isolation in Gradescope's container (default: auto, the strongest that works there)",
    )
    bundle.add_argument(
        "--details",
        choices=("visible", "after_due_date"),
        default="visible",
        help="when students see each item's properties and failing calls (scores are always visible)",
    )
    bundle.add_argument(
        "--memory-mb", type=int, default=1024, help="memory of the student's code (MB, at most)"
    )
    bundle.add_argument("--cell-timeout", type=float, default=60.0, help="wall-clock seconds per cell")
    bundle.add_argument("--call-timeout", type=float, default=10.0, help="wall-clock seconds per graded call")
    bundle.add_argument("--max-notebook-mb", type=float, default=20.0, help="most code and text per notebook")
    bundle.add_argument(
        "--wheels", type=Path, default=None, help="a folder of wheels: setup.sh installs from it, no network"
    )

    sandbox = sub.add_parser("sandbox", help="check the sandbox here, or delegate cgroups to a user")
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", required=True)
    check = sandbox_sub.add_parser("check", help="which isolation level works here, and what it enforces")
    check.add_argument("--isolation", choices=(*LEVELS, "auto"), default="auto")
    delegate = sandbox_sub.add_parser(
        "delegate", help="as root, once: let USER grade with per-submission cgroups"
    )
    delegate.add_argument("user")

    for name, (_, text) in DELEGATED.items():
        sub.add_parser(name, help=f"{text} (see python -m autograder {name} --help)")
    return parser


def _sandbox(args: argparse.Namespace) -> int:
    from autograder.sandbox import Session, cgroups

    if args.sandbox_command == "delegate":
        try:
            folders = cgroups.delegate(args.user)
        except (PermissionError, KeyError, cgroups.CgroupError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        for folder in folders:
            print(f"delegated {folder} to {args.user}")
        return 0
    try:
        session = Session(args.isolation).start()
    except IsolationUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"isolation level: {session.level}")
    for line in session.mechanisms():
        print(f"  - {line}")
    session.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] and args_list[0] in DELEGATED:
        module = importlib.import_module(DELEGATED[args_list[0]][0])
        return int(module.main(args_list[1:]))
    args = _parser().parse_args(args_list)
    if args.command == "sandbox":
        return _sandbox(args)
    if args.command == "gradescope-bundle":
        from autograder.grade import COURSE_ROOT
        from autograder.gradescope import Options, build_bundle

        options = Options(
            isolation=args.isolation,
            details=args.details,
            memory_mb=args.memory_mb,
            cell_timeout=args.cell_timeout,
            call_timeout=args.call_timeout,
            max_notebook_mb=args.max_notebook_mb,
        )
        path = build_bundle(args.assignment, args.out, args.source or COURSE_ROOT, options, args.wheels)
        print(f"wrote {path}")
        return 0
    return _grade(args)


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived: grading stops (a BaseException, so no ``except Exception`` eats it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _interrupt(signum: int, frame: FrameType | None) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):  # a second signal must not break the clean-up
        signal.signal(sig, signal.SIG_IGN)
    raise Interrupted(signum)


@contextmanager
def _interruptible() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` while grading."""
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _grade(args: argparse.Namespace) -> int:
    if args.gradebook:
        return _gradebook(args)
    source_root = args.source
    if source_root is None:
        course = next((p for p in args.paths if (p / "source" / args.assignment).is_dir()), None)
        source_root = course or Path(__file__).resolve().parent.parent
    progress = [0, 0]  # submissions graded, submissions in all (once known)
    try:
        with _interruptible(), run_folder():
            return _grade_with(args, Path(source_root), progress)
    except Interrupted as stop:
        done, total = progress
        what = f"{done} of {total} submissions graded" if total else "before grading started"
        print(f"interrupted: {what}; rerun the same command to finish the rest", file=sys.stderr)
        return 128 + stop.signum


def _gradebook(args: argparse.Namespace) -> int:
    """``grade COURSE --assignment A --gradebook``: the parallel path into nbgrader's gradebook."""
    if len(args.paths) != 1 or not (args.paths[0] / "submitted").is_dir():
        print(
            "error: --gradebook needs exactly one PATH: an nbgrader course root with submitted/",
            file=sys.stderr,
        )
        return 2
    from autograder.gradebook import grade_course

    try:
        limits = Limits(**{name: getattr(args, name) for name in _LIMIT_HELP})
        with _interruptible(), run_folder():
            status = grade_course(
                args.paths[0], args.assignment, jobs=args.jobs, limits=limits, isolation=args.isolation,
                force=args.force, quiet=args.quiet,
            )  # fmt: skip
    except (ValueError, FileNotFoundError, IsolationUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Interrupted as stop:
        print("interrupted; rerun the same command to finish the rest", file=sys.stderr)
        return 128 + stop.signum
    if status == 0:
        print(f"graded {args.assignment} into {args.paths[0] / 'gradebook.db'} (records in graded/)")
    return 0 if status == 0 else 1


def _grade_with(args: argparse.Namespace, source_root: Path, progress: list[int]) -> int:
    """Grade as ``args`` say; ``progress`` gets how many of how many submissions are graded when
    an interrupt stops the batch."""
    from autograder import grade
    from autograder import notebook as nb

    try:
        limits = Limits(**{name: getattr(args, name) for name in _LIMIT_HELP})
        settings = grade.Settings(
            assignment=args.assignment,
            source_root=source_root,
            out=args.out.resolve(),
            limits=limits,
            max_notebook_mb=args.max_notebook_mb,
            max_file_mb=args.max_file_mb,
            forbidden_paths=tuple(str(p.resolve()) for p in args.paths),
            isolation=args.isolation,
        )
        if not settings.source_notebook.is_file():
            raise ValueError(
                f"no source notebook {settings.source_notebook} for --assignment {args.assignment}"
            )
        subs = grade.find_submissions(args.paths, args.assignment, nb.load_source(settings.source_notebook))
        if not subs:
            raise ValueError(f"no notebooks found under {', '.join(map(str, args.paths))}")
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        session = settings.session()
    except IsolationUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        zygotes = grade.start_zygotes(session, settings.source_notebook, max(1, min(args.jobs, len(subs))))
        try:
            totals = grade.grade_batch(
                subs,
                settings,
                jobs=args.jobs,
                force=args.force,
                quiet=args.quiet,
                zygotes=zygotes,
                session=session,
            )
        finally:
            for zygote in zygotes:
                zygote.close()
    except Interrupted:
        progress[:] = [sum(grade.load_record(settings.out / s.student, args.assignment) is not None
                           for s in subs), len(subs)]  # fmt: skip
        raise
    except OSError as exc:  # e.g. an unwritable or full output folder: finished results stay on disk
        print(f"error: cannot write the results in {settings.out}: {exc}", file=sys.stderr)
        return 1
    finally:
        session.close()
    print(f"graded {len(totals)} submission(s) of {args.assignment} -> {settings.out / 'grades.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
