"""course_lib.fashion.data: IDX reading against torchvision's reader, verification, search order, loaders."""

from __future__ import annotations

import gzip
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.datasets.mnist import read_sn3_pascalvincent_tensor

from course_lib.fashion.data import (
    CLASS_NAMES,
    FILES,
    LECTURE_MEAN,
    LECTURE_STD,
    CorruptDataError,
    DataNotFoundError,
    FashionData,
    FashionDataset,
    TensorLoader,
    load_fashion_mnist,
    locate_fashion_mnist,
    make_loaders,
    make_torch_dataloaders,
    normalization_stats,
    random_crop_flip,
    read_idx,
    to_tensor,
    torchvision_transforms,
    train_val_split,
    write_synthetic_fashion,
)


def torchvision_read(gz_path: Path, tmp_path: Path) -> np.ndarray:
    """Oracle: decompress and parse with torchvision's own IDX reader."""
    raw = tmp_path / gz_path.name.removesuffix(".gz")
    raw.write_bytes(gzip.decompress(gz_path.read_bytes()))
    return read_sn3_pascalvincent_tensor(str(raw), strict=False).numpy()


# ------------------------------------------------------------------------------- synthetic stand-in


@pytest.mark.parametrize("split", ["train", "test"])
def test_synthetic_files_read_like_torchvision(synthetic_dir: Path, tmp_path: Path, split: str) -> None:
    images, labels = load_fashion_mnist(split, synthetic_dir, verify=False)
    image_name, label_name = FILES[split]
    np.testing.assert_array_equal(images, torchvision_read(synthetic_dir / image_name, tmp_path))
    np.testing.assert_array_equal(labels, torchvision_read(synthetic_dir / label_name, tmp_path))
    assert images.dtype == np.uint8 and labels.dtype == np.int64
    assert images.shape == ({"train": 60, "test": 30}[split], 28, 28)
    assert images.flags.writeable  # a private copy, not a view of a read-only buffer


def test_synthetic_bar_sits_at_the_class_rows(synthetic_data: FashionData) -> None:
    for image, label in zip(synthetic_data.train_images, synthetic_data.train_labels, strict=True):
        bright_rows = np.flatnonzero((image == 230).all(axis=1) | (image[:, 4:24] == 230).all(axis=1))
        np.testing.assert_array_equal(bright_rows, np.arange(2 * label + 4, 2 * label + 8))


def test_synthetic_writer_is_seeded(tmp_path: Path) -> None:
    a = write_synthetic_fashion(tmp_path / "a", 12, 6, seed=3)
    b = write_synthetic_fashion(tmp_path / "b", 12, 6, seed=3)
    c = write_synthetic_fashion(tmp_path / "c", 12, 6, seed=4)
    load = lambda d: load_fashion_mnist("train", d, verify=False)[0]  # noqa: E731
    np.testing.assert_array_equal(load(a), load(b))
    assert not np.array_equal(load(a), load(c))


@pytest.mark.parametrize("bad", [0, -1, True, 2.5])
def test_synthetic_writer_rejects_bad_sizes(tmp_path: Path, bad: object) -> None:
    with pytest.raises((ValueError, TypeError), match="n_train"):
        write_synthetic_fashion(tmp_path, n_train=bad)  # type: ignore[arg-type]


def test_environment_variable_is_searched_first(synthetic_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASHION_MNIST_DIR", str(synthetic_dir))
    assert locate_fashion_mnist(download=False) == synthetic_dir
    images, _ = load_fashion_mnist("test", verify=False)
    assert images.shape == (30, 28, 28)


def test_verify_rejects_the_synthetic_stand_in(synthetic_dir: Path) -> None:
    with pytest.raises(CorruptDataError, match="SHA-256"):
        load_fashion_mnist("train", synthetic_dir, verify=True)


def test_bad_split_is_a_value_error(synthetic_dir: Path) -> None:
    with pytest.raises(ValueError, match="split='val' must be 'train' or 'test'"):
        load_fashion_mnist("val", synthetic_dir, verify=False)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- corrupt / truncated


def _copy(synthetic_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(synthetic_dir, target)
    return target


def test_truncated_gzip_is_a_clear_error(synthetic_dir: Path, tmp_path: Path) -> None:
    d = _copy(synthetic_dir, tmp_path)
    path = d / FILES["train"][0]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CorruptDataError, match="not a complete gzip file"):
        load_fashion_mnist("train", d, verify=False)


def test_flipped_compressed_byte_is_a_clear_error(synthetic_dir: Path, tmp_path: Path) -> None:
    d = _copy(synthetic_dir, tmp_path)
    path = d / FILES["train"][0]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptDataError):
        load_fashion_mnist("train", d, verify=False)


