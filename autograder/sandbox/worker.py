r"""The sandboxed side: the zygote, the per-submission namespaces, and the worker's request loop.

This module runs in *separate, locked-down Python processes*, never in the grader. The grader
(:mod:`autograder.sandbox.zygote`) starts ``python -I -S`` (isolated mode, no ``site``: no ``.pth``
processing, no user site, no current directory on ``sys.path``) -- at the ``namespaces`` level inside
bubblewrap -- and sends a boot message with this file's source, the wire protocol's source and a
JSON config; the boot code calls :func:`zygote`. It therefore imports only the standard library at
module level (numpy lazily, through the wire module).

The **zygote** imports the heavy modules (numpy, matplotlib, torch) once and forks one worker per
submission. What a forked worker does before the first student cell depends on the isolation level
(see :mod:`autograder.sandbox.isolation`):

``namespaces`` (the zygote already lives in bubblewrap's user, mount, PID, network, IPC and UTS
namespaces, where the only files are a read-only Python installation, the data sets and empty
scratch folders):

1. the forked child creates its *own* user namespace (its uid mapped to itself), then new mount,
   PID, network, IPC and UTS namespaces (:func:`enter_namespaces`); the mounts it inherits are locked
   (they came from a more privileged namespace), so nothing it does can reveal what they hide;
2. it mounts one size-limited ``tmpfs`` and binds it on the working folder ``/home/student``,
   ``/tmp`` and ``/dev/shm`` (a full disk is this submission's problem only);
3. it forks the worker, which is PID 1 of the new PID namespace: killing it kills every process the
   submission started, however they detached (double forks, ``setsid``); it mounts its own ``/proc``
   (only the submission's processes are visible) and starts a new session;

``uid`` (the grader is root, no user namespaces): a new session, a private network namespace when
the kernel allows it, and a dedicated unprivileged uid/gid with no supplementary groups;

``none``: a new session only.

Then, at every level (:func:`lock_down`): the worker joins its cgroup (descriptors of the cgroup's
``cgroup.procs`` opened by the grader, so the limits count the whole process tree), sets rlimits,
drops every capability (bounding set included), sets ``no_new_privs`` and loads its seccomp filter
(compiled by the grader with libseccomp: no ``ptrace``, ``process_vm_readv``, ``mount``, ``unshare``,
``keyctl``, ``bpf``..., and with no cgroup no new processes at all), scrubs its environment and
changes into its private working folder. At the ``uid`` and ``none`` levels, where no mount
namespace hides the grader's files, an import blocker and a :pep:`578` audit hook add a (bypassable)
second line; at ``namespaces`` only the import blocker stays, to record an attempt to import the
reference.

Cells run the way Jupyter runs them: through an IPython ``InteractiveShell`` made once in the zygote
(:func:`make_shell`), so IPython syntax anywhere in a cell (``t = %timeit -o f()``, ``np.pad?``,
``%time`` indented in a loop, ``%%time``) is transformed by IPython itself and the common magics
behave as in Jupyter. What would start another program or reach outside the worker -- ``!cmd``,
``x = !cmd``, ``%%bash`` and the other script magics, ``%pip``/``%conda``, ``%%writefile``, ``%store``,
``%load``, ``%edit``, ``%debug`` -- is refused with a note naming the cell, and the rest of the cell
runs; ``%matplotlib`` keeps the non-interactive backend. Without IPython, cells run as plain Python.

Requests are frames (:mod:`autograder.sandbox.wire`) with an ``op``:

- ``write_files``: ``names`` + blobs: the assignment's helper modules, written to the working folder;
- ``run_cell``: ``source``, ``index``, ``timeout`` -> ``{"ok": true, "error": null | {...}}``;
  an exception is recorded and the grader carries on with the next cell, like nbgrader;
- ``load_probes``: ``source`` of :mod:`autograder.probes`, executed in its own namespace;
- ``call``: ``target``, ``probe``, ``timeout`` and the encoded ``[args, kwargs]`` ->
  the encoded result or ``{"ok": false, "error": {"type": ..., "message": ...}}``;
- ``report``: what the submission tried that the guards refused (imports, files, network, ...) and
  the IPython commands that were not run;
- ``exit``.
"""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import errno
import gc
import importlib.abc
import io
import os
import re
import resource
import signal
import sys
import time
import types
from collections.abc import Callable, Sequence
from typing import Any

