r"""The grader's handle on a zygote: a pre-warmed worker parent inside the session's sandbox.

A zygote is ``python -I -S`` (started through :mod:`autograder.sandbox.launcher` and bubblewrap at
the ``namespaces`` level) that imports numpy, matplotlib (and torch when the assignment uses it)
once and forks a fresh worker per submission in milliseconds (see
:func:`autograder.sandbox.worker.zygote`). It runs no student code itself; its first message says
whether the level's whole set-up (the per-worker namespaces, capabilities, seccomp) works here.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autograder.sandbox.session import Session

#: Seconds a new zygote may take to import its modules and report ready.
BOOT_TIMEOUT = 120.0
#: Seconds the zygote may take to answer a request.
ANSWER_TIMEOUT = 30.0

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
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.path.extend(message["sys_path"])
    sys.dont_write_bytecode = True
    modules = {}
    for name in ("wire", "worker"):
        module = types.ModuleType("_autograder_" + name)
        sys.modules[module.__name__] = module
        exec(compile(message[name], "<autograder." + name + ">", "exec"), module.__dict__)
        modules[name] = module
    config = message["config"]
    message.clear()  # the modules' text and the session's paths: not left for gc.get_objects() to find
    del message
    modules["worker"].zygote(modules["wire"], config, int(sys.argv[1]))
_boot()
"""


class ZygoteFailed(RuntimeError):
    """The zygote did not start, or its self-test showed that the isolation level does not work."""


def _source(module: str) -> str:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).read_text(encoding="utf-8")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class Zygote:
    """A pre-warmed worker parent of ``session`` that imported ``preload`` once.

    The constructor returns at once (the zygote imports in the background) unless ``wait``; the
    first :meth:`spawn` waits for it to be ready."""

    def __init__(
        self, session: Session, preload: Sequence[str] = ("numpy", "matplotlib.pyplot"), wait: bool = False
    ) -> None:
        self.session = session
        self.preload = tuple(preload)
        self._owner = os.getpid()
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock = parent
        boot_r, boot_w = os.pipe()
        err_r, err_w = os.pipe()
        python = [os.path.realpath(sys.executable), "-I", "-S", "-c", BOOT, str(child.fileno())]
        env = (
            {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
            if session.level == "namespaces"
            else session.zygote_environment()
        )
        try:
            self._proc = subprocess.Popen(
                session.launch_command(python),
                stdin=boot_r,
                stdout=subprocess.DEVNULL,
                stderr=err_w,
                pass_fds=(child.fileno(),),
                env=env,
                cwd="/",
                start_new_session=True,
            )
        finally:
            os.close(boot_r)
            os.close(err_w)
            child.close()
        self._err = err_r
        os.set_blocking(err_r, False)
        config = {"preload": list(self.preload), "test": self._test_config()}
        body = json.dumps(
            {
                "config": config,
                "sys_path": list(session.site_places().values()),
                "wire": _source("autograder.sandbox.wire"),
                "worker": _source("autograder.sandbox.worker"),
            }
        ).encode("utf-8")
        with contextlib.suppress(OSError):  # a zygote that died at once is reported below
            _write_all(boot_w, struct.pack(">I", len(body)) + body)
        os.close(boot_w)
        self._ready = False
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Wait for the zygote's first message: its imports done and the self-test passed.

        Raises :class:`ZygoteFailed` with the reason (bubblewrap's own message when it failed)."""
        if self._ready:
            return
        try:
            hello = json.loads(self._recv(BOOT_TIMEOUT))
        except (ZygoteFailed, ValueError) as exc:
            with contextlib.suppress(subprocess.TimeoutExpired):
                if os.getpid() == self._owner:
                    self._proc.wait(timeout=5)  # bubblewrap's own message is complete once it exited
            said = self._stderr()
            self.close()
            raise ZygoteFailed(f"{exc}{said}") from None
        if not hello.get("ready"):
            self.close()
            raise ZygoteFailed(str(hello.get("problem") or "the sandbox's self-test failed"))
        self._ready = True

    def _test_config(self) -> dict[str, Any]:
        session = self.session
        workdir = session.workdir()
        return session.worker_config(workdir, session.limits, ())

    def _stderr(self) -> str:
        try:
            text = os.read(self._err, 4096).decode("utf-8", "replace").strip()
        except OSError:
            text = ""
        return f" (the sandbox said: {text})" if text else ""

    @property
    def pid(self) -> int:
        """The process the grader started (the launcher/bubblewrap at ``namespaces``)."""
        return int(self._proc.pid)

    def alive(self) -> bool:
        """Whether the zygote still runs (also from a forked grading process, which cannot wait on it)."""
        if os.getpid() == self._owner:
            return self._proc.poll() is None
        try:
            os.kill(self._proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def spawn(self, config: dict[str, Any], fds: Sequence[int]) -> int:
        """Fork a worker with ``config``; ``fds`` = requests in, answers out, output, cgroup files."""
        self.wait_ready()
        socket.send_fds(self._sock, [json.dumps({"op": "spawn", "config": config}).encode()], list(fds))
        return int(json.loads(self._recv(ANSWER_TIMEOUT))["pid"])

    def kill(self, pid: int) -> None:
        """SIGKILL the worker ``pid`` (at ``namespaces``: its whole PID namespace)."""
        self._sock.send(json.dumps({"op": "kill", "pid": pid}).encode())
        self._recv(ANSWER_TIMEOUT)

    def wait(self, pid: int) -> int | None:
        """Reap the (already killed or exited) worker ``pid``; its exit code (-signal if killed)."""
        self._sock.send(json.dumps({"op": "wait", "pid": pid}).encode())
        code = json.loads(self._recv(ANSWER_TIMEOUT))["exit"]
        return None if code is None else int(code)

    def _recv(self, timeout: float) -> bytes:
        try:
            ready, _, _ = select.select([self._sock], [], [], timeout)
            data = self._sock.recv(1 << 16) if ready else b""
        except OSError:
            data = b""
        if not data:
            raise ZygoteFailed("the sandbox's zygote process stopped answering")
        return data

    def close(self) -> None:
        """Stop the zygote (and, with it, anything left in its sandbox). Idempotent."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        with contextlib.suppress(OSError):
            self._sock.send(json.dumps({"op": "exit"}).encode())
        self._sock.close()
        if os.getpid() == self._owner:
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        else:
            with contextlib.suppress(OSError):
                os.kill(self._proc.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.close(self._err)
