"""Every assignment's solution, saved in each shape students' notebooks really take, gets full marks
(with the flag its shape deserves): IPython syntax, a split solution cell, a solution cell that lost
its nbgrader metadata, a notebook whose every cell lost it (VS Code, jupytext), test cells moved above
their solutions, Windows line endings, a byte-order mark, a folder with a scratch notebook next to the
work, a Mac zip's junk, 25 MB of plot outputs and a 21 MB image pasted into a markdown cell (Colab).
One batch per assignment."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder import grade
from autograder import notebook as nb
from autograder.items import ASSIGNMENTS

LIMITS = grade.Limits(call_timeout=30.0, cell_timeout=120.0)

#: shape -> the flag expected (a substring; "" for no flag at all)
SHAPES = {
    "ipython": "",
    "split": "appears 2 times (cells",
    "lost_metadata": "has no nbgrader metadata",
    "all_metadata_lost": "had lost their nbgrader metadata (an editor such as VS Code",
    "tests_above_solutions": "stands above the cell that defines",
    "crlf": "",
    "byte_order_mark": "",
    "extra_notebooks": "also found Untitled.ipynb (none of the assignment's cells), not graded",
    "mac_junk": "",
    "outputs_25_mb": "",
    "image_in_markdown_21_mb": "",
}


def _first_solution(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return next(
        c for c in notebook.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")
    )


def shaped(assignment: str, shape: str, folder: Path) -> None:
    """Write the solution of ``assignment`` in ``shape`` into the student folder ``folder``."""
    source = nb.load_source(grade.COURSE_ROOT / "source" / assignment / f"{assignment}.ipynb")
    work = nb.student_copy(source, "solution")
    name = f"{assignment}.ipynb"
    folder.mkdir(parents=True)
    cell = _first_solution(work)
    if shape == "ipython":
        cell.source = (
            "%time _started = 1\nlen?\n" + cell.source + "\n\nfor _i in range(2):\n    %time _j = _i\n"
            "_t = %timeit -o -n 1 -r 1 len([])\n!echo not run\n"
        )
    elif shape == "split":  # JupyterLab's Ctrl-Shift-minus: both halves keep the metadata
        lines = cell.source.split("\n")
        cut = next(i for i, line in enumerate(lines) if line.startswith(("def ", "class ")))
        first = nbformat.from_dict(json.loads(json.dumps(cell)))
        first.id = "split-first-half"
        first.source = "\n".join(lines[:cut]) or "# my notes before the function"
        cell.source = "\n".join(lines[cut:])
        work.cells.insert(work.cells.index(cell), first)
    elif shape == "lost_metadata":  # re-created by an editor that drops nbgrader's metadata
        cell.metadata = {}
    elif shape == "all_metadata_lost":
        for each in work.cells:
            each.metadata.pop("nbgrader", None)
    elif shape == "tests_above_solutions":  # each test cell moved up above its solution cell
        for solution in [c for c in work.cells if c.metadata.get("nbgrader", {}).get("solution")]:
            test_id = "test_" + solution.metadata["nbgrader"]["grade_id"]
            tests = [c for c in work.cells if c.metadata.get("nbgrader", {}).get("grade_id") == test_id]
            for test in tests:
                work.cells.remove(test)
                work.cells.insert(work.cells.index(solution), test)
    elif shape == "image_in_markdown_21_mb":
        image = "![plot](data:image/png;base64," + "iVBORw0KGgo" * (2 * 2**20) + ")"
        work.cells.append(nbformat.v4.new_markdown_cell("My answer, with the plot pasted in:\n" + image))
    elif shape == "crlf":
        for each in work.cells:
            each.source = each.source.replace("\n", "\r\n")
    elif shape == "outputs_25_mb":
        plot = {"output_type": "display_data", "metadata": {}, "data": {"image/png": "A" * (25 * 2**20)}}
        cell.outputs = [nbformat.from_dict(plot)]
    if shape == "extra_notebooks":
        nbformat.write(
            nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), folder / "Untitled.ipynb"
        )
        name = f"{assignment}-Copy1.ipynb"
    if shape == "mac_junk":
        (folder / "__MACOSX").mkdir()
        (folder / "__MACOSX" / f"._{name}").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X")
        (folder / f"._{name}").write_bytes(b"\x00\x05\x16\x07")
        (folder / ".ipynb_checkpoints").mkdir()
        nbformat.write(
            nb.student_copy(source, "stub"), folder / ".ipynb_checkpoints" / f"{assignment}-checkpoint.ipynb"
        )
    nbformat.write(work, folder / name)
    if shape == "byte_order_mark":
        (folder / name).write_bytes(b"\xef\xbb\xbf" + (folder / name).read_bytes())
    for helper in (grade.COURSE_ROOT / "source" / assignment).glob("*.py"):
        shutil.copy(helper, folder / helper.name)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", list(ASSIGNMENTS))
def test_every_shape_of_the_solution_gets_full_marks(assignment: str, tmp_path: Path) -> None:
    for shape in SHAPES:
        shaped(assignment, shape, tmp_path / "subs" / shape)
    source = nb.load_source(grade.COURSE_ROOT / "source" / assignment / f"{assignment}.ipynb")
    full = sum(p for _, p in nb.plan(source, source).items)
    settings = grade.Settings(assignment, out=tmp_path / "out", limits=LIMITS)
    subs = grade.find_submissions([tmp_path / "subs"], assignment, source)
    assert sorted(s.student for s in subs) == sorted(SHAPES)
    grade.grade_batch(subs, settings, jobs=2, quiet=True)
    problems = []
    for shape, flag in SHAPES.items():
        record = grade.load_record(tmp_path / "out" / shape, assignment)
        assert record is not None, shape
        if record.total != full:
            problems.append(
                f"{shape}: {record.total}/{full} {[r.message for r in record.results if r.earned < r.points]}"
            )
        if flag and not any(flag in f for f in record.flags):
            problems.append(f"{shape}: no flag {flag!r} in {record.flags}")
        if not flag and record.flags:
            problems.append(f"{shape}: unexpected flags {record.flags}")
    assert problems == []
