"""course_lib.fashion.memory: large freed blocks stay in the heap instead of going back to the kernel.

The oracle is glibc's own accounting (``mallinfo2``), read in a fresh interpreter per setting because
the malloc setting is process-wide: a 20 MB array must come from the heap (not a fresh ``mmap``), and
after ``free`` its memory must stay in the heap (not be trimmed) so that the next step reuses it.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from course_lib.fashion.memory import retain_freed_memory

PROBE = """
import ctypes, json, sys
import numpy as np
from course_lib.fashion.memory import retain_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
        "keepcost")]

mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
mallinfo2.restype = MallInfo2
applied = retain_freed_memory() if sys.argv[1] == "1" else False
before = mallinfo2().hblks
block = np.ones(20_000_000 // 8)  # 20 MB, touched
mapped = mallinfo2().hblks - before  # blocks served by their own mmap
del block
print(json.dumps({"applied": applied, "mapped": mapped, "free_in_heap": mallinfo2().fordblks}))
"""


def _probe(retain: bool) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, "1" if retain else "0"], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc only")
def test_large_blocks_stay_in_the_heap() -> None:
    default, retained = _probe(False), _probe(True)
    assert default["applied"] is False and retained["applied"] is True
    assert default["mapped"] == 1  # glibc's default: a fresh mmap, zero-filled page by page on first touch
    assert retained["mapped"] == 0  # from the heap
    assert retained["free_in_heap"] >= 20_000_000  # kept after free, ready for the next step
    assert default["free_in_heap"] < 20_000_000


def test_idempotent() -> None:
    first = retain_freed_memory()
    assert retain_freed_memory() is first