#: Longest exception message sent back to the grader (characters).
MAX_MESSAGE_CHARS = 2000
#: Exit status of a worker whose sandbox could not be set up (the reason is sent as a frame).
SETUP_FAILED = 72

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_SECCOMP = 22
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SECCOMP_MODE_FILTER = 2
LINUX_CAPABILITY_VERSION_3 = 0x20080522

#: Audit events that start a new process (refused at the ``uid`` and ``none`` levels).
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


#: IPython magics refused when grading (they run other programs or reach outside the worker).
REFUSED_MAGICS = {
    "line": ("pip", "conda", "mamba", "micromamba", "uv", "system", "sx", "sc", "store", "save", "edit",
             "notebook", "logstart", "load", "loadpy", "debug", "pdb", "gui", "qtconsole", "connect_info",
             "killbgscripts", "bookmark", "sql"),
    "cell": ("bash", "sh", "script", "perl", "ruby", "python", "python2", "python3", "pypy", "writefile",
             "file", "debug", "sql"),
}  # fmt: skip
#: IPython magics that do nothing when grading (the plots' backend stays non-interactive).
QUIET_MAGICS = ("matplotlib",)


class SetupError(Exception):
    """The sandbox of a worker could not be set up (a kernel feature missing or refused)."""


class Deadline(BaseException):
    """Raised inside student code by the worker's timer (a BaseException, like KeyboardInterrupt)."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise SetupError(f"{what} failed: {os.strerror(code)} (errno {errno.errorcode.get(code, code)})")


def _write_text(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# namespaces (level "namespaces")
# ---------------------------------------------------------------------------------------------


def enter_namespaces(config: dict[str, Any]) -> None:
    """Own user, mount, PID, network, IPC and UTS namespaces, and a size-limited private tmpfs.

    Runs in the child forked from the zygote, before the worker (PID 1) is forked. The new user
    namespace maps this process's uid and gid to themselves; inside it the process holds every
    capability *of that namespace only*, which the worker drops before any student code runs.
    """
    libc = _libc()
    uid, gid = os.getuid(), os.getgid()
    _check(libc.unshare(CLONE_NEWUSER), "creating a user namespace (unshare CLONE_NEWUSER)")
    _write_text("/proc/self/setgroups", "deny")
    _write_text("/proc/self/uid_map", f"{uid} {uid} 1")
    _write_text("/proc/self/gid_map", f"{gid} {gid} 1")
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    _check(libc.unshare(flags), "creating mount, PID, network, IPC and UTS namespaces")
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "making the mounts private")
    scratch = config["scratch"].encode()
    size = f"size={int(config['disk_mb'])}m,nr_inodes=65536,mode=0755".encode()
    _check(libc.mount(b"tmpfs", scratch, b"tmpfs", MS_NOSUID | MS_NODEV, size), "mounting the tmpfs")
    for name, target in (("home", config["workdir"]), ("tmp", "/tmp"), ("shm", "/dev/shm")):
        source = os.path.join(config["scratch"], name)
        os.mkdir(source, 0o700 if name == "home" else 0o1777)
        os.chmod(source, 0o700 if name == "home" else 0o1777)
        _check(libc.mount(source.encode(), target.encode(), None, MS_BIND, None), f"binding {target}")
    # the tmpfs stays alive through its three binds; its own mount point disappears
    _check(libc.umount2(scratch, MNT_DETACH), "detaching the scratch mount")


def become_init() -> None:
    """In the worker, PID 1 of its PID namespace: die with the parent, own ``/proc``, own session."""
    libc = _libc()
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the parent is outside: getppid() is 0
    _check(
        libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None),
        "mounting /proc for the PID namespace",
    )
    libc.sethostname(b"sandbox", 7)
    os.setsid()


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def drop_bounding_set() -> None:
    """Empty the capability bounding set (needs CAP_SETPCAP: done while the process still has it):
    nothing the process executes can ever gain a capability."""
    libc = _libc()
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() != errno.EINVAL:
            raise SetupError(f"dropping capability {cap} from the bounding set failed")


def clear_capabilities() -> None:
    """No capability left: ambient, effective, permitted and inheritable sets cleared."""
    libc = _libc()
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = _CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(libc.capset(ctypes.byref(header), ctypes.byref(data)), "clearing the capabilities")


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def load_seccomp(program: bytes) -> None:
    """Load a seccomp BPF program (``struct sock_filter`` array, as libseccomp exports it)."""
    libc = _libc()
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "setting no_new_privs")
    if not program:
        return
    count = len(program) // 8
    filters = (_SockFilter * count).from_buffer_copy(program)
    prog = _SockFprog(count, ctypes.cast(filters, ctypes.POINTER(_SockFilter)))
    _check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0), "loading seccomp")


# ---------------------------------------------------------------------------------------------
# guards for the levels without a mount namespace (defence in depth, bypassable)
# ---------------------------------------------------------------------------------------------


class Guard:
    """What the worker refuses, and a record of what the submission tried."""

    def __init__(
        self,
        workdir: str,
        forbidden_paths: Sequence[str],
        forbidden_modules: Sequence[str],
        audit: bool,
    ):
        self.workdir = os.path.realpath(workdir)
        needed = (self.workdir, os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix))
        # a forbidden folder that contains what the worker needs (e.g. /tmp) cannot be refused whole
        self.forbidden_paths = tuple(
            path
            for path in (os.path.realpath(p) for p in forbidden_paths)
            if not any(self._under(n, (path,)) for n in needed)
        )
        self.forbidden_modules = frozenset(forbidden_modules)
        # the installed packages (numpy, IPython's lazily imported modules...) stay readable even
        # when a forbidden folder holds them (a virtualenv inside the course checkout)
        self.packages = tuple(
            os.path.realpath(p) for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages")
        )
        self.allowed_write = (self.workdir, "/dev/null")
        self.attempts: list[str] = []
        self.audit_files = audit
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
        return os.path.realpath(os.path.join(os.getcwd(), path) if not os.path.isabs(path) else path)

    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        """The audit hook: raise PermissionError for anything the sandbox refuses."""
        if not self.active or not self.audit_files:
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

    def _package_file(self, path: str) -> bool:
        """A file of an installed package other than the grader's own (``site-packages/numpy/...``)."""
        for site in self.packages:
            if self._under(path, (site,)) and path != site:
                top = path[len(site) + 1 :].split("/")[0]
                name = top.split(".")[0].split("-")[0].lower()
                return name not in self.forbidden_modules and not name.startswith("__editable__")
        return False

    def _check_path(self, path: str, writing: bool) -> None:
        if self._under(path, self.forbidden_paths) and (writing or not self._package_file(path)):
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
    """A ``sys.meta_path`` finder that refuses the grader's own packages (and records the attempt)."""

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


