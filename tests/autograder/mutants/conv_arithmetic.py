"""conv_arithmetic: output_size, receptive_field, conv2d_params as students write them."""

from __future__ import annotations

import math

import numpy as np

from tests.autograder.mutants import Correct, mutant

WORKED = "matches the lecture's worked examples"
TOGETHER = "stride, padding and dilation together"
RF_TOGETHER = "strides and dilations together"


def _output_size(
    divide: str = "floor",
    pad_sides: int = 2,
    use_dilation: bool = True,
    validate: bool = True,
    check_extent: bool = True,
    check_dilation: bool = True,
    check_same_stride: bool = True,
    subtract_kernel: bool = True,
    dilation_after_division: bool = False,
    valid: bool = True,
    same: str = "input",
    wrong_when_large: bool = False,
):
    def output_size(input_size, kernel_size, padding=0, stride=1, dilation=1):
        if padding == "same":
            if validate and check_same_stride and stride != 1:
                raise ValueError("padding='same' needs stride=1")
            if same == "input":
                return input_size
            padding = (kernel_size - 1) // 2
        if padding == "valid" and valid:
            padding = 0
        if not isinstance(padding, int):
            raise TypeError(f"padding={padding!r}")
        d = dilation if use_dilation else 1
        span = d * (kernel_size - 1) + 1
        if validate:
            if stride < 1 or (check_dilation and dilation < 1):
                raise ValueError("stride and dilation must be >= 1")
            extent = dilation * (kernel_size - 1) + 1
            if (extent if check_extent else kernel_size) > input_size + 2 * padding:
                raise ValueError("the kernel's extent is larger than the padded input")
        if dilation_after_division:
            top = input_size + pad_sides * padding - kernel_size
            return top // stride + 1 - (d - 1) * (kernel_size - 1)
        top = input_size + pad_sides * padding - (span if subtract_kernel else 1)
        if divide == "float":
            return top / stride + 1
        if divide == "ceil":
            return -(-top // stride) + 1
        if divide == "numpy":
            return np.int64(top // stride + 1)
        if divide == "math":
            return float(math.floor(top / stride) + 1)
        return top // stride + 1 + (wrong_when_large and input_size > 100)

    return output_size


def _receptive_field(
    stride_product: bool = True,
    use_dilation: bool = True,
    dilation_with_jump: bool = True,
    empty_ok: bool = True,
    defaults: bool = True,
    check_lengths: bool = True,
    wrong_on_dilation_4: bool = False,
):
    def receptive_field(kernel_sizes, strides=None, dilations=None):
        n = len(kernel_sizes)
        if not defaults and (strides is None or dilations is None):
            raise TypeError("strides and dilations are required")
        strides = [1] * n if strides is None else list(strides)
        dilations = [1] * n if dilations is None else list(dilations)
        if check_lengths and (len(strides) != n or len(dilations) != n):
            raise ValueError("give one stride and one dilation per layer")
        rf, jump = (1, 1) if empty_ok else (kernel_sizes[0] - kernel_sizes[0] + 1, 1)
        for k, s, d in zip(kernel_sizes, strides, dilations, strict=False):
            d = d if use_dilation else 1
            rf += (k - 1) * d * jump if dilation_with_jump else (k - 1) * jump + (k - 1) * (d - 1)
            if stride_product:
                jump *= s
        return rf + (wrong_on_dilation_4 and 4 in dilations)

    return receptive_field


def _conv2d_params(
    bias_counted: bool = True,
    square: bool = True,
    bias_false: bool = True,
    check_kernel: bool = True,
    wrong_when_wide: bool = False,
):
    def conv2d_params(in_channels, out_channels, kernel_size, bias=True):
        if in_channels < 1 or out_channels < 1 or (check_kernel and kernel_size < 1):
            raise ValueError("channels and kernel_size must be >= 1")
        k2 = kernel_size**2 if square else kernel_size
        biases = out_channels if bias_counted and (bias or not bias_false) else 0
        return (
            k2 * in_channels * out_channels
            + biases
            + (wrong_when_wide and in_channels * out_channels >= 2048)
        )

    return conv2d_params


MUTANTS = [
    # ---- output_size
    mutant(
        "output_size",
        "float division, no floor",
        _output_size(divide="float"),
        WORKED,
        "stride > 1 rounds down",
        TOGETHER,
        "returns an int",
    ),
    mutant(
        "output_size", "wrong only on the table's large inputs", _output_size(wrong_when_large=True), WORKED
    ),
    mutant(
        "output_size",
        "kernel size not subtracted",
        _output_size(subtract_kernel=False),
        WORKED,
        "stride 1, no padding",
        "zero padding",
        "stride > 1 rounds down",
        "dilation",
        TOGETHER,
        "padding='valid' is no padding",
    ),
    mutant(
        "output_size", "padding counted once", _output_size(pad_sides=1), WORKED, "zero padding", TOGETHER
    ),
    mutant(
        "output_size", "rounds up", _output_size(divide="ceil"), WORKED, "stride > 1 rounds down", TOGETHER
    ),
    mutant("output_size", "dilation ignored", _output_size(use_dilation=False), WORKED, "dilation", TOGETHER),
    mutant(
        "output_size",
        "dilation subtracted after the division",
        _output_size(dilation_after_division=True),
        TOGETHER,
    ),
    mutant(
        "output_size",
        "padding='valid' not understood",
        _output_size(valid=False),
        "padding='valid' is no padding",
    ),
    mutant(
        "output_size",
        "padding='same' as (K-1)//2 per side",
        _output_size(same="half"),
        "padding='same' keeps the size",
    ),
    mutant(
        "output_size", "returns an integral float (math.floor)", _output_size(divide="math"), "returns an int"
    ),
    mutant(
        "output_size",
        "checks K, not the dilated extent",
        _output_size(check_extent=False),
        "rejects a kernel extent larger than the padded input",
    ),
    mutant(
        "output_size",
        "dilation below 1 accepted",
        _output_size(check_dilation=False),
        "rejects a stride or dilation below 1",
    ),
    mutant(
        "output_size",
        "padding='same' accepted with any stride",
        _output_size(check_same_stride=False),
        "rejects padding='same' with a stride other than 1",
    ),
    mutant(
        "output_size",
        "no validation",
        _output_size(validate=False),
        "rejects a kernel extent larger than the padded input",
        "rejects a stride or dilation below 1",
        "rejects padding='same' with a stride other than 1",
    ),
    # ---- receptive_field
    mutant(
        "receptive_field",
        "wrong only on the table's dilation 4",
        _receptive_field(wrong_on_dilation_4=True),
        WORKED,
    ),
    mutant(
        "receptive_field",
        "starts from the first kernel (an empty stack raises)",
        _receptive_field(empty_ok=False),
        "stride 1 layers (no layer: 1 pixel)",
    ),
    mutant(
        "receptive_field",
        "receptive field without the stride product",
        _receptive_field(stride_product=False),
        WORKED,
        "strides multiply along the stack",
        RF_TOGETHER,
    ),
    mutant(
        "receptive_field",
        "dilations ignored",
        _receptive_field(use_dilation=False),
        WORKED,
        "dilation",
        RF_TOGETHER,
    ),
    mutant(
        "receptive_field",
        "dilation not multiplied by the jump",
        _receptive_field(dilation_with_jump=False),
        RF_TOGETHER,
    ),
    mutant(
        "receptive_field",
        "strides required",
        _receptive_field(defaults=False),
        WORKED,
        "stride 1 layers (no layer: 1 pixel)",
        "strides multiply along the stack",
        "dilation",
    ),
    mutant(
        "receptive_field",
        "lengths not checked",
        _receptive_field(check_lengths=False),
        "rejects strides or dilations without one entry per layer",
    ),
    # ---- conv2d_params
    mutant("conv2d_params", "wrong only for wide layers", _conv2d_params(wrong_when_wide=True), WORKED),
    mutant("conv2d_params", "bias dropped", _conv2d_params(bias_counted=False), WORKED, "counts the biases"),
    mutant("conv2d_params", "bias=False ignored", _conv2d_params(bias_false=False), "bias=False"),
    mutant(
        "conv2d_params",
        "k instead of k**2",
        _conv2d_params(square=False),
        WORKED,
        "counts the biases",
        "bias=False",
        "rejects a channel count or kernel size below 1",  # side condition: nothing else passes
    ),
    mutant(
        "conv2d_params",
        "kernel size not validated",
        _conv2d_params(check_kernel=False),
        "rejects a channel count or kernel size below 1",
    ),
]

CORRECT = [
    Correct("output_size", "returns a numpy int64", _output_size(divide="numpy")),
    Correct("output_size", "floor division", _output_size()),
    Correct("receptive_field", "loop with a running jump", _receptive_field()),
    Correct("conv2d_params", "plain arithmetic", _conv2d_params()),
]
