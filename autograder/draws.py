r"""Where the grader's generated inputs come from: a per-course secret, never a public seed.

Every property draws its cases with hypothesis from a seed

    seed = first 8 bytes of HMAC-SHA256(secret, assignment + NUL + grade_id + NUL + property name)

so that a regrade of the same submission with the same secret draws exactly the same cases (the
same score and the same feedback), while a lookup table of inputs harvested in one course or term
is useless in another: without the secret nobody can predict the draws. The lecture's worked
examples (explicit, public) are checked as before.

The secret is looked up in this order:

1. ``$AUTOGRADER_DRAW_SECRET`` (the secret itself, any text);
2. the file named by ``$AUTOGRADER_DRAW_SECRET_FILE``;
3. ``<course root>/.autograder/draw_secret``, where the course root is the grader's ``--source``
   folder (the folder with ``source/``), or for the in-kernel ``check`` the nearest folder upwards
   of the kernel's working folder with an ``nbgrader_config.py`` (nbgrader's course root).

When none exists, a new random secret is written to the file of 3 (mode 0600; ``.autograder/`` is
git-ignored) and used from then on. Keep that file with the course (back it up; do not commit it or
ship it to students): regrading with another secret draws other cases. The Gradescope bundle
carries it (the bundle is the instructor's private upload). The sandboxed worker never sees it.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

ENV_SECRET = "AUTOGRADER_DRAW_SECRET"
ENV_FILE = "AUTOGRADER_DRAW_SECRET_FILE"
#: The secret's file, relative to the course root.
SECRET_FILE = Path(".autograder") / "draw_secret"

#: (secret, assignment) of the grading in progress; None: draws derived from the test alone.
_CURRENT: contextvars.ContextVar[tuple[bytes, str] | None] = contextvars.ContextVar(
    "autograder_draws", default=None
)


def secret_file(course_root: str | os.PathLike[str]) -> Path:
    """The secret's file for ``course_root`` (``$AUTOGRADER_DRAW_SECRET_FILE`` wins)."""
    configured = os.environ.get(ENV_FILE)
    return Path(configured) if configured else Path(course_root) / SECRET_FILE


def load_secret(course_root: str | os.PathLike[str], create: bool = True) -> bytes:
    """The course's draw secret (see the module docstring); created when missing and ``create``.

    Raises ``FileNotFoundError`` when it is missing and ``create`` is False, ``OSError`` when it
    cannot be read or written.
    """
    if os.environ.get(ENV_SECRET):
        return os.environ[ENV_SECRET].encode("utf-8")
    path = secret_file(course_root)
    for _ in range(50):
        try:
            text = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            if not create:
                raise
            _create(path)
            continue
        if text:
            return text.encode("utf-8")
        time.sleep(0.05)  # another process is writing it (it links the file complete, so rarely)
    raise OSError(errno.EIO, f"the draw secret {path} is empty")


def _create(path: Path) -> None:
    """Write a new random secret to ``path`` atomically; a concurrent creator's secret wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (secrets.token_hex(32) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process created it first: then theirs is used
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def course_root_of(folder: str | os.PathLike[str]) -> Path | None:
    """The nearest folder at or above ``folder`` that holds an ``nbgrader_config.py``."""
    here = Path(folder).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "nbgrader_config.py").is_file():
            return candidate
    return None


@contextlib.contextmanager
def drawing_for(secret: bytes, assignment: str) -> Iterator[None]:
    """Derive every property's draws from ``secret`` and ``assignment`` inside the block."""
    token = _CURRENT.set((secret, assignment))
    try:
        yield
    finally:
        _CURRENT.reset(token)


def seed(grade_id: str, prop_name: str) -> int | None:
    """The seed of one property's draws in the current grading, or None outside :func:`drawing_for`."""
    current = _CURRENT.get()
    if current is None:
        return None
    secret, assignment = current
    message = "\0".join((assignment, grade_id, prop_name)).encode("utf-8")
    return int.from_bytes(hmac.new(secret, message, hashlib.sha256).digest()[:8], "big")
