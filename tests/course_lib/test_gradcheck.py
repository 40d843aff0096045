"""course_lib.gradcheck against functions whose gradients are known in closed form."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograder.strategies import float_arrays
from course_lib.gradcheck import check_gradient, error_band, numerical_gradient, relative_error

SHAPES = st.sampled_from([(), (1,), (3,), (2, 3), (2, 1, 3), (1, 2, 2, 2)])


@given(SHAPES.flatmap(float_arrays))
def test_numerical_gradient_of_polynomial_is_exact_enough(x: np.ndarray) -> None:
    """f(x) = sum(x^3 / 3 + 2x) has gradient x^2 + 2; two-sided differences err by eps^2/3 only."""
    grad = numerical_gradient(lambda v: np.sum(v**3 / 3 + 2 * v), x)
    np.testing.assert_allclose(grad, x**2 + 2, rtol=1e-8, atol=1e-8)


@given(SHAPES.flatmap(float_arrays))
def test_numerical_gradient_leaves_x_unchanged(x: np.ndarray) -> None:
    before = x.copy()
    numerical_gradient(lambda v: float(np.sum(np.sin(v))), x)
    np.testing.assert_array_equal(x, before)


def test_numerical_gradient_restores_x_when_f_raises() -> None:
    x = np.arange(4.0)

    def f(v: np.ndarray) -> float:
        if v[2] != 2.0:
            raise RuntimeError("boom")
        return float(v.sum())

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(f, x)
    np.testing.assert_array_equal(x, np.arange(4.0))


def test_numerical_gradient_on_a_non_contiguous_view() -> None:
    base = np.arange(12.0).reshape(3, 4)
    view = base[:, ::2]  # f sees the nudges through the view
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sum(v**2), view), 2 * view, rtol=1e-8)


def test_numerical_gradient_is_two_sided() -> None:
    """For f = exp, (e^{x+h} - e^{x-h}) / 2h = e^x (1 + h^2/6 + ...): error ~1e-11, one-sided ~5e-6."""
    x = np.array([1.0])
    assert abs(numerical_gradient(lambda v: np.exp(v[0]), x)[0] - np.e) < 1e-9


def test_relative_error_values() -> None:
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert relative_error(np.array([1.0]), np.array([-1.0])) == 1.0  # ||2|| / (1 + 1)
    np.testing.assert_allclose(relative_error(np.array([3.0, 0.0]), np.array([0.0, 4.0])), 5.0 / 7.0)
    assert relative_error(np.array([1.0]), np.array([0.0])) == 1.0


@pytest.mark.parametrize(
    ("error", "band"),
    [
        (0.0, "perfect"),
        (9.9e-8, "perfect"),
        (1e-7, "acceptable"),
        (9.9e-6, "acceptable"),
        (1e-5, "suspicious"),
        (1e-3 * 0.99, "suspicious"),
        (1e-3, "a bug"),
        (0.5, "a bug"),
    ],
)
def test_error_bands(error: float, band: str) -> None:
    assert error_band(error) == band


def test_check_gradient_reports_a_correct_and_a_wrong_gradient() -> None:
    x = np.array([[0.5, -1.0], [2.0, 0.25]])

    def f(v: np.ndarray) -> float:
        return float(np.sum(v**2))

    good = check_gradient(f, x, 2 * x)
    assert good.band == "perfect" and good.passed
    bad_grad = 2 * x
    bad_grad[1, 0] = 0.0  # a forgotten entry
    bad = check_gradient(f, x, bad_grad)
    assert bad.band == "a bug" and not bad.passed
    assert bad.worst_index == (1, 0)
    assert str(bad).startswith(
        f"relative error {bad.relative_error:.2e}: a bug (largest difference at index (1, 0)"
    )


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: numerical_gradient(np.sum, np.arange(3)), TypeError, "x must be a float64 numpy array"),
        (lambda: numerical_gradient(np.sum, [1.0, 2.0]), TypeError, "x must be a float64 numpy array"),
        (
            lambda: numerical_gradient(np.sum, np.ones(2), eps=0.0),
            ValueError,
            "eps=0.0 must be a positive number",
        ),
        (
            lambda: relative_error(np.ones(2), np.ones(3)),
            ValueError,
            "a and b must have the same shape, got (2,) and (3,)",
        ),
        (lambda: error_band(-1.0), ValueError, "error=-1.0 must be a non-negative number"),
        (
            lambda: numerical_gradient(lambda v: 2 * v, np.ones((2, 3))),
            ValueError,
            "f must return a scalar, got a value of shape (2, 3)",
        ),
    ],
)
def test_invalid_arguments_messages(call: Callable[[], object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        call()


def test_read_only_x_is_rejected() -> None:
    x = np.ones(2)
    x.flags.writeable = False
    with pytest.raises(ValueError, match=re.escape("x must be writeable (it is nudged in place)")):
        numerical_gradient(np.sum, x)
