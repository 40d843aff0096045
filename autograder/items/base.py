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

from autograder.compare import DEFAULT_TOLERANCE, Tolerance

Expect = Literal["value", "raises", "unchanged"]


@dataclass(frozen=True, eq=False)
class Call:
    """The arguments of one call: ``student(*args, **kwargs)``; ``note`` explains an invalid call."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True, eq=False)
class Prop:
    """One property: ONE idea tested on explicit ``examples`` (first) and generated ``cases``.

    ``expect`` is ``"value"`` (the result matches the reference), ``"raises"`` (ValueError or
    TypeError) or ``"unchanged"`` (the inputs are not modified). ``keys`` restricts the comparison to
    some outputs (names from ``Item.outputs``, or keys of a probe's dict).
    """

    name: str
    weight: float
    cases: st.SearchStrategy[Call] | None = None
    examples: tuple[Call, ...] = ()
    expect: Expect = "value"
    keys: tuple[str, ...] | None = None
    tol: Tolerance = DEFAULT_TOLERANCE
    max_examples: int = 10


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
