"""Load, scaled down from ``python -m benchmarks hardening`` (500 submissions): 30 submissions of the
benchmark's mix (six honest, four hostile in ten) through the command line with ``--jobs 2``."""

from __future__ import annotations

from pathlib import Path

from benchmarks.bench_hardening import run_load

N = 30


def test_a_batch_under_load_completes_with_bounded_memory_and_leaves_nothing(tmp_path: Path) -> None:
    result = run_load(N, tmp_path, extra=["--call-timeout", "1", "--cell-timeout", "2", "--memory-mb", "512"])
    assert result.returncode == 0
    assert result.consistent  # every copy of a submission got the same total, none is missing
    assert result.totals["control_solution"] == 11.0 and result.totals["control_stub"] == 0.0
    assert result.leftover_processes == [] and result.leftover_temp == []
    assert result.peak_tree_mb < 6000
    # the grader's own processes do not grow with the number of submissions graded
    assert result.grader_last_mb < result.grader_first_mb + 150, result
