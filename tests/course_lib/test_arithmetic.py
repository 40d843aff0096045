"""course_lib.arithmetic against torch (output shapes, parameter counts, autograd receptive fields)
and the lecture's numbers."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.strategies import (
    InvalidCall,
    OutputSizeCase,
    ReceptiveFieldCase,
    invalid_output_size_calls,
    output_size_cases,
    receptive_field_cases,
)
from course_lib.arithmetic import (
    conv2d_macs,
    conv2d_params,
    depthwise_separable_macs,
    depthwise_separable_params,
    linear_params,
    output_size,
    receptive_field,
)

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def torch_output_size(c: OutputSizeCase) -> int:
    """Width of torch's conv2d output on a 1 x W input with a 1 x K kernel."""
    x = torch.zeros(1, 1, 1, c.input_size, dtype=torch.float64)
    w = torch.zeros(1, 1, 1, c.kernel_size, dtype=torch.float64)
    padding = c.padding if isinstance(c.padding, str) else (0, c.padding)
    return F.conv2d(x, w, stride=(1, c.stride), padding=padding, dilation=(1, c.dilation)).shape[-1]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@given(output_size_cases(padding=st.one_of(st.integers(0, 3), st.sampled_from(["valid", "same"]))))
def test_output_size_matches_torch(case: OutputSizeCase) -> None:
    assert output_size(**case.kwargs()) == torch_output_size(case)


@pytest.mark.parametrize(
    ("w", "k", "p", "s", "expected"),
    [(5, 3, 0, 1, 3), (5, 3, 1, 1, 5), (6, 3, 0, 2, 2), (8, 3, 0, 1, 6), (8, 3, 1, 1, 8)],
)
def test_output_size_lecture_examples(w: int, k: int, p: int, s: int, expected: int) -> None:
    assert output_size(w, k, p, s) == expected


def test_output_size_valid_same_and_dilation() -> None:
    assert output_size(7, 3, "valid") == 5
    assert output_size(7, 4, "same", dilation=2) == 7
    assert output_size(7, 3, dilation=3) == 1  # the kernel spans 3*(3-1)+1 = 7 pixels


def torch_receptive_field(c: ReceptiveFieldCase) -> int:
    """Extent of the input pixels that one output unit depends on, found with autograd through a stack
    of 1-D convolutions with all-ones kernels."""
    n = len(c.kernel_sizes)
    strides = c.strides or (1,) * n
    dilations = c.dilations or (1,) * n
    length = 1
    for k, s, d in zip(reversed(c.kernel_sizes), reversed(strides), reversed(dilations), strict=True):
        length = (length - 1) * s + d * (k - 1) + 1  # input length that gives exactly `length` outputs
    x = torch.ones(1, 1, length, dtype=torch.float64, requires_grad=True)
    y = x
    for k, s, d in zip(c.kernel_sizes, strides, dilations, strict=True):
        y = F.conv1d(y, torch.ones(1, 1, k, dtype=torch.float64), stride=s, dilation=d)
    assert y.shape[-1] == 1
    y.sum().backward()
    assert x.grad is not None
    touched = torch.nonzero(x.grad[0, 0]).flatten()
    return int(touched.max() - touched.min() + 1)


@given(receptive_field_cases())
def test_receptive_field_matches_autograd(case: ReceptiveFieldCase) -> None:
    assert receptive_field(**case.kwargs()) == torch_receptive_field(case)


def test_receptive_field_lecture_examples() -> None:
    assert receptive_field([3, 3]) == 5
    assert receptive_field([3] * 5) == 11
    assert receptive_field([3], dilations=[2]) == 5
    assert receptive_field([3, 3], strides=[2, 1]) == 7  # the second layer's step is 2 input pixels
    assert receptive_field([]) == 1


@settings(max_examples=20)
@given(
    st.integers(1, 8),
    st.integers(1, 8),
    st.integers(1, 7),
    st.booleans(),
    st.integers(1, 30),
    st.integers(1, 30),
)
def test_params_match_torch_modules(c_in: int, c_out: int, k: int, bias: bool, d_in: int, d_out: int) -> None:
    conv = torch.nn.Conv2d(c_in, c_out, k, bias=bias)
    fc = torch.nn.Linear(d_in, d_out, bias=bias)
    assert conv2d_params(c_in, c_out, k, bias=bias) == sum(p.numel() for p in conv.parameters())
    assert linear_params(d_in, d_out, bias=bias) == sum(p.numel() for p in fc.parameters())


def test_params_lecture_examples() -> None:
    assert conv2d_params(1, 32, 3) == 320
    assert conv2d_params(32, 64, 3) == 18_496
    assert linear_params(28 * 28, 100) == 78_500


# ---------------------------------------------------------------- depthwise separable: params, MACs


def separable_modules(c_in: int, c_out: int, k: int, bias: bool) -> torch.nn.Sequential:
    """Depthwise (groups = C_in) then pointwise 1x1, as torch builds them."""
    return torch.nn.Sequential(
        torch.nn.Conv2d(c_in, c_in, k, groups=c_in, bias=bias), torch.nn.Conv2d(c_in, c_out, 1, bias=bias)
    )


@settings(max_examples=20)
@given(st.integers(1, 64), st.integers(1, 64), st.integers(1, 7), st.booleans())
def test_separable_params_match_torch_modules(c_in: int, c_out: int, k: int, bias: bool) -> None:
    modules = separable_modules(c_in, c_out, k, bias)
    assert depthwise_separable_params(c_in, c_out, k, bias) == sum(p.numel() for p in modules.parameters())


