"""convolution_by_hand: pad2d, conv2d_single, conv2d, relu, maxpool2d as students write them."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tests.autograder.mutants import Correct, mutant

WORKED = "matches the lecture's worked example"
WORKED_N = "matches the lecture's worked examples"
TOGETHER = "stride, padding and dilation together"

#: The notebook's worked examples, as a student sees them: the "X", the striped image, the max-pool grid.
X_IMAGE = np.array(
    [[1, 0, 0, 0, 1], [0, 1, 0, 1, 0], [0, 0, 1, 0, 0], [0, 1, 0, 1, 0], [1, 0, 0, 0, 1]], dtype=float
)
STRIPES = np.array(
    [[3, 3, 3, 3, 0], [1, 1, 1, 1, 0], [2, 2, 2, 2, 0], [0, 0, 0, 0, 0], [4, 4, 4, 4, 0]], dtype=float
)
POOL_GRID = np.array([[1, 5, 2, 0], [3, 4, 1, -1], [4, 0, 2, 1], [2, 3, -2, 0]], dtype=float)


def is_example(a: object, example: np.ndarray) -> bool:
    """``a`` holds exactly the worked example's values (whatever its leading axes)."""
    a = np.asarray(a)
    return a.size == example.size and np.array_equal(a.reshape(example.shape), example)


def _pad2d(mode: str = "both", keep_dtype: bool = True, swap: bool = False, wrong_on_example: bool = False):
    def pad2d(x, padding):
        x = np.asarray(x) if keep_dtype else np.asarray(x, dtype=float)
        p = padding
        if mode == "all_axes":
            return np.pad(x, p)
        if mode == "one_side":
            return np.pad(x, [(0, 0)] * (x.ndim - 2) + [(0, p), (0, p)])
        h, w = x.shape[-2:]
        if swap:
            h, w = w, h
        out = np.zeros((*x.shape[:-2], h + 2 * p, w + 2 * p), dtype=x.dtype)
        if mode == "negative_slice":
            out[..., p:-p, p:-p] = x
        else:
            out[..., p : p + x.shape[-2], p : p + x.shape[-1]] = x
        if wrong_on_example and is_example(x, X_IMAGE):
            out[..., 0, 0] = 1
        return out

    return pad2d


def _conv2d_single(
    flip: bool = False,
    as_list: bool = False,
    validate: bool = True,
    swap: bool = False,
    wrong_on_example: bool = False,
):
    def conv2d_single(image, kernel):
        k = kernel[::-1, ::-1] if flip else kernel
        kh, kw = k.shape
        h, w = image.shape
        if validate and (kh > h or kw > w):
            raise ValueError("the kernel is larger than the image")
        out = np.zeros((w - kw + 1, h - kh + 1) if swap else (h - kh + 1, w - kw + 1))
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                out[i, j] = np.sum(image[i : i + kh, j : j + kw] * k)
        if wrong_on_example and is_example(image, STRIPES):
            out = out + 1
        return out.tolist() if as_list else out

    return conv2d_single


def conv2d_single_einsum(image, kernel):
    windows = sliding_window_view(image, kernel.shape)  # (H-K+1, W-K+1, K, K); raises if K is too big
    return np.einsum("ijuv,uv->ij", windows, kernel)


def _conv2d(
    flip: bool = False,
    use_stride: bool = True,
    use_bias: bool = True,
    pad: str = "both",
    channels: str = "all",
    validate: bool = True,
    check_extent: bool = True,
    use_dilation: bool = True,
    size: str = "floor",
    wrong_on_example: bool = False,
):
    def conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
        d = dilation if use_dilation else 1
        span_h, span_w = d * (w.shape[2] - 1) + 1, d * (w.shape[3] - 1) + 1
        if validate:
            extent = (dilation * (w.shape[2] - 1) + 1) if check_extent else w.shape[2]
            if x.shape[1] != w.shape[1] or extent > x.shape[2] + 2 * padding:
                raise ValueError("x and w must have the same C_in and the kernel must fit")
        s = stride if use_stride else 1
        after = padding if pad == "both" else 0
        xp = np.pad(x, ((0, 0), (0, 0), (padding, after), (padding, after)))
        wk = w[:, :, ::-1, ::-1] if flip else w
        n, _, h, wd = xp.shape
        if size == "split":  # floor(a / s) + floor(2P / s): wrong when 2P is not a multiple of s
            h_out = (x.shape[2] - span_h) // s + 1 + (2 * padding) // s
            w_out = (x.shape[3] - span_w) // s + 1 + (2 * padding) // s
        else:
            h_out, w_out = (h - span_h) // s + 1, (wd - span_w) // s + 1
        if size == "swapped":
            h_out, w_out = w_out, h_out
        out = np.zeros((n, w.shape[0], h_out, w_out))
        for i in range(h_out):
            for j in range(w_out):
                field = xp[:, :, i * s : i * s + span_h : d, j * s : j * s + span_w : d]  # (N, C_in, KH, KW)
                if channels == "first":
                    out[:, :, i, j] = np.einsum("nhw,ohw->no", field[:, 0], wk[:, 0])
                else:
                    out[:, :, i, j] = np.einsum("nchw,ochw->no", field, wk)
        if b is not None and use_bias:
            out += b[None, :, None, None]
        if wrong_on_example and is_example(x, STRIPES):
            out = -out
        return out

    return conv2d


