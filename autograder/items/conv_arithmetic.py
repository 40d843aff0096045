"""Assignment 1, conv_arithmetic: output_size, receptive_field, conv2d_params."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from autograder import strategies as S
from autograder.items.base import Call, Item, Prop
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


#: The graded items, in notebook order.
GRADED: tuple[Item, ...] = (OUTPUT_SIZE, RECEPTIVE_FIELD, CONV2D_PARAMS)
