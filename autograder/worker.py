r"""The sandboxed worker: runs one submission's code cells and answers the grader's calls.

This module runs in a *separate, locked-down Python process*, never in the grader. The grader
(:mod:`autograder.sandbox`) starts ``python -I -S`` (isolated mode, no ``site``: no ``.pth``
processing, no user site, no current directory on ``sys.path``), sends a boot message with this
file's source, :mod:`autograder.wire`'s source and a JSON config, and the boot code calls
:func:`main` (one submission) or :func:`zygote` (a pre-warmed parent that forks one child per
submission). It therefore imports only the standard library at module level, and numpy lazily.

Before any student code runs, :func:`lock_down` applies, in this order:

1. a new session (so the grader can kill the whole process group);
2. a private network namespace (``unshare(CLONE_NEWNET)``, when the kernel allows it);
3. resource limits: ``RLIMIT_CPU`` (seconds), ``RLIMIT_AS`` (the current address space + a
   budget, so torch's large mapped libraries fit), ``RLIMIT_NPROC``, ``RLIMIT_FSIZE``,
   ``RLIMIT_NOFILE``, no core dumps;
4. when started as root: an unprivileged uid/gid of the grader's choosing (``RLIMIT_NPROC`` then
   counts that uid's processes only, and the grader can kill every process of that uid);
5. a scrubbed environment and a fresh private working directory;

then :func:`install_guards` adds an import blocker for ``course_lib``/``autograder`` and an audit
hook (:pep:`578`, cannot be removed) that refuses sockets, new processes, and file access to the
grader's forbidden paths or writes outside the working directory.

Requests are frames (:mod:`autograder.wire`) with an ``op``:

- ``run_cell``: ``source``, ``index``, ``timeout`` -> ``{"ok": true, "error": null | {...}}``;
  an exception is recorded and the grader carries on with the next cell, like nbgrader;
- ``load_probes``: ``source`` of :mod:`autograder.probes`, executed in its own namespace;
- ``call``: ``target``, ``probe``, ``timeout`` and the encoded ``[args, kwargs]`` ->
  the encoded result or ``{"ok": false, "error": {"type": ..., "message": ...}}``;
- ``report``: what the submission tried that the guards refused (imports, files, network, ...);
- ``exit``.
"""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import gc
import importlib.abc
import io
import os
import resource
import signal
import sys
import time
import types
from collections.abc import Callable, Sequence
from typing import Any

#: Longest exception message sent back to the grader (characters).
MAX_MESSAGE_CHARS = 2000
CLONE_NEWNET = 0x40000000
#: Audit events that start a new process: refused in the worker.
PROCESS_EVENTS = frozenset(
    {"os.fork", "os.forkpty", "os.posix_spawn", "os.exec", "os.spawn", "os.system", "subprocess.Popen"}
)
#: Audit events that modify the file system, with the position of their path argument(s).
FS_WRITE_EVENTS = {
    "os.remove": (0,),
    "os.rmdir": (0,),
    "os.mkdir": (0,),
    "os.rename": (0, 1),
    "os.link": (0, 1),
    "os.symlink": (1,),
    "os.chmod": (0,),
    "os.chown": (0,),
    "os.truncate": (0,),
    "os.utime": (0,),
    "shutil.rmtree": (0,),
}


class Deadline(BaseException):
    """Raised inside student code by the worker's timer (a BaseException, like KeyboardInterrupt)."""