def _address_space_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _count_tasks(uid: int) -> int:
    """Threads (tasks) owned by real uid ``uid`` that this process can see: what RLIMIT_NPROC counts."""
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


def set_rlimits(limits: dict[str, Any], base_tasks: int) -> None:
    """CPU seconds, address space (current + budget), tasks, file size, open files, no core dumps."""
    memory = _address_space_bytes() + int(limits["memory_mb"]) * 2**20
    settings = [
        (resource.RLIMIT_CPU, int(limits["cpu_seconds"])),
        (resource.RLIMIT_AS, memory),
        (resource.RLIMIT_NPROC, base_tasks + int(limits["max_processes"])),
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


def lock_down(config: dict[str, Any], cgroup_fds: Sequence[int]) -> None:
    """Everything between the fork and the first student cell (see the module docstring)."""
    level = config["level"]
    for fd in cgroup_fds:  # join the submission's cgroup(s): limits count the whole tree from here on
        try:
            os.write(fd, b"0")
        except OSError as exc:
            raise SetupError(f"joining the submission's cgroup failed: {exc.strerror}") from None
        finally:
            os.close(fd)
    if level == "namespaces":
        base_tasks = 2  # this worker and its parent are the only tasks of the new user namespace
    else:
        if os.getsid(0) != os.getpid():
            os.setsid()
        if level == "uid" and not config.get("network", False):
            with contextlib.suppress(SetupError):
                _check(_libc().unshare(CLONE_NEWNET), "unshare CLONE_NEWNET")
        uid = config.get("uid")
        base_tasks = _count_tasks(uid if uid is not None else os.getuid())
    set_rlimits(config["limits"], base_tasks)
    if level in ("namespaces", "uid"):
        drop_bounding_set()
    if level == "uid":
        uid, gid = int(config["uid"]), int(config["gid"])
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)  # from root: every capability is gone with the uid change
    if level in ("namespaces", "uid"):
        clear_capabilities()
    program = bytes.fromhex(config.get("seccomp", ""))
    if level != "none" or program:
        load_seccomp(program)
    os.chdir(config["workdir"])
    os.umask(0o077)
    os.environ.clear()
    os.environ.update(config["env"])


