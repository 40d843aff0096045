"""Determinism: the same submission graded 20 times in one batch (two jobs, interleaved with the other
submissions) gives the same record, results.json and feedback every time, timings aside."""

from __future__ import annotations

from pathlib import Path

from benchmarks.bench_hardening import repeat_records
from tests.hardening.grading import hardened

#: Cheap submissions whose grading takes different paths: a failing property shrunk by hypothesis
#: (buggy), a worker crash and restart (segfault), an unreadable file. The benchmark repeats more.
CASES = ("buggy", "segfault_in_function", "binary_garbage")


def test_twenty_gradings_of_each_submission_are_identical(tmp_path: Path) -> None:
    with hardened(tmp_path):
        distinct = repeat_records(tmp_path / "repeat", CASES, repeats=20)
    assert distinct == dict.fromkeys(CASES, 1)
