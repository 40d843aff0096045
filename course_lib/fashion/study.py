r"""The kernel-size study: does a 5x5 or 7x7 first-to-last kernel beat 3x3 by more than seed noise?

For every kernel size and seed, :func:`run_kernel_study` trains the :class:`FashionCNN` (and, per
seed, the :class:`BaselineMLP`) with one shared recipe and collects :class:`TrainResult`\ s. The
summary reports mean ± std (ddof = 1) over seeds; differences between kernel sizes are *paired* by
seed (same data order and initial RNG state):

.. math:: d_s = \mathrm{acc}_{k_b, s} - \mathrm{acc}_{k_a, s}, \qquad
          t = \frac{\bar d}{s_d / \sqrt{n}},

and a difference counts as larger than the seed noise when :math:`|t|` exceeds the two-sided 95 %
critical value of Student's t with :math:`n - 1` degrees of freedom (4.30 for three seeds). The
pooled seed standard deviation :math:`\sqrt{(s_a^2 + s_b^2) / 2}` is reported next to it.

:func:`run_epoch_timing` trains the CNN of each kernel size for a longer schedule (15 epochs) only to
time it: per epoch, the wall time and the median training step times the number of steps (robust to
bursts of other work on a shared machine), with the load average. The runs' epochs alternate
(3x3 epoch 1, 5x5 epoch 1, 3x3 epoch 2, ...), so slow and quiet periods of the machine hit every kernel
size alike, and the ratio of two kernel sizes is taken epoch by epoch (median of the per-epoch ratios).

Grading budget: when ``NBGRADER_EXECUTION`` is set (nbgrader autograde), every call runs on at most
:data:`GRADING_TRAIN_SUBSET` training / :data:`GRADING_TEST_SUBSET` test images for one epoch, so a
notebook that calls the study autogrades in seconds.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from course_lib.fashion.data import FashionData
from course_lib.fashion.train import (
    EpochRecord,
    TrainConfig,
    TrainingRun,
    TrainResult,
    load_average,
    run_training,
)

GRADING_TRAIN_SUBSET = 512
GRADING_TEST_SUBSET = 500
# Two-sided 95 % critical values of Student's t by degrees of freedom (beyond 10: 2.0 is close enough).
T_CRITICAL_95 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
}

# The study's recipe: the course CNN as in the seed notebook (no batch norm, no augmentation), Adam.
STUDY_CONFIG = TrainConfig(model="cnn", batch_size=128, optimizer="adam", lr=1e-3, channels_last=True)


def grading_budget_active() -> bool:
    """True inside ``nbgrader autograde`` (the ``NBGRADER_EXECUTION`` variable is set)."""
    return bool(os.environ.get("NBGRADER_EXECUTION"))


def apply_grading_budget(
    epochs: int, subset: int | None, test_subset: int | None
) -> tuple[int, int | None, int | None]:
    """(epochs, subset, test_subset), cut to one epoch on a small subset when grading."""
    if not grading_budget_active():
        return epochs, subset, test_subset
    return (
        1,
        min(subset or GRADING_TRAIN_SUBSET, GRADING_TRAIN_SUBSET),
        min(test_subset or GRADING_TEST_SUBSET, GRADING_TEST_SUBSET),
    )


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof = 1; 0.0 for a single value)."""
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


@dataclass(frozen=True)
class PairedDifference:
    """Accuracy of b minus accuracy of a, paired by seed (see the module docstring)."""

    diff_mean: float  # mean over seeds of acc(b) - acc(a)
    diff_std: float  # std of the paired differences
    seed_noise: float  # pooled std of the accuracies of a and b
    t: float
    exceeds_noise: bool


