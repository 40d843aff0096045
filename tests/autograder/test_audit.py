"""The requirements audit (``AUDIT`` in each ``autograder/items/<assignment>.py``) is complete and true.

- every row quotes the released notebook (``release/<assignment>/<assignment>.ipynb``) word for word;
- every property of every item grades at least one quoted requirement;
- every graded row names a mutant (``tests/autograder/mutants/<assignment>.py``) that violates that
  requirement and is declared to lose exactly the row's property (plus the listed ``also``);
  ``tests/autograder/test_properties.py`` runs every mutant and checks that it loses exactly what it
  declares, so together the two tests check that each mutant loses exactly its property's points;
- the instructor's solution (the source notebook's solution cells) keeps full marks on every item.
"""

from __future__ import annotations

import json
import sys
from types import ModuleType
from typing import Any

import pytest

from autograder.invoke import LocalInvoker
from autograder.items import ASSIGNMENTS, ITEMS, MODULES
from autograder.items.base import Requirement
from autograder.properties import run_item
from autograder.release import COURSE_ROOT, source_notebook
from tests.autograder.mutants import (
    backprop_conv_pool,
    batchnorm_and_efficient_convs,
    conv_arithmetic,
    convolution_by_hand,
    fashion_mnist_kernels,
    tinycnn,
)

MUTANT_MODULES: dict[str, ModuleType] = {
    m.__name__.rsplit(".", 1)[1]: m
    for m in (
        conv_arithmetic,
        convolution_by_hand,
        backprop_conv_pool,
        tinycnn,
        fashion_mnist_kernels,
        batchnorm_and_efficient_convs,
    )
}
ROWS: list[tuple[str, Requirement]] = [
    (module.__name__.rsplit(".", 1)[1], row) for module in MODULES for row in module.AUDIT
]


def _row_id(entry: tuple[str, Requirement]) -> str:
    _, row = entry
    return f"{row.grade_id}: {row.prop or 'not graded'}: {row.quote[:40] or row.note[:40]}"


def _normalised(text: str) -> str:
    return " ".join(text.split())


def _notebook_text(assignment: str) -> str:
    notebook = json.loads((COURSE_ROOT / "release" / assignment / f"{assignment}.ipynb").read_text())
    return _normalised("\n".join("".join(cell["source"]) for cell in notebook["cells"]))


def test_every_assignment_has_an_audit_for_each_of_its_items() -> None:
    for module in MODULES:
        assignment = module.__name__.rsplit(".", 1)[1]
        assert {row.grade_id for row in module.AUDIT} == set(ASSIGNMENTS[assignment]), assignment


@pytest.mark.parametrize("grade_id", sorted(ITEMS))
def test_every_property_grades_a_quoted_requirement(grade_id: str) -> None:
    graded = {row.prop for _, row in ROWS if row.grade_id == grade_id and row.quote}
    missing = [p.name for p in ITEMS[grade_id].properties if p.name not in graded]
    assert missing == [], f"{grade_id}: properties without a requirement in the audit: {missing}"


@pytest.mark.parametrize("entry", ROWS, ids=_row_id)
def test_row_quotes_the_released_notebook(entry: tuple[str, Requirement]) -> None:
    assignment, row = entry
    if not row.quote:  # a rule the notebook does not state: documented, never graded
        assert row.prop is None and row.note
        return
    assert _normalised(row.quote) in _notebook_text(assignment)


@pytest.mark.parametrize("entry", ROWS, ids=_row_id)
def test_row_names_a_property_and_a_mutant_that_loses_exactly_it(entry: tuple[str, Requirement]) -> None:
    assignment, row = entry
    item = ITEMS[row.grade_id]
    names = {p.name for p in item.properties}
    if row.prop is None:
        assert row.note and not row.mutant and not row.also, "an ungraded row says why, and nothing else"
        return
    assert row.prop in names
    assert set(row.also) <= names and row.prop not in row.also
    mutants = [
        m for m in MUTANT_MODULES[assignment].MUTANTS if (m.grade_id, m.name) == (row.grade_id, row.mutant)
    ]
    assert len(mutants) == 1, f"no mutant {row.mutant!r} for {row.grade_id}"
    assert mutants[0].loses == {row.prop, *row.also}


# --------------------------------------------------------------------------- the instructor's solution


def _solution_namespace(assignment: str) -> dict[str, Any]:
    """The source notebook's setup cell and solution cells, run in one namespace (as in the kernel)."""
    notebook = json.loads(source_notebook(assignment).read_text())
    namespace: dict[str, Any] = {"__name__": "__student__"}
    folder = str(source_notebook(assignment).parent)
    sys.path.insert(0, folder)
    try:
        for cell in notebook["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell["cell_type"] == "code" and (meta.get("solution") or meta.get("grade_id") == "setup"):
                exec(compile("".join(cell["source"]), f"<{meta['grade_id']}>", "exec"), namespace)
    finally:
        sys.path.remove(folder)
    return namespace


@pytest.mark.parametrize("assignment", list(ASSIGNMENTS))
def test_the_instructors_solution_keeps_full_marks(assignment: str) -> None:
    namespace = _solution_namespace(assignment)
    for grade_id in ASSIGNMENTS[assignment]:
        result = run_item(ITEMS[grade_id], LocalInvoker({grade_id: namespace[grade_id]}))
        assert [(p.name, p.lines) for p in result.properties if not p.passed] == [], grade_id
        assert result.earned == ITEMS[grade_id].points


def test_ungraded_rows_are_few_and_explained() -> None:
    ungraded = [row for _, row in ROWS if row.prop is None]
    assert all(len(row.note) > 20 for row in ungraded)
    assert len(ungraded) < len(ROWS) // 3
