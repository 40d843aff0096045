"""course_lib.conv against torch.nn.functional.conv2d (float64), np.pad and np.convolve."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.strategies import (
    ConvCase,
    InvalidCall,
    conv_cases,
    float_arrays,
    invalid_conv_calls,
    wide_conv_cases,
)
from course_lib import batching
from course_lib.conv import (
    col2im,
    conv2d,
    conv2d_naive,
    conv2d_single,
    convolve2d_true,
    im2col,
    pad2d,
    row_shift_matmul,
    width_columns,
    window_geometry,
)

pytestmark = pytest.mark.usefixtures("torch_single_thread")

RTOL, ATOL = 1e-10, 1e-12

WIDE = wide_conv_cases()


def torch_conv2d(case: ConvCase) -> np.ndarray:
    b = None if case.b is None else torch.from_numpy(case.b)
    out = F.conv2d(
        torch.from_numpy(case.x),
        torch.from_numpy(case.w),
        b,
        stride=case.stride,
        padding=case.padding,
        dilation=case.dilation,
    )
    return out.numpy()


@given(WIDE)
def test_conv2d_matches_torch(case: ConvCase) -> None:
    out = conv2d(case.x, case.w, case.b, **case.kwargs())
    np.testing.assert_allclose(out, torch_conv2d(case), rtol=RTOL, atol=ATOL)


def test_conv2d_matches_torch_on_every_kernel_stride_padding_dilation() -> None:
    """The whole grid the issue names (kernels 1..7, strides 1..3, paddings 0..3, dilations 1..3) on a
    seeded non-square batch, so no combination depends on what hypothesis happens to draw."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 19, 20))
    for k, s, p, d in itertools.product(range(1, 8), range(1, 4), range(4), range(1, 4)):
        if d * (k - 1) + 1 > 19 + 2 * p:
            continue
        w = rng.standard_normal((2, 3, k, k))
        expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), stride=s, padding=p, dilation=d).numpy()
        np.testing.assert_allclose(
            conv2d(x, w, stride=s, padding=p, dilation=d), expected, rtol=RTOL, atol=ATOL
        )


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@given(
    conv_cases(
        padding=st.sampled_from(["same", "valid"]),
        dilation=st.integers(1, 3),
        kernel=st.integers(1, 5),
    )
)
def test_conv2d_padding_modes_match_torch(case: ConvCase) -> None:
    out = conv2d(case.x, case.w, case.b, **case.kwargs())
    np.testing.assert_allclose(out, torch_conv2d(case), rtol=RTOL, atol=ATOL)


@settings(max_examples=20)
@given(WIDE)
def test_conv2d_naive_matches_torch(case: ConvCase) -> None:
    out = conv2d_naive(case.x, case.w, case.b, **case.kwargs())
    np.testing.assert_allclose(out, torch_conv2d(case), rtol=RTOL, atol=ATOL)


@given(conv_cases(batch=1, in_channels=1, out_channels=1, bias=False))
def test_conv2d_single_matches_torch(case: ConvCase) -> None:
    image, kernel = case.x[0, 0], case.w[0, 0]
    expected = F.conv2d(torch.from_numpy(case.x), torch.from_numpy(case.w)).numpy()[0, 0]
    np.testing.assert_allclose(conv2d_single(image, kernel), expected, rtol=RTOL, atol=ATOL)


def test_conv2d_single_by_hand() -> None:
    image = np.arange(12.0).reshape(3, 4)
    kernel = np.array([[1.0, 0.0], [0.0, -1.0]])  # x[i, j] - x[i+1, j+1] = -5 everywhere
    np.testing.assert_array_equal(conv2d_single(image, kernel), np.full((2, 3), -5.0))


@given(st.integers(1, 6), st.integers(0, 5), st.data())
def test_convolve2d_true_is_np_convolve_on_rows(k: int, extra: int, data: st.DataObject) -> None:
    signal = data.draw(float_arrays((k + extra,)))
    kernel = data.draw(float_arrays((k,)))
    got = convolve2d_true(signal[None, :], kernel[None, :])[0]
    np.testing.assert_allclose(got, np.convolve(signal, kernel, mode="valid"), rtol=RTOL, atol=ATOL)


def test_convolve2d_true_on_an_impulse_reproduces_the_kernel() -> None:
    kernel = np.arange(9.0).reshape(3, 3)
    impulse = np.zeros((5, 5))
    impulse[2, 2] = 1.0
    np.testing.assert_array_equal(convolve2d_true(impulse, kernel), kernel)  # convolution: the kernel
    np.testing.assert_array_equal(conv2d_single(impulse, kernel), kernel[::-1, ::-1])  # correlation: flipped


