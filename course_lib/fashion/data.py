r"""Fashion-MNIST from the original ``.gz`` IDX files, verified, plus fast in-memory torch loaders.

Where the files come from, in this order (:func:`locate_fashion_mnist`):

1. ``$FASHION_MNIST_DIR`` (a directory holding the four ``*-ubyte.gz`` files);
2. ``/usr/share/datasets/fashion-mnist`` (Debian/Ubuntu package ``dataset-fashion-mnist``);
3. a torchvision ``FashionMNIST`` root (``$FASHION_MNIST_ROOT``, default
   ``~/.cache/course_lib/fashion-mnist``), downloaded with ``download=True`` when the machine is online.

Nothing is ever cached inside the repository.

The IDX format (big-endian): a 4-byte magic ``0x00000803`` (uint8 data, 3 dimensions) for images or
``0x00000801`` (1 dimension) for labels, then one uint32 per dimension, then the bytes. Every file is
checked: magic number, dimensions, exact length, and (``verify=True``) the SHA-256 of the
*decompressed* bytes, since the ``.gz`` bytes differ between mirrors (Debian's are recompressed).

Normalisation uses the training set's pixel mean and standard deviation on the [0, 1] scale,
:math:`\hat x = (x / 255 - \mu) / \sigma`, computed by :func:`normalization_stats` (the lecture quotes
:math:`\mu \approx 0.286`, :math:`\sigma \approx 0.353`).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from course_lib.validation import check_int

Split = Literal["train", "test"]

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
IMAGE_SIZE = 28
N_CLASSES = len(CLASS_NAMES)
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_TORCHVISION_ROOT = Path("~/.cache/course_lib/fashion-mnist")
LECTURE_MEAN = 0.286
LECTURE_STD = 0.353

IMAGES_MAGIC = 0x00000803  # uint8, 3 dimensions
LABELS_MAGIC = 0x00000801  # uint8, 1 dimension

FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
COUNTS: dict[str, int] = {"train": 60_000, "test": 10_000}
# SHA-256 of the decompressed IDX bytes of the canonical release (identical for every mirror).
SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

HOW_TO_GET_THE_DATA = (
    "Fashion-MNIST was not found. Get it in one of three ways:\n"
    "  1. set FASHION_MNIST_DIR to a directory holding train-images-idx3-ubyte.gz, "
    "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz;\n"
    "  2. install the Debian/Ubuntu package: sudo apt-get install dataset-fashion-mnist "
    f"(files in {SYSTEM_DIR});\n"
    "  3. go online once: torchvision's FashionMNIST(root, download=True) fetches it into "
    "$FASHION_MNIST_ROOT (default ~/.cache/course_lib/fashion-mnist)."
)


class DataNotFoundError(FileNotFoundError):
    """None of the three sources holds the Fashion-MNIST files."""


class CorruptDataError(ValueError):
    """A data file is truncated, not gzip, has the wrong header, length or checksum."""


# --------------------------------------------------------------------------------------------------
# Reading and locating the IDX files
# --------------------------------------------------------------------------------------------------


def _decompress(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read()
    except (EOFError, OSError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise CorruptDataError(
            f"{path}: not a complete gzip file ({err}); delete it and get it again"
        ) from err


def read_idx(path: str | Path, expected_sha256: str | None = None) -> np.ndarray:
    """Read one gzipped IDX file of unsigned bytes into an array of the shape its header declares.

    Checks the magic number (``0x0000080D`` with D = 1 or 3 dimensions), that the payload length is
    exactly the product of the dimensions, and, when ``expected_sha256`` is given, the SHA-256 of the
    decompressed bytes. Any mismatch raises :class:`CorruptDataError` naming the file.
    """
    path = Path(path)
    raw = _decompress(path)
    if len(raw) < 4:
        raise CorruptDataError(f"{path}: {len(raw)} bytes is too short for an IDX header")
    magic = struct.unpack(">I", raw[:4])[0]
    if magic not in (IMAGES_MAGIC, LABELS_MAGIC):
        raise CorruptDataError(
            f"{path}: magic number 0x{magic:08x} is not an IDX file of unsigned bytes "
            f"(expected 0x{LABELS_MAGIC:08x} or 0x{IMAGES_MAGIC:08x})"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise CorruptDataError(f"{path}: truncated header ({len(raw)} < {header} bytes)")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise CorruptDataError(
            f"{path}: {len(raw)} bytes, but the header {dims} needs exactly {expected} (truncated or padded)"
        )
    if expected_sha256 is not None:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != expected_sha256:
            raise CorruptDataError(
                f"{path}: SHA-256 of the decompressed bytes is {digest}, expected {expected_sha256}"
            )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)  # (N,) or (N, 28, 28)


def _has_files(directory: Path) -> bool:
    return all((directory / name).is_file() for pair in FILES.values() for name in pair)


def _torchvision_download(root: Path) -> Path | None:
    """Download with torchvision into ``root``; ``None`` when offline or the download fails."""
    from torchvision.datasets import FashionMNIST

    raw = root / "FashionMNIST" / "raw"
    if _has_files(raw):
        return raw
    try:
        FashionMNIST(str(root), train=True, download=True)
        FashionMNIST(str(root), train=False, download=True)
    except (OSError, RuntimeError):  # URLError is an OSError; torchvision raises RuntimeError on bad md5
        return None
    return raw if _has_files(raw) else None


def locate_fashion_mnist(
    environ: Mapping[str, str] | None = None,
    system_dir: str | Path = SYSTEM_DIR,
    download: bool = True,
) -> Path:
    """The directory holding the four ``.gz`` files, searched in the order of the module docstring.

    ``$FASHION_MNIST_DIR``, when set, must hold the files (a wrong path is an error, not a fallback).
    ``download=False`` never touches the network. Raises :class:`DataNotFoundError` listing the three
    ways to get the data.
    """
    env = os.environ if environ is None else environ
    if env.get("FASHION_MNIST_DIR"):
        directory = Path(env["FASHION_MNIST_DIR"]).expanduser()
        if not _has_files(directory):
            missing = [n for pair in FILES.values() for n in pair if not (directory / n).is_file()]
            raise DataNotFoundError(f"FASHION_MNIST_DIR={directory} lacks {missing}.\n{HOW_TO_GET_THE_DATA}")
        return directory
    if _has_files(Path(system_dir)):
        return Path(system_dir)
    root = Path(env.get("FASHION_MNIST_ROOT") or DEFAULT_TORCHVISION_ROOT).expanduser()
    raw = root / "FashionMNIST" / "raw"
    if _has_files(raw):
        return raw
    if download:
        found = _torchvision_download(root)
        if found is not None:
            return found
    raise DataNotFoundError(HOW_TO_GET_THE_DATA)


def load_fashion_mnist(
    split: Split = "train", data_dir: str | Path | None = None, verify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Images ``uint8 (N, 28, 28)`` and labels ``int64 (N,)`` of one split (``"train"`` or ``"test"``).

    ``data_dir`` overrides the search of :func:`locate_fashion_mnist`. ``verify=True`` demands the
    canonical release (60,000 / 10,000 images and their SHA-256); ``verify=False`` still checks the
    IDX structure and that images and labels agree, for small synthetic stand-ins.
    """
    if split not in FILES:
        raise ValueError(f"split={split!r} must be 'train' or 'test'")
    directory = Path(data_dir) if data_dir is not None else locate_fashion_mnist()
    image_name, label_name = FILES[split]
    images = read_idx(directory / image_name, SHA256[image_name] if verify else None)
    labels = read_idx(directory / label_name, SHA256[label_name] if verify else None)
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise CorruptDataError(f"{directory / image_name}: shape {images.shape}, expected (N, 28, 28)")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise CorruptDataError(f"{directory}: {labels.shape} labels for {images.shape[0]} {split} images")
    if verify and images.shape[0] != COUNTS[split]:
        raise CorruptDataError(f"{directory}: {images.shape[0]} {split} images, expected {COUNTS[split]}")
    if labels.size and int(labels.max()) >= N_CLASSES:
        raise CorruptDataError(f"{directory / label_name}: label {int(labels.max())} is not a class 0..9")
    return images.copy(), labels.astype(np.int64)