def paired_difference(acc_a: Mapping[int, float], acc_b: Mapping[int, float]) -> PairedDifference | None:
    """The paired comparison of two {seed: accuracy} maps over their common seeds (None if there are
    none). One seed gives no spread and no verdict (t = NaN); identical differences on every seed give
    t = +-inf."""
    seeds = sorted(acc_a.keys() & acc_b.keys())
    if not seeds:
        return None
    d = [acc_b[s] - acc_a[s] for s in seeds]
    mean, std = mean_std(d)
    noise = math.sqrt((mean_std(list(acc_a.values()))[1] ** 2 + mean_std(list(acc_b.values()))[1] ** 2) / 2)
    n = len(d)
    if n < 2:
        t, exceeds = math.nan, False
    elif std == 0:
        t, exceeds = math.copysign(math.inf, mean) if mean else 0.0, mean != 0
    else:
        t = mean / (std / math.sqrt(n))
        exceeds = abs(t) > T_CRITICAL_95.get(n - 1, 2.0)
    return PairedDifference(mean, std, noise, t, exceeds)


@dataclass(frozen=True)
class SummaryRow:
    model: str  # "cnn 3x3", "mlp"
    kernel_size: int | None
    n_seeds: int
    accuracy_mean: float
    accuracy_std: float
    loss_mean: float
    loss_std: float
    params: int
    first_layer_params: int
    seconds_per_epoch: float


@dataclass(frozen=True)
class DifferenceRow:
    kernel_a: int
    kernel_b: int
    diff_mean: float  # mean over seeds of acc(b) - acc(a)
    diff_std: float  # std of the paired differences
    seed_noise: float  # pooled std of the accuracies of a and b
    t: float
    exceeds_noise: bool


