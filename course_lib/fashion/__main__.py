"""Command line: ``python -m course_lib.fashion {train,study,timing,lecture-study,summary} ...``
(``--help`` on each).

- ``train --model cnn --kernel-size 3 --epochs 5 --out out/fashion/cnn3`` writes ``results.json`` and
  ``model.pt``; ``train --preset lecture`` starts from the lecture's recipe (every option still applies);
- ``study --epochs 3 --out out/fashion/study`` writes ``study.json``, CSV/Markdown tables and PNG figures;
- ``timing --kernel-sizes 3 5 --epochs 15`` times the kernel study's CNNs epoch by epoch;
- ``lecture-study --epochs 5`` compares the lecture CNN with and without augmentation, the two-block CNN
  with its dense baseline, and the separable kernel-study CNN with the standard one;
- ``summary --model lecture`` prints the per-layer table (output shapes, parameters).

Outputs go under ``out/`` by default (git-ignored), never next to tracked files.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import torch

from course_lib.fashion.data import FashionData
from course_lib.fashion.models import format_summary, layer_summary
from course_lib.fashion.train import MODELS, PRESETS, TrainConfig, run_training, save_result

DEFAULT_OUT = Path("out") / "fashion"


def _count_or_fraction(text: str) -> int | float:
    """``"5000"`` -> 5000 (a count), ``"0.1"`` -> 0.1 (a fraction)."""
    value = float(text)
    return int(value) if value.is_integer() and value >= 1 else value


def _add_recipe(p: argparse.ArgumentParser, defaults: TrainConfig) -> None:
    """Options shared by ``train`` and ``study``: the training recipe and the data source."""
    p.add_argument("--epochs", type=int, default=defaults.epochs, help="training epochs")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size, help="mini-batch size")
    p.add_argument(
        "--optimizer", choices=["adam", "adamw", "sgd"], default=defaults.optimizer, help="optimizer"
    )
    p.add_argument("--lr", type=float, default=defaults.lr, help="(peak) learning rate")
    p.add_argument("--weight-decay", type=float, default=defaults.weight_decay, help="weight decay")
    p.add_argument(
        "--schedule",
        choices=["constant", "onecycle", "cosine", "plateau"],
        default=defaults.schedule,
        help="LR schedule: per batch, or plateau (ReduceLROnPlateau on the per-epoch evaluation loss)",
    )
    p.add_argument(
        "--batch-norm",
        action=argparse.BooleanOptionalAction,
        default=defaults.batch_norm,
        help="BatchNorm2d after each convolution of the kernel-study CNN (the three-block BN CNN)",
    )
    p.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=defaults.augment,
        help="train-only RandomCrop(28, padding=2) + horizontal flip",
    )
    p.add_argument(
        "--val-size",
        type=_count_or_fraction,
        default=0,
        help="validation images for the per-epoch history: a count (5000) or a fraction (0.1)",
    )
    p.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=defaults.channels_last,
        help="NHWC memory format (faster on CPU)",
    )
    _add_data_options(p)


def _config(args: argparse.Namespace, base: TrainConfig | None = None, **extra: object) -> TrainConfig:
    """``base`` (default ``TrainConfig()``) with the recipe options of the command line."""
    return replace(
        base or TrainConfig(),
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        lr=args.lr,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        batch_norm=args.batch_norm,
        augment=args.augment,
        val_size=args.val_size,
        subset=args.subset,
        test_subset=args.test_subset,
        channels_last=args.channels_last,
        **extra,  # type: ignore[arg-type]
    )


def _data(args: argparse.Namespace) -> FashionData:
    if args.threads:
        torch.set_num_threads(args.threads)
    return FashionData.load(args.data_dir, verify=not args.no_verify)


def _train(args: argparse.Namespace) -> None:
    base = PRESETS[args.preset] if args.preset else None
    hidden = tuple(args.hidden) if args.hidden else (base.hidden if base else None)
    cfg = _config(
        args,
        base,
        model=args.model,
        kernel_size=args.kernel_size,
        separable=args.separable,
        seed=args.seed,
        hidden=hidden,
    )
    result = run_training(cfg, _data(args), args.device, False if args.quiet else None)
    out = args.out or DEFAULT_OUT / (f"cnn{args.kernel_size}" if args.model == "cnn" else args.model)
    path = save_result(result, out)
    print(
        f"{args.model}: test accuracy {100 * result.test_accuracy:.2f}%, loss {result.test_loss:.4f}, "
        f"{result.params:,} parameters, {result.seconds_per_epoch:.1f} s/epoch -> {path}"
    )


def _study(args: argparse.Namespace) -> None:
    from course_lib.fashion.plots import save_study_figures
    from course_lib.fashion.study import STUDY_CONFIG, format_markdown, run_kernel_study

    cfg = replace(_config(args), channels_last=args.channels_last or STUDY_CONFIG.channels_last)
    out = args.out or DEFAULT_OUT / "study"
    study = run_kernel_study(
        args.kernel_sizes,
        args.seeds,
        args.epochs,
        args.subset,
        args.test_subset,
        include_mlp=not args.no_mlp,
        config=cfg,
        data=_data(args),
        device=args.device,
        progress=False if args.quiet else None,
        out_dir=out,
    )
    paths = study.save(out)
    if not args.no_figures:
        paths += save_study_figures(study, out)
    print(format_markdown(study))
    print(json.dumps({"epochs": len(study.runs[0].history), "written": [str(p) for p in paths]}, indent=1))


def _summary(args: argparse.Namespace) -> None:
    hidden = tuple(args.hidden) if args.hidden else None
    cfg = TrainConfig(
        model=args.model,
        kernel_size=args.kernel_size,
        batch_norm=args.batch_norm,
        separable=args.separable,
        hidden=hidden,
    )
    print(format_summary(layer_summary(cfg.build_model())))


def _timing(args: argparse.Namespace) -> None:
    from course_lib.fashion.study import STUDY_CONFIG, format_timing_markdown, run_epoch_timing

    out = args.out or DEFAULT_OUT / "timing"
    timing = run_epoch_timing(
        args.kernel_sizes,
        args.epochs,
        args.seed,
        args.subset,
        config=replace(STUDY_CONFIG, batch_size=args.batch_size),
        data=_data(args),
        device=args.device,
        progress=False if args.quiet else None,
        out_dir=out,
        log=None if args.quiet else _log,
    )
    print(format_timing_markdown(timing))
    print(f"written: {out}")


def _lecture_study(args: argparse.Namespace) -> None:
    from course_lib.fashion.lecture_study import ARMS, format_lecture_markdown, run_lecture_study
    from course_lib.fashion.plots import save_lecture_figures

    out = args.out or DEFAULT_OUT / "lecture_study"
    arms = [a for a in ARMS if args.arms is None or a.key in args.arms]
    study = run_lecture_study(
        arms,
        args.seeds,
        args.epochs,
        args.subset,
        args.test_subset,
        data=_data(args),
        device=args.device,
        progress=False if args.quiet else None,
        out_dir=out,
        log=None if args.quiet else _log,
    )
    paths = study.save(out)
    if not args.no_figures:
        paths += save_lecture_figures(study, out)
    print(format_lecture_markdown(study))
    print(json.dumps({"written": [str(p) for p in paths]}, indent=1))


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--subset", type=int, default=None, help="use only the first N training images")
    p.add_argument("--test-subset", type=int, default=None, help="use only the first N test images")
    p.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)"
    )
    p.add_argument("--data-dir", type=Path, default=None, help="directory with the .gz files (else searched)")
    p.add_argument("--no-verify", action="store_true", help="skip the SHA-256 check (synthetic stand-ins)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _preset_name(argv: Sequence[str] | None) -> str | None:
    """The ``--preset`` of a ``train`` command line, read before the parser is built (it sets defaults)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--preset", choices=sorted(PRESETS), default=None)
    known, _ = pre.parse_known_args(argv)
    preset: str | None = known.preset
    return preset


