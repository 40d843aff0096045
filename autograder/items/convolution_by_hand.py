"""Assignment 2, convolution_by_hand: pad2d, conv2d_single, conv2d, relu, maxpool2d."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from autograder import strategies as S
from autograder.items.base import Call, Item, Prop, Requirement, array, keeps_dtype
from course_lib import conv, layers, pooling
from course_lib import worked_examples as W

#: Place in the course (teaching order).
POSITION = 2


@st.composite
def _pad_cases(draw: st.DrawFn, lead_dims: int = 0, square: bool = True, padding: int | None = None) -> Call:
    """pad2d calls on float64 arrays: ``lead_dims`` leading axes of 1..2, a square or non-square
    (H, W), ``padding`` 1..3 unless given."""
    lead = tuple(draw(st.integers(1, 2)) for _ in range(lead_dims))
    h = draw(st.integers(1, 4))
    w = h if square else h + draw(st.sampled_from([-1, 1, 2]))
    w = w if w >= 1 else h + 1
    pad = draw(st.integers(1, 3)) if padding is None else padding
    return Call((draw(S.seeded_arrays((*lead, h, w))), pad))


@st.composite
def _pad_dtype_cases(draw: st.DrawFn) -> Call:
    """pad2d calls on float32 and int64 images (the result keeps the dtype)."""
    h = draw(st.integers(1, 3))
    x = draw(S.seeded_arrays((h, h), step=1.0)).astype(draw(st.sampled_from(["float32", "int64"])))
    return Call((x, draw(st.integers(1, 2))))


PAD2D = Item(
    "pad2d",
    points=2,
    reference=conv.pad2d,
    params=("x", "padding"),
    properties=(
        Prop(
            "matches the lecture's worked example", 0.25, examples=(Call((array(W.CHECKERBOARD.image), 1)),)
        ),
        Prop("pads a square image on every side", 0.75, _pad_cases()),
        Prop("non-square image", 0.25, _pad_cases(square=False)),
        Prop(
            "pads only the last two axes (3-D and 4-D arrays)",
            0.25,
            st.integers(1, 2).flatmap(lambda lead: _pad_cases(lead_dims=lead)),
        ),
        Prop(
            "padding=0 returns the values unchanged",
            0.25,
            st.integers(0, 2).flatmap(lambda lead: _pad_cases(lead_dims=lead, padding=0)),
        ),
        Prop("keeps the dtype", 0.25, _pad_dtype_cases(), side=True, judge=keeps_dtype),
    ),
)


@st.composite
def _single_cases(draw: st.DrawFn, square: bool) -> Call:
    k = draw(st.integers(1, 3))
    h = k + draw(st.integers(0, 3))
    w = h if square else k + draw(st.sampled_from([i for i in range(4) if i != h - k]))
    return Call((draw(S.seeded_arrays((h, w))), draw(S.seeded_arrays((k, k)))))


@st.composite
def _single_too_big(draw: st.DrawFn) -> Call:
    h, w = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    k = min(h, w) + draw(st.integers(1, 2))
    return Call((draw(S.seeded_arrays((h, w))), draw(S.seeded_arrays((k, k)))), {}, "the kernel is larger")


_WORKED_CONV = tuple(Call((array(e.image), array(e.kernel))) for e in (W.CHECKERBOARD, W.VERTICAL_EDGE))

CONV2D_SINGLE = Item(
    "conv2d_single",
    points=3,
    reference=conv.conv2d_single,
    params=("image", "kernel"),
    properties=(
        Prop("matches the lecture's worked examples", 1, examples=_WORKED_CONV),
        Prop("square image (cross-correlation, no kernel flip)", 1, _single_cases(square=True)),
        Prop("non-square image", 0.5, _single_cases(square=False)),
        Prop("rejects a kernel larger than the image", 0.5, _single_too_big(), expect="raises"),
    ),
)


def conv_call(case: S.ConvCase) -> Call:
    args = (case.x, case.w) if case.b is None else (case.x, case.w, case.b)
    return Call(args, case.kwargs())


#: One square image, one channel in and out, no bias, stride 1, no padding, no dilation: each property
#: widens one thing.
ONE_CONV: dict[str, Any] = {
    "batch": 1,
    "in_channels": 1,
    "out_channels": 1,
    "bias": False,
    "square": True,
    "extra_size": st.integers(0, 3),
    "seeded": True,
}


def _conv_cases(**kw: Any) -> st.SearchStrategy[Call]:
    """conv2d calls: ``ONE_CONV`` unless overridden."""
    return S.conv_cases(**{**ONE_CONV, **kw}).map(conv_call)


def not_square(call: Call) -> bool:
    """The image (last two axes of the first array) or the kernel (of the second) is not square."""
    return any(a.shape[-1] != a.shape[-2] for a in call.args[:2])


@st.composite
def _invalid_conv(draw: st.DrawFn) -> Call:
    x = draw(S.seeded_arrays((1, draw(st.integers(1, 2)), 3, 3)))
    rule = draw(st.sampled_from(["size", "dilation", "channels"]))
    if rule == "size":
        k = draw(st.integers(4, 5))
        return Call(
            (x, draw(S.seeded_arrays((1, x.shape[1], k, k)))),
            {"stride": 1, "padding": 0},
            "the kernel is larger than the padded input",
        )
    if rule == "dilation":  # a 2x2 kernel with dilation 3 spans 4 pixels
        return Call(
            (x, draw(S.seeded_arrays((1, x.shape[1], 2, 2)))),
            {"stride": 1, "padding": 0, "dilation": 3},
            "the kernel's extent is larger than the padded input",
        )
    w = draw(S.seeded_arrays((1, x.shape[1] + 1, 2, 2)))
    return Call((x, w), {"stride": 1, "padding": 0}, "x and w have different C_in")


def _edge_batch() -> Call:
    return Call(
        (array(W.VERTICAL_EDGE.image)[None, None], array(W.VERTICAL_EDGE.kernel)[None, None]),
        {"stride": 1, "padding": 0},
    )


CONV2D = Item(
    "conv2d",
    points=7,
    reference=conv.conv2d,
    params=("x", "w", "b"),
    properties=(
        Prop("matches the lecture's worked example", 0.5, examples=(_edge_batch(),)),
        Prop("stride 1, no padding", 1, _conv_cases()),
        Prop("adds the bias", 0.5, _conv_cases(bias=True, out_channels=st.integers(1, 3))),
        Prop("zero padding", 1, _conv_cases(padding=st.integers(1, 2))),
        Prop("stride > 1", 1, _conv_cases(stride=st.integers(2, 3))),
        Prop("dilation", 1, _conv_cases(dilation=st.integers(2, 3))),
        Prop(
            "stride, padding and dilation together",
            0.5,
            _conv_cases(stride=st.integers(2, 3), padding=st.integers(1, 2), dilation=st.integers(1, 2)),
        ),
        Prop("non-square images and kernels", 0.5, _conv_cases(square=False).filter(not_square)),
        Prop(
            "several channels and a batch",
            0.5,
            _conv_cases(
                batch=st.integers(1, 2), in_channels=st.integers(2, 3), out_channels=st.integers(1, 3)
            ),
        ),
        Prop(
            "rejects mismatched channels or a kernel larger than the input",
            0.5,
            _invalid_conv(),
            expect="raises",
        ),
    ),
)

RELU = Item(
    "relu",
    points=2,
    reference=layers.relu,
    params=("x",),
    properties=(
        Prop("matches the lecture's worked example", 0.5, examples=(Call((array(W.MAXPOOL.image) - 0.5,)),)),
        Prop("zeroes the negative values", 0.5, S.any_shape_arrays(2, 2).map(lambda a: Call((a,)))),
        Prop("arrays of any shape (1-D to 4-D)", 0.5, S.any_shape_arrays().map(lambda a: Call((a,)))),
        Prop(
            "does not modify x in place",
            0.5,
            S.any_shape_arrays(2, 2, nonzero=True).map(lambda a: Call((a,))),
            expect="unchanged",
            max_examples=3,
        ),
    ),
)


def _pool_call(case: S.PoolCase) -> Call:
    return Call((case.x,), case.kwargs())


def _pool_cases(**kw: Any) -> st.SearchStrategy[Call]:
    """maxpool2d calls; one square image and channel, default stride, unless overridden."""
    return S.pool_cases(**{"batch": 1, "channels": 1, "square": True, **kw}, seeded=True).map(_pool_call)


def worked_pool(with_dout: bool = False) -> Call:
    x = array(W.MAXPOOL.image)[None, None]  # (1, 1, 4, 4)
    if with_dout:
        return Call((np.arange(1.0, 5.0).reshape(1, 1, 2, 2), x), {"kernel_size": 2})
    return Call((x,), {"kernel_size": 2})


MAXPOOL2D = Item(
    "maxpool2d",
    points=4,
    reference=pooling.maxpool2d,
    params=("x",),
    properties=(
        Prop("matches the lecture's worked example", 0.5, examples=(worked_pool(),)),
        Prop("2x2 windows, stride 2", 1, _pool_cases(kernel=2)),
        Prop(
            "other window sizes",
            0.5,
            _pool_cases(kernel=st.sampled_from([1, 3]), extra_size=st.integers(3, 4)),
        ),
        Prop(
            "explicit stride (overlapping windows)",
            0.75,
            _pool_cases(kernel=st.integers(2, 3), stride=st.integers(1, 2)),
        ),
        Prop(
            "non-square inputs",
            0.5,
            _pool_cases(kernel=2, square=False).filter(lambda c: c.args[0].shape[2] != c.args[0].shape[3]),
        ),
        Prop(
            "several channels and a batch",
            0.75,
            _pool_cases(kernel=2, batch=st.integers(1, 2), channels=st.integers(2, 3)),
        ),
    ),
)


#: The graded items, in notebook order.
GRADED: tuple[Item, ...] = (PAD2D, CONV2D_SINGLE, CONV2D, RELU, MAXPOOL2D)

R = Requirement
_NOT_STATED_UNCHANGED = (
    "not stated in the notebook for this function, so not graded (it was 0.5 points before the audit); "
    "wording proposed in the audit report"
)

#: The requirements audit: each sentence of the released notebook that states behaviour.
AUDIT: tuple[Requirement, ...] = (
    # ---- pad2d
    R(
        "pad2d",
        r"x = \begin{pmatrix} 1&0&0&0&1\\ 0&1&0&1&0",
        "matches the lecture's worked example",
        "wrong only on the lecture's image",
    ),
    R(
        "pad2d",
        r"Padding a $H \times W$ image with $P$ zeros on every side gives a $(H + 2P) \times (W + 2P)$ image "
        "with the original in the middle.",
        "pads a square image on every side",
        "pads one side only",
        also=(
            "matches the lecture's worked example",
            "non-square image",
            "pads only the last two axes (3-D and 4-D arrays)",
        ),
    ),
    R("pad2d", "(..., H, W) -> (..., H+2P, W+2P)", "non-square image", "height and width swapped"),
    R(
        "pad2d",
        "pad the **last two** axes of an array of any number of dimensions",
        "pads only the last two axes (3-D and 4-D arrays)",
        "pads every axis",
    ),
    R(
        "pad2d",
        "`padding=0` returns the values unchanged.",
        "padding=0 returns the values unchanged",
        "x[p:-p] breaks for padding=0",
    ),
    R("pad2d", "keeping its dtype", "keeps the dtype", "always returns float64"),
    R("pad2d", "", None, note="does not modify its inputs: " + _NOT_STATED_UNCHANGED),
    # ---- conv2d_single
    R(
        "conv2d_single",
        r"y = \begin{pmatrix} 0&0&6\\ 0&0&3\\ 0&0&6 \end{pmatrix}",
        "matches the lecture's worked examples",
        "wrong only on the lecture's striped image",
    ),
    R(
        "conv2d_single",
        "Strictly speaking this is **cross-correlation**",
        "square image (cross-correlation, no kernel flip)",
        "true convolution (flipped kernel)",
        also=(
            "matches the lecture's worked examples",
            "non-square image",
            "rejects a kernel larger than the image",
        ),
        note="every value property computes the cross-correlation; the side condition then earns nothing",
    ),
    R(
        "conv2d_single",
        "Output shape: $(H-K+1, W-K+1)$.",
        "non-square image",
        "output height and width swapped",
    ),
    R(
        "conv2d_single",
        "Raise a `ValueError` if the kernel is larger than the image.",
        "rejects a kernel larger than the image",
        "no size check",
    ),
    R(
        "conv2d_single",
        "with two explicit loops over the output pixels",
        None,
        note="how it is computed is not graded: a vectorised version is a correct variant",
    ),
    R("conv2d_single", "", None, note="does not modify its inputs: " + _NOT_STATED_UNCHANGED),
    # ---- conv2d
    R(
        "conv2d",
        r"y = \begin{pmatrix} 0&0&6\\ 0&0&3\\ 0&0&6 \end{pmatrix}",
        "matches the lecture's worked example",
        "wrong only on the lecture's striped image",
    ),
    R(
        "conv2d",
        r"y_{n,o,i,j} = b_o + \sum_{c=0}^{C_{in}-1} \sum_{u=0}^{K_H-1} \sum_{v=0}^{K_W-1}",
        "stride 1, no padding",
        "true convolution (flipped kernel)",
        also=(
            "matches the lecture's worked example",
            "adds the bias",
            "zero padding",
            "stride > 1",
            "dilation",
            "stride, padding and dilation together",
            "non-square images and kernels",
            "several channels and a batch",
            "rejects mismatched channels or a kernel larger than the input",
        ),
        note="the formula itself: every value property computes it",
    ),
    R("conv2d", "plus the filter's bias", "adds the bias", "bias dropped"),
    R(
        "conv2d",
        "With zero padding $P$",
        "zero padding",
        "padding on one side only",
        also=("stride, padding and dilation together",),
    ),
    R(
        "conv2d",
        "stride $S$",
        "stride > 1",
        "stride ignored",
        also=("stride, padding and dilation together",),
    ),
    R(
        "conv2d",
        "and dilation $D$",
        "dilation",
        "dilation ignored",
        also=("stride, padding and dilation together",),
    ),
    R(
        "conv2d",
        "H_out = floor((H + 2P - D(KH-1) - 1) / S) + 1.",
        "stride, padding and dilation together",
        "output size floor(a/S) + floor(2P/S)",
    ),
    R(
        "conv2d",
        "(and the same for the width)",
        "non-square images and kernels",
        "height and width swapped in the output size",
    ),
    R(
        "conv2d",
        "Each filter spans **all** input channels",
        "several channels and a batch",
        "first input channel only",
    ),
    R(
        "conv2d",
        "Raise a `ValueError` when the channel counts of `x` and `w` differ or when the kernel's extent is "
        "larger than the padded input.",
        "rejects mismatched channels or a kernel larger than the input",
        "checks K, not the dilated extent",
    ),
    R("conv2d", "", None, note="does not modify its inputs: " + _NOT_STATED_UNCHANGED),
    # ---- relu
    R(
        "relu",
        "shifted = np.array([[1, 5, 2, 0], [3, 4, 1, -1], [4, 0, 2, 1], [2, 3, -2, 0]]) - 0.5",
        "matches the lecture's worked example",
        "wrong only on the lecture's example",
    ),
    R(
        "relu",
        r"$\mathrm{relu}(z) = \max(z, 0)$",
        "zeroes the negative values",
        "absolute value",
        also=(
            "matches the lecture's worked example",
            "arrays of any shape (1-D to 4-D)",
            "does not modify x in place",
        ),
        note="every value property computes it; the side condition then earns nothing",
    ),
    R("relu", "Element-wise max(x, 0)", "arrays of any shape (1-D to 4-D)", "two loops: 2-D arrays only"),
    R("relu", "(don't modify `x` in place)", "does not modify x in place", "modifies x in place"),
    # ---- maxpool2d
    R(
        "maxpool2d",
        r"\begin{pmatrix} 5&2\\ 4&2 \end{pmatrix}",
        "matches the lecture's worked example",
        "wrong only on the lecture's example",
    ),
    R(
        "maxpool2d",
        "keeps the largest value of every window of every channel",
        "2x2 windows, stride 2",
        "average instead of max",
        also=(
            "matches the lecture's worked example",
            "other window sizes",
            "explicit stride (overlapping windows)",
            "non-square inputs",
            "several channels and a batch",
        ),
    ),
    R(
        "maxpool2d",
        "`stride=None` means `stride = kernel_size`",
        "2x2 windows, stride 2",
        "stride defaults to 1",
        also=(
            "matches the lecture's worked example",
            "other window sizes",
            "non-square inputs",
            "several channels and a batch",
        ),
        note="every property that leaves the stride out relies on the default",
    ),
    R(
        "maxpool2d",
        r"with a $K\times K$ window",
        "other window sizes",
        "2x2 windows whatever kernel_size says",
        also=("explicit stride (overlapping windows)",),
    ),
    R(
        "maxpool2d",
        "maxpool2d(x, kernel_size=2, stride=None)",
        "explicit stride (overlapping windows)",
        "stride ignored",
    ),
    R(
        "maxpool2d",
        r"the output size is floored like a convolution's: $\lfloor (H - K)/S \rfloor + 1$",
        "2x2 windows, stride 2",
        "output size rounded up",
        also=(
            "other window sizes",
            "explicit stride (overlapping windows)",
            "non-square inputs",
            "several channels and a batch",
        ),
    ),
    R("maxpool2d", "(N, C, H, W) -> (N, C, H_out, W_out)", "non-square inputs", "height and width swapped"),
    R("maxpool2d", "for\n`(N, C, H, W)` inputs", "several channels and a batch", "first channel only"),
)
