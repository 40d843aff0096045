"""Fixtures for the Fashion-MNIST tests: a tiny synthetic stand-in in the real IDX ``.gz`` format."""

from __future__ import annotations

from pathlib import Path

import pytest

from course_lib.fashion.data import SYSTEM_DIR, FashionData, locate_fashion_mnist, write_synthetic_fashion


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
