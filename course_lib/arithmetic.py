r"""Convolution arithmetic: output sizes, receptive fields, parameter counts and multiply-adds.

All functions work on one spatial axis (or on square kernels) with plain ints; invalid arguments raise
``TypeError``/``ValueError`` naming the argument and the rule (see :mod:`course_lib.validation`).
"""

from __future__ import annotations

from collections.abc import Sequence

from course_lib.validation import check_bool, check_int, check_int_sequence, check_kernel_fits, check_padding


def output_size(
    input_size: int, kernel_size: int, padding: int | str = 0, stride: int = 1, dilation: int = 1
) -> int:
    r"""Spatial size after a convolution (or pooling) along one axis.

    .. math:: W_{out} = \left\lfloor \frac{W + 2P - D(K-1) - 1}{S} \right\rfloor + 1

    with input size ``W``, kernel size ``K``, zero padding ``P`` per side, stride ``S`` and dilation
    ``D``. ``padding="valid"`` means ``P = 0``; ``padding="same"`` (stride 1 only) pads ``D(K-1)`` zeros
    in total so that ``W_out = W``. Examples: ``output_size(5, 3) == 3``,
    ``output_size(5, 3, padding=1) == 5``, ``output_size(6, 3, stride=2) == 2``.
    """
    input_size = check_int("input_size", input_size, minimum=1)
    kernel_size = check_int("kernel_size", kernel_size, minimum=1)
    stride = check_int("stride", stride, minimum=1)
    dilation = check_int("dilation", dilation, minimum=1)
    mode = check_padding(padding, stride)
    if mode == "same":
        return input_size
    pad = 0 if mode == "valid" else int(mode)
    check_kernel_fits(input_size, kernel_size, (pad, pad), dilation)
    return (input_size + 2 * pad - dilation * (kernel_size - 1) - 1) // stride + 1


def receptive_field(
    kernel_sizes: Sequence[int], strides: Sequence[int] | None = None, dilations: Sequence[int] | None = None
) -> int:
    r"""Receptive field (in input pixels, along one axis) of a unit after a stack of layers.

    .. math:: RF_0 = 1, \qquad RF_l = RF_{l-1} + (k_l - 1)\, d_l \prod_{i<l} s_i

    ``kernel_sizes[l]``, ``strides[l]`` (default 1) and ``dilations[l]`` (default 1) describe layer
    ``l``, input side first. Two 3x3 layers see 5 pixels, five see 11, one 3x3 with dilation 2 sees 5.
    """
    ks = check_int_sequence("kernel_sizes", kernel_sizes, minimum=1)
    ss = [1] * len(ks) if strides is None else check_int_sequence("strides", strides, minimum=1)
    ds = [1] * len(ks) if dilations is None else check_int_sequence("dilations", dilations, minimum=1)
    for name, values in (("strides", ss), ("dilations", ds)):
        if len(values) != len(ks):
            raise ValueError(
                f"{name} has {len(values)} entries but kernel_sizes has {len(ks)}; give one per layer"
            )
    rf, jump = 1, 1  # jump = prod(s_1..s_{l-1}): input pixels between neighbouring units of layer l-1
    for k, s, d in zip(ks, ss, ds, strict=True):
        rf += (k - 1) * d * jump
        jump *= s
    return rf


def conv2d_params(in_channels: int, out_channels: int, kernel_size: int, bias: bool = True) -> int:
    r"""Learnable parameters of a 2-D convolution with square kernels: ``K^2 C_in C_out (+ C_out)``.

    A 3x3 convolution from 1 to 32 channels has 3*3*1*32 + 32 = 320; from 32 to 64, 18,496.
    """
    c_in = check_int("in_channels", in_channels, minimum=1)
    c_out = check_int("out_channels", out_channels, minimum=1)
    k = check_int("kernel_size", kernel_size, minimum=1)
    return k * k * c_in * c_out + (c_out if check_bool("bias", bias) else 0)