@given(st.integers(0, 3), st.data())
def test_pad2d_matches_np_pad(p: int, data: st.DataObject) -> None:
    x = data.draw(float_arrays((2, 1, 3, 4)))
    np.testing.assert_array_equal(pad2d(x, p), np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))))
    np.testing.assert_array_equal(pad2d(x[0, 0], ((1, 2), (0, 3))), np.pad(x[0, 0], ((1, 2), (0, 3))))


@given(WIDE, st.data())
def test_col2im_is_the_adjoint_of_im2col(case: ConvCase, data: st.DataObject) -> None:
    """<im2col(x), c> == <x, col2im(c)> for every x and c: col2im sums overlapping windows."""
    g = window_geometry(*case.x.shape[2:], *case.w.shape[2:], case.stride, case.padding, case.dilation)
    xp = pad2d(case.x, g.pad)
    n, c_in = case.x.shape[:2]
    cols = data.draw(float_arrays((c_in * g.kh * g.kw, n * g.out_h * g.out_w)))
    lhs = np.sum(im2col(xp, g) * cols)
    rhs = np.sum(xp * col2im(cols, xp.shape, g))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-9, atol=1e-9)


def test_im2col_columns_are_receptive_fields() -> None:
    x = np.arange(2 * 3 * 4 * 5, dtype=float).reshape(2, 3, 4, 5)
    g = window_geometry(4, 5, 2, 3, stride=2, padding=1, dilation=1)
    xp = pad2d(x, 1)
    cols = im2col(xp, g)
    column = cols[:, (1 * g.out_h + 1) * g.out_w + 2]  # sample n=1, output pixel (1, 2)
    np.testing.assert_array_equal(column, xp[1, :, 2:4, 4:7].ravel())  # rows 2*1.., columns 2*2..


@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.integers(1, 3), st.data())
def test_width_columns_entries_by_definition(n: int, c: int, kw: int, d: int, data: st.DataObject) -> None:
    """``width_columns(x, pad=p)[(c, v), (r, n, j)] == padded[n, c, r, j + v*D]``, entry by entry, where
    ``padded`` is ``x`` with ``p`` zeros added (negative amounts crop)."""
    top, bottom, left, right = (data.draw(st.integers(-1, 2)) for _ in range(4))
    h = data.draw(st.integers(max(1, -top - bottom + 1), 5))
    w = data.draw(st.integers(max(1, d * (kw - 1) + 1 - left - right, -left - right + 1), d * (kw - 1) + 5))
    x = data.draw(float_arrays((n, c, h, w)))
    cropped = x[:, :, max(0, -top) : h - max(0, -bottom), max(0, -left) : w - max(0, -right)]
    padded = pad2d(cropped, ((max(0, top), max(0, bottom)), (max(0, left), max(0, right))))
    hp, wp = padded.shape[2:]
    out_w = wp - d * (kw - 1)
    cols = width_columns(x, kw, out_w, d, ((top, bottom), (left, right))).reshape(c, kw, hp, n, out_w)
    for ci, v, r, ni, j in itertools.product(range(c), range(kw), range(hp), range(n), range(out_w)):
        assert cols[ci, v, r, ni, j] == padded[ni, ci, r, j + v * d]


@given(WIDE.filter(lambda case: case.stride == 1))
def test_row_shift_matmul_equals_the_im2col_product(case: ConvCase) -> None:
    """The KH shifted products are the one im2col product, term for term."""
    g = window_geometry(*case.x.shape[2:], *case.w.shape[2:], 1, case.padding, case.dilation)
    xp = pad2d(case.x, g.pad)
    n, (c_out, c_in, kh, kw) = case.x.shape[0], case.w.shape
    cols = width_columns(xp, kw, g.out_w, g.dilation)
    rows = row_shift_matmul(
        case.w.transpose(2, 0, 1, 3).reshape(kh, c_out, c_in * kw), cols, g.out_h, n * g.out_w, g.dilation
    )  # (C_out, Ho*N*Wo)
    one_product = case.w.reshape(c_out, -1) @ im2col(xp, g)  # (C_out, N*Ho*Wo)
    expected = one_product.reshape(c_out, n, g.out_h, g.out_w).transpose(0, 2, 1, 3).reshape(c_out, -1)
    np.testing.assert_allclose(rows, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("threads", ["1", "2", "3"])
@pytest.mark.parametrize(("stride", "padding", "dilation"), [(1, 1, 1), (1, "same", 2), (2, 2, 1)])
def test_conv2d_on_a_batch_split_across_threads(
    monkeypatch: pytest.MonkeyPatch, threads: str, stride: int, padding: int | str, dilation: int
) -> None:
    """Batches large enough for several chunks per worker: torch agrees, and a rerun is bit-identical."""
    monkeypatch.setenv("COURSE_LIB_THREADS", threads)
    monkeypatch.setattr(batching, "MIN_PARALLEL_COST", 0)  # split even these small batches
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal((11, 5, 9, 8)), rng.standard_normal((6, 5, 3, 3)), rng.standard_normal(6)
    out = conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation)
    expected = F.conv2d(*map(torch.from_numpy, (x, w, b)), stride=stride, padding=padding, dilation=dilation)
    np.testing.assert_allclose(out, expected.numpy(), rtol=RTOL, atol=ATOL)
    assert np.array_equal(out, conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation))


