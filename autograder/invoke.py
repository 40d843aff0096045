"""How the grader calls a student's code: the :class:`Invoker` protocol and the in-kernel invoker.

The grader never looks at a student's object directly. It asks an invoker to call
``target(*args, **kwargs)`` (or a probe from :mod:`autograder.probes` on the target) and gets back
plain data: numpy arrays, Python scalars, strings, ``None`` and lists/tuples/dicts of those.

- :class:`LocalInvoker` runs the call in the current process (the nbgrader hidden-test path).
- ``autograder.sandbox.SandboxInvoker`` runs it in a locked-down worker process (the batch path).

Both pass every result through :func:`autograder.wire.roundtrip`, so the verdict is computed from
identical values on both paths, and anything the student returns that is not plain data is rejected
before the grader touches it.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import io
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

#: Longest exception message kept from a student's code (characters).
MAX_MESSAGE_CHARS = 300


def truncate(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` on one line, cut to ``limit`` characters with a trailing ``...``."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class StudentError(Exception):
    """The student's code raised an exception or returned something unusable.

    ``type_name`` is the exception's class name (e.g. ``"ValueError"``), ``message`` its text,
    already truncated to :data:`MAX_MESSAGE_CHARS`.
    """

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = truncate(message)


class StudentTimeout(StudentError):
    """The student's code ran past its wall-clock or CPU budget."""


class Invoker(Protocol):
    """Calls a student's function or class, by the name it has in the submission."""

    def call(
        self, target: str, args: tuple[Any, ...], kwargs: dict[str, Any], probe: str | None = None
    ) -> Any:
        """``target(*args, **kwargs)``, or ``PROBES[probe](target_object, *args, **kwargs)``.

        Returns plain data (after :func:`autograder.wire.roundtrip`); raises :class:`StudentError`
        when the student's code raises or returns something that cannot cross the wire.
        """
        ...


def _roundtrip(value: Any) -> Any:
    """The wire's round trip, so that in-kernel and sandboxed results are the same values."""
    try:
        wire = importlib.import_module("autograder.wire")
    except ImportError:  # pragma: no cover - wire.py is written alongside this module
        return value
    return wire.roundtrip(value)


class LocalInvoker:
    """Runs the student's objects in this process (nbgrader hidden-test cells).

    ``namespace`` maps names to the student's objects, e.g. ``{"conv2d": conv2d}``. Every call gets
    deep copies of its arguments (so the grader's own inputs cannot be modified), runs with the
    student's prints captured and warnings silenced, and its result goes through the wire's round
    trip (plain arrays and scalars only).
    """

    def __init__(self, namespace: Mapping[str, Any]) -> None:
        self.namespace = dict(namespace)

    def call(
        self, target: str, args: tuple[Any, ...], kwargs: dict[str, Any], probe: str | None = None
    ) -> Any:
        """See :meth:`Invoker.call`."""
        if target not in self.namespace:
            raise StudentError("NameError", f"name {target!r} is not defined")
        obj = self.namespace[target]
        args, kwargs = copy.deepcopy((tuple(args), dict(kwargs)))
        func: Callable[..., Any]
        if probe is None:
            func = obj
            call_args: tuple[Any, ...] = args
        else:
            from autograder.probes import PROBES

            func = PROBES[probe]
            call_args = (obj, *args)
        sink = io.StringIO()
        try:
            with (
                warnings.catch_warnings(),
                np.errstate(all="ignore"),
                contextlib.redirect_stdout(sink),
                contextlib.redirect_stderr(sink),
            ):
                warnings.simplefilter("ignore")
                result = func(*call_args, **kwargs)
        except (Exception, SystemExit) as exc:  # the student's code may raise anything
            raise StudentError(type(exc).__name__, str(exc)) from None
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                return _roundtrip(result)
        except StudentError:
            raise
        except Exception as exc:
            raise StudentError(type(exc).__name__, str(exc)) from None
