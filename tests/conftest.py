"""Test-wide settings. Hypothesis profiles are set here, once, for the whole suite.

- ``ci`` (the default): derandomized, no example database, no deadline, so every run
  explores the same examples and leaves no ``.hypothesis/`` folder behind.
- ``thorough``: the same with ten times the examples, for a local deep check:
  ``HYPOTHESIS_PROFILE=thorough make pytest``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

_COMMON = {
    "derandomize": True,
    "database": None,
    "deadline": None,
    "print_blob": False,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("ci", max_examples=40, **_COMMON)
settings.register_profile("thorough", max_examples=400, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# The grader's draws come from a per-course secret (autograder.draws). The suite uses a fixed one, so
# that golden feedback files and expected scores do not depend on the checkout; subprocesses
# (nbgrader, the command line) inherit it. tests/autograder/test_draws.py covers the secret file.
os.environ.setdefault("AUTOGRADER_DRAW_SECRET", "the test suite's draw secret")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())


def pytest_configure(config: pytest.Config) -> None:
    """Refuse, with the reason, a pytest whose node ids pytest-xdist's ``--dist loadgroup`` cannot
    mark: the tests marked ``xdist_group`` share a demo class, a JupyterLab server or an ordinary
    user's processes and cgroups, and side by side they fail each other. pytest 9.2 stores node ids
    where pytest-xdist 3.8 does not write its ``@group`` suffix (pytest-xdist#1386)."""
    if config.getoption("dist", "no") != "loadgroup":
        return
    import xdist

    if _version(pytest.__version__) >= (9, 2) and _version(xdist.__version__) <= (3, 8):
        raise pytest.UsageError(
            f"pytest {pytest.__version__} with pytest-xdist {xdist.__version__}: --dist loadgroup does "
            "not group (pytest-xdist#1386); install pytest<9.2 (pip install -e '.[dev]')"
        )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The same, checked on what a worker collected (a newer pair with the same problem stops here)."""
    if not getattr(config.option, "loadgroup", False):
        return
    grouped = [item.nodeid for item in items if item.get_closest_marker("xdist_group")]
    lost = [nodeid for nodeid in grouped if "@" not in nodeid]
    if lost:
        pytest.exit(f"--dist loadgroup did not group {lost[0]} (pytest-xdist#1386)", returncode=4)
