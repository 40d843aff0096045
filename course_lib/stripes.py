r"""Synthetic stripe images: the data set of the TinyCNN experiments.

Each image is a ``size x size`` grey-level picture, background 0, with one bright pattern
(intensity 1) drawn on it, plus independent Gaussian pixel noise of standard deviation ``noise``:

====  ===========  ==========================================================================
 y    name         pattern (``w`` = width, uniform in {1, 2}; ``r, c`` = row, column)
====  ===========  ==========================================================================
 0    vertical     columns ``p <= c < p + w``, ``p`` uniform in ``1 .. size - 1 - w``
 1    horizontal   rows ``p <= r < p + w``, ``p`` uniform in ``1 .. size - 1 - w``
 2    diagonal     pixels with ``d <= c - r < d + w`` (top-left to bottom-right, "\\"),
                   ``d`` uniform in ``-size//2 .. size//2 - w`` (at least ``size//2`` pixels long)
 3    dot          a ``(w+1) x (w+1)`` square at the centre (top-left corner at
                   ``size//2 - (w+1)//2``), shifted by -1, 0 or +1 pixel per direction
                   but kept inside the image (only with ``n_classes=4``)
====  ===========  ==========================================================================

Vertical and horizontal stripes never touch the border, so that a *valid* 3x3 window can be
centred on them wherever they are: a symmetric line detector then sees every stripe.
Classes are balanced (the first ``n % n_classes`` classes get one image more) and shuffled; the
same arguments always give the same arrays.

Difficulty (``noise=0.2`` by default): the stripe's position is random, so no single pixel
tells the classes apart -- an MLP with one or two hidden units stays far below 99 % -- while
TinyCNN's three 3x3 filters learn position-independent line detectors and reach > 99 % held-out
accuracy within a few epochs (``python -m course_lib.tinycnn sweep`` measures both). With
``noise=0.3`` and above, three filters no longer reach 99 % reliably.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import NDArray

from course_lib.validation import Array, check_int

CLASS_NAMES: tuple[str, ...] = ("vertical", "horizontal", "diagonal", "dot")
"""Class names, indexed by label."""

DEFAULT_NOISE = 0.2
"""Default standard deviation of the Gaussian pixel noise (stripe intensity is 1)."""


def _check_range(name: str, value: object, minimum: int, maximum: int) -> int:
    """An int (not a bool) in ``minimum..maximum``."""
    value = check_int(name, value)
    if not minimum <= value <= maximum:
        raise ValueError(f"{name}={value} must be in {minimum}..{maximum}")
    return value


def _check_noise(noise: object) -> float:
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real):
        raise TypeError(f"noise must be a real number, got {type(noise).__name__} ({noise!r})")
    value = float(noise)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"noise={noise!r} must be a finite standard deviation >= 0")
    return value


def _patterns(
    labels: NDArray[np.int64],
    widths: NDArray[np.int64],
    offsets: NDArray[np.int64],
    dot_shift: NDArray[np.int64],
    size: int,
) -> Array:
    r"""The noise-free patterns: (N,) labels, widths, offsets and (N, 2) dot shifts -> (N, size, size).

    ``offsets`` is the stripe position ``p`` (vertical, horizontal) or the diagonal offset ``d``;
    ``dot_shift`` the (row, column) jitter of a dot's top-left corner from the centred position
    ``size//2 - (w+1)//2``, clipped so that the dot stays inside. Values are 0 or 1.
    """
    rows = np.arange(size)[None, :, None]  # (1, size, 1)
    cols = np.arange(size)[None, None, :]  # (1, 1, size)
    lab = labels[:, None, None]  # (N, 1, 1)
    w = widths[:, None, None]  # (N, 1, 1)
    p = offsets[:, None, None]  # (N, 1, 1)
    vertical = (cols >= p) & (cols < p + w)
    horizontal = (rows >= p) & (rows < p + w)
    diagonal = (cols - rows >= p) & (cols - rows < p + w)
    side = w + 1
    centred = size // 2 - side // 2  # (N, 1, 1)
    top = np.clip(centred + dot_shift[:, 0, None, None], 0, size - side)  # (N, 1, 1)
    left = np.clip(centred + dot_shift[:, 1, None, None], 0, size - side)  # (N, 1, 1)
    dot = (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)
    masks = np.select([lab == 0, lab == 1, lab == 2, lab == 3], [vertical, horizontal, diagonal, dot])
    return masks.astype(np.float64)  # (N, size, size)


def make_stripes(
    n: int, n_classes: int = 3, size: int = 8, noise: float = DEFAULT_NOISE, seed: int = 0
) -> tuple[Array, NDArray[np.int64]]:
    r"""Generate ``n`` noisy stripe images and their labels.

    Args:
        n: number of images, >= 1.
        n_classes: 2..4; the classes are the first ``n_classes`` of :data:`CLASS_NAMES`
            (vertical, horizontal, diagonal, dot).
        size: image side, >= 4.
        noise: standard deviation of the additive Gaussian pixel noise, >= 0
            (default :data:`DEFAULT_NOISE` = 0.2; the pattern intensity is 1).
        seed: seed of the ``numpy.random.default_rng`` that draws labels, patterns and noise.

    Returns:
        ``X`` float64 of shape (n, 1, size, size) and ``y`` int64 of shape (n,), balanced
        (class counts differ by at most one) and shuffled.

    Raises:
        TypeError: a count is not an int (``bool`` is rejected), or noise is not a real number.
        ValueError: ``n < 1``, ``n_classes`` outside 2..4, ``size < 4`` or ``noise < 0``.
    """
    n = check_int("n", n, minimum=1)
    n_classes = _check_range("n_classes", n_classes, 2, len(CLASS_NAMES))
    size = check_int("size", size, minimum=4)
    sigma = _check_noise(noise)
    seed = check_int("seed", seed, minimum=0)

    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % n_classes).astype(np.int64)  # (n,)
    widths = rng.integers(1, 3, size=n)  # (n,) in {1, 2}
    position = rng.integers(1, size - widths)  # (n,) vertical / horizontal: 1 .. size - 1 - w
    diagonal = rng.integers(-(size // 2), size // 2 - widths + 1)  # (n,) -size//2 .. size//2 - w
    dot_shift = rng.integers(-1, 2, size=(n, 2))  # (n, 2) dot: -1, 0, +1 per direction
    offsets = np.where(labels == 2, diagonal, position).astype(np.int64)  # (n,)
    masks = _patterns(labels, widths.astype(np.int64), offsets, dot_shift, size)  # (n, size, size)
    images = masks + sigma * rng.standard_normal((n, size, size))  # (n, size, size)
    return images[:, None, :, :], labels  # (n, 1, size, size), (n,)
