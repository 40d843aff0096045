r"""One grading run's sandbox: the isolation level, what the sandbox shows, cgroups and seccomp.

A :class:`Session` is created once per run (the batch grader, the nbgrader preprocessor, the
Gradescope runner) and shared by every zygote and worker of the run. It decides, once:

- the **isolation level** (``namespaces``, ``uid`` or ``none``; see :data:`LEVELS`), checking that
  it really works here (a zygote's self-test), or raising :class:`IsolationUnavailable` with what is
  missing and how to enable it;
- at ``namespaces``, **what the sandbox shows** (:meth:`Session.bwrap_arguments`): the system's
  ``/usr`` (and the ``/bin``, ``/lib``... links), a few files of ``/etc``, the Python installation
  and its site-packages read-only *without* the grader's own packages (``course_lib``,
  ``autograder``, their ``.dist-info``, editable-install finders and ``.pth`` files are covered even
  when installed into the same site-packages), the data sets read-only, and empty scratch folders.
  Anything of the course tree, the output folder or the submissions that happens to lie inside one of
  those is covered by an empty tmpfs. Nothing else exists: no ``/root``, no ``/home`` but the
  worker's own, no shared ``/tmp`` or ``/dev/shm``, no cgroup or sysfs;
- the **cgroups** of the run (:class:`~autograder.sandbox.cgroups.CgroupTree`), or, without them,
  a seccomp filter that forbids new processes;
- the **seccomp** program of the workers (:mod:`autograder.sandbox.seccomp`);
- as root, the **unprivileged uid** the sandbox runs as (100000 + the grader's pid: unique, unused).

:meth:`Session.mechanisms` lists what is in force; every grading record carries it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from autograder.sandbox import cgroups, seccomp
from autograder.sandbox.limits import Limits

#: The isolation levels, strongest first.
LEVELS = ("namespaces", "uid", "none")
#: Modules the sandbox never offers.
FORBIDDEN_MODULES = ("course_lib", "autograder")
#: Workers' uid when the grader is root: BASE_UID + the grader's pid (unique among live graders).
BASE_UID = 100_000
#: The uid and home of the student inside the sandbox.
SANDBOX_UID = 1000
SANDBOX_HOME = "/home/student"
#: Where a worker mounts its tmpfs before binding it (inside its own mount namespace).
SCRATCH = "/run/sandbox"
#: Top-level system folders shown read-only (or re-created as the same symlinks).
SYSTEM_ROOTS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: Files of /etc the Python installation and its libraries may read.
ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/alternatives",
    "/etc/fonts",
    "/etc/mime.types",
)
#: Data sets shown read-only when present (Fashion-MNIST from Debian's package or $FASHION_MNIST_DIR).
DEFAULT_DATA = ("/usr/share/datasets/fashion-mnist",)


class IsolationUnavailable(RuntimeError):
    """The requested isolation level cannot be set up here; the message says what to do."""


def bwrap_path() -> str | None:
    """The bubblewrap executable (``$AUTOGRADER_BWRAP`` or ``bwrap`` on PATH)."""
    configured = os.environ.get("AUTOGRADER_BWRAP")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("bwrap")


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def userns_hints() -> list[str]:
    """What in the kernel's settings keeps unprivileged user namespaces off, with the fix."""
    hints = []
    if _read("/proc/sys/kernel/unprivileged_userns_clone") == "0":
        hints.append(
            "sysctl kernel.unprivileged_userns_clone=0: "
            "enable with `sysctl -w kernel.unprivileged_userns_clone=1`"
        )
    if _read("/proc/sys/user/max_user_namespaces") == "0":
        hints.append(
            "sysctl user.max_user_namespaces=0: enable with `sysctl -w user.max_user_namespaces=15000`"
        )
    if _read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1":
        hints.append(
            "AppArmor restricts unprivileged user namespaces (Ubuntu 23.10+): allow bwrap with an AppArmor "
            "profile (Ubuntu ships one in the bubblewrap package's apparmor profile `bwrap-userns-restrict`) "
            "or `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`"
        )
    return hints


def _traversable(path: str) -> bool:
    """Whether a user other than the owner can reach ``path`` (every parent has o+x)."""
    parts = Path(path).parts
    for i in range(1, len(parts)):
        folder = os.path.join(*parts[:i]) if i > 1 else "/"
        try:
            mode = os.stat(folder).st_mode
        except OSError:
            return False
        if not mode & stat.S_IXOTH:
            return False
    return True


