"""Run a command as an ordinary user, from a root test: how most instructors run the grader.

The project's Python may live where an ordinary user cannot reach it (``/root/.pyenv`` on the build
machine). :func:`run_as` therefore starts a small helper (standard library only) that makes a private
mount namespace, covers each folder on the way to the paths the user needs that is closed to others
with a tmpfs holding only those paths (so ``/root`` shows nothing else), drops to the user (no
supplementary groups, no capabilities) and executes the command. Nothing changes on the host.

:func:`ensure_user` creates the test user (``useradd``) when it does not exist yet; CI creates it in
``.ci/run`` too.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

#: The ordinary user the hardening tests grade as.
USER = "autograder-test"

#: The pytest-xdist group of every test that grades as :data:`USER`: they run one after the other
#: (they share the user's delegated cgroups, and each checks that none of the user's processes is left).
GROUP = "as-user"

HELPER = r"""
import ctypes, json, os, stat, sys
spec = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
def check(result, what):
    if result != 0:
        sys.stderr.write(f"as_user: {what}: {os.strerror(ctypes.get_errno())}\n")
        os._exit(125)
check(libc.unshare(0x00020000), "unshare(CLONE_NEWNS)")
check(libc.mount(b"none", b"/", None, 16384 | (1 << 18), None), "make mounts private")
stage = spec["stage"]
check(libc.mount(b"tmpfs", stage.encode(), b"tmpfs", 0, b"mode=0700"), "tmpfs on the stage")
def closed(path):
    return not os.stat(path).st_mode & stat.S_IXOTH
covers = {}
for path in spec["expose"]:
    parts = path.strip("/").split("/")
    for i in range(1, len(parts)):
        folder = "/" + "/".join(parts[:i])
        if folder in covers:
            break
        if closed(folder):
            covers[folder] = []
            break
    for folder in covers:
        if path.startswith(folder + "/"):
            covers[folder].append(path)
for n, (folder, inside) in enumerate(sorted(covers.items())):
    keep = os.path.join(stage, str(n))
    os.mkdir(keep)
    check(libc.mount(folder.encode(), keep.encode(), None, 4096 | 16384, None), f"keep {folder}")
    check(libc.mount(b"tmpfs", folder.encode(), b"tmpfs", 0, b"mode=0755"), f"cover {folder}")
    for path in inside:
        rel = os.path.relpath(path, folder)
        os.makedirs(path, mode=0o755, exist_ok=True)
        source = os.path.join(keep, rel).encode()
        check(libc.mount(source, path.encode(), None, 4096 | 16384, None), f"show {path}")
uid, gid = spec["user"]
os.setgroups([])
os.setresgid(gid, gid, gid)
os.setresuid(uid, uid, uid)
os.chdir(spec["cwd"])
os.execve(spec["argv"][0], spec["argv"], spec["env"])
"""


def ensure_user() -> pwd.struct_passwd:
    """The test user (created with ``useradd`` when missing; needs root)."""
    if os.getuid() != 0:
        pytest.skip("grading as an ordinary user is tested from root (which can create one)")
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--create-home", "--shell", "/bin/sh", USER], check=True, capture_output=True
        )
        return pwd.getpwnam(USER)


def user_folder(user: pwd.struct_passwd, prefix: str) -> Path:
    """A new folder the user owns, reachable by everyone (``/tmp/<prefix>XXXX``, mode 0755)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(folder, 0o755)
    os.chown(folder, user.pw_uid, user.pw_gid)
    return folder


def python_paths() -> list[str]:
    """What running this interpreter needs: the real Python installation and the project."""
    import autograder

    project = str(Path(autograder.__file__).resolve().parents[1])
    return [os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), project]


def run_as(
    user: pwd.struct_passwd,
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str],
    env: Mapping[str, str],
    expose: Sequence[str] = (),
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` as ``user`` with ``expose`` (and this Python and project) reachable."""
    stage = tempfile.mkdtemp(prefix="as-user-")
    try:
        spec = {
            "argv": list(argv),
            "env": dict(env),
            "cwd": str(cwd),
            "user": [user.pw_uid, user.pw_gid],
            "stage": stage,
            "expose": sorted({*python_paths(), *expose}),
        }
        helper = [os.path.realpath(sys.executable), "-I", "-S", "-c", HELPER, json.dumps(spec)]
        return subprocess.run(helper, capture_output=True, text=True, timeout=timeout, check=False)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def grader_env(user: pwd.struct_passwd, tmp: Path, **extra: str) -> dict[str, str]:
    """An ordinary user's environment for the grader (no root's variables)."""
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": user.pw_dir,
        "USER": user.pw_name,
        "LOGNAME": user.pw_name,
        "LANG": "C.UTF-8",
        "TMPDIR": str(tmp),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    for key in ("AUTOGRADER_DRAW_SECRET", "HYPOTHESIS_PROFILE", "FASHION_MNIST_DIR"):
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(extra)
    return env
