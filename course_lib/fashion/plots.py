"""Figures of the kernel-size study and the lecture study (matplotlib, Agg-safe); every function
returns its ``Figure``.

:func:`save_study_figures` writes the kernel study's as PNGs: training curves per kernel size,
per-class accuracy (CNN vs MLP), confusion matrices, first-layer filters (3x3 vs 5x5), the first
layer's feature maps of one test image, and accuracy against parameters. :func:`save_lecture_figures`
writes the lecture study's: per-class accuracy and confusion matrices of the two-block CNN against its
dense baseline, the lecture CNN's curves with and without augmentation, and the separable CNN's
accuracy, parameters, FLOPs and time against the standard one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from course_lib.fashion.data import CLASS_NAMES, normalization_stats, to_tensor
from course_lib.fashion.lecture_study import LectureStudy
from course_lib.fashion.models import FashionCNN
from course_lib.fashion.study import KernelStudy
from course_lib.fashion.train import TrainResult, per_class_accuracy

Groups = list[tuple[str, list[TrainResult]]]
"""(label, the runs of one model over seeds), in plotting order."""


def _curves(groups: Groups, eval_split: str) -> Figure:
    """Mean (± std band over seeds) training loss and evaluation accuracy per epoch, one line per group."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    for label, runs in groups:
        if not runs:
            continue
        n = min(len(r.history) for r in runs)
        epochs = np.arange(1, n + 1)
        for ax, key in ((ax_loss, "train_loss"), (ax_acc, "eval_accuracy")):
            values = np.array([[getattr(h, key) for h in r.history[:n]] for r in runs])  # (seeds, epochs)
            mean, std = values.mean(0), values.std(0)
            ax.plot(epochs, mean, marker="o", label=label)
            ax.fill_between(epochs, mean - std, mean + std, alpha=0.2)
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="Training loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title=f"{eval_split.capitalize()} accuracy")
    ax_acc.legend()
    return fig


def plot_training_curves(study: KernelStudy) -> Figure:
    """Mean (± std band over seeds) training loss and evaluation accuracy per epoch, one line per model."""
    groups = [(f"CNN {k}x{k}", study.cnn_runs(k)) for k in study.kernel_sizes] + [("MLP", study.mlp_runs())]
    return _curves(groups, study.runs[0].eval_split)


