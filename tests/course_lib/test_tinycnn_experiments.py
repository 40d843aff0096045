"""course_lib.tinycnn.experiments, plots and the command line, on tiny budgets (one or two epochs on
a few dozen images): structure, parameter counts as oracle numbers, tables and files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from course_lib.stripes import make_stripes
from course_lib.tinycnn import TinyCNN, plots
from course_lib.tinycnn import experiments as ex
from course_lib.tinycnn.__main__ import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_make_split_draws_three_independent_sets() -> None:
    split = ex.make_split(3, n_train=30, n_val=20, n_test=40, n_classes=4)
    assert split.X_train.shape == (30, 1, 8, 8) and split.X_val.shape == (20, 1, 8, 8)
    assert split.X_test.shape == (40, 1, 8, 8) and set(split.y_test) == {0, 1, 2, 3}
    np.testing.assert_array_equal(split.X_train, make_stripes(30, 4, seed=3)[0])
    np.testing.assert_array_equal(split.X_test, make_stripes(40, 4, seed=3 + ex.TEST_SEED_OFFSET)[0])
    assert not np.array_equal(split.X_train[:20], split.X_val)


def test_table_text_csv_and_json(tmp_path: Path) -> None:
    table = ex.Table(
        "T", ["model", "acc", "ratio"], [{"model": "a", "acc": 0.5, "ratio": 2.0}], {"ratio": ".1f"}
    )
    assert table.to_text().splitlines() == ["T", "model     acc  ratio", "-" * 20, "    a  0.5000    2.0"]
    csv_path, json_path = table.save(tmp_path / "sub", "t")
    with csv_path.open() as f:
        assert list(csv.DictReader(f)) == [{"model": "a", "acc": "0.5", "ratio": "2.0"}]
    assert json.loads(json_path.read_text()) == {"title": "T", "rows": table.rows}


def test_sweep_on_a_tiny_grid() -> None:
    sweep = ex.mlp_capacity_sweep(hidden=(1, 4), seeds=(0, 1), epochs=1, n_train=60, progress=False)
    assert [r["model"] for r in sweep.table.rows] == ["TinyCNN", "MLP-1", "MLP-4"]
    assert [r["params"] for r in sweep.table.rows] == [114, 68 * 1 + 3, 68 * 4 + 3]
    assert [r["param_ratio"] for r in sweep.table.rows] == [1.0, round(71 / 114, 2), round(275 / 114, 2)]
    for row in sweep.table.rows:
        acc = sweep.accuracies(row["model"])
        assert len(acc) == row["seeds"] == 2
        assert row["acc_min"] == min(acc) and row["acc_max"] == max(acc)
        assert row["acc_median"] == pytest.approx(np.median(acc))
    run = sweep.runs["MLP-4"][1]
    assert run.seed == 1 and run.model.seed == 1
    split = ex.make_split(1, n_train=60)
    assert run.test_accuracy == run.model.accuracy(split.X_test, split.y_test)
    compare = sweep.subset(["TinyCNN", "MLP-4"], "sub")
    assert [r["model"] for r in compare.table.rows] == ["TinyCNN", "MLP-4"] and list(compare.runs) == [
        "TinyCNN",
        "MLP-4",
    ]


def test_four_class_keeps_three_filters() -> None:
    four = ex.four_class(hidden=(8, 18), seeds=(0,), epochs=1, n_train=80, progress=False)
    params = {r["model"]: r["params"] for r in four.table.rows}
    assert params == {"TinyCNN": 142, "MLP-8": 65 * 8 + 9 * 4, "MLP-18": 65 * 18 + 19 * 4}
    model = four.runs["TinyCNN"][0].model
    assert isinstance(model, TinyCNN) and model.n_filters == 3 and model.n_classes == 4


def test_filter_evolution_snapshots() -> None:
    run = ex.filter_evolution(snapshot_epochs=(0, 1, 2), n_train=60, progress=False)
    assert sorted(run.history.snapshots) == [0, 1, 2] and run.history.epochs[-1] == 2
    np.testing.assert_array_equal(run.history.snapshots[0]["conv.w"], TinyCNN(seed=0).params["conv.w"])
    table = ex.curves_table(run)
    assert [r["epoch"] for r in table.rows] == [0, 1, 2]


def test_every_figure_renders(tmp_path: Path) -> None:
    sweep = ex.mlp_capacity_sweep(hidden=(1, 2), seeds=(0,), epochs=1, n_train=30, progress=False)
    run = ex.filter_evolution(snapshot_epochs=(0, 1), n_train=30, progress=False)
    X, y = make_stripes(12, n_classes=4)
    assert isinstance(run.model, TinyCNN)
    figures = {
        "samples": plots.plot_samples(X, y),
        "curves": plots.plot_curves(run),
        "filters": plots.plot_filter_evolution(run),
        "sweep": plots.plot_sweep(sweep),
        "compare": plots.plot_comparison(sweep),
        "trace": plots.plot_trace(run.model.trace(X[0])),
    }
    for name, fig in figures.items():
        assert isinstance(fig, Figure) and fig.axes
        fig.savefig(tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == PNG_MAGIC
    assert len(figures["filters"].axes) == 3 * 2  # filters x snapshot epochs


def test_command_all_writes_every_table_and_figure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["all", "--out", str(tmp_path), "--epochs", "1", "--n-train", "30", "--seeds", "0"]
    assert main([*argv, "--hidden", "1", "--snapshots", "0,1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "MLP capacity sweep" in out and "TinyCNN vs MLP" in out and "Four classes" in out
    expected = [
        "sweep.csv", "sweep.json", "sweep.png", "compare.csv", "compare.json", "compare.png",
        "curves.csv", "curves.json", "curves.png", "samples.png", "trace.png",
        "filter_evolution.png", "filters.json", "four_class.csv", "four_class.json", "four_class.png",
        "summary.json",
    ]  # fmt: skip
    for name in expected:
        assert (tmp_path / name).stat().st_size > 0, name
    summary = json.loads((tmp_path / "summary.json").read_text())
    models = [r["model"] for r in summary["compare"]["rows"]]
    assert models == ["TinyCNN", "MLP-2", "MLP-8", "MLP-18"]
    assert set(summary["seconds"]) >= {"total"}


@pytest.mark.parametrize(
    ("command", "files"),
    [
        ("train", ["curves.csv", "curves.json", "curves.png", "samples.png", "trace.png"]),
        ("filters", ["filter_evolution.png", "filters.json"]),
        ("compare", ["compare.csv", "compare.json", "compare.png"]),
        ("sweep", ["sweep.csv", "sweep.json", "sweep.png"]),
        ("four-class", ["four_class.csv", "four_class.json", "four_class.png"]),
    ],
)
def test_each_command_writes_its_files(command: str, files: list[str], tmp_path: Path) -> None:
    argv = [command, "--out", str(tmp_path), "--epochs", "1", "--n-train", "30", "--seeds", "0", "--quiet"]
    assert main([*argv, "--hidden", "1", "--snapshots", "0,1"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files)


def test_command_rejects_bad_lists() -> None:
    with pytest.raises(SystemExit):
        main(["sweep", "--hidden", "1,x"])
