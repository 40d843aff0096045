"""Command line: ``python -m course_lib.tinycnn {train,filters,compare,sweep,four-class,all} --out DIR``.

- ``train``: one TinyCNN run -- ``curves.png``, ``curves.csv/json``, ``samples.png``, ``trace.png``;
- ``filters``: the filters at epochs 0, 5, 15, 40, 80 -- ``filter_evolution.png``, ``filters.json``;
- ``compare``: TinyCNN vs MLP (2, 8, 18 hidden) over 5 seeds -- ``compare.png``, ``compare.csv/json``;
- ``sweep``: MLP widths 1..18 over 5 seeds with TinyCNN as reference -- ``sweep.png``, ``sweep.csv/json``;
- ``four-class``: the dot as a 4th class, TinyCNN vs MLP 8 and 18, 3 seeds, 2,000 images --
  ``four_class.png``, ``four_class.csv/json``;
- ``all``: everything above (``train`` and ``compare`` reuse the sweep's runs) and ``summary.json``.

Tables are printed and saved; figures are PNGs (Agg backend). Outputs go to ``out/tinycnn`` unless
``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure

from course_lib.tinycnn import experiments as ex
from course_lib.tinycnn import plots
from course_lib.tinycnn.train import DEFAULTS

DEFAULT_OUT = Path("out") / "tinycnn"


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _save(fig: Figure, out: Path, name: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    fig.savefig(path, dpi=120)
    return path


def _report(table: ex.Table, out: Path, name: str, show: int = 12) -> None:
    """Print the table (its first ``show - 1`` rows and the last when longer) and save it."""
    rows = table.rows if len(table.rows) <= show else [*table.rows[: show - 1], table.rows[-1]]
    print(replace(table, rows=rows).to_text(), flush=True)
    paths = table.save(out, name)
    print(f"-> {', '.join(str(p) for p in paths)}\n", flush=True)


def _train_outputs(run: ex.Run, out: Path) -> None:
    split = ex.make_split(run.seed)
    _report(ex.curves_table(run), out, "curves")
    print(f"-> {_save(plots.plot_curves(run), out, 'curves.png')}")
    print(f"-> {_save(plots.plot_samples(split.X_train, split.y_train), out, 'samples.png')}")
    model = run.model
    assert hasattr(model, "trace")
    print(f"-> {_save(plots.plot_trace(model.trace(split.X_test[0])), out, 'trace.png')}\n")


def cmd_train(args: argparse.Namespace) -> dict[str, Any]:
    run = ex.train_tinycnn(args.seed, args.epochs, args.n_train, progress=args.progress)
    _train_outputs(run, args.out)
    return {"test_accuracy": run.test_accuracy, "first_epoch_99": run.history.first_epoch_reaching(0.99)}


def cmd_filters(args: argparse.Namespace) -> dict[str, Any]:
    run = ex.filter_evolution(args.snapshots, args.seed, args.n_train, progress=args.progress)
    args.out.mkdir(parents=True, exist_ok=True)
    filters = {str(e): p["conv.w"][:, 0].round(4).tolist() for e, p in run.history.snapshots.items()}
    (args.out / "filters.json").write_text(json.dumps(filters, indent=1) + "\n")
    print(f"filters after {max(args.snapshots)} epochs (test accuracy {run.test_accuracy:.4f}):")
    print(run.model.params["conv.w"][:, 0].round(2))
    print(f"-> {_save(plots.plot_filter_evolution(run), args.out, 'filter_evolution.png')}\n")
    return {"test_accuracy": run.test_accuracy, "epochs": max(args.snapshots)}


def _comparison_outputs(comparison: ex.Comparison, out: Path, name: str, fig: Figure) -> dict[str, Any]:
    _report(comparison.table, out, name)
    print(f"-> {_save(fig, out, name + '.png')}\n")
    return {"rows": comparison.table.rows}


def cmd_compare(args: argparse.Namespace) -> dict[str, Any]:
    comparison = ex.compare_cnn_mlp(
        args.hidden or ex.COMPARE_HIDDEN, args.seeds, args.epochs, args.n_train, args.progress
    )
    return _comparison_outputs(comparison, args.out, "compare", plots.plot_comparison(comparison))


def cmd_sweep(args: argparse.Namespace) -> dict[str, Any]:
    sweep = ex.mlp_capacity_sweep(
        args.hidden or ex.SWEEP_HIDDEN, args.seeds, args.epochs, args.n_train, args.progress
    )
    return _comparison_outputs(sweep, args.out, "sweep", plots.plot_sweep(sweep))


def _four_class(args: argparse.Namespace, hidden: Sequence[int]) -> dict[str, Any]:
    n_train = round(args.n_train * 4 / 3)  # as many images per class as the three-class runs
    four = ex.four_class(hidden, args.seeds[: ex.FOUR_CLASS_SEEDS], args.epochs, n_train, args.progress)
    return _comparison_outputs(four, args.out, "four_class", plots.plot_comparison(four))


def cmd_four_class(args: argparse.Namespace) -> dict[str, Any]:
    return _four_class(args, args.hidden or ex.FOUR_CLASS_HIDDEN)


def cmd_all(args: argparse.Namespace) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    timings: dict[str, float] = {}
    start = time.perf_counter()
    hidden = sorted(set(args.hidden or ex.SWEEP_HIDDEN) | set(ex.COMPARE_HIDDEN))
    sweep = ex.mlp_capacity_sweep(hidden, args.seeds, args.epochs, args.n_train, args.progress)
    summary["sweep"] = _comparison_outputs(sweep, args.out, "sweep", plots.plot_sweep(sweep))
    compare = sweep.subset(["TinyCNN", *(f"MLP-{h}" for h in ex.COMPARE_HIDDEN)], ex.COMPARE_TITLE)
    summary["compare"] = _comparison_outputs(compare, args.out, "compare", plots.plot_comparison(compare))
    timings["sweep+compare"] = time.perf_counter() - start
    first = sweep.runs["TinyCNN"][0]  # the default run: seed args.seeds[0]
    _train_outputs(first, args.out)
    summary["train"] = {
        "seed": first.seed,
        "test_accuracy": first.test_accuracy,
        "first_epoch_99": first.history.first_epoch_reaching(0.99),
    }
    t = time.perf_counter()
    summary["filters"] = cmd_filters(args)
    timings["filters"] = time.perf_counter() - t
    t = time.perf_counter()
    summary["four_class"] = _four_class(args, ex.FOUR_CLASS_HIDDEN)  # --hidden is the sweep's
    timings["four_class"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - start
    summary["seconds"] = {k: round(v, 1) for k, v in timings.items()}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("time: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    return summary


COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], dict[str, Any]], str]] = {
    "train": (cmd_train, "one TinyCNN run: curves, samples, inference trace"),
    "filters": (cmd_filters, "the filters at the snapshot epochs (0, 5, 15, 40, 80)"),
    "compare": (cmd_compare, "TinyCNN vs MLP table: params, accuracy, ratio"),
    "sweep": (cmd_sweep, "MLP capacity sweep over seeds with the TinyCNN reference"),
    "four-class": (cmd_four_class, "the dot as a 4th class: TinyCNN (142 params) vs MLP 8 and 18"),
    "all": (cmd_all, "everything, reusing the sweep's runs for train and compare"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.tinycnn",
        description="The TinyCNN experiments: tables printed and saved (CSV, JSON), figures as PNG.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
        p.add_argument(
            "--epochs",
            type=int,
            default=DEFAULTS.epochs,
            help="training epochs per run (filters: the last snapshot)",
        )
        p.add_argument(
            "--n-train",
            type=int,
            default=1500,
            help="training images per 3-class run (4 classes: 4/3 as many)",
        )
        p.add_argument("--seed", type=int, default=0, help="data and model seed of a single run")
        p.add_argument(
            "--seeds",
            type=_ints,
            default=list(ex.SWEEP_SEEDS),
            help=f"seeds of multi-seed runs (four-class: the first {ex.FOUR_CLASS_SEEDS})",
        )
        p.add_argument("--hidden", type=_ints, default=None, help="MLP hidden widths, e.g. 1,2,4")
        p.add_argument(
            "--snapshots", type=_ints, default=list(ex.SNAPSHOT_EPOCHS), help="epochs of the filter figure"
        )
        p.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.progress = False if args.quiet else None
    start = time.perf_counter()
    COMMANDS[args.command][0](args)
    print(f"{args.command} done in {time.perf_counter() - start:.1f} s; outputs in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
