r"""The TinyCNN lecture's experiments as functions: each returns plain results (and tables) that
:mod:`course_lib.tinycnn.plots` draws and ``python -m course_lib.tinycnn`` saves.

Data protocol (:func:`make_split`): for a data seed ``s``, the training set is
``make_stripes(n_train, seed=s)``, the validation set (the per-epoch curves) is drawn with seed
``s + 10_000`` and the held-out test set (every reported accuracy) with seed ``s + 20_000``;
defaults 1,500 / 500 / 3,000 images, three classes, ``noise=0.2``. Models train with
:data:`course_lib.tinycnn.train.DEFAULTS` (Adam, peak lr 0.05, cosine decay, batch 32, 40 epochs).
A run with seed ``s`` uses data seed ``s`` and model seed ``s``.

- :func:`train_tinycnn`: one TinyCNN run, its curves and its test accuracy.
- :func:`filter_evolution`: one long run with the filters copied at chosen epochs.
- :func:`compare_cnn_mlp`: TinyCNN against MLPs: parameters, accuracy, parameter ratio.
- :func:`mlp_capacity_sweep`: MLP hidden widths x seeds, min/median/max accuracy, with TinyCNN over
  the same seeds as the reference.
- :func:`four_class`: the same comparison with the dot as a fourth class.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm.auto import tqdm

from course_lib.stripes import DEFAULT_NOISE, make_stripes
from course_lib.tinycnn.models import MLP, Classifier, TinyCNN
from course_lib.tinycnn.train import DEFAULTS, History, Progress, progress_enabled
from course_lib.validation import Array, check_int

VAL_SEED_OFFSET = 10_000
"""The validation set of data seed ``s`` is drawn with seed ``s + VAL_SEED_OFFSET``."""
TEST_SEED_OFFSET = 20_000
"""The test set of data seed ``s`` is drawn with seed ``s + TEST_SEED_OFFSET``."""
SWEEP_HIDDEN = (1, 2, 4, 8, 12, 18)
"""The MLP widths of the capacity sweep."""
SWEEP_SEEDS = (0, 1, 2, 3, 4)
"""The seeds of the capacity sweep."""
SNAPSHOT_EPOCHS = (0, 5, 15, 40, 80)
"""The epochs of the filter-evolution figure."""


@dataclass(frozen=True, eq=False)
class Split:
    """Training, validation and test stripes of one data seed."""

    X_train: Array
    y_train: npt.NDArray[np.int64]
    X_val: Array
    y_val: npt.NDArray[np.int64]
    X_test: Array
    y_test: npt.NDArray[np.int64]


def make_split(
    seed: int = 0,
    n_train: int = 1500,
    n_val: int = 500,
    n_test: int = 3000,
    n_classes: int = 3,
    noise: float = DEFAULT_NOISE,
) -> Split:
    """The three data sets of data seed ``seed`` (see the module docstring)."""
    seed = check_int("seed", seed, minimum=0)
    X_train, y_train = make_stripes(n_train, n_classes, noise=noise, seed=seed)
    X_val, y_val = make_stripes(n_val, n_classes, noise=noise, seed=seed + VAL_SEED_OFFSET)
    X_test, y_test = make_stripes(n_test, n_classes, noise=noise, seed=seed + TEST_SEED_OFFSET)
    return Split(X_train, y_train, X_val, y_val, X_test, y_test)


@dataclass
class Table:
    """Rows of named values: printed as aligned text, saved as CSV and JSON."""

    title: str
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    formats: dict[str, str] = field(default_factory=dict)
    """Format spec per column for :meth:`to_text` (floats default to ``.4f``)."""

    def to_text(self) -> str:
        """An aligned plain-text table under its title."""

        def fmt(column: str, v: Any) -> str:
            spec = self.formats.get(column, ".4f" if isinstance(v, float) else "")
            return format(v, spec)

        cells = [[fmt(c, row[c]) for c in self.columns] for row in self.rows]
        widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(self.columns)]
        line = "  ".join(c.rjust(w) for c, w in zip(self.columns, widths, strict=True))
        body = ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
        return "\n".join([self.title, line, "-" * len(line), *body])

    def save(self, out_dir: str | Path, name: str) -> list[Path]:
        """Write ``name.csv`` and ``name.json`` into ``out_dir``; return both paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        csv_path, json_path = out / f"{name}.csv", out / f"{name}.json"
        with csv_path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns)
            writer.writeheader()
            writer.writerows({c: row[c] for c in self.columns} for row in self.rows)
        json_path.write_text(json.dumps({"title": self.title, "rows": self.rows}, indent=2) + "\n")
        return [csv_path, json_path]


