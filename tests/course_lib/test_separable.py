"""course_lib.separable against torch (conv2d with groups=C_in, autograd; float64), finite differences
and a hand-worked example."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.strategies import (
    DILATION_1_3,
    KERNEL_1_7,
    PADDING_0_3,
    STRIDE_1_3,
    ConvCase,
    SeparableCase,
    depthwise_cases,
    separable_cases,
)
from course_lib.gradcheck import numerical_gradient, relative_error
from course_lib.separable import (
    depthwise_conv2d,
    depthwise_conv2d_backward,
    depthwise_separable_conv2d,
    depthwise_separable_conv2d_backward,
)

pytestmark = pytest.mark.usefixtures("torch_single_thread")

RTOL, ATOL = 1e-10, 1e-12


SMALL = {"kernel": st.integers(1, 3), "stride": st.integers(1, 2), "padding": st.integers(0, 1)}
WIDE = {"kernel": KERNEL_1_7, "stride": STRIDE_1_3, "padding": PADDING_0_3, "dilation": DILATION_1_3}


def t(a: np.ndarray | None, grad: bool = False) -> torch.Tensor | None:
    return None if a is None else torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def close(ours: np.ndarray, theirs: torch.Tensor | np.ndarray | None) -> None:
    assert theirs is not None
    expected = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    np.testing.assert_allclose(ours, expected, rtol=RTOL, atol=ATOL)


def torch_depthwise(c: ConvCase, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    return F.conv2d(x, w, b, c.stride, c.padding, c.dilation, groups=c.x.shape[1])


# ----------------------------------------------------------------------------------- depthwise


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@given(depthwise_cases(**WIDE) | depthwise_cases(padding="same", kernel=st.integers(1, 4)))
def test_depthwise_forward_matches_torch_groups(case: ConvCase) -> None:
    expected = torch_depthwise(case, t(case.x), t(case.w), t(case.b))  # type: ignore[arg-type]
    close(depthwise_conv2d(case.x, case.w, case.b, **case.kwargs()), expected)


@given(depthwise_cases(**WIDE))
def test_depthwise_backward_matches_autograd(case: ConvCase) -> None:
    x, w = t(case.x, True), t(case.w, True)
    b = torch.zeros(case.x.shape[1], dtype=torch.float64, requires_grad=True)
    assert x is not None and w is not None
    torch_depthwise(case, x, w, b).backward(torch.from_numpy(case.dout))
    dx, dw, db = depthwise_conv2d_backward(case.dout, case.x, case.w, **case.kwargs())
    close(dx, x.grad)
    close(dw, w.grad)
    close(db, b.grad)


@settings(max_examples=15)
@given(depthwise_cases(grid=True, **SMALL))
def test_depthwise_backward_matches_finite_differences(case: ConvCase) -> None:
    x, w, b = case.x.copy(), case.w.copy(), np.zeros(case.x.shape[1])

    def loss(_: np.ndarray) -> float:
        return float(np.sum(depthwise_conv2d(x, w, b, **case.kwargs()) * case.dout))

    dx, dw, db = depthwise_conv2d_backward(case.dout, x, w, **case.kwargs())
    for analytic, variable in ((dx, x), (dw, w), (db, b)):
        assert relative_error(analytic, numerical_gradient(loss, variable)) < 1e-8


def test_depthwise_by_hand() -> None:
    """x = 0..8 in both channels; channel 0's filter is all ones (2x2 window sums: 8, 12, 20, 24),
    channel 1's is [[1, 0], [0, -1]] (x[i, j] - x[i+1, j+1] = -4 everywhere); channels never mix."""
    x = np.stack([np.arange(9.0).reshape(3, 3)] * 2)[None]  # (1, 2, 3, 3)
    w = np.array([[[[1.0, 1.0], [1.0, 1.0]]], [[[1.0, 0.0], [0.0, -1.0]]]])  # (2, 1, 2, 2)
    out = depthwise_conv2d(x, w, b=np.array([0.0, 10.0]))
    np.testing.assert_array_equal(out[0, 0], [[8.0, 12.0], [20.0, 24.0]])
    np.testing.assert_array_equal(out[0, 1], [[6.0, 6.0], [6.0, 6.0]])
    # backward of sum(out): dw = the sum of each channel's windows per offset, dx counts the windows
    dx, dw, db = depthwise_conv2d_backward(np.ones((1, 2, 2, 2)), x, w)
    np.testing.assert_array_equal(dw[0, 0], [[0 + 1 + 3 + 4, 1 + 2 + 4 + 5], [3 + 4 + 6 + 7, 4 + 5 + 7 + 8]])
    np.testing.assert_array_equal(dx[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    np.testing.assert_array_equal(dx[0, 1], [[1, 1, 0], [1, 0, -1], [0, -1, -1]])
    np.testing.assert_array_equal(db, [4.0, 4.0])


# ---------------------------------------------------------------------------- depthwise separable


def torch_separable(c: SeparableCase, grad: bool = False) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
    d = c.depthwise
    leaves = [t(d.x, grad), t(d.w, grad), t(d.b, grad), t(c.w_pointwise, grad), t(c.b_pointwise, grad)]
    x, wd, bd, wp, bp = leaves
    assert x is not None and wd is not None and wp is not None
    return F.conv2d(torch_depthwise(d, x, wd, bd), wp, bp), leaves


@given(separable_cases(**WIDE))
def test_separable_forward_matches_torch(case: SeparableCase) -> None:
    d = case.depthwise
    ours = depthwise_separable_conv2d(d.x, d.w, case.w_pointwise, d.b, case.b_pointwise, **d.kwargs())
    close(ours, torch_separable(case)[0])


@given(separable_cases(**WIDE))
def test_separable_backward_matches_autograd(case: SeparableCase) -> None:
    d = case.depthwise
    out, (x, wd, bd, wp, bp) = torch_separable(case, grad=True)
    out.backward(torch.from_numpy(case.dout))
    dx, dwd, dbd, dwp, dbp = depthwise_separable_conv2d_backward(
        case.dout, d.x, d.w, case.w_pointwise, d.b, **d.kwargs()
    )
    for ours, leaf in ((dx, x), (dwd, wd), (dwp, wp)):
        assert leaf is not None
        close(ours, leaf.grad)
    if bd is not None:  # otherwise: the gradient a zero bias would get, i.e. dL/dy summed
        close(dbd, bd.grad)
    close(dbp, case.dout.sum(axis=(0, 2, 3)) if bp is None else bp.grad)


@settings(max_examples=15)
@given(separable_cases(grid=True, **SMALL))
def test_separable_backward_matches_finite_differences(case: SeparableCase) -> None:
    d = case.depthwise
    x, wd, wp = d.x.copy(), d.w.copy(), case.w_pointwise.copy()
    bd, bp = np.zeros(x.shape[1]) if d.b is None else d.b.copy(), np.zeros(wp.shape[0])

    def loss(_: np.ndarray) -> float:
        return float(np.sum(depthwise_separable_conv2d(x, wd, wp, bd, bp, **d.kwargs()) * case.dout))

    grads = depthwise_separable_conv2d_backward(case.dout, x, wd, wp, bd, **d.kwargs())
    for analytic, variable in zip(grads, (x, wd, bd, wp, bp), strict=True):
        assert relative_error(analytic, numerical_gradient(loss, variable)) < 1e-8


def test_separable_equals_a_standard_convolution_with_rank_one_filters() -> None:
    """The composition is a standard convolution whose filter o, channel c is w'_{o,c} * w_c: the
    factorisation the parameter saving comes from (checked with torch's dense conv2d)."""
    rng = np.random.default_rng(0)
    x, wd, wp = (
        rng.standard_normal((2, 3, 6, 5)),
        rng.standard_normal((3, 1, 3, 3)),
        rng.standard_normal((4, 3, 1, 1)),
    )
    dense = wp[:, :, 0, 0, None, None] * wd[None, :, 0]  # (C_out, C_in, 3, 3)
    expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(dense), padding=1).numpy()
    close(depthwise_separable_conv2d(x, wd, wp, padding=1), expected)


# ----------------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("x", "w", "message"),
    [
        (np.zeros((1, 2, 4, 4)), np.zeros((2, 2, 3, 3)), "w must have shape (C, 1, KH, KW)"),
        (np.zeros((1, 2, 4, 4)), np.zeros((3, 1, 3, 3)), "x has C=2 channels (x.shape[1]) but w has 3"),
        (np.zeros((1, 2, 4, 4)), np.zeros((2, 1, 5, 5)), "kernel_size=5 is larger than the padded input"),
        (np.zeros((2, 4, 4)), np.zeros((2, 1, 3, 3)), "x must be 4-D (N, C, H, W)"),
    ],
)
def test_depthwise_rejects_bad_arguments(x: np.ndarray, w: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        depthwise_conv2d(x, w)


def test_separable_rejects_bad_arguments() -> None:
    x, wd = np.zeros((1, 2, 4, 4)), np.zeros((2, 1, 3, 3))
    with pytest.raises(ValueError, match=re.escape("w_pointwise must have shape (C_out, C_in, 1, 1)")):
        depthwise_separable_conv2d(x, wd, np.zeros((5, 3, 1, 1)))
    with pytest.raises(ValueError, match=re.escape("b_pointwise must have shape (5,)")):
        depthwise_separable_conv2d(x, wd, np.zeros((5, 2, 1, 1)), b_pointwise=np.zeros(4))
    with pytest.raises(ValueError, match=re.escape("dout must have shape (1, 5, 2, 2)")):
        depthwise_separable_conv2d_backward(np.zeros((1, 2, 2, 2)), x, wd, np.zeros((5, 2, 1, 1)))
    with pytest.raises(TypeError, match="stride must be an int"):
        depthwise_conv2d(x, wd, stride=1.0)  # type: ignore[arg-type]
