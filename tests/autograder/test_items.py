"""autograder.items: every item is well declared, the reference earns full marks, a stub earns 0."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autograder.invoke import LocalInvoker
from autograder.items import ASSIGNMENTS, ITEMS, Call, Item, Prop, items_for_assignment, markdown
from autograder.items import MODULES as ITEM_MODULES
from autograder.items.__main__ import BEGIN, END, main
from autograder.properties import run_item
from course_lib import arithmetic, batchnorm, conv, fashion, gradcheck, layers, pooling, separable, tinycnn

MODULES = (arithmetic, conv, gradcheck, layers, pooling, tinycnn, fashion, batchnorm, separable)
REFERENCES = {name: getattr(m, name) for m in MODULES for name in dir(m) if name in ITEMS}


def test_assignments_list_every_item_once_in_notebook_order() -> None:
    listed = [g for ids in ASSIGNMENTS.values() for g in ids]
    assert sorted(listed) == sorted(ITEMS)
    assert len(listed) == len(set(listed))
    assert ASSIGNMENTS["conv_arithmetic"] == ["output_size", "receptive_field", "conv2d_params"]
    assert [i.grade_id for i in items_for_assignment("convolution_by_hand")] == ASSIGNMENTS[
        "convolution_by_hand"
    ]


def test_unknown_assignment_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown"):
        items_for_assignment("no_such_assignment")


@pytest.mark.parametrize("grade_id", sorted(ITEMS))
def test_item_is_declared_sensibly(grade_id: str) -> None:
    item = ITEMS[grade_id]
    assert item.grade_id == grade_id
    assert 2 <= item.points <= 7
    assert sum(p.weight for p in item.properties) == pytest.approx(item.points)
    first = item.properties[0]  # explicit examples first: the lecture's, the notebook's, or a fixed small run
    assert first.examples
    assert first.name.startswith(
        (
            "matches the lecture's worked example",
            "matches the notebook's worked example",
            "matches the reference on a fixed",
        )
    )


def test_weights_must_add_up_to_the_points() -> None:
    with pytest.raises(ValueError, match="add up to"):
        Item("f", 3, abs, (Prop("one idea", 1, examples=(Call((1,)),)),))


def test_property_names_must_be_unique() -> None:
    prop = Prop("same", 1, examples=(Call((1,)),))
    with pytest.raises(ValueError, match="unique"):
        Item("f", 2, abs, (prop, prop))


@pytest.mark.parametrize("grade_id", sorted(ITEMS))
def test_reference_scores_full_marks(grade_id: str) -> None:
    result = run_item(ITEMS[grade_id], LocalInvoker({grade_id: REFERENCES[grade_id]}), detect_reference=False)
    failed = [(p.name, p.lines) for p in result.properties if not p.passed]
    assert failed == []
    assert result.earned == ITEMS[grade_id].points


def _stub(*args: object, **kwargs: object) -> None:
    raise NotImplementedError("replace this line with your code")


class _StubClass:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise NotImplementedError("replace this line with your code")


@pytest.mark.parametrize("grade_id", sorted(ITEMS))
def test_not_implemented_stub_scores_zero_with_a_clear_message(grade_id: str) -> None:
    stub = _StubClass if grade_id[0].isupper() else _stub
    result = run_item(ITEMS[grade_id], LocalInvoker({grade_id: stub}))
    assert result.status == "not_implemented"
    assert result.earned == 0.0
    assert result.message == f"not implemented yet: {grade_id} raises NotImplementedError"


def test_expected_selects_named_outputs() -> None:
    item = ITEMS["conv2d_backward"]
    call = Call(
        (np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2))), {"stride": 1, "padding": 0}
    )
    expected = item.expected(call, ("db",))
    assert list(expected) == ["db"]
    np.testing.assert_array_equal(expected["db"], [4.0])  # the sum of a 2x2 dout of ones


def test_readme_lists_every_items_properties_as_declared() -> None:
    """The README's table is generated: ``python -m autograder.items --write README.md`` refreshes it."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    assert readme[start:end].strip() == markdown().strip()
    for grade_id, item in ITEMS.items():
        assert f"`{grade_id}` ({item.points:g})" in markdown()


def test_items_cli_writes_the_block_between_the_markers(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(f"intro\n{BEGIN}\nstale\n{END}\noutro\n")
    assert main(["--write", str(page)]) == 0
    text = page.read_text()
    assert text.startswith(f"intro\n{BEGIN}\n**`conv_arithmetic`**") and text.endswith(f"{END}\noutro\n")
    assert "stale" not in text


def test_every_assignment_module_declares_its_place_its_items_and_its_audit() -> None:
    positions = [module.POSITION for module in ITEM_MODULES]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    for module in ITEM_MODULES:
        assert module.GRADED and all(isinstance(item, Item) for item in module.GRADED)
        assert isinstance(module.AUDIT, tuple)
