"""backprop_conv_pool: relu_backward, maxpool2d_backward, conv2d_backward, numerical_gradient,
relative_error as students write them."""

from __future__ import annotations

import numpy as np

from tests.autograder.mutants import Correct, mutant

WORKED = "matches the lecture's worked example"
DXDW = (
    "dx and dw, zero padding",
    "dx and dw, stride > 1",
    "dx and dw, stride and padding together",
    "dx and dw, non-square images and kernels",
    "dx and dw, several channels and a batch",
)
POOL_GRID = np.array([[1, 5, 2, 0], [3, 4, 1, -1], [4, 0, 2, 1], [2, 3, -2, 0]], dtype=float)
STRIPES = np.array(
    [[3, 3, 3, 3, 0], [1, 1, 1, 1, 0], [2, 2, 2, 2, 0], [0, 0, 0, 0, 0], [4, 4, 4, 4, 0]], dtype=float
)


def is_example(a: object, example: np.ndarray) -> bool:
    a = np.asarray(a)
    return a.size == example.size and np.array_equal(a.reshape(example.shape), example)


def _relu_backward(mode: str = "mask"):
    def relu_backward(dout, x):
        if mode == "mask_from_dout":
            return dout * (dout > 0)
        if mode == "in_place":
            dout[x <= 0] = 0
            return dout
        if mode == "at_zero":
            return dout * (x >= 0)
        if mode == "two_loops":
            dx = np.zeros_like(dout)
            for i in range(x.shape[0]):
                for j in range(x.shape[1]):
                    dx[i, j] = dout[i, j] if x[i, j] > 0 else 0.0
            return dx
        dx = dout * (x > 0)
        if mode == "wrong_on_example" and is_example(x, POOL_GRID - 0.5):
            dx = -dx
        return dx

    return relu_backward


def _maxpool2d_backward(
    route: str = "argmax",
    accumulate: bool = True,
    default_stride: str = "kernel",
    fixed_kernel: bool = False,
    swap: bool = False,
    first_only: bool = False,
    wrong_on_example: bool = False,
):
    def maxpool2d_backward(dout, x, kernel_size=2, stride=None):
        k = 2 if fixed_kernel else kernel_size
        s = (k if default_stride == "kernel" else 1) if stride is None else stride
        dx = np.zeros_like(x)
        n, c, ho, wo = dout.shape
        if swap:
            ho, wo = wo, ho
        for b in range(1 if first_only else n):
            for ch in range(1 if first_only else c):
                for i in range(ho):
                    for j in range(wo):
                        window = x[b, ch, i * s : i * s + k, j * s : j * s + k]
                        g = dout[b, ch, i, j]
                        if route == "spread":
                            dx[b, ch, i * s : i * s + k, j * s : j * s + k] += g / (k * k)
                            continue
                        if route == "every_max":
                            dx[b, ch, i * s : i * s + k, j * s : j * s + k] += g * (window == window.max())
                            continue
                        flat = window.ravel()
                        index = len(flat) - 1 - np.argmax(flat[::-1]) if route == "last" else np.argmax(flat)
                        u, v = np.unravel_index(index, window.shape)
                        if accumulate:
                            dx[b, ch, i * s + u, j * s + v] += g
                        else:
                            dx[b, ch, i * s + u, j * s + v] = g
        if wrong_on_example and is_example(x, POOL_GRID):
            dx = 2 * dx
        return dx

    return maxpool2d_backward


def _conv2d_backward(
    db_reduce: str = "sum",
    dx_kernel: str = "w",
    use_stride: bool = True,
    dw_accumulate: bool = True,
    crop: str = "padding",
    first_image_dx: bool = False,
    wrong_on_example: bool = False,
):
    def conv2d_backward(dout, x, w, stride=1, padding=0):
        s = stride if use_stride else 1
        p = padding
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        dxp = np.zeros_like(xp)
        dw = np.zeros_like(w)
        _, _, kh, kw = w.shape
        wk = w[:, :, ::-1, ::-1] if dx_kernel == "flipped" else w
        for i in range(dout.shape[2]):
            for j in range(dout.shape[3]):
                field = xp[:, :, i * s : i * s + kh, j * s : j * s + kw]  # (N, C_in, KH, KW)
                g = dout[:, :, i, j]  # (N, C_out)
                contribution = np.einsum("no,nchw->ochw", g, field)
                dw = dw + contribution if dw_accumulate else contribution
                spread = np.einsum("no,ochw->nchw", g, wk)
                if first_image_dx:
                    spread[1:] = 0
                dxp[:, :, i * s : i * s + kh, j * s : j * s + kw] += spread
        h, wd = x.shape[2:]
        if crop == "start":
            dx = dxp[:, :, :h, :wd]
        elif crop == "times_stride":
            dx = dxp[:, :, p * s : p * s + h, p * s : p * s + wd]
        elif crop == "swapped":
            dx = dxp[:, :, p : p + wd, p : p + h]
        else:
            dx = dxp[:, :, p : p + h, p : p + wd]
        db = dout.sum(axis=(0, 2, 3)) if db_reduce == "sum" else dout.mean(axis=(0, 2, 3))
        if wrong_on_example and is_example(x, STRIPES):
            db = db + 1
        return dx, dw, db

    return conv2d_backward


