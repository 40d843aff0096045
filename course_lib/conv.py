r"""2-D convolution (cross-correlation, as ``torch.nn.functional.conv2d``) in numpy, float64, NCHW.

Three versions of the same operation, from the lecture to the fast reference:

- :func:`conv2d_single` -- one image, one kernel, two loops over pixels: the by-hand version;
- :func:`conv2d_naive` -- batches and channels, loops over every output pixel: the teaching version;
- :func:`conv2d` -- vectorized: *im2col* turns every receptive field into a column of a matrix so the
  whole convolution is ONE matrix product (BLAS), with stride, zero padding and dilation.

.. math:: y_{n,o,i,j} = b_o + \sum_{c,u,v} w_{o,c,u,v}\, x^{pad}_{n,\,c,\,iS + uD,\,jS + vD}

The window pieces (:func:`window_geometry`, :func:`windows`, :func:`offset_slices`, :func:`im2col`,
:func:`col2im`) are public so that :mod:`course_lib.layers` (convolution backward) and
:mod:`course_lib.pooling` reuse them. :func:`convolve2d_true` shows what the flip of a true convolution
changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from course_lib.arithmetic import output_size
from course_lib.batching import for_batch_chunks
from course_lib.validation import (
    Array,
    as_array,
    check_inputs_match_weights,
    check_int,
    check_kernel_fits,
    check_padding,
    check_same_shape,
    padding_per_side,
)

PadSpec = tuple[tuple[int, int], tuple[int, int]]
"""Zeros added ((top, bottom), (left, right))."""


@dataclass(frozen=True)
class WindowGeometry:
    """Where the sliding windows of a convolution or pooling fall, validated once.

    ``pad`` is per side ((top, bottom), (left, right)); ``out_h``/``out_w`` follow
    :func:`course_lib.arithmetic.output_size`.
    """

    kh: int
    kw: int
    stride: int
    dilation: int
    pad: PadSpec
    out_h: int
    out_w: int


def window_geometry(
    h: int, w: int, kh: int, kw: int, stride: object = 1, padding: object = 0, dilation: object = 1
) -> WindowGeometry:
    """Validate stride, padding (int, ``"valid"`` or ``"same"``) and dilation for a (KH, KW) window
    sliding over an (H, W) input, and return where the windows fall."""
    s = check_int("stride", stride, minimum=1)
    d = check_int("dilation", dilation, minimum=1)
    mode = check_padding(padding, s)
    pad_h, pad_w = padding_per_side(mode, kh, d), padding_per_side(mode, kw, d)
    check_kernel_fits(h, kh, pad_h, d, axis="height" if kh != kw or h != w else "")
    check_kernel_fits(w, kw, pad_w, d, axis="width" if kh != kw or h != w else "")
    out_h, out_w = output_size(h, kh, mode, s, d), output_size(w, kw, mode, s, d)
    return WindowGeometry(kh, kw, s, d, (pad_h, pad_w), out_h, out_w)


def pad2d(x: Array, padding: int | PadSpec) -> Array:
    """Zero-pad the last two axes of ``x`` (any ``ndim >= 2``): ``padding`` zeros on every side, or
    ``((top, bottom), (left, right))``. ``(H, W)`` becomes ``(H + 2P, W + 2P)``."""
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"x must have at least 2 dimensions (..., H, W), got shape {x.shape}")
    if isinstance(padding, tuple):
        (top, bottom), (left, right) = [
            [check_int("padding", p, minimum=0, why="zeros added per side") for p in pair] for pair in padding
        ]
    else:
        top = bottom = left = right = check_int("padding", padding, minimum=0, why="zeros added per side")
    if top == bottom == left == right == 0:
        return x
    out = np.zeros((*x.shape[:-2], x.shape[-2] + top + bottom, x.shape[-1] + left + right), dtype=x.dtype)
    out[..., top : top + x.shape[-2], left : left + x.shape[-1]] = x
    return out


def windows(x_padded: Array, geom: WindowGeometry) -> Array:
    """A strided view (no copy) of every window: ``(N, C, H_out, W_out, KH, KW)``.

    ``windows(...)[n, c, i, j, u, v] == x_padded[n, c, i*S + u*D, j*S + v*D]``.
    """
    s, d = geom.stride, geom.dilation
    span_h, span_w = d * (geom.kh - 1) + 1, d * (geom.kw - 1) + 1
    view = sliding_window_view(x_padded, (span_h, span_w), axis=(2, 3))  # (N, C, Hp-sh+1, Wp-sw+1, sh, sw)
    return view[:, :, ::s, ::s, ::d, ::d]  # (N, C, H_out, W_out, KH, KW)


def offset_slices(geom: WindowGeometry) -> list[tuple[int, int, tuple[slice, slice]]]:
    """For every kernel offset ``(u, v)``, the (rows, columns) slices of the padded input that this
    offset touches, one entry per window: ``x_padded[..., rows, cols]`` is ``(..., H_out, W_out)``
    and equals ``windows(x_padded, geom)[..., u, v]``. Looping over these KH*KW offsets (never over
    pixels) is how col2im and pooling gather and scatter."""
    s, d = geom.stride, geom.dilation
    extent_h, extent_w = (
        s * (geom.out_h - 1) + 1,
        s * (geom.out_w - 1) + 1,
    )  # rows/cols the window starts span
    return [
        (u, v, (slice(u * d, u * d + extent_h, s), slice(v * d, v * d + extent_w, s)))
        for u in range(geom.kh)
        for v in range(geom.kw)
    ]


def im2col(x_padded: Array, geom: WindowGeometry) -> Array:
    """Every receptive field as a COLUMN: ``(C * KH * KW, N * H_out * W_out)``, rows in (c, u, v)
    order, columns in (n, i, j) order, so ``w.reshape(C_out, -1) @ im2col(x)`` is the convolution.

    This layout copies whole output rows at a time (fast), and the matrix product reads it
    contiguously."""
    n, c = x_padded.shape[:2]
    cols = windows(x_padded, geom).transpose(1, 4, 5, 0, 2, 3)  # (C, KH, KW, N, H_out, W_out)
    return cols.reshape(c * geom.kh * geom.kw, n * geom.out_h * geom.out_w)  # copy: (C*KH*KW, N*Ho*Wo)


def col2im(cols: Array, padded_shape: tuple[int, int, int, int], geom: WindowGeometry) -> Array:
    r"""The adjoint of :func:`im2col`: scatter-add columns back onto the padded input.

    ``cols`` is ``(C * KH * KW, N * H_out * W_out)``; the result ``(N, C, Hp, Wp)`` holds, at every
    input pixel, the sum of the entries of all the windows that cover it (overlapping windows
    accumulate): :math:`\langle \mathrm{im2col}(x), c \rangle = \langle x, \mathrm{col2im}(c) \rangle`.
    The loop runs over the KH*KW kernel offsets only; each step adds a whole strided slice.
    """
    n, c, hp, wp = padded_shape
    per_offset = cols.reshape(c, geom.kh, geom.kw, n, geom.out_h, geom.out_w)  # (C, KH, KW, N, Ho, Wo)
    out = np.zeros((c, n, hp, wp), dtype=np.result_type(cols.dtype, np.float64))  # (C, N, Hp, Wp)
    for u, v, (rows, columns) in offset_slices(geom):
        out[:, :, rows, columns] += per_offset[:, u, v]
    return out.transpose(1, 0, 2, 3)  # view: (N, C, Hp, Wp)


def width_columns(x: Array, kw: int, out_w: int, dilation: int = 1, pad: PadSpec = ((0, 0), (0, 0))) -> Array:
    """The row-shift layout of a stride-1 convolution: ``(C * KW, Hp * N * W_out)`` with

    ``width_columns(x)[(c, v), (r, n, j)] == pad2d(x, pad)[n, c, r, j + v*D]``

    Only the KW horizontal offsets are copied (im2col copies all KH*KW of them). Rows come first and
    the batch sits inside a row, so moving down ``u*D`` input rows is moving ``u*D*N*W_out`` columns: the
    vertical offsets of the kernel are *views* of this one matrix (see :func:`row_shift_matmul`).
    ``pad`` zeros are added on the way (no padded copy of ``x``); negative amounts crop.
    """
    (top, bottom), (left, right) = pad
    x = x[..., max(0, -top) : x.shape[-2] - max(0, -bottom), max(0, -left) : x.shape[-1] - max(0, -right)]
    top, bottom, left = max(0, top), max(0, bottom), max(0, left)
    n, c, h, w = x.shape
    hp = h + top + bottom
    cols = np.zeros((c, kw, hp, n, out_w), dtype=np.result_type(x.dtype, np.float64))  # (C, KW, Hp, N, Wo)
    for v in range(kw):
        # output column j reads padded column j + v*D, i.e. column j + v*D - left of x
        first = max(0, left - v * dilation)
        last = min(out_w, w + left - v * dilation)
        if last > first:
            src = x[
                :, :, :, first + v * dilation - left : last + v * dilation - left
            ]  # (N, C, H, last-first)
            cols[:, v, top : top + h, :, first:last] = src.transpose(1, 2, 0, 3)  # (C, H, N, last-first)
    return cols.reshape(c * kw, hp * n * out_w)  # view: (C*KW, Hp*N*W_out)


def row_shift_matmul(w_rows: Array, cols: Array, out_rows: int, row_len: int, dilation: int = 1) -> Array:
    r"""The convolution as KH matrix products on shifted views: ``(C_out, out_rows * row_len)``.

    .. math:: Y = \sum_{u=0}^{K_H-1} W_u \, X_{[:,\ uD\cdot L \,:\, uD\cdot L + H_{out} L]}

    ``w_rows[u]`` is kernel row u as a ``(C_out, C_in * KW)`` matrix, ``cols`` the
    :func:`width_columns` matrix and ``L = row_len`` the columns per image row (``N * W_out``).
    Together the KH products are exactly the one im2col product (same FLOPs, same terms).
    """
    m = out_rows * row_len
    out = w_rows[0] @ cols[:, :m]  # (C_out, H_out*N*W_out)
    partial = np.empty_like(out)
    for u in range(1, len(w_rows)):
        start = u * dilation * row_len
        np.matmul(w_rows[u], cols[:, start : start + m], out=partial)
        out += partial
    return out


def conv2d_single(image: Array, kernel: Array) -> Array:
    r"""Cross-correlate one (H, W) image with one (K, K) kernel, by hand: ``(H-K+1, W-K+1)``.

    .. math:: y_{i,j} = \sum_{u,v} k_{u,v}\, x_{i+u,\,j+v}

    Stride 1, no padding, two explicit loops over output pixels -- the computation done on the board.
    """
    image = as_array("image", image, 2, "(H, W)")
    kernel = as_array("kernel", kernel, 2, "(K, K)")
    (h, w), (kh, kw) = image.shape, kernel.shape
    g = window_geometry(h, w, kh, kw)  # stride 1, no padding: checks that the kernel fits
    out = np.zeros((g.out_h, g.out_w))  # (H-K+1, W-K+1)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(image[i : i + kh, j : j + kw] * kernel)
    return out


def convolve2d_true(image: Array, kernel: Array) -> Array:
    r"""TRUE convolution (the signal-processing one) of one (H, W) image with a (K, K) kernel.

    .. math:: (x * k)_{i,j} = \sum_{u,v} k_{u,v}\, x_{i+K-1-u,\,j+K-1-v}
              = \sum_{u,v} \mathrm{flip}(k)_{u,v}\, x_{i+u,\,j+v}

    i.e. cross-correlation (what deep-learning libraries call "convolution") with the kernel flipped in
    both axes. For a learned kernel the flip does not matter -- the network would simply learn the
    flipped weights -- which is why CNNs skip it; for a hand-made edge kernel it flips the sign.
    """
    kernel = as_array("kernel", kernel, 2, "(K, K)")
    return conv2d_single(image, kernel[::-1, ::-1])


def check_conv_args(
    x: Any, w: Any, b: Any, stride: object, padding: object, dilation: object
) -> tuple[Array, Array, Array | None, WindowGeometry]:
    """Validate a conv2d call once: shapes, channel counts, bias and window geometry."""
    x = as_array("x", x, 4, "(N, C_in, H, W)")
    w = as_array("w", w, 4, "(C_out, C_in, KH, KW)")
    check_inputs_match_weights(x, w, "C_in", "channels")
    if b is not None:
        b = as_array("b", b, 1, "(C_out,)")
        check_same_shape("b", b, (w.shape[0],), "one bias per output channel, C_out = w.shape[0]")
    geom = window_geometry(x.shape[2], x.shape[3], w.shape[2], w.shape[3], stride, padding, dilation)
    return x, w, b, geom


def conv2d_naive(
    x: Array, w: Array, b: Array | None = None, stride: int = 1, padding: int | str = 0, dilation: int = 1
) -> Array:
    r"""Batched multi-channel convolution with explicit loops over every output pixel (teaching version).

    ``x`` (N, C_in, H, W), ``w`` (C_out, C_in, KH, KW), ``b`` (C_out,) or None ->
    ``(N, C_out, H_out, W_out)`` with ``H_out = floor((H + 2P - D(KH-1) - 1) / S) + 1``.
    Each output pixel is the dot product of one receptive field (all input channels) with one filter.
    """
    x, w, b, g = check_conv_args(x, w, b, stride, padding, dilation)
    xp = pad2d(x, g.pad)  # (N, C_in, Hp, Wp)
    n, c_out = x.shape[0], w.shape[0]
    out = np.zeros((n, c_out, g.out_h, g.out_w))  # (N, C_out, H_out, W_out)
    span_h, span_w = g.dilation * (g.kh - 1) + 1, g.dilation * (g.kw - 1) + 1
    for i in range(g.out_h):
        for j in range(g.out_w):
            top, left = i * g.stride, j * g.stride
            field = xp[:, :, top : top + span_h : g.dilation, left : left + span_w : g.dilation]
            # field (N, C_in, KH, KW) . w (C_out, C_in, KH, KW) -> (N, C_out)
            out[:, :, i, j] = np.tensordot(field, w, axes=([1, 2, 3], [1, 2, 3]))
    if b is not None:
        out += b[None, :, None, None]
    return out


def conv2d(
    x: Array, w: Array, b: Array | None = None, stride: int = 1, padding: int | str = 0, dilation: int = 1
) -> Array:
    r"""Vectorized 2-D convolution (cross-correlation), the fast reference; same result as
    ``torch.nn.functional.conv2d``.

    ``x`` (N, C_in, H, W), ``w`` (C_out, C_in, KH, KW), ``b`` (C_out,) or None; ``padding`` is an int
    (zeros per side), ``"valid"`` or ``"same"`` (stride 1). Output ``(N, C_out, H_out, W_out)`` with

    .. math:: H_{out} = \left\lfloor \frac{H + 2P - D(K_H-1) - 1}{S} \right\rfloor + 1

    im2col: the ``N H_out W_out`` receptive fields become the columns of a
    ``(C_in K_H K_W, N H_out W_out)`` matrix, the filters the rows of a ``(C_out, C_in K_H K_W)`` matrix,
    and one BLAS matrix product computes every output pixel of every filter at once (strides > 1).

    Stride 1 computes the same sum with less copying: im2col's matrix holds every input value KH*KW
    times, and copying it costs about as much as the product itself on small images. The
    :func:`width_columns` matrix holds each value only KW times, and the KH kernel rows read it through
    shifted views (:func:`row_shift_matmul`): KH products with the same FLOPs. The batch is cut into
    chunks that fit the CPU caches, one per core (:mod:`course_lib.batching`).
    """
    x, w, b, g = check_conv_args(x, w, b, stride, padding, dilation)
    if g.stride == 1:
        out = np.empty((x.shape[0], w.shape[0], g.out_h, g.out_w))  # (N, C_out, H_out, W_out)
        c_out, c_in, kh, kw = w.shape
        w_rows = w.transpose(2, 0, 1, 3).reshape(kh, c_out, c_in * kw)  # once per call: [u] (C_out, C_in*KW)
        flops = 2 * out.size * w[0].size  # one multiply-add per output value and weight of its filter
        for_batch_chunks(x.shape[0], lambda a, z: _conv2d_rows(x[a:z], w_rows, kw, g, out[a:z]), flops)
    else:
        out = _conv2d_im2col(pad2d(x, g.pad), w, g)
    if b is not None:
        out += b[None, :, None, None]
    return out


def _conv2d_im2col(xp: Array, w: Array, g: WindowGeometry) -> Array:
    """Any stride: ONE product of the (C_out, C_in*KH*KW) filters with the im2col matrix."""
    n, c_out = xp.shape[0], w.shape[0]
    out = w.reshape(c_out, -1) @ im2col(xp, g)  # (C_out, N*Ho*Wo)
    out = out.reshape(c_out, n, g.out_h, g.out_w)  # (C_out, N, H_out, W_out)
    return np.ascontiguousarray(out.transpose(1, 0, 2, 3))  # (N, C_out, H_out, W_out)


def _conv2d_rows(x: Array, w_rows: Array, kw: int, g: WindowGeometry, out: Array) -> None:
    """Stride 1: KH products on views of the width columns (:func:`row_shift_matmul`), into ``out``;
    ``w_rows[u]`` is kernel row u as a (C_out, C_in*KW) matrix."""
    n, c_out = x.shape[0], w_rows.shape[1]
    cols = width_columns(x, kw, g.out_w, g.dilation, g.pad)  # (C_in*KW, Hp*N*W_out)
    y = row_shift_matmul(w_rows, cols, g.out_h, n * g.out_w, g.dilation)  # (C_out, Ho*N*Wo)
    out[...] = y.reshape(c_out, g.out_h, n, g.out_w).transpose(2, 0, 1, 3)  # (N, C_out, H_out, W_out)
