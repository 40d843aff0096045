r"""The grader's side of one submission: run its cells in a sandboxed worker and call its functions.

:class:`SandboxInvoker` implements :class:`autograder.invoke.Invoker` for the standalone grader. The
student's code runs only in a worker forked from a :class:`~autograder.sandbox.zygote.Zygote` of
the run's :class:`~autograder.sandbox.session.Session`; messages are :mod:`autograder.sandbox.wire`
frames (arrays as ``.npy`` bytes read with ``allow_pickle=False``; nothing from the worker is ever
unpickled).

Each cell gets ``cell_timeout`` seconds, each call ``call_timeout``, the whole submission
``submission_timeout`` (wall clock, measured here). The worker's own timer interrupts slow code
first; it counts the seconds code runs or sleeps but not those it waits for a CPU on a busy machine
(up to :data:`~autograder.sandbox.worker.STRETCH` times the limit), so a regrade under load gives
the same verdict. A worker that does not answer by then plus ``grace`` seconds is killed -- at the
``namespaces`` level with its whole PID namespace, at the others with its session (and, as root,
every process of its uid) -- and its cgroup is emptied and removed. A worker that dies or hangs in a
cell is restarted and the earlier cells are replayed without the bad one (like nbgrader, which
carries on after a failing cell); one that dies or hangs in a call makes that call fail, and later
calls of the same function fail the same way without running again.

Everything the worker writes to stdout/stderr is drained continuously and only the first
``output_bytes`` are kept, so a flood never blocks the worker nor fills the grader's memory. Every
read of a frame, every clean-up and every close is bounded and caught: nothing a worker sends or
leaves behind can crash or hang the grader.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import select
import signal
import time
from collections.abc import Sequence
from typing import Any

from autograder.invoke import StudentError, StudentTimeout
from autograder.sandbox import wire
from autograder.sandbox.cgroups import CgroupError, WorkerCgroup
from autograder.sandbox.cleanup import remove_tree
from autograder.sandbox.limits import Limits
from autograder.sandbox.session import Session
from autograder.sandbox.worker import STRETCH
from autograder.sandbox.zygote import BOOT_TIMEOUT, Zygote, ZygoteFailed

#: Extra seconds the grader waits after a time limit before it kills the worker.
GRACE_SECONDS = 2.0

SIGNAL_MEANINGS = {
    signal.SIGSEGV: "segmentation fault",
    signal.SIGKILL: "killed (time or memory limit)",
    signal.SIGXCPU: "CPU time limit exceeded",
    signal.SIGABRT: "aborted",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating point exception",
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


def describe_exit(code: int | None) -> str:
    """How a worker ended, in words (``code`` is an exit status, or minus a signal number)."""
    if code is None:
        return "the worker process ended"
    if code < 0:
        try:
            sig = signal.Signals(-code)
        except ValueError:
            return f"the worker process was killed by signal {-code}"
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
        except (OSError, IndexError):
            continue
        if len(fields) > 3 and int(fields[3]) == sid:  # field 6 of /proc/PID/stat: the session id
            with contextlib.suppress(OSError):
                os.kill(int(entry), signal.SIGKILL)


class _Worker:
    """One running worker: its pipes, pid, output buffer and how to reap it."""

    def __init__(
        self,
        pid: int,
        req_w: int,
        resp_r: int,
        out_r: int,
        zygote: Zygote,
        max_output: int,
        max_frame: int,
        cgroup: WorkerCgroup | None = None,
    ):
        self.pid = pid
        self.zygote = zygote
        self.cgroup = cgroup
        self.peak_memory: int | None = None
        self.req_w = req_w
        self.resp_r = resp_r
        self.out_r = out_r
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

    def drain_ready_output(self) -> None:
        """Read the student's output that is already in the pipe, without waiting (bounded: a thread
        that keeps printing cannot keep the grader here)."""
        with contextlib.suppress(OSError):
            for _ in range(64):
                if not (select.select([self.out_r], [], [], 0)[0] and self._drain_output()):
                    return

    def send_and_receive_nothing(self, data: bytes) -> None:
        """Write ``data`` (a last request that gets no answer), without blocking."""
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.req_w, view) :]
            except BlockingIOError:
                ready = select.select([], [self.req_w], [], GRACE_SECONDS)[1]
                if not ready:
                    raise WorkerLost("the worker stopped reading") from None

    def drain_until_exit(self, timeout: float) -> None:
        """Keep the student's output until the worker closes it (it exits), for ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.out_r], [], [], remaining)
            if ready and not self._drain_output():
                return

    def kill(self, level: str, uid: int | None) -> int | None:
        """Kill the worker and everything it started; reap it. Bounded; never raises."""
        if self.closed:
            return self.exit_code
        self.closed = True
        with contextlib.suppress(ZygoteFailed, OSError, ValueError):
            self.zygote.kill(self.pid)
        if level != "namespaces":  # the same PID namespace as the grader: kill by session and uid
            kill_session(self.pid)
            if level == "uid" and uid is not None and os.getuid() == 0:
                kill_uid(uid)
        if self.cgroup is not None:
            self.peak_memory = self.cgroup.peak_memory()
            self.cgroup.remove()
        # drain what is left of the student's output, without blocking
        os.set_blocking(self.out_r, False)
        with contextlib.suppress(OSError):
            while len(self.output) < self.max_output and self._drain_output():
                ready, _, _ = select.select([self.out_r], [], [], 0)
                if not ready:
                    break
        try:
            self.exit_code = self.zygote.wait(self.pid)
        except (ZygoteFailed, OSError, ValueError, KeyError):
            self.exit_code = None
        for fd in (self.req_w, self.resp_r, self.out_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        return self.exit_code


class SandboxInvoker:
    """Runs a submission's code cells in a sandboxed worker and calls its functions there.

    ``cells`` are ``(index, source)`` pairs in execution order; ``files`` (name -> bytes) are put in
    the working directory first (helper modules the notebook imports); ``cell_names`` names a cell in
    notes and events where its number would mislead (a locked cell put back by the grader), every
    other cell is ``cell N`` with N = index + 1, as JupyterLab numbers them. Use as a context manager, or call
    :meth:`start` then :meth:`close`. :attr:`outcomes` records each cell's error (if any),
    :attr:`events` what went wrong with the worker itself (timeouts, crashes, restarts).
    """

    def __init__(
        self,
        cells: Sequence[tuple[int, str]],
        *,
        session: Session,
        zygote: Zygote | None = None,
        limits: Limits | None = None,
        preload: Sequence[str] = ("numpy",),
        probes_source: str | None = None,
        files: dict[str, bytes] | None = None,
        cell_names: dict[int, str] | None = None,
    ) -> None:
        self.cells = list(cells)
        self.files = dict(files or {})
        self.cell_names = dict(cell_names or {})
        self.session = session
        self.limits = limits or session.limits
        self.zygote = zygote
        self._own_zygote: Zygote | None = None
        self.preload = tuple(preload)
        self.probes_source = probes_source if probes_source is not None else _probes_source()
        self.outcomes: dict[int, CellOutcome] = {}
        self.events: list[str] = []
        self.attempts: list[str] = []
        #: What each cell printed (stdout and stderr), by cell index, within ``output_bytes`` in all.
        self.cell_outputs: dict[int, str] = {}
        #: IPython commands the worker did not run (``cell N: `!pip install x` was not run ...``).
        self.notes: list[str] = []
        self._skip: set[int] = set()
        self._poisoned: dict[tuple[str, str | None], StudentError] = {}
        self._worker: _Worker | None = None
        self._workdir: str | None = None
        self.peak_memory: int | None = None
        self._restarts = 0
        self._deadline = 0.0
        self._output = bytearray()
        self._output_dropped = 0
        self._started = False
        self._position = 0  # the cells before this position have run

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> SandboxInvoker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> dict[int, CellOutcome]:
        """Start the worker and run every cell (an error in one cell does not stop the others)."""
        return self.run_cells(len(self.cells))

    def run_cells(self, until: int) -> dict[int, CellOutcome]:
        """Run the cells before position ``until`` that have not run yet, in order.

        The grader calls this up to each graded item's test cell, then grades the item: every function
        is graded as it stood when its test cell ran, as nbgrader does (a later cell that rebinds the
        name changes nothing). A cell that hangs or kills the worker is recorded and skipped; a worker
        that cannot continue leaves the remaining cells "not run"."""
        if not self._started:
            self._started = True
            self._deadline = time.monotonic() + self.limits.submission_timeout
        position = self._position
        until = min(until, len(self.cells))
        while position < until and self._ensure_worker(replay_until=position):
            index, source = self.cells[position]
            worker = self._worker
            assert worker is not None
            before = len(worker.output)
            try:
                reply = self._run_cell(index, source)
                worker.drain_ready_output()  # what the cell printed before it answered
                self.cell_outputs[index] = bytes(worker.output[before:]).decode("utf-8", "replace")
                error = reply.get("error")
                self.outcomes[index] = CellOutcome(
                    index,
                    None if error is None else (clip(error.get("type"), 100), clip(error.get("message"))),
                    _seconds(reply.get("seconds")),
                )
            except WorkerLost as lost:
                what = "ran past its time limit" if lost.timeout else str(lost)
                self.outcomes[index] = CellOutcome(
                    index, ("Timeout" if lost.timeout else "WorkerDied", what), 0.0
                )
                self.events.append(f"{self.cell_name(index)}: {what}")
                self._skip.add(index)
            position += 1
        for index, _ in self.cells[position:until]:
            self.outcomes.setdefault(
                index, CellOutcome(index, ("NotRun", "not run: the worker could not continue"), 0.0)
            )
        self._position = max(self._position, until)
        return self.outcomes

    def _zygote(self) -> Zygote:
        """The zygote to fork from: the one given (restarted privately if it died) or our own."""
        if self.zygote is not None and self.zygote.alive():
            return self.zygote
        if self._own_zygote is None or not self._own_zygote.alive():
            if self.zygote is not None:
                self.events.append("the zygote was gone; started a new one")
            if self._own_zygote is not None:
                self._own_zygote.close()
            self._own_zygote = Zygote(self.session, self.preload)
        return self._own_zygote

    def _spawn(self) -> None:
        session = self.session
        self._workdir = session.workdir()
        config = session.worker_config(self._workdir, self.limits, self.preload)
        cgroup: WorkerCgroup | None = None
        if session.cgroups is not None and session.level != "none":
            try:
                cgroup = session.cgroups.worker(self.limits.cgroup_memory_mb(), self.limits.max_processes)
            except CgroupError as exc:
                raise WorkerLost(str(exc)) from None
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        out_r, out_w = os.pipe()
        try:
            zygote = self._zygote()
            pid = zygote.spawn(config, (req_r, resp_w, out_w, *(cgroup.fds if cgroup else ())))
        except (ZygoteFailed, OSError, ValueError, KeyError) as exc:
            for fd in (req_w, resp_r, out_r):
                os.close(fd)
            if cgroup is not None:
                cgroup.remove()
            raise WorkerLost(f"the sandbox could not start a worker: {exc}") from None
        finally:
            for fd in (req_r, resp_w, out_w):
                os.close(fd)
            if cgroup is not None:
                cgroup.close_fds()
        os.set_blocking(out_r, False)
        max_frame = self.limits.max_frame_mb * 2**20
        worker = _Worker(pid, req_w, resp_r, out_r, zygote, self.limits.output_bytes, max_frame, cgroup)
        self._worker = worker
        try:
            hello, _ = worker.send_and_receive(b"", min(BOOT_TIMEOUT, self._remaining()))
            if hello.get("setup_error"):
                raise WorkerLost(f"the sandbox could not be set up: {hello['setup_error']}")
            if not hello.get("ready"):
                raise WorkerLost("the worker did not start")
            if self.files:
                names = sorted(self.files)
                self._request(
                    {"op": "write_files", "names": names}, [self.files[n] for n in names], BOOT_TIMEOUT
                )
            if self.probes_source:
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

    def cell_name(self, index: int) -> str:
        """How notes name the cell at ``index``: ``cell N`` counted from 1, or its name in ``cell_names``."""
        return self.cell_names.get(index, f"cell {index + 1}")

    def _run_cell(self, index: int, source: str) -> dict[str, Any]:
        header = {
            "op": "run_cell",
            "source": source,
            "index": index,
            "name": self.cell_name(index),
            "timeout": self.limits.cell_timeout,
        }
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
            return self._worker.exchange(header, blobs, min(timeout * STRETCH + GRACE_SECONDS, remaining))
        except WorkerLost as lost:
            code = self._lose_worker()
            if lost.timeout:
                raise
            raise WorkerLost(f"{describe_exit(code)} ({lost})") from None

    def _lose_worker(self) -> int | None:
        worker, self._worker = self._worker, None
        if worker is None:
            return None
        code = worker.kill(self.session.level, self.session.uid)
        if worker.peak_memory is not None:
            self.peak_memory = max(self.peak_memory or 0, worker.peak_memory)
        self._collect_output(worker)
        self._remove_workdir()
        return code

    def _collect_output(self, worker: _Worker) -> None:
        keep = max(0, self.limits.output_bytes - len(self._output))
        self._output += worker.output[:keep]
        self._output_dropped += worker.output_dropped + max(0, len(worker.output) - keep)

    def _remove_workdir(self) -> None:
        workdir, self._workdir = self._workdir, None
        if workdir is not None and self.session.level != "namespaces":  # namespaces: gone with its tmpfs
            remove_tree(workdir)

    def close(self) -> None:
        """Collect the guard's report, stop the worker, kill leftovers, remove the working directory.

        Whatever the worker answers (or does not), the worker and everything it started are killed."""
        try:
            if self._worker is not None:
                try:
                    reply = self._request({"op": "report"}, [], 5.0)
                    self.attempts = [clip(a) for a in list(reply.get("attempts", []))[:50]]
                    self.notes = [clip(n) for n in list(reply.get("notes", []))[:30]]
                except WorkerLost:
                    pass
            if self._worker is not None:
                with contextlib.suppress(OSError, WorkerLost):
                    self._worker.send_and_receive_nothing(wire.frame_bytes({"op": "exit"}))
                    self._worker.drain_until_exit(GRACE_SECONDS)
        except Exception as exc:  # anything the worker caused: noted, never raised
            self.events.append(f"closing the worker: {type(exc).__name__}")
        finally:
            self._lose_worker()
            if self._own_zygote is not None:
                self._own_zygote.close()
                self._own_zygote = None

    def abort(self) -> None:
        """Kill the worker now (the grader is being stopped): no report, working folder removed."""
        try:
            self._lose_worker()
        finally:
            self._remove_workdir()
            if self._own_zygote is not None:
                self._own_zygote.close()
                self._own_zygote = None

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
        if not self._ensure_worker(replay_until=self._position):
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
            raise StudentError(clip(err.get("type", "Error"), 100), clip(err.get("message", "")))
        try:
            return wire.decode(reply.get("value"), out_blobs)
        except wire.WireError as exc:
            raise StudentError("WireError", str(exc)) from None


#: Longest error message, note or attempt kept from a worker (characters): the worker is the
#: student's process, and what it answers ends up in the record, the feedback and the gradebook.
MESSAGE_CHARS = 2000


def clip(value: object, limit: int = MESSAGE_CHARS) -> str:
    """``str(value)`` cut to ``limit`` characters, saying how much was cut."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters cut)"


def _seconds(value: object) -> float:
    """A cell's duration as the worker reported it (0 for anything that is not a number)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _probes_source() -> str:
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("autograder.probes")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).read_text(encoding="utf-8")
