"""Assignment 5, fashion_mnist_kernels: PyTorch models, counts, training loops and metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from autograder import probes
from autograder import strategies as S
from autograder.items.base import Call, Item, Prop

#: Place in the course (teaching order).
POSITION = 5


# PyTorch items run through probes on tiny inputs: models are built with torch's seed 0 and fed two
# fixed 28x28 images; the training loops get a 16-feature model and a few seeded batches.


def _torch_model_reference(name: str) -> Callable[..., Any]:
    def reference(kwargs: dict[str, Any]) -> Any:
        from course_lib import fashion

        return probes.probe_torch_model(getattr(fashion, name), kwargs)

    return reference


def _describe_model(name: str) -> Callable[[Call], str]:
    def describe(call: Call) -> str:
        (kwargs,) = call.args
        return f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"

    return describe


def _torch_model_item(name: str, points: float, counts: tuple[Prop, ...], kwargs: dict[str, Any]) -> Item:
    """A Fashion-MNIST model item: its parameter counts (``counts``), then, for ``name(**kwargs)``,
    the logits' shape, dropout in eval mode and gradients reaching every parameter."""
    case = (Call((kwargs,)),)
    return Item(
        name,
        points=points,
        reference=_torch_model_reference(name),
        probe="torch_model",
        describe=_describe_model(name),
        properties=(
            *counts,
            Prop("logits of shape (N, 10) for (N, 1, 28, 28) images", 1, examples=case, keys=("out_shape",)),
            Prop("dropout is off in eval mode", 0.5, examples=case, keys=("eval_repeatable",)),
            Prop("every parameter gets a gradient", 0.5, examples=case, keys=("all_grads",)),
        ),
    )


def _param_count(name: str, *kwargs: dict[str, Any]) -> Prop:
    """A property: the model's parameter count for each of ``kwargs``."""
    return Prop(name, 1, examples=tuple(Call((k,)) for k in kwargs), keys=("n_params",))


BASELINE_MLP = _torch_model_item(
    "BaselineMLP", 3, (_param_count("matches the lecture's worked example: 109,386 parameters", {}),), {}
)

FASHION_CNN = _torch_model_item(
    "FashionCNN",
    4,
    (
        _param_count(
            "matches the lecture's worked example: 241,546 parameters with 3x3 kernels", {"kernel_size": 3}
        ),
        _param_count(
            "5x5 and 7x7 kernels: 405,898 and 652,426 parameters", {"kernel_size": 5}, {"kernel_size": 7}
        ),
    ),
    {"kernel_size": 3},
)


def _count_parameters_reference(layers: list[probes.LayerSpec]) -> int:
    from course_lib.fashion import count_parameters

    return count_parameters(probes.build_torch_model(layers))


def _describe_layers(call: Call) -> str:
    (layers,) = call.args
    names = {"linear": "Linear", "conv": "Conv2d", "bn": "BatchNorm2d", "relu": "ReLU"}
    parts = []
    for kind, *dims in layers:
        frozen = bool(dims) and dims[-1] == "frozen"
        dims = dims[:-1] if frozen else dims
        text = f"{names[kind]}({', '.join(map(str, dims))})"
        parts.append(text + " (frozen)" if frozen else text)
    return f"count_parameters(nn.Sequential({', '.join(parts)}))"


_LAYER = st.one_of(
    st.tuples(st.just("linear"), st.integers(1, 64), st.integers(1, 64), st.booleans()),
    st.tuples(st.just("conv"), st.integers(1, 16), st.integers(1, 16), st.integers(1, 5), st.booleans()),
    st.tuples(st.just("bn"), st.integers(1, 16)),
)

COUNT_PARAMETERS = Item(
    "count_parameters",
    points=2,
    reference=_count_parameters_reference,
    probe="count_parameters",
    describe=_describe_layers,
    properties=(
        Prop(
            "matches the lecture's worked example: Conv2d(1, 32, 3) has 320",
            0.5,
            examples=(Call(([("conv", 1, 32, 3)],)),),
        ),
        Prop(
            "linear, convolution and batch-norm stacks",
            1,
            st.lists(_LAYER, min_size=1, max_size=3).map(lambda ls: Call((ls,))),
            max_examples=8,
        ),
        Prop(
            "counts only trainable parameters",
            0.5,
            st.tuples(_LAYER, _LAYER).map(lambda ab: Call(([ab[0], (*ab[1], "frozen")],))),
            max_examples=5,
        ),
    ),
)


def _train_reference(seed: int, sizes: list[int], lr: float = 0.1) -> dict[str, Any]:
    from course_lib.fashion import train_one_epoch

    return probes.probe_train_one_epoch(train_one_epoch, seed, sizes, lr)


def _describe_training(name: str) -> Callable[[Call], str]:
    def describe(call: Call) -> str:
        seed, sizes, *rest = call.args
        dropout = f"Dropout({rest[0]}) -> " if rest and rest[0] else ""
        model = f"a Linear(16, 8) -> ReLU -> {dropout}Linear(8, 3) model"
        extra = ", SGD(lr=0.1)" if name == "train_one_epoch" else ""
        return f"{name}({model}, batches of sizes {list(sizes)} (data seed {seed}){extra})"

    return describe