def write_synthetic_fashion(
    directory: str | Path, n_train: int = 64, n_test: int = 32, seed: int = 0
) -> Path:
    """Write a tiny, learnable stand-in in the same IDX ``.gz`` format; returns ``directory``.

    Class ``c`` is a bright horizontal bar at rows ``2c + 4 .. 2c + 7`` on a noisy dark background,
    so a model can fit it within a few steps. Never passes ``verify=True`` (its checksums differ).
    """
    n_train, n_test = check_int("n_train", n_train, minimum=1), check_int("n_test", n_test, minimum=1)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        labels = (np.arange(n) % N_CLASSES).astype(np.uint8)
        rng.shuffle(labels)
        images = rng.integers(0, 60, size=(n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
        for i, c in enumerate(labels):
            images[i, 2 * c + 4 : 2 * c + 8, 4:24] = 230
        image_name, label_name = FILES[split]
        with gzip.open(directory / image_name, "wb") as fh:
            fh.write(struct.pack(">IIII", IMAGES_MAGIC, n, IMAGE_SIZE, IMAGE_SIZE) + images.tobytes())
        with gzip.open(directory / label_name, "wb") as fh:
            fh.write(struct.pack(">II", LABELS_MAGIC, n) + labels.tobytes())
    return directory


# --------------------------------------------------------------------------------------------------
# Normalisation, validation split, augmentation
# --------------------------------------------------------------------------------------------------


def normalization_stats(images: np.ndarray) -> tuple[float, float]:
    """Mean and (population) standard deviation of all pixels on the [0, 1] scale."""
    if images.dtype != np.uint8:
        raise TypeError(f"images.dtype={images.dtype} must be uint8")
    scaled = images.astype(np.float64) / 255.0
    return float(scaled.mean()), float(scaled.std())


def to_tensor(images: np.ndarray, mean: float, std: float) -> torch.Tensor:
    """uint8 ``(N, 28, 28)`` -> normalised float32 ``(N, 1, 28, 28)``: ``(x / 255 - mean) / std``."""
    if std <= 0:
        raise ValueError(f"std={std} must be positive")
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0)
    return x.sub_(mean).div_(std).unsqueeze(1)  # (N, 1, 28, 28)


def train_val_split(n: int, val_size: int | float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of ``range(n)`` into (train indices, validation indices), both sorted.

    ``val_size`` is a count (int) or a fraction in [0, 1) (float).
    """
    if isinstance(val_size, bool):
        raise TypeError("val_size must be an int count or a float fraction, not bool")
    n_val = round(val_size * n) if isinstance(val_size, float) else int(val_size)
    if isinstance(val_size, float) and not 0.0 <= val_size < 1.0:
        raise ValueError(f"val_size={val_size} as a fraction must be in [0, 1)")
    if not 0 <= n_val < n:
        raise ValueError(f"val_size={val_size} must leave at least one of the n={n} training images")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def random_crop_flip(
    x: torch.Tensor, generator: torch.Generator, padding: int = 2, fill: float = 0.0, flip_p: float = 0.5
) -> torch.Tensor:
    """Batched ``RandomCrop(H, padding)`` + ``RandomHorizontalFlip(flip_p)`` on ``(N, C, H, W)`` tensors.

    Each image is zero-padded (value ``fill``, i.e. the normalised black) by ``padding`` on every
    side, cropped back to ``H x W`` at a random offset in ``[0, 2 * padding]``, then mirrored with
    probability ``flip_p``; equivalent in distribution to the torchvision transforms, applied to the
    whole batch with one gather instead of per-image PIL calls.
    """
    n, c, h, w = x.shape  # (N, C, H, W)
    padded = torch.nn.functional.pad(x, (padding,) * 4, value=fill)  # (N, C, H + 2P, W + 2P)
    dy = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator)
    rows = dy + torch.arange(h)  # (N, H)
    cols = dx + torch.arange(w)  # (N, W)
    flip = torch.rand(n, generator=generator) < flip_p
    cols = torch.where(flip[:, None], cols.flip(1), cols)  # mirrored columns for flipped images
    batch = torch.arange(n)[:, None, None, None]
    chan = torch.arange(c)[None, :, None, None]
    return padded[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]  # (N, C, H, W)


def torchvision_transforms(mean: float, std: float, augment: bool) -> Callable[[np.ndarray], torch.Tensor]:
    """The per-sample torchvision pipeline (uint8 (28, 28) -> float (1, 28, 28)): the course's reference.

    Train: ``RandomCrop(28, padding=2)``, ``RandomHorizontalFlip()``, then normalise; test: normalise.
    """
    from torchvision import transforms

    steps: list[Callable[..., object]] = [transforms.ToTensor()]
    if augment:
        steps += [transforms.RandomCrop(IMAGE_SIZE, padding=2), transforms.RandomHorizontalFlip()]
    steps.append(transforms.Normalize((mean,), (std,)))
    return transforms.Compose(steps)


class FashionDataset(Dataset[tuple[torch.Tensor, int]]):
    """A map-style ``Dataset`` over uint8 images with a per-sample transform (the torchvision path)."""

    def __init__(
        self, images: np.ndarray, labels: np.ndarray, transform: Callable[[np.ndarray], torch.Tensor]
    ) -> None:
        if len(images) != len(labels):
            raise ValueError(f"len(images)={len(images)} must equal len(labels)={len(labels)}")
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.images[i]), int(self.labels[i])


class TensorLoader:
    """A fast in-memory loader: the whole split is one tensor and a batch is one indexing operation.

    Iterating yields ``(x (B, 1, 28, 28), y (B,))``. ``shuffle`` draws a new permutation from the
    seeded generator every epoch; ``augment`` applies :func:`random_crop_flip` to each batch (train
    only); ``channels_last`` returns NHWC-strided batches for faster CPU convolutions.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int = 128,
        shuffle: bool = False,
        augment: bool = False,
        fill: float = 0.0,
        seed: int = 0,
        drop_last: bool = False,
        channels_last: bool = False,
    ) -> None:
        if x.ndim != 4 or len(x) != len(y):
            raise ValueError(f"x.shape={tuple(x.shape)} must be (N, C, H, W) with N = len(y) = {len(y)}")
        batch_size = check_int("batch_size", batch_size, minimum=1)
        self.x, self.y = x, y
        self.batch_size, self.shuffle, self.augment, self.fill = batch_size, shuffle, augment, fill
        self.drop_last, self.channels_last = drop_last, channels_last
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.y)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def n_samples(self) -> int:
        return len(self) * self.batch_size if self.drop_last else len(self.y)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.y)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            x = self.x[idx]  # (B, 1, 28, 28)
            if self.augment:
                x = random_crop_flip(x, self.generator, fill=self.fill)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self.y[idx]


