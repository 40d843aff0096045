r"""Max and average pooling, forward and backward, vectorized (numpy, float64, NCHW).

Pooling slides a ``K x K`` window with stride ``S`` (default ``S = K``, no padding, no ceil mode) over
every channel separately: ``H_out = floor((H - K) / S) + 1``. The windows come from
:func:`course_lib.conv.windows` and the backward passes scatter window gradients back with
:func:`course_lib.conv.col2im`, so overlapping windows (``S < K``) accumulate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from course_lib.conv import WindowGeometry, col2im, window_geometry, windows
from course_lib.validation import Array, as_array, check_int, check_same_shape


def _check_pool_args(x: Any, kernel_size: object, stride: object) -> tuple[Array, WindowGeometry]:
    """Validate a pooling call: 4-D ``x``, int kernel and stride (``None`` = kernel size), window fits."""
    x = as_array("x", x, 4, "(N, C, H, W)")
    k = check_int("kernel_size", kernel_size, minimum=1)
    return x, window_geometry(x.shape[2], x.shape[3], k, k, k if stride is None else stride, 0, 1)


def _check_dout(dout: Any, x: Array, g: WindowGeometry, fn: str) -> Array:
    dout = as_array("dout", dout, 4, "(N, C, H_out, W_out)")
    check_same_shape("dout", dout, (*x.shape[:2], g.out_h, g.out_w), f"the output shape of {fn}(x, ...)")
    return dout


def maxpool2d(x: Array, kernel_size: int = 2, stride: int | None = None) -> Array:
    r"""Max pooling: :math:`y_{n,c,i,j} = \max_{u,v < K} x_{n,c,iS+u,jS+v}` -> ``(N, C, H_out, W_out)``."""
    x, g = _check_pool_args(x, kernel_size, stride)
    return windows(x, g).max(axis=(4, 5))  # (N, C, H_out, W_out)


def maxpool2d_backward(dout: Array, x: Array, kernel_size: int = 2, stride: int | None = None) -> Array:
    r"""Gradient of :func:`maxpool2d` with respect to ``x``.

    .. math:: \frac{\partial L}{\partial x_{n,c,h,w}} = \sum_{(i,j):\ (h,w) = \mathrm{argmax}_{ij}}
              \frac{\partial L}{\partial y_{n,c,i,j}}

    Each window passes its upstream gradient to its maximum only -- the FIRST maximum in row-major
    window order when there are ties (as torch does) -- and windows that overlap add up.
    """
    x, g = _check_pool_args(x, kernel_size, stride)
    dout = _check_dout(dout, x, g, "maxpool2d")
    k = g.kh
    win = windows(x, g).reshape(*dout.shape, k * k)  # copy: (N, C, H_out, W_out, K*K)
    first_max = win.argmax(axis=-1)  # (N, C, H_out, W_out), argmax returns the first maximum
    routed = (np.arange(k * k) == first_max[..., None]) * dout[..., None]  # (N, C, H_out, W_out, K*K)
    return col2im(routed.reshape(*dout.shape, k, k), x.shape, g)  # (N, C, H, W)


def avgpool2d(x: Array, kernel_size: int = 2, stride: int | None = None) -> Array:
    r"""Average pooling: :math:`y_{n,c,i,j} = \frac{1}{K^2} \sum_{u,v<K} x_{n,c,iS+u,jS+v}`."""
    x, g = _check_pool_args(x, kernel_size, stride)
    return windows(x, g).mean(axis=(4, 5))  # (N, C, H_out, W_out)


def avgpool2d_backward(dout: Array, x: Array, kernel_size: int = 2, stride: int | None = None) -> Array:
    r"""Gradient of :func:`avgpool2d`: every pixel of a window receives ``dout / K^2`` of it,

    .. math:: \frac{\partial L}{\partial x_{n,c,h,w}}
              = \sum_{(i,j):\ (h,w) \in \mathrm{window}_{ij}}
                \frac{1}{K^2} \frac{\partial L}{\partial y_{n,c,i,j}}
    """
    x, g = _check_pool_args(x, kernel_size, stride)
    dout = _check_dout(dout, x, g, "avgpool2d")
    k = g.kh
    shared = np.broadcast_to((dout / (k * k))[..., None, None], (*dout.shape, k, k))  # (N, C, Ho, Wo, K, K)
    return col2im(shared, x.shape, g)  # (N, C, H, W)


def global_avgpool(x: Array) -> Array:
    r"""Global average pooling, the mean of every channel -> ``(N, C)``:
    :math:`y_{n,c} = \frac{1}{HW}\sum_{h,w} x_{n,c,h,w}`."""
    x = as_array("x", x, 4, "(N, C, H, W)")
    return x.mean(axis=(2, 3))  # (N, C)


def global_avgpool_backward(dout: Array, x: Array) -> Array:
    r"""Gradient of :func:`global_avgpool`:
    :math:`\partial L/\partial x_{n,c,h,w} = \partial L/\partial y_{n,c} / (HW)`."""
    x = as_array("x", x, 4, "(N, C, H, W)")
    dout = as_array("dout", dout, 2, "(N, C)")
    check_same_shape("dout", dout, x.shape[:2], "the output shape of global_avgpool(x)")
    h, w = x.shape[2:]
    return np.broadcast_to((dout / (h * w))[:, :, None, None], x.shape).copy()  # (N, C, H, W)
