r"""Batch normalisation over the channels of NCHW activations (numpy, float64), forward and backward.

Ioffe & Szegedy (2015), "Batch Normalization: Accelerating Deep Network Training by Reducing Internal
Covariate Shift", Algorithm 1, with the conventions of ``torch.nn.BatchNorm2d`` /
``torch.nn.functional.batch_norm``. For channel ``c`` the statistics run over the ``M = N H W`` values
of that channel in the batch:

.. math::
    \mu_c = \frac{1}{M}\sum_{n,i,j} x_{n,c,i,j}, \qquad
    \sigma_c^2 = \frac{1}{M}\sum_{n,i,j} (x_{n,c,i,j} - \mu_c)^2 \quad \text{(biased)},

    \hat x_{n,c,i,j} = \frac{x_{n,c,i,j} - \mu_c}{\sqrt{\sigma_c^2 + \varepsilon}}, \qquad
    y_{n,c,i,j} = \gamma_c \hat x_{n,c,i,j} + \beta_c .

**Training mode** normalises with the batch's own :math:`\mu_c, \sigma_c^2` and updates the running
statistics with momentum :math:`m` (torch's definition: the weight of the NEW value, default 0.1), the
running variance taking the UNBIASED batch variance:

.. math::
    \hat\mu_c \leftarrow (1 - m)\,\hat\mu_c + m\,\mu_c, \qquad
    \hat\sigma^2_c \leftarrow (1 - m)\,\hat\sigma^2_c + m\,\frac{M}{M - 1}\,\sigma_c^2 .

**Evaluation mode** normalises with the running statistics :math:`\hat\mu_c, \hat\sigma^2_c` instead
(a fixed affine map per channel: the output of one image no longer depends on the rest of the batch),
and leaves them unchanged.

The functions are pure: they never modify their inputs and return new running statistics.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from course_lib.validation import Array, as_array, check_bool, check_float, check_same_shape


def _check_channel_vector(name: str, value: Any, c: int) -> Array:
    v = as_array(name, value, 1, "(C,)")
    check_same_shape(name, v, (c,), "one value per channel, C = x.shape[1]")
    return v


def _check_running_var(running_var: Any, c: int) -> Array:
    v = _check_channel_vector("running_var", running_var, c)
    if (v < 0).any():
        raise ValueError("running_var must be >= 0 in every channel (it is a variance)")
    return v


def _check_training_batch(x: Array) -> int:
    """``M = N H W``, the values per channel; training needs at least 2 (torch raises the same)."""
    n, _, h, w = x.shape
    m = n * h * w
    if m < 2:
        raise ValueError(
            f"training mode needs more than 1 value per channel (N*H*W = {n}*{h}*{w} = {m}): "
            "the batch variance of a single value is undefined"
        )
    return m


def batchnorm2d(
    x: Array,
    gamma: Array,
    beta: Array,
    running_mean: Array,
    running_var: Array,
    training: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> tuple[Array, Array, Array]:
    r"""Batch normalisation of ``x`` (N, C, H, W) per channel -> ``(out, new_running_mean, new_running_var)``.

    ``gamma``/``beta`` (C,) are the learnable scale and shift; ``running_mean``/``running_var`` (C,)
    the running statistics. ``training=True``: normalise with the batch mean and biased variance over
    (N, H, W) and return the running statistics updated with ``momentum`` (the unbiased batch variance
    goes into ``running_var``, as torch does); ``training=False``: normalise with the running statistics
    and return copies of them unchanged. ``out`` has the shape of ``x``. Formulas: module docstring.

    Same values as ``torch.nn.functional.batch_norm(x, running_mean, running_var, gamma, beta,
    training, momentum, eps)``, which updates the running statistics in place instead of returning them.

    Raises ``ValueError`` for a wrong shape, a negative ``running_var``, ``eps <= 0``, ``momentum``
    outside [0, 1], or training on a single value per channel (``N*H*W = 1``); ``TypeError`` for a
    non-bool ``training``.
    """
    x = as_array("x", x, 4, "(N, C, H, W)")
    c = x.shape[1]
    gamma, beta = _check_channel_vector("gamma", gamma, c), _check_channel_vector("beta", beta, c)
    running_mean = _check_channel_vector("running_mean", running_mean, c)
    running_var = _check_running_var(running_var, c)
    training = check_bool("training", training)
    momentum = check_float("momentum", momentum, minimum=0.0, maximum=1.0)
    eps = check_float("eps", eps, minimum=0.0, exclusive_minimum=True)
    if training:
        m = _check_training_batch(x)
        mean = x.mean(axis=(0, 2, 3))  # (C,)
        var = ((x - mean[None, :, None, None]) ** 2).mean(axis=(0, 2, 3))  # (C,) biased, divides by M
        new_mean = (1.0 - momentum) * running_mean + momentum * mean  # (C,)
        new_var = (1.0 - momentum) * running_var + momentum * var * (m / (m - 1))  # (C,) unbiased
    else:
        mean, var = running_mean, running_var
        new_mean, new_var = running_mean.copy(), running_var.copy()
    scale = gamma / np.sqrt(var + eps)  # (C,) gamma_c / sqrt(sigma_c^2 + eps)
    out = (x - mean[None, :, None, None]) * scale[None, :, None, None] + beta[None, :, None, None]
    return out, new_mean, new_var  # (N, C, H, W), (C,), (C,)


def batchnorm2d_backward(
    dout: Array,
    x: Array,
    gamma: Array,
    running_mean: Array | None = None,
    running_var: Array | None = None,
    training: bool = True,
    eps: float = 1e-5,
) -> tuple[Array, Array, Array]:
    r"""Gradients of :func:`batchnorm2d` -> ``(dx, dgamma, dbeta)``, shapes (N, C, H, W), (C,), (C,).

    Both modes share :math:`\partial L/\partial\beta_c = \sum_{n,i,j} \delta_{n,c,i,j}` and
    :math:`\partial L/\partial\gamma_c = \sum_{n,i,j} \delta_{n,c,i,j}\,\hat x_{n,c,i,j}`
    (``delta = dout``).

    Training mode (``running_mean``/``running_var`` are not used): the mean and variance depend on
    every value of the channel, which gives the compact form of Ioffe & Szegedy's chain rule

    .. math:: \frac{\partial L}{\partial x_{n,c,i,j}} = \frac{\gamma_c}{M\sqrt{\sigma_c^2 + \varepsilon}}
              \Big(M\,\delta_{n,c,i,j} - \frac{\partial L}{\partial\beta_c}
              - \hat x_{n,c,i,j}\,\frac{\partial L}{\partial\gamma_c}\Big), \qquad M = NHW .

    Evaluation mode (``training=False``, both running statistics required): the normalisation is a
    fixed affine map, :math:`\partial L/\partial x = \delta\,\gamma_c / \sqrt{\hat\sigma^2_c + \varepsilon}`,
    with :math:`\hat x` computed from the running statistics.

    Same values as torch autograd through ``torch.nn.functional.batch_norm``. Raises ``ValueError``
    for mismatched shapes, ``eps <= 0``, missing running statistics in evaluation mode, or training on
    a single value per channel.
    """
    x = as_array("x", x, 4, "(N, C, H, W)")
    c = x.shape[1]
    gamma = _check_channel_vector("gamma", gamma, c)
    dout = as_array("dout", dout, 4, "(N, C, H, W)")
    check_same_shape("dout", dout, x.shape, "the output shape of batchnorm2d, which is x.shape")
    training = check_bool("training", training)
    eps = check_float("eps", eps, minimum=0.0, exclusive_minimum=True)
    dbeta = dout.sum(axis=(0, 2, 3))  # (C,)
    if training:
        m = _check_training_batch(x)
        mean = x.mean(axis=(0, 2, 3))  # (C,)
        centred = x - mean[None, :, None, None]  # (N, C, H, W)
        inv_std = 1.0 / np.sqrt((centred**2).mean(axis=(0, 2, 3)) + eps)  # (C,)
        x_hat = centred * inv_std[None, :, None, None]  # (N, C, H, W)
        dgamma = (dout * x_hat).sum(axis=(0, 2, 3))  # (C,)
        k = (gamma * inv_std / m)[None, :, None, None]  # (1, C, 1, 1)
        dx = k * (m * dout - dbeta[None, :, None, None] - x_hat * dgamma[None, :, None, None])
        return dx, dgamma, dbeta
    if running_mean is None or running_var is None:
        raise ValueError(
            "training=False needs running_mean and running_var (the statistics it normalised with)"
        )
    running_mean = _check_channel_vector("running_mean", running_mean, c)
    inv_std = 1.0 / np.sqrt(_check_running_var(running_var, c) + eps)  # (C,)
    x_hat = (x - running_mean[None, :, None, None]) * inv_std[None, :, None, None]  # (N, C, H, W)
    dgamma = (dout * x_hat).sum(axis=(0, 2, 3))  # (C,)
    dx = dout * (gamma * inv_std)[None, :, None, None]  # (N, C, H, W)
    return dx, dgamma, dbeta
