"""``python -m course_lib.fashion``: train, study and summary on the synthetic stand-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course_lib.fashion.__main__ import main


def test_train_writes_results_and_checkpoint(
    synthetic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    args = ["train", "--model", "mlp", "--epochs", "1", "--data-dir", str(synthetic_dir), "--no-verify"]
    assert main([*args, "--out", str(out), "--quiet", "--threads", "1"]) == 0
    result = json.loads((out / "results.json").read_text())
    assert result["params"] == 109_386 and len(result["history"]) == 1
    assert set(result) >= {
        "test_accuracy",
        "test_loss",
        "per_class_accuracy",
        "confusion",
        "seconds_per_epoch",
    }
    assert (out / "model.pt").stat().st_size > 0
    assert "mlp: test accuracy" in capsys.readouterr().out


def test_study_writes_tables_and_figures(synthetic_dir: Path, tmp_path: Path) -> None:
    args = [
        "study",
        "--kernel-sizes",
        "3",
        "--seeds",
        "0",
        "--epochs",
        "1",
        "--subset",
        "20",
        "--test-subset",
        "10",
    ]
    args += ["--data-dir", str(synthetic_dir), "--no-verify", "--quiet", "--out", str(tmp_path)]
    assert main(args) == 0
    written = {p.name for p in tmp_path.iterdir()}
    assert {"study.json", "summary.md", "runs.csv", "training_curves.png", "feature_maps.png"} <= written


def test_summary_prints_the_layer_table(capsys: pytest.CaptureFixture[str]) -> None:
    main(["summary", "--kernel-size", "7"])
    assert capsys.readouterr().out.rstrip().endswith("652,426")


def test_unknown_model_is_rejected() -> None:
    with pytest.raises(SystemExit):
        main(["train", "--model", "rnn"])


def test_validation_size_is_a_count_or_a_fraction() -> None:
    from course_lib.fashion.__main__ import build_parser

    parse = build_parser().parse_args
    assert parse(["train", "--val-size", "5000"]).val_size == 5000
    assert parse(["train", "--val-size", "0.1"]).val_size == 0.1