def conv2d_im2col_float32(x, w, b=None, stride=1, padding=0, dilation=1):
    """A correct im2col version that computes in float32 (and returns float32)."""
    c_out, c_in, kh, kw = w.shape
    if x.shape[1] != c_in:
        raise ValueError("channels differ")
    if any(
        dilation * (k - 1) + 1 > size + 2 * padding for k, size in zip((kh, kw), x.shape[2:], strict=True)
    ):
        raise ValueError("the kernel's extent is larger than the padded input")
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding))).astype(np.float32)
    dilated = np.zeros((c_out, c_in, dilation * (kh - 1) + 1, dilation * (kw - 1) + 1), dtype=np.float32)
    dilated[:, :, ::dilation, ::dilation] = w  # taps D pixels apart, zeros between
    win = sliding_window_view(x, dilated.shape[2:], axis=(2, 3))[:, :, ::stride, ::stride]
    n, _, ho, wo = win.shape[:4]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, -1)  # (N*Ho*Wo, C*KH'*KW')
    out = (cols @ dilated.reshape(c_out, -1).T).reshape(n, ho, wo, c_out).transpose(0, 3, 1, 2)
    if b is not None:
        out = out + b.astype(np.float32)[None, :, None, None]
    return out


def conv2d_as_list(x, w, b=None, stride=1, padding=0, dilation=1):
    return _conv2d()(x, w, b, stride, padding, dilation).tolist()


def _relu(mode: str = "maximum"):
    def relu(x):
        if mode == "in_place":
            x[x < 0] = 0
            return x
        if mode == "abs":
            return np.abs(x)
        if mode == "float32":
            return (x * (x > 0)).astype(np.float32)
        if mode == "two_loops":
            out = np.array(x, dtype=float)
            for i in range(x.shape[0]):
                for j in range(x.shape[1]):
                    out[i, j] = max(x[i, j], 0.0)
            return out
        out = np.maximum(x, 0.0)
        if mode == "wrong_on_example" and is_example(x, POOL_GRID - 0.5):
            out[0, 0] = 0.0
        return out

    return relu