@dataclass
class KernelStudy:
    """All runs of a study, plus the first seed's trained models (for filters and feature maps)."""

    runs: list[TrainResult]
    kernel_sizes: tuple[int, ...]
    seeds: tuple[int, ...]
    data: FashionData | None = field(default=None, repr=False)
    models: dict[str, nn.Module] = field(default_factory=dict, repr=False)

    def cnn_runs(self, kernel_size: int) -> list[TrainResult]:
        return [r for r in self.runs if r.config.model == "cnn" and r.config.kernel_size == kernel_size]

    def mlp_runs(self) -> list[TrainResult]:
        return [r for r in self.runs if r.config.model == "mlp"]

    def summary(self) -> list[SummaryRow]:
        groups: list[tuple[str, int | None, list[TrainResult]]] = [
            (f"cnn {k}x{k}", k, self.cnn_runs(k)) for k in self.kernel_sizes
        ]
        if self.mlp_runs():
            groups.append(("mlp", None, self.mlp_runs()))
        rows = []
        for name, k, runs in groups:
            if not runs:  # a study cut short
                continue
            acc = mean_std([r.test_accuracy for r in runs])
            loss = mean_std([r.test_loss for r in runs])
            rows.append(
                SummaryRow(
                    name,
                    k,
                    len(runs),
                    *acc,
                    *loss,
                    runs[0].params,
                    runs[0].first_layer_params,
                    float(np.mean([r.seconds_per_epoch for r in runs])),
                )
            )
        return rows

    def differences(self) -> list[DifferenceRow]:
        """Every pair of kernel sizes (a < b in the given order), paired by seed."""
        rows = []
        for i, a in enumerate(self.kernel_sizes):
            for b in self.kernel_sizes[i + 1 :]:
                acc_a = {r.config.seed: r.test_accuracy for r in self.cnn_runs(a)}
                acc_b = {r.config.seed: r.test_accuracy for r in self.cnn_runs(b)}
                p = paired_difference(acc_a, acc_b)
                if p is not None:  # None: a study cut short
                    rows.append(
                        DifferenceRow(a, b, p.diff_mean, p.diff_std, p.seed_noise, p.t, p.exceeds_noise)
                    )
        return rows

    def to_json(self) -> dict[str, Any]:
        return {
            "kernel_sizes": list(self.kernel_sizes),
            "seeds": list(self.seeds),
            "summary": [vars(r) for r in self.summary()],
            "differences": [vars(r) for r in self.differences()],
            "runs": [r.to_json() for r in self.runs],
        }

    @classmethod
    def load(cls, path: str | Path) -> KernelStudy:
        """A study from its ``study.json`` (runs and tables; the trained models are not stored)."""
        saved = json.loads(Path(path).read_text())
        runs = [TrainResult.from_json(r) for r in saved["runs"]]
        return cls(runs, tuple(saved["kernel_sizes"]), tuple(saved["seeds"]))

    def save(self, out_dir: str | Path) -> list[Path]:
        """``study.json`` (everything), ``runs.csv``, ``summary.csv``, ``summary.md``; returns the paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "study.json", out / "runs.csv", out / "summary.csv", out / "summary.md"]
        paths[0].write_text(json.dumps(self.to_json(), indent=2))
        with paths[1].open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(
                [
                    "model",
                    "kernel_size",
                    "seed",
                    "epochs",
                    "test_accuracy",
                    "test_loss",
                    "params",
                    "seconds_per_epoch",
                ]
            )
            for r in self.runs:
                c = r.config
                k = c.kernel_size if c.model == "cnn" else ""
                writer.writerow(
                    [
                        c.model,
                        k,
                        c.seed,
                        len(r.history),
                        r.test_accuracy,
                        r.test_loss,
                        r.params,
                        r.seconds_per_epoch,
                    ]
                )
        with paths[2].open("w", newline="") as fh:
            rows = [vars(r) for r in self.summary()]
            writer2 = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer2.writeheader()
            writer2.writerows(rows)
        paths[3].write_text(format_markdown(self) + "\n")
        return paths


def format_markdown(study: KernelStudy) -> str:
    """The summary and the paired differences as two Markdown tables (accuracy in %)."""
    lines = [
        "| model | test accuracy (%) | test loss | parameters | first-layer parameters | s / epoch |",
        "|---|---|---|---|---|---|",
    ]
    for r in study.summary():
        acc = f"{100 * r.accuracy_mean:.2f} ± {100 * r.accuracy_std:.2f}"
        loss = f"{r.loss_mean:.4f} ± {r.loss_std:.4f}"
        lines.append(
            f"| {r.model} | {acc} | {loss} | {r.params:,} | {r.first_layer_params:,} "
            f"| {r.seconds_per_epoch:.1f} |"
        )
    diffs = study.differences()
    if diffs:
        lines += [
            "",
            "| comparison | accuracy difference (pp, paired) | seed noise (pp) | t | beyond seed noise? |",
            "|---|---|---|---|---|",
        ]
        for d in diffs:
            pair = f"{d.kernel_b}x{d.kernel_b} − {d.kernel_a}x{d.kernel_a}"
            diff = f"{100 * d.diff_mean:+.2f} ± {100 * d.diff_std:.2f}"
            verdict = "yes" if d.exceeds_noise else "no"
            lines.append(f"| {pair} | {diff} | {100 * d.seed_noise:.2f} | {d.t:.2f} | {verdict} |")
    return "\n".join(lines)


def run_kernel_study(
    kernel_sizes: Sequence[int] = (3, 5, 7),
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 5,
    subset: int | None = None,
    test_subset: int | None = None,
    include_mlp: bool = True,
    config: TrainConfig = STUDY_CONFIG,
    data: FashionData | None = None,
    device: str | None = None,
    progress: bool | None = None,
    out_dir: str | Path | None = None,
) -> KernelStudy:
    """Train the CNN for every (kernel size, seed) and the MLP for every seed with ``config``'s recipe.

    ``subset``/``test_subset`` keep the first n training/test images. Under nbgrader the grading
    budget (:func:`apply_grading_budget`) applies. ``data`` defaults to the verified real files.
    With ``out_dir``, the tables (:meth:`KernelStudy.save`) are rewritten after every run.
    """
    kernel_sizes, seeds = tuple(kernel_sizes), tuple(seeds)
    if not kernel_sizes or not seeds:
        raise ValueError(f"kernel_sizes={kernel_sizes} and seeds={seeds} must both be non-empty")
    epochs, subset, test_subset = apply_grading_budget(epochs, subset, test_subset)
    data = (data if data is not None else FashionData.load()).subset(subset, test_subset)
    base = replace(config, epochs=epochs, subset=None, test_subset=None)
    study = KernelStudy([], kernel_sizes, seeds, data)
    plan = []
    for s in seeds:  # seed-major: a study cut short still compares every model on the first seeds
        plan += [replace(base, model="cnn", kernel_size=k, seed=s) for k in kernel_sizes]
        if include_mlp:
            plan.append(replace(base, model="mlp", hidden=None, seed=s))  # the baseline 128-64
    for cfg in plan:
        result = run_training(cfg, data, device, progress)
        if cfg.seed == seeds[0] and result.model is not None:
            study.models["mlp" if cfg.model == "mlp" else f"cnn{cfg.kernel_size}"] = result.model
        result.model = None  # keep memory flat; the first seed's models live in study.models
        study.runs.append(result)
        if out_dir is not None:
            study.save(out_dir)  # tables so far, rewritten after every run
    return study


# --------------------------------------------------------------------------------------------------
# Per-epoch timing over a longer schedule
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimingRow:
    """One kernel size of :func:`run_epoch_timing` (seconds per epoch of training, evaluation excluded)."""

    kernel_size: int
    params: int
    epochs: int
    wall_mean: float  # mean wall time of an epoch
    wall_median: float
    wall_min: float
    step_median: float  # median over epochs of (median step time x steps): the robust figure
    ratio: float  # step_median / the first kernel size's step_median
    paired_ratio: float  # median over epochs of step_seconds / the first kernel size's, same epoch
    cpu_median: float  # median over epochs of the process's CPU seconds (all threads)
    cpu_paired_ratio: float  # median over epochs of cpu_seconds / the first kernel size's, same epoch
    test_accuracy: float
    load_min: float  # 1-minute load average at the end of the epochs: min / median / max
    load_median: float
    load_max: float


@dataclass
class EpochTiming:
    """The runs of :func:`run_epoch_timing` and the load average before each (one value when the runs
    were interleaved)."""

    runs: list[TrainResult]
    load_before: list[float]

    def rows(self) -> list[TimingRow]:
        rows: list[TimingRow] = []
        for r in self.runs:
            wall = np.array([h.seconds for h in r.history])
            steps = np.array([h.step_seconds for h in r.history])
            step = float(np.median(steps))
            load = np.array([h.load_average for h in r.history])
            first = rows[0].step_median if rows else step
            base = np.array([h.step_seconds for h in self.runs[0].history])
            n = min(len(base), len(steps))
            paired = float(np.median(steps[:n] / base[:n]))
            cpu = np.array([h.cpu_seconds for h in r.history])
            cpu_base = np.array([h.cpu_seconds for h in self.runs[0].history])
            cpu_paired = float(np.median(cpu[:n] / cpu_base[:n]))
            rows.append(
                TimingRow(
                    r.config.kernel_size,
                    r.params,
                    len(r.history),
                    float(wall.mean()),
                    float(np.median(wall)),
                    float(wall.min()),
                    step,
                    step / first,
                    paired,
                    float(np.median(cpu)),
                    cpu_paired,
                    r.test_accuracy,
                    float(np.min(load)),
                    float(np.median(load)),
                    float(np.max(load)),
                )
            )
        return rows

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": [vars(r) for r in self.rows()],
            "load_before": self.load_before,
            "runs": [r.to_json() for r in self.runs],
        }

    @classmethod
    def load(cls, path: str | Path) -> EpochTiming:
        saved = json.loads(Path(path).read_text())
        return cls([TrainResult.from_json(r) for r in saved["runs"]], list(saved["load_before"]))

    def save(self, out_dir: str | Path) -> list[Path]:
        """``timing.json`` (everything, per-epoch history included) and ``timing.md``; the paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "timing.json", out / "timing.md"]
        paths[0].write_text(json.dumps(self.to_json(), indent=2))
        paths[1].write_text(format_timing_markdown(self) + "\n")
        return paths