def _per_class_bars(groups: Groups) -> Figure:
    """Per-class test accuracy (confusion matrices pooled over seeds), one bar per group and class."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(CLASS_NAMES))
    groups = [(label, runs) for label, runs in groups if runs]
    width = 0.8 / max(len(groups), 1)
    for i, (label, runs) in enumerate(groups):
        acc = per_class_accuracy(np.sum([np.asarray(r.confusion) for r in runs], axis=0))  # pooled seeds
        ax.bar(x + (i - (len(groups) - 1) / 2) * width, acc, width, label=label)
    ax.set_xticks(x, CLASS_NAMES, rotation=30, ha="right")
    # room above the bars for the legend, which would otherwise cover the first classes' bars
    ax.set(ylabel="test accuracy", ylim=(0, 1.15), yticks=np.linspace(0, 1, 6), title="Per-class accuracy")
    ax.legend(loc="upper center", ncol=max(len(groups), 1), frameon=False)
    return fig


def plot_per_class_accuracy(study: KernelStudy, kernel_size: int | None = None) -> Figure:
    """Per-class test accuracy (pooled over seeds), the CNN (default: first kernel size) against the MLP."""
    k = study.kernel_sizes[0] if kernel_size is None else kernel_size
    return _per_class_bars([(f"CNN {k}x{k}", study.cnn_runs(k)), ("MLP", study.mlp_runs())])


def plot_confusion_matrices(study: KernelStudy) -> Figure:
    """Row-normalised test confusion matrices (summed over seeds) of every CNN and the MLP."""
    groups = [(f"CNN {k}x{k}", study.cnn_runs(k)) for k in study.kernel_sizes] + [("MLP", study.mlp_runs())]
    return _confusion_grid(groups)


def _confusion_grid(groups: Groups) -> Figure:
    """Row-normalised test confusion matrices (summed over seeds), side by side, with the percentages."""
    groups = [(label, runs) for label, runs in groups if runs]
    fig = Figure(figsize=(4.2 * len(groups), 4.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(groups)))
    for ax, (label, runs) in zip(axes, groups, strict=True):
        cm = np.sum([np.asarray(r.confusion) for r in runs], axis=0).astype(np.float64)
        cm /= np.maximum(cm.sum(1, keepdims=True), 1)
        ax.imshow(cm, cmap="Blues", vmin=0, vmax=1)
        for (i, j), value in np.ndenumerate(cm):
            if round(100 * value) >= 1:
                color = "white" if value > 0.6 else "black"
                ax.text(j, i, f"{100 * value:.0f}", ha="center", va="center", fontsize=6, color=color)
        ax.set_xticks(range(len(CLASS_NAMES)), CLASS_NAMES, rotation=90, fontsize=7)
        ax.set_yticks(range(len(CLASS_NAMES)), CLASS_NAMES, fontsize=7)
        ax.set(xlabel="predicted", ylabel="true", title=label)
    return fig


def plot_first_layer_filters(models: dict[int, FashionCNN], n_filters: int = 16) -> Figure:
    """The first ``n_filters`` first-layer kernels of each model (one row per kernel size)."""
    fig = Figure(figsize=(n_filters * 0.7, 0.9 * len(models) + 0.4), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(models), n_filters, squeeze=False))
    for row, (k, model) in zip(axes, sorted(models.items()), strict=True):
        w = model.first_conv.weight.detach().cpu().numpy()[:, 0]  # (C_out, k, k)
        for i, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            if i >= len(w):
                ax.set_frame_on(False)
            else:
                lim = np.abs(w[i]).max() or 1.0
                ax.imshow(w[i], cmap="RdBu_r", vmin=-lim, vmax=lim)
        row[0].set_ylabel(f"{k}x{k}")
    fig.suptitle("First-layer filters")
    return fig


def plot_feature_maps(
    model: FashionCNN, image: np.ndarray, mean: float, std: float, n_maps: int = 16
) -> Figure:
    """The image and the first ``n_maps`` first-block activations (conv -> [BN] -> ReLU) for it."""
    x = to_tensor(image[None], mean, std)  # (1, 1, 28, 28)
    first_block = []  # conv -> [BN], up to the first pool (the model pools before its ReLU)
    for layer in model.features:
        if isinstance(layer, torch.nn.MaxPool2d):
            break
        first_block.append(layer)
    model.eval()
    with torch.no_grad():
        device = next(model.parameters()).device
        pre = torch.nn.Sequential(*first_block)(x.to(device))
        maps = torch.relu(pre)[0].cpu().numpy()  # (C_out, 28, 28)
    cols = 9
    rows = -(-(n_maps + 1) // cols)
    fig = Figure(figsize=(cols * 1.2, rows * 1.3), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    axes[0].imshow(image, cmap="gray")
    axes[0].set_title("input", fontsize=8)
    for i, ax in enumerate(axes[1:]):
        if i < min(n_maps, len(maps)):
            ax.imshow(maps[i], cmap="viridis")
            ax.set_title(f"map {i}", fontsize=8)
    for ax in axes:
        ax.set_axis_off()
    fig.suptitle(f"First-layer feature maps ({model.kernel_size}x{model.kernel_size})")
    return fig


def plot_accuracy_vs_params(study: KernelStudy) -> Figure:
    """Mean test accuracy (± std over seeds) against the number of parameters, log x axis."""
    fig = Figure(figsize=(5.5, 4), layout="constrained")
    ax = fig.subplots()
    for r in study.summary():
        ax.errorbar(r.params, r.accuracy_mean, yerr=r.accuracy_std, fmt="o", capsize=4)
        ax.annotate(r.model, (r.params, r.accuracy_mean), textcoords="offset points", xytext=(6, 4))
    ax.set(xscale="log", xlabel="parameters", ylabel="test accuracy", title="Accuracy vs parameters")
    return fig


def save_study_figures(study: KernelStudy, out_dir: str | Path) -> list[Path]:
    """Write every figure that the study's contents allow as a PNG in ``out_dir``; the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Figure] = {
        "training_curves": plot_training_curves(study),
        "per_class_accuracy": plot_per_class_accuracy(study),
        "confusion_matrices": plot_confusion_matrices(study),
        "accuracy_vs_params": plot_accuracy_vs_params(study),
    }
    cnns = {
        int(name[3:]): m
        for name, m in study.models.items()
        if name.startswith("cnn") and isinstance(m, FashionCNN)
    }
    if cnns:
        figures["first_layer_filters"] = plot_first_layer_filters({k: cnns[k] for k in sorted(cnns)[:2]})
        if study.data is not None and len(study.data.test_images):
            mean, std = normalization_stats(study.data.train_images)
            smallest = cnns[min(cnns)]
            figures["feature_maps"] = plot_feature_maps(smallest, study.data.test_images[0], mean, std)
    paths = []
    for name, fig in figures.items():
        path = out / f"{name}.png"
        fig.savefig(path, dpi=110)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------------------------------
