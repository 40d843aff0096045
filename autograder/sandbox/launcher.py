"""Start bubblewrap for a zygote: a standalone script (standard library only) run as ``python -I -S``.

``python -I -S launcher.py SPEC_JSON`` with ``SPEC = {"argv": [...], "stage": DIR | null,
"paths": [...], "user": [uid, gid] | null}``:

- as an ordinary user it simply executes ``argv`` (bubblewrap, which creates the namespaces through
  an unprivileged user namespace);
- as root it first makes a private mount namespace for itself, mounts a tmpfs on ``stage`` and
  binds each of ``paths`` (folders the sandbox shows, such as a Python installed under ``/root``,
  that the unprivileged uid could not reach because a parent folder is closed to others) at
  ``stage/<i>``, rewrites ``argv`` to bind from there, drops to ``user`` (no supplementary groups,
  hence no capabilities) and executes bubblewrap *as that unprivileged uid*. So the sandbox is
  built the same way for root and for ordinary users, and its processes never run as root on the
  host. The private mount namespace dies with the sandbox; nothing is mounted on the host.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys

CLONE_NEWNS = 0x00020000
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
BIND_OPTIONS = ("--ro-bind", "--bind", "--ro-bind-try", "--bind-try", "--dev-bind", "--dev-bind-try")


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        sys.stderr.write(f"autograder launcher: {what} failed: {os.strerror(code)}\n")
        os._exit(126)


def stage(argv: list[str], folder: str, paths: list[str]) -> list[str]:
    """Bind ``paths`` under ``folder`` in a private mount namespace; ``argv`` reading from there."""
    libc = ctypes.CDLL(None, use_errno=True)
    _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "making mounts private")
    _check(libc.mount(b"tmpfs", folder.encode(), b"tmpfs", 0, b"mode=0755,size=1m"), f"tmpfs on {folder}")
    where = {}
    for i, path in enumerate(paths):
        target = os.path.join(folder, str(i))
        if os.path.isdir(path):
            os.mkdir(target, 0o755)
        else:
            with open(target, "w"):
                pass
        _check(libc.mount(path.encode(), target.encode(), None, MS_BIND | MS_REC, None), f"binding {path}")
        where[path] = target
    out = list(argv)
    for i in range(len(out) - 2):
        if out[i] in BIND_OPTIONS and out[i + 1] in where:
            out[i + 1] = where[out[i + 1]]
    return out


def main() -> None:
    spec = json.loads(sys.argv[1])
    argv = list(spec["argv"])
    if spec.get("paths"):
        argv = stage(argv, spec["stage"], spec["paths"])
    if spec.get("user"):
        uid, gid = spec["user"]
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