def conv2d_backward_as_list(dout, x, w, stride=1, padding=0):
    return list(_conv2d_backward()(dout, x, w, stride, padding))


def _numerical_gradient(
    sided: str = "two",
    restore: bool = True,
    divide: float = 2.0,
    flatten: bool = False,
    copy: bool = False,
    use_eps: bool = True,
    one_dimensional: bool = False,
    wrong_on_example: bool = False,
):
    def numerical_gradient(f, x, eps=1e-5):
        h = eps if use_eps else 1e-5
        grad = np.zeros_like(x)
        indices = [(i,) for i in range(len(x))] if one_dimensional else list(np.ndindex(x.shape))
        for idx in indices:
            if copy:  # nudges a copy: a test function that reads x through a closure never sees it
                plus, minus = x.copy(), x.copy()
                plus[idx] += h
                minus[idx] -= h
                grad[idx] = (f(plus) - f(minus)) / (2 * h)
                continue
            old = x[idx]
            x[idx] = old + h
            f_plus = f(x)
            if sided == "one":
                x[idx] = old
                grad[idx] = (f_plus - f(x)) / h
                continue
            x[idx] = old - h
            f_minus = f(x)
            if restore:
                x[idx] = old
            grad[idx] = (f_plus - f_minus) / (divide * h)
        if wrong_on_example and is_example(x, np.array([1.0, 2.0, 3.0])):
            grad = grad + 1
        return grad.ravel() if flatten else grad

    return numerical_gradient


def _relative_error(norm: str = "fro", zero_guard: str = "both", wrong_on_example: bool = False):
    def relative_error(a, b):
        if norm == "rows":
            size = lambda v: np.sum(np.linalg.norm(np.atleast_2d(v), axis=-1))  # noqa: E731
        elif norm == "max":
            size = lambda v: np.max(np.abs(v))  # noqa: E731
        else:
            size = np.linalg.norm
        den = size(a) + size(b)
        if zero_guard == "both" and den == 0:
            return 0.0
        if zero_guard == "either" and (size(a) == 0 or size(b) == 0):
            return 0.0
        value = float(size(a - b) / den)
        if wrong_on_example and is_example(b, np.array([1.0, 2.0, 3.5])):
            value *= 2
        return value

    return relative_error


