"""How the grader calls a student's code: the :class:`Invoker` protocol and the in-kernel invoker.

The grader never looks at a student's object directly. It asks an invoker to call
``target(*args, **kwargs)`` (or a probe from :mod:`autograder.probes` on the target) and gets back
plain data: numpy arrays, Python scalars, strings, ``None`` and lists/tuples/dicts of those.

- :class:`LocalInvoker` runs the call in the current process (the nbgrader hidden-test path).
- ``autograder.sandbox.SandboxInvoker`` runs it in a locked-down worker process (the batch path).

Both pass every result through :func:`autograder.sandbox.wire.roundtrip`, so the verdict is computed from
identical values on both paths, and anything the student returns that is not plain data is rejected
before the grader touches it.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import os
import signal
import sys
import threading
import types
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import numpy as np

from autograder.sandbox import wire

#: Longest exception message kept from a student's code (characters).
MAX_MESSAGE_CHARS = 300
#: Wall-clock limit of one in-kernel call of the student's code (seconds); graded cases are tiny.
CALL_TIMEOUT = 20.0


def truncate(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` on one line, control characters escaped (a student's NUL or terminal escape codes
    never reach a feedback file), cut to ``limit`` characters with a trailing ``...``."""
    flat = " ".join(str(text).split())
    if not flat.isprintable():
        flat = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in flat)
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

        Returns plain data (after :func:`autograder.sandbox.wire.roundtrip`); raises :class:`StudentError`
        when the student's code raises or returns something that cannot cross the wire.
        """
        ...


#: Packages a student's code must not call into: the references and the grader itself.
PROTECTED_PACKAGES = ("course_lib", "autograder")
#: The grader's own code that legitimately runs inside a student call (the probes drive the student's
#: objects; the wire converts the result).
_ALLOWED_FILES = frozenset(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
    for name in ("invoke.py", "probes.py", "wire.py")
)


def _protected_dirs() -> tuple[str, ...]:
    """Source folders of the protected packages (only those that are installed)."""
    dirs: list[str] = []
    for name in PROTECTED_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            dirs.extend(os.path.abspath(p) + os.sep for p in spec.submodule_search_locations)
    return tuple(dirs)


class _ReferenceCallDetector:
    """A profile hook that records calls into course_lib/autograder made while student code runs.

    The hook sees every Python function entered, so wrapping, importing or dynamically loading the
    reference is caught however it is spelled. Verdicts are decided per code object once (cached).
    """

    def __init__(self) -> None:
        self.dirs = _protected_dirs()
        self.calls: list[str] = []
        self._cache: dict[object, bool] = {}

    def _protected(self, code: Any) -> bool:
        hit = self._cache.get(code)
        if hit is None:
            path = os.path.abspath(code.co_filename)
            hit = path.startswith(self.dirs) and path not in _ALLOWED_FILES
            self._cache[code] = hit
        return hit

    def __call__(self, frame: Any, event: str, arg: Any) -> None:
        caller = frame.f_back
        if (
            event == "call"
            and self._protected(frame.f_code)
            and (caller is None or not self._protected(caller.f_code))
        ):  # an entry point into the protected code, not its internal calls
            module = frame.f_globals.get("__name__", "?")
            name = f"{module}.{frame.f_code.co_name}"
            if name not in self.calls:
                self.calls.append(name)

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Install the hook for the duration of the block (restoring any previous hook)."""
        previous = sys.getprofile()
        sys.setprofile(self)
        try:
            yield
        finally:
            sys.setprofile(previous)


#: Modules whose attributes a student's code must not replace (besides course_lib and autograder).
GUARDED_MODULES = ("builtins", "math", "copy", "numpy", "numpy.linalg", "numpy.lib.stride_tricks")


class _ModuleGuard:
    """Snapshots the namespaces of guarded modules and puts back anything a call replaced.

    Monkeypatching numpy, builtins or the grader from inside the student's code therefore cannot
    change how the grader computes the expected values; what was replaced is recorded.
    """

    def __init__(self) -> None:
        self.replaced: list[str] = []

    @staticmethod
    def _modules() -> list[types.ModuleType]:
        names = [n for n in list(sys.modules) if n.split(".")[0] in PROTECTED_PACKAGES]
        names += [n for n in GUARDED_MODULES if n in sys.modules]
        return [sys.modules[n] for n in names if isinstance(sys.modules.get(n), types.ModuleType)]

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Snapshot before the block; restore and record replaced or deleted attributes after it."""
        snapshot = [(module, dict(vars(module))) for module in self._modules()]
        try:
            yield
        finally:
            for module, before in snapshot:
                namespace = vars(module)
                for name, value in before.items():
                    if namespace.get(name, _MISSING) is not value:
                        setattr(module, name, value)
                        label = f"{module.__name__}.{name}"
                        if label not in self.replaced:
                            self.replaced.append(label)


_MISSING = object()


class _CallTimedOut(BaseException):
    """Raised into the student's code by the alarm (a BaseException: ``except Exception`` in the
    student's code cannot swallow it)."""


@contextlib.contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Interrupt the block after ``seconds`` of wall-clock time (SIGALRM; main thread on Unix only,
    elsewhere no limit: nbgrader's own cell timeout still applies)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if seconds is None or not usable:
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise _CallTimedOut

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class LocalInvoker:
    """Runs the student's objects in this process (nbgrader hidden-test cells).

        ``namespace`` maps names to the student's objects, e.g. ``{"conv2d": conv2d}``. Every call gets
        deep copies of its arguments (so the grader's own inputs cannot be modified), runs with the
        student's prints captured and warnings silenced, and its result goes through the wire's round
        trip (plain arrays and scalars only); a call running longer than ``call_timeout`` seconds is
    interrupted (:class:`StudentTimeout`). A profile hook records any call into course_lib or
        autograder made by the student's code (:attr:`reference_calls`); a result the wire refuses raises
        :class:`StudentError` with ``type_name == "WireError"``.
    """

    def __init__(self, namespace: Mapping[str, Any], call_timeout: float | None = CALL_TIMEOUT) -> None:
        self.namespace = dict(namespace)
        self.call_timeout = call_timeout
        self._detector = _ReferenceCallDetector()
        self._guard = _ModuleGuard()

    @property
    def replaced_attributes(self) -> list[str]:
        """Attributes of numpy/builtins/course_lib/autograder the student's code replaced (restored)."""
        return list(self._guard.replaced)

    @property
    def reference_calls(self) -> list[str]:
        """Functions of course_lib/autograder that the student's code called (should be empty)."""
        return list(self._detector.calls)

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
                self._guard.watching(),
                self._detector.watching(),
                _time_limit(self.call_timeout),
            ):
                warnings.simplefilter("ignore")
                result = func(*call_args, **kwargs)
        except _CallTimedOut:
            raise StudentTimeout(
                "TimeoutError", f"{target} took longer than {self.call_timeout:g} s"
            ) from None
        except (Exception, SystemExit) as exc:  # the student's code may raise anything
            raise StudentError(type(exc).__name__, str(exc)) from None
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                return wire.roundtrip(result)
        except wire.WireError as exc:
            raise StudentError("WireError", str(exc)) from None
        except Exception as exc:  # a student's object can fail while being converted
            raise StudentError(type(exc).__name__, str(exc)) from None
