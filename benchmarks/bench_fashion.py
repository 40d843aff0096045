"""Fashion-MNIST speed: time to 92 % test accuracy, achieved FLOP/s vs matmul peak, seconds per epoch.

``python -m benchmarks fashion`` prints three tables, all measured in the same run on the same threads:

1. wall time from nothing (reading and verifying the ``.gz`` files included) until the course's best
   CNN configuration (:data:`BEST`: the lecture's batch-norm CNN, AdamW, OneCycle, batch 256,
   channels-last) first reaches >= 92.0 % test accuracy at the end of an epoch (target: <= 120 s);
2. the training FLOP/s of that run (3 x the analytic forward FLOPs of the convolutions and linear
   layers, :func:`forward_flops`, per training image, over the pure training seconds) as a percentage of
   the machine's fp32 ``torch.mm`` rate measured just before (target: >= 60 %);
3. seconds per epoch (60,000 images) of the study's 3x3 / 5x5 / 7x7 CNNs, extrapolated from
   :data:`TIMED_BATCHES` timed batches after a warm-up.

The load average is printed too: other processes on the cores slow everything down proportionally.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace

import torch
from torch import nn

from course_lib.fashion.data import FashionData, make_loaders
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
TIMED_BATCHES = 20


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


def seconds_per_epoch(config: TrainConfig, data: FashionData, n_train: int) -> float:
    """Time :data:`TIMED_BATCHES` training steps (after 3 warm-up steps) and scale to ``n_train`` images."""
    torch.manual_seed(0)
    loaders = make_loaders(data.subset(config.batch_size * (TIMED_BATCHES + 3)), config.batch_size)
    model = config.build_model().to(memory_format=torch.channels_last)
    optimizer = config.build_optimizer(model)
    batches = [(x.contiguous(memory_format=torch.channels_last), y) for x, y in loaders.train]
    elapsed = 0.0
    for i, (x, y) in enumerate(batches):
        start = time.perf_counter()
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        if i >= 3:
            elapsed += time.perf_counter() - start
    return elapsed / (TIMED_BATCHES * config.batch_size) * n_train


def main() -> None:
    torch.set_num_threads(THREADS)
    print(f"threads: {torch.get_num_threads()}, load average before: {os.getloadavg()[0]:.2f}")
    peak = matmul_gflops()

    start = time.perf_counter()
    data = FashionData.load()
    load_s = time.perf_counter() - start
    result = run_training(BEST, data, device="cpu", progress=False)
    wall = time.perf_counter() - start
    reached = result.history[-1].eval_accuracy >= TARGET
    epochs = len(result.history)
    train_s = sum(h.seconds for h in result.history)
    assert result.model is not None
    train_flops = 3 * forward_flops(result.model) * len(data.train_labels) * epochs
    achieved = train_flops / train_s / 1e9

    print(
        f"\n1. time to {100 * TARGET:.1f} % test accuracy (batch-norm CNN 3x3, AdamW + OneCycle, batch 256)"
    )
    print(f"   {'data load (s)':<28}{load_s:>10.1f}")
    print(f"   {'epochs':<28}{epochs:>10d}")
    curve = ", ".join(f"{100 * h.eval_accuracy:.2f}" for h in result.history)
    print(f"   {'test accuracy per epoch':<28}{curve}")
    verdict = "reached" if reached else "NOT reached"
    print(f"   {'wall incl. loading (s)':<28}{wall:>10.1f}   target <= 120 s; {verdict}")
    print("\n2. training throughput")
    print(f"   {'fp32 matmul (GFLOP/s)':<28}{peak:>10.1f}   torch.mm {MATMUL_N}x{MATMUL_N}, best of 8")
    print(
        f"   {'training (GFLOP/s)':<28}{achieved:>10.1f}   3 x forward conv+linear FLOPs / training seconds"
    )
    print(f"   {'share of matmul rate':<28}{100 * achieved / peak:>9.1f}%   target >= 60 %")
    print(f"   {'training s / epoch':<28}{train_s / epochs:>10.1f}")

    print(f"\n3. seconds per epoch, study recipe (no BN, batch {STUDY_CONFIG.batch_size}, channels-last)")
    print(f"   {'kernel':<10}{'s / epoch':>10}{'GFLOP/s':>10}{'% of mm':>9}")
    for k in (3, 5, 7):
        cfg = replace(STUDY_CONFIG, kernel_size=k)
        sec = seconds_per_epoch(cfg, data, len(data.train_labels))
        rate = 3 * forward_flops(cfg.build_model()) * len(data.train_labels) / sec / 1e9
        print(f"   {f'{k}x{k}':<10}{sec:>10.1f}{rate:>10.1f}{100 * rate / peak:>8.1f}%")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
