r"""Every graded item, declared once: ``ITEMS[grade_id]`` and ``ASSIGNMENTS[assignment]``.

An :class:`Item` is data: the grade_id (the function or class name the student writes), its points,
the reference that computes the expected result from a case, and a list of named properties, each
testing ONE idea with a weight (the weights add up to the points). A property's cases are the
lecture's worked examples (explicit, run first) and/or a hypothesis strategy of :class:`Call`\ s.

Points are declared here and only here: the nbgrader notebooks take each test cell's points from
``ITEMS[name].points`` and the batch grader from the source notebook built from them.

The same declaration feeds the nbgrader hidden tests (:func:`autograder.check`) and the standalone
grader (``python -m autograder grade``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from hypothesis import strategies as st

from autograder import probes
from autograder import strategies as S
from autograder.compare import DEFAULT_TOLERANCE, Tolerance
from autograder.probes import GRADIENT_FUNCTIONS
from course_lib import arithmetic, conv, gradcheck, layers, pooling
from course_lib import worked_examples as W

Expect = Literal["value", "raises", "unchanged"]


@dataclass(frozen=True, eq=False)
class Call:
    """The arguments of one call: ``student(*args, **kwargs)``; ``note`` explains an invalid call."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True, eq=False)
class Prop:
    """One property: ONE idea tested on explicit ``examples`` (first) and generated ``cases``.

    ``expect`` is ``"value"`` (the result matches the reference), ``"raises"`` (ValueError or
    TypeError) or ``"unchanged"`` (the inputs are not modified). ``keys`` restricts the comparison to
    some outputs (names from ``Item.outputs``, or keys of a probe's dict).
    """

    name: str
    weight: float
    cases: st.SearchStrategy[Call] | None = None
    examples: tuple[Call, ...] = ()
    expect: Expect = "value"
    keys: tuple[str, ...] | None = None
    tol: Tolerance = DEFAULT_TOLERANCE
    max_examples: int = 10


@dataclass(frozen=True, eq=False)
class Item:
    """A graded function or class. ``params`` names the positional arguments for the feedback,
    ``outputs`` names the values of a tuple result, ``probe`` (see :mod:`autograder.probes`) drives
    objects that cannot cross the wire, ``describe`` writes a call's arguments when the default
    (``name=value``, ``x.shape=(...)``) does not fit."""

    grade_id: str
    points: float
    reference: Callable[..., Any]
    properties: tuple[Prop, ...]
    params: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    probe: str | None = None
    describe: Callable[[Call], str] | None = None

    def __post_init__(self) -> None:
        total = sum(p.weight for p in self.properties)
        if abs(total - self.points) > 1e-9:
            raise ValueError(f"{self.grade_id}: property weights add up to {total}, not points={self.points}")
        names = [p.name for p in self.properties]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.grade_id}: property names must be unique, got {names}")

    def expected(self, call: Call, keys: tuple[str, ...] | None = None) -> Any:
        """The reference result for ``call`` (only the ``keys`` outputs when given)."""
        return self.select(self.reference(*call.args, **call.kwargs), keys)

    def select(self, value: Any, keys: tuple[str, ...] | None) -> Any:
        """The ``keys`` outputs of a reference result (all of it when ``keys`` is None)."""
        if keys is None:
            return value
        if self.outputs and isinstance(value, tuple):
            value = dict(zip(self.outputs, value, strict=True))
        return {k: value[k] for k in keys}


def _array(a: Any) -> np.ndarray:
    """A writeable float64 copy (the worked examples are read-only constants)."""
    return np.array(a, dtype=np.float64)


# ------------------------------------------------------------------------------- conv_arithmetic


def _output_size_call(case: S.OutputSizeCase, with_dilation: bool = False) -> Call:
    kwargs = case.kwargs()
    if not with_dilation:
        kwargs.pop("dilation")
    return Call((), kwargs)


def _output_size_cases(with_dilation: bool = False, **kw: Any) -> st.SearchStrategy[Call]:
    """output_size calls; ``dilation`` is passed only when ``with_dilation``."""
    return S.output_size_cases(**kw).map(lambda c: _output_size_call(c, with_dilation))


def _invalid_output_size(draw: st.DrawFn) -> Call:
    size, kernel, pad = draw(S.too_big_kernel_sizes())
    if draw(st.booleans()):
        return Call(
            (), {"input_size": size, "kernel_size": kernel, "padding": pad}, "kernel larger than input"
        )
    return Call((), {"input_size": 5, "kernel_size": 3, "stride": draw(st.integers(-1, 0))}, "stride < 1")


