r"""The grader's side of the sandbox: start a locked-down worker, run a submission's cells, call it.

:class:`SandboxInvoker` implements :class:`autograder.invoke.Invoker` for the standalone grader.
The student's code runs only in a worker process (:mod:`autograder.worker`), started either

- fresh, as ``python -I -S -c BOOT`` (:func:`spawn_exec`), or
- forked from a :class:`Zygote`: a clean ``python -I -S`` parent that imported numpy (and torch)
  once, so each submission's fresh child starts in milliseconds.

Either way the child is a new session with rlimits, (as root) its own unprivileged uid, a private
network namespace, a scrubbed environment, a fresh temporary working directory and the worker's
guards (see :mod:`autograder.worker`). Messages are :mod:`autograder.wire` frames: arrays as
``.npy`` bytes read with ``allow_pickle=False``; nothing from the worker is ever unpickled.

Timeouts are wall-clock, measured here: each cell gets ``cell_timeout`` seconds, each call
``call_timeout``, the whole submission ``submission_timeout``. The worker's own timer interrupts
slow code first; a worker that does not answer ``grace`` seconds later is killed with its whole
process group (and, as root, every process of its uid). A worker that dies or hangs in a cell
is restarted and the earlier cells are replayed without the bad one (like nbgrader, which carries
on after a failing cell); one that dies or hangs in a call makes that call fail, and later calls
of the same function fail the same way without running again.

Everything the worker writes to stdout/stderr is drained continuously and only the first
``output_bytes`` are kept, so a flood never blocks the worker nor fills the grader's memory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import importlib.util
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from autograder import wire
from autograder.invoke import StudentError, StudentTimeout

#: Extra seconds the grader waits after a time limit before it kills the worker.
GRACE_SECONDS = 2.0
#: Seconds a new worker may take to import its modules and report ready.
BOOT_TIMEOUT = 120.0
#: Modules the worker may not import.
FORBIDDEN_MODULES = ("course_lib", "autograder")
#: Every temporary folder of one run of the command line lives in one folder with this prefix.
RUN_PREFIX = "autograder-run-"
#: The file a live run keeps ``flock``-ed in its run folder.
RUN_LOCK = ".owner.lock"
#: Workers of a grading process with pid P run as uid BASE_UID + P when the grader is root: unique
#: among live graders (also across concurrent batches), so killing "every process of the uid" can
#: only ever hit this grader's own workers.
BASE_UID = 100_000

SIGNAL_MEANINGS = {
    signal.SIGSEGV: "segmentation fault",
    signal.SIGKILL: "killed (time or memory limit)",
    signal.SIGXCPU: "CPU time limit exceeded",
    signal.SIGABRT: "aborted",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating point exception",
}

BOOT = r"""
import json, os, struct, sys, types
def _boot():
    def read_exact(n):
        data = b""
        while len(data) < n:
            chunk = os.read(0, n - len(data))
            if not chunk:
                os._exit(71)
            data += chunk
        return data
    (size,) = struct.unpack(">I", read_exact(4))
    message = json.loads(read_exact(size))
    sys.path.extend(message["sys_path"])
    sys.dont_write_bytecode = True
    modules = {}
    for name in ("wire", "worker"):
        module = types.ModuleType("_autograder_" + name)
        sys.modules[module.__name__] = module
        exec(compile(message[name], "<autograder." + name + ">", "exec"), module.__dict__)
        modules[name] = module
    if message["mode"] == "zygote":
        modules["worker"].zygote(modules["wire"], message["config"], int(sys.argv[1]))
    else:
        modules["worker"].main(modules["wire"], message["config"], 0, int(sys.argv[1]))
