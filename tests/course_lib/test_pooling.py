"""course_lib.pooling against torch.nn.functional (max_pool2d, avg_pool2d, adaptive_avg_pool2d),
torch autograd and finite differences."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.strategies import InvalidCall, PoolCase, float_arrays, invalid_pool_calls, pool_cases
from course_lib.gradcheck import numerical_gradient, relative_error
from course_lib.pooling import (
    avgpool2d,
    avgpool2d_backward,
    global_avgpool,
    global_avgpool_backward,
    maxpool2d,
    maxpool2d_backward,
)

pytestmark = pytest.mark.usefixtures("torch_single_thread")

RTOL, ATOL = 1e-10, 1e-12
CASES = pool_cases(
    kernel=st.integers(1, 4), stride=st.one_of(st.none(), st.integers(1, 3)), batch=st.integers(1, 3)
)
POOLS = {
    "max": (maxpool2d, maxpool2d_backward, F.max_pool2d),
    "avg": (avgpool2d, avgpool2d_backward, F.avg_pool2d),
}


def torch_forward_backward(
    case: PoolCase, torch_fn: Callable[..., torch.Tensor]
) -> tuple[np.ndarray, np.ndarray]:
    x = torch.tensor(case.x, requires_grad=True)
    out = torch_fn(x, case.kernel_size, case.stride)
    out.backward(torch.from_numpy(case.dout))
    assert x.grad is not None
    return out.detach().numpy(), x.grad.numpy()


@pytest.mark.parametrize("kind", POOLS)
@given(case=CASES)
def test_pooling_matches_torch(kind: str, case: PoolCase) -> None:
    forward, backward, torch_fn = POOLS[kind]
    expected_out, expected_dx = torch_forward_backward(case, torch_fn)
    np.testing.assert_allclose(forward(case.x, **case.kwargs()), expected_out, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(
        backward(case.dout, case.x, **case.kwargs()), expected_dx, rtol=RTOL, atol=ATOL
    )


@pytest.mark.parametrize("kind", POOLS)
@settings(max_examples=15)
@given(
    case=pool_cases(
        batch=1,
        channels=st.integers(1, 2),
        extra_size=st.integers(0, 3),
        stride=st.sampled_from([None, 1, 2]),
    )
)
def test_pooling_backward_matches_finite_differences(kind: str, case: PoolCase) -> None:
    forward, backward, _ = POOLS[kind]
    x = case.x.copy()
    numerical = numerical_gradient(lambda v: np.sum(forward(v, **case.kwargs()) * case.dout), x)
    assert relative_error(backward(case.dout, case.x, **case.kwargs()), numerical) < 1e-7


@given(CASES)
def test_pool_cases_have_no_ties_in_any_window(case: PoolCase) -> None:
    x = torch.from_numpy(case.x)
    window_max = F.max_pool2d(x, case.kernel_size, case.stride)
    # Count, per window, the entries equal to its max: unfold the windows with torch and compare.
    k, s = case.kernel_size, case.stride or case.kernel_size
    windows = x.unfold(2, k, s).unfold(3, k, s)  # (N, C, H_out, W_out, K, K)
    hits = (windows == window_max[..., None, None]).sum(dim=(-1, -2))
    assert bool((hits == 1).all())


@given(invalid_pool_calls())
def test_invalid_pool_calls_raise(case: InvalidCall) -> None:
    for fn in (maxpool2d, avgpool2d):
        with pytest.raises(case.error):
            fn(*case.args, **case.kwargs)


def test_maxpool_ties_route_to_the_first_maximum_like_torch() -> None:
    x = np.array([[[[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [0.0, 0.0, 0.0]]]])  # ties in every window
    dout = np.array([[[[1.0, 10.0], [100.0, 1000.0]]]])
    tx = torch.tensor(x, requires_grad=True)
    F.max_pool2d(tx, 2, 1).backward(torch.from_numpy(dout))
    assert tx.grad is not None
    dx = maxpool2d_backward(dout, x, 2, 1)
    np.testing.assert_array_equal(dx, tx.grad.numpy())
    # By hand: window (0, 0) routes to (0, 1), window (0, 1) also to (0, 1) (first in row-major order).
    np.testing.assert_array_equal(dx[0, 0], [[0.0, 11.0, 0.0], [100.0, 0.0, 1000.0], [0.0, 0.0, 0.0]])


@pytest.mark.parametrize("stride", [None, 2])
def test_maxpool_ties_in_tiling_windows_route_to_the_first_maximum_like_torch(stride: int | None) -> None:
    x = np.array([[[[1.0, 1.0, 0.0, 2.0, 7.0], [1.0, 0.0, 2.0, 2.0, 7.0], [3.0, 3.0, 3.0, 3.0, 7.0]]]])
    dout = np.array([[[[1.0, 10.0]]]])
    tx = torch.tensor(x, requires_grad=True)
    F.max_pool2d(tx, 2, stride).backward(torch.from_numpy(dout))
    assert tx.grad is not None
    dx = maxpool2d_backward(dout, x, 2, stride)
    np.testing.assert_array_equal(dx, tx.grad.numpy())
    # By hand: the first window's max 1 sits at (0, 0) first; the second's max 2 at (0, 3) first.
    np.testing.assert_array_equal(dx[0, 0], [[1, 0, 0, 10, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]])


def test_maxpool_lecture_example() -> None:
    x = np.array([[1.0, 5, 2, 0], [3, 4, 1, -1], [4, 0, 2, 1], [2, 3, -2, 0]])[None, None]
    np.testing.assert_array_equal(maxpool2d(x)[0, 0], [[5.0, 2.0], [4.0, 2.0]])
    dx = maxpool2d_backward(np.ones((1, 1, 2, 2)), x)[0, 0]
    np.testing.assert_array_equal(dx, [[0, 1, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])


@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 5), st.integers(1, 5), st.data())
def test_global_avgpool_matches_torch(n: int, c: int, h: int, w: int, data: st.DataObject) -> None:
    x = data.draw(float_arrays((n, c, h, w)))
    dout = data.draw(float_arrays((n, c)))
    tx = torch.tensor(x, requires_grad=True)
    out = F.adaptive_avg_pool2d(tx, 1)[:, :, 0, 0]
    out.backward(torch.from_numpy(dout))
    assert tx.grad is not None
    np.testing.assert_allclose(global_avgpool(x), out.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(global_avgpool_backward(dout, x), tx.grad.numpy(), rtol=RTOL, atol=ATOL)


X = np.zeros((1, 2, 4, 4))


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: maxpool2d(X, 5), ValueError, "kernel_size=5 is larger than the padded input (4 + 2*0 = 4)"),
        (
            lambda: maxpool2d(X[:, :, :2], 3),
            ValueError,
            "kernel_size=3 is larger than the padded input height",
        ),
        (lambda: maxpool2d(X, 0), ValueError, "kernel_size=0 must be >= 1"),
        (lambda: maxpool2d(X, 2, 0), ValueError, "stride=0 must be >= 1"),
        (lambda: maxpool2d(X, True), TypeError, "kernel_size must be an int, got bool True"),
        (lambda: avgpool2d(X, 2, 1.0), TypeError, "stride must be an int, got float 1.0"),
        (lambda: avgpool2d(X[0], 2), ValueError, "x must be 4-D (N, C, H, W), got shape (2, 4, 4)"),
        (
            lambda: maxpool2d_backward(np.zeros((1, 2, 3, 3)), X, 2),
            ValueError,
            "dout must have shape (1, 2, 2, 2) (the output shape of maxpool2d(x, ...)), got (1, 2, 3, 3)",
        ),
        (
            lambda: avgpool2d_backward(np.zeros((1, 2, 2)), X, 2),
            ValueError,
            "dout must be 4-D (N, C, H_out, W_out), got shape (1, 2, 2)",
        ),
        (lambda: global_avgpool(X[0]), ValueError, "x must be 4-D (N, C, H, W), got shape (2, 4, 4)"),
        (
            lambda: global_avgpool_backward(np.zeros((1, 3)), X),
            ValueError,
            "dout must have shape (1, 2) (the output shape of global_avgpool(x)), got (1, 3)",
        ),
    ],
)
def test_invalid_arguments_messages(call: Callable[[], object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        call()
