r"""A running nbgrader course outside this checkout: ``python -m autograder course ROOT`` (``make course``).

The checkout is the course's *source*: ``source/`` (with solutions), ``release/`` and
``nbgrader_config.py``. Students, submissions and grades live in a **course root** elsewhere, which this
command creates or updates (it is idempotent):

1. ``ROOT/nbgrader_config.py``: loads the checkout's ``nbgrader_config.py`` (course id, code stub,
   timeouts, feedback) and points nbgrader at this root, its gradebook ``ROOT/gradebook.db`` and the
   exchange folder;
2. ``ROOT/source/<id>/``: a copy of the checkout's source folders (re-run after editing them);
3. the exchange folder (``--exchange``, default ``/srv/nbgrader/exchange``, nbgrader's own default),
   created world-writable with the sticky bit, as ``nbgrader release_assignment`` wants it;
4. ``nbgrader generate_assignment <id> --force`` for every assignment, run in ROOT: it writes
   ``ROOT/release/<id>/`` and enters the assignment, its notebooks and grade cells into the gradebook,
   so ``release_assignment``, ``collect``, ``autograde``, ``generate_feedback`` and ``export`` work
   with no other step;
5. ``ROOT/for_students/nbgrader_config.py``: what every student's nbgrader needs (course id, exchange,
   Validate settings), to install as ``/etc/jupyter/nbgrader_config.py`` or per student as
   ``~/.jupyter/nbgrader_config.py``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from autograder.release import COURSE_ROOT, IGNORE, course_assignments, released_assignments

DEFAULT_EXCHANGE = Path("/srv/nbgrader/exchange")
COURSE_ID = "cnn-course"
STUDENT_CONFIG = "for_students/nbgrader_config.py"

#: Validate settings every student needs (also in the student environment, ``student/``): without
#: ``validate_all`` a notebook whose functions are all stubs passes Validate, because the hidden tests
#: are not in the students' copies and the visible checks are not grade cells.
VALIDATE_SETTINGS = """\
# Validate (the JupyterLab button and `nbgrader validate`) also reports every failing check cell, so a
# function that is still a stub or fails its visible checks is listed by name (the hidden tests are not
# in the students' copies: without this, Validate passes a notebook whose functions are all stubs).
c.Validator.validate_all = True
# The Fashion-MNIST notebook trains on a tiny budget while validating; a cell may still take a while.
c.Execute.timeout = 300
"""


class CourseError(RuntimeError):
    """The course root or the exchange cannot be set up (the message says what to do)."""


def course_config(root: Path, exchange: Path, checkout: Path = COURSE_ROOT) -> str:
    """The text of ``ROOT/nbgrader_config.py``."""
    return f'''"""nbgrader configuration of the course in this folder (by `python -m autograder course`).

It loads the course's own settings from the checkout and points nbgrader at this course root. Edit
the assignments in the checkout ({checkout}/source) and re-run `make course` there.
"""

c = get_config()  # noqa: F821  (injected by traitlets' config loader)
load_subconfig({str(checkout / "nbgrader_config.py")!r})  # noqa: F821

c.CourseDirectory.root = {str(root)!r}
c.CourseDirectory.db_url = {"sqlite:///" + str(root / "gradebook.db")!r}
c.Exchange.root = {str(exchange)!r}
c.Exchange.path_includes_course = True
'''


def student_config(exchange: Path, course_id: str = COURSE_ID) -> str:
    """The text of ``ROOT/for_students/nbgrader_config.py``."""
    return f'''"""nbgrader configuration for the students of {course_id} (by `python -m autograder course`).

Install it for every user of this machine or JupyterHub image as /etc/jupyter/nbgrader_config.py, or
per student as ~/.jupyter/nbgrader_config.py.
"""

c = get_config()  # noqa: F821
c.CourseDirectory.course_id = {course_id!r}
c.Exchange.root = {str(exchange)!r}
c.Exchange.path_includes_course = True
{VALIDATE_SETTINGS}'''


def _nbgrader(args: list[str], cwd: Path) -> str:
    """Run ``python -m nbgrader ARGS`` in ``cwd`` with this interpreter; its output, or raise."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path},  # nbgrader runs its environment's `alembic`
    )
    if proc.returncode != 0:
        raise CourseError(f"nbgrader {' '.join(args)} failed in {cwd}:\n{proc.stdout}{proc.stderr}")
    return proc.stdout + proc.stderr


