"""Fashion-MNIST images for the course notebooks (student-safe helper: no solutions).

The images are read from the original gzipped IDX files in ``$FASHION_MNIST_DIR`` or, when that is not
set, ``/usr/share/datasets/fashion-mnist`` (Debian/Ubuntu package ``dataset-fashion-mnist``). If neither
has the files, :func:`load_images` returns simple synthetic 28x28 pictures and says so, so the notebook
still runs anywhere. Nothing is downloaded.

IDX format (big-endian): magic ``0x00000803`` (unsigned bytes, 3 dimensions), then the number of
images, rows and columns as uint32, then the pixels row by row; the label file has magic ``0x00000801``
and one uint32 count before the labels.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def data_dir() -> Path | None:
    """The folder holding the Fashion-MNIST ``.gz`` files, or None when they are not installed."""
    for folder in (os.environ.get("FASHION_MNIST_DIR"), SYSTEM_DIR):
        if folder and all((Path(folder) / name).is_file() for pair in FILES.values() for name in pair):
            return Path(folder)
    return None


def _read_idx(path: Path, magic: int, n: int | None) -> np.ndarray:
    """The first ``n`` items (all when None) of an IDX file: images (n, rows, cols) or labels (n,), uint8."""
    with gzip.open(path, "rb") as f:
        found, count = struct.unpack(">II", f.read(8))
        if found != magic:
            raise ValueError(f"{path} is not an IDX file of this kind (magic {found:#010x})")
        shape: tuple[int, ...] = (count if n is None else min(n, count),)
        if magic == 0x00000803:
            shape += struct.unpack(">II", f.read(8))
        data = f.read(int(np.prod(shape)))
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def synthetic_images(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` simple 28x28 uint8 pictures with straight edges (a square, a bar, a ring, ...); labels -1."""
    yy, xx = np.mgrid[0:28, 0:28]
    shapes = [
        (abs(yy - 14) < 8) & (abs(xx - 14) < 8),                      # square
        (abs(xx - 14) < 4) & (yy > 3) & (yy < 25),                    # vertical bar
        (abs(yy - 14) < 4) & (xx > 3) & (xx < 25),                    # horizontal bar
        abs(np.hypot(yy - 14, xx - 14) - 8) < 2.5,                    # ring
        (xx > yy - 6) & (xx < yy + 6) & (yy > 3) & (yy < 25),         # diagonal band
    ]
    images = np.stack([200 * shapes[i % len(shapes)] for i in range(n)]).astype(np.uint8)
    return images, np.full(n, -1, dtype=np.int64)


def load_images(n: int | None = 8, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` images of a split (all of them when ``n`` is None: 60,000 train, 10,000 test):
    ``(images uint8 (n, 28, 28), labels int64 (n,))``.

    Falls back to :func:`synthetic_images` (labels -1; 8 of them when ``n`` is None) with a printed
    note when the data is missing.
    """
    if split not in FILES:
        raise ValueError(f"split={split!r} must be 'train' or 'test'")
    folder = data_dir()
    if folder is None:
        print("Note: Fashion-MNIST was not found (set FASHION_MNIST_DIR to the folder with the .gz files);"
              " using synthetic pictures instead.")
        return synthetic_images(8 if n is None else n)
    image_file, label_file = FILES[split]
    images = _read_idx(folder / image_file, 0x00000803, n)
    labels = _read_idx(folder / label_file, 0x00000801, n).astype(np.int64)
    return images, labels


def label_name(label: int) -> str:
    """The class name of a label (``"synthetic"`` for the fallback pictures)."""
    return CLASS_NAMES[label] if 0 <= label < len(CLASS_NAMES) else "synthetic"
