"""course_lib.fashion.study: the study on a tiny subset, paired statistics by hand, grading budget, files."""

from __future__ import annotations

import csv
import json
import math
import statistics
from dataclasses import replace
from pathlib import Path

import pytest

from course_lib.fashion.data import CLASS_NAMES, FashionData
from course_lib.fashion.models import FashionCNN, count_parameters
from course_lib.fashion.study import (
    GRADING_TEST_SUBSET,
    GRADING_TRAIN_SUBSET,
    STUDY_CONFIG,
    KernelStudy,
    apply_grading_budget,
    format_markdown,
    run_kernel_study,
)
from course_lib.fashion.train import EpochRecord, TrainConfig, TrainResult

SMALL = replace(STUDY_CONFIG, channels=(4, 8, 8), hidden=(16,), batch_size=16)


def fake_result(model: str, kernel_size: int, seed: int, accuracy: float) -> TrainResult:
    """A run with a chosen test accuracy (no training), for checking the statistics by hand."""
    return TrainResult(
        config=replace(STUDY_CONFIG, model=model, kernel_size=kernel_size, seed=seed),  # type: ignore[arg-type]
        params=100 * kernel_size,
        first_layer_params=kernel_size,
        test_loss=1 - accuracy,
        test_accuracy=accuracy,
        confusion=[[1] * 10 for _ in range(10)],
        per_class_accuracy=dict.fromkeys(CLASS_NAMES, accuracy),
        history=[EpochRecord(1, 0.5, 1 - accuracy, accuracy, 2.0, 1e-3)],
        seconds_per_epoch=2.0,
        eval_split="test",
    )


def fake_study(acc3: list[float], acc5: list[float]) -> KernelStudy:
    runs = [fake_result("cnn", 3, s, a) for s, a in enumerate(acc3)]
    runs += [fake_result("cnn", 5, s, a) for s, a in enumerate(acc5)]
    runs += [fake_result("mlp", 3, s, 0.85) for s in range(len(acc3))]
    return KernelStudy(runs, (3, 5), tuple(range(len(acc3))))


def test_summary_is_mean_and_sample_std_over_seeds() -> None:
    study = fake_study([0.90, 0.91, 0.93], [0.91, 0.92, 0.95])
    rows = {r.model: r for r in study.summary()}
    assert set(rows) == {"cnn 3x3", "cnn 5x5", "mlp"}
    assert rows["cnn 3x3"].accuracy_mean == pytest.approx(statistics.mean([0.90, 0.91, 0.93]))
    assert rows["cnn 3x3"].accuracy_std == pytest.approx(statistics.stdev([0.90, 0.91, 0.93]))
    assert rows["cnn 5x5"].n_seeds == 3 and rows["mlp"].kernel_size is None
    assert rows["mlp"].accuracy_std == 0.0


def test_paired_difference_smaller_than_noise() -> None:
    acc3, acc5 = [0.90, 0.92, 0.91], [0.92, 0.91, 0.915]
    (d,) = fake_study(acc3, acc5).differences()
    diffs = [b - a for a, b in zip(acc3, acc5, strict=True)]
    assert (d.kernel_a, d.kernel_b) == (3, 5)
    assert d.diff_mean == pytest.approx(statistics.mean(diffs))
    assert d.diff_std == pytest.approx(statistics.stdev(diffs))
    assert d.t == pytest.approx(statistics.mean(diffs) / (statistics.stdev(diffs) / math.sqrt(3)))
    assert d.seed_noise == pytest.approx(
        math.sqrt((statistics.variance(acc3) + statistics.variance(acc5)) / 2)
    )
    assert not d.exceeds_noise


def test_consistent_paired_difference_exceeds_noise() -> None:
    """Seeds spread by 2 pp, but 5x5 beats 3x3 by 1.0-1.2 pp on every seed: t = 11 > 4.30."""
    (d,) = fake_study([0.90, 0.92, 0.94], [0.910, 0.931, 0.952]).differences()
    assert d.t > 4.303 and d.exceeds_noise
    (same,) = fake_study([0.90, 0.92], [0.91, 0.93]).differences()  # identical differences: std 0
    assert same.t == math.inf and same.exceeds_noise


def test_markdown_table_lists_models_and_verdicts() -> None:
    text = format_markdown(fake_study([0.90, 0.92, 0.94], [0.910, 0.931, 0.952]))
    assert "| cnn 3x3 | 92.00 ± 2.00 |" in text
    assert "| 5x5 − 3x3 | +1.10 ± 0.10 |" in text and text.rstrip().endswith("yes |")


def test_grading_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert apply_grading_budget(5, None, 100) == (5, None, 100)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert apply_grading_budget(5, None, None) == (1, GRADING_TRAIN_SUBSET, GRADING_TEST_SUBSET)
    assert apply_grading_budget(5, 20, 10) == (1, 20, 10)


def test_study_on_a_tiny_subset(synthetic_data: FashionData, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    study = run_kernel_study(
        (3, 5), seeds=(0, 1), epochs=1, subset=40, test_subset=20, config=SMALL, data=synthetic_data
    )
    assert len(study.runs) == 2 * 2 + 2
    assert {
        (r.config.model, r.config.kernel_size, r.config.seed) for r in study.runs if r.config.model == "cnn"
    } == {("cnn", k, s) for k in (3, 5) for s in (0, 1)}
    assert set(study.models) == {"cnn3", "cnn5", "mlp"}
    assert all(r.model is None for r in study.runs)  # only the first seed's models are kept
    assert all(sum(map(sum, r.confusion)) == 20 for r in study.runs)
    rows = {r.model: r for r in study.summary()}
    assert rows["cnn 5x5"].params == count_parameters(FashionCNN(5, channels=(4, 8, 8), hidden=16))
    assert rows["cnn 5x5"].first_layer_params == 4 * 25 + 4
    assert rows["mlp"].params == 109_386
    assert [(d.kernel_a, d.kernel_b) for d in study.differences()] == [(3, 5)]


def test_study_under_the_grading_budget(synthetic_data: FashionData, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    study = run_kernel_study((3,), seeds=(0,), epochs=5, include_mlp=False, config=SMALL, data=synthetic_data)
    assert len(study.runs) == 1 and len(study.runs[0].history) == 1


def test_study_rejects_empty_plans(synthetic_data: FashionData) -> None:
    with pytest.raises(ValueError, match="must both be non-empty"):
        run_kernel_study((), data=synthetic_data)


def test_save_writes_json_csv_and_markdown(tmp_path: Path) -> None:
    study = fake_study([0.90, 0.91, 0.93], [0.91, 0.92, 0.95])
    paths = study.save(tmp_path)
    assert [p.name for p in paths] == ["study.json", "runs.csv", "summary.csv", "summary.md"]
    saved = json.loads(paths[0].read_text())
    assert len(saved["runs"]) == 9 and saved["differences"][0]["kernel_b"] == 5
    with paths[1].open() as fh:
        runs = list(csv.DictReader(fh))
    assert len(runs) == 9 and runs[-1]["model"] == "mlp" and runs[-1]["kernel_size"] == ""
    with paths[2].open() as fh:
        summary = list(csv.DictReader(fh))
    assert [r["model"] for r in summary] == ["cnn 3x3", "cnn 5x5", "mlp"]
    assert paths[3].read_text().startswith("| model |")
    loaded = KernelStudy.load(paths[0])
    assert loaded.summary() == study.summary() and loaded.differences() == study.differences()
    assert loaded.runs[0].config == study.runs[0].config


def test_study_config_is_the_seed_recipe() -> None:
    assert replace(TrainConfig(), channels_last=True) == STUDY_CONFIG
