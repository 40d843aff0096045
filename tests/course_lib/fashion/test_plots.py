"""course_lib.fashion.plots: every study figure renders from a tiny study and is written as a PNG."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from course_lib.fashion.data import FashionData
from course_lib.fashion.models import FashionCNN
from course_lib.fashion.plots import (
    plot_accuracy_vs_params,
    plot_confusion_matrices,
    plot_feature_maps,
    plot_first_layer_filters,
    plot_per_class_accuracy,
    plot_training_curves,
    save_study_figures,
)
from course_lib.fashion.study import STUDY_CONFIG, KernelStudy, run_kernel_study

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def study(synthetic_data: FashionData) -> KernelStudy:
    config = replace(STUDY_CONFIG, channels=(4, 8, 8), hidden=(16,), batch_size=16)
    return run_kernel_study(
        (3, 5), (0, 1), epochs=2, subset=30, test_subset=20, config=config, data=synthetic_data
    )


def test_save_study_figures_writes_six_pngs(study: KernelStudy, tmp_path: Path) -> None:
    paths = save_study_figures(study, tmp_path)
    assert sorted(p.stem for p in paths) == sorted(
        [
            "training_curves",
            "per_class_accuracy",
            "confusion_matrices",
            "accuracy_vs_params",
            "first_layer_filters",
            "feature_maps",
        ]
    )
    for path in paths:
        assert path.read_bytes()[:8] == PNG_MAGIC


def test_figure_layouts(study: KernelStudy) -> None:
    assert len(plot_training_curves(study).axes) == 2
    curves = plot_training_curves(study).axes[1]
    assert [line.get_label() for line in curves.get_lines()] == ["CNN 3x3", "CNN 5x5", "MLP"]
    np.testing.assert_allclose(curves.get_lines()[0].get_xdata(), [1, 2])
    bars = plot_per_class_accuracy(study).axes[0]
    assert len(bars.patches) == 2 * 10  # CNN and MLP, ten classes each
    assert len(plot_confusion_matrices(study).axes) == 3
    assert len(plot_accuracy_vs_params(study).axes[0].collections) >= 1


def test_filters_show_the_first_layer_weights() -> None:
    torch.manual_seed(0)
    models = {3: FashionCNN(3), 5: FashionCNN(5)}
    fig = plot_first_layer_filters(models, n_filters=4)
    axes = fig.axes
    assert len(axes) == 8
    np.testing.assert_allclose(
        axes[0].images[0].get_array(), models[3].first_conv.weight[0, 0].detach().numpy()
    )
    assert axes[4].images[0].get_array().shape == (5, 5)


def test_feature_maps_are_the_first_block_activations() -> None:
    torch.manual_seed(0)
    model = FashionCNN(3, batch_norm=True).eval()
    image = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    fig = plot_feature_maps(model, image, 0.5, 0.25, n_maps=4)
    x = (torch.from_numpy(image).float() / 255 - 0.5) / 0.25
    with torch.no_grad():
        expected = torch.relu(model.features[:2](x[None, None]))[0]  # conv -> BN -> ReLU, (32, 28, 28)
    shown = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(shown) == 5  # the input and four maps
    np.testing.assert_allclose(shown[2], expected[1].numpy(), rtol=1e-5, atol=1e-6)
