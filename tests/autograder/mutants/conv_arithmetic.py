"""conv_arithmetic: output_size, receptive_field, conv2d_params as students write them."""

from __future__ import annotations

import math

import numpy as np

from tests.autograder.mutants import Correct, mutant

WORKED = "matches the lecture's worked examples"
INVALID = "rejects an invalid configuration"


def _output_size(divide: str = "floor", pad_sides: int = 2, use_dilation: bool = True, validate: bool = True):
    def output_size(input_size, kernel_size, padding=0, stride=1, dilation=1):
        if padding == "same":
            if validate and stride != 1:
                raise ValueError("padding='same' needs stride=1")
            return input_size
        if padding == "valid":
            padding = 0
        d = dilation if use_dilation else 1
        span = d * (kernel_size - 1) + 1
        if validate and (stride < 1 or span > input_size + 2 * padding):
            raise ValueError("kernel_size is larger than the padded input, or stride < 1")
        top = input_size + pad_sides * padding - span
        if divide == "float":
            return top / stride + 1
        if divide == "numpy":
            return np.int64(top // stride + 1)
        if divide == "math":
            return float(math.floor(top / stride) + 1)
        return top // stride + 1

    return output_size


def _receptive_field(stride_product: bool = True):
    def receptive_field(kernel_sizes, strides=None, dilations=None):
        n = len(kernel_sizes)
        strides = [1] * n if strides is None else list(strides)
        dilations = [1] * n if dilations is None else list(dilations)
        if len(strides) != n or len(dilations) != n:
            raise ValueError("give one stride and one dilation per layer")
        rf, jump = 1, 1
        for k, s, d in zip(kernel_sizes, strides, dilations, strict=True):
            rf += (k - 1) * d * jump
            if stride_product:
                jump *= s
        return rf

    return receptive_field


def _conv2d_params(bias_counted: bool = True, square: bool = True):
    def conv2d_params(in_channels, out_channels, kernel_size, bias=True):
        if in_channels < 1 or out_channels < 1 or kernel_size < 1:
            raise ValueError("channels and kernel_size must be >= 1")
        k2 = kernel_size**2 if square else kernel_size
        return k2 * in_channels * out_channels + (out_channels if bias and bias_counted else 0)

    return conv2d_params


MUTANTS = [
    mutant(
        "output_size",
        "float division, no floor",
        _output_size(divide="float"),
        WORKED,
        "stride > 1 rounds down",
    ),
    mutant(
        "output_size",
        "padding counted once",
        _output_size(pad_sides=1),
        WORKED,
        "zero padding",
        "stride > 1 rounds down",
        "dilation",
    ),
    mutant("output_size", "dilation ignored", _output_size(use_dilation=False), "dilation"),
    mutant("output_size", "no validation", _output_size(validate=False), INVALID),
    mutant(
        "receptive_field",
        "receptive field without the stride product",
        _receptive_field(stride_product=False),
        "strides multiply along the stack",
    ),
    mutant("conv2d_params", "bias dropped", _conv2d_params(bias_counted=False), WORKED, "counts the biases"),
    mutant(
        "conv2d_params",
        "k instead of k**2",
        _conv2d_params(square=False),
        WORKED,
        "counts the biases",
        "bias=False",
    ),
]

CORRECT = [
    Correct("output_size", "returns a numpy int64", _output_size(divide="numpy")),
    Correct("output_size", "returns an integral float (math.floor)", _output_size(divide="math")),
    Correct("receptive_field", "loop with a running jump", _receptive_field()),
    Correct("conv2d_params", "plain arithmetic", _conv2d_params()),
]
