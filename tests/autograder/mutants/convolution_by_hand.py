"""convolution_by_hand: pad2d, conv2d_single, conv2d, relu, maxpool2d as students write them."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tests.autograder.mutants import Correct, mutant

WORKED = "matches the lecture's worked example"
WORKED_N = "matches the lecture's worked examples"
UNCHANGED = "does not modify its inputs"


def _pad2d(mode: str = "both"):
    def pad2d(x, padding):
        x = np.asarray(x, dtype=float)
        p = padding
        if mode == "all_axes":
            return np.pad(x, p)
        if mode == "one_side":
            return np.pad(x, [(0, 0)] * (x.ndim - 2) + [(0, p), (0, p)])
        out = np.zeros((*x.shape[:-2], x.shape[-2] + 2 * p, x.shape[-1] + 2 * p))
        out[..., p : p + x.shape[-2], p : p + x.shape[-1]] = x
        return out

    return pad2d


def _conv2d_single(flip: bool = False, as_list: bool = False):
    def conv2d_single(image, kernel):
        k = kernel[::-1, ::-1] if flip else kernel
        kh, kw = k.shape
        out = np.zeros((image.shape[0] - kh + 1, image.shape[1] - kw + 1))
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                out[i, j] = np.sum(image[i : i + kh, j : j + kw] * k)
        return out.tolist() if as_list else out

    return conv2d_single


def conv2d_single_einsum(image, kernel):
    windows = sliding_window_view(image, kernel.shape)  # (H-K+1, W-K+1, K, K)
    return np.einsum("ijuv,uv->ij", windows, kernel)


def _conv2d(
    flip: bool = False,
    use_stride: bool = True,
    use_bias: bool = True,
    pad: str = "both",
    channels: str = "all",
    validate: bool = True,
):
    def conv2d(x, w, b=None, stride=1, padding=0):
        if validate and (x.shape[1] != w.shape[1] or w.shape[2] > x.shape[2] + 2 * padding):
            raise ValueError("x and w must have the same C_in and the kernel must fit")
        s = stride if use_stride else 1
        before = padding
        after = padding if pad == "both" else 0
        xp = np.pad(x, ((0, 0), (0, 0), (before, after), (before, after)))
        wk = w[:, :, ::-1, ::-1] if flip else w
        n, _, h, wd = xp.shape
        c_out, _, kh, kw = w.shape
        out = np.zeros((n, c_out, (h - kh) // s + 1, (wd - kw) // s + 1))
        for i in range(out.shape[2]):
            for j in range(out.shape[3]):
                field = xp[:, :, i * s : i * s + kh, j * s : j * s + kw]  # (N, C_in, KH, KW)
                if channels == "first":
                    out[:, :, i, j] = np.einsum("nhw,ohw->no", field[:, 0], wk[:, 0])
                else:
                    out[:, :, i, j] = np.einsum("nchw,ochw->no", field, wk)
        if b is not None and use_bias:
            out += b[None, :, None, None]
        return out

    return conv2d


def conv2d_im2col_float32(x, w, b=None, stride=1, padding=0):
    """A correct im2col version that computes in float32 (and returns float32)."""
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding))).astype(np.float32)
    w = w.astype(np.float32)
    c_out, c_in, kh, kw = w.shape
    win = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]  # (N, C, Ho, Wo, KH, KW)
    n, _, ho, wo = win.shape[:4]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c_in * kh * kw)  # (N*Ho*Wo, C*KH*KW)
    out = (
        (cols @ w.reshape(c_out, -1).T).reshape(n, ho, wo, c_out).transpose(0, 3, 1, 2)
    )  # (N, C_out, Ho, Wo)
    if x.shape[1] != c_in:
        raise ValueError("channels differ")
    if b is not None:
        out = out + b.astype(np.float32)[None, :, None, None]
    return out


def conv2d_as_list(x, w, b=None, stride=1, padding=0):
    return _conv2d()(x, w, b, stride, padding).tolist()


def relu_in_place(x):
    x[x < 0] = 0
    return x


def relu_abs(x):
    return np.abs(x)


def relu_float32(x):
    return (x * (x > 0)).astype(np.float32)


def _maxpool2d(use_stride: bool = True, reduce: str = "max"):
    def maxpool2d(x, kernel_size=2, stride=None):
        k = kernel_size
        s = k if stride is None or not use_stride else stride
        n, c, h, w = x.shape
        out = np.zeros((n, c, (h - k) // s + 1, (w - k) // s + 1))
        for i in range(out.shape[2]):
            for j in range(out.shape[3]):
                window = x[:, :, i * s : i * s + k, j * s : j * s + k]
                out[:, :, i, j] = window.max(axis=(2, 3)) if reduce == "max" else window.mean(axis=(2, 3))
        return out

    return maxpool2d


def maxpool2d_first_channel(x, kernel_size=2, stride=None):
    out = _maxpool2d()(x, kernel_size, stride)
    return np.repeat(out[:, :1], x.shape[1], axis=1)


MUTANTS = [
    mutant("pad2d", "pads every axis", _pad2d("all_axes"), "pads only the last two axes of a batch"),
    mutant(
        "pad2d",
        "pads one side only",
        _pad2d("one_side"),
        WORKED,
        "pads a 2-D image on every side",
        "pads only the last two axes of a batch",
    ),
    mutant(
        "conv2d_single",
        "true convolution (flipped kernel)",
        _conv2d_single(flip=True),
        WORKED_N,
        "square image (cross-correlation, no kernel flip)",
        "non-square image",
    ),
    mutant(
        "conv2d",
        "true convolution (flipped kernel)",
        _conv2d(flip=True),
        WORKED,
        "stride 1, no padding",
        "adds the bias",
        "zero padding",
        "stride > 1",
        "several channels and a batch",
    ),
    mutant("conv2d", "stride ignored", _conv2d(use_stride=False), "stride > 1"),
    mutant("conv2d", "bias dropped", _conv2d(use_bias=False), "adds the bias"),
    mutant("conv2d", "padding on one side only", _conv2d(pad="once"), "zero padding"),
    mutant("conv2d", "first input channel only", _conv2d(channels="first"), "several channels and a batch"),
    mutant("conv2d", "no validation", _conv2d(validate=False), "rejects an invalid configuration"),
    mutant("relu", "modifies x in place", relu_in_place, UNCHANGED),
    mutant("relu", "absolute value", relu_abs, WORKED, "zeroes the negative values of an array of any shape"),
    mutant(
        "maxpool2d", "stride ignored", _maxpool2d(use_stride=False), "explicit stride (overlapping windows)"
    ),
    mutant(
        "maxpool2d",
        "average instead of max",
        _maxpool2d(reduce="mean"),
        WORKED,
        "2x2 windows, stride 2",
        "other window sizes",
        "explicit stride (overlapping windows)",
        "several channels and a batch",
    ),
    mutant("maxpool2d", "first channel only", maxpool2d_first_channel, "several channels and a batch"),
]

CORRECT = [
    Correct("pad2d", "zeros and a slice", _pad2d()),
    Correct("conv2d_single", "two loops", _conv2d_single()),
    Correct("conv2d_single", "einsum over sliding windows", conv2d_single_einsum),
    Correct("conv2d_single", "returns a nested list", _conv2d_single(as_list=True)),
    Correct("conv2d", "loops with einsum per pixel", _conv2d()),
    Correct("conv2d", "im2col in float32", conv2d_im2col_float32),
    Correct("conv2d", "returns a nested list", conv2d_as_list),
    Correct("relu", "float32 mask product", relu_float32),
    Correct("maxpool2d", "loops over output pixels", _maxpool2d()),
]