@settings(max_examples=20)
@given(st.integers(1, 16), st.integers(1, 16), st.integers(1, 5), st.integers(0, 6), st.integers(0, 6))
def test_macs_match_torch_flop_counter(c_in: int, c_out: int, k: int, extra_h: int, extra_w: int) -> None:
    """torch.utils.flop_counter counts 2 FLOPs per multiply-add of a convolution (no bias adds)."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, c_in, k + extra_h, k + extra_w)
    standard = torch.nn.Conv2d(c_in, c_out, k)
    separable = separable_modules(c_in, c_out, k, bias=True)
    counted = []
    for model in (standard, separable):
        with FlopCounterMode(display=False) as counter:
            model(x)
        counted.append(counter.get_total_flops())
    out_h, out_w = 1 + extra_h, 1 + extra_w
    assert 2 * conv2d_macs(c_in, c_out, k, out_h, out_w) == counted[0]
    assert 2 * depthwise_separable_macs(c_in, c_out, k, out_h, out_w) == counted[1]


def test_separable_savings_lecture_example() -> None:
    """k = 3, 32 -> 64: 9*32*64 = 18,432 weights against 9*32 + 32*64 = 288 + 2,048 = 2,336 (7.89x);
    the multiply-adds on a 14x14 output are in the same ratio, 576 / 73 = k^2 C_out / (k^2 + C_out)."""
    assert conv2d_params(32, 64, 3, bias=False) == 18_432
    assert depthwise_separable_params(32, 64, 3, bias=False) == 2_336
    assert depthwise_separable_params(32, 64, 3) == 2_336 + 32 + 64
    ratio = conv2d_macs(32, 64, 3, 14) / depthwise_separable_macs(32, 64, 3, 14)
    assert ratio == pytest.approx(576 / 73) and round(ratio, 1) == 7.9
    assert conv2d_macs(32, 64, 3, 14) == 9 * 32 * 64 * 196 == 3_612_672
    assert conv2d_macs(32, 64, 3, 14, 7) == conv2d_macs(32, 64, 3, 7, 14) == 3_612_672 // 2


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: output_size(5, 7),
            ValueError,
            "kernel_size=7 is larger than the padded input (5 + 2*0 = 5)",
        ),
        (
            lambda: output_size(3, 7, 1),
            ValueError,
            "kernel_size=7 is larger than the padded input (3 + 2*1 = 5)",
        ),
        (
            lambda: output_size(4, 3, dilation=2),
            ValueError,
            "kernel_size=3 with dilation=2 spans 2*(3-1)+1 = 5, larger than the padded input (4 + 2*0 = 4)",
        ),
        (lambda: output_size(5, 3, stride=0), ValueError, "stride=0 must be >= 1"),
        (lambda: output_size(5, 3, dilation=0), ValueError, "dilation=0 must be >= 1"),
        (lambda: output_size(5, 3, -1), ValueError, "padding=-1 must be >= 0 (zeros added per side)"),
        (lambda: output_size(0, 3), ValueError, "input_size=0 must be >= 1"),
        (lambda: output_size(5, 0), ValueError, "kernel_size=0 must be >= 1"),
        (lambda: output_size(5, 3, "same", 2), ValueError, "padding='same' needs stride=1, got stride=2"),
        (
            lambda: output_size(5, 3, "full"),
            ValueError,
            "padding='full' must be an int >= 0, 'valid' or 'same'",
        ),
        (lambda: output_size(5, True), TypeError, "kernel_size must be an int, got bool True"),
        (lambda: output_size(5.0, 3), TypeError, "input_size must be an int, got float 5.0"),
        (lambda: output_size(5, 3, stride=1.5), TypeError, "stride must be an int, got float 1.5"),
        (
            lambda: receptive_field([3, 3], strides=[1]),
            ValueError,
            "strides has 1 entries but kernel_sizes has 2",
        ),
        (lambda: receptive_field([3, 0]), ValueError, "kernel_sizes[1]=0 must be >= 1"),
        (lambda: receptive_field(3), TypeError, "kernel_sizes must be a sequence of ints, got int 3"),
        (lambda: receptive_field([3], dilations=[False]), TypeError, "dilations[0] must be an int, got bool"),
        (lambda: conv2d_params(0, 32, 3), ValueError, "in_channels=0 must be >= 1"),
        (lambda: conv2d_params(1, 32, 3, bias=1), TypeError, "bias must be a bool, got int 1"),
        (lambda: linear_params(10, 2.0), TypeError, "out_features must be an int, got float 2.0"),
        (lambda: depthwise_separable_params(32, 0, 3), ValueError, "out_channels=0 must be >= 1"),
        (lambda: depthwise_separable_params(32, 64, 3, bias=None), TypeError, "bias must be a bool"),
        (lambda: conv2d_macs(32, 64, 3, 0), ValueError, "output_height=0 must be >= 1"),
        (lambda: depthwise_separable_macs(32, 64, 3, 14, 2.5), TypeError, "output_width must be an int"),
    ],
)
def test_invalid_arguments_messages(call: Callable[[], object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        call()


@given(invalid_output_size_calls())
def test_invalid_output_size_calls_raise(case: InvalidCall) -> None:
    with pytest.raises(case.error):
        output_size(*case.args, **case.kwargs)
