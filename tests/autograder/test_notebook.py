"""Reading submissions and planning what runs: broken files, edits, missing and extra cells."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder import notebook as nb

SETUP = "import numpy as np"
SOLUTION = (
    'def double(x):\n    """Twice x."""\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION'
)
VISIBLE = "assert double(2) == 4"
TEST = (
    "# Hidden tests\n### BEGIN HIDDEN TESTS\nfrom autograder import check\ncheck('double', double)\n"
    "### END HIDDEN TESTS"
)


def grader_cell(
    source: str, grade_id: str, *, solution: bool = False, grade: bool = False, points: float = 0
):
    meta = {
        "grade_id": grade_id,
        "solution": solution,
        "grade": grade,
        "locked": not solution,
        "schema_version": 3,
    }
    if grade:
        meta["points"] = points
    return new_code_cell(source, metadata={"nbgrader": meta})


def source_notebook() -> nbformat.NotebookNode:
    return new_notebook(
        cells=[
            new_markdown_cell("# Doubling"),
            grader_cell(SETUP, "setup"),
            grader_cell(SOLUTION, "double", solution=True),
            grader_cell(VISIBLE, "visible_double"),
            grader_cell(TEST, "test_double", grade=True, points=3),
        ]
    )


def find(notebook: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    return next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def codes(plan: nb.Plan) -> list[str]:
    return [code for _, code in plan.cells]


# ------------------------------------------------------------------------------------------ reading


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (bytes(range(256)) * 4, "not a text file"),
        (b'{"cells": [', "not valid JSON"),
        (b"[1, 2, 3]", "not a Jupyter notebook"),
        (
            json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": [], "metadata": {}}).encode(),
            "nbformat 3",
        ),
        (
            json.dumps(
                {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code"}]}
            ).encode(),
            "not a valid notebook",
        ),
    ],
    ids=["empty", "binary", "truncated-json", "json-list", "nbformat3", "schema"],
)
def test_unreadable_submissions_raise_a_clear_notebook_error(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "sub.ipynb"
    path.write_bytes(content)
    with pytest.raises(nb.NotebookError, match=message):
        nb.read_notebook(path)


def test_oversized_notebook_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.ipynb"
    notebook = source_notebook()
    notebook.cells.append(new_markdown_cell("x" * 2_000_000))
    nbformat.write(notebook, path)
    with pytest.raises(nb.NotebookError, match=r"over the limit of 1 MB"):
        nb.read_notebook(path, max_mb=1)
    assert len(nb.read_notebook(path, max_mb=5)["cells"]) == 6


def test_missing_file_is_a_notebook_error(tmp_path: Path) -> None:
    with pytest.raises(nb.NotebookError, match="cannot read"):
        nb.read_notebook(tmp_path / "absent.ipynb")


# ------------------------------------------------------------------------------------------ planning


def test_a_clean_submission_runs_setup_and_solution_and_skips_test_and_visible_cells() -> None:
    source = source_notebook()
    plan = nb.plan(nb.student_copy(source, "solution"), source)
    assert plan.items == [("double", 3.0)]
    assert plan.flags == []
    assert codes(plan) == [SETUP, 'def double(x):\n    """Twice x."""\n    return 2 * x']
    assert plan.checkpoints == {"double": 2}  # graded after setup and the solution have run


def test_student_copy_stub_replaces_the_solution_region_with_the_stub() -> None:
    source = source_notebook()
    stub = find(nb.student_copy(source), "double").source
    assert stub == 'def double(x):\n    """Twice x."""\n    raise NotImplementedError()'
    assert "HIDDEN" not in find(nb.student_copy(source), "test_double").source


def test_edited_locked_cell_is_flagged_and_the_source_text_runs() -> None:
    source = source_notebook()
    sub = nb.student_copy(source, "solution")
    find(sub, "setup").source = "import numpy as np\nnp.sum = lambda *a: 0"
    plan = nb.plan(sub, source)
    assert codes(plan)[0] == SETUP
    assert plan.flags == ["locked cell 'setup' was edited (1 line changed; the source's version was run)"]


def test_edited_points_are_flagged_and_the_source_points_are_used() -> None:
    source = source_notebook()
    sub = nb.student_copy(source, "solution")
    find(sub, "test_double").metadata["nbgrader"]["points"] = 300
    find(sub, "test_double").source = "check = lambda *a: 300"
    plan = nb.plan(sub, source)
    assert plan.items == [("double", 3.0)]
    assert any("points: 3 -> 300" in flag for flag in plan.flags)
    assert all("check" not in code for code in codes(plan))


def test_missing_split_or_retyped_solution_cells_are_flagged_not_zeroed() -> None:
    """What the notebook defines at the test cell is graded; the structure change is flagged."""
    source = source_notebook()
    missing = nb.student_copy(source, "solution")
    missing.cells = [c for c in missing.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "double"]
    plan = nb.plan(missing, source)
    assert any("solution cell 'double' is missing" in f for f in plan.flags)
    assert "double" in plan.checkpoints

    lost = nb.student_copy(source, "solution")
    cell = find(lost, "double")
    lost.cells[lost.cells.index(cell)] = new_code_cell(cell.source)  # an editor dropped the metadata
    plan = nb.plan(lost, source)
    assert any("'double' has no nbgrader metadata (cell 3 defines double" in f for f in plan.flags)
    assert codes(plan)[1] == cell.source and plan.checkpoints["double"] == 2

    split = nb.student_copy(source, "solution")
    cell = find(split, "double")
    first, second = nbformat.from_dict(json.loads(json.dumps(cell))), cell
    first.source, second.source = "import math", cell.source
    split.cells.insert(split.cells.index(cell), first)
    plan = nb.plan(split, source)
    assert any("appears 2 times (cells 3, 4: split or copied)" in f for f in plan.flags)
    assert codes(plan)[1:3] == ["import math", cell.source] and plan.checkpoints["double"] == 3

    retyped = nb.student_copy(source, "solution")
    cell = find(retyped, "double")
    retyped.cells[retyped.cells.index(cell)] = new_markdown_cell(cell.source, metadata=cell.metadata)
    assert any("changed to a markdown cell" in f for f in nb.plan(retyped, source).flags)


def test_items_are_graded_where_their_test_cell_stands() -> None:
    source = source_notebook()
    sub = nb.student_copy(source, "solution")
    sub.cells.append(new_code_cell("double = double(2)"))  # a later cell reuses the name
    plan = nb.plan(sub, source)
    assert plan.checkpoints["double"] == 2 and len(plan.cells) == 3  # graded before the later cell
    moved = nb.student_copy(source, "solution")
    test = find(moved, "test_double")
    moved.cells.remove(test)
    moved.cells.append(test)
    moved.cells.insert(len(moved.cells) - 1, new_code_cell("extra = 1"))
    assert nb.plan(moved, source).checkpoints["double"] == 3  # the submission's own order counts
    deleted = nb.student_copy(source, "solution")
    deleted.cells.remove(find(deleted, "test_double"))
    deleted.cells.append(new_code_cell("double = None"))
    plan = nb.plan(deleted, source)
    assert plan.checkpoints["double"] == 2  # where the source has it: before the student's extra cell
    assert any("test cell 'test_double' was deleted" in f for f in plan.flags)


def test_line_endings_and_trailing_whitespace_are_not_edits() -> None:
    source = source_notebook()
    sub = nb.student_copy(source, "solution")
    for cell in sub.cells:
        cell.source = cell.source.replace("\n", "   \r\n") + "\r\n"
    plan = nb.plan(sub, source)
    assert plan.flags == []
    assert all("\r" not in code for code in codes(plan))


def test_outputs_do_not_count_toward_the_size_limit_but_the_file_cap_holds(tmp_path: Path) -> None:
    sub = nb.student_copy(source_notebook(), "solution")
    plot = {"output_type": "display_data", "metadata": {}, "data": {"image/png": "A" * (3 * 2**20)}}
    find(sub, "double").outputs = [nbformat.from_dict(plot)]
    path = tmp_path / "plots.ipynb"
    nbformat.write(sub, path)
    notebook = nb.read_notebook(path, max_mb=1)  # 3 MB of plots, a few bytes of code: accepted
    assert all(c.get("outputs", []) == [] for c in notebook["cells"])
    with pytest.raises(nb.NotebookError, match="over the limit of 2 MB for a notebook file"):
        nb.read_notebook(path, max_mb=1, max_file_mb=2)
    find(sub, "double").outputs = []
    find(sub, "double").source += "\n# " + "x" * (2 * 2**20)
    nbformat.write(sub, path)
    with pytest.raises(nb.NotebookError, match="MB of code and text, over the limit of 1 MB"):
        nb.read_notebook(path, max_mb=1)


def test_the_notebook_with_the_assignments_work_is_chosen_and_junk_is_ignored(tmp_path: Path) -> None:
    source = source_notebook()
    folder = tmp_path / "alice"
    (folder / "__MACOSX").mkdir(parents=True)
    (folder / ".ipynb_checkpoints").mkdir()
    nbformat.write(nb.student_copy(source, "solution"), folder / "work-Copy1.ipynb")
    nbformat.write(nb.student_copy(source, "stub"), folder / "homework.ipynb")
    nbformat.write(nbformat.v4.new_notebook(cells=[new_code_cell("x = 1")]), folder / "Untitled.ipynb")
    (folder / "__MACOSX" / "._work-Copy1.ipynb").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (folder / "._homework.ipynb").write_bytes(b"\x00\x05\x16\x07")
    nbformat.write(nb.student_copy(source, "solution"), folder / ".ipynb_checkpoints" / "x-checkpoint.ipynb")
    candidates = nb.candidate_notebooks(folder, recursive=True)
    assert [p.name for p in candidates] == ["Untitled.ipynb", "homework.ipynb", "work-Copy1.ipynb"]
    choice = nb.choose_notebook(candidates, source)
    assert choice is not None and choice.path.name == "work-Copy1.ipynb"  # the same cells, answered
    assert dict(choice.ignored) == {
        "homework.ipynb": "4 of the assignment's 4 cells",
        "Untitled.ipynb": "none of the assignment's cells",
    }


def test_deleted_locked_cell_is_put_back_in_source_order_and_flagged() -> None:
    source = source_notebook()
    sub = nb.student_copy(source, "solution")
    sub.cells = [c for c in sub.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "setup"]
    plan = nb.plan(sub, source)
    assert codes(plan)[0] == SETUP and plan.cells[0][0] >= 1000
    assert "locked cell 'setup' was deleted (the source's version was run)" in plan.flags


def test_student_cells_run_but_their_own_test_cells_do_not() -> None:
    source = source_notebook()
    sub = nb.student_copy(source, "solution")
    sub.cells.append(new_code_cell("%matplotlib inline\n!pip install x\nhelper = 1"))
    sub.cells.append(grader_cell("raise SystemExit", "test_extra", grade=True, points=50))
    plan = nb.plan(sub, source)
    assert codes(plan)[-1] == "%matplotlib inline\n!pip install x\nhelper = 1"  # IPython runs it
    assert plan.items == [("double", 3.0)]


def test_uses_torch_detects_torch_imports() -> None:
    assert nb.uses_torch([(0, "import numpy\nimport torch.nn as nn")])
    assert nb.uses_torch([(0, "from torch import nn")])
    assert not nb.uses_torch([(0, "# torch is not used\nimport numpy")])


@pytest.mark.slow
def test_notebooks_released_by_nbgrader_have_no_flags(tmp_path: Path) -> None:
    """The oracle for the checksums: nbgrader's own generate_assignment output is not flagged."""
    nbgrader = shutil.which("nbgrader", path=str(Path(sys.executable).parent))
    if nbgrader is None:
        pytest.skip("nbgrader is not installed")
    (tmp_path / "source" / "ps1").mkdir(parents=True)
    nbformat.write(source_notebook(), tmp_path / "source" / "ps1" / "ps1.ipynb")
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.root = '.'\n")
    subprocess.run(
        [nbgrader, "generate_assignment", "ps1", "--force", "--no-db"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    path = tmp_path / "release" / "ps1" / "ps1.ipynb"
    plan = nb.plan(nb.read_notebook(path), source_notebook())
    released = nbformat.read(path, as_version=4)
    assert plan.flags == []
    assert [find(released, g).metadata["nbgrader"]["checksum"] for g in ("setup", "test_double")] == [
        nb.checksum("code", find(released, g).source, find(released, g).metadata["nbgrader"])
        for g in ("setup", "test_double")
    ]


def test_a_locked_cell_from_an_earlier_release_is_not_an_edit(tmp_path: Path) -> None:
    """A student who fetched the assignment before the instructor improved a check cell keeps the
    earlier cell: remembered by autograder.releases, it is not flagged; the source's text runs."""
    from autograder import releases

    source = source_notebook()
    old_release = nb.student_copy(source, "solution")
    improved = source_notebook()
    find(improved, "visible_double").source = VISIBLE + "\nassert double(0) == 0, 'expected 0'"
    find(improved, "setup").source = SETUP + "\nimport math"
    assert any("edited" in f for f in nb.plan(old_release, improved).flags)  # without the history
    assert releases.remember("ps1", old_release, tmp_path)
    assert not releases.remember("ps1", old_release, tmp_path)  # already known: nothing new
    plan = nb.plan(old_release, improved, releases.earlier("ps1", tmp_path))
    assert plan.flags == []
    assert codes(plan)[0] == SETUP + "\nimport math"  # the current source's locked cell runs
    edited = nb.student_copy(source, "solution")
    find(edited, "setup").source = "import numpy as np\nnp.sum = max"
    assert any("edited" in f for f in nb.plan(edited, improved, releases.earlier("ps1", tmp_path)).flags)


def test_cells_that_lost_their_metadata_are_recognised_by_their_text() -> None:
    """VS Code, Colab and jupytext drop nbgrader's metadata from every cell: the instructor's cells
    are recognised by their released text (the k-th copy of a text is the k-th source cell with it),
    so the item is graded at its test cell, nothing is called deleted, and the locked text runs."""
    source = source_notebook()
    source.cells.append(grader_cell(TEST, "test_again", grade=True, points=1))  # the same text twice
    sub = nb.student_copy(source, "solution")
    for cell in sub.cells:
        cell.metadata = {}
    sub.cells.append(new_code_cell("double = double(2)"))
    plan = nb.plan(sub, source)
    assert plan.checkpoints == {"double": 2, "again": 2}
    assert codes(plan)[0] == SETUP and len(plan.cells) == 3  # setup, the solution, the student's cell
    assert not any("deleted" in f for f in plan.flags)
    matched = "cell 2 = 'setup', cell 4 = 'visible_double', cell 5 = 'test_double', cell 6 = 'test_again'"
    assert any(matched in f for f in plan.flags)
    intact = nb.student_copy(source, "solution")
    intact.cells.insert(1, new_code_cell(SETUP))  # a copy of a locked cell next to the real one
    assert not any("recognised" in f for f in nb.plan(intact, source).flags)


def test_an_item_whose_test_cell_stands_above_its_definition_is_graded_after_it() -> None:
    source = source_notebook()
    sub = nb.student_copy(source, "solution")
    test = find(sub, "test_double")
    sub.cells.remove(test)
    sub.cells.insert(2, test)  # above the solution cell
    plan = nb.plan(sub, source)
    assert plan.checkpoints["double"] == 2  # after setup and the solution
    assert any("stands above the cell that defines 'double' (cell 4)" in f for f in plan.flags)
    imported = nb.student_copy(source, "solution")
    imported.cells.insert(2, new_code_cell("from mine import *"))  # may define it: left alone
    test = find(imported, "test_double")
    imported.cells.remove(test)
    imported.cells.insert(3, test)
    assert nb.plan(imported, source).checkpoints["double"] == 2


def test_a_byte_order_mark_and_pasted_images_do_not_make_a_notebook_unreadable(tmp_path: Path) -> None:
    notebook = nb.student_copy(source_notebook(), "solution")
    notebook.cells.append(new_markdown_cell("![plot](data:image/png;base64," + "A" * 2**20 + ")"))
    path = tmp_path / "bom.ipynb"
    path.write_bytes(b"\xef\xbb\xbf" + nbformat.writes(notebook).encode())
    read = nb.read_notebook(path, max_mb=0.5)  # the 1 MB image does not count against 0.5 MB
    assert [c["source"] for c in read["cells"]] == [c.source for c in notebook.cells]
    notebook.cells.append(new_code_cell("x = '" + "A" * 2**20 + "'"))
    path.write_text(nbformat.writes(notebook))
    with pytest.raises(nb.NotebookError, match="MB of code and text"):
        nb.read_notebook(path, max_mb=0.5)