def build_parser(preset: str | None = None) -> argparse.ArgumentParser:
    """The parser; ``preset`` (a key of :data:`~course_lib.fashion.train.PRESETS`) supplies the defaults
    of ``train``'s options."""
    parser = argparse.ArgumentParser(prog="python -m course_lib.fashion", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    defaults = TrainConfig()
    base = PRESETS[preset] if preset else defaults

    train = sub.add_parser("train", help="train one model, write results.json and model.pt")
    train.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=None,
        help="start from a named recipe: lecture (LectureCNN, Adam 1e-3 + weight decay 1e-4, "
        "ReduceLROnPlateau, augmentation, 0.286/0.353), two_block, dense",
    )
    train.add_argument("--model", choices=MODELS, default=base.model)
    train.add_argument("--kernel-size", type=int, default=base.kernel_size, help="CNN kernel size (odd)")
    train.add_argument(
        "--separable", action="store_true", help="CNN: depthwise separable convolutions after block 1"
    )
    train.add_argument("--hidden", type=int, nargs="+", default=None, help="dense widths (MLP: 128 64)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--out", type=Path, default=None, help=f"output directory (default {DEFAULT_OUT}/<model>)"
    )
    _add_recipe(train, base)
    train.set_defaults(func=_train)

    study = sub.add_parser("study", help="the kernel-size study: CNN per kernel size and seed, MLP per seed")
    study.add_argument("--kernel-sizes", type=int, nargs="+", default=[3, 5, 7])
    study.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    study.add_argument("--no-mlp", action="store_true", help="skip the MLP baseline")
    study.add_argument("--no-figures", action="store_true", help="tables only")
    study.add_argument(
        "--out", type=Path, default=None, help=f"output directory (default {DEFAULT_OUT}/study)"
    )
    _add_recipe(study, defaults)
    study.set_defaults(func=_study)

    timing = sub.add_parser(
        "timing", help="the kernel study's CNNs trained epoch by epoch, timed robustly (median step)"
    )
    timing.add_argument("--kernel-sizes", type=int, nargs="+", default=[3, 5])
    timing.add_argument("--epochs", type=int, default=15)
    timing.add_argument("--seed", type=int, default=0)
    timing.add_argument("--batch-size", type=int, default=defaults.batch_size)
    timing.add_argument(
        "--out", type=Path, default=None, help=f"output directory (default {DEFAULT_OUT}/timing)"
    )
    _add_data_options(timing)
    timing.set_defaults(func=_timing)

    from course_lib.fashion.lecture_study import ARMS

    lecture = sub.add_parser(
        "lecture-study",
        help="lecture CNN with/without augmentation, two-block CNN vs dense, separable vs standard CNN",
    )
    lecture.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    lecture.add_argument("--epochs", type=int, default=5)
    lecture.add_argument(
        "--arms", nargs="+", choices=[a.key for a in ARMS], default=None, help="only these models"
    )
    lecture.add_argument("--no-figures", action="store_true", help="tables only")
    lecture.add_argument(
        "--out", type=Path, default=None, help=f"output directory (default {DEFAULT_OUT}/lecture_study)"
    )
    _add_data_options(lecture)
    lecture.set_defaults(func=_lecture_study)

    summary = sub.add_parser("summary", help="print the per-layer table of a model")
    summary.add_argument("--model", choices=MODELS, default="cnn")
    summary.add_argument("--kernel-size", type=int, default=3)
    summary.add_argument("--hidden", type=int, nargs="+", default=None)
    summary.add_argument("--batch-norm", action="store_true", help="CNN: BatchNorm2d after each convolution")
    summary.add_argument("--separable", action="store_true", help="CNN: depthwise separable after block 1")
    summary.set_defaults(func=_summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser(_preset_name(argv)).parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