OUTPUT_SIZE = Item(
    "output_size",
    points=5,
    reference=arithmetic.output_size,
    properties=(
        Prop(
            "matches the lecture's worked examples",
            1,
            examples=tuple(
                Call(
                    (),
                    {
                        "input_size": e.input_size,
                        "kernel_size": e.kernel_size,
                        "padding": e.padding,
                        "stride": e.stride,
                    },
                )
                for e in W.OUTPUT_SIZES
            ),
        ),
        Prop("stride 1, no padding", 0.5, _output_size_cases(padding=0, stride=1, dilation=1)),
        Prop("zero padding", 0.5, _output_size_cases(padding=st.integers(1, 3), stride=1, dilation=1)),
        Prop(
            "stride > 1 rounds down",
            1,
            _output_size_cases(padding=st.integers(0, 2), stride=st.integers(2, 3), dilation=1),
        ),
        Prop(
            "dilation",
            0.5,
            _output_size_cases(
                with_dilation=True, padding=st.integers(0, 2), stride=1, dilation=st.integers(2, 3)
            ),
        ),
        Prop(
            "padding 'valid' and 'same'",
            0.5,
            _output_size_cases(padding=st.sampled_from(["valid", "same"]), stride=1, dilation=1),
        ),
        Prop("rejects an invalid configuration", 1, st.composite(_invalid_output_size)(), expect="raises"),
    ),
)


def _rf_call(case: S.ReceptiveFieldCase) -> Call:
    kwargs: dict[str, Any] = {"kernel_sizes": list(case.kernel_sizes)}
    if case.strides is not None:
        kwargs["strides"] = list(case.strides)
    if case.dilations is not None:
        kwargs["dilations"] = list(case.dilations)
    return Call((), kwargs)


def _rf_cases(**kw: Any) -> st.SearchStrategy[Call]:
    return S.receptive_field_cases(**kw).map(_rf_call)


RECEPTIVE_FIELD = Item(
    "receptive_field",
    points=4,
    reference=arithmetic.receptive_field,
    properties=(
        Prop(
            "matches the lecture's worked examples",
            1,
            examples=tuple(
                _rf_call(S.ReceptiveFieldCase(e.kernel_sizes, None, e.dilations)) for e in W.RECEPTIVE_FIELDS
            ),
        ),
        Prop("stride 1 layers", 1, _rf_cases(with_strides=False, with_dilations=False)),
        Prop(
            "strides multiply along the stack",
            1,
            _rf_cases(with_strides=True, with_dilations=False, layers=st.integers(2, 4)),
        ),
        Prop("dilation", 0.5, _rf_cases(with_strides=False, with_dilations=True)),
        Prop(
            "rejects an invalid configuration",
            0.5,
            st.integers(1, 3).map(
                lambda n: Call(
                    (), {"kernel_sizes": [3] * n, "strides": [1] * (n + 1)}, "one stride per layer"
                )
            ),
            expect="raises",
        ),
    ),
)

CONV2D_PARAMS = Item(
    "conv2d_params",
    points=2,
    reference=arithmetic.conv2d_params,
    params=("in_channels", "out_channels", "kernel_size"),
    properties=(
        Prop(
            "matches the lecture's worked examples",
            0.5,
            examples=tuple(Call((e.in_channels, e.out_channels, e.kernel_size)) for e in W.CONV_PARAMS),
        ),
        Prop(
            "counts the biases",
            0.5,
            st.tuples(st.integers(1, 64), st.integers(1, 64), st.integers(1, 7)).map(lambda a: Call(a)),
        ),
        Prop(
            "bias=False",
            0.5,
            st.tuples(st.integers(1, 64), st.integers(1, 64), st.integers(1, 7)).map(
                lambda a: Call(a, {"bias": False})
            ),
        ),
        Prop(
            "rejects an invalid configuration",
            0.5,
            st.tuples(st.integers(-2, 0), st.integers(1, 8), st.integers(1, 5), st.booleans()).map(
                lambda t: Call(
                    (t[0], t[1], t[2]) if t[3] else (t[1], t[0], t[2]), {}, "channels must be >= 1"
                )
            ),
            expect="raises",
        ),
    ),
)