def test_conv2d_accepts_integer_arrays_and_returns_float64() -> None:
    out = conv2d(np.ones((1, 1, 3, 3), dtype=int), np.ones((1, 1, 2, 2), dtype=int), np.array([1]))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, np.full((1, 1, 2, 2), 5.0))


X = np.zeros((1, 2, 5, 5))
W = np.zeros((3, 2, 3, 3))


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: conv2d(X, np.zeros((1, 2, 7, 7))),
            ValueError,
            "kernel_size=7 is larger than the padded input (5 + 2*0 = 5)",
        ),
        (
            lambda: conv2d(X, np.zeros((1, 2, 7, 3))),
            ValueError,
            "kernel_size=7 is larger than the padded input height (5 + 2*0 = 5)",
        ),
        (
            lambda: conv2d(X, W, dilation=3),
            ValueError,
            "kernel_size=3 with dilation=3 spans 3*(3-1)+1 = 7, larger than the padded input (5 + 2*0 = 5)",
        ),
        (
            lambda: conv2d(X, np.zeros((3, 4, 3, 3))),
            ValueError,
            "x has C_in=2 channels (x.shape[1]) but w expects C_in=4 (w.shape[1]); they must match",
        ),
        (lambda: conv2d(X[0], W), ValueError, "x must be 4-D (N, C_in, H, W), got shape (2, 5, 5)"),
        (lambda: conv2d(X, W[0]), ValueError, "w must be 4-D (C_out, C_in, KH, KW), got shape (2, 3, 3)"),
        (
            lambda: conv2d(X, W, np.zeros(2)),
            ValueError,
            "b must have shape (3,) (one bias per output channel, C_out = w.shape[0]), got (2,)",
        ),
        (lambda: conv2d(X, W, stride=0), ValueError, "stride=0 must be >= 1"),
        (lambda: conv2d(X, W, dilation=0), ValueError, "dilation=0 must be >= 1"),
        (lambda: conv2d(X, W, padding=-1), ValueError, "padding=-1 must be >= 0 (zeros added per side)"),
        (lambda: conv2d(X, W, stride=True), TypeError, "stride must be an int, got bool True"),
        (lambda: conv2d(X, W, padding=1.0), TypeError, "padding must be an int, got float 1.0"),
        (
            lambda: conv2d(X, W, stride=2, padding="same"),
            ValueError,
            "padding='same' needs stride=1, got stride=2",
        ),
        (lambda: conv2d(X.astype(str), W), TypeError, "x must be a numeric array, got dtype <U32"),
        (lambda: conv2d_naive(X, W, stride=0), ValueError, "stride=0 must be >= 1"),
        (lambda: conv2d_naive(X[0], W), ValueError, "x must be 4-D (N, C_in, H, W)"),
        (
            lambda: conv2d_single(np.zeros((2, 2)), np.zeros((3, 3))),
            ValueError,
            "kernel_size=3 is larger than",
        ),
        (
            lambda: conv2d_single(np.zeros((1, 2, 2)), np.zeros((1, 1))),
            ValueError,
            "image must be 2-D (H, W)",
        ),
        (
            lambda: pad2d(np.zeros(3), 1),
            ValueError,
            "x must have at least 2 dimensions (..., H, W), got shape (3,)",
        ),
        (lambda: pad2d(X, -2), ValueError, "padding=-2 must be >= 0"),
    ],
)
def test_invalid_arguments_messages(call: Callable[[], object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        call()


@given(invalid_conv_calls())
def test_invalid_conv_calls_raise(case: InvalidCall) -> None:
    for fn in (conv2d, conv2d_naive):
        with pytest.raises(case.error):
            fn(*case.args, **case.kwargs)