_boot()
"""


@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits of one submission's worker (all configurable from the command line).

    ``memory_mb`` is added to the address space the worker has after importing its modules
    (torch alone maps about 3 GB of virtual memory), so it is the budget of the student's code.
    """

    cpu_seconds: int = 120
    memory_mb: int = 2048
    max_processes: int = 16
    file_size_mb: int = 16
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
            if field.name != "network" and not (isinstance(value, int | float) and value > 0):
                raise ValueError(f"{field.name}={value!r} must be a positive number")

    def to_config(self) -> dict[str, Any]:
        return {
            "cpu_seconds": self.cpu_seconds,
            "memory_mb": self.memory_mb,
            "max_processes": self.max_processes,
            "file_size_mb": self.file_size_mb,
            "open_files": self.open_files,
        }


@dataclasses.dataclass
class CellOutcome:
    """How one code cell went in the worker: ``error`` is None or ``(type_name, message)``."""

    index: int
    error: tuple[str, str] | None
    seconds: float


class WorkerLost(Exception):
    """The worker died, hung past its limit, or broke the protocol; ``timeout`` tells which."""

    def __init__(self, message: str, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


def worker_sys_path() -> list[str]:
    """Directories the worker may import from: this interpreter's site-packages, nothing else."""
    paths = []
    for key in ("purelib", "platlib"):
        path = sysconfig.get_paths()[key]
        if path not in paths and os.path.isdir(path):
            paths.append(path)
    return paths


def package_dirs(names: Sequence[str] = FORBIDDEN_MODULES) -> list[str]:
    """Where the grader's own packages live (forbidden to the worker, even by file path)."""
    dirs: list[str] = []
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            dirs.extend(str(Path(p).resolve()) for p in spec.submodule_search_locations)
    return dirs


def _source(module: str) -> str | None:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).read_text(encoding="utf-8")


def default_uid() -> int | None:
    """The worker's uid when the grader is root (None otherwise: limits apply to our own uid)."""
    return BASE_UID + os.getpid() if os.getuid() == 0 else None


def worker_env(workdir: str) -> dict[str, str]:
    """The worker's whole environment: nothing inherited from the grader."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": workdir,
        "USER": "student",
        "LANG": "C.UTF-8",
        "NBGRADER_EXECUTION": "autograde",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "COURSE_LIB_THREADS": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": os.path.join(workdir, ".matplotlib"),
        "PYTHONHASHSEED": "0",
    }


def _boot_message(mode: str, config: dict[str, Any]) -> bytes:
    worker_source = _source("autograder.worker")
    wire_source = _source("autograder.wire")
    assert worker_source is not None and wire_source is not None
    body = json.dumps(
        {
            "mode": mode,
            "config": config,
            "sys_path": worker_sys_path(),
            "wire": wire_source,
            "worker": worker_source,
        }
    ).encode("utf-8")
    return struct.pack(">I", len(body)) + body


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "the worker process ended"
    if code < 0:
        sig = signal.Signals(-code)
        meaning = SIGNAL_MEANINGS.get(sig, sig.name)
        return f"the worker process was killed by {sig.name} ({meaning})"
    return f"the worker process exited with code {code}"


def kill_uid(uid: int) -> None:
    """Kill every process of ``uid`` (needs root): a helper drops to ``uid`` and calls ``kill(-1)``."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked helper
        try:
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def kill_session(sid: int) -> None:
    """SIGKILL the process group ``sid`` and every process still in session ``sid``."""
    with contextlib.suppress(OSError):
        os.killpg(sid, signal.SIGKILL)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # field 6 of /proc/PID/stat: the session id
            with contextlib.suppress(OSError):
                os.kill(int(entry), signal.SIGKILL)


