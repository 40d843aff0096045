"""Temporary folders of a grading run: one locked run folder, bounded removal, stale runs removed.

Nothing a worker leaves behind may crash or hang the grader: at the ``namespaces`` level a worker's
files live on its own tmpfs, which disappears with its namespaces; at the other levels its working
folder is on the host and is removed with :func:`remove_tree` (``rm -rf`` with a time limit, which
copes with 3000-deep trees, FIFOs, sockets and unreadable files where ``shutil.rmtree`` raises
``RecursionError``). Every removal here is bounded and never raises.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

#: Every temporary folder of one run of the command line lives in one folder with this prefix.
RUN_PREFIX = "autograder-run-"
#: The file a live run keeps ``flock``-ed in its run folder.
RUN_LOCK = ".owner.lock"
#: Longest time one removal may take (seconds).
REMOVE_TIMEOUT = 30.0


def remove_tree(path: str | os.PathLike[str], timeout: float = REMOVE_TIMEOUT) -> bool:
    """Remove ``path`` and everything below it; True when it is gone. Never raises, never hangs.

    Permissions a student removed (``chmod 000`` folders) are restored first, as the owner may.
    """
    path = os.fspath(path)
    if not os.path.lexists(path):
        return True
    rm = shutil.which("rm") or "/bin/rm"
    chmod = shutil.which("chmod") or "/bin/chmod"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            [chmod, "-R", "--", "u+rwx", path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            [rm, "-rf", "--one-file-system", "--", path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    return not os.path.lexists(path)


def remove_stale_runs(base: str) -> list[str]:
    """Remove the run folders in ``base`` whose run is over: nobody holds their lock any more.

    A run killed with SIGKILL cannot clean up; its one folder is removed by the next run here. A
    folder that cannot be removed is skipped (never an error).
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
            lock = os.open(os.path.join(folder, RUN_LOCK), os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # its run (or one of the run's processes) still lives
        else:
            if remove_tree(folder):
                removed.append(folder)
        finally:
            os.close(lock)
    return removed


@contextlib.contextmanager
def run_folder() -> Iterator[Path]:
    """One folder for every temporary folder of this run, removed at the end.

    ``tempfile.tempdir`` points into it while the context lasts, so the zygotes' folders and the
    workers' working folders (also those of forked grading processes) land there. The run keeps the
    file :data:`RUN_LOCK` in it locked (``flock``; forked grading processes inherit the lock): a run
    killed so hard that nothing could clean up leaves this one folder behind, and the next run
    removes it (:func:`remove_stale_runs`).
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
        remove_tree(folder)
        os.close(lock)
