"""Assignment 1, conv_arithmetic: output_size, receptive_field, conv2d_params."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from autograder import strategies as S
from autograder.items.base import CHANNELS, Call, Item, Prop, Requirement, one_below_one, returns_int
from course_lib import arithmetic
from course_lib import worked_examples as W

#: Place in the course (teaching order).
POSITION = 1


def _output_size_call(case: S.OutputSizeCase, with_dilation: bool = False) -> Call:
    kwargs = case.kwargs()
    if not with_dilation:
        kwargs.pop("dilation")
    return Call((), kwargs)


def _output_size_cases(with_dilation: bool = False, **kw: Any) -> st.SearchStrategy[Call]:
    """output_size calls; ``dilation`` is passed only when ``with_dilation``."""
    return S.output_size_cases(**kw).map(lambda c: _output_size_call(c, with_dilation))


#: The notebook's table (W, K, P, S, D): the lecture's examples, the floor trap and AlexNet.
_OUTPUT_SIZE_TABLE = (
    *((e.input_size, e.kernel_size, e.padding, e.stride, 1) for e in W.OUTPUT_SIZES),
    (32, 5, 2, 1, 1),
    (7, 3, 0, 2, 1),
    (28, 2, 0, 2, 1),
    (7, 3, 0, 1, 2),
    (227, 11, 0, 4, 1),
    (10, 3, 0, 2, 1),
)


def _table_call(size: int, kernel: int, padding: int, stride: int, dilation: int) -> Call:
    kwargs = {"input_size": size, "kernel_size": kernel, "padding": padding, "stride": stride}
    return Call((), kwargs if dilation == 1 else {**kwargs, "dilation": dilation})


@st.composite
def _extent_too_big(draw: st.DrawFn) -> Call:
    """The kernel's extent D(K-1)+1 is larger than the padded input (sometimes only because of D)."""
    size, pad, dilation = draw(st.integers(1, 6)), draw(st.integers(0, 2)), draw(st.integers(1, 3))
    smallest = -(-(size + 2 * pad) // dilation) + 1  # the smallest K whose extent does not fit
    kernel = smallest + draw(st.integers(0, 2))
    kwargs = {"input_size": size, "kernel_size": kernel, "padding": pad}
    if dilation > 1:
        kwargs["dilation"] = dilation
    return Call((), kwargs, "the kernel's extent is larger than the padded input")


@st.composite
def _stride_or_dilation_below_one(draw: st.DrawFn) -> Call:
    name = draw(st.sampled_from(["stride", "dilation"]))
    return Call((), {"input_size": 5, "kernel_size": 3, name: draw(st.integers(-1, 0))}, f"{name} < 1")


OUTPUT_SIZE = Item(
    "output_size",
    points=5,
    reference=arithmetic.output_size,
    properties=(
        Prop(
            "matches the lecture's worked examples",
            0.75,
            examples=tuple(_table_call(*row) for row in _OUTPUT_SIZE_TABLE),
        ),
        Prop("stride 1, no padding", 0.5, _output_size_cases(padding=0, stride=1, dilation=1)),
        Prop("zero padding", 0.5, _output_size_cases(padding=st.integers(1, 3), stride=1, dilation=1)),
        Prop(
            "stride > 1 rounds down",
            0.75,
            _output_size_cases(padding=0, stride=st.integers(2, 3), dilation=1),
        ),
        Prop(
            "dilation",
            0.5,
            _output_size_cases(with_dilation=True, padding=0, stride=1, dilation=st.integers(2, 3)),
        ),
        Prop(
            "stride, padding and dilation together",
            0.5,
            _output_size_cases(
                with_dilation=True,
                padding=st.integers(1, 2),
                stride=st.integers(2, 3),
                dilation=st.integers(2, 3),
            ),
        ),
        Prop(
            "padding='valid' is no padding", 0.25, _output_size_cases(padding="valid", stride=1, dilation=1)
        ),
        Prop("padding='same' keeps the size", 0.25, _output_size_cases(padding="same", stride=1, dilation=1)),
        Prop(
            "returns an int",
            0.25,
            _output_size_cases(with_dilation=True, padding=st.integers(0, 2)),
            side=True,
            judge=returns_int,
        ),
        Prop(
            "rejects a kernel extent larger than the padded input", 0.25, _extent_too_big(), expect="raises"
        ),
        Prop("rejects a stride or dilation below 1", 0.25, _stride_or_dilation_below_one(), expect="raises"),
        Prop(
            "rejects padding='same' with a stride other than 1",
            0.25,
            st.tuples(st.integers(3, 8), st.integers(1, 3), st.integers(2, 3)).map(
                lambda t: Call(
                    (),
                    {"input_size": t[0], "kernel_size": t[1], "padding": "same", "stride": t[2]},
                    "padding='same' needs stride=1",
                )
            ),
            expect="raises",
        ),
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


#: The notebook's table (kernel sizes, strides, dilations).
_RF_TABLE: tuple[tuple[list[int], list[int] | None, list[int] | None], ...] = (
    ([3], None, None),
    ([3, 3], None, None),
    ([3, 3, 3], None, None),
    ([3] * 5, None, None),
    ([3], None, [2]),
    ([3, 3, 3], None, [1, 2, 4]),
    ([3, 2, 3], [1, 2, 1], None),
)


def _rf_table_call(kernels: list[int], strides: list[int] | None, dilations: list[int] | None) -> Call:
    kwargs: dict[str, Any] = {"kernel_sizes": kernels}
    if strides is not None:
        kwargs["strides"] = strides
    if dilations is not None:
        kwargs["dilations"] = dilations
    return Call((), kwargs)


@st.composite
def _rf_mismatch(draw: st.DrawFn) -> Call:
    n = draw(st.integers(1, 3))
    name = draw(st.sampled_from(["strides", "dilations"]))
    length = draw(st.sampled_from([n - 1, n + 1]))
    return Call((), {"kernel_sizes": [3] * n, name: [1] * length}, f"one entry of {name} per layer")


RECEPTIVE_FIELD = Item(
    "receptive_field",
    points=4,
    reference=arithmetic.receptive_field,
    properties=(
        Prop(
            "matches the lecture's worked examples",
            0.75,
            examples=tuple(_rf_table_call(*row) for row in _RF_TABLE),
        ),
        Prop(
            "stride 1 layers (no layer: 1 pixel)",
            0.75,
            _rf_cases(with_strides=False, with_dilations=False),
            examples=(Call((), {"kernel_sizes": []}),),
        ),
        Prop(
            "strides multiply along the stack",
            1,
            _rf_cases(with_strides=True, with_dilations=False, layers=st.integers(2, 4)),
        ),
        Prop("dilation", 0.5, _rf_cases(with_strides=False, with_dilations=True)),
        Prop(
            "strides and dilations together",
            0.5,
            _rf_cases(
                with_strides=True,
                with_dilations=True,
                layers=st.integers(2, 4),
                stride=st.integers(2, 3),
                dilation=st.integers(2, 3),
            ),
        ),
        Prop(
            "rejects strides or dilations without one entry per layer", 0.5, _rf_mismatch(), expect="raises"
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
            st.tuples(CHANNELS, CHANNELS, st.integers(1, 7)).map(lambda a: Call(a)),
        ),
        Prop(
            "bias=False",
            0.5,
            st.tuples(CHANNELS, CHANNELS, st.integers(1, 7)).map(lambda a: Call(a, {"bias": False})),
        ),
        Prop(
            "rejects a channel count or kernel size below 1",
            0.5,
            st.tuples(
                st.integers(-2, 0), st.integers(1, 8), st.integers(1, 5), st.sampled_from([0, 1, 2])
            ).map(one_below_one),
            expect="raises",
        ),
    ),
)


#: The graded items, in notebook order.
GRADED: tuple[Item, ...] = (OUTPUT_SIZE, RECEPTIVE_FIELD, CONV2D_PARAMS)

R = Requirement

#: The requirements audit: each sentence of the released notebook that states behaviour.
AUDIT: tuple[Requirement, ...] = (
    # ---- output_size
    R(
        "output_size",
        "| 227 | 11 | 0 | 4 | 1 | 55 | AlexNet's first layer |",
        "matches the lecture's worked examples",
        "wrong only on the table's large inputs",
    ),
    R(
        "output_size",
        "Output size along one axis: floor((W + 2P - D(K-1) - 1) / S) + 1.",
        "stride 1, no padding",
        "kernel size not subtracted",
        also=(
            "matches the lecture's worked examples",
            "zero padding",
            "stride > 1 rounds down",
            "dilation",
            "stride, padding and dilation together",
            "padding='valid' is no padding",
        ),
        note="the formula itself: every value property computes it",
    ),
    R(
        "output_size",
        "padded with $P$ zeros on *each* side",
        "zero padding",
        "padding counted once",
        also=("matches the lecture's worked examples", "stride, padding and dilation together"),
    ),
    R(
        "output_size",
        "PyTorch does not complain; it takes the floor and returns **4**.",
        "stride > 1 rounds down",
        "rounds up",
        also=("matches the lecture's worked examples", "stride, padding and dilation together"),
    ),
    R(
        "output_size",
        "so the kernel covers an *extent* of $D(K-1)+1$ pixels",
        "dilation",
        "dilation ignored",
        also=("matches the lecture's worked examples", "stride, padding and dilation together"),
    ),
    R(
        "output_size",
        "W_{out} = \\left\\lfloor \\frac{W + 2P - D(K-1) - 1}{S} \\right\\rfloor + 1",
        "stride, padding and dilation together",
        "dilation subtracted after the division",
    ),
    R("output_size", '"valid" (P = 0)', "padding='valid' is no padding", "padding='valid' not understood"),
    R(
        "output_size",
        '"same" (output size = input size; stride 1 only)',
        "padding='same' keeps the size",
        "padding='same' as (K-1)//2 per side",
    ),
    R("output_size", "Return an `int`.", "returns an int", "returns an integral float (math.floor)"),
    R(
        "output_size",
        "a kernel whose extent is larger than the padded input (no window fits)",
        "rejects a kernel extent larger than the padded input",
        "checks K, not the dilated extent",
    ),
    R(
        "output_size",
        "a stride or dilation below 1",
        "rejects a stride or dilation below 1",
        "dilation below 1 accepted",
    ),
    R(
        "output_size",
        '`padding="same"` with a stride other than 1',
        "rejects padding='same' with a stride other than 1",
        "padding='same' accepted with any stride",
    ),
    R(
        "output_size",
        "Height and width are computed separately with the same formula.",
        None,
        note="output_size works on one axis: nothing to grade",
    ),
    # ---- receptive_field
    R(
        "receptive_field",
        "| $3\\times3$, dilations 1, 2, 4 | 15 |",
        "matches the lecture's worked examples",
        "wrong only on the table's dilation 4",
    ),
    R(
        "receptive_field",
        "RF_0 = 1, RF_l = RF_{l-1} + (k_l - 1) * d_l * (s_1 * ... * s_{l-1})",
        "stride 1 layers (no layer: 1 pixel)",
        "starts from the first kernel (an empty stack raises)",
    ),
    R(
        "receptive_field",
        "the product of the strides below it, the *jump*",
        "strides multiply along the stack",
        "receptive field without the stride product",
        also=("matches the lecture's worked examples", "strides and dilations together"),
    ),
    R(
        "receptive_field",
        "With dilation the taps are $d_l$ units apart",
        "dilation",
        "dilations ignored",
        also=("matches the lecture's worked examples", "strides and dilations together"),
    ),
    R(
        "receptive_field",
        "RF_l = RF_{l-1} + (k_l - 1)\\, d_l \\prod_{i=1}^{l-1} s_i",
        "strides and dilations together",
        "dilation not multiplied by the jump",
    ),
    R(
        "receptive_field",
        "`strides` and `dilations` default to all ones",
        "stride 1 layers (no layer: 1 pixel)",
        "strides required",
        also=("matches the lecture's worked examples", "strides multiply along the stack", "dilation"),
    ),
    R(
        "receptive_field",
        "raise a `ValueError` if they don't have one entry per layer",
        "rejects strides or dilations without one entry per layer",
        "lengths not checked",
    ),
    # ---- conv2d_params
    R(
        "conv2d_params",
        "$3\\times3$, $32 \\to 64$ channels: $9 \\cdot 32 \\cdot 64 + 64 = 18{,}432 + 64 = 18{,}496$.",
        "matches the lecture's worked examples",
        "wrong only for wide layers",
    ),
    R(
        "conv2d_params",
        "Learnable parameters of a Conv2d layer with square kernels: K^2 * C_in * C_out (+ C_out).",
        "counts the biases",
        "bias dropped",
        also=("matches the lecture's worked examples",),
    ),
    R(
        "conv2d_params",
        "`bias=False` drops the $C_{out}$ biases",
        "bias=False",
        "bias=False ignored",
    ),
    R(
        "conv2d_params",
        "(square kernels;",
        "counts the biases",
        "k instead of k**2",
        also=(
            "matches the lecture's worked examples",
            "bias=False",
            "rejects a channel count or kernel size below 1",
        ),
        note="no main property passes, so the side condition earns nothing either",
    ),
    R(
        "conv2d_params",
        "A layer needs at least one input channel, one filter and a kernel of size 1: raise a `ValueError` "
        "otherwise.",
        "rejects a channel count or kernel size below 1",
        "kernel size not validated",
    ),
)
