"""Fashion-MNIST speed: time to 92 % test accuracy, training FLOP/s vs matmul rate, seconds per epoch.

``python -m benchmarks fashion`` prints, measured in one run on the same threads:

1. wall time from nothing (reading and verifying the ``.gz`` files included) until the course's best
   CNN configuration (:data:`BEST`: the course's three-block batch-norm CNN ``FashionCNN(3,
   batch_norm=True)``, "BN CNN" in the output -- not the lecture's two-block ``LectureCNN`` --, AdamW,
   OneCycle peak 4e-3, batch 256, channels-last) first reaches >= 92.0 % test accuracy at the end of
   an epoch (target <= 120 s);
   ``BENCH_FASHION_QUICK=1`` skips this part;
2. for :data:`BEST` and the study's 3x3 / 5x5 / 7x7 CNNs: seconds per epoch (60,000 images,
   extrapolated from the best of 3 runs of :data:`TIMED_BATCHES` steps after 3 warm-ups) and the training
   FLOP/s
   (3 x the analytic forward FLOPs of convolutions and linear layers, :func:`forward_flops`) as a
   percentage of the machine's fp32 ``torch.mm`` rate measured in the same run (target >= 60 %).

The load average is printed too: other processes on the cores slow every figure down.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace

import torch
from torch import nn

from course_lib.fashion.data import FashionData, make_loaders
from course_lib.fashion.memory import retain_freed_memory
from course_lib.fashion.models import forward_flops
from course_lib.fashion.study import STUDY_CONFIG
from course_lib.fashion.train import TrainConfig, run_training

THREADS = 2
TARGET = 0.92
BEST = TrainConfig(
    model="cnn",
    kernel_size=3,
    batch_norm=True,
    epochs=4,
    batch_size=256,
    optimizer="adamw",
    lr=4e-3,
    weight_decay=5e-4,
    schedule="onecycle",
    channels_last=True,
    target_accuracy=TARGET,
)
MATMUL_N = 2048
TIMED_BATCHES = 30


def matmul_gflops(n: int = MATMUL_N, repeats: int = 8) -> float:
    """Best-of-``repeats`` fp32 ``torch.mm`` rate of two n x n matrices, in GFLOP/s (2 n^3 per product)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def seconds_per_epoch(config: TrainConfig, data: FashionData, n_train: int, windows: int = 3) -> float:
    """Time ``windows`` runs of :data:`TIMED_BATCHES` training steps (after 3 warm-up steps) and scale
    the fastest to ``n_train`` images (the least disturbed by other processes)."""
    torch.manual_seed(0)
    loaders = make_loaders(data.subset(config.batch_size * TIMED_BATCHES), config.batch_size, augment=False)
    model = config.build_model().to(memory_format=torch.channels_last)
    optimizer = config.build_optimizer(model)
    batches = [(x.contiguous(memory_format=torch.channels_last), y) for x, y in loaders.train]

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    for x, y in batches[:3]:
        step(x, y)
    best = float("inf")
    for _ in range(windows):
        start = time.perf_counter()
        for x, y in batches:
            step(x, y)
        best = min(best, time.perf_counter() - start)
    return best / (len(batches) * config.batch_size) * n_train


def time_to_target(peak: float, data_dir: str | None = None) -> None:
    """Part 1: read the files and train :data:`BEST` until the test accuracy reaches :data:`TARGET`."""
    start = time.perf_counter()
    data = FashionData.load(data_dir)
    load_s = time.perf_counter() - start
    result = run_training(BEST, data, device="cpu", progress=False)
    wall = time.perf_counter() - start
    train_s = sum(h.seconds for h in result.history)
    verdict = "reached" if result.history[-1].eval_accuracy >= TARGET else "NOT reached"
    curve = ", ".join(f"{100 * h.eval_accuracy:.2f}" for h in result.history)
    print(f"\n1. time to {100 * TARGET:.1f} % test accuracy (BN CNN 3x3, AdamW + OneCycle 4e-3, batch 256)")
    print(f"   {'data load (s)':<28}{load_s:>10.1f}")
    print(f"   {'test accuracy per epoch (%)':<28}{curve}")
    print(f"   {'training s / epoch':<28}{train_s / len(result.history):>10.1f}")
    print(f"   {'wall incl. loading (s)':<28}{wall:>10.1f}   target <= 120 s; {verdict}")
    n_seen = len(data.train_labels) * len(result.history)  # whole epochs, evaluation excluded
    rate = 3 * forward_flops(BEST.build_model()) * n_seen / train_s / 1e9
    print(f"   {'training GFLOP/s (% of mm)':<28}{rate:>10.1f}   ({100 * rate / peak:.1f} %, target >= 60 %)")


def main() -> None:
    """All three parts; ``BENCH_FASHION_QUICK=1`` skips part 1 (the full training run)."""
    torch.set_num_threads(THREADS)
    retain_freed_memory()  # as run_training does: measure the steps the course's training runs
    print(f"threads: {torch.get_num_threads()}, load average before: {os.getloadavg()[0]:.2f}")
    peak = matmul_gflops()
    if not os.environ.get("BENCH_FASHION_QUICK"):
        time_to_target(peak)
    data = FashionData.load()
    n = len(data.train_labels)

    print("\n2. training FLOP/s vs the matmul rate; s / epoch (timed steps, scaled to 60,000 images)")
    print(f"   {'fp32 torch.mm (GFLOP/s)':<34}{peak:>8.1f}   {MATMUL_N}x{MATMUL_N}, best of 8")
    print(f"   {'model':<34}{'s / epoch':>8}{'GFLOP/s':>10}{'% of mm':>9}")
    rows = [("BN CNN 3x3, batch 256 (part 1)", BEST)]
    rows += [
        (f"study CNN {k}x{k}, batch {STUDY_CONFIG.batch_size}", replace(STUDY_CONFIG, kernel_size=k))
        for k in (3, 5, 7)
    ]
    for label, cfg in rows:
        sec = seconds_per_epoch(cfg, data, n)
        rate = 3 * forward_flops(cfg.build_model()) * n / sec / 1e9
        print(f"   {label:<34}{sec:>8.1f}{rate:>10.1f}{100 * rate / peak:>8.1f}%   (target >= 60 %)")
    print(f"\nload average after: {os.getloadavg()[0]:.2f} (other processes on the cores slow every figure)")


if __name__ == "__main__":
    main()
