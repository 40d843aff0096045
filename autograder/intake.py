r"""What a student hands in besides a notebook: their own helper modules, zips, checkpoint copies.

The grader may run as root and everything here comes from a student, so each read is bounded:

- :func:`own_files`: the top-level ``*.py`` files next to the notebook (what ``from my_helpers
  import *`` and ``%run my_solutions.py`` need, as in Jupyter and ``nbgrader autograde``), each opened
  with ``O_NOFOLLOW`` and checked to be a regular file with one link (a symbolic or hard link to the
  instructor's solutions or ``/etc`` is never copied), at most :data:`MAX_OWN_FILES` files and
  :data:`MAX_OWN_BYTES` bytes in all;
- :func:`unzip`: the ``.ipynb`` and ``.py`` members of a zip, one level deep, into a private folder:
  no absolute paths or ``..``, no symbolic links, no Mac junk, at most :data:`MAX_ZIP_MEMBERS`
  entries, :data:`MAX_MEMBER_BYTES` per member and :data:`MAX_UNZIPPED_BYTES` in all, counted on the
  bytes really decompressed (a zip bomb's header may lie about its sizes).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import errno
import os
import shutil
import stat
import tempfile
import time
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from autograder import notebook as nb

#: Most helper files copied from the student's folder, and their total size.
MAX_OWN_FILES = 64
MAX_OWN_BYTES = 8 * 2**20
#: Largest zip looked into, most entries in it, largest member and total unpacked.
MAX_ZIP_BYTES = 256 * 2**20
MAX_ZIP_MEMBERS = 2000
MAX_MEMBER_BYTES = 64 * 2**20
MAX_UNZIPPED_BYTES = 128 * 2**20
#: What is unpacked from a zip: notebooks and helper modules.
UNZIPPED = (".ipynb", ".py")
CHUNK = 2**20


class Refused(Exception):
    """A file that is not read, with the reason (for a note)."""


@dataclasses.dataclass(frozen=True)
class OwnFiles:
    """The student's helper modules (name -> bytes) and a note for each file left out."""

    files: dict[str, bytes] = dataclasses.field(default_factory=dict)
    notes: tuple[str, ...] = ()
    #: the ``*.py`` files left out (reserved names included)
    skipped: tuple[str, ...] = ()


