r"""Depthwise and depthwise separable convolution (numpy, float64, NCHW), forward and backward.

A **depthwise** convolution gives every input channel its own ``KH x KW`` filter and never mixes
channels: ``w`` is ``(C, 1, KH, KW)`` and

.. math:: y_{n,c,i,j} = b_c + \sum_{u,v} w_{c,0,u,v}\, x^{pad}_{n,\,c,\,iS + uD,\,jS + vD}

exactly ``torch.nn.functional.conv2d(x, w, b, stride, padding, dilation, groups=C)``.

A **depthwise separable** convolution (Sifre 2014; Chollet 2017, "Xception"; Howard et al. 2017,
"MobileNets", section 3.1) follows it with a **pointwise** ``1 x 1`` convolution that mixes the
channels, ``w_pointwise`` ``(C_out, C_in, 1, 1)``:

.. math:: z_{n,o,i,j} = b'_o + \sum_c w'_{o,c}\, y_{n,c,i,j}

It replaces the ``K^2 C_in C_out`` weights of a standard convolution by ``K^2 C_in + C_in C_out``, and
the multiply-adds per output pixel likewise, a saving of :math:`1 / (1/C_{out} + 1/K^2)` (7.9x for
``K = 3``, ``C_out = 64``; see :mod:`course_lib.arithmetic`). No non-linearity sits between the two
steps here (MobileNet puts batch norm and ReLU there; that is a model choice, not part of the operation).

The loops run over the ``KH*KW`` kernel offsets (:func:`course_lib.conv.offset_slices`), never over
pixels: each step multiplies one strided slice of the padded input by one weight per channel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from course_lib.conv import WindowGeometry, offset_slices, pad2d, window_geometry
from course_lib.validation import Array, as_array, check_same_shape


def _check_depthwise_args(
    x: Any, w: Any, b: Any, stride: object, padding: object, dilation: object
) -> tuple[Array, Array, Array | None, WindowGeometry]:
    """Validate a depthwise call: x (N, C, H, W), w (C, 1, KH, KW), b (C,) or None, window geometry."""
    x = as_array("x", x, 4, "(N, C, H, W)")
    w = as_array("w", w, 4, "(C, 1, KH, KW)")
    if w.shape[1] != 1:
        raise ValueError(
            f"w must have shape (C, 1, KH, KW) (one single-channel filter per input channel), got {w.shape}"
        )
    if w.shape[0] != x.shape[1]:
        raise ValueError(
            f"x has C={x.shape[1]} channels (x.shape[1]) but w has {w.shape[0]} filters (w.shape[0]); "
            "a depthwise convolution needs one filter per channel"
        )
    if b is not None:
        b = as_array("b", b, 1, "(C,)")
        check_same_shape("b", b, (x.shape[1],), "one bias per channel, C = x.shape[1]")
    geom = window_geometry(x.shape[2], x.shape[3], w.shape[2], w.shape[3], stride, padding, dilation)
    return x, w, b, geom


def depthwise_conv2d(
    x: Array, w: Array, b: Array | None = None, stride: int = 1, padding: int | str = 0, dilation: int = 1
) -> Array:
    r"""Depthwise convolution: channel ``c`` of ``x`` (N, C, H, W) correlated with its own filter
    ``w[c, 0]``; ``w`` (C, 1, KH, KW), ``b`` (C,) or None -> ``(N, C, H_out, W_out)``.

    Sizes follow :func:`course_lib.arithmetic.output_size`; ``padding`` is an int (zeros per side),
    ``"valid"`` or ``"same"`` (stride 1). Same result as ``torch.nn.functional.conv2d(..., groups=C)``.
    Raises ``ValueError``/``TypeError`` naming the argument and the rule (see
    :mod:`course_lib.validation`), e.g. when ``w.shape[0] != C`` or ``w.shape[1] != 1``.
    """
    x, w, b, g = _check_depthwise_args(x, w, b, stride, padding, dilation)
    xp = pad2d(x, g.pad)  # (N, C, Hp, Wp)
    out = np.zeros((x.shape[0], x.shape[1], g.out_h, g.out_w))  # (N, C, H_out, W_out)
    for u, v, (rows, cols) in offset_slices(g):
        out += xp[:, :, rows, cols] * w[None, :, 0, u, v, None, None]  # (N, C, Ho, Wo) * (1, C, 1, 1)
    if b is not None:
        out += b[None, :, None, None]
    return out


def depthwise_conv2d_backward(
    dout: Array, x: Array, w: Array, stride: int = 1, padding: int | str = 0, dilation: int = 1
) -> tuple[Array, Array, Array]:
    r"""Gradients of :func:`depthwise_conv2d` -> ``(dx, dw, db)`` with the shapes of x, w and (C,).

    Every channel is an independent single-channel convolution, so the rules of
    :func:`course_lib.layers.conv2d_backward` hold channel by channel (``delta = dout``):

    .. math::
        \frac{\partial L}{\partial b_c} = \sum_{n,i,j} \delta_{n,c,i,j}, \qquad
        \frac{\partial L}{\partial w_{c,0,u,v}} = \sum_{n,i,j} \delta_{n,c,i,j}\,
            x^{pad}_{n,c,\,iS+uD,\,jS+vD},

        \frac{\partial L}{\partial x^{pad}_{n,c,\,iS+uD,\,jS+vD}} \mathrel{+}= w_{c,0,u,v}\,\delta_{n,c,i,j}

    (one strided slice per kernel offset; overlapping windows accumulate), then the padding is cropped.
    """
    x, w, _, g = _check_depthwise_args(x, w, None, stride, padding, dilation)
    n, c, h, wd = x.shape  # (N, C, H, W)
    dout = as_array("dout", dout, 4, "(N, C, H_out, W_out)")
    check_same_shape(
        "dout", dout, (n, c, g.out_h, g.out_w), "the output shape of depthwise_conv2d(x, w, ...)"
    )
    xp = pad2d(x, g.pad)  # (N, C, Hp, Wp)
    dxp = np.zeros(xp.shape)  # (N, C, Hp, Wp)
    dw = np.empty(w.shape)  # (C, 1, KH, KW)
    for u, v, (rows, cols) in offset_slices(g):
        dw[:, 0, u, v] = np.einsum("nchw,nchw->c", dout, xp[:, :, rows, cols])  # (C,)
        dxp[:, :, rows, cols] += dout * w[None, :, 0, u, v, None, None]  # (N, C, Ho, Wo)
    (top, _), (left, _) = g.pad
    dx = np.ascontiguousarray(dxp[:, :, top : top + h, left : left + wd])  # (N, C, H, W)
    return dx, dw, dout.sum(axis=(0, 2, 3))


def _check_pointwise(w_pointwise: Any, c_in: int) -> Array:
    w = as_array("w_pointwise", w_pointwise, 4, "(C_out, C_in, 1, 1)")
    if w.shape[1:] != (c_in, 1, 1):
        raise ValueError(
            f"w_pointwise must have shape (C_out, C_in, 1, 1) with C_in = x.shape[1] = {c_in}, got {w.shape}"
        )
    return w


def _pointwise(w2d: Array, y: Array) -> Array:
    """``sum_c w2d[o, c] y[n, c, i, j]``: (C_out, C_in) and (N, C_in, H, W) -> (N, C_out, H, W)."""
    n, c_in, h, w = y.shape
    out = np.matmul(w2d, y.reshape(n, c_in, h * w))  # (C_out, C_in) @ (N, C_in, H*W) -> (N, C_out, H*W)
    return out.reshape(n, w2d.shape[0], h, w)  # (N, C_out, H, W)


def depthwise_separable_conv2d(
    x: Array,
    w_depthwise: Array,
    w_pointwise: Array,
    b_depthwise: Array | None = None,
    b_pointwise: Array | None = None,
    stride: int = 1,
    padding: int | str = 0,
    dilation: int = 1,
) -> Array:
    r"""Depthwise then pointwise convolution: ``x`` (N, C_in, H, W), ``w_depthwise`` (C_in, 1, KH, KW),
    ``w_pointwise`` (C_out, C_in, 1, 1), biases (C_in,) / (C_out,) or None -> ``(N, C_out, H_out, W_out)``.

    ``stride``, ``padding`` and ``dilation`` belong to the depthwise step (the pointwise step is 1x1,
    stride 1). Equal to ``conv2d(conv2d(x, w_depthwise, b_depthwise, ..., groups=C_in), w_pointwise,
    b_pointwise)`` in torch. Formulas and parameter savings: module docstring.
    """
    y = depthwise_conv2d(x, w_depthwise, b_depthwise, stride, padding, dilation)  # (N, C_in, Ho, Wo)
    wp = _check_pointwise(w_pointwise, y.shape[1])
    out = _pointwise(wp[:, :, 0, 0], y)  # (N, C_out, Ho, Wo)
    if b_pointwise is not None:
        b_pointwise = as_array("b_pointwise", b_pointwise, 1, "(C_out,)")
        check_same_shape("b_pointwise", b_pointwise, (wp.shape[0],), "one bias per output channel")
        out += b_pointwise[None, :, None, None]
    return out


def depthwise_separable_conv2d_backward(
    dout: Array,
    x: Array,
    w_depthwise: Array,
    w_pointwise: Array,
    b_depthwise: Array | None = None,
    stride: int = 1,
    padding: int | str = 0,
    dilation: int = 1,
) -> tuple[Array, Array, Array, Array, Array]:
    r"""Gradients of :func:`depthwise_separable_conv2d` ->
    ``(dx, dw_depthwise, db_depthwise, dw_pointwise, db_pointwise)``, each shaped like its variable.

    With ``y`` the depthwise output (recomputed; it includes ``b_depthwise``, which is why the backward
    needs it) and ``W'`` the ``(C_out, C_in)`` pointwise matrix, per image ``n`` and pixel:

    .. math::
        \frac{\partial L}{\partial b'_o} = \sum_{n,i,j} \delta_{n,o,i,j}, \qquad
        \frac{\partial L}{\partial W'} = \sum_n \Delta_n Y_n^T, \qquad
        \frac{\partial L}{\partial Y_n} = W'^T \Delta_n

    (``Delta_n``, ``Y_n`` the ``(C, H_out W_out)`` matrices of image n), then
    :func:`depthwise_conv2d_backward` of :math:`\partial L/\partial y`.
    """
    y = depthwise_conv2d(x, w_depthwise, b_depthwise, stride, padding, dilation)  # (N, C_in, Ho, Wo)
    n, c_in, ho, wo = y.shape
    wp = _check_pointwise(w_pointwise, c_in)
    c_out = wp.shape[0]
    dout = as_array("dout", dout, 4, "(N, C_out, H_out, W_out)")
    check_same_shape(
        "dout", dout, (n, c_out, ho, wo), "the output shape of depthwise_separable_conv2d(x, ...)"
    )
    delta = dout.reshape(n, c_out, ho * wo)  # (N, C_out, Ho*Wo)
    y_mat = y.reshape(n, c_in, ho * wo)  # (N, C_in, Ho*Wo)
    dwp = np.einsum("nop,ncp->oc", delta, y_mat)  # (C_out, C_in) = sum_n Delta_n Y_n^T
    dy = _pointwise(wp[:, :, 0, 0].T, dout)  # (N, C_in, Ho, Wo) = W'^T Delta_n
    dx, dwd, dbd = depthwise_conv2d_backward(dy, x, w_depthwise, stride, padding, dilation)
    return dx, dwd, dbd, dwp.reshape(c_out, c_in, 1, 1), dout.sum(axis=(0, 2, 3))
