"""Fashion-MNIST images for the course notebooks (student-safe helper: no solutions).

The images are read from the original gzipped IDX files in ``$FASHION_MNIST_DIR`` when it is set, and
otherwise in ``/usr/share/datasets/fashion-mnist`` (Debian/Ubuntu package ``dataset-fashion-mnist``).
Nothing is downloaded. When the files are missing, :func:`load_images` prints where to get them and
returns a synthetic stand-in in the same format -- ten classes of simple shapes at random positions,
with labels 0-9 -- so that every cell of a notebook still runs (its numbers then say nothing about
clothes). :func:`class_names` and :func:`label_name` name the classes of whichever data is in use.

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
SYNTHETIC_NAMES = ("square", "ring", "disc", "vertical bar", "horizontal bar",
                   "diagonal", "anti-diagonal", "cross", "frame", "two bars")
"""The classes of the synthetic stand-in (used only when Fashion-MNIST is missing)."""
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
SIZES = {"train": 60_000, "test": 10_000}

HOW_TO_GET_IT = """\
To get the four files (about 30 MB), do one of these, then restart the kernel and run all cells again:
  1. Debian/Ubuntu:  sudo apt install dataset-fashion-mnist   (installs /usr/share/datasets/fashion-mnist)
  2. Download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and
     t10k-labels-idx1-ubyte.gz from https://github.com/zalandoresearch/fashion-mnist (folder data/fashion)
     into a folder, and set FASHION_MNIST_DIR to that folder before starting Jupyter.
  3. With torchvision, online:  python -c "import torchvision; torchvision.datasets.FashionMNIST('data', download=True)"
     then set FASHION_MNIST_DIR to data/FashionMNIST/raw before starting Jupyter."""


def search_dirs() -> list[Path]:
    """Where the files are looked for: ``$FASHION_MNIST_DIR`` alone when it is set, else the system folder."""
    folder = os.environ.get("FASHION_MNIST_DIR")
    return [Path(folder)] if folder else [SYSTEM_DIR]


def data_dir() -> Path | None:
    """The folder holding the Fashion-MNIST ``.gz`` files, or None when they are not installed."""
    for folder in search_dirs():
        if all((folder / name).is_file() for pair in FILES.values() for name in pair):
            return folder
    return None


def class_names() -> tuple[str, ...]:
    """The ten class names of the data :func:`load_images` returns (Fashion-MNIST's, or the stand-in's)."""
    return CLASS_NAMES if data_dir() is not None else SYNTHETIC_NAMES


def label_name(label: int) -> str:
    """The class name of a label."""
    names = class_names()
    return names[label] if 0 <= label < len(names) else "?"


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


def synthetic_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` 28x28 uint8 pictures of the ten :data:`SYNTHETIC_NAMES` shapes, each moved by up to 4 pixels,
    scaled by 0.75-1.25, with a random brightness and noise; labels 0-9 in equal numbers, shuffled."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 10).astype(np.int64)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    grid = np.arange(28) - 13.5
    for k in range(10):
        index = np.flatnonzero(labels == k)
        m = len(index)
        shift = rng.uniform(-4, 4, size=(2, m, 1, 1))
        scale = rng.uniform(0.75, 1.25, size=(m, 1, 1))
        y = (grid[None, :, None] - shift[0]) / scale            # (m, 28, 1)
        x = (grid[None, None, :] - shift[1]) / scale            # (m, 1, 28)
        mask = _shape(k, y, x)
        brightness = rng.uniform(120, 255, size=(m, 1, 1))
        noise = rng.normal(0, 25, size=(m, 28, 28))
        images[index] = np.clip(mask * brightness + noise, 0, 255).astype(np.uint8)
    return images, labels


def _shape(k: int, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Where shape ``k`` of :data:`SYNTHETIC_NAMES` covers the picture (True), at coordinates y, x."""
    r = np.hypot(y, x)
    ring = np.maximum(abs(x), abs(y))
    if k == 0:
        return (abs(y) < 7) & (abs(x) < 7)                          # square
    if k == 1:
        return abs(r - 7) < 2                                       # ring
    if k == 2:
        return r < 6                                                # disc
    if k == 3:
        return (abs(x) < 2.5) & (abs(y) < 10)                       # vertical bar
    if k == 4:
        return (abs(y) < 2.5) & (abs(x) < 10)                       # horizontal bar
    if k == 5:
        return (abs(x - y) < 3) & (abs(x + y) < 18)                 # diagonal
    if k == 6:
        return (abs(x + y) < 3) & (abs(x - y) < 18)                 # anti-diagonal
    if k == 7:
        return ((abs(x) < 2) | (abs(y) < 2)) & (ring < 9)           # cross
    if k == 8:
        return (ring < 9) & (ring > 6)                              # frame
    return ((abs(x - 5) < 2) | (abs(x + 5) < 2)) & (abs(y) < 9)     # two bars


_told = False


def load_images(n: int | None = 8, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` images of a split (all of them when ``n`` is None: 60,000 train, 10,000 test):
    ``(images uint8 (n, 28, 28), labels int64 (n,))``.

    When the files are missing, prints where to get them and returns :func:`synthetic_images` instead.
    """
    if split not in FILES:
        raise ValueError(f"split={split!r} must be 'train' or 'test'")
    global _told
    folder = data_dir()
    if folder is None:
        where = " or ".join(str(p) for p in search_dirs())
        if not _told:  # once per kernel
            print(f"Fashion-MNIST was not found in {where}.\n{HOW_TO_GET_IT}\n"
                  "Until then, this notebook runs on a synthetic stand-in: pictures of ten simple shapes "
                  "(square, ring, ...) in the same format. Every cell runs, but the numbers say nothing "
                  "about clothes: answer the written questions with the real data.")
            _told = True
        return synthetic_images(SIZES[split] if n is None else n, seed=0 if split == "train" else 1)
    image_file, label_file = FILES[split]
    images = _read_idx(folder / image_file, 0x00000803, n)
    labels = _read_idx(folder / label_file, 0x00000801, n).astype(np.int64)
    return images, labels