def open_regular(name: str | Path, limit: int, dir_fd: int | None = None) -> BinaryIO:
    """``name`` (relative to ``dir_fd``) opened for reading if it is a regular file, not a symbolic
    link, with no other hard link, of at most ``limit`` bytes; else :class:`Refused` with the reason.
    A FIFO or device does not block the grader (``O_NONBLOCK``)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Refused("it is a symbolic link") from None
        raise Refused(f"it could not be read ({exc.strerror})") from None
    handle = open(fd, "rb", closefd=True)  # noqa: SIM115 (returned open)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Refused("it is not a regular file")
        if info.st_nlink != 1:
            raise Refused("it is a hard link to another file")
        if info.st_size > limit:
            raise Refused(f"it is larger than {_size(limit)}")
    except BaseException:
        handle.close()
        raise
    return handle


def read_regular(name: str | Path, limit: int, dir_fd: int | None = None) -> bytes:
    """The bytes of ``name`` as :func:`open_regular` allows it; a file that grows while read is
    still cut off at ``limit``."""
    with open_regular(name, limit, dir_fd) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise Refused(f"it is larger than {_size(limit)}")
    return data


def own_files(folder: Path, reserved: Mapping[str, bytes] | None = None) -> OwnFiles:
    """The student's own top-level ``*.py`` files in ``folder`` (the notebook's folder), as a worker's
    working folder should hold them. Hidden files, junk folders, symbolic links, non-regular files and
    names in ``reserved`` (the instructor's helper modules, name -> bytes, which win) are left out,
    with a note unless the student's copy is the released file unchanged."""
    reserved = reserved or {}
    if folder.name in nb.JUNK_FOLDERS or folder.name.startswith("."):
        return OwnFiles()
    try:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and folder.is_symlink():
            return OwnFiles(
                {},
                (f"the .py files next to the notebook were not copied: {folder.name}/ is a symbolic link",),
            )
        return OwnFiles()
    files: dict[str, bytes] = {}
    notes: list[str] = []
    skipped: list[str] = []
    total = 0
    try:
        names = sorted(n for n in os.listdir(dir_fd) if n.endswith(".py") and not n.startswith("."))
        for position, name in enumerate(names):
            if name in reserved:
                with contextlib.suppress(Refused):
                    if read_regular(name, MAX_OWN_BYTES, dir_fd=dir_fd) == reserved[name]:
                        continue  # the released helper file itself, handed back unchanged
                notes.append(
                    f"your {name} was not used: the assignment provides its own {name} (a helper file the"
                    " course releases cannot be replaced)"
                )
                skipped.append(name)
                continue
            if len(files) == MAX_OWN_FILES:
                notes.append(
                    f"only {MAX_OWN_FILES} .py files were copied next to the notebook; not copied: "
                    + ", ".join(names[position:][:10])
                    + (", ..." if len(names) - position > 10 else "")
                )
                skipped += names[position:]
                break
            try:
                data = read_regular(name, MAX_OWN_BYTES - total, dir_fd=dir_fd)
            except Refused as exc:
                why = str(exc).replace(
                    f"larger than {_size(MAX_OWN_BYTES - total)}",
                    f"over the {_size(MAX_OWN_BYTES)} all .py files may hold",
                )
                notes.append(f"{name} was skipped (not copied next to the notebook): {why}")
                skipped.append(name)
                continue
            files[name] = data
            total += len(data)
    finally:
        os.close(dir_fd)
    return OwnFiles(files, tuple(notes), tuple(skipped))


@dataclasses.dataclass(frozen=True)
class Unzipped:
    """What :func:`unzip` unpacked: each notebook's path with its member name, and notes."""

    notebooks: tuple[tuple[Path, str], ...] = ()
    notes: tuple[str, ...] = ()
    #: what the zip holds besides unpacked notebooks, for a "no notebook" note
    summary: str = ""


def _member_path(name: str) -> PurePosixPath | None:
    """The member's relative path, or None when it is absolute, climbs out or names a drive."""
    name = name.replace("\\", "/")
    path = PurePosixPath(name)
    if not name or name.startswith("/") or path.is_absolute() or ".." in path.parts:
        return None
    if any(":" in part for part in path.parts) or "\0" in name:
        return None
    return path


def unzip(zip_path: Path, into: Path, label: str | None = None) -> Unzipped:
    """Unpack the ``.ipynb`` and ``.py`` members of ``zip_path`` into the new folder ``into`` (see the
    module doc for the limits); zips inside it are not opened. Never raises for the zip's content."""
    label = label or zip_path.name
    try:
        handle = open_regular(zip_path, MAX_ZIP_BYTES)
    except Refused as exc:
        return Unzipped((), (f"{label} was not opened: {exc}",), "not opened")
    with handle:
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            why = f"not a readable zip ({exc})"
            return Unzipped((), (f"{label} was not opened: {why}",), "not a readable zip")
        with archive:
            return _unzip(archive, into, label)


def _unzip(archive: zipfile.ZipFile, into: Path, label: str) -> Unzipped:
    notes: list[str] = []
    members = archive.infolist()
    if len(members) > MAX_ZIP_MEMBERS:
        why = f"it has {len(members)} entries (at most {MAX_ZIP_MEMBERS} are looked at)"
        return Unzipped((), (f"{label} was not opened: {why}",), "too many entries")
    into.mkdir(mode=0o700, parents=True, exist_ok=False)
    found: list[tuple[Path, str]] = []
    others: list[str] = []
    total = 0
    for info in members:
        if info.is_dir():
            continue
        path = _member_path(info.filename)
        if path is None:
            notes.append(f"{label}: {info.filename!r} was not unpacked (an absolute path or '..')")
            continue
        if nb.is_junk(Path(*path.parts)):
            continue
        if path.suffix not in UNZIPPED:
            if path.suffix == ".zip":
                notes.append(f"{label}: {info.filename} was not opened (zips inside a zip are not)")
            others.append(path.name)
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            notes.append(f"{label}: {info.filename} was not unpacked (a symbolic link)")
            continue
        room = min(MAX_MEMBER_BYTES, MAX_UNZIPPED_BYTES - total)
        try:
            data = _read_member(archive, info, room)
        except Refused as exc:
            notes.append(f"{label}: {info.filename} was not unpacked: {exc}")
            if total + room >= MAX_UNZIPPED_BYTES:
                notes.append(f"{label}: nothing more was unpacked (over {_size(MAX_UNZIPPED_BYTES)} in all)")
                break
            continue
        total += len(data)
        target = into.joinpath(*path.parts)
        if not target.resolve().is_relative_to(into.resolve()):  # cannot happen after _member_path
            continue
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError:
            notes.append(f"{label}: {info.filename} appears twice; the first copy was unpacked")
            continue
        with open(fd, "wb") as handle:
            handle.write(data)
        with contextlib.suppress(ValueError, OverflowError, OSError):
            stamp = time.mktime((*info.date_time, 0, 0, -1))
            os.utime(target, (stamp, stamp))  # its own date, for choosing the newest notebook
        if path.suffix == ".ipynb":
            found.append((target, str(path)))
    parts = []
    if not found:
        parts.append("no .ipynb inside")
    if others:
        parts.append("holds " + ", ".join(sorted(others)[:5]) + (", ..." if len(others) > 5 else ""))
    return Unzipped(tuple(found), tuple(notes), "; ".join(parts))


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """The member's bytes, decompressed chunk by chunk and stopped past ``limit`` (whatever its header
    says)."""
    if info.flag_bits & 0x1:
        raise Refused("it is encrypted")
    if info.file_size > limit:
        raise Refused(f"it unpacks to {_size(info.file_size)}, over the {_size(limit)} allowed")
    chunks: list[bytes] = []
    size = 0
    try:
        with archive.open(info) as member:
            while size <= limit:
                chunk = member.read(CHUNK)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
        raise Refused(f"it could not be unpacked ({exc})") from None
    if size > limit:
        raise Refused(f"it unpacks to more than the {_size(limit)} allowed")
    return b"".join(chunks)


def _size(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n} bytes"


_SCRATCH: dict[int, Path] = {}


def scratch() -> Path:
    """A private folder (mode 0700) for unpacked zips, removed when this process exits."""
    pid = os.getpid()
    if pid not in _SCRATCH:
        folder = Path(tempfile.mkdtemp(prefix="autograder-unzipped-"))
        _SCRATCH[pid] = folder

        def remove() -> None:
            if os.getpid() == pid:
                shutil.rmtree(folder, ignore_errors=True)

        atexit.register(remove)
    return _SCRATCH[pid]


def describe(folder: Path, unzipped: dict[Path, Unzipped], limit: int = 8) -> str:
    """What a student's folder holds (top level, junk left out), for a "no notebook" note."""
    try:
        entries = sorted(
            e for e in folder.iterdir() if not nb.is_junk(Path(e.name)) and e.name not in nb.JUNK_FOLDERS
        )
    except OSError:
        return "nothing readable"
    names = []
    for entry in entries[:limit]:
        name = entry.name + ("/" if entry.is_dir() and not entry.is_symlink() else "")
        if entry in unzipped and unzipped[entry].summary:
            name += f" ({unzipped[entry].summary})"
        names.append(name)
    if len(entries) > limit:
        names.append(f"and {len(entries) - limit} more")
    return ", ".join(names) if names else "nothing"
