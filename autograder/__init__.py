"""autograder: grades students' functions against course_lib with hypothesis property tests.

``from autograder import check`` is the nbgrader hidden-test entry point (see :mod:`autograder.check`).
Importing the package loads numpy, hypothesis and the numpy parts of course_lib, never torch.
"""

from autograder.check import check

__all__ = ["check"]