# --------------------------------------------------------------------------- convolution_by_hand


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
        Prop(
            "matches the lecture's worked example", 0.5, examples=(Call((_array(W.CHECKERBOARD.image), 1)),)
        ),
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


_WORKED_CONV = tuple(Call((_array(e.image), _array(e.kernel))) for e in (W.CHECKERBOARD, W.VERTICAL_EDGE))

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


def _conv_call(case: S.ConvCase) -> Call:
    args = (case.x, case.w) if case.b is None else (case.x, case.w, case.b)
    return Call(args, case.kwargs())


#: One image, one channel in and out, no bias, stride 1, no padding: each property widens one thing.
_ONE_CONV: dict[str, Any] = {
    "batch": 1,
    "in_channels": 1,
    "out_channels": 1,
    "bias": False,
    "extra_size": st.integers(0, 3),
    "seeded": True,
}


def _conv_cases(**kw: Any) -> st.SearchStrategy[Call]:
    """conv2d calls: ``_ONE_CONV`` unless overridden."""
    return S.conv_cases(**{**_ONE_CONV, **kw}).map(_conv_call)


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
        (_array(W.VERTICAL_EDGE.image)[None, None], _array(W.VERTICAL_EDGE.kernel)[None, None]),
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
        Prop("matches the lecture's worked example", 0.5, examples=(Call((_array(W.MAXPOOL.image) - 0.5,)),)),
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


def _worked_pool(with_dout: bool = False) -> Call:
    x = _array(W.MAXPOOL.image)[None, None]  # (1, 1, 4, 4)
    if with_dout:
        return Call((np.arange(1.0, 5.0).reshape(1, 1, 2, 2), x), {"kernel_size": 2})
    return Call((x,), {"kernel_size": 2})