def install_guards(config: dict[str, Any]) -> Guard:
    """The import blocker (every level) and the audit hook (levels without a mount namespace)."""
    guard = Guard(
        config["workdir"],
        config.get("forbidden_paths", ()),
        config.get("forbidden_modules", ()),
        audit=config["level"] != "namespaces",
    )
    for name in list(sys.modules):
        if name.partition(".")[0] in guard.forbidden_modules:
            del sys.modules[name]
    sys.meta_path.insert(0, ImportBlocker(guard))
    if guard.audit_files:
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


#: IPython's name for a cell's code (``<ipython-input-N-hash>``); the grader says ``<cell N>``.
_IPYTHON_CELL = re.compile(r"<ipython-input-(\d+)-[0-9a-f]+>")


def _error(exc: BaseException) -> dict[str, str]:
    if isinstance(exc, Deadline):
        return {"type": "Timeout", "message": str(exc)}
    return {"type": type(exc).__name__, "message": _IPYTHON_CELL.sub(r"<cell \1>", _message(exc))}


#: On a busy machine a time limit stretches by the time the code waited for a CPU, up to this many
#: times the limit on the wall clock (the grader's own deadline allows as much, plus its grace).
STRETCH = 4.0

#: The worker's main thread's ``/proc/thread-self/schedstat``, opened before the guard is on.
_SCHEDSTAT: list[int] = []


def open_schedstat() -> None:
    """Keep a descriptor of the main thread's scheduler statistics (no-op without ``/proc``)."""
    with contextlib.suppress(OSError):
        _SCHEDSTAT[:] = [os.open("/proc/thread-self/schedstat", os.O_RDONLY | os.O_CLOEXEC)]


def run_delay() -> float | None:
    """Seconds the main thread has waited on a run queue so far: the second field of the kernel's
    ``schedstat`` ("time spent waiting on a runqueue", Documentation/scheduler/sched-stats.rst),
    or None when it cannot be read."""
    try:
        return int(os.pread(_SCHEDSTAT[0], 128, 0).split()[1]) / 1e9
    except (IndexError, OSError, ValueError):
        return None


