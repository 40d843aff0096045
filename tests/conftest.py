"""Test-wide settings. Hypothesis profiles are set here, once, for the whole suite.

- ``ci`` (the default): derandomized, no example database, no deadline, so every run
  explores the same examples and leaves no ``.hypothesis/`` folder behind.
- ``thorough``: the same with ten times the examples, for a local deep check:
  ``HYPOTHESIS_PROFILE=thorough make pytest``.
"""

from __future__ import annotations

import os

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