MAXPOOL2D = Item(
    "maxpool2d",
    points=4,
    reference=pooling.maxpool2d,
    params=("x",),
    properties=(
        Prop("matches the lecture's worked example", 1, examples=(_worked_pool(),)),
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


# ---------------------------------------------------------------------------- backprop_conv_pool


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
            examples=(Call((np.arange(16.0).reshape(4, 4) - 7.5, _array(W.MAXPOOL.image) - 0.5)),),
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
        Prop("matches the lecture's worked example", 1, examples=(_worked_pool(with_dout=True),)),
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
    """conv2d_backward calls: ``_ONE_CONV`` unless overridden."""
    return S.conv_cases(**{**_ONE_CONV, **kw}).map(_conv_backward_call)


def _worked_conv_backward() -> Call:
    x = _array(W.VERTICAL_EDGE.image)[None, None]  # (1, 1, 5, 5)
    w = _array(W.VERTICAL_EDGE.kernel)[None, None]  # (1, 1, 3, 3)
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


# ---------------------------------------------------------------------------------------- tinycnn
# The student's class is driven by the "classifier" probe: the grader draws weights and images, the
# probe gives the weights to the student's model (``set_params`` or ``model.params``, the layout of
# course_lib.tinycnn) and returns its outputs; the reference runs the same probe on course_lib's class.


def _tinycnn_reference(
    kwargs: dict[str, Any],
    action: str,
    params: dict[str, np.ndarray] | None = None,
    X: np.ndarray | None = None,
    y: np.ndarray | None = None,
) -> Any:
    from course_lib.tinycnn import TinyCNN

    return probes.probe_classifier(TinyCNN, kwargs, action, params, X, y)


def _tinycnn_shapes(n_classes: int) -> dict[str, tuple[int, ...]]:
    from course_lib.tinycnn import TinyCNN

    return TinyCNN(n_classes=n_classes).param_shapes


#: Fine-grained values (multiples of 2**-10): no ties in the max pool, so routing is unambiguous.
_FINE = 2.0**-10


@st.composite
def _tinycnn_calls(draw: st.DrawFn, action: str, n_classes: int = 3) -> Call:
    n = draw(st.integers(1, 3))
    shapes = _tinycnn_shapes(n_classes)
    params = {name: draw(S.seeded_arrays(shape, bound=1.0, step=_FINE)) for name, shape in shapes.items()}
    X = draw(S.seeded_arrays((n, 1, 8, 8), bound=1.0, step=_FINE))
    y = np.array(draw(st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n)), dtype=np.int64)
    return Call(({"n_classes": n_classes}, action, params, X, y))


def _describe_classifier(name: str) -> Callable[[Call], str]:
    def describe(call: Call) -> str:
        kwargs, action, params, X, y = (*call.args, None, None, None)[:5]
        model = f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
        weights = " with the grader's weights" if params is not None else ""
        shape = f"X.shape={None if X is None else X.shape}"
        what = {
            "n_params": ".n_params",
            "param_shapes": ".params (names and shapes)",
            "forward": f".forward({shape})",
            "predict": f".predict({shape})",
            "backward": f".backward({shape}, y={None if y is None else y.tolist()})",
        }[action]
        return f"{model}{what}{weights}"

    return describe


TINYCNN = Item(
    "TinyCNN",
    points=6,
    reference=_tinycnn_reference,
    probe="classifier",
    describe=_describe_classifier("TinyCNN"),
    properties=(
        Prop(
            "matches the lecture's worked example: 114 parameters for 3 classes, 142 for 4",
            1,
            examples=(Call(({"n_classes": 3}, "n_params")), Call(({"n_classes": 4}, "n_params"))),
        ),
        Prop(
            "parameter names and shapes (conv.w, conv.b, dense.w, dense.b)",
            0.5,
            examples=(Call(({"n_classes": 3}, "param_shapes")),),
        ),
        Prop("forward: logits for given weights", 1.5, _tinycnn_calls("forward"), max_examples=5),
        Prop(
            "backward: gradients of the mean cross-entropy", 1.5, _tinycnn_calls("backward"), max_examples=5
        ),
        Prop("predict: the class with the largest logit", 0.5, _tinycnn_calls("predict"), max_examples=5),
        Prop("four classes", 1, _tinycnn_calls("forward", n_classes=4), max_examples=3),
    ),
)


# -------------------------------------------------------------------------- fashion_mnist_kernels
# PyTorch items run through probes on tiny inputs: models are built with torch's seed 0 and fed two
# fixed 28x28 images; the training loops get a 16-feature model and a few seeded batches.


def _torch_model_reference(name: str) -> Callable[..., Any]:
    def reference(kwargs: dict[str, Any]) -> Any:
        from course_lib import fashion

        return probes.probe_torch_model(getattr(fashion, name), kwargs)

    return reference


def _describe_model(name: str) -> Callable[[Call], str]:
    def describe(call: Call) -> str:
        (kwargs,) = call.args
        return f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"

    return describe


def _torch_model_item(name: str, points: float, counts: tuple[Prop, ...], kwargs: dict[str, Any]) -> Item:
    """A Fashion-MNIST model item: its parameter counts (``counts``), then, for ``name(**kwargs)``,
    the logits' shape, dropout in eval mode and gradients reaching every parameter."""
    case = (Call((kwargs,)),)
    return Item(
        name,
        points=points,
        reference=_torch_model_reference(name),
        probe="torch_model",
        describe=_describe_model(name),
        properties=(
            *counts,
            Prop("logits of shape (N, 10) for (N, 1, 28, 28) images", 1, examples=case, keys=("out_shape",)),
            Prop("dropout is off in eval mode", 0.5, examples=case, keys=("eval_repeatable",)),
            Prop("every parameter gets a gradient", 0.5, examples=case, keys=("all_grads",)),
        ),
    )


def _param_count(name: str, *kwargs: dict[str, Any]) -> Prop:
    """A property: the model's parameter count for each of ``kwargs``."""
    return Prop(name, 1, examples=tuple(Call((k,)) for k in kwargs), keys=("n_params",))


BASELINE_MLP = _torch_model_item(
    "BaselineMLP", 3, (_param_count("matches the lecture's worked example: 109,386 parameters", {}),), {}
)

FASHION_CNN = _torch_model_item(
    "FashionCNN",
    4,
    (
        _param_count(
            "matches the lecture's worked example: 241,546 parameters with 3x3 kernels", {"kernel_size": 3}
        ),
        _param_count(
            "5x5 and 7x7 kernels: 405,898 and 652,426 parameters", {"kernel_size": 5}, {"kernel_size": 7}
        ),
    ),
    {"kernel_size": 3},
)


def _count_parameters_reference(layers: list[probes.LayerSpec]) -> int:
    from course_lib.fashion import count_parameters

    return count_parameters(probes.build_torch_model(layers))


def _describe_layers(call: Call) -> str:
    (layers,) = call.args
    names = {"linear": "Linear", "conv": "Conv2d", "bn": "BatchNorm2d", "relu": "ReLU"}
    parts = []
    for kind, *dims in layers:
        frozen = bool(dims) and dims[-1] == "frozen"
        dims = dims[:-1] if frozen else dims
        text = f"{names[kind]}({', '.join(map(str, dims))})"
        parts.append(text + " (frozen)" if frozen else text)
    return f"count_parameters(nn.Sequential({', '.join(parts)}))"


_LAYER = st.one_of(
    st.tuples(st.just("linear"), st.integers(1, 64), st.integers(1, 64), st.booleans()),
    st.tuples(st.just("conv"), st.integers(1, 16), st.integers(1, 16), st.integers(1, 5), st.booleans()),
    st.tuples(st.just("bn"), st.integers(1, 16)),
)

COUNT_PARAMETERS = Item(
    "count_parameters",
    points=2,
    reference=_count_parameters_reference,
    probe="count_parameters",
    describe=_describe_layers,
    properties=(
        Prop(
            "matches the lecture's worked example: Conv2d(1, 32, 3) has 320",
            0.5,
            examples=(Call(([("conv", 1, 32, 3)],)),),
        ),
        Prop(
            "linear, convolution and batch-norm stacks",
            1,
            st.lists(_LAYER, min_size=1, max_size=3).map(lambda ls: Call((ls,))),
            max_examples=8,
        ),
        Prop(
            "counts only trainable parameters",
            0.5,
            st.tuples(_LAYER, _LAYER).map(lambda ab: Call(([ab[0], (*ab[1], "frozen")],))),
            max_examples=5,
        ),
    ),
)


def _train_reference(seed: int, sizes: list[int], lr: float = 0.1) -> dict[str, Any]:
    from course_lib.fashion import train_one_epoch

    return probes.probe_train_one_epoch(train_one_epoch, seed, sizes, lr)


def _describe_training(name: str) -> Callable[[Call], str]:
    def describe(call: Call) -> str:
        seed, sizes, *rest = call.args
        dropout = f"Dropout({rest[0]}) -> " if rest and rest[0] else ""
        model = f"a Linear(16, 8) -> ReLU -> {dropout}Linear(8, 3) model"
        extra = ", SGD(lr=0.1)" if name == "train_one_epoch" else ""
        return f"{name}({model}, batches of sizes {list(sizes)} (data seed {seed}){extra})"

    return describe


_BATCH_SIZES = st.lists(st.integers(1, 5), min_size=1, max_size=3)

TRAIN_ONE_EPOCH = Item(
    "train_one_epoch",
    points=3,
    reference=_train_reference,
    probe="train_one_epoch",
    describe=_describe_training("train_one_epoch"),
    properties=(
        Prop("matches the reference on a fixed small run", 0.5, examples=(Call((0, [4, 4])),)),
        Prop(
            "returns the mean loss, weighted by batch size",
            1,
            st.tuples(st.integers(0, 99), _BATCH_SIZES).map(lambda a: Call(a)),
            # a last, smaller batch: where the mean of the batch means and the weighted mean differ,
            # whatever the course's draws
            examples=(Call((1, [4, 1])),),
            keys=("loss",),
            max_examples=4,
        ),
        Prop(
            "one optimizer step per batch (zero_grad, backward, step)",
            1.5,
            st.tuples(st.integers(0, 99), _BATCH_SIZES).map(lambda a: Call(a)),
            keys=("params",),
            max_examples=4,
        ),
    ),
)


def _evaluate_reference(seed: int, sizes: list[int], dropout: float = 0.0) -> dict[str, Any]:
    from course_lib.fashion import evaluate

    return probes.probe_evaluate(evaluate, seed, sizes, dropout)


EVALUATE = Item(
    "evaluate",
    points=3,
    reference=_evaluate_reference,
    probe="evaluate",
    describe=_describe_training("evaluate"),
    properties=(
        Prop(
            "matches the reference on a fixed small run",
            1,
            examples=(Call((0, [4, 4])),),
            keys=("loss", "accuracy"),
        ),
        Prop(
            "mean loss and accuracy in [0, 1], weighted by batch size",
            0.5,
            st.tuples(st.integers(0, 99), _BATCH_SIZES).map(lambda a: Call(a)),
            keys=("loss", "accuracy"),
            max_examples=4,
        ),
        Prop("evaluates in eval mode (dropout off)", 1, examples=(Call((1, [4, 4], 0.5)),), keys=("loss",)),
        Prop("does not change the parameters", 0.5, examples=(Call((2, [3, 3])),), keys=("params",)),
    ),
)


@st.composite
def _label_calls(draw: st.DrawFn, spare_classes: int = 0) -> Call:
    k, y_true, y_pred = draw(S.label_pairs(n_classes=st.integers(1, 6), max_size=12))
    return Call((y_true, y_pred), {"n_classes": k + spare_classes})


def _confusion_reference(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = 10) -> np.ndarray:
    from course_lib.fashion import confusion_matrix

    result: np.ndarray = confusion_matrix(y_true, y_pred, n_classes)
    return result


CONFUSION_MATRIX = Item(
    "confusion_matrix",
    points=3,
    reference=_confusion_reference,
    params=("y_true", "y_pred"),
    properties=(
        Prop(
            "matches the lecture's worked example",
            1,
            examples=(Call((np.array([0, 1, 2, 2, 1, 0]), np.array([0, 2, 2, 1, 1, 1])), {"n_classes": 3}),),
        ),
        Prop("rows are true classes, columns predictions", 1, _label_calls()),
        Prop("n_classes sets the size (absent classes count 0)", 0.5, _label_calls(spare_classes=2)),
        Prop("does not modify its inputs", 0.5, _label_calls(), expect="unchanged", max_examples=3),
    ),
)


def _per_class_reference(cm: np.ndarray) -> np.ndarray:
    from course_lib.fashion import per_class_accuracy

    result: np.ndarray = per_class_accuracy(cm)
    return result


@st.composite
def _confusion_matrices(draw: st.DrawFn, empty_row: bool = False) -> Call:
    k = draw(st.integers(2, 5))
    cm = np.random.default_rng(draw(S.SEEDS)).integers(0, 6, size=(k, k)) + np.eye(k, dtype=np.int64)
    if empty_row:
        cm[draw(st.integers(0, k - 1))] = 0
    return Call((cm.astype(np.int64),))


PER_CLASS_ACCURACY = Item(
    "per_class_accuracy",
    points=2,
    reference=_per_class_reference,
    params=("cm",),
    properties=(
        Prop("matches the lecture's worked example", 0.5, examples=(Call((np.array([[5, 1], [2, 2]]),)),)),
        Prop("diagonal over row sums (recall per class)", 1, _confusion_matrices()),
        Prop("NaN for a class with no samples", 0.5, _confusion_matrices(empty_row=True), max_examples=5),
    ),
)


# ----------------------------------------------------------------------------------- registries

ITEMS: dict[str, Item] = {
    item.grade_id: item
    for item in (
        OUTPUT_SIZE,
        RECEPTIVE_FIELD,
        CONV2D_PARAMS,
        PAD2D,
        CONV2D_SINGLE,
        CONV2D,
        RELU,
        MAXPOOL2D,
        RELU_BACKWARD,
        MAXPOOL2D_BACKWARD,
        CONV2D_BACKWARD,
        NUMERICAL_GRADIENT,
        RELATIVE_ERROR,
        TINYCNN,
        BASELINE_MLP,
        FASHION_CNN,
        COUNT_PARAMETERS,
        TRAIN_ONE_EPOCH,
        EVALUATE,
        CONFUSION_MATRIX,
        PER_CLASS_ACCURACY,
    )
}

#: grade_ids per assignment, in notebook order.
ASSIGNMENTS: dict[str, list[str]] = {
    "conv_arithmetic": ["output_size", "receptive_field", "conv2d_params"],
    "convolution_by_hand": ["pad2d", "conv2d_single", "conv2d", "relu", "maxpool2d"],
    "backprop_conv_pool": [
        "relu_backward",
        "maxpool2d_backward",
        "conv2d_backward",
        "numerical_gradient",
        "relative_error",
    ],
    "tinycnn": ["TinyCNN"],
    "fashion_mnist_kernels": [
        "BaselineMLP",
        "FashionCNN",
        "count_parameters",
        "train_one_epoch",
        "evaluate",
        "confusion_matrix",
        "per_class_accuracy",
    ],
}


def items_for_assignment(name: str) -> list[Item]:
    """The items of an assignment, in notebook order."""
    if name not in ASSIGNMENTS:
        raise ValueError(f"assignment={name!r} is unknown; choose one of {sorted(ASSIGNMENTS)}")
    return [ITEMS[grade_id] for grade_id in ASSIGNMENTS[name]]
