"""course_lib.fashion.lecture_study and the kernel study's epoch timing: statistics by hand on fake
runs, tiny real runs on the synthetic stand-in, files and figures."""

from __future__ import annotations

import csv
import json
import math
import statistics
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from course_lib.fashion.data import CLASS_NAMES, FashionData
from course_lib.fashion.lecture_study import (
    ARMS,
    COMPARISONS,
    LectureStudy,
    format_lecture_markdown,
    run_lecture_study,
)
from course_lib.fashion.models import count_parameters
from course_lib.fashion.plots import save_lecture_figures
from course_lib.fashion.study import (
    STUDY_CONFIG,
    EpochTiming,
    format_timing_markdown,
    paired_difference,
    run_epoch_timing,
)
from course_lib.fashion.train import EpochRecord, TrainResult

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ARM = {a.key: a for a in ARMS}


def fake_run(key: str, seed: int, accuracy: float, step_seconds: float, confusion: np.ndarray) -> TrainResult:
    """A finished run with chosen accuracy, time and confusion matrix (no training)."""
    config = replace(ARM[key].config, seed=seed)
    seconds = {"seconds": 2 * step_seconds, "median_step": step_seconds / 10, "cpu_seconds": 3 * step_seconds}
    history = [EpochRecord(1, 0.5, 1 - accuracy, accuracy, lr=1e-3, steps=10, load_average=1.0, **seconds)]
    return TrainResult(
        config=config,
        params=count_parameters(config.build_model()),
        first_layer_params=0,
        test_loss=1 - accuracy,
        test_accuracy=accuracy,
        confusion=confusion.tolist(),
        per_class_accuracy=dict.fromkeys(CLASS_NAMES, accuracy),
        history=history,
        seconds_per_epoch=2 * step_seconds,
        eval_split="test",
        step_seconds_per_epoch=step_seconds,
        cpu_seconds_per_epoch=3 * step_seconds,
    )


def diagonal(correct: int, total: int = 10) -> np.ndarray:
    """10 classes of ``total`` test images each; ``correct`` right, the rest predicted as class 0
    (class 0 itself all right)."""
    cm = np.zeros((10, 10), dtype=np.int64)
    cm[:, 0] = total - correct
    cm[np.arange(10), np.arange(10)] += correct
    return cm


def fake_lecture_study() -> LectureStudy:
    runs = {
        "two_block": [
            fake_run("two_block", s, a, 12.0, diagonal(9)) for s, a in enumerate([0.90, 0.91, 0.92])
        ],
        "dense": [fake_run("dense", s, a, 1.5, diagonal(8)) for s, a in enumerate([0.87, 0.88, 0.90])],
        "cnn3": [fake_run("cnn3", s, 0.91, 20.0, diagonal(9)) for s in range(3)],
        "cnn3_separable": [fake_run("cnn3_separable", s, 0.90, 10.0, diagonal(9)) for s in range(3)],
    }
    arms = tuple(a for a in ARMS if a.key in runs)
    return LectureStudy(arms, (0, 1, 2), runs)


def test_paired_difference_by_hand() -> None:
    a, b = {0: 0.87, 1: 0.88, 2: 0.90}, {0: 0.90, 1: 0.91, 2: 0.92}
    d = paired_difference(a, b)
    assert d is not None
    diffs = [0.03, 0.03, 0.02]
    assert d.diff_mean == pytest.approx(statistics.mean(diffs))
    assert d.t == pytest.approx(statistics.mean(diffs) / (statistics.stdev(diffs) / math.sqrt(3)))
    assert d.exceeds_noise  # t = 13.0 > 4.30
    assert paired_difference({0: 0.9}, {1: 0.9}) is None  # no common seed