def test_short_payload_behind_a_valid_gzip_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(struct.pack(">IIII", 0x803, 3, 28, 28) + bytes(2 * 28 * 28)))
    with pytest.raises(CorruptDataError, match="needs exactly 2368"):
        read_idx(path)


def test_wrong_magic_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(struct.pack(">II", 0x0902, 1) + b"\x00"))
    with pytest.raises(CorruptDataError, match="magic number 0x00000902"):
        read_idx(path)


def test_checksum_mismatch_names_both_digests(synthetic_dir: Path) -> None:
    with pytest.raises(CorruptDataError, match=r"expected 0{64}"):
        read_idx(synthetic_dir / FILES["test"][1], expected_sha256="0" * 64)


def test_images_and_labels_must_agree(synthetic_dir: Path, tmp_path: Path) -> None:
    d = _copy(synthetic_dir, tmp_path)
    shutil.copy(synthetic_dir / FILES["test"][1], d / FILES["train"][1])  # 30 labels for 60 images
    with pytest.raises(CorruptDataError, match="labels for 60 train images"):
        load_fashion_mnist("train", d, verify=False)


# ------------------------------------------------------------------------------------ search order


def test_nothing_found_lists_the_three_ways(tmp_path: Path) -> None:
    env = {"FASHION_MNIST_ROOT": str(tmp_path / "root")}
    with pytest.raises(DataNotFoundError) as info:
        locate_fashion_mnist(env, system_dir=tmp_path / "none", download=False)
    message = str(info.value)
    assert "FASHION_MNIST_DIR" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "download=True" in message


def test_wrong_environment_directory_is_an_error_not_a_fallback(synthetic_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="lacks"):
        locate_fashion_mnist({"FASHION_MNIST_DIR": str(tmp_path)}, system_dir=synthetic_dir, download=False)


def test_system_directory_comes_before_torchvision_root(synthetic_dir: Path, tmp_path: Path) -> None:
    raw = tmp_path / "root" / "FashionMNIST" / "raw"
    shutil.copytree(synthetic_dir, raw)
    env = {"FASHION_MNIST_ROOT": str(tmp_path / "root")}
    assert locate_fashion_mnist(env, system_dir=synthetic_dir, download=False) == synthetic_dir
    assert locate_fashion_mnist(env, system_dir=tmp_path / "none", download=False) == raw


# ------------------------------------------------------------------------ normalisation and splits


def test_normalization_stats_hand_example() -> None:
    images = np.array([[[0, 255], [0, 255]]], dtype=np.uint8)  # half black, half white
    assert normalization_stats(images) == (0.5, 0.5)
    with pytest.raises(TypeError, match="uint8"):
        normalization_stats(images.astype(np.float32))


def test_to_tensor_matches_torchvision_normalize(synthetic_data: FashionData) -> None:
    mean, std = normalization_stats(synthetic_data.train_images)
    x = to_tensor(synthetic_data.train_images[:5], mean, std)
    transform = torchvision_transforms(mean, std, augment=False)
    expected = torch.stack([transform(img) for img in synthetic_data.train_images[:5]])
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32
    torch.testing.assert_close(x, expected)


def test_train_val_split_partitions_and_is_seeded() -> None:
    train, val = train_val_split(100, 0.2, seed=1)
    assert len(val) == 20 and len(train) == 80
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(100))
    np.testing.assert_array_equal(val, train_val_split(100, 20, seed=1)[1])  # count == fraction * n
    assert not np.array_equal(val, train_val_split(100, 20, seed=2)[1])


@pytest.mark.parametrize(
    ("val_size", "error"), [(1.0, ValueError), (100, ValueError), (-1, ValueError), (True, TypeError)]
)
def test_train_val_split_rejects_bad_sizes(val_size: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="val_size"):
        train_val_split(100, val_size)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ augmentation


def test_crop_flip_without_padding_or_flip_is_identity() -> None:
    x = torch.randn(4, 1, 6, 6)
    g = torch.Generator().manual_seed(0)
    torch.testing.assert_close(random_crop_flip(x, g, padding=0, flip_p=0.0), x)
    torch.testing.assert_close(random_crop_flip(x, g, padding=0, flip_p=1.0), x.flip(-1))