class Guard:
    """What the worker refuses, and a record of what the submission tried."""

    def __init__(self, workdir: str, forbidden_paths: Sequence[str], forbidden_modules: Sequence[str]):
        self.workdir = os.path.realpath(workdir)
        needed = (self.workdir, os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix))
        # a forbidden folder that contains what the worker needs (e.g. /tmp) cannot be refused whole
        self.forbidden_paths = tuple(
            path
            for path in (os.path.realpath(p) for p in forbidden_paths)
            if not any(self._under(n, (path,)) for n in needed)
        )
        self.forbidden_modules = frozenset(forbidden_modules)
        self.allowed_write = (self.workdir, "/dev/null")
        self.attempts: list[str] = []
        self.active = False

    def note(self, what: str) -> None:
        if len(self.attempts) < 50 and what not in self.attempts:
            self.attempts.append(what)

    def _under(self, path: str, roots: Sequence[str]) -> bool:
        return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)

    def _resolve(self, path: Any) -> str | None:
        if isinstance(path, int):
            return None  # an already open file descriptor
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str):
            return None
        return os.path.realpath(os.path.join(self.workdir, path) if not os.path.isabs(path) else path)

    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        """The audit hook: raise PermissionError for anything the sandbox refuses."""
        if not self.active:
            return
        if event == "open":
            path = self._resolve(args[0])
            if path is None:
                return
            mode = args[1] if len(args) > 1 and isinstance(args[1], str) else "r"
            flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
            writing = any(c in mode for c in "wax+") or bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            self._check_path(path, writing)
        elif event in FS_WRITE_EVENTS:
            for i in FS_WRITE_EVENTS[event]:
                if i < len(args):
                    path = self._resolve(args[i])
                    if path is not None:
                        self._check_path(path, True)
        elif event in PROCESS_EVENTS:
            self.note("start a process")
            raise PermissionError("starting processes is disabled in the grader's sandbox")
        elif event.startswith("socket.") and event not in ("socket.gethostname", "socket.sethostname"):
            self.note("open a network connection")
            raise PermissionError("network access is disabled in the grader's sandbox")

    def _check_path(self, path: str, writing: bool) -> None:
        if self._under(path, self.forbidden_paths):
            self.note(f"access {path}")
            raise PermissionError(f"access to {path} is not allowed in the grader's sandbox")
        if (
            path.startswith("/proc/")
            and path.split("/")[2].isdigit()
            and int(path.split("/")[2]) != os.getpid()
        ):
            self.note("read another process's /proc entry")
            raise PermissionError("other processes are not visible in the grader's sandbox")
        if writing and not self._under(path, self.allowed_write):
            self.note(f"write {path}")
            raise PermissionError(f"writing {path} is not allowed: only the working directory is writable")


class ImportBlocker(importlib.abc.MetaPathFinder):
    """A ``sys.meta_path`` finder that refuses the grader's own packages."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname.partition(".")[0] in self.guard.forbidden_modules:
            self.guard.note(f"import {fullname}")
            raise ModuleNotFoundError(f"No module named {fullname!r} (not available in the grader's sandbox)")
        return None


# ---------------------------------------------------------------------------------------------
# lock-down
# ---------------------------------------------------------------------------------------------


def _count_user_processes(uid: int) -> int:
    """Threads (tasks) owned by real uid ``uid``: what ``RLIMIT_NPROC`` counts."""
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
        except OSError:
            continue
        if int(fields.get("Uid", "-1 0").split()[0]) == uid:
            count += int(fields.get("Threads", "1").strip())
    return count


def _address_space_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


PR_SET_KEEPCAPS = 8
PR_SET_CHILD_SUBREAPER = 36
CAP_DAC_READ_SEARCH = 2
LINUX_CAPABILITY_VERSION_3 = 0x20080522


def drop_privileges(uid: int, gid: int) -> None:
    """Become ``uid``/``gid``, keeping only ``CAP_DAC_READ_SEARCH`` (read any file).

    The uid change makes ``RLIMIT_NPROC`` count (root is exempt from it) and makes the grader's
    files unwritable; the one capability kept lets the worker read the Python installation even
    when it lives somewhere only root can read (e.g. ``/root/.pyenv``). Reading the grader's own
    files is refused by the audit hook instead.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    header = _CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    data[0].effective = data[0].permitted = 1 << CAP_DAC_READ_SEARCH
    libc.capset(ctypes.byref(header), ctypes.byref(data))  # failing leaves no capability at all
    libc.prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0)


def lock_down(config: dict[str, Any]) -> list[str]:
    """Apply the session, network, rlimit, uid, environment and directory limits; return notes.

    ``config`` keys: ``workdir``, ``env``, ``uid``/``gid`` (or None), ``network`` (bool) and
    ``limits`` with ``cpu_seconds``, ``memory_mb``, ``max_processes``, ``file_size_mb``,
    ``open_files``. Returns which protections could not be applied (e.g. no network namespace).
    """
    notes = []
    if os.getsid(0) != os.getpid():
        os.setsid()
    if not config.get("network", False):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNET) != 0:
            notes.append(
                "no private network namespace (unshare failed); sockets are refused by the audit hook"
            )
    limits = config["limits"]
    uid = config.get("uid")
    base_processes = _count_user_processes(uid if uid is not None else os.getuid())
    if uid is not None and os.getuid() == 0:
        base_processes = _count_user_processes(uid)
    memory = _address_space_bytes() + int(limits["memory_mb"]) * 2**20
    settings = [
        (resource.RLIMIT_CPU, int(limits["cpu_seconds"])),
        (resource.RLIMIT_AS, memory),
        (resource.RLIMIT_NPROC, base_processes + int(limits["max_processes"])),
        (resource.RLIMIT_FSIZE, int(limits["file_size_mb"]) * 2**20),
        (resource.RLIMIT_NOFILE, int(limits["open_files"])),
        (resource.RLIMIT_CORE, 0),
    ]
    for which, value in settings:
        _soft, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        # the hard CPU limit is a little above the soft one: SIGXCPU first, then SIGKILL
        hard_value = value + 2 if which == resource.RLIMIT_CPU else value
        if hard != resource.RLIM_INFINITY:
            hard_value = min(hard_value, hard)
        resource.setrlimit(which, (value, hard_value))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # over-size writes fail with EFBIG, no kill
    os.chdir(config["workdir"])
    os.umask(0o077)
    if uid is not None and os.getuid() == 0:
        drop_privileges(uid, config.get("gid", uid))
    elif os.getuid() == 0:
        notes.append("running as root: RLIMIT_NPROC is not enforced")
    os.environ.clear()
    os.environ.update(config["env"])
    return notes


