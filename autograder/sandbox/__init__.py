r"""The sandbox: where a student's code runs, and the one place that decides what it can reach.

The security boundary of the grader, in one subpackage:

- :mod:`~autograder.sandbox.session`: one grading run's isolation level (``namespaces``, ``uid``,
  ``none``), what the sandbox shows, cgroups, seccomp, and the list of mechanisms in force;
- :mod:`~autograder.sandbox.launcher`: starts bubblewrap (as root: as a dedicated unprivileged uid);
- :mod:`~autograder.sandbox.zygote`: the grader's handle on a pre-warmed worker parent;
- :mod:`~autograder.sandbox.worker`: the code that runs *inside*: per-submission namespaces,
  capabilities, seccomp, rlimits, and the request loop that runs cells and calls functions;
- :mod:`~autograder.sandbox.invoker`: the grader's side of one submission (timeouts, restarts, kills);
- :mod:`~autograder.sandbox.wire`: the message protocol (JSON + ``.npy``, never pickle);
- :mod:`~autograder.sandbox.cgroups`, :mod:`~autograder.sandbox.seccomp`,
  :mod:`~autograder.sandbox.cleanup`, :mod:`~autograder.sandbox.limits`.

Importing this package is cheap (no numpy); the threat model is ``docs/threat_model.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from autograder.sandbox.cleanup import RUN_LOCK, RUN_PREFIX, remove_stale_runs, remove_tree, run_folder
from autograder.sandbox.limits import Limits
from autograder.sandbox.session import LEVELS, IsolationUnavailable, Session

if TYPE_CHECKING:
    from autograder.sandbox.invoker import CellOutcome, SandboxInvoker, WorkerLost
    from autograder.sandbox.zygote import Zygote

__all__ = [
    "LEVELS",
    "RUN_LOCK",
    "RUN_PREFIX",
    "CellOutcome",
    "IsolationUnavailable",
    "Limits",
    "SandboxInvoker",
    "Session",
    "WorkerLost",
    "Zygote",
    "remove_stale_runs",
    "remove_tree",
    "run_folder",
]


def __getattr__(name: str) -> Any:  # the heavier modules load on first use
    if name in ("SandboxInvoker", "CellOutcome", "WorkerLost"):
        from autograder.sandbox import invoker

        return getattr(invoker, name)
    if name == "Zygote":
        from autograder.sandbox.zygote import Zygote

        return Zygote
    raise AttributeError(name)
