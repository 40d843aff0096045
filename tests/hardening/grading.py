"""Grading for the hardening tests: small limits, a private temporary folder, records without timings.

Runaway cases end fast because the limits here are small (1 s per call, 2 s per cell, a 0.5 s grace
before a kill). ``tempfile.tempdir`` points into the test's own folder while grading, so the test can
check that the grader left no temporary folder behind; the forked grading processes inherit it.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from autograder import grade
from autograder.sandbox import Limits, Session
from autograder.sandbox import invoker as sandbox_invoker
from autograder.sandbox.zygote import Zygote
from benchmarks.bench_hardening import descendants

__all__ = ["descendants"]

#: Limits of every hardening test: small, so that hostile submissions end within seconds.
LIMITS = Limits(
    cpu_seconds=20,
    memory_mb=512,
    max_processes=8,
    file_size_mb=4,
    call_timeout=1.0,
    cell_timeout=2.0,
    submission_timeout=30.0,
)
GRACE_SECONDS = 0.5
#: Fields of a grading record that may vary with the machine's load: timings and the sandbox's
#: diagnostics (worker restarts, kills). Everything else must be reproducible.
TIMING_FIELDS = ("seconds", "execution_time", "events", "cells")


@contextlib.contextmanager
def hardened(tmp: Path) -> Iterator[Path]:
    """Short grace before kills and a private temporary folder (yielded) while grading."""
    folder = tmp / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sandbox_invoker, "GRACE_SECONDS", GRACE_SECONDS)
        patch.setattr(tempfile, "tempdir", str(folder))
        yield folder


def settings(assignment: str, out: Path, forbidden: Sequence[Path] = ()) -> grade.Settings:
    return grade.Settings(
        assignment, out=out, limits=LIMITS, forbidden_paths=tuple(str(p) for p in forbidden)
    )


def grade_folder(
    folder: Path,
    assignment: str,
    out: Path,
    jobs: int = 2,
    zygotes: Sequence[Zygote] | None = None,
    session: Session | None = None,
) -> dict[str, float]:
    """Grade every notebook in ``folder`` as one batch (submissions are hidden from the sandbox)."""
    source = grade.nb.load_source(grade.COURSE_ROOT / "source" / assignment / f"{assignment}.ipynb")
    subs = grade.find_submissions([folder], assignment, source)
    return grade.grade_batch(
        subs, settings(assignment, out, [folder]), jobs=jobs, quiet=True, zygotes=zygotes, session=session
    )


def record(out: Path, student: str) -> dict[str, Any]:
    """``grading.json`` of ``student`` without its timing and its name."""
    data: dict[str, Any] = json.loads((out / student / grade.RECORD).read_text(encoding="utf-8"))
    for key in (*TIMING_FIELDS, "student"):
        data.pop(key, None)
    return data


def results(out: Path, student: str) -> dict[str, Any]:
    """``results.json`` (Gradescope) of ``student`` without timings."""
    data: dict[str, Any] = json.loads((out / student / "results.json").read_text(encoding="utf-8"))
    for key in TIMING_FIELDS:
        data.pop(key, None)
    return data


def zygote_pid(zygote: Zygote) -> int:
    return zygote.pid
