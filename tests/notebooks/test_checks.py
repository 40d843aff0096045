"""What a student sees when a function is wrong: every visible check says what was expected and what
the student's function returned; a wrong function fails its checks with an AssertionError (not a
confusing error of the check itself); the checks are not grade cells (what is graded stays the items)."""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from autograder.items import ASSIGNMENTS as ITEM_ASSIGNMENTS
from autograder.items import ITEMS
from tests.notebooks.course_notebooks import (
    ASSIGNMENTS,
    RELEASE,
    by_grade_id,
    grade_id,
    meta,
    read,
    release_notebook,
    with_solutions,
)


def _visible_cells(assignment: str) -> dict[str, str]:
    return {
        grade_id(c): c.source
        for c in read(release_notebook(assignment)).cells
        if grade_id(c).startswith("visible_")
    }


def _interpolates(node: ast.expr | None) -> bool:
    """An f-string (possibly implicitly concatenated or parenthesized) with at least one ``{value}``."""
    return isinstance(node, ast.JoinedStr) and any(isinstance(v, ast.FormattedValue) for v in node.values)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_visible_assert_says_what_was_expected_and_what_came_back(assignment: str) -> None:
    bare = []
    for name, source in _visible_cells(assignment).items():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Assert) and not _interpolates(node.msg):
                bare.append(f"{name} line {node.lineno}: {ast.unparse(node)[:90]}")
            raised = node.exc if isinstance(node, ast.Raise) else None
            is_assertion = isinstance(raised, ast.Call) and getattr(raised.func, "id", "") == "AssertionError"
            if is_assertion and not _interpolates(raised.args[0]):  # type: ignore[union-attr]
                bare.append(f"{name} line {node.lineno}: {ast.unparse(node)[:90]}")
    assert not bare, "asserts without a message showing the values:\n" + "\n".join(bare)


def _perturbed(value: Any) -> Any:
    """A wrong answer of the same kind: numbers and arrays moved by 1 (tuples element-wise)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float | np.number):
        return value + 1
    if isinstance(value, np.ndarray):
        return value + 1
    if isinstance(value, tuple):
        return tuple(_perturbed(v) for v in value)
    return value


def _wrong(function: Callable[..., Any]) -> Callable[..., Any]:
    def wrong(*args: Any, **kwargs: Any) -> Any:
        return _perturbed(function(*args, **kwargs))

    return wrong


FUNCTIONS = [(a, name) for a in ASSIGNMENTS for name in ITEM_ASSIGNMENTS[a] if not name[0].isupper()]
"""Every graded function (classes, whose checks are about structure, are left out)."""


@pytest.fixture
def torch_threads() -> Iterator[None]:
    """The Fashion-MNIST setup cell sets torch's thread count: put it back for the other tests."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize(("assignment", "name"), FUNCTIONS)
def test_a_wrong_function_fails_its_checks_with_a_message(
    assignment: str, name: str, monkeypatch: pytest.MonkeyPatch, torch_threads: None
) -> None:
    """The released notebook with the solutions in, except ``name`` returning a value moved by one: its
    check cell stops with an AssertionError naming what was expected (no TypeError from the check)."""
    nb = with_solutions(assignment)
    cells = by_grade_id(nb)
    monkeypatch.chdir(RELEASE / assignment)  # helper modules (fashion_data, stripes_data) import from here
    monkeypatch.syspath_prepend(str(RELEASE / assignment))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # no __pycache__ in release/
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(cells["setup"].source, "<setup>", "exec"), namespace)
    for cell in nb.cells:
        if meta(cell).get("solution") and cell.cell_type == "code":
            exec(compile(cell.source, f"<{grade_id(cell)}>", "exec"), namespace)
    namespace[name] = _wrong(namespace[name])
    with pytest.raises(AssertionError) as failure:
        exec(compile(cells[f"visible_{name}"].source, f"<visible_{name}>", "exec"), namespace)
    message = str(failure.value)
    assert "expected" in message, message


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_what_is_graded_is_the_items_and_the_written_answers(assignment: str) -> None:
    """The grade cells of the release are exactly the hidden tests of the items (with their points) and
    the written answers: the visible checks are not graded and Validate does not change that."""
    graded = {
        grade_id(c): meta(c)["points"]
        for c in read(release_notebook(assignment)).cells
        if meta(c).get("grade")
    }
    tests = {g: p for g, p in graded.items() if g.startswith("test_")}
    assert tests == {f"test_{name}": ITEMS[name].points for name in ITEM_ASSIGNMENTS[assignment]}
    assert all(g.startswith("q_") for g in set(graded) - set(tests)), graded


def test_the_fashion_helper_is_shared() -> None:
    """convolution_by_hand and fashion_mnist_kernels ship the same data helper."""
    assert (RELEASE / "convolution_by_hand" / "fashion_data.py").read_bytes() == (
        RELEASE / "fashion_mnist_kernels" / "fashion_data.py"
    ).read_bytes()