@dataclass
class FashionData:
    """Both splits as uint8 arrays, loaded once and shared by trainings (``subset`` keeps the first n)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray

    @classmethod
    def load(cls, data_dir: str | Path | None = None, verify: bool = True) -> FashionData:
        train = load_fashion_mnist("train", data_dir, verify)
        test = load_fashion_mnist("test", data_dir, verify)
        return cls(*train, *test)

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> FashionData:
        return FashionData(
            self.train_images[:n_train],
            self.train_labels[:n_train],
            self.test_images[:n_test],
            self.test_labels[:n_test],
        )


@dataclass
class Loaders:
    """Train / validation / test loaders and the normalisation they share."""

    train: TensorLoader
    val: TensorLoader | None
    test: TensorLoader
    mean: float
    std: float


def make_loaders(
    data: FashionData,
    batch_size: int = 128,
    val_size: int | float = 0,
    augment: bool = False,
    seed: int = 0,
    eval_batch_size: int = 1000,
    channels_last: bool = False,
    normalization: tuple[float, float] | None = None,
) -> Loaders:
    """Fast in-memory loaders; augmentation (when asked) on the training loader only.

    ``normalization`` is a fixed (mean, std) of the [0, 1] pixels, e.g. the lecture's
    ``(LECTURE_MEAN, LECTURE_STD)``; ``None`` computes them from the (post-split) training images only.
    """
    train_idx, val_idx = train_val_split(len(data.train_labels), val_size, seed)
    if normalization is None:
        mean, std = normalization_stats(data.train_images[train_idx])
    else:
        mean, std = (float(v) for v in normalization)
    fill = -mean / std  # a black pixel after normalisation

    def loader(images: np.ndarray, labels: np.ndarray, train: bool) -> TensorLoader:
        return TensorLoader(
            to_tensor(images, mean, std),
            torch.from_numpy(labels),
            batch_size if train else eval_batch_size,
            shuffle=train,
            augment=augment and train,
            fill=fill,
            seed=seed,
            channels_last=channels_last,
        )

    val = loader(data.train_images[val_idx], data.train_labels[val_idx], False) if len(val_idx) else None
    return Loaders(
        train=loader(data.train_images[train_idx], data.train_labels[train_idx], True),
        val=val,
        test=loader(data.test_images, data.test_labels, False),
        mean=mean,
        std=std,
    )


def make_torch_dataloaders(
    data: FashionData, batch_size: int = 128, val_size: int | float = 0, augment: bool = True, seed: int = 0
) -> tuple[
    DataLoader[tuple[torch.Tensor, int]],
    DataLoader[tuple[torch.Tensor, int]] | None,
    DataLoader[tuple[torch.Tensor, int]],
]:
    """The classic per-sample path: torch ``DataLoader``\\ s over :class:`FashionDataset` with torchvision
    transforms (train-only augmentation); (train, val or None, test). Slower than :func:`make_loaders`.
    """
    train_idx, val_idx = train_val_split(len(data.train_labels), val_size, seed)
    mean, std = normalization_stats(data.train_images[train_idx])
    train_tf, eval_tf = torchvision_transforms(mean, std, augment), torchvision_transforms(mean, std, False)
    gen = torch.Generator().manual_seed(seed)
    train = DataLoader(
        FashionDataset(data.train_images[train_idx], data.train_labels[train_idx], train_tf),
        batch_size=batch_size,
        shuffle=True,
        generator=gen,
    )
    val = (
        DataLoader(
            FashionDataset(data.train_images[val_idx], data.train_labels[val_idx], eval_tf), batch_size=1000
        )
        if len(val_idx)
        else None
    )
    test = DataLoader(FashionDataset(data.test_images, data.test_labels, eval_tf), batch_size=1000)
    return train, val, test