def _maxpool2d(
    use_stride: bool = True,
    reduce: str = "max",
    default_stride: str = "kernel",
    size: str = "floor",
    fixed_kernel: bool = False,
    channels: str = "all",
    wrong_on_example: bool = False,
):
    def maxpool2d(x, kernel_size=2, stride=None):
        k = 2 if fixed_kernel else kernel_size
        default = k if default_stride == "kernel" else 1
        s = default if stride is None else (stride if use_stride else k)
        n, c, h, w = x.shape
        if size == "ceil":
            h_out, w_out = -(-(h - k) // s) + 1, -(-(w - k) // s) + 1
        else:
            h_out, w_out = (h - k) // s + 1, (w - k) // s + 1
        if size == "swapped":
            h_out, w_out = w_out, h_out
        out = np.zeros((n, c, h_out, w_out))
        for i in range(h_out):
            for j in range(w_out):
                window = x[:, :, i * s : i * s + k, j * s : j * s + k]
                out[:, :, i, j] = window.max(axis=(2, 3)) if reduce == "max" else window.mean(axis=(2, 3))
        if channels == "first":
            out = np.repeat(out[:, :1], c, axis=1)
        if wrong_on_example and is_example(x, POOL_GRID):
            out = out + 1
        return out

    return maxpool2d


MUTANTS = [
    # ---- pad2d
    mutant("pad2d", "wrong only on the lecture's image", _pad2d(wrong_on_example=True), WORKED),
    mutant(
        "pad2d", "pads every axis", _pad2d("all_axes"), "pads only the last two axes (3-D and 4-D arrays)"
    ),
    mutant(
        "pad2d",
        "pads one side only",
        _pad2d("one_side"),
        WORKED,
        "pads a square image on every side",
        "non-square image",
        "pads only the last two axes (3-D and 4-D arrays)",
    ),
    mutant("pad2d", "height and width swapped", _pad2d(swap=True), "non-square image"),
    mutant(
        "pad2d",
        "x[p:-p] breaks for padding=0",
        _pad2d("negative_slice"),
        "padding=0 returns the values unchanged",
    ),
    mutant("pad2d", "always returns float64", _pad2d(keep_dtype=False), "keeps the dtype"),
    # ---- conv2d_single
    mutant(
        "conv2d_single",
        "wrong only on the lecture's striped image",
        _conv2d_single(wrong_on_example=True),
        WORKED_N,
    ),
    mutant(
        "conv2d_single",
        "true convolution (flipped kernel)",
        _conv2d_single(flip=True),
        WORKED_N,
        "square image (cross-correlation, no kernel flip)",
        "non-square image",
        "rejects a kernel larger than the image",  # side condition: nothing else passes
    ),
    mutant("conv2d_single", "output height and width swapped", _conv2d_single(swap=True), "non-square image"),
    mutant(
        "conv2d_single",
        "no size check",
        _conv2d_single(validate=False),
        "rejects a kernel larger than the image",
    ),
    # ---- conv2d
    mutant("conv2d", "wrong only on the lecture's striped image", _conv2d(wrong_on_example=True), WORKED),
    mutant(
        "conv2d",
        "true convolution (flipped kernel)",
        _conv2d(flip=True),
        WORKED,
        "stride 1, no padding",
        "adds the bias",
        "zero padding",
        "stride > 1",
        "dilation",
        TOGETHER,
        "non-square images and kernels",
        "several channels and a batch",
        "rejects mismatched channels or a kernel larger than the input",  # side condition
    ),
    mutant("conv2d", "stride ignored", _conv2d(use_stride=False), "stride > 1", TOGETHER),
    mutant("conv2d", "bias dropped", _conv2d(use_bias=False), "adds the bias"),
    mutant("conv2d", "padding on one side only", _conv2d(pad="once"), "zero padding", TOGETHER),
    mutant("conv2d", "dilation ignored", _conv2d(use_dilation=False), "dilation", TOGETHER),
    mutant("conv2d", "output size floor(a/S) + floor(2P/S)", _conv2d(size="split"), TOGETHER),
    mutant(
        "conv2d",
        "height and width swapped in the output size",
        _conv2d(size="swapped"),
        "non-square images and kernels",
    ),
    mutant("conv2d", "first input channel only", _conv2d(channels="first"), "several channels and a batch"),
    mutant(
        "conv2d",
        "checks K, not the dilated extent",
        _conv2d(check_extent=False),
        "rejects mismatched channels or a kernel larger than the input",
    ),
    mutant(
        "conv2d",
        "no validation",
        _conv2d(validate=False),
        "rejects mismatched channels or a kernel larger than the input",
    ),
    # ---- relu
    mutant("relu", "wrong only on the lecture's example", _relu("wrong_on_example"), WORKED),
    mutant("relu", "modifies x in place", _relu("in_place"), "does not modify x in place"),
    mutant(
        "relu",
        "absolute value",
        _relu("abs"),
        WORKED,
        "zeroes the negative values",
        "arrays of any shape (1-D to 4-D)",
        "does not modify x in place",  # side condition: nothing else passes
    ),
    mutant("relu", "two loops: 2-D arrays only", _relu("two_loops"), "arrays of any shape (1-D to 4-D)"),
    # ---- maxpool2d
    mutant("maxpool2d", "wrong only on the lecture's example", _maxpool2d(wrong_on_example=True), WORKED),
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
        "non-square inputs",
        "several channels and a batch",
    ),
    mutant(
        "maxpool2d",
        "stride defaults to 1",
        _maxpool2d(default_stride="one"),
        WORKED,
        "2x2 windows, stride 2",
        "other window sizes",
        "non-square inputs",
        "several channels and a batch",
    ),
    mutant(
        "maxpool2d",
        "2x2 windows whatever kernel_size says",
        _maxpool2d(fixed_kernel=True),
        "other window sizes",
        "explicit stride (overlapping windows)",
    ),
    mutant(
        "maxpool2d",
        "output size rounded up",
        _maxpool2d(size="ceil"),
        "2x2 windows, stride 2",
        "other window sizes",
        "explicit stride (overlapping windows)",
        "non-square inputs",
        "several channels and a batch",
    ),
    mutant("maxpool2d", "height and width swapped", _maxpool2d(size="swapped"), "non-square inputs"),
    mutant("maxpool2d", "first channel only", _maxpool2d(channels="first"), "several channels and a batch"),
]

CORRECT = [
    Correct("pad2d", "zeros of x's dtype and a slice", _pad2d()),
    Correct("conv2d_single", "two loops", _conv2d_single()),
    Correct("conv2d_single", "einsum over sliding windows", conv2d_single_einsum),
    Correct("conv2d_single", "returns a nested list", _conv2d_single(as_list=True)),
    Correct("conv2d", "loops with einsum per pixel", _conv2d()),
    Correct("conv2d", "im2col in float32", conv2d_im2col_float32),
    Correct("conv2d", "returns a nested list", conv2d_as_list),
    Correct("relu", "float32 mask product", _relu("float32")),
    Correct("relu", "np.maximum", _relu()),
    Correct("maxpool2d", "loops over output pixels", _maxpool2d()),
]
