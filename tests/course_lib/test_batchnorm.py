"""course_lib.batchnorm against torch (F.batch_norm, nn.BatchNorm2d, autograd; float64), finite
differences, and hand-worked examples."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.strategies import CHANNELS, BatchNormCase, batchnorm_cases, float_arrays
from course_lib.batchnorm import batchnorm2d, batchnorm2d_backward
from course_lib.gradcheck import numerical_gradient, relative_error

pytestmark = pytest.mark.usefixtures("torch_single_thread")

RTOL, ATOL = 1e-10, 1e-10  # 1/sqrt(var + eps) reaches 316 for a constant channel: atol scaled with it


def t(a: np.ndarray, grad: bool = False) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def close(ours: np.ndarray, theirs: torch.Tensor | np.ndarray) -> None:
    expected = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    np.testing.assert_allclose(ours, expected, rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------------------------- forward vs torch


@pytest.mark.parametrize("training", [True, False])
@given(case=batchnorm_cases())
def test_forward_and_running_statistics_match_torch(training: bool, case: BatchNormCase) -> None:
    rm, rv = t(case.running_mean), t(case.running_var)  # torch updates these in place
    expected = F.batch_norm(t(case.x), rm, rv, t(case.gamma), t(case.beta), training, case.momentum, case.eps)
    before = [a.copy() for a in (case.x, case.gamma, case.beta, case.running_mean, case.running_var)]
    out, new_mean, new_var = batchnorm2d(
        case.x, case.gamma, case.beta, case.running_mean, case.running_var, training, case.momentum, case.eps
    )
    close(out, expected)
    close(new_mean, rm)
    close(new_var, rv)
    after = (case.x, case.gamma, case.beta, case.running_mean, case.running_var)
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True)), "inputs were modified"


@settings(max_examples=15)
@given(st.data())
def test_running_statistics_over_several_steps_match_nn_batchnorm2d(data: st.DataObject) -> None:
    """Five training steps on different batches, then evaluation: nn.BatchNorm2d's buffers and eval
    output against the functional reference fed its own returned statistics."""
    c = data.draw(CHANNELS)
    momentum = data.draw(st.sampled_from([0.1, 0.3, 0.9]))
    module = torch.nn.BatchNorm2d(c, eps=1e-5, momentum=momentum, dtype=torch.float64)
    gamma, beta = data.draw(float_arrays((c,))), data.draw(float_arrays((c,)))
    with torch.no_grad():
        module.weight.copy_(t(gamma))
        module.bias.copy_(t(beta))
    rm, rv = np.zeros(c), np.ones(c)  # torch's initial buffers
    module.train()
    for _ in range(5):
        x = data.draw(float_arrays((data.draw(st.integers(2, 3)), c, 2, 3)))
        out, rm, rv = batchnorm2d(x, gamma, beta, rm, rv, True, momentum)
        close(out, module(t(x)))
    close(rm, module.running_mean)
    close(rv, module.running_var)
    module.eval()
    x = data.draw(float_arrays((2, c, 3, 2)))
    out, rm2, rv2 = batchnorm2d(x, gamma, beta, rm, rv, False, momentum)
    close(out, module(t(x)))
    assert np.array_equal(rm2, rm) and np.array_equal(rv2, rv)  # evaluation leaves them unchanged


# ------------------------------------------------------------------------------ backward vs torch


@pytest.mark.parametrize("training", [True, False])
@given(case=batchnorm_cases())
def test_backward_matches_autograd(training: bool, case: BatchNormCase) -> None:
    x, gamma, beta = t(case.x, True), t(case.gamma, True), t(case.beta, True)
    out = F.batch_norm(
        x, t(case.running_mean), t(case.running_var), gamma, beta, training, case.momentum, case.eps
    )
    out.backward(t(case.dout))
    dx, dgamma, dbeta = batchnorm2d_backward(
        case.dout, case.x, case.gamma, case.running_mean, case.running_var, training, case.eps
    )
    assert x.grad is not None and gamma.grad is not None and beta.grad is not None
    close(dx, x.grad)
    close(dgamma, gamma.grad)
    close(dbeta, beta.grad)


@settings(max_examples=15)
@pytest.mark.parametrize("training", [True, False])
@given(case=batchnorm_cases(height=st.integers(1, 3), width=st.integers(1, 3), grid=True))
def test_backward_matches_finite_differences(training: bool, case: BatchNormCase) -> None:
    """L = sum(out * dout); numerical gradients of x, gamma and beta (relative error < 1e-7)."""
    x, gamma, beta = case.x.copy(), case.gamma.copy(), case.beta.copy()

    def loss() -> float:
        out = batchnorm2d(x, gamma, beta, case.running_mean, case.running_var, training, eps=case.eps)[0]
        return float(np.sum(out * case.dout))

    dx, dgamma, dbeta = batchnorm2d_backward(
        case.dout, x, gamma, case.running_mean, case.running_var, training, case.eps
    )
    for analytic, variable in ((dx, x), (dgamma, gamma), (dbeta, beta)):
        numerical = numerical_gradient(lambda _v: loss(), variable)
        assert relative_error(analytic, numerical) < 1e-7 or np.allclose(analytic, numerical, atol=1e-8)


# ------------------------------------------------------------------------------ hand-worked cases


def test_training_mode_by_hand() -> None:
    """One channel holding 1 and 3: mean 2, biased variance 1; with eps = 3, sqrt(1 + 3) = 2, so
    x_hat = -0.5, +0.5 and gamma = 2, beta = 1 give 0 and 2. Running statistics (momentum 0.1, from 0
    and 1): mean 0.9*0 + 0.1*2 = 0.2; variance 0.9*1 + 0.1*2 = 1.1 with the UNBIASED variance
    ((1-2)^2 + (3-2)^2) / (2-1) = 2 (the biased 1 would give 1.0)."""
    x = np.array([1.0, 3.0]).reshape(2, 1, 1, 1)
    out, rm, rv = batchnorm2d(x, np.array([2.0]), np.array([1.0]), np.zeros(1), np.ones(1), True, 0.1, 3.0)
    np.testing.assert_allclose(out.ravel(), [0.0, 2.0])
    np.testing.assert_allclose(rm, [0.2])
    np.testing.assert_allclose(rv, [1.1])


def test_evaluation_mode_by_hand() -> None:
    """Running mean 1, variance 1, eps 3: y = 2 (x - 1) / 2 + 1 = x, whatever the batch holds; a
    single image and a single value per channel are fine in evaluation mode."""
    x = np.array([1.0, 3.0, -5.0]).reshape(3, 1, 1, 1)
    out, rm, rv = batchnorm2d(x, np.array([2.0]), np.array([1.0]), np.ones(1), np.ones(1), False, eps=3.0)
    np.testing.assert_allclose(out, x)
    np.testing.assert_allclose(batchnorm2d(x[:1], [2.0], [1.0], [1.0], [1.0], False, eps=3.0)[0], x[:1])
    assert rm.tolist() == [1.0] and rv.tolist() == [1.0]


def test_backward_by_hand() -> None:
    """Same channel (1, 3), gamma 2, eps 3, dout (1, 0): dbeta = 1, dgamma = sum dout * x_hat = -0.5,
    dx = gamma / (M sqrt(var + eps)) (M dout - dbeta - x_hat dgamma) = 0.5 ((2, 0) - 1 - (0.25, -0.25))
    = (0.375, -0.375). The gradient sums to zero: shifting the whole channel does not change y."""
    x = np.array([1.0, 3.0]).reshape(2, 1, 1, 1)
    dout = np.array([1.0, 0.0]).reshape(2, 1, 1, 1)
    dx, dgamma, dbeta = batchnorm2d_backward(dout, x, np.array([2.0]), eps=3.0)
    np.testing.assert_allclose(dx.ravel(), [0.375, -0.375])
    np.testing.assert_allclose(dgamma, [-0.5])
    np.testing.assert_allclose(dbeta, [1.0])
    # evaluation mode with running mean 1, variance 1: dx = dout * 2 / 2, dgamma = sum dout (x - 1) / 2
    dx, dgamma, _ = batchnorm2d_backward(dout, x, [2.0], [1.0], [1.0], training=False, eps=3.0)
    np.testing.assert_allclose(dx.ravel(), [1.0, 0.0])
    np.testing.assert_allclose(dgamma, [0.0])


def test_each_channel_is_normalised_separately() -> None:
    """After training-mode normalisation with gamma 1, beta 0, every channel has mean 0 and variance
    var / (var + eps), even when the channels' scales differ by 1000x."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 5, 5)) * np.array([1.0, 10.0, 1000.0])[None, :, None, None] + 7.0
    out = batchnorm2d(x, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3), True)[0]
    var = x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), var / (var + 1e-5), rtol=1e-12)


