r"""Max and average pooling, forward and backward, vectorized (numpy, float64, NCHW).

Pooling slides a ``K x K`` window with stride ``S`` (default ``S = K``, no padding, no ceil mode) over
every channel separately: ``H_out = floor((H - K) / S) + 1``. Everything loops over the
``K^2`` window offsets of :func:`course_lib.conv.offset_slices` (never over pixels): each step reads or
adds one strided slice, so overlapping windows (``S < K``) accumulate in the backward passes. When the
windows tile the input (``S = K``, the usual 2x2 case) every pixel belongs to exactly one window, so the
max-pool backward writes each offset's slice once and needs the first-maximum bookkeeping only when a
tile holds its max twice. Max pooling runs chunk by chunk on every core (:mod:`course_lib.batching`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from course_lib.batching import for_batch_chunks
from course_lib.conv import WindowGeometry, offset_slices, window_geometry
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


def _window_max(x: Array, g: WindowGeometry, out: Array | None = None) -> Array:
    """The maximum of every window: ``(N, C, H_out, W_out)`` (written into ``out`` when given)."""
    if out is None:
        out = np.empty((*x.shape[:2], g.out_h, g.out_w))  # (N, C, H_out, W_out)
    out[...] = -np.inf
    for _, _, (rows, cols) in offset_slices(g):
        np.maximum(out, x[:, :, rows, cols], out=out)
    return out


def maxpool2d(x: Array, kernel_size: int = 2, stride: int | None = None) -> Array:
    r"""Max pooling: :math:`y_{n,c,i,j} = \max_{u,v < K} x_{n,c,iS+u,jS+v}` -> ``(N, C, H_out, W_out)``."""
    x, g = _check_pool_args(x, kernel_size, stride)
    out = np.empty((*x.shape[:2], g.out_h, g.out_w))  # (N, C, H_out, W_out)
    for_batch_chunks(x.shape[0], lambda a, z: _window_max(x[a:z], g, out[a:z]), 2 * x.size)
    return out


def maxpool2d_backward(dout: Array, x: Array, kernel_size: int = 2, stride: int | None = None) -> Array:
    r"""Gradient of :func:`maxpool2d` with respect to ``x``.

    .. math:: \frac{\partial L}{\partial x_{n,c,h,w}} = \sum_{(i,j):\ (h,w) = \mathrm{argmax}_{ij}}
              \frac{\partial L}{\partial y_{n,c,i,j}}

    Each window passes its upstream gradient to its maximum only -- the FIRST maximum in row-major
    window order when there are ties (as torch does) -- and windows that overlap add up. The offsets
    are visited in row-major order and a window is "claimed" by the first offset that holds its max.
    """
    x, g = _check_pool_args(x, kernel_size, stride)
    dout = _check_dout(dout, x, g, "maxpool2d")
    if g.stride == g.kh:  # windows tile the input: one strided slice per offset, chunk by chunk on every core
        dx = np.empty(x.shape)  # (N, C, H, W)
        routed = for_batch_chunks(
            x.shape[0],
            lambda a, z: _route_tiled(dout[a:z], x[a:z], _window_max(x[a:z], g), g.kh, dx[a:z]),
            4 * x.size,  # max, compare, count, multiply: about 4 passes over x
        )
        if all(all(share) for share in routed):
            return dx
    best = _window_max(x, g)  # (N, C, H_out, W_out)
    unclaimed = np.ones(best.shape, dtype=bool)  # windows whose maximum has not been met yet
    hit = np.empty(best.shape, dtype=bool)
    dx = np.zeros_like(x)  # (N, C, H, W)
    for _, _, (rows, cols) in offset_slices(g):
        np.equal(x[:, :, rows, cols], best, out=hit)
        hit &= unclaimed
        unclaimed &= ~hit
        dx[:, :, rows, cols] += dout * hit
    return dx


def _route_tiled(dout: Array, x: Array, best: Array, k: int, dx: Array) -> bool:
    """maxpool2d_backward when the stride equals the kernel (windows tile the input, no overlap), for
    one chunk of the batch: every offset (u, v) of the K x K tiles is one strided slice of ``x`` and of
    ``dx``, and gets the upstream gradient where it equals its tile's max. Returns False when some tile
    holds its max twice (the caller then applies the first-maximum rule)."""
    h_out, w_out = best.shape[2:]
    if (h_out * k, w_out * k) != x.shape[2:]:
        dx[...] = 0.0  # rows/columns past the last tile get no gradient
    hits = 0
    is_max = np.empty(best.shape, dtype=bool)  # (N, C, Ho, Wo)
    for u in range(k):
        for v in range(k):
            rows, cols = slice(u, u + h_out * k, k), slice(v, v + w_out * k, k)
            np.equal(x[:, :, rows, cols], best, out=is_max)
            hits += int(np.count_nonzero(is_max))
            np.multiply(dout, is_max, out=dx[:, :, rows, cols])
    return hits == best.size


def avgpool2d(x: Array, kernel_size: int = 2, stride: int | None = None) -> Array:
    r"""Average pooling: :math:`y_{n,c,i,j} = \frac{1}{K^2} \sum_{u,v<K} x_{n,c,iS+u,jS+v}`."""
    x, g = _check_pool_args(x, kernel_size, stride)
    out = np.zeros((*x.shape[:2], g.out_h, g.out_w))  # (N, C, H_out, W_out)
    for _, _, (rows, cols) in offset_slices(g):
        out += x[:, :, rows, cols]
    return out / (g.kh * g.kw)


def avgpool2d_backward(dout: Array, x: Array, kernel_size: int = 2, stride: int | None = None) -> Array:
    r"""Gradient of :func:`avgpool2d`: every pixel of a window receives ``dout / K^2`` of it,

    .. math:: \frac{\partial L}{\partial x_{n,c,h,w}}
              = \sum_{(i,j):\ (h,w) \in \mathrm{window}_{ij}}
                \frac{1}{K^2} \frac{\partial L}{\partial y_{n,c,i,j}}
    """
    x, g = _check_pool_args(x, kernel_size, stride)
    share = _check_dout(dout, x, g, "avgpool2d") / (g.kh * g.kw)  # (N, C, H_out, W_out)
    dx = np.zeros_like(x)  # (N, C, H, W)
    for _, _, (rows, cols) in offset_slices(g):
        dx[:, :, rows, cols] += share
    return dx


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
