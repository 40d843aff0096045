"""course_lib.layers against torch (float64 forward and autograd) and finite differences."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.strategies import (
    SIDE_1_4,
    ConvCase,
    HeadCase,
    conv_cases,
    float_arrays,
    grid_arrays,
    head_cases,
    wide_conv_cases,
)
from course_lib import batching
from course_lib.conv import conv2d
from course_lib.gradcheck import numerical_gradient, relative_error
from course_lib.layers import (
    conv2d_backward,
    cross_entropy,
    cross_entropy_backward,
    global_avgpool_head,
    linear,
    linear_backward,
    relu,
    relu_backward,
    softmax,
)

pytestmark = pytest.mark.usefixtures("torch_single_thread")

RTOL, ATOL = 1e-10, 1e-12


def close(a: np.ndarray, b: np.ndarray | torch.Tensor) -> None:
    expected = b.detach().numpy() if isinstance(b, torch.Tensor) else b
    np.testing.assert_allclose(a, expected, rtol=RTOL, atol=ATOL)


def grad_of(t: torch.Tensor) -> np.ndarray:
    assert t.grad is not None
    return t.grad.numpy()


# ------------------------------------------------------------------------------------------ relu


@given(st.data())
def test_relu_and_backward_match_torch(data: st.DataObject) -> None:
    shape = data.draw(st.sampled_from([(3,), (2, 3), (1, 2, 3, 2)]))
    x, dout = data.draw(float_arrays(shape)), data.draw(float_arrays(shape))
    tx = torch.tensor(x, requires_grad=True)
    out = torch.relu(tx)
    out.backward(torch.from_numpy(dout))
    close(relu(x), out)
    x_nonzero = np.where(x == 0, 1.0, x)  # torch and the course both use 0 at exactly 0; avoid the kink
    tx2 = torch.tensor(x_nonzero, requires_grad=True)
    torch.relu(tx2).backward(torch.from_numpy(dout))
    close(relu_backward(dout, x_nonzero), grad_of(tx2))


def test_relu_backward_is_zero_at_zero() -> None:
    np.testing.assert_array_equal(relu_backward(np.ones(3), np.array([-1.0, 0.0, 2.0])), [0.0, 0.0, 1.0])


# ----------------------------------------------------------------------------------- convolution

WIDE = wide_conv_cases()


@given(WIDE)
def test_conv2d_backward_matches_autograd(case: ConvCase) -> None:
    x, w = torch.tensor(case.x, requires_grad=True), torch.tensor(case.w, requires_grad=True)
    b = torch.zeros(case.w.shape[0], dtype=torch.float64, requires_grad=True)
    out = F.conv2d(x, w, b, stride=case.stride, padding=case.padding, dilation=case.dilation)
    out.backward(torch.from_numpy(case.dout))
    dx, dw, db = conv2d_backward(case.dout, case.x, case.w, **case.kwargs())
    close(dx, grad_of(x))
    close(dw, grad_of(w))
    close(db, grad_of(b))


def test_conv2d_backward_matches_autograd_on_every_kernel_stride_padding_dilation() -> None:
    """The whole grid the issue names, on a seeded non-square batch (see test_conv.py)."""
    rng = np.random.default_rng(1)
    x_np = rng.standard_normal((1, 2, 19, 17))
    for k, s, p, d in itertools.product(range(1, 8), range(1, 4), range(4), range(1, 4)):
        if d * (k - 1) + 1 > 17 + 2 * p:
            continue
        w_np = rng.standard_normal((2, 2, k, k))
        x, w = torch.tensor(x_np, requires_grad=True), torch.tensor(w_np, requires_grad=True)
        out = F.conv2d(x, w, stride=s, padding=p, dilation=d)
        dout = rng.standard_normal(out.shape)
        out.backward(torch.from_numpy(dout))
        dx, dw, db = conv2d_backward(dout, x_np, w_np, stride=s, padding=p, dilation=d)
        close(dx, grad_of(x))
        close(dw, grad_of(w))
        close(db, dout.sum(axis=(0, 2, 3)))


@pytest.mark.parametrize("threads", ["1", "2", "3"])
@pytest.mark.parametrize(
    ("stride", "padding", "dilation", "kernel"),
    [(1, 1, 1, (3, 3)), (1, 0, 2, (2, 3)), (1, 4, 1, (1, 3)), (2, 1, 1, (3, 3))],
)
def test_conv2d_backward_on_a_batch_split_across_threads(
    monkeypatch: pytest.MonkeyPatch, threads: str, stride: int, padding: int, dilation: int, kernel: tuple
) -> None:
    """Several chunks per worker (padding wider than the kernel included): autograd agrees, and a rerun
    gives bit-identical gradients (the partial dW sums are added in a fixed order)."""
    monkeypatch.setenv("COURSE_LIB_THREADS", threads)
    monkeypatch.setattr(batching, "MIN_PARALLEL_COST", 0)  # split even these small batches
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((13, 4, 7, 9)), rng.standard_normal((5, 4, *kernel))
    tx, tw = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    out = F.conv2d(tx, tw, stride=stride, padding=padding, dilation=dilation)
    dout = rng.standard_normal(tuple(out.shape))
    out.backward(torch.from_numpy(dout))
    grads = conv2d_backward(dout, x, w, stride=stride, padding=padding, dilation=dilation)
    close(grads[0], tx.grad)
    close(grads[1], tw.grad)
    close(grads[2], dout.sum(axis=(0, 2, 3)))
    again = conv2d_backward(dout, x, w, stride=stride, padding=padding, dilation=dilation)
    assert all(np.array_equal(a, b) for a, b in zip(grads, again, strict=True))


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@settings(max_examples=20)
@given(conv_cases(padding="same", kernel=st.integers(1, 4), dilation=st.integers(1, 2)))
def test_conv2d_backward_same_padding_matches_autograd(case: ConvCase) -> None:
    x, w = torch.tensor(case.x, requires_grad=True), torch.tensor(case.w, requires_grad=True)
    F.conv2d(x, w, padding="same", dilation=case.dilation).backward(torch.from_numpy(case.dout))
    dx, dw, _ = conv2d_backward(case.dout, case.x, case.w, **case.kwargs())
    close(dx, grad_of(x))
    close(dw, grad_of(w))


@settings(max_examples=10)
@given(
    conv_cases(
        batch=1,
        in_channels=st.integers(1, 2),
        out_channels=st.integers(1, 2),
        kernel=st.integers(1, 3),
        stride=st.integers(1, 2),
        padding=st.integers(0, 2),
        dilation=st.integers(1, 2),
        extra_size=st.integers(0, 2),
        bias=True,
        grid=True,
    )
)
def test_conv2d_backward_matches_finite_differences(case: ConvCase) -> None:
    dx, dw, db = conv2d_backward(case.dout, case.x, case.w, **case.kwargs())
    assert case.b is not None
    x, w, b = case.x.copy(), case.w.copy(), case.b.copy()

    def loss(_: np.ndarray) -> float:
        return float(np.sum(conv2d(x, w, b, **case.kwargs()) * case.dout))

    for analytic, variable in ((dx, x), (dw, w), (db, b)):
        assert relative_error(analytic, numerical_gradient(loss, variable)) < 1e-7


# ---------------------------------------------------------------------------------------- linear


@given(st.integers(1, 4), st.integers(1, 5), st.integers(1, 5), st.data())
def test_linear_and_backward_match_autograd(n: int, d_in: int, d_out: int, data: st.DataObject) -> None:
    x_np, w_np = data.draw(float_arrays((n, d_in))), data.draw(float_arrays((d_out, d_in)))
    b_np, dout = data.draw(float_arrays((d_out,))), data.draw(float_arrays((n, d_out)))
    x, w, b = (torch.tensor(a, requires_grad=True) for a in (x_np, w_np, b_np))
    out = F.linear(x, w, b)
    out.backward(torch.from_numpy(dout))
    close(linear(x_np, w_np, b_np), out)
    close(linear(x_np, w_np), out - b)
    dx, dw, db = linear_backward(dout, x_np, w_np)
    close(dx, grad_of(x))
    close(dw, grad_of(w))
    close(db, grad_of(b))


@given(head_cases(width=SIDE_1_4))
def test_global_avgpool_head_matches_torch_modules(case: HeadCase) -> None:
    """AdaptiveAvgPool2d(1) -> Flatten -> Linear(C, K), the head of a fully convolutional classifier."""
    k, c = case.w.shape
    head = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(c, k))
    head = head.double()
    with torch.no_grad():
        head[2].weight.copy_(torch.from_numpy(case.w))
        head[2].bias.copy_(torch.from_numpy(case.b))
    close(global_avgpool_head(case.x, case.w, case.b), head(torch.from_numpy(case.x)))
    close(global_avgpool_head(case.x, case.w), head(torch.from_numpy(case.x)) - torch.from_numpy(case.b))


def test_global_avgpool_head_by_hand_and_on_any_image_size() -> None:
    """Channel means 2.5 and 1, then w = [[1, 0], [0, 1], [1, -1]], b = [0, 0, 0.5]: logits 2.5, 1, 2.
    Tiling the maps 3x2 (a 6x4 image) leaves the means, and so the logits, unchanged."""
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 0.0], [0.0, 4.0]]]])  # (1, 2, 2, 2)
    w, b = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]]), np.array([0.0, 0.0, 0.5])
    np.testing.assert_array_equal(global_avgpool_head(x, w, b), [[2.5, 1.0, 2.0]])
    np.testing.assert_array_equal(global_avgpool_head(np.tile(x, (1, 1, 3, 2)), w, b), [[2.5, 1.0, 2.0]])


@settings(max_examples=10)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 3), st.data())
def test_linear_backward_matches_finite_differences(
    n: int, d_in: int, d_out: int, data: st.DataObject
) -> None:
    x, w = data.draw(grid_arrays((n, d_in))), data.draw(grid_arrays((d_out, d_in)))
    b, dout = data.draw(grid_arrays((d_out,))), data.draw(grid_arrays((n, d_out)))
    dx, dw, db = linear_backward(dout, x, w)

    def loss(_: np.ndarray) -> float:
        return float(np.sum(linear(x, w, b) * dout))

    for analytic, variable in ((dx, x), (dw, w), (db, b)):
        assert relative_error(analytic, numerical_gradient(loss, variable)) < 1e-7


# ------------------------------------------------------------------------ softmax, cross-entropy


@given(st.integers(1, 4), st.integers(1, 6), st.data())
def test_softmax_cross_entropy_match_torch(n: int, k: int, data: st.DataObject) -> None:
    z = data.draw(float_arrays((n, k), bound=30.0))
    y = np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    tz = torch.tensor(z, requires_grad=True)
    loss = F.cross_entropy(tz, torch.from_numpy(y))
    loss.backward()
    close(softmax(z), torch.softmax(torch.from_numpy(z), dim=1))
    np.testing.assert_allclose(cross_entropy(z, y), loss.item(), rtol=RTOL, atol=ATOL)
    close(cross_entropy_backward(z, y), grad_of(tz))


@settings(max_examples=10)
@given(st.integers(1, 3), st.integers(2, 4), st.data())
def test_cross_entropy_backward_matches_finite_differences(n: int, k: int, data: st.DataObject) -> None:
    z = data.draw(grid_arrays((n, k), bound=5.0))
    y = np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    numerical = numerical_gradient(lambda v: cross_entropy(v, y), z.copy())
    assert relative_error(cross_entropy_backward(z, y), numerical) < 1e-7


def test_softmax_and_cross_entropy_are_stable_for_huge_logits() -> None:
    z = np.array([[1000.0, -1000.0, 1000.0], [-1000.0, -1000.0, -1000.0]])
    y = np.array([1, 2])
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):  # no inf, nan, log(0)
        p = softmax(z)
        loss = cross_entropy(z, y)
        grad = cross_entropy_backward(z, y)
    np.testing.assert_allclose(p, [[0.5, 0.0, 0.5], [1 / 3, 1 / 3, 1 / 3]], rtol=RTOL)
    # Row 0: -log p(class 1) = 2000 + log 2 exactly (log-sum-exp); row 1: log 3.
    np.testing.assert_allclose(loss, (2000 + np.log(2) + np.log(3)) / 2, rtol=RTOL)
    np.testing.assert_allclose(grad, (p - np.eye(3)[y]) / 2, rtol=RTOL, atol=ATOL)


X4 = np.zeros((1, 2, 5, 5))
W4 = np.zeros((3, 2, 3, 3))


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: relu_backward(np.zeros(3), np.zeros(4)),
            ValueError,
            "dout must have shape (4,) (the shape of x), got (3,)",
        ),
        (
            lambda: conv2d_backward(np.zeros((1, 3, 4, 4)), X4, W4),
            ValueError,
            "dout must have shape (1, 3, 3, 3) (the output shape of conv2d(x, w, ...)), got (1, 3, 4, 4)",
        ),
        (
            lambda: conv2d_backward(np.zeros((1, 3, 3, 3)), X4, np.zeros((3, 1, 3, 3))),
            ValueError,
            "x has C_in=2 channels (x.shape[1]) but w expects C_in=1 (w.shape[1]); they must match",
        ),
        (
            lambda: conv2d_backward(np.zeros((1, 3, 3, 3)), X4, W4, stride=0),
            ValueError,
            "stride=0 must be >= 1",
        ),
        (
            lambda: linear(np.zeros((2, 3)), np.zeros((4, 5))),
            ValueError,
            "x has D_in=3 features (x.shape[1]) but w expects D_in=5 (w.shape[1]); they must match",
        ),
        (
            lambda: linear(np.zeros(3), np.zeros((4, 3))),
            ValueError,
            "x must be 2-D (N, D_in), got shape (3,)",
        ),
        (
            lambda: linear(np.zeros((2, 3)), np.zeros((4, 3)), np.zeros(3)),
            ValueError,
            "b must have shape (4,) (one bias per output feature, D_out = w.shape[0]), got (3,)",
        ),
        (
            lambda: linear_backward(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((4, 3))),
            ValueError,
            "dout must have shape (2, 4) (the output shape of linear(x, w, b)), got (2, 3)",
        ),
        (lambda: softmax(np.zeros(3)), ValueError, "logits must be 2-D (N, K), got shape (3,)"),
        (
            lambda: cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0])),
            TypeError,
            "y must be an integer array of class labels, got dtype float64",
        ),
        (
            lambda: cross_entropy(np.zeros((2, 3)), np.array([0, 3])),
            ValueError,
            "y must hold class labels in 0..2 (K = logits.shape[1])",
        ),
        (
            lambda: cross_entropy_backward(np.zeros((2, 3)), np.array([0])),
            ValueError,
            "y must have shape (2,) (one label per row of logits), got (1,)",
        ),
        (
            lambda: global_avgpool_head(np.zeros((1, 2, 3, 3)), np.zeros((4, 3))),
            ValueError,
            "w must have shape (K, C) with C = x.shape[1] = 2 (one weight per channel), got (4, 3)",
        ),
    ],
)
def test_invalid_arguments_messages(call: Callable[[], object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        call()