class _Timer:
    """A time limit that counts the time code runs or sleeps, not the time it waits for a CPU.

    The wall-clock interval timer fires after ``seconds``; the handler then subtracts the time
    the main thread spent waiting on a run queue since the start and re-arms for what is left, up
    to :data:`STRETCH` times ``seconds`` in all. On an idle machine this is the wall clock; on a
    busy one (other submissions, other jobs) the same code gets the same verdict.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = max(float(seconds), 0.001)
        self.start = time.monotonic()
        self.delay = run_delay()

    def on_alarm(self, signum: int, frame: Any) -> None:
        elapsed = time.monotonic() - self.start
        now = run_delay()
        waited = now - self.delay if now is not None and self.delay is not None else 0.0
        left = min(self.seconds - (elapsed - waited), self.seconds * STRETCH - elapsed)
        if left > 0.001:
            signal.setitimer(signal.ITIMER_REAL, left)
            return
        raise Deadline("ran past its time limit")


def _timed(seconds: float, func: Callable[[], Any]) -> Any:
    """``func()`` under a :class:`_Timer` that raises :class:`Deadline` after ``seconds``."""
    timer = _Timer(seconds)
    signal.signal(signal.SIGALRM, timer.on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timer.seconds)
    try:
        return func()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


#: The zygote's IPython shell (made once, before any fork; every worker gets a pristine copy).
_SHELL: list[Any] = []


def make_shell() -> Any:
    """An IPython ``InteractiveShell`` for running cells as Jupyter does, or None without IPython."""
    try:
        from IPython.core.interactiveshell import InteractiveShell
        from traitlets.config import Config
    except Exception:  # IPython is not installed: cells run as plain Python
        return None
    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "NoColor"
    config.InteractiveShell.cache_size = 0
    config.InteractiveShell.autocall = 0
    config.InteractiveShell.xmode = "Plain"
    with contextlib.redirect_stderr(io.StringIO()):
        shell = InteractiveShell.instance(config=config)
    return shell


class Server:
    """The request loop of one worker: a namespace for the student's cells and the probes."""

    def __init__(self, wire: types.ModuleType, req: io.BufferedReader, resp: io.BufferedWriter, guard: Guard):
        self.wire = wire
        self.req = req
        self.resp = resp
        self.guard = guard
        self.shell: Any = _SHELL[0] if _SHELL else None
        self.cell_index = -1
        self.cell_name = "cell 0"  # what notes call the running cell (from 1, as JupyterLab numbers them)
        self.notes: list[str] = []
        if self.shell is not None:
            self.namespace: dict[str, Any] = self.shell.user_ns
            self._refuse_outside_world()
        else:
            self.namespace = {
                "__name__": "__main__",
                "__builtins__": builtins,
                "display": lambda *args, **kwargs: None,
            }
        self.probes: dict[str, Callable[..., Any]] = {}

    def note(self, what: str) -> None:
        text = f"{self.cell_name}: {what}"
        if len(self.notes) < 30 and text not in self.notes:
            self.notes.append(text)

    def _refuse_outside_world(self) -> None:
        """Shell commands and the magics of :data:`REFUSED_MAGICS` record a note instead of running."""
        shell = self.shell

        def command(cmd: Any) -> None:
            self.note(f"`!{str(cmd)[:80]}` was not run (shell commands are not run when grading)")

        def output(cmd: Any, *args: Any, **kwargs: Any) -> Any:
            command(cmd)
            from IPython.utils.text import SList

            return SList()

        shell.system = shell.system_piped = shell.system_raw = command
        shell.getoutput = output
        for kind, names in REFUSED_MAGICS.items():
            for name in names:
                shell.register_magic_function(self._refused(kind, name), magic_kind=kind, magic_name=name)
        for name in QUIET_MAGICS:
            shell.register_magic_function(lambda line="": None, magic_kind="line", magic_name=name)

    def _refused(self, kind: str, name: str) -> Callable[..., None]:
        prefix = "%%" if kind == "cell" else "%"

        def refused(line: str = "", cell: str | None = None) -> None:
            magic = f"{prefix}{name} {line}".rstrip()[:80]
            self.note(f"`{magic}` was not run (it would run a program or write outside the working folder)")

        return refused

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
            index = int(header["index"])
            self.cell_name = str(header.get("name") or f"cell {index + 1}")[:200]
            return self.run_cell(str(header["source"]), index, float(header["timeout"])), []
        if op == "write_files":
            for name, data in zip(header.get("names", []), blobs, strict=False):
                with open(os.path.basename(str(name)), "wb") as handle:
                    handle.write(data)
            return {"ok": True}, []
        if op == "load_probes":
            module: dict[str, Any] = {"__name__": "autograder_probes", "__builtins__": builtins}
            exec(compile(str(header["source"]), "<probes>", "exec"), module)
            self.probes = dict(module.get("PROBES", {}))
            return {"ok": True}, []
        if op == "call":
            return self.call(header, blobs)
        if op == "report":
            return {"ok": True, "attempts": list(self.guard.attempts), "notes": list(self.notes)}, []
        return {"ok": False, "error": {"type": "ProtocolError", "message": f"unknown op {op!r}"}}, []

    def run_cell(self, source: str, index: int, timeout: float) -> dict[str, Any]:
        start = time.monotonic()
        self.cell_index = index
        try:
            if self.shell is not None:
                self.shell.execution_count = index + 1  # IPython names the code <ipython-input-N-...>
                result = _timed(timeout, lambda: self.shell.run_cell(source, store_history=False))
                failure = result.error_before_exec or result.error_in_exec
                error = None if failure is None else _error(failure)
            else:  # no IPython: its commands become comments, the rest runs as Python
                lines = source.split("\n")
                source = "\n".join("# " + ln if ln.lstrip().startswith(("%", "!")) else ln for ln in lines)
                code = compile(source, f"<cell {index + 1}>", "exec")  # numbered from 1, as JupyterLab
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


