r"""Fair comparison of a student's result with the expected one: ``compare(expected, got) -> message``.

Both values are plain data (``got`` has already crossed :func:`autograder.sandbox.wire.roundtrip`, so it is a
base-class ``ndarray``, a Python scalar, a string, ``None`` or a list/tuple/dict of those): nothing a
student defined (``__eq__``, ``__bool__``, ``__array__``) is ever called here.

Any correct implementation passes: loops, im2col, einsum, float32 arithmetic, ints or numpy scalars,
nested lists that form the right array. Numbers match when

.. math:: |got - expected| \le atol + rtol\,|expected|, \qquad atol = 10^{-6} \max(1, \max|expected|),
          \ rtol = 10^{-5}

(the absolute part is scaled to the largest expected value, so float32 sums pass). Integers expected
(sizes, parameter counts) must match exactly; an integral float such as ``3.0`` counts as ``3``.
Wrong shapes, NaN, infinities, ``None`` and wrong types fail with a one-line message (NaN or an
infinity passes only where the expected value is the same NaN or infinity). Numbers in a message have
6 significant digits, or as many as it takes to show the difference (:func:`format_pair`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    """``atol = atol_scale * max(1, max|expected|)`` and ``rtol`` for float comparisons."""

    atol_scale: float = 1e-6
    rtol: float = 1e-5


DEFAULT_TOLERANCE = Tolerance()


def format_number(value: Any) -> str:
    """A short, deterministic text for a number: ints as they are, floats with 6 significant digits."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        text = f"{v:.6g}"
        return text if any(ch in text for ch in ".e") else text + ".0"
    return describe_value(value)


def _exact_number(value: Any) -> str:
    """The shortest text that reads back as exactly ``value`` (``repr`` of a float: 17 digits at most)."""
    if isinstance(value, float | np.floating) and math.isfinite(float(value)):
        return repr(float(value))
    return format_number(value)


def format_pair(expected: Any, got: Any) -> tuple[str, str]:
    """``expected`` and ``got`` as text, with as many digits as it takes to show that they differ:
    6 significant digits, unless those read the same (``1.5`` and ``1.5000000000000002``)."""
    short = format_number(expected), format_number(got)
    try:
        same_text = float(short[0]) == float(short[1])
    except ValueError:  # not numbers (a bool, None, ...)
        return short
    if same_text:
        return _exact_number(expected), _exact_number(got)
    return short