@dataclass(frozen=True, eq=False)
class Run:
    """One trained model, its history and its held-out accuracy."""

    model: Classifier
    history: History
    test_accuracy: float
    seed: int


def _train(
    make_model: Callable[..., Classifier],
    split: Split,
    seed: int,
    epochs: int,
    snapshot_epochs: Sequence[int] = (),
    progress: Progress = False,
) -> Run:
    model = make_model(seed=seed)
    history = model.fit(
        split.X_train,
        split.y_train,
        epochs=epochs,
        X_val=split.X_val,
        y_val=split.y_val,
        snapshot_epochs=snapshot_epochs,
        progress=progress,
    )
    return Run(model, history, model.accuracy(split.X_test, split.y_test), seed)


def train_tinycnn(
    seed: int = 0, epochs: int = DEFAULTS.epochs, n_train: int = 1500, progress: Progress = None
) -> Run:
    """Train the default TinyCNN on data seed ``seed`` (model seed ``seed``): curves and test accuracy."""
    return _train(TinyCNN, make_split(seed, n_train=n_train), seed, epochs, progress=progress)


def filter_evolution(
    snapshot_epochs: Sequence[int] = SNAPSHOT_EPOCHS,
    seed: int = 0,
    n_train: int = 1500,
    progress: Progress = None,
) -> Run:
    """One TinyCNN trained for ``max(snapshot_epochs)`` epochs (the cosine schedule spans the whole run)
    with every parameter copied at ``snapshot_epochs``: ``run.history.snapshots[e]["conv.w"]``."""
    epochs = max(snapshot_epochs)
    return _train(TinyCNN, make_split(seed, n_train=n_train), seed, epochs, snapshot_epochs, progress)


def _seed_runs(
    makers: Sequence[tuple[str, Callable[..., Classifier]]],
    seeds: Iterable[int],
    epochs: int,
    n_train: int,
    n_classes: int,
    progress: Progress,
    desc: str,
) -> dict[str, list[Run]]:
    """Every model of ``makers`` trained on every seed, one progress bar over all runs."""
    seeds = list(seeds)
    runs: dict[str, list[Run]] = {name: [] for name, _ in makers}
    bar = tqdm(total=len(makers) * len(seeds), desc=desc, disable=not progress_enabled(progress))
    for seed in seeds:
        split = make_split(seed, n_train=n_train, n_classes=n_classes)
        for name, make in makers:
            bar.set_postfix_str(f"{name}, seed {seed}")
            runs[name].append(_train(make, split, seed, epochs))
            bar.update()
    bar.close()
    return runs


def _summary_row(name: str, runs: Sequence[Run], cnn_params: int) -> dict[str, Any]:
    acc = np.array([r.test_accuracy for r in runs])
    n_params = runs[0].model.n_params
    return {
        "model": name,
        "params": n_params,
        "param_ratio": round(n_params / cnn_params, 2),
        "acc_min": float(acc.min()),
        "acc_median": float(np.median(acc)),
        "acc_max": float(acc.max()),
        "seeds": len(runs),
    }


SUMMARY_COLUMNS = ["model", "params", "param_ratio", "acc_min", "acc_median", "acc_max", "seeds"]


@dataclass(frozen=True, eq=False)
class Comparison:
    """Runs per model name and their summary table (accuracy on the held-out test sets)."""

    runs: dict[str, list[Run]]
    table: Table

    def accuracies(self, name: str) -> list[float]:
        """Test accuracy of every seed of one model."""
        return [r.test_accuracy for r in self.runs[name]]

    def subset(self, names: Sequence[str], title: str) -> Comparison:
        """The same runs restricted to ``names`` (e.g. the CNN-vs-MLP table out of the sweep)."""
        runs = {name: self.runs[name] for name in names}
        rows = [row for row in self.table.rows if row["model"] in runs]
        return Comparison(runs, Table(title, self.table.columns, rows, self.table.formats))