def test_summary_and_comparisons_by_hand() -> None:
    study = fake_lecture_study()
    rows = {r.key: r for r in study.summary()}
    assert list(rows) == ["two_block", "dense", "cnn3", "cnn3_separable"]  # the ARMS order
    assert rows["two_block"].params == 421_642 and rows["dense"].params == 235_146
    assert rows["cnn3_separable"].params == 160_586
    assert rows["two_block"].accuracy_mean == pytest.approx(0.91)
    assert rows["two_block"].accuracy_std == pytest.approx(0.01)
    assert rows["cnn3"].forward_mflops == pytest.approx(15.199744)  # 2 x MACs, see test_models.py
    comparisons = {(c.a, c.b): c for c in study.comparisons()}
    assert list(comparisons) == [("dense", "two_block"), ("cnn3", "cnn3_separable")]
    cnn_vs_dense = comparisons[("dense", "two_block")]
    assert cnn_vs_dense.time_ratio == pytest.approx(12.0 / 1.5)
    assert cnn_vs_dense.params_ratio == pytest.approx(421_642 / 235_146)
    separable = comparisons[("cnn3", "cnn3_separable")]
    assert separable.difference.diff_mean == pytest.approx(-0.01)
    assert separable.difference.t == -math.inf and separable.difference.exceeds_noise  # same -1 pp each seed
    assert separable.time_ratio == pytest.approx(0.5) and separable.cpu_ratio == pytest.approx(0.5)
    assert rows["dense"].cpu_seconds_per_epoch == pytest.approx(4.5)


def test_markdown_has_the_three_tables() -> None:
    text = format_lecture_markdown(fake_lecture_study())
    assert "| two-block CNN | 91.00 ± 1.00 |" in text
    assert "| two-block CNN − dense baseline | +2.67 ± 0.58 |" in text
    # per class, pooled: class 0 is 100 % for both; others 90 % (CNN) against 80 % (dense)
    assert "| T-shirt/top | 100.0 | 100.0 | +0.0 |" in text
    assert "| Ankle boot | 90.0 | 80.0 | +10.0 |" in text


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    study = fake_lecture_study()
    paths = study.save(tmp_path)
    assert [p.name for p in paths] == ["study.json", "runs.csv", "summary.md"]
    loaded = LectureStudy.load(paths[0])
    assert loaded.summary() == study.summary()
    assert loaded.comparisons() == study.comparisons()
    with paths[1].open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 12 and {r["arm"] for r in rows} == {"two_block", "dense", "cnn3", "cnn3_separable"}
    saved = json.loads(paths[0].read_text())
    assert [c["a"] for c in saved["comparisons"]] == ["dense", "cnn3"]


def test_arms_and_comparisons_are_the_issue_s() -> None:
    assert ARM["lecture_aug"].config.augment and not ARM["lecture_plain"].config.augment
    assert replace(ARM["lecture_plain"].config, augment=True) == ARM["lecture_aug"].config
    assert replace(ARM["cnn3_separable"].config, separable=False) == ARM["cnn3"].config == STUDY_CONFIG
    assert {k for pair in COMPARISONS for k in pair} == set(ARM)


