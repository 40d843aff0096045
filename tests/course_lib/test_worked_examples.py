"""The lecture's worked examples: course_lib must reproduce the numbers the lecture states.

The oracle is the lecture (the numbers below and in ``course_lib.worked_examples`` were worked by
hand), so these tests restate the lecture's numbers instead of reading them back from the module.
"""

from __future__ import annotations

import numpy as np
import pytest

from course_lib import worked_examples as ex
from course_lib.__main__ import main


def test_checkerboard_gives_5_at_the_centre() -> None:
    out = ex.CHECKERBOARD.compute()
    assert ex.CHECKERBOARD.at == (1, 1) and out[1, 1] == 5.0
    assert out.max() == 5.0  # the best match in the patch
    np.testing.assert_array_equal(out, ex.CHECKERBOARD.expected_map)


def test_vertical_edge_gives_0_at_1_1_and_responds_at_the_edge() -> None:
    out = ex.VERTICAL_EDGE.compute()
    assert out[1, 1] == 0.0
    assert np.count_nonzero(out) > 0
    np.testing.assert_array_equal(out, ex.VERTICAL_EDGE.expected_map)


def test_maxpool_example_has_no_ties_and_gives_the_stated_map() -> None:
    np.testing.assert_array_equal(ex.MAXPOOL.compute(), [[5.0, 2.0], [4.0, 2.0]])
    windows = ex.MAXPOOL.image.reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(4, 4)  # one row per window
    assert all(np.sum(row == row.max()) == 1 for row in windows)


@pytest.mark.parametrize(
    ("w", "k", "p", "s", "out"),
    [(5, 3, 0, 1, 3), (5, 3, 1, 1, 5), (6, 3, 0, 2, 2), (8, 3, 0, 1, 6), (8, 3, 1, 1, 8)],
)
def test_output_sizes(w: int, k: int, p: int, s: int, out: int) -> None:
    (example,) = [
        o for o in ex.OUTPUT_SIZES if (o.input_size, o.kernel_size, o.padding, o.stride) == (w, k, p, s)
    ]
    assert example.expected == out
    assert example.compute() == out


def test_receptive_fields() -> None:
    assert [(r.kernel_sizes, r.dilations, r.expected) for r in ex.RECEPTIVE_FIELDS] == [
        ((3, 3), None, 5),
        ((3, 3, 3, 3, 3), None, 11),
        ((3,), (2,), 5),
    ]
    assert [r.compute() for r in ex.RECEPTIVE_FIELDS] == [5, 11, 5]


def test_conv_params() -> None:
    assert [(p.in_channels, p.out_channels, p.compute()) for p in ex.CONV_PARAMS] == [
        (1, 32, 320),
        (32, 64, 18_496),
    ]


def test_fc_vs_conv_table() -> None:
    table = {(r.height, r.width, r.channels): r.compute() for r in ex.FC_VS_CONV}
    assert table == {
        (28, 28, 1): (78_400, 78_500, 288, 320),
        (64, 64, 3): (1_228_800, 1_228_900, 864, 896),
        (224, 224, 3): (15_052_800, 15_052_900, 864, 896),
    }
    assert all(r.compute() == r.expected for r in ex.FC_VS_CONV)


def test_examples_are_read_only() -> None:
    with pytest.raises(ValueError, match="read-only"):
        ex.CHECKERBOARD.image[0, 0] = 7.0


def test_demo_prints_every_example_and_succeeds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    text = capsys.readouterr().out
    assert "18 worked examples checked: all agree with the lecture." in text
    assert "MISMATCH" not in text
    assert "28x28x1             78,400        78,500           288           320  ok" in text
