"""What grading produced: one :class:`PropResult` per property, one :class:`ItemResult` per item.

Plain frozen dataclasses with a JSON round trip (``to_dict`` / ``from_dict``) so that results can be
written next to a submission and re-read by the report writers. Scores are in points: a property
earns its full weight or nothing; an item earns the sum over its passed properties, unless its
``status`` says it was not graded normally (stub, missing, flagged), in which case it earns 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Item statuses. ``graded``: the properties ran. ``not_implemented``: every call raised
#: NotImplementedError. ``missing``: the name is not defined. ``flagged``: the solution is, wraps or
#: calls the reference (course_lib/autograder) and earns 0. ``error``: the submission could not be run.
STATUSES = ("graded", "not_implemented", "missing", "flagged", "error")


@dataclass(frozen=True)
class PropResult:
    """The verdict on one property: ``lines`` explain a failure (the call, then what differed)."""

    name: str
    weight: float
    passed: bool
    lines: tuple[str, ...] = ()

    @property
    def earned(self) -> float:
        """Points earned: the weight when passed, else 0."""
        return float(self.weight) if self.passed else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "weight": self.weight, "passed": self.passed, "lines": list(self.lines)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PropResult:
        return cls(str(data["name"]), float(data["weight"]), bool(data["passed"]), tuple(data["lines"]))


@dataclass(frozen=True)
class ItemResult:
    """The verdict on one graded item (a function or class the student wrote)."""

    grade_id: str
    points: float
    properties: tuple[PropResult, ...] = ()
    status: str = "graded"
    message: str = ""
    flags: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status={self.status!r} must be one of {STATUSES}")

    @property
    def earned(self) -> float:
        """Points earned: the passed properties' weights, or 0 unless the status is ``graded``."""
        if self.status != "graded":
            return 0.0
        return float(round(sum(p.earned for p in self.properties), 6))

    @property
    def flagged(self) -> bool:
        """True when a reviewer should look at this item (reference use, tampering)."""
        return self.status == "flagged" or bool(self.flags)

    def to_dict(self) -> dict[str, Any]:
        return {
            "grade_id": self.grade_id,
            "points": self.points,
            "earned": self.earned,
            "status": self.status,
            "message": self.message,
            "flags": list(self.flags),
            "properties": [p.to_dict() for p in self.properties],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ItemResult:
        return cls(
            grade_id=str(data["grade_id"]),
            points=float(data["points"]),
            properties=tuple(PropResult.from_dict(p) for p in data.get("properties", [])),
            status=str(data.get("status", "graded")),
            message=str(data.get("message", "")),
            flags=tuple(str(f) for f in data.get("flags", [])),
        )
