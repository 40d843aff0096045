"""Fixtures for the Fashion-MNIST tests: a tiny synthetic stand-in in the real IDX ``.gz`` format."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from course_lib.fashion.data import SYSTEM_DIR, FashionData, locate_fashion_mnist, write_synthetic_fashion


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Iterator[None]:
    """Tiny models on a shared 2-core machine (and under xdist): one thread avoids sync overhead."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 training and 30 test images (class c = a bright bar at rows 2c+4..2c+7)."""
    return write_synthetic_fashion(tmp_path_factory.mktemp("fashion"), n_train=60, n_test=30, seed=0)


@pytest.fixture(scope="session")
def synthetic_data(synthetic_dir: Path) -> FashionData:
    return FashionData.load(synthetic_dir, verify=False)


@pytest.fixture(scope="session")
def real_dir() -> Path:
    """The real files (``$FASHION_MNIST_DIR`` or the Debian package), never downloaded; else skip."""
    try:
        return locate_fashion_mnist(download=False)
    except FileNotFoundError:
        pytest.skip(f"real Fashion-MNIST files not found (FASHION_MNIST_DIR or {SYSTEM_DIR})")
