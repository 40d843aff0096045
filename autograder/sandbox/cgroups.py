r"""Per-submission cgroups: memory, process count and CPU share of the submission's whole process tree.

Every session gets one cgroup ``autograder-run-<pid>-<n>`` in each of the kernel's ``memory``,
``pids`` and ``cpu`` hierarchies (cgroup v1), under

- the grader's own cgroup, when the grader runs as root;
- ``<hierarchy>/autograder-<user>``, a folder that root delegated to the grading user once
  (:func:`delegate`, ``python -m autograder sandbox delegate USER``), for an ordinary user.

Each submission's worker gets a child ``w<N>`` of the run's cgroups with

- ``memory.limit_in_bytes`` = ``--memory-mb`` (its processes *and* the files of its tmpfs working
  folder; over it the kernel's OOM killer ends a process of that submission only),
- ``pids.max`` = 1 + ``--max-processes`` (threads count),
- ``cpu.shares`` = 1024, the same as every other submission: a submission with 15 busy processes
  gets the same CPU time as an honest neighbour with one.

The worker joins its cgroups itself, before any student code runs, by writing ``0`` to
descriptors of the cgroups' ``cgroup.procs`` that the grader opened (the kernel checks the opener's
credentials), so the cgroup file system never needs to be visible in the sandbox. When a worker
ends, every process left in its cgroups is killed and the cgroups are removed; a run that was
killed leaves its folders, which the next run removes (:meth:`CgroupTree.remove_stale`).

Without such a cgroup (an ordinary user without delegation, a container without a writable
cgroup file system) :func:`CgroupTree.create` returns None, and the sandbox falls back to
per-process rlimits plus a seccomp filter that forbids new processes (see
:mod:`autograder.sandbox.seccomp`). cgroup v2 is not used yet: on a v2-only machine the fallback
applies (documented in ``docs/threat_model.md``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import itertools
import os
import pwd
import signal
import time
from collections.abc import Iterator
from pathlib import Path

#: The controllers used, in the order their descriptors are passed to the worker.
CONTROLLERS = ("memory", "pids", "cpu")
RUN_PREFIX = "autograder-run-"
_SERIAL = itertools.count()
#: Default CPU weight of every submission (cgroup v1 ``cpu.shares``).
CPU_SHARES = 1024


class CgroupError(RuntimeError):
    """A cgroup could not be created or configured."""


def _v1_mounts() -> dict[str, Path]:
    """Mount point of each cgroup v1 controller we use (from ``/proc/self/mountinfo``)."""
    found: dict[str, Path] = {}
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] != "cgroup":
            continue
        options = set(tail[2].split(","))
        for name in CONTROLLERS:
            if name in options and name not in found:
                found[name] = Path(fields[4])
    return found


def _own_paths() -> dict[str, str]:
    """This process's cgroup path in each v1 hierarchy (``/proc/self/cgroup``)."""
    paths: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return paths
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3:
            for name in parts[1].split(","):
                paths[name] = parts[2]
    return paths


