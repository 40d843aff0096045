"""Reading and running the course's notebooks in tests: cells by nbgrader grade_id, solutions put back
into released notebooks, execution in a fresh kernel inside a scratch copy of the assignment folder."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbformat import NotebookNode

from autograder.release import COURSE_ROOT, IGNORE, course_assignments, released_assignments, source_notebook

RELEASE = COURSE_ROOT / "release"
ASSIGNMENTS = released_assignments()
"""The assignments that have a source notebook (the others are still being written)."""
DECLARED = course_assignments()

HIDDEN_TEST_CELL = (
    "# Hidden tests: your function is checked on many generated inputs when the notebook is graded.\n"
    "### BEGIN HIDDEN TESTS\n"
    "from autograder import check\n"
    'check("{name}", {name})\n'
    "### END HIDDEN TESTS"
)
"""A graded test cell, exactly (autograder interface, "Notebook cell conventions")."""


def read(path: Path) -> NotebookNode:
    return nbformat.read(path, as_version=4)


def release_notebook(assignment: str) -> Path:
    return RELEASE / assignment / f"{assignment}.ipynb"


def meta(cell: NotebookNode) -> dict[str, Any]:
    """The cell's nbgrader metadata ({} for an ordinary cell)."""
    return dict(cell.metadata.get("nbgrader", {}))


def grade_id(cell: NotebookNode) -> str:
    return str(meta(cell).get("grade_id", ""))


def solution_code_ids(nb: NotebookNode) -> list[str]:
    """grade_ids of the autograded solution cells (the graded functions), in notebook order."""
    return [grade_id(c) for c in nb.cells if c.cell_type == "code" and meta(c).get("solution")]


def by_grade_id(nb: NotebookNode) -> dict[str, NotebookNode]:
    return {grade_id(c): c for c in nb.cells if grade_id(c)}


def with_solutions(assignment: str) -> NotebookNode:
    """The released notebook with every solution cell's source taken from the source notebook."""
    released = read(release_notebook(assignment))
    source = by_grade_id(read(source_notebook(assignment)))
    for cell in released.cells:
        if meta(cell).get("solution"):
            cell.source = source[grade_id(cell)].source
    return released


def stub_message() -> str:
    """The message of the code stub configured in nbgrader_config.py."""
    text = (COURSE_ROOT / "nbgrader_config.py").read_text()
    found = re.search(r'raise NotImplementedError\("([^"]+)"\)', text)
    assert found, "nbgrader_config.py has no NotImplementedError code stub"
    return found.group(1)


def execute(
    nb: NotebookNode,
    assignment: str,
    workdir: Path,
    allow_errors: bool,
    env: dict[str, str] | None = None,
) -> NotebookNode:
    """Run ``nb`` top to bottom in a fresh kernel whose cwd is a scratch copy of release/<assignment>/
    (so helper modules import and nothing is written into the repository); figures on Agg, and the
    small training budget of graded runs; ``env`` adds to (or replaces) the kernel's environment."""
    folder = workdir / assignment
    shutil.copytree(RELEASE / assignment, folder, ignore=IGNORE, dirs_exist_ok=True)
    # NBGRADER_EXECUTION: the small training budget nbgrader's validate uses, to keep the runs short.
    env = {
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "NBGRADER_EXECUTION": "validate",
        **(env or {}),
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # the kernel inherits the environment of this process
    try:
        client = NotebookClient(
            nb,
            timeout=300,
            kernel_name="python3",
            allow_errors=allow_errors,
            resources={"metadata": {"path": str(folder)}},
        )
        client.execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return nb


def errors(cell: NotebookNode) -> list[NotebookNode]:
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]
