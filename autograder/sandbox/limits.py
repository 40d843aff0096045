"""Resource limits of one submission's sandbox (every field is a command-line option)."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits of one submission's worker.

    With a cgroup (see :mod:`autograder.sandbox.cgroups`) ``memory_mb`` and ``max_processes`` count
    the submission's whole process tree, its working-folder files included (they live in memory, on
    a tmpfs of ``disk_mb``); without one they are per-process rlimits and the submission may not
    start processes at all. ``memory_mb`` is on top of what the worker has mapped after its imports
    (torch alone maps about 3 GB of address space), so it is the budget of the student's code.
    """

    cpu_seconds: int = 120
    memory_mb: int = 2048
    max_processes: int = 16
    file_size_mb: int = 16
    disk_mb: int = 64
    open_files: int = 256
    call_timeout: float = 10.0
    cell_timeout: float = 60.0
    submission_timeout: float = 600.0
    output_bytes: int = 64 * 1024
    max_frame_mb: int = 256
    max_restarts: int = 3
    network: bool = False

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name != "network" and not (
                isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
            ):
                raise ValueError(f"{field.name}={value!r} must be a positive number")

    def cgroup_memory_mb(self) -> int:
        """The submission's memory cgroup limit: its processes' budget, its tmpfs and a 64 MB margin
        (a little above the per-process address-space budget, so that one process that allocates too
        much gets a MemoryError first; several processes share the total)."""
        return self.memory_mb + self.disk_mb + 64

    def to_config(self) -> dict[str, Any]:
        """What the worker applies itself (rlimits)."""
        return {
            "cpu_seconds": self.cpu_seconds,
            "memory_mb": self.memory_mb,
            "max_processes": self.max_processes,
            "file_size_mb": self.file_size_mb,
            "open_files": self.open_files,
        }
