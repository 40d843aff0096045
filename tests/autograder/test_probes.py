"""autograder.probes: provenance detection, input inspection, the numerical_gradient probe, and that
the module stays shippable to the sandbox (stdlib, numpy and torch imports only)."""

from __future__ import annotations

import ast
import functools
import sys
from pathlib import Path

import numpy as np

import course_lib.conv
from autograder import probes
from autograder.probes import GRADIENT_FUNCTIONS, PROBES
from course_lib.conv import conv2d as reference_conv2d
from course_lib.tinycnn import TinyCNN


def honest(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def uses_reference(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return reference_conv2d(x, w)


def uses_module(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return course_lib.conv.conv2d(x, w)


def make_closure() -> object:
    ref = reference_conv2d

    def conv2d(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        return ref(x, w)

    return conv2d


class MyTinyCNN(TinyCNN):
    pass


def test_provenance_of_an_honest_function_is_none() -> None:
    assert PROBES["provenance"](honest) is None


def test_provenance_finds_every_kind_of_reference_use() -> None:
    cases = {
        "the reference itself": reference_conv2d,
        "a global import": uses_reference,
        "a module attribute": uses_module,
        "a closure": make_closure(),
        "a partial": functools.partial(reference_conv2d, stride=1),
        "a wrapped function": functools.wraps(reference_conv2d)(lambda *a: None),
        "a subclass": MyTinyCNN,
    }
    found = {name: PROBES["provenance"](obj) for name, obj in cases.items()}
    assert all(isinstance(v, str) and "course_lib" in v for v in found.values()), found


def test_inputs_after_call_returns_the_arguments_as_left() -> None:
    def in_place(x: np.ndarray) -> np.ndarray:
        x[0] = 9.0
        return x

    (after,) = PROBES["inputs_after_call"](in_place, np.zeros(2))
    np.testing.assert_array_equal(after, [9.0, 0.0])


def test_numerical_gradient_probe_builds_f_in_the_student_process() -> None:
    def student(f: object, x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
        x[0] += 1.0  # and never restores it
        return np.full(x.shape, 7.0)

    out = PROBES["numerical_gradient"](student, "sum_squares", np.array([1.0, 2.0]))
    np.testing.assert_array_equal(out["grad"], [7.0, 7.0])
    np.testing.assert_array_equal(out["x"], [2.0, 2.0])


def test_gradient_functions_are_the_functions_they_claim_to_be() -> None:
    x = np.array([0.5, -1.0, 2.0])
    for name, (source, f) in GRADIENT_FUNCTIONS.items():
        assert f(x) == eval(source, {"np": np})(x), name


def test_probes_module_imports_only_what_the_sandbox_has() -> None:
    tree = ast.parse(Path(probes.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"numpy", "torch"}
