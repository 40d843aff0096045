"""Probes: small functions that run IN THE STUDENT'S PROCESS and drive the student's object.

Some graded things cannot be called directly across the sandbox wire: a function that takes a
Python callable (``numerical_gradient(f, x)``), a class (``TinyCNN``, ``FashionCNN``), a training
function that takes a model and a data loader. A probe receives the student's object plus plain
data (arrays, numbers, strings), builds whatever objects the call needs from that data, calls the
student's code and returns plain data for the grader to compare::

    def probe_name(student_obj, *args, **kwargs) -> plain data

This module imports only the standard library, numpy and (lazily) torch -- never ``autograder`` or
``course_lib`` -- because the sandbox ships its SOURCE to the worker and executes it there. The
grader imports it too, to build the same test functions when it computes the expected values.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import numpy as np

# ------------------------------------------------------------------------------ generic probes

#: Top-level packages a solution must not use: the course's reference library and the grader.
PROTECTED = ("course_lib", "autograder")


def _is_protected(module: object) -> bool:
    return isinstance(module, str) and module.split(".")[0] in PROTECTED


def _refers(obj: Any, seen: set[int], depth: int = 0) -> str | None:
    """How ``obj`` (a function, class, method, partial, module) refers to a protected package."""
    if id(obj) in seen or depth > 6:
        return None
    seen.add(id(obj))
    if isinstance(obj, types.ModuleType):
        return f"module {obj.__name__}" if _is_protected(obj.__name__) else None
    module = getattr(obj, "__module__", None) if callable(obj) else None
    if _is_protected(module):
        return f"{getattr(obj, '__qualname__', type(obj).__name__)} from {module}"
    inner = [getattr(obj, attr, None) for attr in ("__wrapped__", "__func__", "func")]
    if isinstance(obj, type):
        inner += list(obj.__mro__[1:]) + list(vars(obj).values())
    if isinstance(obj, staticmethod | classmethod):
        inner.append(obj.__func__)
    if isinstance(obj, types.FunctionType):
        inner += [cell.cell_contents for cell in obj.__closure__ or () if _cell_filled(cell)]
        inner += [obj.__globals__.get(name) for name in _global_names(obj.__code__)]
    for value in inner:
        if value is not None and (callable(value) or isinstance(value, types.ModuleType)):
            found = _refers(value, seen, depth + 1)
            if found is not None:
                return found
    return None


def _cell_filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - raises ValueError for an empty cell
    except ValueError:
        return False
    return True


def _global_names(code: types.CodeType) -> list[str]:
    """Names a code object (and the functions nested in it) loads from globals."""
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names += _global_names(const)
    return names


def probe_provenance(obj: Any) -> str | None:
    """A description of how ``obj`` is, wraps, subclasses or imports course_lib/autograder, else None.

    Looks at the object's ``__module__``, ``__wrapped__``, bound/partial functions, base classes and
    methods, closure cells and the globals its code refers to (modules and functions).
    """
    return _refers(obj, set())


def probe_inputs_after_call(func: Callable[..., Any], *args: Any, **kwargs: Any) -> list[Any]:
    """Call ``func(*args, **kwargs)`` and return the positional arguments as they are afterwards
    (the grader compares them with the originals: a function must not modify its inputs)."""
    func(*args, **kwargs)
    return list(args)


# --------------------------------------------------------------------------- gradient checking

#: Scalar test functions for ``numerical_gradient``, by name: separable, so each gradient entry
#: depends on its own coordinate only. ``source`` is how the feedback writes them.
GRADIENT_FUNCTIONS: dict[str, tuple[str, Callable[[np.ndarray], float]]] = {
    "sum_squares": ("lambda x: np.sum(x ** 2)", lambda x: float(np.sum(x**2))),
    "sum_cubes": ("lambda x: np.sum(x ** 3)", lambda x: float(np.sum(x**3))),
    "sum_sin": ("lambda x: np.sum(np.sin(x))", lambda x: float(np.sum(np.sin(x)))),
}


def probe_numerical_gradient(
    numerical_gradient: Callable[..., Any], function: str, x: np.ndarray
) -> dict[str, Any]:
    """Run the student's ``numerical_gradient(f, x)`` with the named test function ``f``.

    Returns ``{"grad": the result, "x": x afterwards}`` (``x`` must be restored).
    """
    f = GRADIENT_FUNCTIONS[function][1]
    x = np.array(x, dtype=np.float64)  # a fresh, writeable float64 array the student may nudge
    grad = numerical_gradient(f, x)
    return {"grad": grad, "x": x}


#: Every probe, by the name the items use.
PROBES: dict[str, Callable[..., Any]] = {
    "provenance": probe_provenance,
    "inputs_after_call": probe_inputs_after_call,
    "numerical_gradient": probe_numerical_gradient,
}
