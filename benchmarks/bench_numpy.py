"""course_lib's numpy reference against torch CPU, both float64, measured side by side in one run.

``python -m benchmarks numpy`` prints one table: wall-clock milliseconds per call (the best of several
alternating runs) and the ratio course_lib / torch (<= 1.0 means the numpy reference is at least as
fast), plus the ratio of CPU time (all threads), which moves less when other jobs share the machine.
Rows: forward and backward of the convolution on course-sized shapes (N=64, C 32 -> 64, 14x14, k = 3
and 5, "same" padding), max pooling forward and backward, and the speed-up of the vectorized conv2d
over the loop version.
torch gets 2 threads (``BENCH_THREADS``); numpy's BLAS uses the same 2 cores.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from course_lib.conv import conv2d, conv2d_naive
from course_lib.layers import conv2d_backward
from course_lib.pooling import maxpool2d, maxpool2d_backward

# torch's threads; numpy's BLAS threads are fixed when it loads, so for a one-core comparison run
# ``OPENBLAS_NUM_THREADS=1 BENCH_THREADS=1 python -m benchmarks numpy``.
THREADS = int(os.environ.get("BENCH_THREADS", "2"))


class Timing(NamedTuple):
    wall_ms: float  # elapsed time per call
    cpu_ms: float  # CPU time per call, summed over the process's threads


def measure(fn: Callable[[], object], repeats: int = 3, min_seconds: float = 0.05) -> Timing:
    """Best (minimum) wall and CPU milliseconds per call over ``repeats`` timed batches, after one
    warm-up call; minima are the figures least disturbed by other processes."""
    fn()
    t0 = time.perf_counter()
    fn()
    number = max(1, int(min_seconds / max(time.perf_counter() - t0, 1e-9)))
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(number):
            fn()
        walls.append((time.perf_counter() - t0) / number)
        cpus.append((time.process_time() - c0) / number)
    return Timing(1000 * min(walls), 1000 * min(cpus))


def side_by_side(
    ours: Callable[[], object], theirs: Callable[[], object], rounds: int = 5
) -> tuple[Timing, Timing]:
    """(course_lib, torch) timings, measured in alternating rounds so both see the same machine load."""
    pairs = [(measure(ours), measure(theirs)) for _ in range(rounds)]
    best = [Timing(min(p[i].wall_ms for p in pairs), min(p[i].cpu_ms for p in pairs)) for i in (0, 1)]
    return best[0], best[1]


def conv_rows(rng: np.random.Generator, k: int) -> list[tuple[str, Timing, Timing]]:
    n, c_in, c_out, size, pad = 64, 32, 64, 14, k // 2
    x = rng.standard_normal((n, c_in, size, size))
    w = rng.standard_normal((c_out, c_in, k, k))
    b = rng.standard_normal(c_out)
    dout = rng.standard_normal((n, c_out, size, size))
    tx, tw, tb, tdout = (torch.from_numpy(a) for a in (x, w, b, dout))
    shape = f"N={n} {c_in}->{c_out} {size}x{size} k={k} p={pad}"

    def torch_forward() -> object:
        return F.conv2d(tx, tw, tb, padding=pad)

    def torch_backward() -> object:  # exactly what autograd runs for conv2d
        return torch.ops.aten.convolution_backward(
            tdout, tx, tw, [c_out], [1, 1], [pad, pad], [1, 1], False, [0, 0], 1, [True, True, True]
        )

    return [
        (f"conv2d forward      {shape}", *side_by_side(lambda: conv2d(x, w, b, padding=pad), torch_forward)),
        (
            f"conv2d backward     {shape}",
            *side_by_side(lambda: conv2d_backward(dout, x, w, padding=pad), torch_backward),
        ),
    ]


def pool_rows(rng: np.random.Generator) -> list[tuple[str, Timing, Timing]]:
    n, c, size, k = 64, 32, 28, 2
    x = rng.standard_normal((n, c, size, size))
    dout = rng.standard_normal((n, c, size // k, size // k))
    tx, tdout = torch.from_numpy(x), torch.from_numpy(dout)
    _, indices = F.max_pool2d(tx, k, return_indices=True)
    shape = f"N={n} C={c} {size}x{size} k={k}"

    def torch_backward() -> object:  # what autograd runs, with the indices saved by the forward pass
        return torch.ops.aten.max_pool2d_with_indices_backward(
            tdout, tx, [k, k], [k, k], [0, 0], [1, 1], False, indices
        )

    def torch_both() -> object:
        _, saved = F.max_pool2d(tx, k, return_indices=True)
        return torch.ops.aten.max_pool2d_with_indices_backward(
            tdout, tx, [k, k], [k, k], [0, 0], [1, 1], False, saved
        )

    def ours_both() -> object:
        return maxpool2d(x, k), maxpool2d_backward(dout, x, k)

    return [
        (f"maxpool2d forward   {shape}", *side_by_side(lambda: maxpool2d(x, k), lambda: F.max_pool2d(tx, k))),
        (
            f"maxpool2d backward  {shape}",
            *side_by_side(lambda: maxpool2d_backward(dout, x, k), torch_backward),
        ),
        (f"maxpool2d fwd + bwd {shape}", *side_by_side(ours_both, torch_both)),
    ]


def naive_speedup(rng: np.random.Generator) -> tuple[str, float, float]:
    n, c_in, c_out, size, k = 8, 3, 8, 16, 3
    x = rng.standard_normal((n, c_in, size, size))
    w = rng.standard_normal((c_out, c_in, k, k))
    shape = f"N={n} {c_in}->{c_out} {size}x{size} k={k}"
    return (
        f"conv2d_naive / conv2d {shape}",
        measure(lambda: conv2d_naive(x, w, padding=1)).wall_ms,
        measure(lambda: conv2d(x, w, padding=1)).wall_ms,
    )


def main() -> None:
    torch.set_num_threads(THREADS)
    rng = np.random.default_rng(0)
    load = os.getloadavg()[0]
    rows = conv_rows(rng, 3) + conv_rows(rng, 5) + pool_rows(rng)
    width = max(len(r[0]) for r in rows) + 2
    print(
        f"float64, torch {torch.__version__} with {THREADS} threads, numpy {np.__version__}, load {load:.1f}"
    )
    print(f"{'operation':<{width}}{'course_lib ms':>14}{'torch ms':>10}{'ratio':>8}{'cpu ratio':>11}")
    print("-" * (width + 43))
    for name, ours, theirs in rows:
        ratio, cpu_ratio = ours.wall_ms / theirs.wall_ms, ours.cpu_ms / theirs.cpu_ms
        print(f"{name:<{width}}{ours.wall_ms:>14.2f}{theirs.wall_ms:>10.2f}{ratio:>8.2f}{cpu_ratio:>11.2f}")
    name, naive_ms, fast_ms = naive_speedup(rng)
    print(f"\n{name}: {naive_ms:.2f} ms / {fast_ms:.3f} ms = {naive_ms / fast_ms:.0f}x faster vectorized")
    print("ratio = course_lib / torch wall time; <= 1.00 means the numpy reference is no slower than torch.")
    print("cpu ratio = the same for CPU time summed over threads (steadier on a shared machine).")
    print("torch's max-pool backward reuses the argmax indices saved by its forward pass; course_lib's")
    print("maxpool2d_backward(dout, x) recomputes them from x, so 'fwd + bwd' is the like-for-like row.")