def _user_name() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def parents() -> dict[str, Path] | None:
    """The folder to create run cgroups in, per controller, or None when we may not (see module doc)."""
    mounts = _v1_mounts()
    if any(name not in mounts for name in CONTROLLERS):
        return None
    found: dict[str, Path] = {}
    own = _own_paths()
    for name in CONTROLLERS:
        if os.getuid() == 0:
            candidate = mounts[name] / own.get(name, "/").lstrip("/")
        else:
            candidate = mounts[name] / f"autograder-{_user_name()}"
        if not (candidate.is_dir() and os.access(candidate, os.W_OK | os.X_OK)):
            return None
        found[name] = candidate
    return found


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _pids(folder: Path) -> list[int]:
    try:
        return [int(x) for x in (folder / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _kill_and_remove(folder: Path, timeout: float = 2.0) -> bool:
    """SIGKILL every process of the cgroup ``folder`` (and its children), then remove it; bounded."""
    deadline = time.monotonic() + timeout
    children = list(_subfolders(folder))
    for child in children:
        _kill_and_remove(child, timeout=max(0.1, deadline - time.monotonic()))
    while True:
        for pid in _pids(folder):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        try:
            os.rmdir(folder)
            return True
        except FileNotFoundError:
            return True
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                return False
        time.sleep(0.02)


def _subfolders(folder: Path) -> Iterator[Path]:
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield Path(entry.path)


@dataclasses.dataclass
class WorkerCgroup:
    """The cgroups of one worker: ``fds`` are its ``cgroup.procs``, opened for the worker to join."""

    folders: dict[str, Path]
    fds: list[int]

    def close_fds(self) -> None:
        """Close the descriptors (after they were sent to the worker)."""
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = []

    def processes(self) -> list[int]:
        """Processes still in the worker's cgroups (as this process's PID namespace numbers them)."""
        return sorted({pid for folder in self.folders.values() for pid in _pids(folder)})

    def peak_memory(self) -> int | None:
        """Most memory the submission used at once (bytes), when the kernel reports it."""
        try:
            return int((self.folders["memory"] / "memory.max_usage_in_bytes").read_text())
        except (OSError, ValueError, KeyError):
            return None

    def oom_kills(self) -> int:
        """How often the memory limit was hit (v1 ``memory.failcnt``)."""
        try:
            return int((self.folders["memory"] / "memory.failcnt").read_text())
        except (OSError, ValueError, KeyError):
            return 0

    def remove(self) -> None:
        """Kill whatever is left in the cgroups and remove them (never raises)."""
        self.close_fds()
        for folder in self.folders.values():
            with contextlib.suppress(OSError):
                _kill_and_remove(folder)


class CgroupTree:
    """The cgroups of one grading run (see the module docstring)."""

    def __init__(self, runs: dict[str, Path]) -> None:
        self.runs = runs
        self._count = 0

    @classmethod
    def create(cls, name: str | None = None) -> CgroupTree | None:
        """The run's cgroups, or None when this process may not create any here."""
        found = parents()
        if found is None:
            return None
        cls.remove_stale(found)
        # <pid>-<serial>: a process may hold several sessions (the nbgrader preprocessor keeps one
        # per isolation level and preload); closing one must not remove another's cgroups
        name = name or f"{RUN_PREFIX}{os.getpid()}-{next(_SERIAL)}"
        runs: dict[str, Path] = {}
        try:
            for controller, parent in found.items():
                run = parent / name
                run.mkdir(exist_ok=True)
                runs[controller] = run
        except OSError:
            for run in runs.values():
                with contextlib.suppress(OSError):
                    run.rmdir()
            return None
        return cls(runs)

    @staticmethod
    def remove_stale(found: dict[str, Path]) -> list[Path]:
        """Remove run cgroups whose grader is gone (a run killed with SIGKILL leaves them)."""
        removed = []
        for parent in found.values():
            for folder in _subfolders(parent):
                if not folder.name.startswith(RUN_PREFIX):
                    continue
                pid = folder.name[len(RUN_PREFIX) :].split("-")[0]
                if not pid.isdigit() or Path(f"/proc/{pid}").exists():
                    continue  # alive, or not named by a grader: never touched
                if _kill_and_remove(folder):
                    removed.append(folder)
        return removed

    def describe(self, memory_mb: int, max_processes: int) -> str:
        return (
            f"cgroup v1 per submission: memory {memory_mb} MB (processes and files), "
            f"{1 + max_processes} tasks, cpu.shares {CPU_SHARES}"
        )

    def worker(self, memory_mb: int, max_processes: int) -> WorkerCgroup:
        """A new cgroup per controller for one worker, limits set, ``cgroup.procs`` opened.

        ``memory_mb`` is the whole submission's budget (processes, threads and tmpfs files)."""
        self._count += 1
        name = f"w{os.getpid()}-{self._count}"
        folders: dict[str, Path] = {}
        fds: list[int] = []
        try:
            for controller, run in self.runs.items():
                run.mkdir(exist_ok=True)  # again: another grader's clean-up may have removed it
                folder = run / name
                folder.mkdir()
                folders[controller] = folder
            memory = folders["memory"]
            limit = str(memory_mb * 2**20)
            _write(memory / "memory.limit_in_bytes", limit)
            if (memory / "memory.memsw.limit_in_bytes").exists():
                with contextlib.suppress(OSError):
                    _write(memory / "memory.memsw.limit_in_bytes", limit)
            _write(folders["pids"] / "pids.max", str(1 + max_processes))
            _write(folders["cpu"] / "cpu.shares", str(CPU_SHARES))
            for controller in CONTROLLERS:
                fds.append(os.open(folders[controller] / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC))
        except OSError as exc:
            WorkerCgroup(folders, fds).remove()
            raise CgroupError(f"cannot set up the submission's cgroup: {exc}") from None
        return WorkerCgroup(folders, fds)

    def close(self) -> None:
        """Remove the run's cgroups (and anything left in them)."""
        for run in self.runs.values():
            with contextlib.suppress(OSError):
                _kill_and_remove(run)


def delegate(user: str, mounts: dict[str, Path] | None = None) -> list[Path]:
    """The one-time root step that lets ``user`` grade with cgroups: ``<hierarchy>/autograder-<user>``
    in the memory, pids and cpu hierarchies, owned by ``user``. Returns the folders."""
    if os.getuid() != 0:
        raise PermissionError("delegating cgroups needs root (run it with sudo)")
    entry = pwd.getpwnam(user)
    mounts = mounts or _v1_mounts()
    missing = [name for name in CONTROLLERS if name not in mounts]
    if missing:
        raise CgroupError(
            f"no cgroup v1 hierarchy for {', '.join(missing)} on this machine; the sandbox will use "
            "rlimits and a single-process seccomp filter instead"
        )
    made = []
    for name in CONTROLLERS:
        folder = mounts[name] / f"autograder-{user}"
        folder.mkdir(exist_ok=True)
        for path in (folder, folder / "cgroup.procs", folder / "tasks"):
            with contextlib.suppress(FileNotFoundError):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        made.append(folder)
    return made


def undelegate(user: str, mounts: dict[str, Path] | None = None) -> None:
    """Remove the folders :func:`delegate` made (and any run cgroups left in them)."""
    mounts = mounts or _v1_mounts()
    for name in CONTROLLERS:
        if name in mounts:
            _kill_and_remove(mounts[name] / f"autograder-{user}")


def describe_unavailable() -> str:
    """Why no cgroup is used, in one line."""
    mounts = _v1_mounts()
    missing = [name for name in CONTROLLERS if name not in mounts]
    if missing:
        return f"no cgroup v1 hierarchy for {', '.join(missing)}"
    if os.getuid() != 0:
        return (
            f"no cgroup delegated to {_user_name()} (as root, once: "
            f"python -m autograder sandbox delegate {_user_name()})"
        )
    return "the grader's cgroups are not writable"