def test_study_on_a_tiny_subset_and_its_figures(
    synthetic_data: FashionData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every arm for 2 seeds, 1 epoch on 32 images: 12 runs, progress lines, 4 figures."""
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    lines: list[str] = []
    study = run_lecture_study(
        ARMS, (0, 1), 1, subset=32, test_subset=20, data=synthetic_data, out_dir=tmp_path, log=lines.append
    )
    assert {k: len(v) for k, v in study.runs.items()} == dict.fromkeys(ARM, 2)
    assert set(study.models) == set(ARM)
    assert all(r.model is None for runs in study.runs.values() for r in runs)
    assert all(sum(map(sum, r.confusion)) == 20 for runs in study.runs.values() for r in runs)
    assert sum(line.startswith("[") for line in lines) == 12 and lines[-1].startswith("[12/12]")
    assert sum("epoch 1/1" in line for line in lines) == 12
    assert len(study.comparisons()) == 3
    assert (tmp_path / "study.json").exists()  # rewritten after every run
    paths = save_lecture_figures(study, tmp_path)
    assert sorted(p.stem for p in paths) == [
        "lecture_augmentation_curves",
        "separable_comparison",
        "two_block_vs_dense_confusion",
        "two_block_vs_dense_per_class",
    ]
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in paths)


def test_study_rejects_empty_plans(synthetic_data: FashionData) -> None:
    with pytest.raises(ValueError, match="must both be non-empty"):
        run_lecture_study((), data=synthetic_data)


# --------------------------------------------------------------------------------- epoch timing


def fake_timing_run(k: int, walls: list[float], steps: list[float], loads: list[float]) -> TrainResult:
    """A k x k kernel-study run whose epochs took ``walls`` seconds, ``steps`` by median step and
    ``steps`` + 1 seconds of CPU."""
    history = [
        EpochRecord(i + 1, 0.5, 0.5, 0.9, w, 1e-3, 100, s / 100, load, s + 1)
        for i, (w, s, load) in enumerate(zip(walls, steps, loads, strict=True))
    ]
    config = replace(STUDY_CONFIG, kernel_size=k)
    run = replace(fake_run("cnn3", 0, 0.9, 1.0, diagonal(9)), history=history, config=config)
    return replace(run, params=count_parameters(config.build_model()))


def test_timing_rows_by_hand() -> None:
    """The robust figure is the median over epochs of (median step x steps): an epoch slowed by a
    burst (30 s) moves the mean wall time but not it."""
    timing = EpochTiming(
        [
            fake_timing_run(3, [20.0, 30.0, 21.0], [20.0, 21.0, 20.5], [1.0, 3.0, 2.0]),
            fake_timing_run(5, [50.0, 52.0, 49.0], [49.0, 51.0, 50.0], [2.0, 2.0, 2.0]),
        ],
        [0.5, 1.5],
    )
    r3, r5 = timing.rows()
    assert r3.step_median == pytest.approx(20.5) and r5.step_median == pytest.approx(50.0)
    assert r3.wall_mean == pytest.approx(71 / 3) and r3.wall_median == 21.0 and r3.wall_min == 20.0
    assert r3.ratio == 1.0 and r5.ratio == pytest.approx(50 / 20.5)
    assert r5.paired_ratio == pytest.approx(statistics.median([49 / 20, 51 / 21, 50 / 20.5]))
    assert r5.cpu_median == pytest.approx(51.0)
    assert r5.cpu_paired_ratio == pytest.approx(statistics.median([50 / 21, 52 / 22, 51 / 21.5]))
    assert (r3.load_min, r3.load_median, r3.load_max) == (1.0, 2.0, 3.0)
    text = format_timing_markdown(timing)
    assert "| cnn 5x5 | 405,898 | 3 | 50.0 | 2.44 | 2.44 | 51.0 | 2.37 |" in text
    assert "- cnn 3x3, s per epoch (wall/step/CPU): 20.0/20.0/21.0, 30.0/21.0/22.0, 21.0/20.5/21.5" in text


@pytest.mark.parametrize("interleave", [True, False])
def test_timing_on_a_tiny_subset(synthetic_data: FashionData, tmp_path: Path, interleave: bool) -> None:
    """Interleaved: the epochs alternate between kernel sizes (3, 5, 3, 5); otherwise 3, 3, 5, 5."""
    config = replace(STUDY_CONFIG, channels=(4, 8, 8), hidden=(16,), batch_size=8)
    lines: list[str] = []
    timing = run_epoch_timing(
        (3, 5),
        2,
        subset=32,
        config=config,
        data=synthetic_data,
        out_dir=tmp_path,
        log=lines.append,
        interleave=interleave,
    )
    assert [r.kernel_size for r in timing.rows()] == [3, 5]
    assert all(
        [h.epoch for h in r.history] == [1, 2] and all(h.steps == 4 for h in r.history) for r in timing.runs
    )
    order = [line.split(" epoch")[0] for line in lines]
    assert order == (["cnn 3x3", "cnn 5x5"] * 2 if interleave else ["cnn 3x3"] * 2 + ["cnn 5x5"] * 2)
    assert len(timing.load_before) == (1 if interleave else 2)
    loaded = EpochTiming.load(tmp_path / "timing.json")
    assert loaded.rows() == timing.rows()