def make_exchange(exchange: Path) -> None:
    """Create the exchange folder, writable by everybody with the sticky bit (like /tmp)."""
    if not exchange.is_dir():
        try:
            exchange.mkdir(parents=True)
        except OSError as error:
            raise CourseError(
                f"cannot create the exchange folder {exchange} ({error.strerror}); create it once as root:\n"
                f"  sudo mkdir -p {exchange} && sudo chmod 1777 {exchange}\n"
                "or choose another one with --exchange (make course EXCHANGE=...)"
            ) from None
        exchange.chmod(0o1777)
    mode = stat.S_IMODE(exchange.stat().st_mode)
    if mode & 0o777 != 0o777:
        try:
            exchange.chmod(mode | 0o1777)
        except OSError:
            raise CourseError(
                f"the exchange folder {exchange} must be writable by every student (mode {mode:o}): "
                f"sudo chmod 1777 {exchange}"
            ) from None


def setup_course(
    root: Path,
    exchange: Path = DEFAULT_EXCHANGE,
    assignments: Sequence[str] | None = None,
    checkout: Path = COURSE_ROOT,
) -> list[str]:
    """Create or update the course root ``root`` (see the module docstring); return the assignments."""
    root, exchange = root.resolve(), exchange.resolve()
    if root == checkout or checkout in root.parents:
        raise CourseError(f"the course root {root} must be outside the checkout {checkout}")
    known = course_assignments(checkout)
    chosen = list(assignments) if assignments else released_assignments(checkout)
    unknown = [a for a in chosen if a not in known]
    if unknown:
        raise CourseError(f"unknown assignment(s) {unknown}; the course has {list(known)}")
    make_exchange(exchange)
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbgrader_config.py").write_text(course_config(root, exchange, checkout))
    (root / STUDENT_CONFIG).parent.mkdir(exist_ok=True)
    (root / STUDENT_CONFIG).write_text(student_config(exchange))
    for assignment in chosen:
        target = root / "source" / assignment
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(checkout / "source" / assignment, target, ignore=IGNORE)
    present = sorted(p.name for p in (root / "source").iterdir() if p.is_dir())
    # one nbgrader run for every assignment of the course root ("*"), else one per chosen assignment
    for assignment in ["*"] if present == sorted(chosen) else chosen:
        _nbgrader(["generate_assignment", assignment, "--force"], root)
    return chosen


EPILOG = """\
example:
  python -m autograder course ~/cnn-course --exchange /srv/nbgrader/exchange
  cd ~/cnn-course && nbgrader release_assignment conv_arithmetic

Re-run it after editing source/ in the checkout: it copies the sources again and regenerates the
releases (students' submissions and grades stay)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", type=Path, help="the course root to create or update (outside the checkout)")
    parser.add_argument(
        "--exchange",
        type=Path,
        default=DEFAULT_EXCHANGE,
        help=f"nbgrader's exchange folder, shared with the students (default: {DEFAULT_EXCHANGE})",
    )
    parser.add_argument("assignments", nargs="*", help="assignment ids (default: all of them)")


def run(args: argparse.Namespace) -> int:
    try:
        chosen = setup_course(args.root, args.exchange, args.assignments)
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    root = args.root.resolve()
    print(f"course root {root}: {len(chosen)} assignment(s) in the gradebook ({', '.join(chosen)})")
    print(f"exchange {args.exchange.resolve()}")
    print(f"students' nbgrader configuration: {root / STUDENT_CONFIG}")
    print(f"next: cd {root} && nbgrader release_assignment {chosen[0]}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder course",
        description="Create or update a running nbgrader course outside the checkout: a course root with\n"
        "its nbgrader_config.py, every assignment in its gradebook, the exchange folder, and the\n"
        "students' nbgrader configuration.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return run(parser.parse_intermixed_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