def _compare(
    title: str,
    n_classes: int,
    hidden: Sequence[int],
    seeds: Iterable[int],
    epochs: int,
    n_train: int,
    progress: Progress,
    desc: str,
) -> Comparison:
    makers: list[tuple[str, Callable[..., Classifier]]] = [("TinyCNN", partial(TinyCNN, n_classes=n_classes))]
    makers += [(f"MLP-{h}", partial(MLP, h, n_classes=n_classes)) for h in hidden]
    runs = _seed_runs(makers, seeds, epochs, n_train, n_classes, progress, desc)
    cnn_params = runs["TinyCNN"][0].model.n_params
    rows = [_summary_row(name, r, cnn_params) for name, r in runs.items()]
    table = Table(title, SUMMARY_COLUMNS, rows, {"param_ratio": ".2f"})
    return Comparison(runs, table)


COMPARE_HIDDEN = (2, 8, 18)
"""The MLP widths of the CNN-vs-MLP table (a subset of :data:`SWEEP_HIDDEN`)."""
COMPARE_TITLE = "TinyCNN vs MLP, 3 classes (test accuracy over seeds)"


def compare_cnn_mlp(
    hidden: Sequence[int] = COMPARE_HIDDEN,
    seeds: Iterable[int] = SWEEP_SEEDS,
    epochs: int = DEFAULTS.epochs,
    n_train: int = 1500,
    progress: Progress = None,
) -> Comparison:
    """TinyCNN against MLPs of the given widths (three classes): parameters, test accuracy, and the
    parameter ratio MLP / TinyCNN. With the defaults these are exactly the sweep's runs of those
    widths (``python -m course_lib.tinycnn all`` takes them from the sweep)."""
    return _compare(COMPARE_TITLE, 3, hidden, seeds, epochs, n_train, progress, "compare")


def mlp_capacity_sweep(
    hidden: Sequence[int] = SWEEP_HIDDEN,
    seeds: Iterable[int] = SWEEP_SEEDS,
    epochs: int = DEFAULTS.epochs,
    n_train: int = 1500,
    progress: Progress = None,
) -> Comparison:
    """MLP accuracy against hidden width over several seeds (min/median/max), with TinyCNN trained on
    the same seeds as the reference (its row comes first)."""
    return _compare(
        "MLP capacity sweep, 3 classes (test accuracy over seeds)",
        3,
        hidden,
        seeds,
        epochs,
        n_train,
        progress,
        "sweep",
    )


FOUR_CLASS_HIDDEN = (8, 18)
"""The narrow and the wide MLP of the four-class extension."""
FOUR_CLASS_SEEDS = 3
"""The four-class extension runs the first three seeds."""


def four_class(
    hidden: Sequence[int] = FOUR_CLASS_HIDDEN,
    seeds: Iterable[int] = SWEEP_SEEDS[:FOUR_CLASS_SEEDS],
    epochs: int = DEFAULTS.epochs,
    n_train: int = 2000,
    progress: Progress = None,
) -> Comparison:
    """The dot as a fourth class: TinyCNN keeps its 3 filters (142 parameters) against a narrow and a
    wide MLP. ``n_train`` defaults to 2,000 (500 per class, as 1,500 gives three classes)."""
    return _compare(
        "Four classes (with the dot): test accuracy over seeds",
        4,
        hidden,
        seeds,
        epochs,
        n_train,
        progress,
        "four-class",
    )


def curves_table(run: Run) -> Table:
    """The per-epoch history of one run as a table."""
    h = run.history
    rows = [
        {
            "epoch": e,
            "train_loss": h.train_loss[i],
            "train_acc": h.train_accuracy[i],
            "val_loss": h.val_loss[i],
            "val_acc": h.val_accuracy[i],
        }
        for i, e in enumerate(h.epochs)
    ]
    title = f"TinyCNN training, seed {run.seed}: test accuracy {run.test_accuracy:.4f}"
    return Table(title, ["epoch", "train_loss", "train_acc", "val_loss", "val_acc"], rows)
