r"""The shared machinery of the graded items: :class:`Call`, :class:`Prop` and :class:`Item`.

An :class:`Item` is data: the grade_id (the function or class name the student writes), its points,
the reference that computes the expected result from a case, and a list of named properties, each
testing ONE idea with a weight (the weights add up to the points). A property's cases are the
lecture's worked examples (explicit, run first) and/or a hypothesis strategy of :class:`Call`\ s.

Each assignment declares its items in its own module (``autograder/items/<assignment>.py``); the
package (:mod:`autograder.items`) collects them into ``ITEMS`` and ``ASSIGNMENTS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from hypothesis import strategies as st

from autograder.compare import DEFAULT_TOLERANCE, Tolerance, describe_value

Expect = Literal["value", "raises", "unchanged"]


@dataclass(frozen=True, eq=False)
class Call:
    """The arguments of one call: ``student(*args, **kwargs)``; ``note`` explains an invalid call."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    note: str = ""


#: A property's own verdict: ``judge(call, expected, got)`` -> None (satisfied) or a one-line message.
Judge = Callable[[Call, Any, Any], str | None]


@dataclass(frozen=True, eq=False)
class Prop:
    """One property: ONE idea tested on explicit ``examples`` (first) and generated ``cases``.

    ``expect`` is ``"value"`` (the result matches the reference), ``"raises"`` (ValueError or
    TypeError) or ``"unchanged"`` (the inputs are not modified). ``keys`` restricts the comparison to
    some outputs (names from ``Item.outputs``, or keys of a probe's dict). ``judge`` replaces the
    comparison with the reference by the property's own verdict on the student's result (for
    example, the mean of the losses the student's own training loop produced). ``probe`` overrides the
    item's probe for this property.

    A *side condition* (``side``; by default every ``"raises"`` and ``"unchanged"`` property) is
    something an implementation that ignores its inputs could satisfy ("does not modify its inputs",
    "rejects ...", "returns an int"): it earns its weight only when at least one of the item's other
    (main) properties passes.
    """

    name: str
    weight: float
    cases: st.SearchStrategy[Call] | None = None
    examples: tuple[Call, ...] = ()
    expect: Expect = "value"
    keys: tuple[str, ...] | None = None
    tol: Tolerance = DEFAULT_TOLERANCE
    max_examples: int = 10
    side: bool | None = None
    judge: Judge | None = None
    probe: str | None = None

    @property
    def is_side(self) -> bool:
        """True for a side condition (earns only with a passing main property)."""
        return self.side if self.side is not None else self.expect != "value"


@dataclass(frozen=True, eq=False)
class Item:
    """A graded function or class. ``params`` names the positional arguments for the feedback,
    ``outputs`` names the values of a tuple result, ``probe`` (see :mod:`autograder.probes`) drives
    objects that cannot cross the wire, ``describe`` writes a call's arguments when the default
    (``name=value``, ``x.shape=(...)``) does not fit."""

    grade_id: str
    points: float
    reference: Callable[..., Any]
    properties: tuple[Prop, ...]
    params: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    probe: str | None = None
    describe: Callable[[Call], str] | None = None

    def __post_init__(self) -> None:
        total = sum(p.weight for p in self.properties)
        if abs(total - self.points) > 1e-9:
            raise ValueError(f"{self.grade_id}: property weights add up to {total}, not points={self.points}")
        names = [p.name for p in self.properties]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.grade_id}: property names must be unique, got {names}")
        if all(p.is_side for p in self.properties):
            raise ValueError(f"{self.grade_id}: every property is a side condition; declare a main one")

    def expected(self, call: Call, keys: tuple[str, ...] | None = None) -> Any:
        """The reference result for ``call`` (only the ``keys`` outputs when given)."""
        return self.select(self.reference(*call.args, **call.kwargs), keys)

    def select(self, value: Any, keys: tuple[str, ...] | None) -> Any:
        """The ``keys`` outputs of a reference result (all of it when ``keys`` is None)."""
        if keys is None:
            return value
        if self.outputs and isinstance(value, tuple):
            value = dict(zip(self.outputs, value, strict=True))
        return {k: value[k] for k in keys}


def array(a: Any) -> np.ndarray:
    """A writeable float64 copy (the worked examples are read-only constants)."""
    return np.array(a, dtype=np.float64)


@dataclass(frozen=True)
class Requirement:
    """One row of an assignment's requirements audit: what the released notebook states about an item.

    ``quote`` is the notebook's own words (task text, formula text or docstring; a test finds it in
    ``release/<assignment>/<assignment>.ipynb``, whitespace-normalised). ``prop`` is the property that
    grades it, ``mutant`` the name of a mutant (``tests/autograder/mutants/<assignment>.py``) that
    violates this requirement and nothing else, and ``also`` the other properties that mutant
    necessarily loses as well (a test checks that it loses exactly ``prop`` and ``also``). ``prop=None``
    means the statement is not graded; ``note`` says why.
    """

    grade_id: str
    quote: str
    prop: str | None
    mutant: str = ""
    also: tuple[str, ...] = ()
    note: str = ""


def returns_int(call: Call, expected: Any, got: Any) -> str | None:
    """Judge: the result is a Python ``int`` (a numpy integer crosses the wire as one; a bool or an
    integral float such as ``3.0`` does not count)."""
    if isinstance(got, int) and not isinstance(got, bool):
        return None
    return f"expected an int, got {describe_value(got)}"


def keeps_dtype(call: Call, expected: Any, got: Any) -> str | None:
    """Judge: the result is an array with the expected dtype (that of the input, for pad2d)."""
    if isinstance(got, np.ndarray) and isinstance(expected, np.ndarray) and got.dtype == expected.dtype:
        return None
    return f"expected dtype {getattr(expected, 'dtype', None)}, got {describe_value(got)}"


def integer_array(call: Call, expected: Any, got: Any) -> str | None:
    """Judge: the result is an array of integers."""
    if isinstance(got, np.ndarray) and got.dtype.kind in "iu":
        return None
    return f"expected an array of ints, got {describe_value(got)}"


def one_below_one(t: tuple[int, int, int, int]) -> Call:
    """(bad, good, good, where): ``(in_channels, out_channels, kernel_size)`` with the value ``bad``
    (< 1) at position ``where`` (conv2d_params, depthwise_separable_params): a ValueError is due."""
    bad, first, second, where = t
    good = [first, second]
    args = tuple(bad if i == where else good.pop(0) for i in range(3))
    return Call(args, {}, "channels and kernel_size must be >= 1")


#: Channel counts of generated parameter-count calls: the lecture's worked example (32 -> 64) lies outside.
CHANNELS = st.integers(1, 16)