_BATCH_SIZES = st.lists(st.integers(1, 5), min_size=1, max_size=3)

TRAIN_ONE_EPOCH = Item(
    "train_one_epoch",
    points=3,
    reference=_train_reference,
    probe="train_one_epoch",
    describe=_describe_training("train_one_epoch"),
    properties=(
        Prop("matches the reference on a fixed small run", 0.5, examples=(Call((0, [4, 4])),)),
        Prop(
            "returns the mean loss, weighted by batch size",
            1,
            st.tuples(st.integers(0, 99), _BATCH_SIZES).map(lambda a: Call(a)),
            keys=("loss",),
            max_examples=4,
        ),
        Prop(
            "one optimizer step per batch (zero_grad, backward, step)",
            1.5,
            st.tuples(st.integers(0, 99), _BATCH_SIZES).map(lambda a: Call(a)),
            keys=("params",),
            max_examples=4,
        ),
    ),
)


def _evaluate_reference(seed: int, sizes: list[int], dropout: float = 0.0) -> dict[str, Any]:
    from course_lib.fashion import evaluate

    return probes.probe_evaluate(evaluate, seed, sizes, dropout)


EVALUATE = Item(
    "evaluate",
    points=3,
    reference=_evaluate_reference,
    probe="evaluate",
    describe=_describe_training("evaluate"),
    properties=(
        Prop(
            "matches the reference on a fixed small run",
            1,
            examples=(Call((0, [4, 4])),),
            keys=("loss", "accuracy"),
        ),
        Prop(
            "mean loss and accuracy in [0, 1], weighted by batch size",
            0.5,
            st.tuples(st.integers(0, 99), _BATCH_SIZES).map(lambda a: Call(a)),
            keys=("loss", "accuracy"),
            max_examples=4,
        ),
        Prop("evaluates in eval mode (dropout off)", 1, examples=(Call((1, [4, 4], 0.5)),), keys=("loss",)),
        Prop("does not change the parameters", 0.5, examples=(Call((2, [3, 3])),), keys=("params",)),
    ),
)


@st.composite
def _label_calls(draw: st.DrawFn, spare_classes: int = 0) -> Call:
    k, y_true, y_pred = draw(S.label_pairs(n_classes=st.integers(1, 6), max_size=12))
    return Call((y_true, y_pred), {"n_classes": k + spare_classes})


def _confusion_reference(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = 10) -> np.ndarray:
    from course_lib.fashion import confusion_matrix

    result: np.ndarray = confusion_matrix(y_true, y_pred, n_classes)
    return result


CONFUSION_MATRIX = Item(
    "confusion_matrix",
    points=3,
    reference=_confusion_reference,
    params=("y_true", "y_pred"),
    properties=(
        Prop(
            "matches the lecture's worked example",
            1,
            examples=(Call((np.array([0, 1, 2, 2, 1, 0]), np.array([0, 2, 2, 1, 1, 1])), {"n_classes": 3}),),
        ),
        Prop("rows are true classes, columns predictions", 1, _label_calls()),
        Prop("n_classes sets the size (absent classes count 0)", 0.5, _label_calls(spare_classes=2)),
        Prop("does not modify its inputs", 0.5, _label_calls(), expect="unchanged", max_examples=3),
    ),
)


def _per_class_reference(cm: np.ndarray) -> np.ndarray:
    from course_lib.fashion import per_class_accuracy

    result: np.ndarray = per_class_accuracy(cm)
    return result


@st.composite
def _confusion_matrices(draw: st.DrawFn, empty_row: bool = False) -> Call:
    k = draw(st.integers(2, 5))
    cm = np.random.default_rng(draw(S.SEEDS)).integers(0, 6, size=(k, k)) + np.eye(k, dtype=np.int64)
    if empty_row:
        cm[draw(st.integers(0, k - 1))] = 0
    return Call((cm.astype(np.int64),))


PER_CLASS_ACCURACY = Item(
    "per_class_accuracy",
    points=2,
    reference=_per_class_reference,
    params=("cm",),
    properties=(
        Prop("matches the lecture's worked example", 0.5, examples=(Call((np.array([[5, 1], [2, 2]]),)),)),
        Prop("diagonal over row sums (recall per class)", 1, _confusion_matrices()),
        Prop("NaN for a class with no samples", 0.5, _confusion_matrices(empty_row=True), max_examples=5),
    ),
)


#: The graded items, in notebook order.
GRADED: tuple[Item, ...] = (
    BASELINE_MLP,
    FASHION_CNN,
    COUNT_PARAMETERS,
    TRAIN_ONE_EPOCH,
    EVALUATE,
    CONFUSION_MATRIX,
    PER_CLASS_ACCURACY,
)

AUDIT: tuple = ()
