"""The nbgrader hidden-test entry point: ``check(grade_id, obj) -> points``.

A graded test cell contains::

    from autograder import check
    check("conv2d", conv2d)

``check`` grades the student's object in the kernel (through :class:`~autograder.invoke.LocalInvoker`:
copied inputs, captured prints, restored monkeypatches, calls into course_lib recorded), prints the
plain-text feedback to STDOUT, and returns the points earned: the cell's value, which nbgrader records
as partial credit. Nothing is written to stderr (nbgrader zeroes a cell that writes there): warnings
are silenced, the grader's own failures are reported as feedback, and while the student's code runs
the file descriptors 1 and 2 themselves point to a scratch file, so C code that writes to them (torch's
native warnings, a C library's diagnostics) never reaches the cell's output either.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from autograder import draws
from autograder.invoke import LocalInvoker
from autograder.items import ASSIGNMENTS, ITEMS
from autograder.properties import run_item
from autograder.report import item_text
from autograder.result import ItemResult


def grade_object(grade_id: str, obj: Any) -> ItemResult:
    """Grade ``obj`` (the student's function or class) as item ``grade_id``, in this process, with
    the course's draws (:mod:`autograder.draws`: the course root is found from the working folder)."""
    if grade_id not in ITEMS:
        raise ValueError(f"grade_id={grade_id!r} is not a graded item; known items: {sorted(ITEMS)}")
    assignment = next((a for a, ids in ASSIGNMENTS.items() if grade_id in ids), "")
    course = draws.course_root_of(os.getcwd()) or Path(__file__).resolve().parent.parent
    with draws.drawing_for(draws.load_secret(course), assignment):
        return run_item(ITEMS[grade_id], LocalInvoker({grade_id: obj}))


@contextlib.contextmanager
def captured_file_descriptors() -> Iterator[None]:
    """File descriptors 1 and 2 point to a scratch file inside the block (C-level writes go there)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved: list[tuple[int, int]] = []
    with tempfile.TemporaryFile() as sink:
        try:
            for fd in (1, 2):
                try:
                    saved.append((fd, os.dup(fd)))
                except OSError:  # not open in this process
                    continue
                os.dup2(sink.fileno(), fd)
            yield
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            for fd, copy in saved:
                os.dup2(copy, fd)
                os.close(copy)


def check(grade_id: str, obj: Any) -> float:
    """Grade ``obj`` as ``grade_id``, print the feedback to stdout, return the points earned."""
    if grade_id not in ITEMS:
        raise ValueError(f"grade_id={grade_id!r} is not a graded item; known items: {sorted(ITEMS)}")
    stdout = sys.stdout
    sink = io.StringIO()
    try:
        with (
            warnings.catch_warnings(),
            np.errstate(all="ignore"),
            contextlib.redirect_stderr(sink),
            captured_file_descriptors(),
        ):
            warnings.simplefilter("ignore")
            result = grade_object(grade_id, obj)
    except Exception as exc:  # a grader bug: report it as feedback, never as a traceback on stderr
        note = f"internal grader error ({type(exc).__name__}); please tell your instructor"
        print(f"{grade_id}: 0/{ITEMS[grade_id].points} points\n  {note}", file=stdout, flush=True)
        return 0.0
    print(item_text(result), file=stdout, flush=True)
    return result.earned
