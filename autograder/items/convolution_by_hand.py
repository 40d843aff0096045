"""Assignment 2, convolution_by_hand: pad2d, conv2d_single, conv2d, relu, maxpool2d."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from autograder import strategies as S
from autograder.items.base import Call, Item, Prop, array
from course_lib import conv, layers, pooling
from course_lib import worked_examples as W

#: Place in the course (teaching order).
POSITION = 2


@st.composite
def _pad_cases(draw: st.DrawFn, ndim: int) -> Call:
    lead = tuple(draw(st.integers(1, 2)) for _ in range(ndim - 2))
    shape = (*lead, draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    return Call((draw(S.seeded_arrays(shape)), draw(st.integers(1, 3))))


PAD2D = Item(
    "pad2d",
    points=2,
    reference=conv.pad2d,
    params=("x", "padding"),
    properties=(
        Prop("matches the lecture's worked example", 0.5, examples=(Call((array(W.CHECKERBOARD.image), 1)),)),
        Prop("pads a 2-D image on every side", 0.5, _pad_cases(2)),
        Prop("pads only the last two axes of a batch", 0.5, _pad_cases(4)),
        Prop("does not modify its inputs", 0.5, _pad_cases(2), expect="unchanged", max_examples=3),
    ),
)


@st.composite
def _single_cases(draw: st.DrawFn, square: bool) -> Call:
    k = draw(st.integers(1, 3))
    h = k + draw(st.integers(0, 3))
    w = h if square else k + draw(st.integers(0, 3))
    return Call((draw(S.seeded_arrays((h, w))), draw(S.seeded_arrays((k, k)))))


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
        Prop(
            "does not modify its inputs", 0.5, _single_cases(square=True), expect="unchanged", max_examples=3
        ),
    ),
)


def conv_call(case: S.ConvCase) -> Call:
    args = (case.x, case.w) if case.b is None else (case.x, case.w, case.b)
    return Call(args, case.kwargs())


#: One image, one channel in and out, no bias, stride 1, no padding: each property widens one thing.
ONE_CONV: dict[str, Any] = {
    "batch": 1,
    "in_channels": 1,
    "out_channels": 1,
    "bias": False,
    "extra_size": st.integers(0, 3),
    "seeded": True,
}


def _conv_cases(**kw: Any) -> st.SearchStrategy[Call]:
    """conv2d calls: ``ONE_CONV`` unless overridden."""
    return S.conv_cases(**{**ONE_CONV, **kw}).map(conv_call)


@st.composite
def _invalid_conv(draw: st.DrawFn) -> Call:
    x = draw(S.seeded_arrays((1, draw(st.integers(1, 2)), 3, 3)))
    if draw(st.booleans()):
        k = draw(st.integers(4, 5))
        return Call(
            (x, draw(S.seeded_arrays((1, x.shape[1], k, k)))),
            {"stride": 1, "padding": 0},
            "kernel larger than the input",
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
        Prop("matches the lecture's worked example", 1, examples=(_edge_batch(),)),
        Prop("stride 1, no padding", 1, _conv_cases()),
        Prop("adds the bias", 1, _conv_cases(bias=True, out_channels=st.integers(1, 3))),
        Prop("zero padding", 1, _conv_cases(padding=st.integers(1, 2))),
        Prop("stride > 1", 1, _conv_cases(stride=st.integers(2, 3))),
        Prop(
            "several channels and a batch",
            1,
            _conv_cases(
                batch=st.integers(1, 2), in_channels=st.integers(2, 3), out_channels=st.integers(1, 3)
            ),
        ),
        Prop("rejects an invalid configuration", 0.5, _invalid_conv(), expect="raises"),
        Prop(
            "does not modify its inputs",
            0.5,
            _conv_cases(bias=True, padding=1),
            expect="unchanged",
            max_examples=3,
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
        Prop(
            "zeroes the negative values of an array of any shape",
            1,
            S.any_shape_arrays().map(lambda a: Call((a,))),
        ),
        Prop(
            "does not modify its inputs",
            0.5,
            S.any_shape_arrays(nonzero=True).map(lambda a: Call((a,))),
            expect="unchanged",
            max_examples=3,
        ),
    ),
)


def _pool_call(case: S.PoolCase) -> Call:
    return Call((case.x,), case.kwargs())


def _pool_cases(**kw: Any) -> st.SearchStrategy[Call]:
    """maxpool2d calls; single image and channel, default stride, unless overridden."""
    return S.pool_cases(**{"batch": 1, "channels": 1, **kw}, seeded=True).map(_pool_call)


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
        Prop("matches the lecture's worked example", 1, examples=(worked_pool(),)),
        Prop("2x2 windows, stride 2", 1, _pool_cases(kernel=2)),
        Prop("other window sizes", 0.5, _pool_cases(kernel=st.sampled_from([1, 3]))),
        Prop(
            "explicit stride (overlapping windows)",
            1,
            _pool_cases(kernel=st.integers(2, 3), stride=st.integers(1, 2)),
        ),
        Prop(
            "several channels and a batch",
            0.5,
            _pool_cases(batch=st.integers(1, 2), channels=st.integers(2, 3)),
        ),
    ),
)


#: The graded items, in notebook order.
GRADED: tuple[Item, ...] = (PAD2D, CONV2D_SINGLE, CONV2D, RELU, MAXPOOL2D)