def install_guards(config: dict[str, Any]) -> Guard:
    """The import blocker and the audit hook; active from the first student cell on."""
    guard = Guard(config["workdir"], config.get("forbidden_paths", ()), config.get("forbidden_modules", ()))
    for name in list(sys.modules):
        if name.partition(".")[0] in guard.forbidden_modules:
            del sys.modules[name]
    sys.meta_path.insert(0, ImportBlocker(guard))
    sys.addaudithook(guard.audit)
    return guard


# ---------------------------------------------------------------------------------------------
# serving requests
# ---------------------------------------------------------------------------------------------


def _message(exc: BaseException) -> str:
    try:
        text = str(exc)
    except BaseException:  # a student's exception whose __str__ raises
        text = "<exception message could not be printed>"
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 3] + "..."


def _error(exc: BaseException) -> dict[str, str]:
    if isinstance(exc, Deadline):
        return {"type": "Timeout", "message": str(exc)}
    return {"type": type(exc).__name__, "message": _message(exc)}


def _on_alarm(signum: int, frame: Any) -> None:
    raise Deadline("ran past its time limit")


def _timed(seconds: float, func: Callable[[], Any]) -> Any:
    """``func()`` with an interval timer that raises :class:`Deadline` after ``seconds``."""
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(float(seconds), 0.001))
    try:
        return func()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