class Zygote:
    """A clean, pre-warmed worker parent: imports ``preload`` once, forks a child per submission."""

    def __init__(self, preload: Sequence[str] = ("numpy", "matplotlib.pyplot")) -> None:
        self.preload = tuple(preload)
        self._owner = os.getpid()
        # matplotlib builds its font cache once, here, instead of in every worker
        self._mpl_dir = tempfile.mkdtemp(prefix="autograder-mpl-")
        os.chmod(self._mpl_dir, 0o755)
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock = parent
        boot_r, boot_w = os.pipe()
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", BOOT, str(child.fileno())],
            stdin=boot_r,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(child.fileno(),),
            env={
                "PATH": "/usr/bin:/bin",
                "PYTHONHASHSEED": "0",
                "OMP_NUM_THREADS": "1",
                "COURSE_LIB_THREADS": "1",
                "LANG": "C.UTF-8",
                "MPLBACKEND": "Agg",
                "MPLCONFIGDIR": self._mpl_dir,
            },
            cwd="/",
            start_new_session=True,
        )
        os.close(boot_r)
        child.close()
        _write_all(boot_w, _boot_message("zygote", {"preload": list(self.preload)}))
        os.close(boot_w)

    def alive(self) -> bool:
        """Whether the zygote still runs (also from a forked grading process, which cannot wait on it)."""
        if os.getpid() == self._owner:
            return self._proc.poll() is None
        try:
            os.kill(self._proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def spawn(self, config: dict[str, Any], fds: tuple[int, int, int]) -> int:
        """Fork a worker that reads requests from ``fds[0]``, answers on ``fds[1]``, prints to ``fds[2]``."""
        socket.send_fds(self._sock, [json.dumps({"op": "spawn", "config": config}).encode()], list(fds))
        return int(json.loads(self._recv())["pid"])

    def wait(self, pid: int) -> int | None:
        """Reap the (already killed or exited) worker ``pid``; its exit code (-signal if killed)."""
        self._sock.send(json.dumps({"op": "wait", "pid": pid}).encode())
        code = json.loads(self._recv())["exit"]
        return None if code is None else int(code)

    def _recv(self) -> bytes:
        ready, _, _ = select.select([self._sock], [], [], BOOT_TIMEOUT)
        data = self._sock.recv(1 << 16) if ready else b""
        if not data:
            raise RuntimeError("the sandbox's zygote process stopped answering")
        return data

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.send(json.dumps({"op": "exit"}).encode())
        self._sock.close()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        shutil.rmtree(self._mpl_dir, ignore_errors=True)


class _Worker:
    """One running worker: its pipes, pid, output buffer and how to reap it."""

    def __init__(
        self, pid: int, req_w: int, resp_r: int, out_r: int, reap: Any, max_output: int, max_frame: int
    ):
        self.pid = pid
        self.req_w = req_w
        self.resp_r = resp_r
        self.out_r = out_r
        self._reap = reap
        self.output = bytearray()
        self.output_dropped = 0
        self.max_output = max_output
        self.decoder = wire.FrameDecoder(max_frame)
        self.frames: list[tuple[dict[str, Any], list[bytes]]] = []
        self.exit_code: int | None = None
        self.closed = False
        self.serial = 0
        os.set_blocking(req_w, False)

    def _drain_output(self) -> bool:
        try:
            data = os.read(self.out_r, 1 << 16)
        except BlockingIOError:
            return True
        if not data:
            return False
        keep = max(0, self.max_output - len(self.output))
        self.output += data[:keep]
        self.output_dropped += len(data) - min(keep, len(data))
        return True

    def exchange(
        self, header: dict[str, Any], blobs: Sequence[bytes], timeout: float
    ) -> tuple[dict[str, Any], list[bytes]]:
        """Send one request frame and wait up to ``timeout`` seconds for the answer frame.

        Requests carry a serial ``id`` that the answer must echo: a frame forged by the student's
        code (written to the worker's answer pipe) breaks the sequence and ends the worker."""
        self.serial += 1
        reply, out_blobs = self.send_and_receive(
            wire.frame_bytes({**header, "id": self.serial}, blobs), timeout
        )
        if reply.get("id") != self.serial or self.frames:
            raise WorkerLost("the worker's answers are out of sequence (a forged or extra frame)")
        return reply, out_blobs

    def send_and_receive(self, data: bytes, timeout: float) -> tuple[dict[str, Any], list[bytes]]:
        deadline = time.monotonic() + timeout
        pending = memoryview(data)
        out_open = True
        while not self.frames:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerLost("no answer within the time limit", timeout=True)
            readers = [self.resp_r] + ([self.out_r] if out_open else [])
            writers = [self.req_w] if pending else []
            ready_r, ready_w, _ = select.select(readers, writers, [], remaining)
            if ready_w:
                try:
                    pending = pending[os.write(self.req_w, pending) :]
                except BlockingIOError:
                    pass
                except OSError:
                    raise WorkerLost("the worker stopped reading") from None
            if self.out_r in ready_r:
                out_open = self._drain_output()
            if self.resp_r in ready_r:
                chunk = os.read(self.resp_r, 1 << 20)
                if not chunk:
                    raise WorkerLost("the worker closed its connection")
                try:
                    self.frames += self.decoder.feed(chunk)
                except wire.FrameError as exc:
                    raise WorkerLost(f"the worker broke the protocol: {exc}") from None
        return self.frames.pop(0)

    def drain_until_exit(self, timeout: float) -> None:
        """Keep the student's output until the worker closes it (it exits), for ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.out_r], [], [], remaining)
            if ready and not self._drain_output():
                return

    def kill(self, uid: int | None) -> int | None:
        """Kill the worker, its process group and session (and, as root, all of ``uid``); reap it."""
        if self.closed:
            return self.exit_code
        self.closed = True
        kill_session(self.pid)
        if uid is not None and os.getuid() == 0:
            kill_uid(uid)
        # drain what is left of the student's output, without blocking
        os.set_blocking(self.out_r, False)
        with contextlib.suppress(OSError):
            while len(self.output) < self.max_output and self._drain_output():
                ready, _, _ = select.select([self.out_r], [], [], 0)
                if not ready:
                    break
        self.exit_code = self._reap(self.pid)
        for fd in (self.req_w, self.resp_r, self.out_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        return self.exit_code


def spawn_exec(config: dict[str, Any], max_output: int, max_frame: int) -> _Worker:
    """A fresh ``python -I -S`` worker process (no zygote)."""
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    out_r, out_w = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", BOOT, str(resp_w)],
        stdin=req_r,
        stdout=out_w,
        stderr=out_w,
        pass_fds=(resp_w,),
        env=config["env"],
        cwd=config["workdir"],
        start_new_session=True,
    )
    for fd in (req_r, resp_w, out_w):
        os.close(fd)
    os.set_blocking(out_r, False)
    with contextlib.suppress(OSError):  # a worker that died at once is reported by the first request
        _write_all(req_w, _boot_message("main", config))

    def reap(pid: int) -> int | None:
        return proc.wait()

    return _Worker(proc.pid, req_w, resp_r, out_r, reap, max_output, max_frame)


def spawn_forked(zygote: Zygote, config: dict[str, Any], max_output: int, max_frame: int) -> _Worker:
    """A worker forked from ``zygote`` (its heavy imports are already done)."""
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    out_r, out_w = os.pipe()
    try:
        pid = zygote.spawn(config, (req_r, resp_w, out_w))
    finally:
        for fd in (req_r, resp_w, out_w):
            os.close(fd)
    os.set_blocking(out_r, False)
    return _Worker(pid, req_w, resp_r, out_r, zygote.wait, max_output, max_frame)


class SandboxInvoker:
    """Runs a submission's code cells in a sandboxed worker and calls its functions there.

    ``cells`` are ``(index, source)`` pairs in execution order; ``files`` (name -> bytes) are put in
    the working directory first (helper modules the notebook imports). Use as a context manager, or call
    :meth:`start` then :meth:`close`. :attr:`outcomes` records each cell's error (if any),
    :attr:`events` what went wrong with the worker itself (timeouts, crashes, restarts).
    """

    def __init__(
        self,
        cells: Sequence[tuple[int, str]],
        *,
        limits: Limits | None = None,
        zygote: Zygote | None = None,
        preload: Sequence[str] = ("numpy",),
        uid: int | None = None,
        forbidden_paths: Sequence[str] = (),
        probes_source: str | None = None,
        files: dict[str, bytes] | None = None,
    ) -> None:
        self.cells = list(cells)
        self.files = dict(files or {})
        self.limits = limits or Limits()
        self.zygote = zygote
        self.preload = tuple(preload)
        self.uid = uid if uid is not None else default_uid()
        self.forbidden_paths = [*package_dirs(), *(str(Path(p).resolve()) for p in forbidden_paths)]
        self.probes_source = probes_source if probes_source is not None else _source("autograder.probes")
        self.outcomes: dict[int, CellOutcome] = {}
        self.events: list[str] = []
        self.attempts: list[str] = []
        self._skip: set[int] = set()
        self._poisoned: dict[tuple[str, str | None], StudentError] = {}
        self._worker: _Worker | None = None
        self._workdir: str | None = None
        self._restarts = 0
        self._deadline = 0.0
        self._output = bytearray()
        self._output_dropped = 0
        self._started = False

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> SandboxInvoker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> dict[int, CellOutcome]:
        """Start the worker and run every cell (an error in one cell does not stop the others)."""
        self._started = True
        self._deadline = time.monotonic() + self.limits.submission_timeout
        position = 0
        while position < len(self.cells) and self._ensure_worker(replay_until=position):
            index, source = self.cells[position]
            try:
                reply = self._run_cell(index, source)
                error = reply.get("error")
                self.outcomes[index] = CellOutcome(
                    index,
                    None if error is None else (str(error["type"]), str(error["message"])),
                    float(reply.get("seconds", 0.0)),
                )
            except WorkerLost as lost:
                what = "ran past its time limit" if lost.timeout else str(lost)
                self.outcomes[index] = CellOutcome(
                    index, ("Timeout" if lost.timeout else "WorkerDied", what), 0.0
                )
                self.events.append(f"cell {index}: {what}")
                self._skip.add(index)
            position += 1
        for index, _ in self.cells[position:]:
            self.outcomes.setdefault(
                index, CellOutcome(index, ("NotRun", "not run: the worker could not continue"), 0.0)
            )
        return self.outcomes

    def _spawn(self) -> None:
        self._workdir = tempfile.mkdtemp(prefix="autograder-")
        os.chmod(self._workdir, 0o700)
        for name, data in self.files.items():
            target = Path(self._workdir, Path(name).name)
            target.write_bytes(data)
        if self.uid is not None and os.getuid() == 0:
            for path in [self._workdir, *(str(Path(self._workdir, Path(n).name)) for n in self.files)]:
                os.chown(path, self.uid, self.uid)
        config = {
            "workdir": self._workdir,
            "env": worker_env(self._workdir),
            "uid": self.uid if os.getuid() == 0 else None,
            "gid": self.uid,
            "network": self.limits.network,
            "limits": self.limits.to_config(),
            "forbidden_paths": self.forbidden_paths,
            "forbidden_modules": list(FORBIDDEN_MODULES),
            "preload": list(self.preload),
        }
        max_frame = self.limits.max_frame_mb * 2**20
        worker = None
        if self.zygote is not None and self.zygote.alive():
            try:
                worker = spawn_forked(self.zygote, config, self.limits.output_bytes, max_frame)
            except (OSError, RuntimeError, ValueError) as exc:
                self.events.append(f"zygote unavailable ({type(exc).__name__}); started a fresh worker")
        if worker is None:
            worker = spawn_exec(config, self.limits.output_bytes, max_frame)
        self._worker = worker
        try:
            hello, _ = worker.send_and_receive(b"", min(BOOT_TIMEOUT, self._remaining()))
            if not hello.get("ready"):
                raise WorkerLost("the worker did not start")
            if self.probes_source is not None:
                self._request({"op": "load_probes", "source": self.probes_source}, [], BOOT_TIMEOUT)
        except WorkerLost:
            self._lose_worker()
            raise

    def _ensure_worker(self, replay_until: int) -> bool:
        """A live worker that has run every (non-skipped) cell before ``replay_until``."""
        if self._worker is not None:
            return True
        if self._restarts > self.limits.max_restarts or self._remaining() <= 0:
            return False
        if self._started and (self.outcomes or self._skip):
            self._restarts += 1
            if self._restarts > self.limits.max_restarts:
                self.events.append(f"gave up after {self.limits.max_restarts} worker restarts")
                return False
            self.events.append("worker restarted; earlier cells replayed")
        try:
            self._spawn()
            for index, source in self.cells[:replay_until]:
                if index not in self._skip:
                    self._run_cell(index, source)
        except WorkerLost as lost:
            self.events.append(f"worker could not be (re)started: {lost}")
            self._lose_worker()
            return False
        return True

    def _run_cell(self, index: int, source: str) -> dict[str, Any]:
        header = {"op": "run_cell", "source": source, "index": index, "timeout": self.limits.cell_timeout}
        return self._request(header, [], self.limits.cell_timeout)

    def _remaining(self) -> float:
        return self._deadline - time.monotonic()

    def _request(self, header: dict[str, Any], blobs: Sequence[bytes], timeout: float) -> dict[str, Any]:
        reply, _ = self._request_blobs(header, blobs, timeout)
        return reply

    def _request_blobs(
        self, header: dict[str, Any], blobs: Sequence[bytes], timeout: float
    ) -> tuple[dict[str, Any], list[bytes]]:
        assert self._worker is not None
        remaining = self._remaining()
        if remaining <= 0:
            self._lose_worker()
            raise WorkerLost("the submission used up its total time budget", timeout=True)
        try:
            return self._worker.exchange(header, blobs, min(timeout + GRACE_SECONDS, remaining))
        except WorkerLost as lost:
            code = self._lose_worker()
            if lost.timeout:
                raise
            raise WorkerLost(f"{_describe_exit(code)} ({lost})") from None

    def _lose_worker(self) -> int | None:
        worker, self._worker = self._worker, None
        if worker is None:
            return None
        code = worker.kill(self.uid)
        self._collect_output(worker)
        self._remove_workdir()
        return code

    def _collect_output(self, worker: _Worker) -> None:
        keep = max(0, self.limits.output_bytes - len(self._output))
        self._output += worker.output[:keep]
        self._output_dropped += worker.output_dropped + max(0, len(worker.output) - keep)

    def _remove_workdir(self) -> None:
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def close(self) -> None:
        """Collect the guard's report, stop the worker, kill leftovers, remove the working directory."""
        worker = self._worker
        if worker is not None:
            with contextlib.suppress(WorkerLost):
                reply = self._request({"op": "report"}, [], 5.0)
                self.attempts = [str(a) for a in reply.get("attempts", [])]
            if self._worker is not None:
                with contextlib.suppress(OSError):
                    _write_all(self._worker.req_w, wire.frame_bytes({"op": "exit"}))
                self._worker.drain_until_exit(GRACE_SECONDS)
        self._lose_worker()

    def abort(self) -> None:
        """Kill the worker now (the grader is being stopped): no report, working folder removed."""
        self._lose_worker()
        self._remove_workdir()

    @property
    def output_truncated(self) -> bool:
        """Whether the student's code printed more than ``output_bytes`` (the rest was dropped)."""
        return self._output_dropped > 0

    @property
    def output(self) -> str:
        """The first ``output_bytes`` the student's code printed (stdout and stderr)."""
        text = self._output.decode("utf-8", "replace")
        if self._output_dropped:
            text += f"\n[... {self._output_dropped} more bytes of output dropped]"
        return text

    # -- Invoker -------------------------------------------------------------------------------

    def call(
        self, target: str, args: tuple[Any, ...], kwargs: dict[str, Any], probe: str | None = None
    ) -> Any:
        """See :meth:`autograder.invoke.Invoker.call`; runs in the worker with ``call_timeout``."""
        key = (target, probe)
        if key in self._poisoned:
            raise self._poisoned[key]
        if not self._started:
            self.start()
        if not self._ensure_worker(replay_until=len(self.cells)):
            raise StudentError(
                "WorkerDied", "the submission's code could not be run: " + "; ".join(self.events[-2:])
            )
        tree, blobs = wire.encode([list(args), dict(kwargs)])
        header = {
            "op": "call",
            "target": target,
            "probe": probe,
            "timeout": self.limits.call_timeout,
            "value": tree,
        }
        try:
            reply, out_blobs = self._request_blobs(header, blobs, self.limits.call_timeout)
        except WorkerLost as lost:
            error: StudentError
            if lost.timeout:
                error = StudentTimeout("Timeout", f"did not finish within {self.limits.call_timeout:g} s")
            else:
                error = StudentError("WorkerDied", str(lost))
            self.events.append(f"call {target}: {error.message}")
            self._poisoned[key] = error
            raise error from None
        if not reply.get("ok"):
            err = reply.get("error") or {}
            if err.get("type") == "Timeout":
                timeout = StudentTimeout("Timeout", f"did not finish within {self.limits.call_timeout:g} s")
                self._poisoned[key] = timeout
                raise timeout
            raise StudentError(str(err.get("type", "Error")), str(err.get("message", "")))
        try:
            return wire.decode(reply.get("value"), out_blobs)
        except wire.WireError as exc:
            raise StudentError("WireError", str(exc)) from None


def remove_stale_runs(base: str) -> list[str]:
    """Remove the run folders in ``base`` whose run is over: nobody holds their lock any more.

    A run killed with SIGKILL cannot clean up; its one folder is removed by the next run here.
    """
    removed: list[str] = []
    try:
        names = os.listdir(base)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(RUN_PREFIX):
            continue
        folder = os.path.join(base, name)
        try:
            lock = os.open(os.path.join(folder, RUN_LOCK), os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # its run (or one of the run's processes) still lives
        else:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        finally:
            os.close(lock)
    return removed


@contextlib.contextmanager
def run_folder() -> Iterator[Path]:
    """One folder for every temporary folder of this run, removed at the end.

    ``tempfile.tempdir`` points into it while the context lasts, so the zygotes' matplotlib folders
    and the workers' working folders (also those of forked grading processes) land there. The run
    keeps the file :data:`RUN_LOCK` in it locked (``flock``; forked grading processes inherit the
    lock): a run killed so hard that nothing could clean up leaves this one folder behind, and the
    next run removes it (:func:`remove_stale_runs`).
    """
    base = tempfile.gettempdir()
    remove_stale_runs(base)
    folder = tempfile.mkdtemp(prefix=RUN_PREFIX, dir=base)
    os.chmod(folder, 0o711)  # sandboxed workers (another uid) may enter their own folders
    lock = os.open(os.path.join(folder, RUN_LOCK), os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    previous = tempfile.tempdir
    tempfile.tempdir = folder
    try:
        yield Path(folder)
    finally:
        tempfile.tempdir = previous
        shutil.rmtree(folder, ignore_errors=True)
        os.close(lock)


def start_zygotes(source_notebook: Path, jobs: int) -> list[Zygote]:
    """One pre-warmed worker parent per grading process; they import numpy/matplotlib (and torch
    when the assignment uses it) in the background while the grader itself starts up."""
    text = Path(source_notebook).read_text(encoding="utf-8")
    base: tuple[str, ...] = ("numpy", "matplotlib.pyplot")
    preload = (*base, "torch") if re.search(r"(import|from)\s+torch\b", text) else base
    return [Zygote(preload) for _ in range(jobs)]
