r"""Gradient checking: compare an analytic gradient with finite differences.

.. math:: \frac{\partial f}{\partial x_i}
          \approx \frac{f(x + \varepsilon e_i) - f(x - \varepsilon e_i)}{2\varepsilon}

(truncation error :math:`O(\varepsilon^2)`), and judge the agreement with the relative error
:math:`\|a - b\| / (\|a\| + \|b\|)` in the lecture's bands: below 1e-7 perfect, up to 1e-5
acceptable, up to 1e-3 suspicious, above 1e-3 a bug.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from course_lib.validation import Array, as_array

ERROR_BANDS: tuple[tuple[float, str], ...] = (
    (1e-7, "perfect"),
    (1e-5, "acceptable"),
    (1e-3, "suspicious"),
    (float("inf"), "a bug"),
)
"""(upper bound, verdict): a relative error below the bound (and above the previous one) gets the verdict."""


def numerical_gradient(f: Callable[[Array], Any], x: Array, eps: float = 1e-5) -> Array:
    r"""Two-sided finite-difference gradient of the scalar function ``f`` at ``x`` (any shape).

    ``x`` must be a float64 array: each entry is nudged by ``+-eps`` in place, ``f(x)`` is evaluated,
    and the entry is restored (also when ``f`` raises), so ``x`` is unchanged afterwards.
    Costs ``2 x.size`` calls of ``f``.
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise TypeError(f"x must be a float64 numpy array (it is nudged in place), got {type(x).__name__}")
    if not x.flags.writeable:
        raise ValueError("x must be writeable (it is nudged in place), got a read-only array")
    if isinstance(eps, bool) or not isinstance(eps, int | float) or not eps > 0:
        raise ValueError(f"eps={eps!r} must be a positive number")
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        try:
            x[idx] = old + eps
            f_plus = _scalar(f(x))
            x[idx] = old - eps
            f_minus = _scalar(f(x))
        finally:
            x[idx] = old
        grad[idx] = (f_plus - f_minus) / (2 * eps)
    return grad


def _scalar(value: Any) -> float:
    """``value`` as a float; ``f`` must return a scalar (a number or a 0-d / one-element array)."""
    if np.size(value) != 1:
        raise ValueError(f"f must return a scalar, got a value of shape {np.shape(value)}")
    return float(np.asarray(value).reshape(()))  # () -- a 0-d array


def relative_error(a: Array, b: Array) -> float:
    r"""``||a - b|| / (||a|| + ||b||)`` (Frobenius norms); 0.0 when both are zero."""
    a, b = as_array("a", a), as_array("b", b)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    denominator = float(np.linalg.norm(a) + np.linalg.norm(b))
    return 0.0 if denominator == 0.0 else float(np.linalg.norm(a - b)) / denominator


def error_band(error: float) -> str:
    """The lecture's verdict on a relative error: "perfect", "acceptable", "suspicious" or "a bug"."""
    if not error >= 0:
        raise ValueError(f"error={error!r} must be a non-negative number")
    return next(verdict for bound, verdict in ERROR_BANDS if error < bound)


@dataclass(frozen=True, eq=False)
class GradientCheck:
    """The outcome of :func:`check_gradient`: the errors, the verdict and both gradients."""

    relative_error: float
    band: str
    worst_index: tuple[int, ...]
    analytic: Array
    numerical: Array

    @property
    def passed(self) -> bool:
        """True for "perfect" and "acceptable"."""
        return self.band in ("perfect", "acceptable")

    def __str__(self) -> str:
        i = self.worst_index
        return (
            f"relative error {self.relative_error:.2e}: {self.band} "
            f"(largest difference at index {i}: analytic {self.analytic[i]:.6g}, "
            f"numerical {self.numerical[i]:.6g})"
        )


def check_gradient(f: Callable[[Array], Any], x: Array, analytic: Array, eps: float = 1e-5) -> GradientCheck:
    """Compare ``analytic`` (your gradient of ``f`` at ``x``) with :func:`numerical_gradient` and report
    the relative error, its band and where the two differ most."""
    numerical = numerical_gradient(f, x, eps)
    analytic = as_array("analytic", analytic)
    error = relative_error(analytic, numerical)
    worst: tuple[int, ...] = ()
    if analytic.size:
        flat_worst = np.argmax(np.abs(analytic - numerical))
        worst = tuple(int(i) for i in np.unravel_index(flat_worst, analytic.shape))
    return GradientCheck(error, error_band(error), worst, analytic, numerical)