def format_timing_markdown(timing: EpochTiming) -> str:
    """The timing rows as a Markdown table, then each run's per-epoch seconds (wall / median-step)."""
    lines = [
        "| model | parameters | epochs | s / epoch (median step x steps) | ratio | paired ratio "
        "| CPU s / epoch | paired CPU ratio | wall s / epoch: mean / median / min | test accuracy (%) "
        "| load average (min / median / max) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in timing.rows():
        lines.append(
            f"| cnn {r.kernel_size}x{r.kernel_size} | {r.params:,} | {r.epochs} | {r.step_median:.1f} "
            f"| {r.ratio:.2f} | {r.paired_ratio:.2f} | {r.cpu_median:.1f} | {r.cpu_paired_ratio:.2f} "
            f"| {r.wall_mean:.1f} / {r.wall_median:.1f} / {r.wall_min:.1f} "
            f"| {100 * r.test_accuracy:.2f} | {r.load_min:.1f} / {r.load_median:.1f} / {r.load_max:.1f} |"
        )
    lines.append("")
    for run in timing.runs:
        k = run.config.kernel_size
        per_epoch = ", ".join(
            f"{h.seconds:.1f}/{h.step_seconds:.1f}/{h.cpu_seconds:.1f}" for h in run.history
        )
        lines.append(f"- cnn {k}x{k}, s per epoch (wall/step/CPU): {per_epoch}")
    return "\n".join(lines)


def run_epoch_timing(
    kernel_sizes: Sequence[int] = (3, 5),
    epochs: int = 15,
    seed: int = 0,
    subset: int | None = None,
    config: TrainConfig = STUDY_CONFIG,
    data: FashionData | None = None,
    device: str | None = None,
    progress: bool | None = None,
    out_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
    interleave: bool = True,
) -> EpochTiming:
    """Train the study CNN of every kernel size for ``epochs`` epochs (one seed, all training images
    unless ``subset``) and keep the per-epoch times; the test accuracy comes for free.

    ``interleave`` (default) alternates the runs epoch by epoch (:class:`TrainingRun`); otherwise they
    run one after the other. ``log`` receives one progress line per epoch. With ``out_dir`` the files of
    :meth:`EpochTiming.save` are rewritten after every run (interleaved: at the end).
    """
    kernel_sizes = tuple(kernel_sizes)
    if not kernel_sizes:
        raise ValueError("kernel_sizes must be non-empty")
    epochs, subset, test_subset = apply_grading_budget(epochs, subset, None)
    data = (data if data is not None else FashionData.load()).subset(subset, test_subset)
    configs = [
        replace(config, kernel_size=k, epochs=epochs, seed=seed, subset=None, test_subset=None)
        for k in kernel_sizes
    ]

    def reporter(k: int) -> Callable[[EpochRecord], None]:
        def report(h: EpochRecord) -> None:
            if log is not None:
                log(
                    f"cnn {k}x{k} epoch {h.epoch}/{epochs}: {h.seconds:.1f} s wall, "
                    f"{h.step_seconds:.1f} s median-step, {h.cpu_seconds:.1f} s CPU, "
                    f"test acc {100 * h.eval_accuracy:.2f} %, load {h.load_average:.2f}"
                )

        return report

    timing = EpochTiming([], [])
    if interleave:
        timing.load_before.append(load_average())
        runs = [TrainingRun.prepare(cfg, data, device) for cfg in configs]
        for _ in range(epochs):
            for cfg, run in zip(configs, runs, strict=True):
                run.fit(1, progress, reporter(cfg.kernel_size))
        for run in runs:
            result = run.result()
            result.model = None
            timing.runs.append(result)
        if out_dir is not None:
            timing.save(out_dir)
        return timing
    for cfg in configs:
        timing.load_before.append(load_average())
        result = run_training(cfg, data, device, progress, on_epoch=reporter(cfg.kernel_size))
        result.model = None
        timing.runs.append(result)
        if out_dir is not None:
            timing.save(out_dir)
    return timing