def linear_params(in_features: int, out_features: int, bias: bool = True) -> int:
    r"""Learnable parameters of a fully connected layer: ``D_in D_out (+ D_out)``.

    A 28x28x1 image into 100 hidden units: 784*100 + 100 = 78,500.
    """
    d_in = check_int("in_features", in_features, minimum=1)
    d_out = check_int("out_features", out_features, minimum=1)
    return d_in * d_out + (d_out if check_bool("bias", bias) else 0)


def depthwise_separable_params(
    in_channels: int, out_channels: int, kernel_size: int, bias: bool = True
) -> int:
    r"""Learnable parameters of a depthwise separable convolution (depthwise ``K x K`` then pointwise
    ``1 x 1``, as :func:`course_lib.separable.depthwise_separable_conv2d`):

    .. math:: K^2 C_{in} + C_{in} C_{out} \;(+\, C_{in} + C_{out} \text{ biases})

    against :func:`conv2d_params`'s ``K^2 C_in C_out (+ C_out)``. With ``bias=True`` each of the two
    convolutions has its own bias, as two ``torch.nn.Conv2d`` layers do by default. For ``K = 3``,
    ``C_in = 32``, ``C_out = 64``: 2,336 weights against 18,432 (7.9x fewer); 2,432 against 18,496 with
    biases (7.6x). Howard et al. 2017, "MobileNets", eq. 5-6.
    """
    c_in = check_int("in_channels", in_channels, minimum=1)
    c_out = check_int("out_channels", out_channels, minimum=1)
    k = check_int("kernel_size", kernel_size, minimum=1)
    return k * k * c_in + c_in * c_out + (c_in + c_out if check_bool("bias", bias) else 0)


def _output_pixels(output_height: int, output_width: int | None) -> int:
    h = check_int("output_height", output_height, minimum=1)
    w = h if output_width is None else check_int("output_width", output_width, minimum=1)
    return h * w


def conv2d_macs(
    in_channels: int, out_channels: int, kernel_size: int, output_height: int, output_width: int | None = None
) -> int:
    r"""Multiply-adds of a standard convolution for ONE image: ``K^2 C_in C_out H_out W_out``.

    Convention: one multiply-add (MAC) per weight per output pixel; bias additions are not counted
    (``FLOPs = 2 MACs``, what ``torch.utils.flop_counter`` reports). ``output_width`` defaults to
    ``output_height`` (square outputs). 3x3, 32 -> 64 channels on a 14x14 output: 3,612,672.
    """
    c_in = check_int("in_channels", in_channels, minimum=1)
    c_out = check_int("out_channels", out_channels, minimum=1)
    k = check_int("kernel_size", kernel_size, minimum=1)
    return k * k * c_in * c_out * _output_pixels(output_height, output_width)


def depthwise_separable_macs(
    in_channels: int, out_channels: int, kernel_size: int, output_height: int, output_width: int | None = None
) -> int:
    r"""Multiply-adds of a depthwise separable convolution for ONE image:

    .. math:: (K^2 C_{in} + C_{in} C_{out})\, H_{out} W_{out}

    (depthwise: ``K^2`` per channel and output pixel; pointwise: ``C_in C_out`` per output pixel), so
    the ratio to :func:`conv2d_macs` is :math:`K^2 C_{out} / (K^2 + C_{out})` whatever the image size:
    7.89x for ``K = 3``, ``C_out = 64``, approaching ``K^2 = 9`` as ``C_out`` grows (8.7x at 256).
    Same convention as :func:`conv2d_macs` (no bias additions). Howard et al. 2017, eq. 4.
    """
    c_in = check_int("in_channels", in_channels, minimum=1)
    c_out = check_int("out_channels", out_channels, minimum=1)
    k = check_int("kernel_size", kernel_size, minimum=1)
    return (k * k * c_in + c_in * c_out) * _output_pixels(output_height, output_width)
