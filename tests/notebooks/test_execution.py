"""Every released notebook, run top to bottom in a fresh kernel: with the source's solutions put into
its solution cells it passes all its visible checks and every figure it shows is clean (no overlapping
or cut-off labels, no empty boxes; the figures are saved in ``out/figures/<assignment>/`` for a person
to look at); as released (stubs), every visible check fails with the stub's NotImplementedError and
every other cell runs without an error, the given cells that need a missing function saying which."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from nbformat import NotebookNode

from autograder.release import COURSE_ROOT
from tests.notebooks.course_notebooks import (
    ASSIGNMENTS,
    errors,
    execute,
    grade_id,
    read,
    release_notebook,
    stub_message,
    with_solutions,
)

FIGURES = COURSE_ROOT / "out" / "figures"
"""Where the figures of the solution runs are saved (git-ignored)."""


def figure_env(folder: Path) -> dict[str, str]:
    """Kernel environment: every ``plt.show()`` goes through tests/notebooks/figure_check.py."""
    if folder.exists():
        shutil.rmtree(folder)
    return {
        "MPLBACKEND": "module://tests.notebooks.figure_check",
        "FIGURE_CHECK_DIR": str(folder),
        "PYTHONPATH": str(COURSE_ROOT),
    }


def figure_problems(folder: Path) -> list[str]:
    log = folder / "figures.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [f"{r['figure']}: {p}" for r in records for p in r["problems"]]


def stdout(cell: NotebookNode) -> str:
    """What a cell printed (nothing for a markdown cell)."""
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solutions_pass_the_visible_checks_with_clean_figures(assignment: str, tmp_path: Path) -> None:
    figures = FIGURES / assignment
    nb = execute(
        with_solutions(assignment), assignment, tmp_path, allow_errors=False, env=figure_env(figures)
    )
    visible = [c for c in nb.cells if grade_id(c).startswith("visible_")]
    assert visible
    for cell in visible:
        assert "all checks passed" in stdout(cell), grade_id(cell)
    shown = sum(c.source.count("plt.show()") for c in nb.cells)
    assert len(list(figures.glob("figure_*.png"))) >= shown
    assert figure_problems(figures) == []
    if assignment == "fashion_mnist_kernels":
        printed = "".join(stdout(c) for c in nb.cells)
        # the long experiment reports progress: one line per model and epoch, then the timing table
        assert len(re.findall(r"^(MLP|CNN \dx\d) +epoch 1/1: train loss \d", printed, re.MULTILINE)) == 4
        assert "median of 2 timings of 1 step(s) per model, taken in turns" in printed


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_stubs_fail_only_the_visible_checks_and_given_cells_say_what_they_wait_for(
    assignment: str, tmp_path: Path
) -> None:
    nb = execute(read(release_notebook(assignment)), assignment, tmp_path, allow_errors=True)
    skipped = []
    for cell in nb.cells:
        if grade_id(cell).startswith("visible_"):
            (error,) = errors(cell)
            assert error.ename == "NotImplementedError" and error.evalue == stub_message(), grade_id(cell)
        elif cell.cell_type == "code":
            assert not errors(cell), (cell.source[:200], errors(cell))
            skipped += re.findall(r"^Skipped: this cell (?:uses|needs) ([\w.]+)", stdout(cell), re.MULTILINE)
    # the given cells that call a student's function say which one they wait for
    assert skipped, "no given cell said what it waits for"
