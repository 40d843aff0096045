"""Student-style implementations for testing the grader: common bugs (mutants) and correct variants.

Each module mirrors one assignment and declares ``MUTANTS`` (a bug, and the exact property names it
must lose) and ``CORRECT`` (other ways of writing a right answer: loops, einsum, float32, lists, numpy
scalars; they must score full marks). Nothing here imports course_lib or autograder: these stand in
for what students write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Mutant:
    """A buggy ``func`` for item ``grade_id`` that must fail exactly the properties ``loses``."""

    grade_id: str
    name: str
    func: Callable[..., Any]
    loses: frozenset[str]


@dataclass(frozen=True)
class Correct:
    """A correct ``func`` for ``grade_id``, written differently from the reference."""

    grade_id: str
    name: str
    func: Callable[..., Any]


def mutant(grade_id: str, name: str, func: Callable[..., Any], *loses: str) -> Mutant:
    return Mutant(grade_id, name, func, frozenset(loses))
