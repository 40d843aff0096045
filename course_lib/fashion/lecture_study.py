r"""The lecture-material study: three paired comparisons over the same seeds.

Six *arms* (a model and its recipe), each trained once per seed (:data:`ARMS`):

- the lecture's CNN with its full recipe (:data:`~course_lib.fashion.train.LECTURE_CONFIG`) against the
  same without augmentation: what RandomCrop + RandomHorizontalFlip buy in a few epochs;
- the second course's two-block CNN against its dense baseline (Keras-style recipe, Adam 1e-3), with
  per-class accuracy and confusion matrices side by side;
- the kernel-study CNN 3x3 (:data:`~course_lib.fashion.study.STUDY_CONFIG`) against its depthwise
  separable variant: accuracy, parameters, forward FLOPs and seconds per epoch.

Each comparison is paired by seed (same data order and initial RNG state) and judged like the kernel
study's (:func:`course_lib.fashion.study.paired_difference`: paired t against the two-sided 95 %
value). Seconds per epoch are the robust median-step figure (:attr:`EpochRecord.step_seconds`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from course_lib.fashion.data import CLASS_NAMES, FashionData
from course_lib.fashion.models import forward_flops
from course_lib.fashion.study import (
    STUDY_CONFIG,
    PairedDifference,
    apply_grading_budget,
    mean_std,
    paired_difference,
)
from course_lib.fashion.train import (
    DENSE_CONFIG,
    LECTURE_CONFIG,
    TWO_BLOCK_CONFIG,
    EpochRecord,
    TrainConfig,
    TrainResult,
    load_average,
    per_class_accuracy,
    run_training,
)


@dataclass(frozen=True)
class Arm:
    """One model with its recipe; ``key`` names it in files and on the command line."""

    key: str
    label: str
    config: TrainConfig


ARMS: tuple[Arm, ...] = (
    Arm("lecture_aug", "lecture CNN, augmented", LECTURE_CONFIG),
    Arm("lecture_plain", "lecture CNN, no augmentation", replace(LECTURE_CONFIG, augment=False)),
    Arm("two_block", "two-block CNN", TWO_BLOCK_CONFIG),
    Arm("dense", "dense baseline", DENSE_CONFIG),
    Arm("cnn3", "kernel-study CNN 3x3", STUDY_CONFIG),
    Arm("cnn3_separable", "kernel-study CNN 3x3, separable", replace(STUDY_CONFIG, separable=True)),
)
# (a, b): the tables report b - a.
COMPARISONS: tuple[tuple[str, str], ...] = (
    ("lecture_plain", "lecture_aug"),
    ("dense", "two_block"),
    ("cnn3", "cnn3_separable"),
)


@dataclass(frozen=True)
class ArmRow:
    key: str
    label: str
    n_seeds: int
    accuracy_mean: float
    accuracy_std: float
    loss_mean: float
    loss_std: float
    params: int
    forward_mflops: float  # per image: 2 x multiply-adds of the convolutions and linear layers / 1e6
    seconds_per_epoch: float  # mean over seeds of the median-step figure
    wall_seconds_per_epoch: float  # mean over seeds of the mean wall time of an epoch
    cpu_seconds_per_epoch: float  # mean over seeds of the median CPU seconds of an epoch


@dataclass(frozen=True)
class ComparisonRow:
    a: str
    b: str
    difference: PairedDifference
    time_ratio: float  # seconds per epoch (median step) of b / of a
    params_ratio: float  # parameters of b / of a
    cpu_ratio: float  # CPU seconds per epoch of b / of a


@dataclass
class LectureStudy:
    """All runs by arm key, plus the first seed's trained models (for figures)."""

    arms: tuple[Arm, ...]
    seeds: tuple[int, ...]
    runs: dict[str, list[TrainResult]] = field(default_factory=dict)
    data: FashionData | None = field(default=None, repr=False)
    models: dict[str, nn.Module] = field(default_factory=dict, repr=False)

    def arm(self, key: str) -> Arm:
        return next(a for a in self.arms if a.key == key)

    def summary(self) -> list[ArmRow]:
        rows = []
        for arm in self.arms:
            runs = self.runs.get(arm.key, [])
            if not runs:  # a study cut short
                continue
            acc = mean_std([r.test_accuracy for r in runs])
            loss = mean_std([r.test_loss for r in runs])
            flops = forward_flops(arm.config.build_model()) / 1e6
            rows.append(
                ArmRow(
                    arm.key,
                    arm.label,
                    len(runs),
                    *acc,
                    *loss,
                    runs[0].params,
                    flops,
                    float(np.mean([r.step_seconds_per_epoch for r in runs])),
                    float(np.mean([r.seconds_per_epoch for r in runs])),
                    float(np.mean([r.cpu_seconds_per_epoch for r in runs])),
                )
            )
        return rows

    def comparisons(self) -> list[ComparisonRow]:
        by_key = {r.key: r for r in self.summary()}
        rows = []
        for a, b in COMPARISONS:
            if a not in by_key or b not in by_key:
                continue
            acc_a = {r.config.seed: r.test_accuracy for r in self.runs[a]}
            acc_b = {r.config.seed: r.test_accuracy for r in self.runs[b]}
            diff = paired_difference(acc_a, acc_b)
            if diff is None:
                continue
            time_ratio = by_key[b].seconds_per_epoch / by_key[a].seconds_per_epoch
            cpu_ratio = by_key[b].cpu_seconds_per_epoch / by_key[a].cpu_seconds_per_epoch
            rows.append(ComparisonRow(a, b, diff, time_ratio, by_key[b].params / by_key[a].params, cpu_ratio))
        return rows

    def pooled_confusion(self, key: str) -> np.ndarray:
        """Test confusion matrix of an arm, summed over its seeds (rows = true class)."""
        return np.sum([np.asarray(r.confusion) for r in self.runs[key]], axis=0)

    def to_json(self) -> dict[str, Any]:
        return {
            "arms": [{"key": a.key, "label": a.label} for a in self.arms],
            "seeds": list(self.seeds),
            "summary": [vars(r) for r in self.summary()],
            "comparisons": [
                {
                    "a": c.a,
                    "b": c.b,
                    **vars(c.difference),
                    "time_ratio": c.time_ratio,
                    "params_ratio": c.params_ratio,
                    "cpu_ratio": c.cpu_ratio,
                }
                for c in self.comparisons()
            ],
            "runs": {key: [r.to_json() for r in runs] for key, runs in self.runs.items()},
        }

    @classmethod
    def load(cls, path: str | Path) -> LectureStudy:
        """A study from its ``study.json`` (the arms' configs come from the runs; no models)."""
        saved = json.loads(Path(path).read_text())
        runs = {key: [TrainResult.from_json(r) for r in rs] for key, rs in saved["runs"].items()}
        arms = tuple(
            Arm(
                a["key"],
                a["label"],
                runs[a["key"]][0].config if runs.get(a["key"]) else _arm(a["key"]).config,
            )
            for a in saved["arms"]
        )
        return cls(arms, tuple(saved["seeds"]), runs)

    def save(self, out_dir: str | Path) -> list[Path]:
        """``study.json`` (everything), ``runs.csv`` and ``summary.md``; returns the paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "study.json", out / "runs.csv", out / "summary.md"]
        paths[0].write_text(json.dumps(self.to_json(), indent=2))
        with paths[1].open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(
                [
                    "arm",
                    "seed",
                    "epochs",
                    "test_accuracy",
                    "test_loss",
                    "params",
                    "step_s_per_epoch",
                    "wall_s_per_epoch",
                    "cpu_s_per_epoch",
                ]
            )
            for key, runs in self.runs.items():
                for r in runs:
                    writer.writerow(
                        [
                            key,
                            r.config.seed,
                            len(r.history),
                            r.test_accuracy,
                            r.test_loss,
                            r.params,
                            r.step_seconds_per_epoch,
                            r.seconds_per_epoch,
                            r.cpu_seconds_per_epoch,
                        ]
                    )
        paths[2].write_text(format_lecture_markdown(self) + "\n")
        return paths


def _arm(key: str) -> Arm:
    for arm in ARMS:
        if arm.key == key:
            return arm
    raise ValueError(f"arm {key!r} is not one of {[a.key for a in ARMS]}")


def format_lecture_markdown(study: LectureStudy) -> str:
    """Three Markdown tables: every arm; the paired comparisons; per-class accuracy of the two-block
    CNN against the dense baseline (pooled over seeds)."""
    lines = [
        "| model | test accuracy (%) | test loss | parameters | forward MFLOPs / image | s / epoch "
        "(median step) | wall s / epoch | CPU s / epoch |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in study.summary():
        lines.append(
            f"| {r.label} | {100 * r.accuracy_mean:.2f} ± {100 * r.accuracy_std:.2f} "
            f"| {r.loss_mean:.4f} ± {r.loss_std:.4f} | {r.params:,} | {r.forward_mflops:.2f} "
            f"| {r.seconds_per_epoch:.1f} | {r.wall_seconds_per_epoch:.1f} | {r.cpu_seconds_per_epoch:.1f} |"
        )
    comparisons = study.comparisons()
    if comparisons:
        lines += [
            "",
            "| comparison (b − a) | accuracy difference (pp, paired) | seed noise (pp) | t "
            "| beyond seed noise? | parameters b / a | time b / a | CPU time b / a |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for c in comparisons:
            d = c.difference
            pair = f"{study.arm(c.b).label} − {study.arm(c.a).label}"
            lines.append(
                f"| {pair} | {100 * d.diff_mean:+.2f} ± {100 * d.diff_std:.2f} | {100 * d.seed_noise:.2f} "
                f"| {d.t:.2f} | {'yes' if d.exceeds_noise else 'no'} | {c.params_ratio:.3f} "
                f"| {c.time_ratio:.2f} | {c.cpu_ratio:.2f} |"
            )
    if study.runs.get("two_block") and study.runs.get("dense"):
        cnn = per_class_accuracy(study.pooled_confusion("two_block"))
        dense = per_class_accuracy(study.pooled_confusion("dense"))
        lines += [
            "",
            "| class | two-block CNN (%) | dense baseline (%) | difference (pp) |",
            "|---|---|---|---|",
        ]
        for name, a, b in zip(CLASS_NAMES, cnn, dense, strict=True):
            lines.append(f"| {name} | {100 * a:.1f} | {100 * b:.1f} | {100 * (a - b):+.1f} |")
    return "\n".join(lines)


def run_lecture_study(
    arms: Sequence[Arm] = ARMS,
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 5,
    subset: int | None = None,
    test_subset: int | None = None,
    data: FashionData | None = None,
    device: str | None = None,
    progress: bool | None = None,
    out_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> LectureStudy:
    """Train every arm for every seed (seed-major, so a study cut short compares every arm on the first
    seeds) for ``epochs`` epochs on the first ``subset`` training images (all when None).

    ``log`` receives a line per finished epoch and per finished run. Under nbgrader the grading budget
    (:func:`~course_lib.fashion.study.apply_grading_budget`) applies. With ``out_dir`` the tables
    (:meth:`LectureStudy.save`) are rewritten after every run.
    """
    arms, seeds = tuple(arms), tuple(seeds)
    if not arms or not seeds:
        raise ValueError(f"arms ({len(arms)}) and seeds={seeds} must both be non-empty")
    epochs, subset, test_subset = apply_grading_budget(epochs, subset, test_subset)
    data = (data if data is not None else FashionData.load()).subset(subset, test_subset)
    study = LectureStudy(arms, seeds, {}, data)
    plan = [(arm, s) for s in seeds for arm in arms]
    for i, (arm, seed) in enumerate(plan, start=1):
        cfg = replace(arm.config, epochs=epochs, seed=seed, subset=None, test_subset=None)

        def report(h: EpochRecord, arm: Arm = arm, seed: int = seed) -> None:
            if log is not None:
                log(
                    f"  {arm.label}, seed {seed}, epoch {h.epoch}/{epochs}: loss {h.train_loss:.4f}, "
                    f"test acc {100 * h.eval_accuracy:.2f} %, {h.seconds:.1f} s wall / "
                    f"{h.step_seconds:.1f} s median-step / {h.cpu_seconds:.1f} s CPU, "
                    f"load {h.load_average:.2f}"
                )

        before = load_average()
        result = run_training(cfg, data, device, progress, on_epoch=report)
        if seed == seeds[0] and result.model is not None:
            study.models[arm.key] = result.model
        result.model = None  # keep memory flat
        study.runs.setdefault(arm.key, []).append(result)
        if log is not None:
            accuracy = f"test accuracy {100 * result.test_accuracy:.2f} %"
            seconds = f"{result.step_seconds_per_epoch:.1f} s/epoch (median step)"
            log(
                f"[{i}/{len(plan)}] {arm.label}, seed {seed}: {accuracy}, {seconds}, "
                f"load {before:.2f} -> {load_average():.2f}"
            )
        if out_dir is not None:
            study.save(out_dir)
    return study