class Server:
    """The request loop of one worker: a namespace for the student's cells and the probes."""

    def __init__(self, wire: types.ModuleType, req: io.BufferedReader, resp: io.BufferedWriter, guard: Guard):
        self.wire = wire
        self.req = req
        self.resp = resp
        self.guard = guard
        self.namespace: dict[str, Any] = {
            "__name__": "__main__",
            "__builtins__": builtins,
            "display": lambda *args, **kwargs: None,
        }
        self.probes: dict[str, Callable[..., Any]] = {}

    def serve(self) -> None:
        while True:
            try:
                header, blobs = self.wire.read_frame(self.req)
            except EOFError:
                return
            op = header.get("op")
            if op == "exit":
                return
            reply, out_blobs = self.handle(op, header, blobs)
            reply["id"] = header.get("id")  # the grader matches answers to requests
            self.wire.write_frame(self.resp, reply, out_blobs)

    def handle(
        self, op: Any, header: dict[str, Any], blobs: list[bytes]
    ) -> tuple[dict[str, Any], list[bytes]]:
        if op == "run_cell":
            return self.run_cell(str(header["source"]), int(header["index"]), float(header["timeout"])), []
        if op == "load_probes":
            module: dict[str, Any] = {"__name__": "autograder_probes", "__builtins__": builtins}
            exec(compile(str(header["source"]), "<probes>", "exec"), module)
            self.probes = dict(module.get("PROBES", {}))
            return {"ok": True}, []
        if op == "call":
            return self.call(header, blobs)
        if op == "report":
            return {"ok": True, "attempts": list(self.guard.attempts)}, []
        return {"ok": False, "error": {"type": "ProtocolError", "message": f"unknown op {op!r}"}}, []

    def run_cell(self, source: str, index: int, timeout: float) -> dict[str, Any]:
        start = time.monotonic()
        try:
            code = compile(source, f"<cell {index}>", "exec")
            _timed(timeout, lambda: exec(code, self.namespace))
            error = None
        except BaseException as exc:  # the student's code may raise anything, SystemExit included
            error = _error(exc)
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
        return {"ok": True, "error": error, "seconds": time.monotonic() - start}

    def call(self, header: dict[str, Any], blobs: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:
        target = str(header["target"])
        probe = header.get("probe")
        if target not in self.namespace:
            return {
                "ok": False,
                "error": {"type": "NameError", "message": f"name {target!r} is not defined"},
            }, []
        obj = self.namespace[target]
        if probe is not None:
            if probe not in self.probes:
                return {
                    "ok": False,
                    "error": {"type": "ProtocolError", "message": f"unknown probe {probe!r}"},
                }, []
            func: Callable[..., Any] = self.probes[probe]
        else:
            func = obj
        try:
            args, kwargs = self.wire.decode(header["value"], blobs)
            call_args = (obj, *args) if probe is not None else tuple(args)
            result = _timed(float(header["timeout"]), lambda: func(*call_args, **kwargs))
        except BaseException as exc:  # the student's code may raise anything
            return {"ok": False, "error": _error(exc)}, []
        try:
            tree, out_blobs = self.wire.encode(result)
        except BaseException as exc:
            return {"ok": False, "error": _error(exc)}, []
        return {"ok": True, "value": tree}, out_blobs


def _preload(modules: Sequence[str]) -> None:
    for name in modules:
        with contextlib.suppress(Exception):
            __import__(name)
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        torch.set_num_threads(1)


def main(wire: types.ModuleType, config: dict[str, Any], req_fd: int, resp_fd: int) -> None:
    """Serve one submission: lock down, guard, then answer requests until ``exit`` or EOF."""
    # The protocol lives on high descriptors; stdin is /dev/null for the student.
    req_fd, resp_fd = os.dup(req_fd), os.dup(resp_fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    for fd in config.get("close_fds", []):
        with contextlib.suppress(OSError):
            os.close(fd)
    _preload(config.get("preload", ()))
    lock_down(config)
    guard = install_guards(config)
    sys.path.insert(0, config["workdir"])  # like a kernel started in the notebook's folder
    req = os.fdopen(req_fd, "rb")
    resp = os.fdopen(resp_fd, "wb")
    server = Server(wire, req, resp, guard)
    wire.write_frame(resp, {"ok": True, "ready": True, "pid": os.getpid()})
    guard.active = True
    server.serve()
    sys.stdout.flush()
    os._exit(0)


def zygote(wire: types.ModuleType, config: dict[str, Any], ctrl_fd: int) -> None:
    """A pre-warmed parent: import the heavy modules once, then fork one worker per request.

    Requests arrive on the ``SOCK_SEQPACKET`` socket ``ctrl_fd`` as JSON with three descriptors
    (requests in, responses out, student output); each child calls :func:`main`. A ``wait``
    request reaps a child and reports how it ended.
    """
    import json
    import select
    import socket

    _preload(config.get("preload", ()))
    # Children share the imported modules copy-on-write; keep the garbage collector from touching
    # (and so copying) them in every child.
    gc.collect()
    gc.freeze()
    # Orphans of a worker (a process bomb's children) are re-parented here and reaped below.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    ctrl = socket.socket(fileno=ctrl_fd)
    workers: set[int] = set()
    ended: dict[int, int] = {}

    def reap_all() -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in workers:
                ended[pid] = os.waitstatus_to_exitcode(status)

    while True:
        ready, _, _ = select.select([ctrl], [], [], 0.2)
        reap_all()
        if not ready:
            continue
        try:
            data, fds, _flags, _addr = socket.recv_fds(ctrl, 1 << 20, 3)
        except OSError:
            return
        if not data:
            return
        request = json.loads(data.decode("utf-8"))
        if request["op"] == "spawn":
            pid = os.fork()
            if pid == 0:
                try:
                    ctrl.close()
                    req_fd, resp_fd, out_fd = fds
                    os.dup2(out_fd, 1)
                    os.dup2(out_fd, 2)
                    os.close(out_fd)
                    main(wire, request["config"], req_fd, resp_fd)
                finally:
                    os._exit(70)
            workers.add(pid)
            for fd in fds:
                os.close(fd)
            ctrl.send(json.dumps({"pid": pid}).encode())
        elif request["op"] == "wait":
            pid = int(request["pid"])
            if pid not in ended and pid in workers:
                try:
                    _, status = os.waitpid(pid, 0)
                    ended[pid] = os.waitstatus_to_exitcode(status)
                except ChildProcessError:
                    pass
            workers.discard(pid)
            ctrl.send(json.dumps({"exit": ended.pop(pid, None)}).encode())
        elif request["op"] == "exit":
            return
