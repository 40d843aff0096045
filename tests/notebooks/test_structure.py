"""The source and release notebooks follow the cell conventions the graders rely on, and agree with
nbgrader_config.ASSIGNMENTS and autograder.items (grade_ids, order, points)."""

from __future__ import annotations

import re

import pytest

from autograder.items import ASSIGNMENTS as ITEM_ASSIGNMENTS
from autograder.items import ITEMS
from autograder.release import COURSE_LIB_IMPORT, COURSE_ROOT, source_notebook
from tests.notebooks.course_notebooks import (
    ASSIGNMENTS,
    DECLARED,
    HIDDEN_TEST_CELL,
    RELEASE,
    by_grade_id,
    grade_id,
    meta,
    read,
    release_notebook,
    solution_code_ids,
)


def test_config_declares_the_six_assignments_in_order() -> None:
    assert DECLARED == (
        "conv_arithmetic",
        "convolution_by_hand",
        "backprop_conv_pool",
        "tinycnn",
        "fashion_mnist_kernels",
        "batchnorm_and_efficient_convs",
    )
    assert list(ITEM_ASSIGNMENTS) == [a for a in DECLARED if a in ITEM_ASSIGNMENTS], "same order as items"


def test_every_source_folder_is_a_declared_assignment_with_its_notebook() -> None:
    folders = sorted(p.name for p in (COURSE_ROOT / "source").iterdir() if p.is_dir())
    assert folders == sorted(ASSIGNMENTS)
    assert set(ASSIGNMENTS) <= set(DECLARED)
    assert {"conv_arithmetic", "convolution_by_hand", "backprop_conv_pool"} <= set(ASSIGNMENTS)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_graded_functions_are_the_items_in_notebook_order(assignment: str) -> None:
    nb = read(source_notebook(assignment))
    ids = {grade_id(c) for c in nb.cells}
    graded = [g for g in solution_code_ids(nb) if f"test_{g}" in ids]
    assert graded == ITEM_ASSIGNMENTS[assignment]
    ungraded = [g for g in solution_code_ids(nb) if f"test_{g}" not in ids]
    assert ungraded in ([], ["layers"]), "only TinyCNN's pasted layers may be an ungraded solution cell"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_each_function_has_solution_then_visible_check_then_hidden_test(assignment: str) -> None:
    nb = read(source_notebook(assignment))
    ids = [grade_id(c) for c in nb.cells]
    cells = by_grade_id(nb)
    for name in ITEM_ASSIGNMENTS[assignment]:
        assert ids.index(name) < ids.index(f"visible_{name}") < ids.index(f"test_{name}"), name
        solution, visible, test = cells[name], cells[f"visible_{name}"], cells[f"test_{name}"]
        assert re.search(rf"^(def|class) {name}\b", solution.source, re.MULTILINE), f"{name} not defined"
        assert "### BEGIN SOLUTION" in solution.source and "### END SOLUTION" in solution.source
        assert not meta(solution)["locked"] and not meta(solution)["grade"]
        assert meta(visible)["locked"] and not meta(visible)["grade"] and not meta(visible)["solution"]
        assert "assert " in visible.source and "import" not in visible.source, "plain asserts only"
        # Validate shows a failing cell's source: its first line names the function
        assert visible.source.startswith(f"# Checks for {name}"), visible.source.split("\n")[0]
        assert meta(test)["locked"] and meta(test)["grade"] and not meta(test)["solution"]
        assert test.source == HIDDEN_TEST_CELL.format(name=name)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_test_cell_points_are_the_items_points(assignment: str) -> None:
    cells = by_grade_id(read(source_notebook(assignment)))
    for name in ITEM_ASSIGNMENTS[assignment]:
        assert cells[f"test_{name}"].metadata.nbgrader.points == ITEMS[name].points, name


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_written_questions_are_manually_graded_with_a_mark_scheme(assignment: str) -> None:
    nb = read(source_notebook(assignment))
    answers = [c for c in nb.cells if c.cell_type == "markdown" and meta(c).get("grade")]
    assert len(answers) >= 2
    for cell in answers:
        m = meta(cell)
        assert m["solution"] and m["points"] > 0 and grade_id(cell).startswith("q_")
        scheme = cell.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
        assert f"Mark scheme ({m['points']} point" in scheme, grade_id(cell)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_notebook_is_stored_without_outputs(assignment: str) -> None:
    for cell in read(source_notebook(assignment)).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, grade_id(cell)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_nothing_students_receive_imports_course_lib(assignment: str) -> None:
    files = [p for p in (RELEASE / assignment).iterdir() if p.suffix == ".py"]
    texts = [p.read_text() for p in files] + [c.source for c in read(source_notebook(assignment)).cells]
    assert not any(COURSE_LIB_IMPORT.search(text) for text in texts)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_hides_solutions_hidden_tests_and_mark_schemes(assignment: str) -> None:
    text = release_notebook(assignment).read_text()
    for secret in ("BEGIN SOLUTION", "HIDDEN TESTS", "from autograder", "Mark scheme"):
        assert secret not in text, secret
    released = by_grade_id(read(release_notebook(assignment)))
    for name in ITEM_ASSIGNMENTS[assignment]:
        assert "raise NotImplementedError(" in released[name].source
        assert meta(released[f"test_{name}"])["checksum"], "locked cells carry nbgrader checksums"