def main(
    wire: types.ModuleType, config: dict[str, Any], req_fd: int, resp_fd: int, cgroup_fds: Sequence[int]
) -> None:
    """Serve one submission: lock down, guard, then answer requests until ``exit`` or EOF.

    A sandbox that cannot be set up is reported as a ``setup_error`` frame and exit status
    :data:`SETUP_FAILED`; no student code runs then.
    """
    # The protocol lives on its own descriptors; stdin is /dev/null for the student.
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    resp = os.fdopen(resp_fd, "wb")
    try:
        lock_down(config, cgroup_fds)
        guard = install_guards(config)
    except (SetupError, OSError) as exc:
        wire.write_frame(resp, {"ok": False, "setup_error": str(exc)})
        resp.flush()
        os._exit(SETUP_FAILED)
    sys.path.insert(0, config["workdir"])  # like a kernel started in the notebook's folder
    open_schedstat()
    req = os.fdopen(req_fd, "rb")
    server = Server(wire, req, resp, guard)
    wire.write_frame(resp, {"ok": True, "ready": True})
    guard.active = True
    server.serve()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    os._exit(0)


def start_worker(wire: types.ModuleType, config: dict[str, Any], fds: Sequence[int], report_fd: int) -> None:
    """In the child forked from the zygote: set up the level's isolation and become (or fork) the
    worker. Reports the worker's pid (as the zygote sees it) on ``report_fd``; never returns."""
    req_fd, resp_fd, out_fd, *cgroup_fds = fds
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    os.close(out_fd)
    try:
        if config["level"] == "namespaces":
            enter_namespaces(config)
    except (SetupError, OSError) as exc:
        with os.fdopen(resp_fd, "wb") as resp:
            wire.write_frame(resp, {"ok": False, "setup_error": str(exc)})
        os._exit(SETUP_FAILED)
    if config["level"] != "namespaces":
        os.write(report_fd, str(os.getpid()).encode())
        os.close(report_fd)
        main(wire, config, req_fd, resp_fd, cgroup_fds)
        os._exit(70)
    pid = os.fork()
    if pid == 0:  # PID 1 of the new PID namespace: the worker
        os.close(report_fd)
        try:
            become_init()
        except (SetupError, OSError) as exc:
            with os.fdopen(resp_fd, "wb") as resp:
                wire.write_frame(resp, {"ok": False, "setup_error": str(exc)})
            os._exit(SETUP_FAILED)
        main(wire, config, req_fd, resp_fd, cgroup_fds)
        os._exit(70)
    # the parent stays outside the new PID namespace: it reports the worker and mirrors its exit
    os.write(report_fd, str(pid).encode())
    os.close(report_fd)
    for fd in (req_fd, resp_fd, *cgroup_fds):
        os.close(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            os._exit(0)
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        os.kill(os.getpid(), -code)  # die the same way (the zygote reports the signal)
    os._exit(code)


def self_test(config: dict[str, Any]) -> str | None:
    """Run the level's whole set-up once in a throwaway child; None when it works, else why not."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            if config["level"] == "namespaces":
                enter_namespaces(config)
                inner = os.fork()
                if inner == 0:
                    try:
                        become_init()
                        lock_down(config, [])
                        os._exit(0)
                    except BaseException as exc:  # report everything, the child is disposable
                        os.write(write_fd, str(exc).encode()[:2000])
                        os._exit(1)
                _, status = os.waitpid(inner, 0)
                os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
            lock_down(config, [])
            os._exit(0)
        except BaseException as exc:
            os.write(write_fd, str(exc).encode()[:2000])
            os._exit(1)
    os.close(write_fd)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read_fd, "rb") as reader:
        message = reader.read().decode("utf-8", "replace")
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        return None
    return message or f"the set-up ended with status {code}"


def zygote(wire: types.ModuleType, config: dict[str, Any], ctrl_fd: int) -> None:
    """A pre-warmed parent: import the heavy modules once, then fork one worker per request.

    Requests arrive on the ``SOCK_SEQPACKET`` socket ``ctrl_fd`` as JSON, a ``spawn`` with the
    descriptors of the worker (requests in, responses out, student output, then the cgroup's
    ``cgroup.procs`` files). ``kill`` SIGKILLs a worker (at the ``namespaces`` level its PID
    namespace goes with it), ``wait`` reaps one and reports how it ended. The first message the
    zygote sends says whether the level's set-up works here (:func:`self_test`).
    """
    import json
    import select
    import socket

    ctrl = socket.socket(fileno=ctrl_fd)
    _preload(config.get("preload", ()))
    if config.get("ipython", True):
        shell = make_shell()
        if shell is not None:
            _SHELL.append(shell)
    # Children share the imported modules copy-on-write; keep the garbage collector from touching
    # (and so copying) them in every child.
    gc.collect()
    gc.freeze()
    # Orphans of a worker (at the uid and none levels) are re-parented here and reaped below.
    _libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    problem = self_test(config["test"]) if config.get("test") else None
    ctrl.send(json.dumps({"ready": problem is None, "problem": problem, "pid": os.getpid()}).encode())
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)
    workers: dict[int, int] = {}  # the forked child -> the worker's pid (the same below namespaces)
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
            data, fds, _flags, _addr = socket.recv_fds(ctrl, 1 << 20, 16)
        except OSError:
            return
        if not data:
            return
        request = json.loads(data.decode("utf-8"))
        if request["op"] == "spawn":
            report_r, report_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                try:
                    ctrl.close()
                    os.close(report_r)
                    start_worker(wire, request["config"], fds, report_w)
                finally:
                    os._exit(70)
            os.close(report_w)
            for fd in fds:
                os.close(fd)
            ready_r, _, _ = select.select([report_r], [], [], 10.0)
            text = os.read(report_r, 64) if ready_r else b""
            os.close(report_r)
            worker = int(text) if text.strip().isdigit() else pid
            workers[pid] = worker
            ctrl.send(json.dumps({"pid": pid}).encode())
        elif request["op"] == "kill":
            # the worker itself: at namespaces its parent then ends the way it did (SIGKILL, or the
            # signal of an earlier crash), which is what "wait" reports
            pid = int(request["pid"])
            if pid in workers:
                with contextlib.suppress(OSError):
                    os.kill(workers[pid], signal.SIGKILL)
            ctrl.send(b'{"ok": true}')
        elif request["op"] == "wait":
            pid = int(request["pid"])
            if pid not in ended and pid in workers:
                try:
                    _, status = os.waitpid(pid, 0)
                    ended[pid] = os.waitstatus_to_exitcode(status)
                except ChildProcessError:
                    pass
            workers.pop(pid, None)
            ctrl.send(json.dumps({"exit": ended.pop(pid, None)}).encode())
        elif request["op"] == "exit":
            return
