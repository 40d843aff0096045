"""Keep freed tensor memory inside the process (glibc malloc) so training steps stop page-faulting.

Every training step allocates and frees the same large activation tensors: a (256, 32, 28, 28) float32
activation is 25.7 MB. PyTorch's CPU allocator hands these to ``malloc``. glibc serves large blocks
with fresh ``mmap`` pages or trims the heap after a large ``free``, and the kernel then zero-fills every
4 KiB page again on first touch. On this course's batch-norm CNN those page faults cost about a quarter
of each CPU training step: the memory-bound layers (batch norm, ReLU, pooling at 28x28) ran 3-4x slower
inside training than in isolation.

:func:`retain_freed_memory` raises glibc's mmap threshold to its maximum (32 MiB on 64-bit) and stops
heap trimming below 1 GiB, so freed blocks are reused instead of returned to the kernel. The cost: the
process keeps up to that much freed memory. It does nothing on platforms without glibc (macOS, Windows,
musl), and tensors larger than the threshold are still mapped fresh.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1  # glibc <malloc.h> parameter numbers for mallopt()
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's cap on 64-bit: 4 * 1024 * 1024 * sizeof(long)
TRIM_THRESHOLD = 1024 * 1024 * 1024

_applied = False


def retain_freed_memory() -> bool:
    """Tune glibc's ``malloc`` (process-wide, once) to reuse freed large blocks; True when applied.

    Safe to call many times; returns False where there is no glibc ``mallopt``.
    """
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other libcs without mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _applied = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    return _applied
