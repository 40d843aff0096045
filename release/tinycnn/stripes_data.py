"""Noisy stripe images for the TinyCNN notebook (student-safe helper: no solutions).

Each image is ``size x size`` (8x8 by default), background 0, with one bright pattern (intensity 1)
plus Gaussian pixel noise of standard deviation ``noise`` (0.2):

- 0 ``vertical``: columns ``p <= c < p + w``, width ``w`` in {1, 2}, ``p`` in ``1 .. size - 1 - w``;
- 1 ``horizontal``: rows ``p <= r < p + w``;
- 2 ``diagonal``: pixels with ``d <= c - r < d + w``, ``d`` in ``-size//2 .. size//2 - w``;
- 3 ``dot``: a ``(w+1) x (w+1)`` square near the centre, shifted by -1, 0 or +1 pixel per direction
  (only with ``n_classes=4``).

The position is random, so no single pixel tells the classes apart. Classes are balanced and
shuffled; the same arguments always give the same arrays (the course's reference generator gives
exactly these arrays too).
"""

from __future__ import annotations

import numpy as np

CLASS_NAMES = ("vertical", "horizontal", "diagonal", "dot")


def make_stripes(
    n: int, n_classes: int = 3, size: int = 8, noise: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images ``X`` float64 (n, 1, size, size) and labels ``y`` int64 (n,)."""
    if n < 1 or not 2 <= n_classes <= 4 or size < 4 or noise < 0:
        raise ValueError("need n >= 1, n_classes in 2..4, size >= 4 and noise >= 0")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % n_classes).astype(np.int64)  # (n,)
    widths = rng.integers(1, 3, size=n)  # (n,) in {1, 2}
    position = rng.integers(1, size - widths)  # (n,) for vertical and horizontal stripes
    diagonal = rng.integers(-(size // 2), size // 2 - widths + 1)  # (n,) for diagonal stripes
    dot_shift = rng.integers(-1, 2, size=(n, 2))  # (n, 2) for dots
    offsets = np.where(labels == 2, diagonal, position)[:, None, None]  # (n, 1, 1)
    rows, cols = np.arange(size)[None, :, None], np.arange(size)[None, None, :]
    w = widths[:, None, None]  # (n, 1, 1)
    side = w + 1
    top = np.clip(size // 2 - side // 2 + dot_shift[:, 0, None, None], 0, size - side)
    left = np.clip(size // 2 - side // 2 + dot_shift[:, 1, None, None], 0, size - side)
    patterns = [
        (cols >= offsets) & (cols < offsets + w),  # vertical
        (rows >= offsets) & (rows < offsets + w),  # horizontal
        (cols - rows >= offsets) & (cols - rows < offsets + w),  # diagonal
        (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side),  # dot
    ]
    lab = labels[:, None, None]
    masks = np.select([lab == k for k in range(4)], patterns).astype(np.float64)  # (n, size, size)
    images = masks + noise * rng.standard_normal((n, size, size))
    return images[:, None, :, :], labels  # (n, 1, size, size), (n,)