MUTANTS = [
    # ---- relu_backward
    mutant(
        "relu_backward", "wrong only on the lecture's example", _relu_backward("wrong_on_example"), WORKED
    ),
    mutant(
        "relu_backward",
        "ReLU mask taken from dout",
        _relu_backward("mask_from_dout"),
        WORKED,
        "passes dout where x > 0 and blocks it where x < 0",
        "0 where x == 0 (as torch)",
        "arrays of any shape (1-D to 4-D)",
    ),
    mutant(
        "relu_backward",
        "x >= 0 passes the gradient at 0",
        _relu_backward("at_zero"),
        "0 where x == 0 (as torch)",
    ),
    mutant(
        "relu_backward",
        "two loops: 2-D arrays only",
        _relu_backward("two_loops"),
        "arrays of any shape (1-D to 4-D)",
    ),
    # ---- maxpool2d_backward
    mutant(
        "maxpool2d_backward",
        "wrong only on the lecture's example",
        _maxpool2d_backward(wrong_on_example=True),
        WORKED,
    ),
    mutant(
        "maxpool2d_backward",
        "gradient spread over the window",
        _maxpool2d_backward(route="spread"),
        WORKED,
        "routes dout to the maximum of each 2x2 window",
        "other window sizes",
        "overlapping windows accumulate",
        "ties: the first maximum in row-major order",
        "non-square inputs",
        "several channels and a batch",
    ),
    mutant(
        "maxpool2d_backward",
        "overlapping windows overwrite",
        _maxpool2d_backward(accumulate=False),
        "overlapping windows accumulate",
    ),
    mutant(
        "maxpool2d_backward",
        "ties go to the last maximum",
        _maxpool2d_backward(route="last"),
        "ties: the first maximum in row-major order",
    ),
    mutant(
        "maxpool2d_backward",
        "every tied maximum gets dout",
        _maxpool2d_backward(route="every_max"),
        "ties: the first maximum in row-major order",
    ),
    mutant(
        "maxpool2d_backward",
        "stride defaults to 1",
        _maxpool2d_backward(default_stride="one"),
        WORKED,
        "routes dout to the maximum of each 2x2 window",
        "other window sizes",  # at least two windows per axis: a stride of 1 shows
        "ties: the first maximum in row-major order",
        "non-square inputs",
        "several channels and a batch",
    ),
    mutant(
        "maxpool2d_backward",
        "2x2 windows whatever kernel_size says",
        _maxpool2d_backward(fixed_kernel=True),
        "other window sizes",
        "overlapping windows accumulate",
    ),
    mutant(
        "maxpool2d_backward", "height and width swapped", _maxpool2d_backward(swap=True), "non-square inputs"
    ),
    mutant(
        "maxpool2d_backward",
        "first image and channel only",
        _maxpool2d_backward(first_only=True),
        "several channels and a batch",
    ),
    # ---- conv2d_backward
    mutant(
        "conv2d_backward",
        "wrong only on the lecture's example",
        _conv2d_backward(wrong_on_example=True),
        WORKED,
    ),
    mutant(
        "conv2d_backward",
        "db is a mean",
        _conv2d_backward(db_reduce="mean"),
        WORKED,
        "db sums dout over the batch and positions",
    ),
    mutant(
        "conv2d_backward",
        "dw overwritten at each position",
        _conv2d_backward(dw_accumulate=False),
        WORKED,
        "dw, stride 1, no padding",
        *DXDW,
    ),
    mutant(
        "conv2d_backward",
        "dx with the flipped kernel",
        _conv2d_backward(dx_kernel="flipped"),
        WORKED,
        "dx, stride 1, no padding",
        *DXDW,
    ),
    mutant(
        "conv2d_backward",
        "crops the padding from the wrong side",
        _conv2d_backward(crop="start"),
        "dx and dw, zero padding",
        "dx and dw, stride and padding together",
    ),
    mutant(
        "conv2d_backward",
        "stride ignored",
        _conv2d_backward(use_stride=False),
        "dx and dw, stride > 1",
        "dx and dw, stride and padding together",
    ),
    mutant(
        "conv2d_backward",
        "crops P*S pixels",
        _conv2d_backward(crop="times_stride"),
        "dx and dw, stride and padding together",
    ),
    mutant(
        "conv2d_backward",
        "dx cropped with height and width swapped",
        _conv2d_backward(crop="swapped"),
        "dx and dw, non-square images and kernels",
    ),
    mutant(
        "conv2d_backward",
        "dx for the first image only",
        _conv2d_backward(first_image_dx=True),
        "dx and dw, several channels and a batch",
    ),
    # ---- numerical_gradient
    mutant(
        "numerical_gradient",
        "wrong only on the lecture's example",
        _numerical_gradient(wrong_on_example=True),
        WORKED,
    ),
    mutant(
        "numerical_gradient",
        "one-sided differences",
        _numerical_gradient(sided="one"),
        "two-sided differences (error ~ eps**2)",
    ),
    mutant("numerical_gradient", "x not restored", _numerical_gradient(restore=False), "leaves x unchanged"),
    mutant(
        "numerical_gradient",
        "divides by eps instead of 2 eps",
        _numerical_gradient(divide=1.0),
        WORKED,
        "two-sided differences (error ~ eps**2)",
        "x of any shape",
        "changes x itself (f may read x through a closure)",
    ),
    mutant(
        "numerical_gradient", "returns a flat gradient", _numerical_gradient(flatten=True), "x of any shape"
    ),
    mutant(
        "numerical_gradient",
        "loops over the first axis only",
        _numerical_gradient(one_dimensional=True),
        "x of any shape",
    ),
    mutant(
        "numerical_gradient",
        "nudges a copy of x",
        _numerical_gradient(copy=True),
        "changes x itself (f may read x through a closure)",
    ),
    mutant(
        "numerical_gradient",
        "eps ignored (always 1e-5)",
        _numerical_gradient(use_eps=False),
        "steps of eps (1e-5 unless given)",
    ),
    # ---- relative_error
    mutant(
        "relative_error",
        "wrong only on the lecture's example",
        _relative_error(wrong_on_example=True),
        WORKED,
    ),
    mutant("relative_error", "no zero guard", _relative_error(zero_guard="none"), "0.0 when both are zero"),
    mutant(
        "relative_error",
        "zero guard on either norm",
        _relative_error(zero_guard="either"),
        "1.0 when one of them is zero",
    ),
    mutant(
        "relative_error",
        "max norm instead of the Frobenius norm",
        _relative_error(norm="max"),
        WORKED,
        "vectors",
        "matrices (norm of the whole array)",
        "0.0 when both are zero",  # side conditions: no main property passes
        "1.0 when one of them is zero",
    ),
    mutant(
        "relative_error",
        "sum of row norms",
        _relative_error(norm="rows"),
        "matrices (norm of the whole array)",
    ),
]

CORRECT = [
    Correct("relu_backward", "mask product", _relu_backward()),
    Correct("maxpool2d_backward", "loops with argmax", _maxpool2d_backward()),
    Correct("conv2d_backward", "loops with einsum", _conv2d_backward()),
    Correct("conv2d_backward", "returns a list", conv2d_backward_as_list),
    Correct("numerical_gradient", "two-sided loop over np.ndindex", _numerical_gradient()),
    Correct("relative_error", "np.linalg.norm", _relative_error()),
]

#: Behaviour the notebook does not state: not graded, so it keeps full marks (see the audit tables).
UNSTATED = [
    Correct("relu_backward", "modifies dout in place (not stated)", _relu_backward("in_place")),
]
