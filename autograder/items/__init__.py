r"""Every graded item, declared once: ``ITEMS[grade_id]`` and ``ASSIGNMENTS[assignment]``.

An :class:`Item` is data: the grade_id (the function or class name the student writes), its points,
the reference that computes the expected result from a case, and a list of named properties, each
testing ONE idea with a weight (the weights add up to the points). A property's cases are the
lecture's worked examples (explicit, run first) and/or a hypothesis strategy of :class:`Call`\ s.
The machinery lives in :mod:`autograder.items.base`.

Each assignment is one module of this package, named after the assignment
(``autograder/items/<assignment>.py``), that declares ``POSITION`` (its place in the course) and
``GRADED`` (its items, in notebook order). The package finds the modules itself: adding an assignment
is one items module plus one source notebook.

Points are declared here and only here: the nbgrader notebooks take each test cell's points from
``ITEMS[name].points`` and the batch grader from the source notebook built from them.

The same declaration feeds the nbgrader hidden tests (:func:`autograder.check`) and the standalone
grader (``python -m autograder grade``).
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from autograder.items.base import Call, Expect, Item, Prop

#: Modules of this package that are not assignments.
NOT_ASSIGNMENTS = frozenset({"base"})


def _assignment_modules() -> list[ModuleType]:
    """The assignment modules of this package, in course order (``POSITION``)."""
    names = [
        info.name
        for info in pkgutil.iter_modules(__path__)
        if not info.name.startswith("_") and info.name not in NOT_ASSIGNMENTS
    ]
    modules = [importlib.import_module(f"{__name__}.{name}") for name in names]
    return sorted(modules, key=lambda m: (m.POSITION, m.__name__))


#: The assignment modules, in course order.
MODULES: tuple[ModuleType, ...] = tuple(_assignment_modules())

ITEMS: dict[str, Item] = {item.grade_id: item for module in MODULES for item in module.GRADED}

#: grade_ids per assignment, in notebook order.
ASSIGNMENTS: dict[str, list[str]] = {
    module.__name__.rsplit(".", 1)[1]: [item.grade_id for item in module.GRADED] for module in MODULES
}


def items_for_assignment(name: str) -> list[Item]:
    """The items of an assignment, in notebook order."""
    if name not in ASSIGNMENTS:
        raise ValueError(f"assignment={name!r} is unknown; choose one of {sorted(ASSIGNMENTS)}")
    return [ITEMS[grade_id] for grade_id in ASSIGNMENTS[name]]


def _weight(value: float) -> str:
    return f"{value:g}"


def markdown() -> str:
    """Every assignment's items with their properties and weights, as markdown tables (the README's
    "Graded items" list; ``python -m autograder.items --markdown``)."""
    lines: list[str] = []
    for assignment, grade_ids in ASSIGNMENTS.items():
        total = sum(ITEMS[g].points for g in grade_ids)
        lines += [f"**`{assignment}`** ({_weight(total)} points)", ""]
        lines += ["| item | property | weight |", "|---|---|---:|"]
        for grade_id in grade_ids:
            item = ITEMS[grade_id]
            for i, prop in enumerate(item.properties):
                name = f"`{grade_id}` ({_weight(item.points)})" if i == 0 else ""
                side = " *(side condition)*" if prop.is_side else ""
                text = prop.name.replace("|", "\\|")
                lines.append(f"| {name} | {text}{side} | {_weight(prop.weight)} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


__all__ = [
    "ASSIGNMENTS",
    "ITEMS",
    "MODULES",
    "Call",
    "Expect",
    "Item",
    "Prop",
    "items_for_assignment",
    "markdown",
]