def test_every_augmented_image_is_a_padded_crop_possibly_mirrored() -> None:
    """Brute force over all (dy, dx, flip): each output is one of the torchvision-style candidates."""
    x = torch.randn(16, 2, 5, 5)
    out = random_crop_flip(x, torch.Generator().manual_seed(0), padding=2, fill=-3.0)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), value=-3.0)  # (N, C, 9, 9)
    offsets_seen = set()
    for i in range(len(x)):
        matches = [
            (dy, dx, flip)
            for dy in range(5)
            for dx in range(5)
            for crop in [padded[i, :, dy : dy + 5, dx : dx + 5]]
            for flip in (False, True)
            if torch.equal(
                out[i],
                padded[i, :, dy : dy + 5, dx : dx + 5].flip(-1)
                if flip
                else padded[i, :, dy : dy + 5, dx : dx + 5],
            )
        ]
        assert matches, f"image {i} is not a crop of its padded input"
        offsets_seen.add(matches[0])
    assert len(offsets_seen) > 4  # offsets and flips really vary


# ----------------------------------------------------------------------------------------- loaders


def test_tensor_loader_visits_every_sample_once_per_epoch() -> None:
    x = torch.arange(10, dtype=torch.float32).reshape(10, 1, 1, 1)
    y = torch.arange(10)
    loader = TensorLoader(x, y, batch_size=4, shuffle=True, seed=0)
    assert len(loader) == 3 and loader.n_samples == 10
    epochs = [torch.cat([yb for _, yb in loader]) for _ in range(2)]
    for seen in epochs:
        np.testing.assert_array_equal(np.sort(seen.numpy()), np.arange(10))
    assert not torch.equal(epochs[0], epochs[1])  # a fresh permutation each epoch
    for xb, yb in loader:
        torch.testing.assert_close(xb.flatten(), yb.float())  # x and y stay aligned
    dropped = TensorLoader(x, y, batch_size=4, drop_last=True)
    assert len(dropped) == 2 and dropped.n_samples == 8


def test_tensor_loader_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="batch_size=0 must be >= 1"):
        TensorLoader(torch.zeros(2, 1, 2, 2), torch.zeros(2), batch_size=0)
    with pytest.raises(ValueError, match=r"must be \(N, C, H, W\)"):
        TensorLoader(torch.zeros(2, 2, 2), torch.zeros(2))


def test_make_loaders_normalises_with_training_statistics(synthetic_data: FashionData) -> None:
    loaders = make_loaders(synthetic_data, batch_size=16, val_size=10, seed=0, channels_last=True)
    train_idx, _ = train_val_split(60, 10, seed=0)
    assert (loaders.mean, loaders.std) == normalization_stats(synthetic_data.train_images[train_idx])
    xb, yb = next(iter(loaders.train))
    assert xb.shape == (16, 1, 28, 28) and yb.dtype == torch.int64
    assert xb.is_contiguous(memory_format=torch.channels_last)
    assert loaders.val is not None and loaders.val.n_samples == 10
    assert loaders.test.n_samples == 30 and not loaders.test.augment
    x_all = torch.cat([xb for xb, _ in loaders.train])
    assert abs(x_all.mean().item()) < 1e-5 and abs(x_all.std().item() - 1) < 1e-3


def test_augmentation_is_train_only(synthetic_data: FashionData) -> None:
    loaders = make_loaders(synthetic_data, augment=True)
    assert loaders.train.augment and not loaders.test.augment


def test_torchvision_dataloaders_yield_normalised_batches(synthetic_data: FashionData) -> None:
    train, val, test = make_torch_dataloaders(synthetic_data, batch_size=8, val_size=0.25, augment=True)
    xb, yb = next(iter(train))
    assert xb.shape == (8, 1, 28, 28) and yb.shape == (8,)
    assert val is not None and len(val.dataset) == 15  # type: ignore[arg-type]
    assert len(test.dataset) == 30  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="len"):
        FashionDataset(synthetic_data.train_images, synthetic_data.train_labels[:3], lambda a: torch.zeros(1))


# ---------------------------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_real_files_shapes_checksums_and_balance(real_dir: Path) -> None:
    data = FashionData.load(real_dir, verify=True)  # verifies magic, counts and SHA-256
    assert data.train_images.shape == (60_000, 28, 28) and data.test_images.shape == (10_000, 28, 28)
    np.testing.assert_array_equal(np.bincount(data.train_labels), [6000] * len(CLASS_NAMES))
    np.testing.assert_array_equal(np.bincount(data.test_labels), [1000] * len(CLASS_NAMES))


@pytest.mark.realdata
def test_real_labels_read_like_torchvision(real_dir: Path, tmp_path: Path) -> None:
    _, labels = load_fashion_mnist("test", real_dir)
    np.testing.assert_array_equal(labels, torchvision_read(real_dir / FILES["test"][1], tmp_path))


@pytest.mark.realdata
def test_real_training_statistics_match_the_lecture(real_dir: Path) -> None:
    images, _ = load_fashion_mnist("train", real_dir)
    mean, std = normalization_stats(images)
    assert mean == pytest.approx(LECTURE_MEAN, abs=5e-4)
    assert std == pytest.approx(LECTURE_STD, abs=5e-4)
