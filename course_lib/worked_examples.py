r"""The lecture's worked examples as data: inputs, the numbers stated in the lecture, and a ``compute()``
that recomputes each one live with course_lib.

The stated numbers (``expected``) are the oracle: they were worked by hand, not produced by the code,
and the tests check ``compute() == expected``. The original seed images are not available, so the
small integer inputs below were constructed to give exactly the results the lecture states; each
docstring says how. Notebooks and ``python -m course_lib demo`` reuse this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from course_lib.arithmetic import conv2d_params, linear_params, output_size, receptive_field
from course_lib.conv import conv2d_single
from course_lib.pooling import maxpool2d
from course_lib.validation import Array


def _constant(rows: list[list[int]]) -> Array:
    """A read-only float64 array (examples are shared; nobody may change them in place)."""
    a = np.array(rows, dtype=np.float64)
    a.flags.writeable = False
    return a


# --------------------------------------------------------------------------- convolution by hand


@dataclass(frozen=True, eq=False)
class ConvExample:
    """One image, one kernel, and the response the lecture states at one location (row, column) of
    the output; ``expected_map`` is the whole output, worked by hand."""

    name: str
    image: Array  # (H, W)
    kernel: Array  # (K, K)
    at: tuple[int, int]
    value: float
    expected_map: Array  # (H-K+1, W-K+1)
    lesson: str

    def compute(self) -> Array:
        """The output map, by :func:`course_lib.conv.conv2d_single`."""
        return conv2d_single(self.image, self.kernel)


CHECKERBOARD = ConvExample(
    name="3x3 checkerboard kernel on a 5x5 patch",
    # An "X": the centre 3x3 window IS the checkerboard kernel, so all five of its ones meet ones.
    image=_constant(
        [
            [1, 0, 0, 0, 1],
            [0, 1, 0, 1, 0],
            [0, 0, 1, 0, 0],
            [0, 1, 0, 1, 0],
            [1, 0, 0, 0, 1],
        ]
    ),
    kernel=_constant([[1, 0, 1], [0, 1, 0], [1, 0, 1]]),
    at=(1, 1),
    value=5.0,
    # (i, j) = x[i,j] + x[i,j+2] + x[i+1,j+1] + x[i+2,j] + x[i+2,j+2]; e.g. (0, 0) = 1+0+1+0+1 = 3.
    expected_map=_constant([[3, 0, 3], [0, 5, 0], [3, 0, 3]]),
    lesson="the response is largest (5 = every 1 of the kernel on a 1) where the patch looks like the kernel",
)

VERTICAL_EDGE = ConvExample(
    name="vertical-edge kernel [[1, 0, -1]] * 3 on a 5x5 input",
    # Columns 0..3 repeat each row's value (horizontal stripes: 3, 1, 2, 0, 4); column 4 is dark.
    image=_constant(
        [
            [3, 3, 3, 3, 0],
            [1, 1, 1, 1, 0],
            [2, 2, 2, 2, 0],
            [0, 0, 0, 0, 0],
            [4, 4, 4, 4, 0],
        ]
    ),
    kernel=_constant([[1, 0, -1], [1, 0, -1], [1, 0, -1]]),
    at=(1, 1),
    value=0.0,
    # (i, j) = sum over rows i..i+2 of x[r, j] - x[r, j+2]: 0 wherever columns j and j+2 agree; at
    # j = 2 it is the row sum of column 2: 3+1+2 = 6, 1+2+0 = 3, 2+0+4 = 6.
    expected_map=_constant([[0, 0, 6], [0, 0, 3], [0, 0, 6]]),
    lesson="left minus right: 0 on horizontal stripes (no vertical edge), positive at a bright-to-dark edge",
)


@dataclass(frozen=True, eq=False)
class PoolExample:
    """A 4x4 input and its 2x2 max pool (stride 2), worked by hand; no ties in any window."""

    image: Array  # (4, 4)
    expected: Array  # (2, 2)
    kernel_size: int = 2

    def compute(self) -> Array:
        """The pooled map, by :func:`course_lib.pooling.maxpool2d` on a (1, 1, 4, 4) batch."""
        return maxpool2d(self.image[None, None], self.kernel_size)[0, 0]


MAXPOOL = PoolExample(
    # Windows: {1, 5, 3, 4} -> 5, {2, 0, 1, -1} -> 2, {4, 0, 2, 3} -> 4, {2, 1, -2, 0} -> 2.
    image=_constant([[1, 5, 2, 0], [3, 4, 1, -1], [4, 0, 2, 1], [2, 3, -2, 0]]),
    expected=_constant([[5, 2], [4, 2]]),
)


# ------------------------------------------------------------------------------------ arithmetic


@dataclass(frozen=True)
class OutputSizeExample:
    """``output_size(input_size, kernel_size, padding, stride) == expected`` (W / K / P / S -> out)."""

    input_size: int
    kernel_size: int
    padding: int
    stride: int
    expected: int

    def compute(self) -> int:
        return output_size(self.input_size, self.kernel_size, self.padding, self.stride)


OUTPUT_SIZES = (
    OutputSizeExample(5, 3, 0, 1, 3),  # (5 - 3) / 1 + 1
    OutputSizeExample(5, 3, 1, 1, 5),  # (5 + 2 - 3) / 1 + 1: padding 1 keeps the size ("same")
    OutputSizeExample(6, 3, 0, 2, 2),  # floor((6 - 3) / 2) + 1: the last column is never visited
    OutputSizeExample(8, 3, 0, 1, 6),  # (8 - 3) / 1 + 1
    OutputSizeExample(8, 3, 1, 1, 8),  # (8 + 2 - 3) / 1 + 1
)


@dataclass(frozen=True)
class ReceptiveFieldExample:
    """``receptive_field(kernel_sizes, dilations=dilations) == expected``."""

    description: str
    kernel_sizes: tuple[int, ...]
    dilations: tuple[int, ...] | None
    expected: int

    def compute(self) -> int:
        return receptive_field(self.kernel_sizes, dilations=self.dilations)


RECEPTIVE_FIELDS = (
    ReceptiveFieldExample("two 3x3 layers", (3, 3), None, 5),  # 1 + 2 + 2
    ReceptiveFieldExample("five 3x3 layers", (3,) * 5, None, 11),  # 1 + 5 * 2
    ReceptiveFieldExample("one 3x3 layer, dilation 2", (3,), (2,), 5),  # 1 + 2 * 2
)


@dataclass(frozen=True)
class ConvParamsExample:
    """``conv2d_params(in_channels, out_channels, kernel_size) == expected``."""

    in_channels: int
    out_channels: int
    kernel_size: int
    expected: int

    def compute(self) -> int:
        return conv2d_params(self.in_channels, self.out_channels, self.kernel_size)


CONV_PARAMS = (
    ConvParamsExample(1, 32, 3, 320),  # 3*3*1*32 + 32
    ConvParamsExample(32, 64, 3, 18_496),  # 3*3*32*64 + 64
)


@dataclass(frozen=True)
class FcVsConvRow:
    """Weights of a fully connected layer with ``hidden`` units against ``filters`` KxK conv filters
    on an H x W x C input, without and with biases (stated numbers, worked by hand)."""

    height: int
    width: int
    channels: int
    fc_weights: int
    fc_total: int
    conv_weights: int
    conv_total: int
    hidden: int = 100
    filters: int = 32
    kernel_size: int = 3

    def compute(self) -> tuple[int, int, int, int]:
        """(fc_weights, fc_total, conv_weights, conv_total) from linear_params / conv2d_params."""
        d_in = self.height * self.width * self.channels
        return (
            linear_params(d_in, self.hidden, bias=False),
            linear_params(d_in, self.hidden),
            conv2d_params(self.channels, self.filters, self.kernel_size, bias=False),
            conv2d_params(self.channels, self.filters, self.kernel_size),
        )

    @property
    def expected(self) -> tuple[int, int, int, int]:
        return (self.fc_weights, self.fc_total, self.conv_weights, self.conv_total)


FC_VS_CONV = (
    FcVsConvRow(28, 28, 1, 78_400, 78_500, 288, 320),  # 784*100 (+100); 9*1*32 (+32)
    FcVsConvRow(64, 64, 3, 1_228_800, 1_228_900, 864, 896),  # 12,288*100 (+100); 9*3*32 (+32)
    FcVsConvRow(224, 224, 3, 15_052_800, 15_052_900, 864, 896),  # 150,528*100 (+100); 9*3*32 (+32)
)
