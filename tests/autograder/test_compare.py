"""autograder.compare: any correct representation passes, every wrong one fails with a clear message."""

from __future__ import annotations

import numpy as np
import pytest

from autograder.compare import Tolerance, compare, format_number, format_pair

EXPECTED = np.arange(6.0).reshape(2, 3)


@pytest.mark.parametrize(
    "got",
    [
        EXPECTED.copy(),
        EXPECTED.astype(np.float32),
        EXPECTED.astype(np.int64),
        EXPECTED.tolist(),
        EXPECTED + 1e-7,  # within atol = 1e-6 * max(1, 5)
    ],
    ids=["float64", "float32", "int64", "nested list", "rounding"],
)
def test_correct_arrays_pass(got: object) -> None:
    assert compare(EXPECTED, got) is None


def test_float32_sums_pass_at_scale() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((64, 27)), rng.standard_normal((27, 8))
    assert compare(a @ b, a.astype(np.float32) @ b.astype(np.float32)) is None


def test_wrong_shape_names_both_shapes() -> None:
    assert (
        compare(np.zeros((1, 1, 1, 1)), np.zeros((1, 1, 2, 2)))
        == "expected shape (1, 1, 1, 1), got (1, 1, 2, 2)"
    )


def test_first_differing_element_in_row_major_order() -> None:
    got = EXPECTED.copy()
    got[1, 0], got[1, 2] = 2.5, -1.0
    assert compare(EXPECTED, got) == "at [1, 0]: expected 3.0, got 2.5 (2 of 6 elements differ)"


@pytest.mark.parametrize(
    ("got", "message"),
    [
        (None, "expected an array of shape (2, 3), got None"),
        ("abc", "expected an array of shape (2, 3), got str 'abc'"),
        ([[1.0, 2.0], [3.0]], "expected an array of shape (2, 3), got a list of 2 items"),
        (
            np.array(["a"] * 6).reshape(2, 3),
            "expected an array of shape (2, 3), got an array of shape (2, 3) and dtype <U1",
        ),
    ],
    ids=["None", "str", "ragged list", "strings"],
)
def test_wrong_types_fail_with_a_message(got: object, message: str) -> None:
    assert compare(EXPECTED, got) == message


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_fail(bad: float) -> None:
    got = EXPECTED.copy()
    got[0, 1] = bad
    assert (
        compare(EXPECTED, got)
        == f"at [0, 1]: expected 1.0, got {format_number(bad)} (1 of 6 elements differ)"
    )


def test_tolerance_scales_with_the_values() -> None:
    big = np.array([1e6, 2e6])
    assert compare(big, big + 0.5) is None  # atol = 1e-6 * 2e6 = 2
    assert compare(big, big + 50.0) is not None
    assert compare(np.array([1e-3]), np.array([1.5e-3])) is not None


def test_ints_are_exact_and_integral_floats_count() -> None:
    assert compare(3, 3) is None
    assert compare(3, np.int64(3)) is None
    assert compare(3, 3.0) is None
    assert compare(3, np.array(3)) is None
    assert compare(2, 2.5) == "expected 2, got 2.5"
    assert compare(3, True) == "expected the int 3, got bool True"
    assert compare(3, [3]) == "expected the int 3, got a list of 1 items"


def test_floats_use_the_scaled_tolerance() -> None:
    assert compare(0.5, 0.5 + 1e-9) is None
    assert compare(0.0, float("nan")) == "expected 0.0, got nan"
    assert compare(0.25, None) == "expected a number close to 0.25, got None"


def test_tuples_label_their_items() -> None:
    expected = (np.zeros(2), np.ones(2), np.array([3.0]))
    assert compare(expected, [np.zeros(2), np.ones(2), np.array([3.0])], names=("dx", "dw", "db")) is None
    message = compare(expected, (np.zeros(2), np.zeros(2), np.array([3.0])), names=("dx", "dw", "db"))
    assert message == "dw: at [0]: expected 1.0, got 0.0 (2 of 2 elements differ)"
    assert compare(expected, np.zeros(2), names=("dx", "dw", "db")) == (
        "expected 3 values (dx, dw, db), got an array of shape (2,) and dtype float64"
    )


def test_dicts_compare_key_by_key() -> None:
    assert compare({"grad": np.ones(2)}, {"grad": np.ones(2), "extra": 1}) is None
    assert compare({"x": np.ones(2)}, {}) == "missing 'x' in the result"


def test_exact_tolerance_catches_any_change() -> None:
    assert compare(np.ones(3), np.ones(3) + 1e-12, Tolerance(0.0, 0.0)) is not None


def test_format_number_is_short_and_stable() -> None:
    assert [format_number(v) for v in (2, 2.0, 0.1 + 0.2, 1e-9, -np.inf)] == [
        "2",
        "2.0",
        "0.3",
        "1e-09",
        "-inf",
    ]


def test_numbers_that_print_alike_get_the_digits_that_show_the_difference() -> None:
    exact = Tolerance(0.0, 0.0)
    one_ulp = float(np.nextafter(1.5, 2.0))
    assert compare(1.5, one_ulp, exact) == "expected 1.5, got 1.5000000000000002"
    assert (
        compare(np.array([1.5]), np.array([one_ulp]), exact) == "at [0]: expected 1.5, got 1.5000000000000002"
    )
    assert compare(3, 3.0000000000000004) == "expected 3, got 3.0000000000000004"
    assert compare(1.5, 2.5) == "expected 1.5, got 2.5"  # short when short is enough
    assert format_pair(0.1, 0.30000000000000004) == ("0.1", "0.3")
