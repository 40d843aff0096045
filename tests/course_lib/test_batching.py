"""course_lib.batching: every item in exactly one chunk, a fixed split, and errors for bad settings."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_lib.batching import batch_chunks, for_batch_chunks, thread_count


@given(st.integers(0, 200), st.integers(1, 9), st.integers(1, 17))
def test_chunks_cover_the_batch_once_in_order(n: int, workers: int, chunk: int) -> None:
    shares = batch_chunks(n, workers, chunk)
    flat = [i for share in shares for a, z in share for i in range(a, z)]
    assert flat == list(range(n))  # contiguous shares, in order, nothing twice
    assert len(shares) <= workers
    assert all(0 < z - a <= chunk for share in shares for a, z in share)
    sizes = [sum(z - a for a, z in share) for share in shares]
    assert not sizes or max(sizes) - min(sizes) <= 1  # balanced


def test_for_batch_chunks_runs_every_chunk_on_worker_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_LIB_THREADS", "2")
    seen: list[tuple[int, int, str]] = []
    results = for_batch_chunks(
        10, lambda a, z: seen.append((a, z, threading.current_thread().name)) or a, chunk=3
    )
    assert results == [[0, 3], [5, 8]]  # per worker, chunk order: shares [0, 5) and [5, 10)
    assert sorted((a, z) for a, z, _ in seen) == [(0, 3), (3, 5), (5, 8), (8, 10)]
    assert all(name.startswith("course_lib") for _, _, name in seen)


def test_one_thread_runs_in_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_LIB_THREADS", "1")
    names = for_batch_chunks(7, lambda a, z: threading.current_thread().name, chunk=2)
    assert names == [[threading.current_thread().name] * 4]


def test_small_work_runs_in_one_piece_in_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_LIB_THREADS", "4")
    calls = for_batch_chunks(9, lambda a, z: (a, z, threading.current_thread().name), cost=1000.0)
    assert calls == [[(0, 9, threading.current_thread().name)]]


@pytest.mark.parametrize("value", ["zero", "2.5", ""])
def test_thread_count_from_the_environment(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("COURSE_LIB_THREADS", value)
    if value == "":
        assert 1 <= thread_count() <= 8  # unset: the usable cores
    else:
        with pytest.raises(ValueError, match=r"COURSE_LIB_THREADS='.*' must be a positive integer"):
            thread_count()