def site_dirs() -> list[str]:
    """This interpreter's site-packages folders (resolved), the only import path the worker gets."""
    dirs: list[str] = []
    for key in ("purelib", "platlib"):
        path = os.path.realpath(sysconfig.get_paths()[key])
        if path not in dirs and os.path.isdir(path):
            dirs.append(path)
    return dirs


def package_dirs(names: Sequence[str] = FORBIDDEN_MODULES) -> list[str]:
    """Where the grader's own packages live."""
    dirs: list[str] = []
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            dirs.extend(str(Path(p).resolve()) for p in spec.submodule_search_locations)
    return dirs


@functools.lru_cache(maxsize=1)
def _forbidden_distributions() -> frozenset[str]:
    names = set()
    mapping = importlib.metadata.packages_distributions()
    for module in FORBIDDEN_MODULES:
        names.update(mapping.get(module, []))
    return frozenset(n.lower().replace("-", "_") for n in names)


def hidden_site_entries(site: str, extra_markers: Iterable[str] = ()) -> list[str]:
    """Entries of the site-packages folder ``site`` the sandbox covers: the grader's packages, their
    distributions' metadata and editable-install hooks, and any ``.pth`` file naming them."""
    dists = _forbidden_distributions()
    markers = [*FORBIDDEN_MODULES, *dists, *extra_markers]
    hidden: list[str] = []
    try:
        entries = sorted(os.listdir(site))
    except OSError:
        return hidden
    for name in entries:
        path = os.path.join(site, name)
        lower = name.lower()
        module = lower.split(".")[0]  # course_lib, course_lib.py, autograder-1.0.dist-info ...
        distribution = lower.split("-")[0].replace(".", "_")  # cnn_course-0.1.0.dist-info
        editable = lower.startswith("__editable__") and any(d in lower.replace("-", "_") for d in dists)
        if module.split("-")[0] in FORBIDDEN_MODULES or distribution in dists or editable:
            hidden.append(path)
        elif name.endswith(".pth"):
            with contextlib.suppress(OSError, UnicodeDecodeError):
                text = Path(path).read_text(encoding="utf-8")
                if any(m and m in text for m in markers):
                    hidden.append(path)
    # their compiled copies: site-packages/__pycache__/<module>.cpython-311.pyc (editable-install finders)
    stems = {os.path.basename(h).split(".")[0] for h in hidden}
    cache = os.path.join(site, "__pycache__")
    with contextlib.suppress(OSError):
        for name in sorted(os.listdir(cache)):
            if name.split(".")[0] in stems:
                hidden.append(os.path.join(cache, name))
    return hidden


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