# The lecture study
# --------------------------------------------------------------------------------------------------


def plot_separable_comparison(study: LectureStudy, a: str = "cnn3", b: str = "cnn3_separable") -> Figure:
    """Four panels, standard against depthwise separable CNN: test accuracy (± std), parameters,
    forward MFLOPs per image, CPU seconds per epoch (the time measure least moved by other processes)."""
    rows = {r.key: r for r in study.summary()}
    pair = [rows[k] for k in (a, b) if k in rows]
    fig = Figure(figsize=(11, 3.2), layout="constrained")
    axes = fig.subplots(1, 4)
    labels = ["standard" if r.key == a else "separable" for r in pair]
    panels: list[tuple[str, list[float], list[float] | None]] = [
        ("test accuracy (%)", [100 * r.accuracy_mean for r in pair], [100 * r.accuracy_std for r in pair]),
        ("parameters", [r.params for r in pair], None),
        ("forward MFLOPs / image", [r.forward_mflops for r in pair], None),
        ("CPU s / epoch", [r.cpu_seconds_per_epoch for r in pair], None),
    ]
    for ax, (title, values, errors) in zip(axes, panels, strict=True):
        ax.bar(labels, values, yerr=errors, capsize=4, color=["tab:blue", "tab:orange"][: len(values)])
        for i, v in enumerate(values):
            ax.annotate(f"{v:,.0f}" if v >= 100 else f"{v:.2f}", (i, v), ha="center", va="bottom", fontsize=8)
        ax.set_title(title, fontsize=9)
        if title.startswith("test accuracy") and values:
            low = min(values) - 3
            ax.set_ylim(max(0.0, low), 100)
    fig.suptitle("Kernel-study CNN 3x3: standard vs depthwise separable convolutions (blocks 2-3)")
    return fig


def save_lecture_figures(study: LectureStudy, out_dir: str | Path) -> list[Path]:
    """Write the lecture study's figures that its runs allow as PNGs in ``out_dir``; the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def group(key: str) -> tuple[str, list[TrainResult]]:
        return study.arm(key).label if key in {a.key for a in study.arms} else key, study.runs.get(key, [])

    figures: dict[str, Figure] = {}
    if study.runs.get("two_block") and study.runs.get("dense"):
        pair = [group("two_block"), group("dense")]
        figures["two_block_vs_dense_per_class"] = _per_class_bars(pair)
        figures["two_block_vs_dense_confusion"] = _confusion_grid(pair)
    lecture = [group(k) for k in ("lecture_aug", "lecture_plain") if study.runs.get(k)]
    if lecture:
        figures["lecture_augmentation_curves"] = _curves(lecture, lecture[0][1][0].eval_split)
    if study.runs.get("cnn3") or study.runs.get("cnn3_separable"):
        figures["separable_comparison"] = plot_separable_comparison(study)
    paths = []
    for name, fig in figures.items():
        path = out / f"{name}.png"
        fig.savefig(path, dpi=100)
        paths.append(path)
    return paths
