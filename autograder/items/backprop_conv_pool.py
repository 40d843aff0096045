"""Assignment 3, backprop_conv_pool: relu_backward, maxpool2d_backward, conv2d_backward,
numerical_gradient, relative_error."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from autograder import probes
from autograder import strategies as S
from autograder.compare import Tolerance
from autograder.items.base import Call, Item, Prop, Requirement, array
from autograder.items.convolution_by_hand import ONE_CONV, worked_pool
from autograder.probes import GRADIENT_FUNCTIONS
from course_lib import gradcheck, layers, pooling
from course_lib import worked_examples as W

#: Place in the course (teaching order).
POSITION = 3


@st.composite
def _relu_backward_cases(draw: st.DrawFn, min_dims: int = 2, max_dims: int = 2, zeros: bool = False) -> Call:
    """relu_backward calls: x without zeros (or, with ``zeros``, with some exact zeros), dout nonzero."""
    x = draw(S.any_shape_arrays(min_dims, max_dims, nonzero=True))
    if zeros:
        rng = np.random.default_rng(draw(S.SEEDS))
        x = np.where(rng.random(x.shape) < 0.5, 0.0, x)
        x.flat[rng.integers(x.size)] = 0.0  # at least one
    return Call((draw(S.seeded_arrays(x.shape, nonzero=True)), x))


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
        Prop("passes dout where x > 0 and blocks it where x < 0", 1, _relu_backward_cases()),
        Prop("0 where x == 0 (as torch)", 0.5, _relu_backward_cases(zeros=True)),
        Prop("arrays of any shape (1-D to 4-D)", 0.5, _relu_backward_cases(1, 4)),
    ),
)


def _pool_backward_call(case: S.PoolCase) -> Call:
    return Call((case.dout, case.x), case.kwargs())


def _pool_backward_cases(**kw: Any) -> st.SearchStrategy[Call]:
    """maxpool2d_backward calls; one square image and channel, default stride, unless overridden."""
    return S.pool_cases(**{"batch": 1, "channels": 1, "square": True, **kw}, seeded=True).map(
        _pool_backward_call
    )


@st.composite
def _tied_pool_cases(draw: st.DrawFn) -> Call:
    """2x2 windows, stride 2, on an image of 0s and 1s: most windows hold their maximum twice or more."""
    side = 2 * draw(st.integers(1, 2))
    x = np.random.default_rng(draw(S.SEEDS)).integers(0, 2, size=(1, 1, side, side)).astype(np.float64)
    dout = draw(S.seeded_arrays((1, 1, side // 2, side // 2), nonzero=True))
    return Call((dout, x), {"kernel_size": 2})


MAXPOOL2D_BACKWARD = Item(
    "maxpool2d_backward",
    points=5,
    reference=pooling.maxpool2d_backward,
    params=("dout", "x"),
    properties=(
        Prop("matches the lecture's worked example", 0.75, examples=(worked_pool(with_dout=True),)),
        Prop("routes dout to the maximum of each 2x2 window", 1, _pool_backward_cases(kernel=2)),
        Prop(
            "other window sizes",
            0.5,
            _pool_backward_cases(kernel=st.sampled_from([1, 3]), extra_size=st.integers(3, 4)),
        ),
        Prop(
            "overlapping windows accumulate",
            1,
            _pool_backward_cases(kernel=st.integers(2, 3), stride=1, extra_size=st.integers(1, 3)),
        ),
        Prop("ties: the first maximum in row-major order", 0.5, _tied_pool_cases()),
        Prop(
            "non-square inputs",
            0.5,
            _pool_backward_cases(kernel=2, square=False).filter(
                lambda c: c.args[1].shape[2] != c.args[1].shape[3]
            ),
        ),
        Prop(
            "several channels and a batch",
            0.75,
            _pool_backward_cases(kernel=2, batch=st.integers(1, 2), channels=st.integers(2, 3)),
        ),
    ),
)


def _conv_backward_call(case: S.ConvCase) -> Call:
    return Call((case.dout, case.x, case.w), case.kwargs())


def _conv_backward_cases(**kw: Any) -> st.SearchStrategy[Call]:
    """conv2d_backward calls: ``ONE_CONV`` unless overridden."""
    return S.conv_cases(**{**ONE_CONV, **kw}).map(_conv_backward_call)


def _not_square(call: Call) -> bool:
    return any(a.shape[-1] != a.shape[-2] for a in call.args[1:3])


def _worked_conv_backward() -> Call:
    x = array(W.VERTICAL_EDGE.image)[None, None]  # (1, 1, 5, 5)
    w = array(W.VERTICAL_EDGE.kernel)[None, None]  # (1, 1, 3, 3)
    dout = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # (1, 1, 3, 3)
    return Call((dout, x, w), {"stride": 1, "padding": 0})


_DX_DW = ("dx", "dw")
#: The conv2d_backward properties that compare dx and dw.
_DXDW_PROPS = (
    "dx and dw, zero padding",
    "dx and dw, stride > 1",
    "dx and dw, stride and padding together",
    "dx and dw, non-square images and kernels",
    "dx and dw, several channels and a batch",
)

CONV2D_BACKWARD = Item(
    "conv2d_backward",
    points=6,
    reference=layers.conv2d_backward,
    params=("dout", "x", "w"),
    outputs=("dx", "dw", "db"),
    properties=(
        Prop("matches the lecture's worked example", 0.75, examples=(_worked_conv_backward(),)),
        Prop(
            "db sums dout over the batch and positions",
            0.5,
            _conv_backward_cases(out_channels=st.integers(1, 3)),
            keys=("db",),
        ),
        Prop("dw, stride 1, no padding", 0.75, _conv_backward_cases(), keys=("dw",)),
        Prop("dx, stride 1, no padding", 0.75, _conv_backward_cases(), keys=("dx",)),
        Prop("dx and dw, zero padding", 0.75, _conv_backward_cases(padding=st.integers(1, 2)), keys=_DX_DW),
        Prop("dx and dw, stride > 1", 0.75, _conv_backward_cases(stride=st.integers(2, 3)), keys=_DX_DW),
        Prop(
            "dx and dw, stride and padding together",
            0.5,
            _conv_backward_cases(stride=st.integers(2, 3), padding=st.integers(1, 2)),
            keys=_DX_DW,
        ),
        Prop(
            "dx and dw, non-square images and kernels",
            0.5,
            _conv_backward_cases(square=False).filter(_not_square),
            keys=_DX_DW,
        ),
        Prop(
            "dx and dw, several channels and a batch",
            0.75,
            _conv_backward_cases(
                batch=st.integers(1, 2), in_channels=st.integers(2, 3), out_channels=st.integers(1, 3)
            ),
            keys=_DX_DW,
        ),
    ),
)


def _gradient_reference(function: str, x: np.ndarray, eps: float | None = None) -> dict[str, Any]:
    """What a correct ``numerical_gradient`` gives for the named test function through the same probe:
    the gradient, x unchanged, and perturbations of exactly eps."""
    return probes.probe_numerical_gradient(gradcheck.numerical_gradient, function, np.array(x), eps)


def _describe_gradient_call(call: Call) -> str:
    function, x, *rest = call.args
    eps = f", eps={rest[0]!r}" if rest and rest[0] is not None else ""
    return f"numerical_gradient(f={GRADIENT_FUNCTIONS[function][0]}, {S.describe_array('x', x)}{eps})"


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
            0.75,
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
            0.5,
            _gradient_cases("sum_sin", min_dims=2, max_dims=3),
            keys=("grad",),
            tol=_FIRST_ORDER,
        ),
        Prop(
            "changes x itself (f may read x through a closure)",
            0.5,
            _gradient_cases("closure_sum_squares"),
            keys=("grad",),
            tol=_FIRST_ORDER,
        ),
        Prop(
            "steps of eps (1e-5 unless given)",
            0.5,
            st.tuples(S.any_shape_arrays(1, 1, max_side=3), st.sampled_from([None, 1e-3, 1e-2])).map(
                lambda a: Call(("sum_squares", a[0], a[1]))
            ),
            keys=("steps",),
        ),
        Prop(
            "leaves x unchanged",
            0.75,
            _gradient_cases("sum_squares"),
            keys=("x",),
            tol=Tolerance(0.0, 0.0),
            side=True,
        ),
    ),
)


def _b_not_zero(ab: tuple[np.ndarray, np.ndarray]) -> bool:
    """The formula's cases (neither a nor b zero: those are properties of their own)."""
    return bool(np.any(ab[1]))


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
        Prop("vectors", 1, S.array_pairs(1, 1).filter(_b_not_zero).map(lambda ab: Call(ab))),
        Prop(
            "matrices (norm of the whole array)",
            0.5,
            S.array_pairs(2, 2).filter(_b_not_zero).map(lambda ab: Call(ab)),
        ),
        Prop(
            "0.0 when both are zero",
            0.5,
            st.integers(1, 4).map(lambda n: Call((np.zeros(n), np.zeros(n)))),
            side=True,
        ),
        Prop(
            "1.0 when one of them is zero",
            0.5,
            S.any_shape_arrays(1, 1, nonzero=True).map(lambda a: Call((a, np.zeros_like(a)))),
            side=True,
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

R = Requirement

#: The requirements audit: each sentence of the released notebook that states behaviour.
AUDIT: tuple[Requirement, ...] = (
    # ---- relu_backward
    R(
        "relu_backward",
        "dout = np.arange(16.0).reshape(4, 4) - 7.5",
        "matches the lecture's worked example",
        "wrong only on the lecture's example",
    ),
    R(
        "relu_backward",
        r"\frac{\partial L}{\partial x} = \frac{\partial L}{\partial y} \odot \mathbb{1}[x > 0]",
        "passes dout where x > 0 and blocks it where x < 0",
        "ReLU mask taken from dout",
        also=(
            "matches the lecture's worked example",
            "0 where x == 0 (as torch)",
            "arrays of any shape (1-D to 4-D)",
        ),
        note="the rule itself: every value property applies it",
    ),
    R(
        "relu_backward",
        "At $x_i = 0$ the function has a kink and no derivative; like PyTorch we use 0.",
        "0 where x == 0 (as torch)",
        "x >= 0 passes the gradient at 0",
    ),
    R(
        "relu_backward",
        r"Notation: `dx` means $\partial L/\partial x$, always with the shape of `x`.",
        "arrays of any shape (1-D to 4-D)",
        "two loops: 2-D arrays only",
    ),
    R(
        "relu_backward",
        "",
        None,
        note="does not modify its inputs: not stated in the notebook, so not graded (it was 0.5 points "
        "before the audit); wording proposed in the audit report",
    ),
    # ---- maxpool2d_backward
    R(
        "maxpool2d_backward",
        r"\frac{\partial L}{\partial x} = \begin{pmatrix} 0&1&2&0\\ 0&0&0&0\\ 3&0&4&0\\ 0&0&0&0 "
        r"\end{pmatrix}",
        "matches the lecture's worked example",
        "wrong only on the lecture's example",
    ),
    R(
        "maxpool2d_backward",
        "its gradient flows back to that input only; the other inputs of the window did not influence the "
        "output and get zero",
        "routes dout to the maximum of each 2x2 window",
        "gradient spread over the window",
        also=(
            "matches the lecture's worked example",
            "other window sizes",
            "overlapping windows accumulate",
            "ties: the first maximum in row-major order",
            "non-square inputs",
            "several channels and a batch",
        ),
        note="the rule itself: every value property applies it",
    ),
    R(
        "maxpool2d_backward",
        "`stride=None` means `stride = kernel_size`",
        "routes dout to the maximum of each 2x2 window",
        "stride defaults to 1",
        also=(
            "matches the lecture's worked example",
            "other window sizes",
            "ties: the first maximum in row-major order",
            "non-square inputs",
            "several channels and a batch",
        ),
        note="every property that leaves the stride out relies on the default",
    ),
    R(
        "maxpool2d_backward",
        "maxpool2d_backward(dout, x, kernel_size=2, stride=None)",
        "other window sizes",
        "2x2 windows whatever kernel_size says",
        also=("overlapping windows accumulate",),
    ),
    R(
        "maxpool2d_backward",
        "an input that is the maximum of several windows collects all their gradients",
        "overlapping windows accumulate",
        "overlapping windows overwrite",
    ),
    R(
        "maxpool2d_backward",
        "If a window holds the same maximum twice, PyTorch routes the gradient to the first one in row-major "
        "order, and so do we",
        "ties: the first maximum in row-major order",
        "ties go to the last maximum",
    ),
    R(
        "maxpool2d_backward",
        "dout (N, C, H_out, W_out), x (N, C, H, W) -> dx (N, C, H, W)",
        "non-square inputs",
        "height and width swapped",
    ),
    R(
        "maxpool2d_backward",
        "find the argmax of the window of every image and channel at once",
        "several channels and a batch",
        "first image and channel only",
    ),
    # ---- conv2d_backward
    R(
        "conv2d_backward",
        "on the lecture's example, expected [45] = 1 + 2 + ... + 9",
        "matches the lecture's worked example",
        "wrong only on the lecture's example",
    ),
    R(
        "conv2d_backward",
        r"\frac{\partial L}{\partial b_o} = \sum_{n,i,j} \frac{\partial L}{\partial y_{n,o,i,j}},",
        "db sums dout over the batch and positions",
        "db is a mean",
        also=("matches the lecture's worked example",),
    ),
    R(
        "conv2d_backward",
        r"\frac{\partial L}{\partial w_{o,c,u,v}} = \sum_{n,i,j} \frac{\partial L}{\partial y_{n,o,i,j}}\;",
        "dw, stride 1, no padding",
        "dw overwritten at each position",
        also=("matches the lecture's worked example", *_DXDW_PROPS),
        note="the properties of padding, stride and shapes check dw too",
    ),
    R(
        "conv2d_backward",
        r"For stride 1, $\partial L / \partial x$ is a *full* convolution of `dout` with the kernel "
        "flipped by 180°",
        "dx, stride 1, no padding",
        "dx with the flipped kernel",
        also=("matches the lecture's worked example", *_DXDW_PROPS),
        note="the properties of padding, stride and shapes check dx too",
    ),
    R(
        "conv2d_backward",
        "and `dx` is `dx_pad` with the padding cropped off",
        "dx and dw, zero padding",
        "crops the padding from the wrong side",
        also=("dx and dw, stride and padding together",),
    ),
    R(
        "conv2d_backward",
        "With stride $S$ this scatter is the **transposed convolution**",
        "dx and dw, stride > 1",
        "stride ignored",
        also=("dx and dw, stride and padding together",),
    ),
    R(
        "conv2d_backward",
        "dxp[n,c,iS+u,jS+v] += sum_o dout[n,o,i,j] * w[o,c,u,v], and dx = dxp without the padding.",
        "dx and dw, stride and padding together",
        "crops P*S pixels",
    ),
    R(
        "conv2d_backward",
        "returning `(dx, dw, db)` with the shapes of `x`, `w` and `(C_out,)`",
        "dx and dw, non-square images and kernels",
        "dx cropped with height and width swapped",
    ),
    R(
        "conv2d_backward",
        "given dout = dL/dy (N, C_out, H_out, W_out)",
        "dx and dw, several channels and a batch",
        "dx for the first image only",
    ),
    # ---- numerical_gradient
    R(
        "numerical_gradient",
        "got = numerical_gradient(lambda z: np.sum(z ** 2), np.array([1.0, 2.0, 3.0]))",
        "matches the lecture's worked example",
        "wrong only on the lecture's example",
    ),
    R(
        "numerical_gradient",
        r"This *centred* difference has error $O(\varepsilon^2)$",
        "two-sided differences (error ~ eps**2)",
        "one-sided differences",
    ),
    R(
        "numerical_gradient",
        "change one entry of `x` at a time **in place**, call `f(x)`",
        "x of any shape",
        "loops over the first axis only",
        note="one entry at a time, whatever the shape of x",
    ),
    R(
        "numerical_gradient",
        "(test functions may read `x` through a closure)",
        "changes x itself (f may read x through a closure)",
        "nudges a copy of x",
    ),
    R(
        "numerical_gradient",
        "Write `numerical_gradient(f, x, eps=1e-5)`",
        "steps of eps (1e-5 unless given)",
        "eps ignored (always 1e-5)",
    ),
    R(
        "numerical_gradient",
        "and put each entry back, so that `x` is unchanged at the end",
        "leaves x unchanged",
        "x not restored",
    ),
    # ---- relative_error
    R(
        "relative_error",
        "0.5 / (np.sqrt(14) + np.sqrt(17.25))",
        "matches the lecture's worked example",
        "wrong only on the lecture's example",
    ),
    R(
        "relative_error",
        "||a - b|| / (||a|| + ||b||) with Euclidean (Frobenius) norms",
        "vectors",
        "max norm instead of the Frobenius norm",
        also=(
            "matches the lecture's worked example",
            "matrices (norm of the whole array)",
            "0.0 when both are zero",
            "1.0 when one of them is zero",
        ),
        note="every value property computes the norm; the side conditions then earn nothing",
    ),
    R(
        "relative_error",
        "(Frobenius) norms",
        "matrices (norm of the whole array)",
        "sum of row norms",
    ),
    R(
        "relative_error",
        "0.0 when both are zero.",
        "0.0 when both are zero",
        "no zero guard",
    ),
    R(
        "relative_error",
        r"\mathrm{rel}(a, b) = \frac{\lVert a - b \rVert}{\lVert a \rVert + \lVert b \rVert}",
        "1.0 when one of them is zero",
        "zero guard on either norm",
    ),
    R(
        "relative_error",
        "def relative_error(a: np.ndarray, b: np.ndarray) -> float:",
        None,
        note="the return type is not graded: a numpy float or a 0-d array is the same number",
    ),
)
