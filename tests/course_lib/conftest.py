"""Fixtures for the course_lib tests (hypothesis profiles live in ``tests/conftest.py`` only)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(scope="module")
def torch_single_thread() -> Iterator[None]:
    """Run torch on one thread while a module's oracle calls run, then restore the setting.

    The oracles are thousands of tiny float64 calls: with two threads on a busy 2-core machine, torch's
    thread hand-offs made a 1x2x19x17 conv2d take 2-80 ms instead of 0.01 ms.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
