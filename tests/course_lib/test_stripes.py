"""course_lib.stripes: shapes, balance, determinism, the patterns as specified, noise, errors.

The pattern oracles are the definitions of the module docstring, checked on noise-free images
(``noise=0``): each class is recognised by a property of the picture itself (rows all equal, ...).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.strategies import stripes_kwargs
from course_lib.stripes import CLASS_NAMES, DEFAULT_NOISE, make_stripes


@given(stripes_kwargs())
def test_shapes_dtypes_and_balance(kwargs: dict[str, Any]) -> None:
    X, y = make_stripes(**kwargs)
    n, n_classes, size = kwargs["n"], kwargs["n_classes"], kwargs["size"]
    assert X.shape == (n, 1, size, size) and X.dtype == np.float64
    assert y.shape == (n,) and y.dtype == np.int64
    counts = np.bincount(y, minlength=n_classes)
    assert counts.size == n_classes
    assert counts.max() - counts.min() <= 1
    assert counts.sum() == n


def test_same_seed_same_data_other_seed_other_data() -> None:
    X1, y1 = make_stripes(50, seed=3)
    X2, y2 = make_stripes(50, seed=3)
    X3, _ = make_stripes(50, seed=4)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)


def test_labels_are_shuffled() -> None:
    _, y = make_stripes(300, seed=0)
    assert not np.array_equal(y, np.arange(300) % 3)


def _lit(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.nonzero(image > 0.5)


@settings(max_examples=25)
@given(size=st.integers(4, 12), seed=st.integers(0, 2**16))
def test_noise_free_patterns_follow_their_definition(size: int, seed: int) -> None:
    X, y = make_stripes(40, n_classes=4, size=size, noise=0.0, seed=seed)
    assert set(np.unique(X)) <= {0.0, 1.0}
    for image, label in zip(X[:, 0], y, strict=True):
        rows, cols = _lit(image)
        assert rows.size > 0, "every image shows a pattern"
        if CLASS_NAMES[label] == "vertical":
            assert (image == image[0]).all(), "every row is the same"
            band = np.unique(cols)
            assert band.size in (1, 2) and np.all(np.diff(band) == 1)
            assert band.min() >= 1 and band.max() <= size - 2, "never touches the border"
        elif CLASS_NAMES[label] == "horizontal":
            assert (image.T[0] == image.T).all(), "every column is the same"
            band = np.unique(rows)
            assert band.size in (1, 2) and np.all(np.diff(band) == 1)
            assert band.min() >= 1 and band.max() <= size - 2
        elif CLASS_NAMES[label] == "diagonal":
            offsets = np.unique(cols - rows)
            assert offsets.size in (1, 2) and np.all(np.diff(offsets) == 1)
            # every pixel on those diagonals is lit: the stripe runs from border to border
            for d in offsets:
                diag = np.diagonal(image, offset=int(d))
                assert (diag == 1).all()
                assert diag.size >= size // 2
        else:
            side = np.unique(rows).size
            assert side in (2, 3) and np.unique(cols).size == side
            assert rows.size == side * side, "a filled square"
            centre = (size - 1) / 2
            assert abs(rows.mean() - centre) <= 1.5 and abs(cols.mean() - centre) <= 1.5


def test_three_classes_are_vertical_horizontal_diagonal() -> None:
    X, y = make_stripes(30, n_classes=3, noise=0.0)
    assert set(y) == {0, 1, 2}
    vertical = X[y == 0, 0]
    assert (vertical == vertical[:, :1, :]).all()


@pytest.mark.parametrize("noise", [0.1, DEFAULT_NOISE, 0.7])
def test_noise_is_gaussian_with_the_requested_std(noise: float) -> None:
    clean, y_clean = make_stripes(3000, noise=0.0, seed=5)
    noisy, y_noisy = make_stripes(3000, noise=noise, seed=5)
    np.testing.assert_array_equal(y_clean, y_noisy)
    residual = (noisy - clean).ravel()
    assert abs(residual.mean()) < 0.01
    assert residual.std() == pytest.approx(noise, rel=0.02)


def test_default_noise_is_documented_value() -> None:
    assert DEFAULT_NOISE == 0.2


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n": 0}, ValueError, "n=0 must be >= 1"),
        ({"n": 10, "n_classes": 1}, ValueError, "n_classes=1 must be in 2..4"),
        ({"n": 10, "n_classes": 5}, ValueError, "n_classes=5 must be in 2..4"),
        ({"n": 10, "size": 3}, ValueError, "size=3 must be >= 4"),
        ({"n": 10, "noise": -0.1}, ValueError, "noise=-0.1 must be a finite standard deviation >= 0"),
        ({"n": 10, "noise": float("nan")}, ValueError, "noise=nan"),
        ({"n": 10, "seed": -1}, ValueError, "seed=-1 must be >= 0"),
        ({"n": True}, TypeError, "n must be an int"),
        ({"n": 10.0}, TypeError, "n must be an int"),
        ({"n": 10, "n_classes": 3.0}, TypeError, "n_classes must be an int"),
        ({"n": 10, "noise": "0.2"}, TypeError, "noise must be a real number"),
        ({"n": 10, "noise": True}, TypeError, "noise must be a real number"),
    ],
)
def test_invalid_arguments_are_named(kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(".", r"\.")):
        make_stripes(**kwargs)  # type: ignore[arg-type]
