"""autograder.probes: provenance detection, input inspection, the numerical_gradient probe, and that
the module stays shippable to the sandbox (stdlib, numpy and torch imports only)."""

from __future__ import annotations

import ast
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import course_lib.conv
from autograder import probes
from autograder.probes import CLOSURES, GRADIENT_FUNCTIONS, PROBES
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
        if name not in CLOSURES:
            assert f(x) == eval(source, {"np": np})(x), name
    for name, base in CLOSURES.items():  # "lambda _: np.sum(x ** 2), reading x through a closure"
        source = GRADIENT_FUNCTIONS[name][0].split(",")[0].replace("lambda _:", "lambda x:")
        assert GRADIENT_FUNCTIONS[base][1](x) == eval(source, {"np": np})(x), name


def _nudge_copies(f: Callable[..., float], x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    grad = np.zeros_like(x)
    for i in range(x.size):
        plus, minus = x.copy(), x.copy()
        plus[i] += eps
        minus[i] -= eps
        grad[i] = (f(plus) - f(minus)) / (2 * eps)
    return grad


def _nudge_in_place(f: Callable[..., float], x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    grad = np.zeros_like(x)
    for i in range(x.size):
        old = x[i]
        x[i] = old + eps
        up = f(x)
        x[i] = old - eps
        down = f(x)
        x[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad


def test_a_closure_test_function_reads_the_very_array_passed_in() -> None:
    x = np.array([1.0, -2.0])
    in_place = PROBES["numerical_gradient"](_nudge_in_place, "closure_sum_squares", x)
    copies = PROBES["numerical_gradient"](_nudge_copies, "closure_sum_squares", x)
    np.testing.assert_allclose(in_place["grad"], 2 * x, rtol=1e-6)  # d/dx sum(x^2)
    np.testing.assert_array_equal(copies["grad"], [0.0, 0.0])  # f never saw a nudged x


def test_the_steps_f_saw_are_recorded() -> None:
    x = np.array([1.5, -0.25, 2.0])
    assert PROBES["numerical_gradient"](_nudge_in_place, "sum_squares", x, 1e-3)["steps"] == [1e-3]
    assert PROBES["numerical_gradient"](_nudge_copies, "sum_squares", x)["steps"] == [1e-5]


def test_warnings_probe_sees_numpy_warnings_even_when_the_caller_silenced_them() -> None:
    def divides(cm: np.ndarray) -> np.ndarray:
        return np.diag(cm) / cm.sum(axis=1)

    def quiet(cm: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return divides(cm)

    cm = np.array([[1, 0], [0, 0]])
    with np.errstate(all="ignore"):  # as autograder.check runs the hidden tests
        loud_warnings = PROBES["warnings"](divides, cm)["warnings"]
        quiet_warnings = PROBES["warnings"](quiet, cm)["warnings"]
    assert len(loud_warnings) == 1 and "invalid value" in loud_warnings[0]
    assert quiet_warnings == []


def test_probes_module_imports_only_what_the_sandbox_has() -> None:
    tree = ast.parse(Path(probes.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"numpy", "torch"}


# --------------------------------------------------------------------------------- torch probes


def _train_listing_the_loader_first(model: Any, loader: Any, optimizer: Any) -> float:
    """A correct loop that materialises the loader first, flattens and copies each batch, and calls
    ``model.forward`` directly."""
    import torch.nn.functional as F

    model.train()
    batches = list(loader)
    total = 0.0
    for x, y in batches:
        optimizer.zero_grad()
        loss = F.cross_entropy(model.forward(x.reshape(len(x), -1).double().float()), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
    return total / sum(len(y) for _, y in batches)


def test_train_probe_records_the_batches_the_students_loop_ran() -> None:
    from course_lib.fashion import train_one_epoch

    ours = PROBES["train_one_epoch"](_train_listing_the_loader_first, 7, [2, 3, 1])
    reference = PROBES["train_one_epoch"](train_one_epoch, 7, [2, 3, 1])
    assert ours["batches"] == reference["batches"] == [0, 1, 2]
    assert ours["modes"] == [True, True, True]
    assert [z.shape for z in ours["logits"]] == [(2, 3), (3, 3), (1, 3)]
    assert ours["loss_type"] == reference["loss_type"] == "float"
    np.testing.assert_allclose(ours["params"], reference["params"], rtol=1e-6)
    for mine, theirs in zip(ours["logits"], reference["logits"], strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6)


def test_train_probe_hands_the_model_over_in_eval_mode() -> None:
    def no_train_call(model: Any, loader: Any, optimizer: Any) -> Any:
        for x, _ in loader:
            model(x)
        return "done"

    out = PROBES["train_one_epoch"](no_train_call, 0, [2, 2], 0.1, 0.5)
    assert out["modes"] == [False, False]
    assert out["loss"] is None and out["loss_type"] == "str"


def test_evaluate_probe_records_whether_autograd_was_on() -> None:
    from course_lib.fashion import evaluate

    def with_gradients(model: Any, loader: Any) -> tuple[float, float]:
        model.eval()
        for x, _ in loader:
            model(x)
        return 0.0, 0.0

    assert PROBES["evaluate"](evaluate, 0, [2, 2])["no_grad"] == [True, True]
    assert PROBES["evaluate"](with_gradients, 0, [2, 2])["no_grad"] == [False, False]


def test_model_probe_recomputes_the_stated_layers() -> None:
    import torch
    from torch import nn

    from course_lib.fashion import BaselineMLP, FashionCNN

    class LogSoftmaxMLP(BaselineMLP):  # type: ignore[misc]
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.log_softmax(super().forward(x), dim=1)

    class NoParameters(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.zeros(x.shape[0], 10)

    assert PROBES["torch_model"](BaselineMLP, {})["layer_logits"] is True
    assert PROBES["torch_model"](FashionCNN, {"kernel_size": 5})["layer_logits"] is True
    assert PROBES["torch_model"](LogSoftmaxMLP, {})["layer_logits"] is False
    facts = PROBES["torch_model"](NoParameters, {})
    assert facts["layer_logits"] is False and facts["all_grads"] is False and facts["train_varies"] is False
    assert PROBES["torch_model"](BaselineMLP, {"dropout": 0.5})["train_varies"] is True
    assert PROBES["torch_model"](BaselineMLP, {"dropout": 0.0})["train_varies"] is False


def test_count_parameters_can_freeze_only_a_weight() -> None:
    model = probes.build_torch_model([("linear", 10, 10, True, "frozen_weight")])
    assert [p.requires_grad for p in model.parameters()] == [False, True]
