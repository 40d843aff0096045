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


@pytest.mark.parametrize(
    ("argv", "total"),
    [
        (["summary", "--model", "lecture"], "825,162"),
        (["summary", "--model", "two_block"], "421,642"),
        (["summary", "--model", "dense"], "235,146"),
        (["summary", "--separable"], "160,586"),
    ],
)
def test_summary_of_the_lecture_models(
    argv: list[str], total: str, capsys: pytest.CaptureFixture[str]
) -> None:
    main(argv)
    out = capsys.readouterr().out
    assert out.rstrip().endswith(total)
    if "lecture" in argv:
        assert "BatchNorm1d" in out and "803,072" in out and "(1, 3136)" in out


def test_train_with_the_lecture_preset(synthetic_dir: Path, tmp_path: Path) -> None:
    """--preset lecture supplies the recipe; explicit options still override it (--no-augment)."""
    out = tmp_path / "lecture"
    args = ["train", "--preset", "lecture", "--epochs", "1", "--batch-size", "16", "--hidden", "8"]
    args += ["--data-dir", str(synthetic_dir), "--no-verify", "--quiet", "--out", str(out)]
    assert main(args) == 0
    config = json.loads((out / "results.json").read_text())["config"]
    assert (config["model"], config["schedule"], config["weight_decay"], config["augment"]) == (
        "lecture",
        "plateau",
        1e-4,
        True,
    )
    assert config["normalization"] == [0.286, 0.353]
    assert main([*args, "--no-augment"]) == 0
    assert json.loads((out / "results.json").read_text())["config"]["augment"] is False


def test_lecture_study_and_timing_commands(synthetic_dir: Path, tmp_path: Path) -> None:
    data = ["--data-dir", str(synthetic_dir), "--no-verify", "--quiet", "--subset", "24"]
    args = ["lecture-study", "--arms", "two_block", "dense", "--seeds", "0", "--epochs", "1"]
    assert main([*args, *data, "--test-subset", "10", "--out", str(tmp_path / "ls")]) == 0
    written = {p.name for p in (tmp_path / "ls").iterdir()}
    assert {"study.json", "summary.md", "two_block_vs_dense_confusion.png"} <= written
    assert "separable_comparison.png" not in written  # its arms did not run
    assert main(["timing", "--kernel-sizes", "3", "--epochs", "1", *data, "--out", str(tmp_path / "t")]) == 0
    assert (tmp_path / "t" / "timing.md").read_text().startswith("| model |")
