"""Credit only for what works: an implementation that ignores its inputs earns 0 on every item.

For a function: one returning a constant, None, or zeros shaped like its input or like the expected
output (computed by the reference, so the fake's shapes are always right). For a class: a model whose
forward returns zeros or a constant and whose counts are constants. No property can be satisfied by
such an implementation except side conditions ("does not modify its inputs", "rejects ...", "0.0 when
both are zero"), which earn only together with a main property.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from autograder.invoke import LocalInvoker
from autograder.items import ITEMS
from autograder.properties import run_item

FUNCTIONS = [g for g, item in ITEMS.items() if item.probe is None]
Fake = Callable[..., Any]


def _zeros_like(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return type(value)(_zeros_like(v) for v in value)
    if isinstance(value, np.ndarray):
        return np.zeros_like(value, dtype=np.float64)
    return 0


def _function_fakes(grade_id: str) -> dict[str, Fake]:
    reference = ITEMS[grade_id].reference

    def first_array(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        arrays = [a for a in (*args, *kwargs.values()) if isinstance(a, np.ndarray)]
        return np.zeros_like(arrays[0], dtype=np.float64) if arrays else 0

    def like_expected(*args: Any, **kwargs: Any) -> Any:
        try:
            return _zeros_like(reference(*args, **kwargs))
        except (ValueError, TypeError):
            return 0

    return {
        "0": lambda *a, **k: 0,
        "1.0": lambda *a, **k: 1.0,
        "None": lambda *a, **k: None,
        "zeros like the input": lambda *a, **k: first_array(a, k),
        "zeros like the expected output": like_expected,
    }


def _numerical_gradient_fakes() -> dict[str, Fake]:
    return {
        "zeros like x, f never called": lambda f, x, eps=1e-5: np.zeros_like(x),
        "0.0": lambda f, x, eps=1e-5: 0.0,
        "None": lambda f, x, eps=1e-5: None,
    }


def _tinycnn_fake(output: float) -> type:
    class TinyCNN:
        n_params = 114

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            shapes = {"conv.w": (3, 1, 3, 3), "conv.b": (3,), "dense.w": (3, 27), "dense.b": (3,)}
            self.params = {name: np.zeros(shape) for name, shape in shapes.items()}

        def forward(self, X: np.ndarray) -> np.ndarray:
            return np.full((len(X), 3), output)

        def backward(self, X: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
            return {name: np.zeros_like(p) for name, p in self.params.items()}

        def predict(self, X: np.ndarray) -> np.ndarray:
            return np.zeros(len(X), dtype=np.int64)

    return TinyCNN


def _torch_model_fake(output: float) -> type:
    class Model(nn.Module):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__()
            self.unused = nn.Linear(4, 2)  # a constant parameter count: 10

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.full((x.shape[0], 10), output)

    return Model


def _constant(value: Any) -> Fake:
    """A function (a model's count, a training loop, ...) that returns ``value`` and does nothing."""
    return lambda *args, **kwargs: value


def _fakes(grade_id: str) -> dict[str, Fake]:
    if grade_id in FUNCTIONS:
        return _function_fakes(grade_id)
    if grade_id == "numerical_gradient":
        return _numerical_gradient_fakes()
    if grade_id == "TinyCNN":
        return {"zero logits": _tinycnn_fake(0.0), "constant logits": _tinycnn_fake(0.5)}
    if grade_id in ("BaselineMLP", "FashionCNN"):
        return {"zero logits": _torch_model_fake(0.0), "constant logits": _torch_model_fake(0.5)}
    if grade_id == "count_parameters":
        return {str(n): _constant(n) for n in (0, 320, 109_386)}
    if grade_id == "train_one_epoch":
        return {str(v): _constant(v) for v in (0.0, 1.0, None)}
    if grade_id == "evaluate":
        return {str(v): _constant(v) for v in ((0.0, 0.0), (1.0, 1.0), None)}
    raise AssertionError(f"no fakes for {grade_id}")


CASES = [(g, name) for g in sorted(ITEMS) for name in _fakes(g)]


@pytest.mark.parametrize(("grade_id", "name"), CASES, ids=[f"{g}: {n}" for g, n in CASES])
def test_an_implementation_that_ignores_its_inputs_earns_nothing(grade_id: str, name: str) -> None:
    fake = _fakes(grade_id)[name]
    result = run_item(ITEMS[grade_id], LocalInvoker({grade_id: fake}), detect_reference=False)
    earned = {p.name: p.lines for p in result.properties if p.passed}
    assert earned == {}
    assert result.earned == 0


def test_every_item_has_fakes() -> None:
    assert {g for g, _ in CASES} == set(ITEMS)
