"""Figures of the TinyCNN experiments (matplotlib ``Figure`` objects, no pyplot state, Agg-safe).

Every function returns its ``Figure``; save it with ``fig.savefig(path)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure

from course_lib.stripes import CLASS_NAMES
from course_lib.tinycnn.experiments import Comparison, Run
from course_lib.tinycnn.models import InferenceTrace
from course_lib.validation import Array


def plot_samples(X: Array, y: npt.NDArray[np.int64], per_class: int = 6) -> Figure:
    """A grid of example images: one row per class."""
    classes = np.unique(y)
    fig = Figure(figsize=(1.2 * per_class, 1.3 * len(classes)), layout="constrained")
    axes = fig.subplots(len(classes), per_class, squeeze=False)
    for row, label in zip(axes, classes, strict=True):
        images = X[y == label][:per_class, 0]  # (per_class, S, S)
        for col, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(images):
                ax.imshow(images[col], cmap="gray", vmin=-0.5, vmax=1.5)
        row[0].set_ylabel(CLASS_NAMES[label])
    fig.suptitle("Stripe images (noise included)")
    return fig


def plot_curves(run: Run) -> Figure:
    """Training and validation loss and accuracy per epoch of one run."""
    h = run.history
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(h.epochs, h.train_loss, marker=".", label="train")
    ax_loss.plot(h.epochs, h.val_loss, marker=".", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="Loss", yscale="log")
    ax_acc.plot(h.epochs, h.train_accuracy, marker=".", label="train")
    ax_acc.plot(h.epochs, h.val_accuracy, marker=".", label="validation")
    ax_acc.axhline(0.99, color="grey", linestyle=":", label="99 %")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title=f"Accuracy (test: {run.test_accuracy:.2%})")
    ax_acc.legend()
    ax_loss.legend()
    fig.suptitle(f"{run.model!r}")
    return fig


def plot_filter_evolution(run: Run, epochs: Sequence[int] | None = None) -> Figure:
    """The 3x3 filters (rows) at each snapshot epoch (columns), on one symmetric colour scale per
    filter (red positive, blue negative)."""
    snapshots = run.history.snapshots
    epochs = sorted(snapshots) if epochs is None else list(epochs)
    filters = np.stack([snapshots[e]["conv.w"][:, 0] for e in epochs], axis=1)  # (F, E, 3, 3)
    n_filters = filters.shape[0]
    fig = Figure(figsize=(1.6 * len(epochs) + 0.6, 1.6 * n_filters + 0.4), layout="constrained")
    axes = fig.subplots(n_filters, len(epochs), squeeze=False)
    for f in range(n_filters):
        scale = float(np.abs(filters[f]).max()) or 1.0
        for j, epoch in enumerate(epochs):
            ax = axes[f, j]
            ax.imshow(filters[f, j], cmap="RdBu_r", vmin=-scale, vmax=scale)
            ax.set_xticks([])
            ax.set_yticks([])
            if f == 0:
                ax.set_title(f"epoch {epoch}")
        axes[f, 0].set_ylabel(f"filter {f}")
    fig.suptitle("TinyCNN filters during training")
    return fig


def _hidden_width(name: str) -> int:
    return int(name.split("-")[1])


def plot_sweep(sweep: Comparison) -> Figure:
    """MLP test accuracy (median, min-max bar) against hidden width, TinyCNN as a reference band."""
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    rows = [r for r in sweep.table.rows if r["model"].startswith("MLP")]
    widths = [_hidden_width(r["model"]) for r in rows]
    median = np.array([r["acc_median"] for r in rows])
    low = median - np.array([r["acc_min"] for r in rows])
    high = np.array([r["acc_max"] for r in rows]) - median
    ax.errorbar(widths, median, yerr=[low, high], marker="o", capsize=4, label="MLP (median, min-max)")
    for w, m, r in zip(widths, median, rows, strict=True):
        ax.annotate(f"{r['params']} p", (w, m), textcoords="offset points", xytext=(6, -12), fontsize=8)
    cnn = next(r for r in sweep.table.rows if r["model"] == "TinyCNN")
    ax.axhline(
        cnn["acc_median"], color="C3", linestyle="--", label=f"TinyCNN, {cnn['params']} params (median)"
    )
    ax.axhspan(cnn["acc_min"], cnn["acc_max"], color="C3", alpha=0.15)
    ax.set(
        xlabel="MLP hidden units",
        ylabel="test accuracy",
        xscale="log",
        title=f"MLP capacity sweep over {cnn['seeds']} seeds",
    )
    ax.set_xticks(widths, [str(w) for w in widths])
    ax.legend(loc="lower right")
    return fig


def plot_comparison(comparison: Comparison) -> Figure:
    """Median test accuracy per model (min-max bars), labelled with the parameter counts."""
    rows = comparison.table.rows
    fig = Figure(figsize=(1.6 * len(rows) + 2, 4), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(rows))
    median = np.array([r["acc_median"] for r in rows])
    err = [median - [r["acc_min"] for r in rows], [r["acc_max"] for r in rows] - median]
    ax.bar(x, median, yerr=err, capsize=4, color=["C3"] + ["C0"] * (len(rows) - 1))
    ax.set_xticks(x, [f"{r['model']}\n{r['params']} params" for r in rows])
    low = min(r["acc_min"] for r in rows)
    ax.set(ylabel="test accuracy", ylim=(max(0.0, low - 0.05), 1.0), title=comparison.table.title)
    return fig


def plot_trace(trace: InferenceTrace) -> Figure:
    """One image through TinyCNN: input, filter responses, ReLU, max pool, and the softmax."""
    n_filters = trace.conv.shape[0]
    fig = Figure(figsize=(10, 1.9 * n_filters + 0.5), layout="constrained")
    axes = fig.subplots(n_filters, 5, squeeze=False)
    for f in range(n_filters):
        for j, (title, img) in enumerate(
            [
                ("input", trace.image),
                ("conv", trace.conv[f]),
                ("ReLU", trace.relu[f]),
                ("max pool", trace.pool[f]),
            ]
        ):
            ax = axes[f, j]
            if j == 0 and f > 0:
                ax.axis("off")
                continue
            ax.imshow(img, cmap="gray" if j == 0 else "viridis")
            ax.set_xticks([])
            ax.set_yticks([])
            if f == 0:
                ax.set_title(title)
            if j == 1:
                ax.set_ylabel(f"filter {f}")
        axes[f, 4].axis("off")
    ax = axes[0, 4]
    ax.axis("on")
    names = [CLASS_NAMES[k] for k in range(trace.probs.size)]
    ax.barh(names, trace.probs, color="C2")
    ax.set(xlim=(0, 1), title="softmax")
    fig.suptitle(f"Inference trace: predicted {CLASS_NAMES[trace.predicted]}")
    return fig