def describe_value(value: Any) -> str:
    """What a returned value is, in a few words: ``None``, ``str 'abc'``, ``an array of shape (2, 3)``."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return f"bool {value}"
    if isinstance(value, int | float):
        return f"{type(value).__name__} {format_number(value)}"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return f"str {text!r}"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of {len(value)} items"
    if isinstance(value, dict):
        return f"a dict with keys {sorted(map(str, value))[:6]}"
    return type(value).__name__


def _as_numeric_array(value: Any) -> np.ndarray | None:
    """``value`` as a numeric ndarray (ints, floats, bools; lists that form a rectangular array), else
    None. Only plain data reaches this point, so ``np.asarray`` runs no student code."""
    if value is None or isinstance(value, str | dict):
        return None
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):  # ragged nested lists
        return None
    if arr.dtype.kind not in "biuf":
        return None
    return arr


def _scale_tolerance(expected: np.ndarray, tol: Tolerance) -> tuple[float, float]:
    peak = float(np.max(np.abs(expected))) if expected.size else 0.0
    return tol.atol_scale * max(1.0, peak), tol.rtol


def _index_text(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(int(i)) for i in index) + "]"


def compare_arrays(expected: np.ndarray, got: Any, tol: Tolerance = DEFAULT_TOLERANCE) -> str | None:
    """None when ``got`` is an array (or nested list) of ``expected``'s shape with close values, else
    a message: the shape difference, or the first differing element in row-major order."""
    arr = _as_numeric_array(got)
    if arr is None:
        return f"expected an array of shape {expected.shape}, got {describe_value(got)}"
    if arr.shape != expected.shape:
        return f"expected shape {expected.shape}, got {arr.shape}"
    if expected.dtype.kind in "biu" and arr.dtype.kind in "biu":
        bad = arr != expected
    else:
        exp = expected.astype(np.float64)
        val = arr.astype(np.float64)
        atol, rtol = _scale_tolerance(exp, tol)
        with np.errstate(all="ignore"):
            close = np.abs(val - exp) <= atol + rtol * np.abs(exp)
        same = (val == exp) | (np.isnan(val) & np.isnan(exp))  # exact, also inf == inf, NaN == NaN
        bad = ~((close & np.isfinite(val)) | same)
    if not bad.any():
        return None
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    count = int(bad.sum())
    where = f"at {_index_text(first)}: " if arr.ndim else ""
    exp_text, got_text = format_pair(expected[first], arr[first])
    text = f"{where}expected {exp_text}, got {got_text}"
    if arr.size > 1:
        text += f" ({count} of {arr.size} elements differ)"
    return text


def _scalar(got: Any) -> float | int | None:
    """A Python number from a returned scalar (int, float, 0-d array), else None (bools refused)."""
    if isinstance(got, bool | np.bool_):
        return None
    if isinstance(got, int | float):
        return got
    if isinstance(got, np.integer | np.floating):  # numpy's own scalar types (after the wire: rare)
        scalar: int | float = got.item()
        return scalar
    if isinstance(got, np.ndarray) and got.ndim == 0 and got.dtype.kind in "iuf":
        item: int | float = got.item()
        return item
    return None


def compare_int(expected: int, got: Any) -> str | None:
    """Exact integer comparison; an integral float (``3.0``) or a 0-d integer array also counts."""
    value = _scalar(got)
    if value is None:
        return f"expected the int {expected}, got {describe_value(got)}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"expected {expected}, got {format_number(value)}"
    if value != expected:
        exp_text, got_text = format_pair(expected, value)
        return f"expected {exp_text}, got {got_text}"
    return None


def compare_float(expected: float, got: Any, tol: Tolerance = DEFAULT_TOLERANCE) -> str | None:
    """A number within the scaled tolerance of ``expected`` (NaN/inf only match themselves exactly)."""
    value = _scalar(got)
    if value is None:
        return f"expected a number close to {format_number(expected)}, got {describe_value(got)}"
    value = float(value)
    if not math.isfinite(expected) or not math.isfinite(value):
        same = value == expected or (math.isnan(value) and math.isnan(expected))
        return None if same else "expected {}, got {}".format(*format_pair(expected, value))
    atol = tol.atol_scale * max(1.0, abs(expected))
    if abs(value - expected) <= atol + tol.rtol * abs(expected):
        return None
    return "expected {}, got {}".format(*format_pair(expected, value))


def compare(
    expected: Any, got: Any, tol: Tolerance = DEFAULT_TOLERANCE, names: tuple[str, ...] = ()
) -> str | None:
    """None when ``got`` matches ``expected``, else a one-line message in the student's terms.

    ``expected`` decides the rules: an ndarray (array comparison), an int (exact), a float (scaled
    tolerance), a bool or str or None (exact), a tuple/list (same length, item by item; ``names``
    label the items, e.g. ``("dx", "dw", "db")``) or a dict (the same keys, value by value).
    """
    if isinstance(expected, np.ndarray):
        return compare_arrays(expected, got, tol)
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        if type(got) is type(expected) and got == expected:
            return None
        return f"expected {expected!r}, got {describe_value(got)}"
    if isinstance(expected, int):
        return compare_int(expected, got)
    if isinstance(expected, float):
        return compare_float(expected, got, tol)
    if isinstance(expected, tuple | list):
        labels = names if len(names) == len(expected) else tuple(f"item {i}" for i in range(len(expected)))
        if not isinstance(got, tuple | list) or len(got) != len(expected):
            what = f"{len(expected)} values ({', '.join(labels)})"
            return f"expected {what}, got {describe_value(got)}"
        for label, exp_item, got_item in zip(labels, expected, got, strict=True):
            message = compare(exp_item, got_item, tol)
            if message is not None:
                return f"{label}: {message}"
        return None
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"expected a dict with keys {sorted(expected)}, got {describe_value(got)}"
        for key, exp_item in expected.items():
            if key not in got:
                return f"missing {key!r} in the result"
            message = compare(exp_item, got[key], tol)
            if message is not None:
                return f"{key}: {message}"
        return None
    raise TypeError(f"cannot compare against an expected value of type {type(expected).__name__}")


__all__ = [
    "DEFAULT_TOLERANCE",
    "Tolerance",
    "compare",
    "compare_arrays",
    "compare_float",
    "compare_int",
    "describe_value",
    "format_number",
    "format_pair",
]