class Session:
    """Everything the sandbox of one run shares (see the module docstring).

    ``level``: one of :data:`LEVELS`, or ``"auto"`` for the strongest that works here (the
    Gradescope runner). ``hidden``: folders the sandbox must never show (the course root, the
    output folder, the submissions). ``data``: read-only data folders the notebooks read.
    ``folder``: the run folder (scratch files of the session live there).
    """

    def __init__(
        self,
        level: str = "namespaces",
        *,
        limits: Limits | None = None,
        hidden: Sequence[str | os.PathLike[str]] = (),
        data: Sequence[str | os.PathLike[str]] = (),
        folder: str | os.PathLike[str] | None = None,
        use_cgroups: bool = True,
    ) -> None:
        if level not in (*LEVELS, "auto"):
            raise ValueError(f"isolation={level!r} must be one of {', '.join(LEVELS)} (or auto)")
        self.requested = level
        self.limits = limits or Limits()
        self.hidden = sorted({os.path.realpath(p) for p in hidden} | set(package_dirs()))
        extra_data = [os.environ["FASHION_MNIST_DIR"]] if os.environ.get("FASHION_MNIST_DIR") else []
        self.data = [os.path.realpath(p) for p in (*DEFAULT_DATA, *extra_data, *data) if os.path.isdir(p)]
        self._own_folder = folder is None
        self.folder = (
            Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="autograder-session-"))
        )
        os.chmod(self.folder, 0o711)
        self.root = os.getuid() == 0
        self.uid = BASE_UID + os.getpid() if self.root else os.getuid()
        self.cgroups = cgroups.CgroupTree.create() if use_cgroups and level != "none" else None
        self.level = ""  # decided by start()
        self.problems: dict[str, str] = {}
        self._seccomp: bytes | None = None
        self._stage: Path | None = None
        self._seccomp_note = ""

    # -- choosing the level ------------------------------------------------------------------

    def start(self) -> Session:
        """Decide the level (checking it works here); :class:`IsolationUnavailable` if it does not."""
        from autograder.sandbox.zygote import Zygote, ZygoteFailed

        candidates = LEVELS if self.requested == "auto" else (self.requested,)
        for level in candidates:
            why = self._static_problem(level)
            if why is None:
                self.level = level
                try:
                    Zygote(self, preload=(), wait=True).close()
                    return self
                except ZygoteFailed as exc:
                    why = str(exc)
            self.problems[level] = why
            self.level = ""
        raise IsolationUnavailable(self._explain())

    def _static_problem(self, level: str) -> str | None:
        if level == "namespaces":
            if bwrap_path() is None:
                return (
                    "bubblewrap (bwrap) is not installed: apt-get install bubblewrap "
                    "(or set $AUTOGRADER_BWRAP)"
                )
            return None
        if level == "uid":
            if not self.root:
                return "the uid level needs the grader to run as root"
            return self._uid_leaks()
        return None

    def _uid_leaks(self) -> str | None:
        """At the uid level the student's uid must not be able to read what the sandbox hides."""
        readable = [p for p in self.hidden if os.path.exists(p) and _traversable(p) and _others_can_read(p)]
        if readable:
            return (
                "at the uid level the worker's uid could read "
                + ", ".join(readable[:4])
                + " (make them readable by their owner only, e.g. chmod -R o-rwx, or use namespaces)"
            )
        python = os.path.realpath(sys.base_prefix)
        if not (_traversable(python) and _others_can_read(python)):
            return f"at the uid level the worker's uid cannot read the Python installation {python}"
        return None

    def _explain(self) -> str:
        lines = [f"the sandbox's isolation level {self.requested!r} is not available here:"]
        lines += [f"  {level}: {why}" for level, why in self.problems.items()]
        if "namespaces" in self.problems:
            lines += [f"  hint: {hint}" for hint in userns_hints()]
            lines.append(
                "  grade anyway with a weaker level only if you trust the submissions: "
                "--isolation uid (as root) or --isolation none"
            )
        return "\n".join(lines)

    # -- what every worker gets --------------------------------------------------------------

    @property
    def single_process(self) -> bool:
        """True when no cgroup counts the submission's processes: workers may not start any."""
        return self.cgroups is None and self.level != "none"

    def seccomp_program(self) -> bytes:
        """The workers' seccomp program (empty when libseccomp is missing: recorded)."""
        if self._seccomp is None:
            try:
                self._seccomp = seccomp.program(self.single_process)
                self._seccomp_note = (
                    f"seccomp: {len(seccomp.refused(self.single_process))} system calls refused"
                )
            except seccomp.SeccompUnavailable as exc:
                self._seccomp = b""
                self._seccomp_note = f"no seccomp filter ({exc})"
        return self._seccomp

    def workdir(self) -> str:
        """A new working folder for a worker: in the sandbox's tmpfs, or (uid/none) on the host."""
        if self.level == "namespaces":
            return SANDBOX_HOME
        folder = tempfile.mkdtemp(prefix="autograder-", dir=self.folder)
        os.chmod(folder, 0o700)
        if self.level == "uid":
            os.chown(folder, self.uid, self.uid)
        return folder

    def environment(self, workdir: str) -> dict[str, str]:
        """The worker's whole environment: nothing inherited from the grader."""
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": workdir,
            "USER": "student",
            "LOGNAME": "student",
            "LANG": "C.UTF-8",
            "TMPDIR": "/tmp" if self.level == "namespaces" else workdir,
            "NBGRADER_EXECUTION": "autograde",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "COURSE_LIB_THREADS": "1",
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": os.path.join(workdir, ".config", "matplotlib"),
            "IPYTHONDIR": os.path.join(workdir, ".ipython"),
            "PYTHONHASHSEED": "0",
        }
        fashion = next((d for d in self.data if "fashion" in os.path.basename(d).lower()), None)
        if fashion is not None:
            env["FASHION_MNIST_DIR"] = fashion
        return env

    def worker_config(self, workdir: str, limits: Limits, preload: Sequence[str]) -> dict[str, Any]:
        """The config a worker applies to itself (see :func:`autograder.sandbox.worker.lock_down`)."""
        return {
            "level": self.level,
            "workdir": workdir,
            "scratch": SCRATCH,
            "disk_mb": limits.disk_mb,
            "env": self.environment(workdir),
            "uid": self.uid if self.level == "uid" else None,
            "gid": self.uid if self.level == "uid" else None,
            "network": limits.network,
            "limits": limits.to_config(),
            "seccomp": self.seccomp_program().hex(),
            # the in-process guard's list (defence in depth where the host's files are visible)
            "forbidden_paths": list(self.hidden) if self.level != "namespaces" else [],
            # the grader's packages and their distribution (its metadata names the course's folders)
            "forbidden_modules": [*FORBIDDEN_MODULES, *sorted(_forbidden_distributions())],
            "preload": list(preload),
        }

    def mechanisms(self) -> list[str]:
        """What protects a submission at this session's level, one line each (for every record)."""
        self.seccomp_program()
        limits = self.limits
        rlimits = (
            f"rlimits: {limits.cpu_seconds} s CPU, {limits.open_files} open files, "
            f"{limits.file_size_mb} MB per file"
        )
        if self.level == "namespaces":
            found = [
                f"bubblewrap {bwrap_version()}: user, mount, PID, network, IPC and UTS namespaces "
                "per submission",
                "only the Python installation, the data sets and a private working folder are visible",
                f"private tmpfs working folder, /tmp and /dev/shm ({limits.disk_mb} MB)",
                "no capabilities, no_new_privs",
            ]
        elif self.level == "uid":
            found = [f"dedicated uid {self.uid}, no capabilities", "audit hook and import blocker"]
        else:
            found = ["no operating-system isolation: audit hook and import blocker only"]
        if self.cgroups is not None and self.level != "none":
            found.append(self.cgroups.describe(limits.cgroup_memory_mb(), limits.max_processes))
        elif self.level != "none":
            found.append(
                f"no cgroup ({cgroups.describe_unavailable()}): one process per submission, "
                f"{limits.memory_mb} MB address space"
            )
        if self.level != "none":
            found.append(self._seccomp_note)
        found.append(rlimits)
        return found

    # -- the zygote's sandbox (namespaces) -----------------------------------------------------

    def bwrap_arguments(self) -> tuple[list[str], list[str]]:
        """bubblewrap's options for a zygote sandbox, and the folders root must stage (see launcher)."""
        args = [
            "--unshare-user",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--uid",
            str(SANDBOX_UID),
            "--gid",
            str(SANDBOX_UID),
            "--hostname",
            "sandbox",
            "--die-with-parent",
            # the zygote itself is PID 1 (it reaps its children): no separate bubblewrap reaper, which,
            # orphaned when bubblewrap exits, would stay a zombie under an init that does not reap
            "--as-pid-1",
            "--new-session",
            "--clearenv",
        ]
        stage: list[str] = []
        bound: list[str] = []

        def bind(path: str, option: str = "--ro-bind") -> None:
            if any(_under(path, b) for b in bound):
                return
            args.extend([option, path, path])
            bound.append(path)
            if self.root and not _traversable(path):
                stage.append(path)

        for top in SYSTEM_ROOTS:
            if os.path.islink(top):
                args.extend(["--symlink", os.readlink(top), top])
            elif os.path.isdir(top):
                bind(top)
        for path in ETC_FILES:
            if os.path.exists(path):
                args.extend(["--ro-bind", path, path])
        for name, text in self._etc_files().items():
            target = self.folder / name
            target.write_text(text)
            target.chmod(0o644)
            args.extend(["--ro-bind", str(target), f"/etc/{name}"])
            if self.root and not _traversable(str(target)):
                stage.append(str(target))
        bind(os.path.realpath(sys.base_prefix))
        places = self.site_places()
        for site, place in places.items():
            if site == place:
                bind(site)
            else:
                args.extend(["--ro-bind", site, place])
                if self.root and not _traversable(site):
                    stage.append(site)
        for path in self.data:
            bind(path)
        args.extend(
            ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--dir", SANDBOX_HOME, "--dir", SCRATCH]
        )
        # covers: the grader's packages in site-packages, and course/output/submission folders that
        # happen to lie under something shown
        covered: list[str] = []
        for site, place in places.items():
            markers = [*self.hidden, *(os.path.dirname(p) for p in package_dirs())]  # the project's root too
            covered += [place + entry[len(site) :] for entry in hidden_site_entries(site, markers)]
        for path in self.hidden:
            if any(_under(path, b) for b in bound):
                covered.append(path)
        for path in sorted(set(covered)):
            host = next((s + path[len(p) :] for s, p in places.items() if _under(path, p)), path)
            if os.path.isdir(host) and not os.path.islink(host):
                args.extend(["--tmpfs", path, "--remount-ro", path])  # empty, and nobody writes to it
            elif os.path.lexists(host):
                args.extend(["--ro-bind", "/dev/null", path])
        # nothing outside a worker's own tmpfs is writable (the zygote's root and /dev are shared by
        # the workers it forks, one after the other)
        args.extend(["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", "/"])
        for key, value in self.zygote_environment().items():
            args.extend(["--setenv", key, value])
        return args, stage

    def site_places(self) -> dict[str, str]:
        """Each site-packages folder -> where the sandbox shows it: at its own path when it lies in
        the Python installation or the system folders, else at ``/opt/site/<i>`` (so that a
        virtual environment inside the course folder shows no path of the course)."""
        shown = [os.path.realpath(sys.base_prefix), *(t for t in SYSTEM_ROOTS if os.path.isdir(t))]
        places: dict[str, str] = {}
        for i, site in enumerate(site_dirs()):
            if self.level != "namespaces" or any(_under(site, s) for s in shown):
                places[site] = site
            else:
                places[site] = f"/opt/site/{i}"
        return places

    def zygote_environment(self) -> dict[str, str]:
        env = self.environment(SANDBOX_HOME if self.level == "namespaces" else str(self.folder))
        env["MPLCONFIGDIR"] = "/tmp/matplotlib" if self.level == "namespaces" else str(self.folder / "mpl")
        return env

    @staticmethod
    def _etc_files() -> dict[str, str]:
        return {
            "passwd": f"student:x:{SANDBOX_UID}:{SANDBOX_UID}:student:{SANDBOX_HOME}:/bin/sh\n",
            "group": f"student:x:{SANDBOX_UID}:\n",
            "hosts": "127.0.0.1 localhost sandbox\n::1 localhost\n",
            "hostname": "sandbox\n",
            "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
        }

    def launch_command(self, python_argv: Sequence[str]) -> list[str]:
        """The command that starts a zygote: through the launcher and bubblewrap at ``namespaces``."""
        if self.level != "namespaces":
            return list(python_argv)
        bwrap = bwrap_path()
        assert bwrap is not None
        options, stage = self.bwrap_arguments()
        stage_dir = self._stage_dir() if stage else self.folder
        spec = {
            "argv": [bwrap, *options, "--", *python_argv],
            "stage": str(stage_dir),
            "paths": stage,
            "user": [self.uid, self.uid] if self.root else None,
        }
        launcher = str(Path(__file__).with_name("launcher.py"))
        return [os.path.realpath(sys.executable), "-I", "-S", launcher, json.dumps(spec)]

    def _stage_dir(self) -> Path:
        """An empty folder the launcher mounts its staging tmpfs on; it must be reachable by the
        sandbox's uid, so it lives in /tmp when the run folder's parents are closed to others."""
        if self._stage is None:
            if _traversable(str(self.folder / "stage")):
                self._stage = self.folder / "stage"
                self._stage.mkdir(exist_ok=True)
            else:
                self._stage = Path(tempfile.mkdtemp(prefix="autograder-stage-", dir="/tmp"))
            os.chmod(self._stage, 0o711)
        return self._stage

    def close(self) -> None:
        """Remove the run's cgroups and the session's scratch files."""
        from autograder.sandbox.cleanup import remove_tree

        if self.cgroups is not None:
            self.cgroups.close()
            self.cgroups = None
        if self._stage is not None and not _under(str(self._stage), str(self.folder)):
            with contextlib.suppress(OSError):
                self._stage.rmdir()
        if self._own_folder:
            remove_tree(self.folder)

    def __enter__(self) -> Session:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _others_can_read(path: str) -> bool:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return bool(mode & stat.S_IROTH)


_BWRAP_VERSION: list[str] = []


def bwrap_version() -> str:
    """bubblewrap's version, e.g. ``0.8.0``."""
    if not _BWRAP_VERSION:
        path = bwrap_path()
        text = ""
        if path is not None:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                text = subprocess.run(
                    [path, "--version"], capture_output=True, text=True, timeout=10, check=False
                ).stdout
        _BWRAP_VERSION.append(text.split()[-1] if text.split() else "(unknown version)")
    return _BWRAP_VERSION[0]
