"""The student-safe helper modules shipped in the assignment folders give exactly the reference data:
stripes_data.make_stripes == course_lib.stripes.make_stripes, fashion_data.load_images == the first
images of course_lib.fashion.load_fashion_mnist."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from course_lib.stripes import make_stripes
from tests.notebooks.course_notebooks import RELEASE


def _helper(assignment: str, name: str) -> ModuleType:
    """Import release/<assignment>/<name>.py as a module (without putting it on sys.path)."""
    spec = importlib.util.spec_from_file_location(f"helper_{name}", RELEASE / assignment / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("n", "n_classes", "size", "noise", "seed"),
    [(300, 3, 8, 0.2, 0), (57, 4, 8, 0.3, 5), (10, 2, 10, 0.0, 3), (1, 3, 4, 0.2, 20_000)],
)
def test_stripes_helper_matches_course_lib(
    n: int, n_classes: int, size: int, noise: float, seed: int
) -> None:
    X, y = _helper("tinycnn", "stripes_data").make_stripes(n, n_classes, size, noise, seed)
    X_ref, y_ref = make_stripes(n, n_classes, size, noise, seed)
    assert X.dtype == np.float64 and y.dtype == np.int64
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)


@pytest.mark.realdata
def test_fashion_helper_reads_the_first_test_images() -> None:
    from course_lib.fashion import load_fashion_mnist

    helper = _helper("convolution_by_hand", "fashion_data")
    if helper.data_dir() is None:
        pytest.skip("Fashion-MNIST is not installed")
    images, labels = helper.load_images(n=7, split="test")
    ref_images, ref_labels = load_fashion_mnist("test")
    np.testing.assert_array_equal(images, ref_images[:7])
    np.testing.assert_array_equal(labels, ref_labels[:7])
    assert helper.label_name(int(labels[0])) == "Ankle boot" and helper.class_names() == helper.CLASS_NAMES


def test_without_the_files_the_fashion_helper_says_how_to_get_them_and_uses_a_stand_in(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    helper = _helper("convolution_by_hand", "fashion_data")
    # an explicit FASHION_MNIST_DIR is the only place searched (the system folder may have the files)
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path))
    assert helper.data_dir() is None and helper.class_names() == helper.SYNTHETIC_NAMES
    images, labels = helper.load_images(n=2000, split="train")
    told = capsys.readouterr().out
    assert (
        f"Fashion-MNIST was not found in {tmp_path}." in told
        and "sudo apt install dataset-fashion-mnist" in told
    )
    helper.load_images(n=10, split="test")
    assert capsys.readouterr().out == "", "the recipe is printed once per kernel"
    assert images.shape == (2000, 28, 28) and images.dtype == np.uint8 and labels.dtype == np.int64
    assert np.bincount(labels).tolist() == [200] * 10
    assert helper.label_name(int(labels[0])) in helper.SYNTHETIC_NAMES
    # learnable: nearest class mean on fresh test pictures does far better than chance (10 %)
    x = images.reshape(len(images), -1) / 255.0
    means = np.stack([x[labels == k].mean(axis=0) for k in range(10)])
    test_images, test_labels = helper.load_images(n=500, split="test")
    t = test_images.reshape(500, -1) / 255.0
    predicted = np.argmin(((t[:, None, :] - means[None]) ** 2).sum(axis=2), axis=1)
    assert np.mean(predicted == test_labels) > 0.5


def test_every_assignment_ships_the_same_fashion_helper() -> None:
    """nbgrader releases each assignment's folder on its own, so the helper is copied into each one;
    the copies are one file (the tests above read convolution_by_hand's), in source/ and release/."""
    root = RELEASE.parent
    copies = sorted(root.glob("source/*/fashion_data.py")) + sorted(root.glob("release/*/fashion_data.py"))
    assert len(copies) == 4
    assert len({path.read_bytes() for path in copies}) == 1
