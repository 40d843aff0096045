"""Assignment 3, backprop_conv_pool: relu_backward, maxpool2d_backward, conv2d_backward,
numerical_gradient, relative_error."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from autograder import strategies as S
from autograder.compare import Tolerance
from autograder.items.base import Call, Item, Prop, array
from autograder.items.convolution_by_hand import ONE_CONV, worked_pool
from autograder.probes import GRADIENT_FUNCTIONS
from course_lib import gradcheck, layers, pooling
from course_lib import worked_examples as W

#: Place in the course (teaching order).
POSITION = 3


@st.composite
def _relu_backward_cases(draw: st.DrawFn) -> Call:
    x = draw(S.any_shape_arrays(nonzero=True))
    return Call((draw(S.seeded_arrays(x.shape)), x))


RELU_BACKWARD = Item(
    "relu_backward",
    points=3,
    reference=layers.relu_backward,
    params=("dout", "x"),
    properties=(
        Prop(
            "matches the lecture's worked example",
            1,
            examples=(Call((np.arange(16.0).reshape(4, 4) - 7.5, array(W.MAXPOOL.image) - 0.5)),),
        ),
        Prop("passes dout where x > 0 and blocks it elsewhere", 1.5, _relu_backward_cases()),
        Prop("does not modify its inputs", 0.5, _relu_backward_cases(), expect="unchanged", max_examples=3),
    ),
)


def _pool_backward_call(case: S.PoolCase) -> Call:
    return Call((case.dout, case.x), case.kwargs())


def _pool_backward_cases(**kw: Any) -> st.SearchStrategy[Call]:
    """maxpool2d_backward calls; single image and channel, default stride, unless overridden."""
    return S.pool_cases(**{"batch": 1, "channels": 1, **kw}, seeded=True).map(_pool_backward_call)


MAXPOOL2D_BACKWARD = Item(
    "maxpool2d_backward",
    points=5,
    reference=pooling.maxpool2d_backward,
    params=("dout", "x"),
    properties=(
        Prop("matches the lecture's worked example", 1, examples=(worked_pool(with_dout=True),)),
        Prop("routes dout to the maximum of each 2x2 window", 1.5, _pool_backward_cases(kernel=2)),
        Prop("other window sizes", 0.5, _pool_backward_cases(kernel=st.sampled_from([1, 3]))),
        Prop(
            "overlapping windows accumulate",
            1,
            _pool_backward_cases(kernel=st.integers(2, 3), stride=1, extra_size=st.integers(1, 3)),
        ),
        Prop(
            "several channels and a batch",
            1,
            _pool_backward_cases(batch=st.integers(1, 2), channels=st.integers(2, 3)),
        ),
    ),
)


def _conv_backward_call(case: S.ConvCase) -> Call:
    return Call((case.dout, case.x, case.w), case.kwargs())


def _conv_backward_cases(**kw: Any) -> st.SearchStrategy[Call]:
    """conv2d_backward calls: ``ONE_CONV`` unless overridden."""
    return S.conv_cases(**{**ONE_CONV, **kw}).map(_conv_backward_call)


def _worked_conv_backward() -> Call:
    x = array(W.VERTICAL_EDGE.image)[None, None]  # (1, 1, 5, 5)
    w = array(W.VERTICAL_EDGE.kernel)[None, None]  # (1, 1, 3, 3)
    dout = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # (1, 1, 3, 3)
    return Call((dout, x, w), {"stride": 1, "padding": 0})


_DX_DW = ("dx", "dw")

CONV2D_BACKWARD = Item(
    "conv2d_backward",
    points=6,
    reference=layers.conv2d_backward,
    params=("dout", "x", "w"),
    outputs=("dx", "dw", "db"),
    properties=(
        Prop("matches the lecture's worked example", 1, examples=(_worked_conv_backward(),)),
        Prop(
            "db sums dout over the batch and positions",
            0.5,
            _conv_backward_cases(out_channels=st.integers(1, 3)),
            keys=("db",),
        ),
        Prop("dw, stride 1, no padding", 1, _conv_backward_cases(), keys=("dw",)),
        Prop("dx, stride 1, no padding", 1, _conv_backward_cases(), keys=("dx",)),
        Prop("dx and dw, zero padding", 1, _conv_backward_cases(padding=st.integers(1, 2)), keys=_DX_DW),
        Prop("dx and dw, stride > 1", 1, _conv_backward_cases(stride=st.integers(2, 3)), keys=_DX_DW),
        Prop(
            "dx and dw, several channels and a batch",
            0.5,
            _conv_backward_cases(
                batch=st.integers(1, 2), in_channels=st.integers(2, 3), out_channels=st.integers(1, 3)
            ),
            keys=_DX_DW,
        ),
    ),
)


def _gradient_reference(function: str, x: np.ndarray) -> dict[str, Any]:
    """What a correct ``numerical_gradient`` gives for the named test function, and x unchanged."""
    f = GRADIENT_FUNCTIONS[function][1]
    return {"grad": gradcheck.numerical_gradient(f, np.array(x, dtype=np.float64)), "x": x}


def _describe_gradient_call(call: Call) -> str:
    function, x = call.args
    return f"numerical_gradient(f={GRADIENT_FUNCTIONS[function][0]}, {S.describe_array('x', x)})"


def _gradient_cases(function: str, min_dims: int = 1, max_dims: int = 1) -> st.SearchStrategy[Call]:
    return S.any_shape_arrays(min_dims, max_dims, max_side=4).map(lambda x: Call((function, x)))


#: Two-sided differences are exact to ~1e-10 on these functions; one-sided ones are off by ~eps.
_GRADIENT_TOLERANCE = Tolerance(atol_scale=1e-7, rtol=1e-7)
#: Where the property is about something else (the shape), first-order accuracy is enough.
_FIRST_ORDER = Tolerance(atol_scale=1e-4, rtol=1e-4)

NUMERICAL_GRADIENT = Item(
    "numerical_gradient",
    points=4,
    reference=_gradient_reference,
    probe="numerical_gradient",
    describe=_describe_gradient_call,
    properties=(
        Prop(
            "matches the lecture's worked example",
            1,
            examples=(Call(("sum_squares", np.array([1.0, 2.0, 3.0]))),),
            keys=("grad",),
            tol=_FIRST_ORDER,
        ),
        Prop(
            "two-sided differences (error ~ eps**2)",
            1,
            _gradient_cases("sum_cubes"),
            keys=("grad",),
            tol=_GRADIENT_TOLERANCE,
        ),
        Prop(
            "x of any shape",
            1,
            _gradient_cases("sum_sin", min_dims=2, max_dims=3),
            keys=("grad",),
            tol=_FIRST_ORDER,
        ),
        Prop(
            "leaves x unchanged",
            1,
            _gradient_cases("sum_squares", 1, 2),
            keys=("x",),
            tol=Tolerance(0.0, 0.0),
        ),
    ),
)

RELATIVE_ERROR = Item(
    "relative_error",
    points=3,
    reference=gradcheck.relative_error,
    params=("a", "b"),
    properties=(
        Prop(
            "matches the lecture's worked example",
            0.5,
            examples=(Call((np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.5]))),),
        ),
        Prop("vectors", 1, S.array_pairs(1, 1).map(lambda ab: Call(ab))),
        Prop("matrices (norm of the whole array)", 0.5, S.array_pairs(2, 2).map(lambda ab: Call(ab))),
        Prop(
            "0.0 when both are zero", 0.5, st.integers(1, 4).map(lambda n: Call((np.zeros(n), np.zeros(n))))
        ),
        Prop(
            "1.0 when one of them is zero",
            0.5,
            S.any_shape_arrays(1, 1, nonzero=True).map(lambda a: Call((a, np.zeros_like(a)))),
        ),
    ),
)


#: The graded items, in notebook order.
GRADED: tuple[Item, ...] = (
    RELU_BACKWARD,
    MAXPOOL2D_BACKWARD,
    CONV2D_BACKWARD,
    NUMERICAL_GRADIENT,
    RELATIVE_ERROR,
)
