"""backprop_conv_pool: relu_backward, maxpool2d_backward, conv2d_backward, numerical_gradient,
relative_error as students write them."""

from __future__ import annotations

import numpy as np

from tests.autograder.mutants import Correct, mutant

WORKED = "matches the lecture's worked example"


def relu_backward(dout, x):
    return dout * (x > 0)


def relu_backward_mask_from_dout(dout, x):
    return dout * (dout > 0)


def relu_backward_in_place(dout, x):
    dout[x <= 0] = 0
    return dout


def _maxpool2d_backward(route: str = "argmax", accumulate: bool = True):
    def maxpool2d_backward(dout, x, kernel_size=2, stride=None):
        k = kernel_size
        s = k if stride is None else stride
        dx = np.zeros_like(x)
        n, c, ho, wo = dout.shape
        for b in range(n):
            for ch in range(c):
                for i in range(ho):
                    for j in range(wo):
                        window = x[b, ch, i * s : i * s + k, j * s : j * s + k]
                        g = dout[b, ch, i, j]
                        if route == "spread":
                            dx[b, ch, i * s : i * s + k, j * s : j * s + k] += g / (k * k)
                            continue
                        u, v = np.unravel_index(np.argmax(window), window.shape)
                        if accumulate:
                            dx[b, ch, i * s + u, j * s + v] += g
                        else:
                            dx[b, ch, i * s + u, j * s + v] = g
        return dx

    return maxpool2d_backward


def _conv2d_backward(db_reduce: str = "sum", dx_kernel: str = "w", use_stride: bool = True):
    def conv2d_backward(dout, x, w, stride=1, padding=0):
        s = stride if use_stride else 1
        xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
        dxp = np.zeros_like(xp)
        dw = np.zeros_like(w)
        _, _, kh, kw = w.shape
        wk = w[:, :, ::-1, ::-1] if dx_kernel == "flipped" else w
        for i in range(dout.shape[2]):
            for j in range(dout.shape[3]):
                field = xp[:, :, i * s : i * s + kh, j * s : j * s + kw]  # (N, C_in, KH, KW)
                g = dout[:, :, i, j]  # (N, C_out)
                dw += np.einsum("no,nchw->ochw", g, field)
                dxp[:, :, i * s : i * s + kh, j * s : j * s + kw] += np.einsum("no,ochw->nchw", g, wk)
        dx = dxp[:, :, padding : padding + x.shape[2], padding : padding + x.shape[3]]
        db = dout.sum(axis=(0, 2, 3)) if db_reduce == "sum" else dout.mean(axis=(0, 2, 3))
        return dx, dw, db

    return conv2d_backward


def conv2d_backward_as_list(dout, x, w, stride=1, padding=0):
    return list(_conv2d_backward()(dout, x, w, stride, padding))


def _numerical_gradient(sided: str = "two", restore: bool = True, divide: float = 2.0, flatten: bool = False):
    def numerical_gradient(f, x, eps=1e-5):
        grad = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            old = x[idx]
            x[idx] = old + eps
            f_plus = f(x)
            if sided == "one":
                x[idx] = old
                grad[idx] = (f_plus - f(x)) / eps
                continue
            x[idx] = old - eps
            f_minus = f(x)
            if restore:
                x[idx] = old
            grad[idx] = (f_plus - f_minus) / (divide * eps)
        return grad.ravel() if flatten else grad

    return numerical_gradient


def _relative_error(norm: str = "fro", zero_guard: bool = True, denominator: str = "both"):
    def relative_error(a, b):
        size = np.linalg.norm if norm == "fro" else (lambda v: np.max(np.abs(v)))
        den = size(a) + size(b) if denominator == "both" else size(a)
        if zero_guard and den == 0:
            return 0.0
        return size(a - b) / den

    return relative_error


MUTANTS = [
    mutant(
        "relu_backward",
        "ReLU mask taken from dout",
        relu_backward_mask_from_dout,
        WORKED,
        "passes dout where x > 0 and blocks it elsewhere",
    ),
    mutant("relu_backward", "modifies dout in place", relu_backward_in_place, "does not modify its inputs"),
    mutant(
        "maxpool2d_backward",
        "gradient spread over the window",
        _maxpool2d_backward(route="spread"),
        WORKED,
        "routes dout to the maximum of each 2x2 window",
        "other window sizes",
        "overlapping windows accumulate",
        "several channels and a batch",
    ),
    mutant(
        "maxpool2d_backward",
        "overlapping windows overwrite",
        _maxpool2d_backward(accumulate=False),
        "overlapping windows accumulate",
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
        "dx with the flipped kernel",
        _conv2d_backward(dx_kernel="flipped"),
        WORKED,
        "dx, stride 1, no padding",
        "dx and dw, zero padding",
        "dx and dw, stride > 1",
        "dx and dw, several channels and a batch",
    ),
    mutant("conv2d_backward", "stride ignored", _conv2d_backward(use_stride=False), "dx and dw, stride > 1"),
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
    ),
    mutant(
        "numerical_gradient", "returns a flat gradient", _numerical_gradient(flatten=True), "x of any shape"
    ),
    mutant("relative_error", "no zero guard", _relative_error(zero_guard=False), "0.0 when both are zero"),
    mutant(
        "relative_error",
        "max norm instead of the Frobenius norm",
        _relative_error(norm="max"),
        WORKED,
        "vectors",
        "matrices (norm of the whole array)",
    ),
]

CORRECT = [
    Correct("relu_backward", "mask product", relu_backward),
    Correct("maxpool2d_backward", "loops with argmax", _maxpool2d_backward()),
    Correct("conv2d_backward", "loops with einsum", _conv2d_backward()),
    Correct("conv2d_backward", "returns a list", conv2d_backward_as_list),
    Correct("numerical_gradient", "two-sided loop over np.ndindex", _numerical_gradient()),
    Correct("relative_error", "np.linalg.norm", _relative_error()),
]
