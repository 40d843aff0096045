r"""Layers of a small CNN with their backward passes (numpy, float64): ReLU, convolution, fully
connected, softmax and cross-entropy.

Every ``*_backward`` takes the upstream gradient ``dout = dL/d(output)`` and returns the gradients of
the loss with respect to the layer's inputs, with the same shapes as those inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from course_lib.batching import for_batch_chunks
from course_lib.conv import (
    WindowGeometry,
    check_conv_args,
    col2im,
    im2col,
    pad2d,
    row_shift_matmul,
    width_columns,
)
from course_lib.pooling import global_avgpool
from course_lib.validation import Array, as_array, check_inputs_match_weights, check_same_shape


def relu(x: Array) -> Array:
    r"""Rectified linear unit, elementwise: :math:`\mathrm{relu}(x) = \max(0, x)`."""
    x = as_array("x", x)
    return np.maximum(x, 0.0)


def relu_backward(dout: Array, x: Array) -> Array:
    r"""Gradient of :func:`relu`: :math:`\partial L/\partial x = \partial L/\partial y \cdot [x > 0]`
    (the gradient at exactly 0 is taken as 0)."""
    x, dout = as_array("x", x), as_array("dout", dout)
    check_same_shape("dout", dout, x.shape, "the shape of x")
    return dout * (x > 0)


def conv2d_backward(
    dout: Array, x: Array, w: Array, stride: int = 1, padding: int | str = 0, dilation: int = 1
) -> tuple[Array, Array, Array]:
    r"""Gradients of :func:`course_lib.conv.conv2d` -> ``(dx, dw, db)``.

    With the forward pass as one matrix product ``Y = W_{mat} X_{col} + b`` (``X_col`` the
    ``(C_in K_H K_W, N H_out W_out)`` im2col matrix, ``W_mat`` the ``(C_out, C_in K_H K_W)`` filters,
    ``Y`` and ``Delta = dout`` as ``(C_out, N H_out W_out)`` matrices):

    .. math::
        \frac{\partial L}{\partial b_o} = \sum_{n,i,j} \delta_{n,o,i,j}, \qquad
        \frac{\partial L}{\partial W_{mat}} = \Delta X_{col}^T, \qquad
        \frac{\partial L}{\partial X_{col}} = W_{mat}^T \Delta

    ``dX_col`` goes back to the image with col2im (every input pixel sums the gradients of all the
    windows that contain it), and the padding is cropped off. That sum is the "full" correlation of
    ``dout`` with the flipped filters, channels swapped:

    .. math:: \frac{\partial L}{\partial x_{n,c,y,x}} = \sum_{o,u,v} w_{o,c,u,v}\,
              \delta_{n,o,\,y+P-uD,\,x+P-vD}

    Stride 1 computes both products on the row-shift layout of :func:`course_lib.conv.width_columns`
    (``dW`` one kernel row at a time, ``dx`` as that full correlation), chunk by chunk on every core;
    other strides use im2col / col2im.
    """
    x, w, _, g = check_conv_args(x, w, None, stride, padding, dilation)
    n, c_in, h, wd = x.shape  # (N, C_in, H, W)
    dout = as_array("dout", dout, 4, "(N, C_out, H_out, W_out)")
    check_same_shape("dout", dout, (n, w.shape[0], g.out_h, g.out_w), "the output shape of conv2d(x, w, ...)")
    db = dout.sum(axis=(0, 2, 3))  # (C_out,)
    if g.stride != 1:
        dx, dw = _conv2d_backward_im2col(dout, pad2d(x, g.pad), w, g, (h, wd))
        return dx, dw, db
    dx = np.empty(x.shape)  # (N, C_in, H, W)
    c_out, _, kh, kw = w.shape
    flipped = (
        w[:, :, ::-1, ::-1].transpose(2, 1, 0, 3).reshape(kh, c_in, c_out * kw)
    )  # [u']: (C_in, C_out*KW)
    flops = 4 * dout.size * w[0].size  # two products (dW and dx), each as large as the forward pass
    partials = for_batch_chunks(
        n, lambda a, z: _conv2d_backward_rows(dout[a:z], x[a:z], flipped, g, dx[a:z]), flops
    )
    dw_rows = np.zeros_like(partials[0][0])  # (KH, C_out, C_in*KW), summed in a fixed order
    for share in partials:
        for part in share:
            dw_rows += part
    dw = dw_rows.reshape(kh, c_out, c_in, kw).transpose(1, 2, 0, 3)  # (C_out, C_in, KH, KW)
    return dx, np.ascontiguousarray(dw), db


def _conv2d_backward_im2col(
    dout: Array, xp: Array, w: Array, g: WindowGeometry, size: tuple[int, int]
) -> tuple[Array, Array]:
    """Any stride: ``dW = Delta X_col^T`` and col2im of ``W^T Delta``; returns (dx, dw)."""
    n, c_in = xp.shape[:2]
    c_out = w.shape[0]
    delta = dout.transpose(1, 0, 2, 3).reshape(c_out, -1)  # (C_out, N*Ho*Wo)
    dw = (delta @ im2col(xp, g).T).reshape(w.shape)  # (C_out, C_in*KH*KW) -> (C_out, C_in, KH, KW)
    dcols = w.reshape(c_out, -1).T @ delta  # (C_in*KH*KW, N*Ho*Wo)
    dxp = col2im(dcols, (n, c_in, *xp.shape[2:]), g)  # (N, C_in, Hp, Wp)
    (top, _), (left, _) = g.pad
    dx = np.ascontiguousarray(dxp[:, :, top : top + size[0], left : left + size[1]])  # (N, C_in, H, W)
    return dx, dw


def _conv2d_backward_rows(dout: Array, x: Array, flipped: Array, g: WindowGeometry, dx: Array) -> Array:
    """Stride 1, one chunk of the batch: writes ``dx`` and returns this chunk's ``dW`` by kernel row,
    ``(KH, C_out, C_in*KW)``. ``flipped[u']`` is row u' of the flipped filters, (C_in, C_out*KW)."""
    n = x.shape[0]
    kh, c_in, c_out, kw = g.kh, x.shape[1], dout.shape[1], g.kw
    d, (h, wd) = g.dilation, dx.shape[2:]
    (top, bottom), (left, right) = g.pad
    span_h, span_w = d * (kh - 1), d * (kw - 1)
    # dx: the full correlation; dout padded (or cropped) so that dx row y starts at dout row y + P - (KH-1)D
    full = ((span_h - top, span_h - bottom), (span_w - left, span_w - right))
    dcols = width_columns(dout, kw, wd, d, full)  # (C_out*KW, (H+span_h)*N*W)
    dx_cols = row_shift_matmul(flipped, dcols, h, n * wd, d)  # (C_in, H*N*W)
    dx[...] = dx_cols.reshape(c_in, h, n, wd).transpose(2, 0, 1, 3)  # (N, C_in, H, W)
    # dW[:, :, u, :] = Delta X_u^T, X_u the width columns seen u*D rows down
    cols = width_columns(x, kw, g.out_w, d, g.pad)  # (C_in*KW, Hp*N*Wo)
    row, m = n * g.out_w, g.out_h * n * g.out_w
    v, shifted = divmod(span_w - left, d)
    if wd == g.out_w and not shifted and 0 <= v < kw and max(top, bottom) <= span_h:
        # "same"-sized output: Delta already sits in dcols, at horizontal offset v, rows from span_h - top
        per_offset = dcols.reshape(c_out, kw, -1)  # (C_out, KW, (H+span_h)*N*W)
        start = (span_h - top) * row
        delta = per_offset[:, v, start : start + m]  # view: (C_out, Ho*N*Wo)
    else:
        delta = np.ascontiguousarray(dout.transpose(1, 2, 0, 3)).reshape(c_out, m)  # (C_out, Ho*N*Wo)
    dw_rows = np.empty((kh, c_out, c_in * kw))  # [u]: (C_out, C_in*KW)
    for u in range(kh):
        np.matmul(delta, cols[:, u * d * row : u * d * row + m].T, out=dw_rows[u])
    return dw_rows


def _check_linear_args(x: Any, w: Any) -> tuple[Array, Array]:
    x = as_array("x", x, 2, "(N, D_in)")
    w = as_array("w", w, 2, "(D_out, D_in)")
    check_inputs_match_weights(x, w, "D_in", "features")
    return x, w


def linear(x: Array, w: Array, b: Array | None = None) -> Array:
    r"""Fully connected layer :math:`y = x W^T + b`: ``x`` (N, D_in), ``w`` (D_out, D_in), ``b`` (D_out,)
    -> ``(N, D_out)``."""
    x, w = _check_linear_args(x, w)
    out = x @ w.T  # (N, D_out)
    if b is not None:
        b = as_array("b", b, 1, "(D_out,)")
        check_same_shape("b", b, (w.shape[0],), "one bias per output feature, D_out = w.shape[0]")
        out += b
    return out


def global_avgpool_head(x: Array, w: Array, b: Array | None = None) -> Array:
    r"""A global-average-pooling classifier head: the mean of every channel, then a fully connected
    layer, ``x`` (N, C, H, W), ``w`` (K, C), ``b`` (K,) -> logits ``(N, K)``:

    .. math:: z_{n,k} = b_k + \sum_c w_{k,c}\, \frac{1}{HW} \sum_{i,j} x_{n,c,i,j}

    (:func:`course_lib.pooling.global_avgpool` then :func:`linear`). Its ``K C + K`` parameters do
    not depend on the image size, unlike a flatten-then-dense head's ``K C H W + K``; it accepts any
    ``H x W``. Same values as ``nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(C, K))``.
    """
    x = as_array("x", x, 4, "(N, C, H, W)")
    w = as_array("w", w, 2, "(K, C)")
    if w.shape[1] != x.shape[1]:
        raise ValueError(
            f"w must have shape (K, C) with C = x.shape[1] = {x.shape[1]} (one weight per channel), "
            f"got {w.shape}"
        )
    return linear(global_avgpool(x), w, b)  # (N, C) -> (N, K)


def linear_backward(dout: Array, x: Array, w: Array) -> tuple[Array, Array, Array]:
    r"""Gradients of :func:`linear` -> ``(dx, dw, db)``:

    .. math:: \frac{\partial L}{\partial x} = \delta W, \qquad
              \frac{\partial L}{\partial W} = \delta^T x, \qquad
              \frac{\partial L}{\partial b} = \sum_n \delta_n

    with ``delta = dout`` of shape (N, D_out).
    """
    x, w = _check_linear_args(x, w)
    dout = as_array("dout", dout, 2, "(N, D_out)")
    check_same_shape("dout", dout, (x.shape[0], w.shape[0]), "the output shape of linear(x, w, b)")
    return dout @ w, dout.T @ x, dout.sum(axis=0)  # (N, D_in), (D_out, D_in), (D_out,)


def softmax(logits: Array) -> Array:
    r"""Row-wise softmax of (N, K) logits, :math:`p_{n,k} = e^{z_{n,k} - m_n} / \sum_j e^{z_{n,j} - m_n}`
    with :math:`m_n = \max_j z_{n,j}` subtracted first so that logits of +-1000 do not overflow."""
    z = as_array("logits", logits, 2, "(N, K)")
    e = np.exp(z - z.max(axis=1, keepdims=True))  # (N, K), every entry in (0, 1]
    return e / e.sum(axis=1, keepdims=True)


def _check_labels(logits: Any, y: Any) -> tuple[Array, npt.NDArray[np.intp]]:
    z = as_array("logits", logits, 2, "(N, K)")
    labels = np.asarray(y)
    if labels.dtype == np.bool_ or not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"y must be an integer array of class labels, got dtype {labels.dtype}")
    check_same_shape("y", labels, (z.shape[0],), "one label per row of logits")
    if labels.size and (labels.min() < 0 or labels.max() >= z.shape[1]):
        raise ValueError(f"y must hold class labels in 0..{z.shape[1] - 1} (K = logits.shape[1])")
    return z, labels.astype(np.intp)


def cross_entropy(logits: Array, y: Array) -> float:
    r"""Mean cross-entropy of (N, K) logits against integer labels ``y`` (N,):

    .. math:: L = -\frac{1}{N}\sum_n \log p_{n, y_n}
              = \frac{1}{N}\sum_n \Big(m_n + \log\sum_k e^{z_{n,k} - m_n} - z_{n,y_n}\Big)

    computed with the log-sum-exp trick (stable for logits of +-1000).
    """
    z, labels = _check_labels(logits, y)
    m = z.max(axis=1)  # (N,)
    log_norm = m + np.log(np.exp(z - m[:, None]).sum(axis=1))  # (N,) log sum_k e^{z_nk}
    return float(np.mean(log_norm - z[np.arange(z.shape[0]), labels]))


def cross_entropy_backward(logits: Array, y: Array) -> Array:
    r"""Gradient of :func:`cross_entropy` (the batch mean) with respect to the logits:

    .. math:: \frac{\partial L}{\partial z_{n,k}} = \frac{p_{n,k} - [k = y_n]}{N}
    """
    z, labels = _check_labels(logits, y)
    grad = softmax(z)  # (N, K)
    grad[np.arange(z.shape[0]), labels] -= 1.0
    return grad / z.shape[0]
