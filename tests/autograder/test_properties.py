"""autograder.properties: mutants lose exactly the properties they should, correct variants score full
marks, results are deterministic, and timeouts, flaky and missing functions are handled."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

from autograder.invoke import LocalInvoker, StudentError, StudentTimeout
from autograder.items import ASSIGNMENTS, ITEMS, Call, Item, Prop
from autograder.properties import SHRINK_CALLS, run_item
from tests.autograder.mutants import (
    Correct,
    Mutant,
    backprop_conv_pool,
    batchnorm_and_efficient_convs,
    conv_arithmetic,
    convolution_by_hand,
    fashion_mnist_kernels,
    tinycnn,
)

MODULES = (
    conv_arithmetic,
    convolution_by_hand,
    backprop_conv_pool,
    tinycnn,
    fashion_mnist_kernels,
    batchnorm_and_efficient_convs,
)
MUTANTS = [m for mod in MODULES for m in mod.MUTANTS]
CORRECT = [c for mod in MODULES for c in mod.CORRECT]
#: Behaviour the notebooks do not state (see the audit tables): not graded, so it keeps full marks.
UNSTATED = [c for mod in MODULES for c in getattr(mod, "UNSTATED", [])]


@pytest.mark.parametrize("m", MUTANTS, ids=lambda m: f"{m.grade_id}: {m.name}")
def test_mutant_loses_exactly_its_properties(m: Mutant) -> None:
    result = run_item(ITEMS[m.grade_id], LocalInvoker({m.grade_id: m.func}))
    assert result.status == "graded"
    lost = {p.name for p in result.properties if not p.passed}
    assert lost == m.loses
    for prop in result.properties:
        if not prop.passed and prop.lines[0].startswith("not credited: "):  # a side condition, alone
            assert len(prop.lines) == 1
        elif not prop.passed:  # a failing call, then what differed
            assert prop.lines[0].startswith(("smallest failing call: ", "failing call: "))
            assert len(prop.lines) == 2


@pytest.mark.parametrize("c", CORRECT + UNSTATED, ids=lambda c: f"{c.grade_id}: {c.name}")
def test_correct_variant_scores_full_marks(c: Correct) -> None:
    result = run_item(ITEMS[c.grade_id], LocalInvoker({c.grade_id: c.func}))
    assert [(p.name, p.lines) for p in result.properties if not p.passed] == []


def test_every_item_has_a_mutant_and_a_correct_variant() -> None:
    assert [mod.__name__.rsplit(".", 1)[1] for mod in MODULES] == list(ASSIGNMENTS)
    assert {m.grade_id for m in MUTANTS} == set(ITEMS)
    assert {c.grade_id for c in CORRECT} == set(ITEMS)


def test_same_submission_twice_gives_identical_results() -> None:
    m = next(m for m in MUTANTS if m.name == "stride ignored" and m.grade_id == "conv2d")
    first = run_item(ITEMS["conv2d"], LocalInvoker({"conv2d": m.func})).to_dict()
    second = run_item(ITEMS["conv2d"], LocalInvoker({"conv2d": m.func})).to_dict()
    assert first == second


def test_failure_shrinks_to_a_small_call() -> None:
    m = next(m for m in MUTANTS if m.name == "stride ignored" and m.grade_id == "conv2d")
    result = run_item(ITEMS["conv2d"], LocalInvoker({"conv2d": m.func}))
    prop = next(p for p in result.properties if p.name == "stride > 1")
    assert not prop.passed
    assert "stride=2" in prop.lines[0] and "w.shape=(1, 1, 1, 1)" in prop.lines[0]
    assert prop.lines[1].startswith("expected shape (1, 1, 1, ")


class CountingInvoker:
    """Raises a given StudentError on every call and counts the calls."""

    def __init__(self, error: StudentError) -> None:
        self.error = error
        self.calls = 0

    def call(
        self, target: str, args: tuple[Any, ...], kwargs: dict[str, Any], probe: str | None = None
    ) -> Any:
        if probe == "provenance":
            return None
        self.calls += 1
        raise self.error


def test_a_timeout_ends_the_item_after_one_call() -> None:
    invoker = CountingInvoker(StudentTimeout("TimeoutError", "conv2d took longer than 5 s"))
    result = run_item(ITEMS["conv2d"], invoker)
    assert result.earned == 0
    assert result.properties[0].lines[1] == "timed out: conv2d took longer than 5 s"
    assert all(p.lines == ("not run: an earlier call timed out",) for p in result.properties[1:])
    assert invoker.calls == 1


def test_missing_name_is_reported_as_missing() -> None:
    result = run_item(ITEMS["relu"], LocalInvoker({}))
    assert result.status == "missing" and result.earned == 0
    assert "does not define relu" in result.message


def test_nondeterministic_function_is_graded_without_crashing() -> None:
    rng = np.random.default_rng(0)

    def flaky_relu(x: np.ndarray) -> np.ndarray:
        return np.maximum(x, 0) + (rng.random() < 0.5)

    result = run_item(ITEMS["relu"], LocalInvoker({"relu": flaky_relu}))
    assert result.status == "graded" and result.earned < ITEMS["relu"].points


def test_shrinking_is_bounded_by_student_calls() -> None:
    invoker_calls = []

    def slow_wrong_relu(x: np.ndarray) -> np.ndarray:
        invoker_calls.append(1)
        return x

    run_item(ITEMS["relu"], LocalInvoker({"relu": slow_wrong_relu}))
    bound = sum(len(p.examples) + p.max_examples + SHRINK_CALLS for p in ITEMS["relu"].properties)
    assert len(invoker_calls) <= bound


def test_an_exception_is_reported_with_its_type_and_message() -> None:
    def broken(x: np.ndarray) -> np.ndarray:
        raise IndexError("index 3 is out of bounds for axis 0 with size 3")

    result = run_item(ITEMS["relu"], LocalInvoker({"relu": broken}))
    assert result.properties[0].lines == (
        "failing call: relu(x.shape=(4, 4), x=[[ 0.5, 4.5, 1.5, -0.5], [ 2.5, 3.5, 0.5, -1.5], "
        "[ 3.5, -0.5, 1.5, 0.5], [ 1.5, 2.5, -2.5, -0.5]])",
        "raised IndexError: index 3 is out of bounds for axis 0 with size 3",
    )


def test_draws_ignore_constants_of_local_modules(tmp_path, monkeypatch):
    """Hypothesis mixes constants harvested from local modules into its draws; the grader must not,
    or a student's helper file (or the grader's own modules) would change the cases drawn."""
    from hypothesis.internal.conjecture import providers

    (tmp_path / "student_helper.py").write_text("MAGIC = 987654321\nRATIO = 0.123456789\nWORD = 'steer'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import student_helper  # noqa: F401  (a local module: hypothesis would harvest its constants)

    constants = providers._get_local_constants()
    assert 987654321 not in constants.integers
    assert len(constants) == 0


def test_grading_leaves_no_hypothesis_folder_in_the_working_directory(tmp_path):
    """In nbgrader the kernel's working directory is the student's notebook folder."""
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "from autograder.check import grade_object\n"
        "print(grade_object('relu', lambda x: np.maximum(x, 0.0)).earned)\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("HYPOTHESIS_STORAGE_DIRECTORY", None)
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) == ITEMS["relu"].points
    assert not (tmp_path / ".hypothesis").exists()


def _double(x: np.ndarray) -> np.ndarray:
    return 2 * x


#: A main property and a side condition: the side condition earns only with the main one.
DOUBLE = Item(
    "double",
    2,
    _double,
    (
        Prop("doubles", 1, examples=(Call((np.array([1.0, -2.0]),)),)),
        Prop("does not modify its inputs", 1, examples=(Call((np.array([1.0, -2.0]),)),), expect="unchanged"),
    ),
    params=("x",),
)


def test_a_side_condition_earns_only_with_a_main_property() -> None:
    right = run_item(DOUBLE, LocalInvoker({"double": lambda x: 2 * x}))
    nothing = run_item(DOUBLE, LocalInvoker({"double": lambda x: np.zeros_like(x)}))
    assert right.earned == 2
    assert nothing.earned == 0
    side = nothing.properties[1]
    assert not side.passed and side.lines[0].startswith("not credited: a side condition earns points only")


def test_an_item_needs_a_main_property() -> None:
    with pytest.raises(ValueError, match="side condition"):
        Item("f", 1, abs, (Prop("rejects", 1, examples=(Call((1,)),), expect="raises"),))


def test_a_call_that_raises_is_reported_as_the_raise_not_as_a_modification() -> None:
    def crashes_on_negatives(x: np.ndarray) -> np.ndarray:
        if (x < 0).any():
            raise ValueError("operands could not be broadcast together")
        return 2 * x

    result = run_item(DOUBLE, LocalInvoker({"double": crashes_on_negatives}))
    lines = next(p.lines for p in result.properties if p.name == "does not modify its inputs")
    assert lines[1] == (
        "raised ValueError: operands could not be broadcast together (so its inputs could not be checked)"
    )
    assert "modified" not in " ".join(lines)


def test_huge_results_are_not_kept_beyond_the_byte_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """A function that answers every call with 2 MB (wrong) is called as often as needed, but the
    grader keeps at most OUTCOME_BYTES of its results (here 4 MB) for reuse across properties."""
    from autograder import properties

    tallies: list[Any] = []

    class Recorded(properties._Tally):
        def __init__(self) -> None:
            super().__init__()
            tallies.append(self)

    monkeypatch.setattr(properties, "_Tally", Recorded)
    monkeypatch.setattr(properties, "OUTCOME_BYTES", 4 * 2**20, raising=False)
    calls = []

    def bloated_relu(x: np.ndarray) -> np.ndarray:
        calls.append(1)
        return np.zeros(2**18)  # 2 MB of float64

    result = run_item(ITEMS["relu"], LocalInvoker({"relu": bloated_relu}))
    assert result.earned == 0 and len(calls) > 2  # without a budget: more than 4 MB kept
    (tally,) = tallies
    kept = sum(got.nbytes for _, got in tally.outcomes.values() if isinstance(got, np.ndarray))
    assert 0 < kept <= 4 * 2**20
