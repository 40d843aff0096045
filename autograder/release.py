r"""Release: regenerate the student notebooks in ``release/`` from the ``source/`` notebooks with nbgrader.

``python -m autograder.release [ASSIGNMENT ...] [--out DIR]`` (what ``make release`` runs) does, for each
assignment of ``nbgrader_config.ASSIGNMENTS`` that has a source notebook:

1. check the source: ``source/<id>/<id>.ipynb`` exists, is stored with outputs cleared and never imports
   ``course_lib`` (students don't have it);
2. copy ``nbgrader_config.py`` and the ``source/<id>/`` folders into a fresh temporary course and run
   ``nbgrader generate_assignment --force --no-db`` there (solutions become the code stub, hidden
   tests and mark schemes disappear, locked cells get checksums);
3. replace ``<out>/<id>/`` with nbgrader's ``release/<id>/``: the student notebook plus the student-safe
   helper modules of the folder (``__pycache__`` and checkpoints left out). When it replaces the
   course's own ``release/`` with a different notebook, the locked cells of the release it replaces
   are remembered (:mod:`autograder.releases`): students who fetched it are not flagged for them.

The result depends only on the source files, so re-running gives no git diff, and
``tests/notebooks/test_release.py`` regenerates into a temporary folder to fail when ``release/`` is stale.
"""

from __future__ import annotations

import argparse
import re
import runpy
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import nbformat
from traitlets.config import Config

from autograder import releases

COURSE_ROOT = Path(__file__).resolve().parent.parent
"""The course root: the folder of ``nbgrader_config.py`` with ``source/`` and ``release/``."""

IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", ".hypothesis")
"""Never copied into a release."""

COURSE_LIB_IMPORT = re.compile(r"^\s*(from|import)\s+course_lib\b", re.MULTILINE)


class ReleaseError(RuntimeError):
    """A source notebook that must not be released, or nbgrader failing on it."""


def course_assignments(root: Path = COURSE_ROOT) -> tuple[str, ...]:
    """The course's assignment ids in teaching order, as declared in ``nbgrader_config.py``."""
    namespace = runpy.run_path(str(root / "nbgrader_config.py"), init_globals={"get_config": Config})
    return tuple(namespace["ASSIGNMENTS"])


def source_notebook(assignment: str, root: Path = COURSE_ROOT) -> Path:
    """``source/<id>/<id>.ipynb`` (nbgrader assignment id = folder = notebook name)."""
    return root / "source" / assignment / f"{assignment}.ipynb"


def released_assignments(root: Path = COURSE_ROOT) -> list[str]:
    """The declared assignments that have a source notebook (the others are not written yet)."""
    return [a for a in course_assignments(root) if source_notebook(a, root).is_file()]


def check_source(path: Path) -> None:
    """Raise :class:`ReleaseError` unless the source notebook has no outputs and no ``course_lib`` import."""
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs") or cell.get("execution_count") is not None:
            raise ReleaseError(f"{path}: cell {index} has outputs; store source notebooks without outputs")
        if COURSE_LIB_IMPORT.search(cell.source):
            raise ReleaseError(f"{path}: cell {index} imports course_lib, which students don't have")


def generate(assignments: Sequence[str], out_dir: Path, root: Path = COURSE_ROOT) -> list[Path]:
    """Release ``assignments`` into ``out_dir/<assignment>/`` (each replaced) with ONE nbgrader run
    over a temporary course holding just their sources; return the released folders."""
    for assignment in assignments:
        check_source(source_notebook(assignment, root))
    targets = []
    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        course = Path(tmp)
        shutil.copy2(root / "nbgrader_config.py", course / "nbgrader_config.py")
        for assignment in assignments:
            shutil.copytree(root / "source" / assignment, course / "source" / assignment, ignore=IGNORE)
        # "*" = every assignment of the temporary course, i.e. exactly the chosen ones.
        command = [sys.executable, "-m", "nbgrader", "generate_assignment", "*", "--force", "--no-db"]
        proc = subprocess.run([*command, "--log-level=ERROR"], cwd=course, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ReleaseError(f"nbgrader generate_assignment failed:\n{proc.stdout}{proc.stderr}")
        out_dir.mkdir(parents=True, exist_ok=True)
        for assignment in assignments:
            target = out_dir / assignment
            previous = target / f"{assignment}.ipynb"
            if out_dir == root / "release" and previous.is_file():
                # students may hold the release being replaced: its locked cells stay acceptable
                new = nbformat.read(course / "release" / assignment / f"{assignment}.ipynb", as_version=4)
                old = nbformat.read(previous, as_version=4)
                if releases.fingerprints(old) != releases.fingerprints(new):
                    releases.remember(assignment, old)
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(course / "release" / assignment, target, ignore=IGNORE)
            targets.append(target)
    return targets


def release(
    assignments: Sequence[str] | None = None, out_dir: Path | None = None, root: Path = COURSE_ROOT
) -> list[Path]:
    """Release ``assignments`` (default: every one with a source notebook) into ``out_dir``
    (default ``<root>/release``); return the released folders."""
    known = course_assignments(root)
    chosen = list(assignments) if assignments else released_assignments(root)
    for assignment in chosen:
        if assignment not in known:
            raise ReleaseError(f"assignment {assignment!r} is not in nbgrader_config.ASSIGNMENTS {known}")
    return generate(chosen, root / "release" if out_dir is None else out_dir, root)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder release",
        description="Regenerate the student notebooks in release/ from the source/ notebooks with nbgrader\n"
        "(solutions become stubs, hidden tests and mark schemes disappear); the output depends only\n"
        "on the sources, so re-running gives no git diff.",
        epilog="examples:\n  python -m autograder release\n"
        "  python -m autograder release tinycnn --out /tmp/release",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("assignments", nargs="*", help="assignment ids (default: all with a source notebook)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: release/)")
    args = parser.parse_args(argv)
    try:
        folders = release(args.assignments, args.out)
    except ReleaseError as error:
        print(f"release: {error}", file=sys.stderr)
        return 1
    for folder in folders:
        files = sorted(p.name for p in folder.iterdir())
        print(f"released {folder.name:<22} -> {folder}  ({', '.join(files)})")
    missing = [a for a in course_assignments() if a not in {f.name for f in folders}]
    if missing and not args.assignments:
        print(f"not released (no source notebook yet): {', '.join(missing)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