# ----------------------------------------------------------------------------------- bad arguments


GOOD = {
    "x": np.zeros((2, 3, 2, 2)),
    "gamma": np.ones(3),
    "beta": np.zeros(3),
    "running_mean": np.zeros(3),
    "running_var": np.ones(3),
    "training": True,
}


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"x": np.zeros((2, 3, 2))}, ValueError, "x must be 4-D (N, C, H, W), got shape (2, 3, 2)"),
        ({"gamma": np.ones(2)}, ValueError, "gamma must have shape (3,) (one value per channel"),
        ({"running_var": -np.ones(3)}, ValueError, "running_var must be >= 0"),
        ({"training": 1}, TypeError, "training must be a bool, got int 1"),
        ({"momentum": 1.5}, ValueError, "momentum=1.5 must be <= 1.0"),
        ({"eps": 0.0}, ValueError, "eps=0.0 must be > 0.0"),
        ({"eps": "1e-5"}, TypeError, "eps must be a number"),
        ({"x": np.zeros((1, 3, 1, 1))}, ValueError, "training mode needs more than 1 value per channel"),
    ],
)
def test_forward_rejects_bad_arguments(change: dict, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        batchnorm2d(**{**GOOD, **change})


def test_torch_also_refuses_one_value_per_channel_in_training() -> None:
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(torch.zeros(1, 3, 1, 1), torch.zeros(3), torch.ones(3), training=True)


def test_backward_rejects_bad_arguments() -> None:
    x = np.zeros((2, 3, 2, 2))
    with pytest.raises(ValueError, match=re.escape("dout must have shape (2, 3, 2, 2)")):
        batchnorm2d_backward(np.zeros((2, 3, 2, 1)), x, np.ones(3))
    with pytest.raises(ValueError, match="training=False needs running_mean and running_var"):
        batchnorm2d_backward(x, x, np.ones(3), training=False)


@given(batchnorm_cases(batch=1, height=1, width=st.integers(1, 2), varied=True, seeded=True))
def test_the_grading_draws_hold_no_constant_channel(case: BatchNormCase) -> None:
    """A constant channel normalises to beta whatever the statistics: the grader's draws (``varied``,
    on the coarse grid of ``seeded``, smallest shapes) never hold one, nor a running variance below 0.25
    or a zero running mean (a result of zeros must never be right by accident)."""
    spread = case.x.max(axis=(0, 2, 3)) - case.x.min(axis=(0, 2, 3))
    assert (spread > 0).all()
    assert (case.running_var >= 0.25).all() and (case.running_mean != 0).all()
