"""Assignment 5, fashion_mnist_kernels: PyTorch models, counts, training loops and metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from autograder import probes
from autograder import strategies as S
from autograder.compare import compare_float
from autograder.items.base import Call, Item, Prop, Requirement, integer_array

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


def _models(*kwargs: dict[str, Any]) -> tuple[Call, ...]:
    return tuple(Call((k,)) for k in kwargs)


def _fact(key: str, if_true: str, if_false: str) -> Callable[[Call, Any, Any], str | None]:
    """Judge: the probe's boolean ``key`` is what the reference gives, else the matching explanation."""

    def judge(call: Call, expected: Any, got: Any) -> str | None:
        value = got.get(key) if isinstance(got, dict) else None
        if value is expected[key]:
            return None
        return if_true if value is True else if_false

    return judge


_LAYER_LOGITS = _fact(
    "layer_logits",
    "its logits are what its own layers compute in the stated order, which should not be the case here",
    "in eval mode its output differs from what its own Conv2d/Linear layers compute in the stated order, "
    "with ReLUs in between and raw logits at the end (a softmax? a missing ReLU?)",
)


def _model_props(default: dict[str, Any]) -> tuple[Prop, ...]:
    """What every Fashion-MNIST model is checked for, on ``name(**default)``: the stated layers give raw
    logits, dropout(p) works in training mode only, the output shape, gradients for every parameter."""
    case = _models(default)
    return (
        Prop(
            "dropout(p) is on in training mode (p=0.5 varies, p=0 does not)",
            0.5,
            examples=_models({**default, "dropout": 0.5}, {**default, "dropout": 0.0}),
            keys=("train_varies",),
            judge=_fact(
                "train_varies",
                "two passes in training mode differ although dropout=0.0",
                "two passes in training mode give the same logits: no dropout",
            ),
        ),
        Prop(
            "dropout is off in eval mode",
            0.25,
            examples=case,
            keys=("eval_repeatable",),
            side=True,
            judge=_fact("eval_repeatable", "", "two passes in eval mode differ: dropout is still on"),
        ),
        Prop(
            "logits of shape (N, 10) for (N, 1, 28, 28) images",
            0.25,
            examples=case,
            keys=("out_shape",),
            side=True,
        ),
        Prop(
            "every parameter gets a gradient",
            0.25,
            examples=case,
            keys=("all_grads",),
            judge=_fact("all_grads", "", "some parameter gets no gradient from the logits (or it has none)"),
        ),
    )


def _param_count(name: str, *kwargs: dict[str, Any]) -> Prop:
    """A property: the model's parameter count for each of ``kwargs``."""
    return Prop(name, 0.5, examples=_models(*kwargs), keys=("n_params",))


BASELINE_MLP = Item(
    "BaselineMLP",
    points=3,
    reference=_torch_model_reference("BaselineMLP"),
    probe="torch_model",
    describe=_describe_model("BaselineMLP"),
    properties=(
        _param_count("matches the lecture's worked example: 109,386 parameters", {}),
        _param_count(
            "hidden sets the widths: (256, 128) and (100,)", {"hidden": (256, 128)}, {"hidden": (100,)}
        ),
        Prop(
            "forward: Linear -> ReLU per hidden width, then raw logits (no softmax)",
            0.75,
            examples=_models({}, {"hidden": (100,)}),
            keys=("layer_logits",),
            judge=_LAYER_LOGITS,
        ),
        *_model_props({}),
    ),
)

FASHION_CNN = Item(
    "FashionCNN",
    points=4,
    reference=_torch_model_reference("FashionCNN"),
    probe="torch_model",
    describe=_describe_model("FashionCNN"),
    properties=(
        _param_count(
            "matches the lecture's worked example: 241,546 parameters with 3x3 kernels", {"kernel_size": 3}
        ),
        _param_count(
            "5x5 and 7x7 kernels: 405,898 and 652,426 parameters", {"kernel_size": 5}, {"kernel_size": 7}
        ),
        _param_count(
            "channels and hidden set the widths",
            {"channels": (8, 16, 32), "hidden": 64},
            {"kernel_size": 3, "channels": (4, 8, 16), "hidden": 20},
        ),
        Prop(
            "forward: three [Conv -> ReLU -> MaxPool 2x2] blocks, then Linear -> ReLU -> Linear, raw logits",
            1,
            examples=_models({"kernel_size": 3}, {"kernel_size": 5, "channels": (4, 8, 16), "hidden": 20}),
            keys=("layer_logits",),
            judge=_LAYER_LOGITS,
        ),
        *_model_props({"kernel_size": 3}),
        Prop(
            "rejects an even kernel_size",
            0.25,
            examples=(
                Call(({"kernel_size": 4},), note="kernel_size must be odd"),
                Call(({"kernel_size": 2},), note="kernel_size must be odd"),
            ),
            expect="raises",
        ),
    ),
)


def _count_parameters_reference(layers: list[probes.LayerSpec]) -> int:
    from course_lib.fashion import count_parameters

    return count_parameters(probes.build_torch_model(layers))


def _describe_layers(call: Call) -> str:
    (layers,) = call.args
    names = {"linear": "Linear", "conv": "Conv2d", "bn": "BatchNorm2d", "relu": "ReLU"}
    parts = []
    for kind, *dims in layers:
        freeze = dims[-1] if dims and dims[-1] in ("frozen", "frozen_weight") else ""
        dims = dims[:-1] if freeze else dims
        text = f"{names[kind]}({', '.join(map(str, dims))})"
        parts.append(text + {"": "", "frozen": " (frozen)", "frozen_weight": " (weight frozen)"}[freeze])
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
            examples=(
                Call(([("conv", 1, 32, 3)],)),
                Call(([("linear", 784, 10)],)),
                Call(([("conv", 32, 64, 3), ("relu",), ("bn", 64)],)),
            ),
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
            examples=(Call(([("linear", 10, 10, True, "frozen_weight")],)),),
            max_examples=5,
        ),
    ),
)


def _train_reference(seed: int, sizes: list[int], lr: float = 0.1, dropout: float = 0.0) -> dict[str, Any]:
    from course_lib.fashion import train_one_epoch

    return probes.probe_train_one_epoch(train_one_epoch, seed, sizes, lr, dropout)


def _describe_training(name: str) -> Callable[[Call], str]:
    def describe(call: Call) -> str:
        seed, sizes, *rest = call.args
        dropout = rest[-1] if rest else 0.0
        dropout_text = f"Dropout({dropout}) -> " if dropout else ""
        model = f"a Linear(16, 8) -> ReLU -> {dropout_text}Linear(8, 3) model"
        extra = ", SGD(lr=0.1)" if name == "train_one_epoch" else ""
        return f"{name}({model}, batches of sizes {list(sizes)} (data seed {seed}){extra})"

    return describe


def _mean_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of a batch, in float64 (what ``F.cross_entropy`` computes)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].mean())


def _own_mean_loss(call: Call, expected: Any, got: Any) -> str | None:
    """Judge: the returned loss is the mean, weighted by batch size, of the losses of the batches the
    student's own loop ran (each batch's loss from the logits of its first forward pass)."""
    seed, sizes = call.args[:2]
    batches, logits = got.get("batches"), got.get("logits")
    if not isinstance(batches, list) or not isinstance(logits, list) or len(batches) != len(logits):
        return "could not read the batches its loop ran"
    if not batches:
        return "its loop ran no forward pass on any batch"
    labels = [y.numpy() for _, y in probes.make_batches(seed, list(sizes))]
    if not all(isinstance(b, int) and 0 <= b < len(labels) for b in batches):
        return "could not read the batches its loop ran"
    if not all(
        isinstance(z, np.ndarray) and z.shape == (len(labels[b]), 3)
        for b, z in zip(batches, logits, strict=True)
    ):
        return "its model's logits do not have the shape (B, 3)"
    losses = [_mean_cross_entropy(z, labels[b]) for b, z in zip(batches, logits, strict=True)]
    weights = [len(labels[b]) for b in batches]
    own = sum(w * loss for w, loss in zip(weights, losses, strict=True)) / sum(weights)
    message = compare_float(own, got.get("loss"))
    if message is None:
        return None
    return f"the weighted mean of its own {len(batches)} batch losses: {message}"


def _all_in_training_mode(call: Call, expected: Any, got: Any) -> str | None:
    """Judge: every batch's forward pass ran in training mode (the model was handed over in eval mode)."""
    modes = got.get("modes")
    if not isinstance(modes, list) or not modes:
        return "its loop ran no forward pass on any batch"
    if all(mode is True for mode in modes):
        return None
    return f"the model was in eval mode for {modes.count(False)} of its {len(modes)} batches (model.train()?)"


_BATCH_SIZES = st.lists(st.integers(1, 5), min_size=1, max_size=3)
_RUNS = st.tuples(st.integers(0, 99), _BATCH_SIZES).map(lambda a: Call(a))

TRAIN_ONE_EPOCH = Item(
    "train_one_epoch",
    points=3,
    reference=_train_reference,
    probe="train_one_epoch",
    describe=_describe_training("train_one_epoch"),
    properties=(
        Prop(
            "matches the reference on a fixed small run",
            0.5,
            examples=(Call((0, [4, 4])),),
            keys=("loss", "params"),
        ),
        Prop(
            "returns the mean loss of its batches, weighted by batch size",
            0.75,
            _RUNS,
            # a last, smaller batch: where the mean of the batch means and the weighted mean differ,
            # whatever the course's draws
            examples=(Call((1, [4, 1])),),
            keys=("loss", "batches", "logits"),
            max_examples=4,
            judge=_own_mean_loss,
        ),
        Prop(
            "one optimizer step per batch (zero_grad, backward, step)",
            1,
            _RUNS,
            keys=("params",),
            max_examples=4,
        ),
        Prop(
            "trains in training mode (model.train())",
            0.5,
            examples=(Call((3, [2, 2], 0.1, 0.5)),),
            keys=("modes",),
            judge=_all_in_training_mode,
        ),
        Prop("returns a Python float", 0.25, examples=(Call((4, [3])),), keys=("loss_type",), side=True),
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
            0.5,
            examples=(Call((0, [4, 4])),),
            keys=("loss", "accuracy"),
        ),
        Prop(
            "mean loss and accuracy in [0, 1], weighted by batch size",
            0.75,
            _RUNS,
            examples=(Call((1, [4, 1])),),
            keys=("loss", "accuracy"),
            max_examples=4,
        ),
        Prop(
            "evaluates in eval mode (dropout off)", 0.75, examples=(Call((1, [4, 4], 0.5)),), keys=("loss",)
        ),
        Prop("without gradients (torch.no_grad())", 0.5, examples=(Call((5, [2, 3])),), keys=("no_grad",)),
        Prop(
            "does not change the parameters",
            0.5,
            examples=(Call((2, [3, 3])),),
            keys=("params",),
            side=True,
        ),
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
        Prop("rows are true classes, columns predictions", 1.25, _label_calls()),
        Prop(
            "n_classes sets the size (absent classes count 0; 10 by default)",
            0.5,
            _label_calls(spare_classes=2),
            examples=(Call((np.array([3, 1]), np.array([3, 0]))),),
        ),
        Prop("an int array", 0.25, _label_calls(), max_examples=3, side=True, judge=integer_array),
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


def _no_warnings(call: Call, expected: Any, got: Any) -> str | None:
    """Judge: numpy printed no warning during the call."""
    caught = got.get("warnings") if isinstance(got, dict) else None
    if caught == []:
        return None
    return f"numpy warned: {caught[0] if isinstance(caught, list) and caught else caught!r}"


PER_CLASS_ACCURACY = Item(
    "per_class_accuracy",
    points=2,
    reference=_per_class_reference,
    params=("cm",),
    properties=(
        Prop("matches the lecture's worked example", 0.5, examples=(Call((np.array([[5, 1], [2, 2]]),)),)),
        Prop("diagonal over row sums (recall per class)", 0.75, _confusion_matrices()),
        Prop(
            "NaN for a class with no samples",
            0.5,
            _confusion_matrices(empty_row=True),
            max_examples=5,
            side=True,
        ),
        Prop(
            "no numpy warnings (also for an empty row)",
            0.25,
            _confusion_matrices(empty_row=True),
            max_examples=2,
            side=True,
            judge=_no_warnings,
            probe="warnings",
        ),
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

R = Requirement

#: The requirements audit: each sentence of the released notebook that states behaviour.
_MLP_FORWARD = "forward: Linear -> ReLU per hidden width, then raw logits (no softmax)"
_CNN_FORWARD = (
    "forward: three [Conv -> ReLU -> MaxPool 2x2] blocks, then Linear -> ReLU -> Linear, raw logits"
)
_DROPOUT = "dropout(p) is on in training mode (p=0.5 varies, p=0 does not)"
_UNCHANGED_NOT_STATED = (
    "does not modify its inputs: not stated in the notebook, so not graded (it was 0.5 points before "
    "the audit); wording proposed in the audit report"
)

AUDIT: tuple[Requirement, ...] = (
    # ---- BaselineMLP
    R(
        "BaselineMLP",
        r"= 100{,}480 + 8{,}256 + 650 = \mathbf{109{,}386}.",
        "matches the lecture's worked example: 109,386 parameters",
        "first layer without bias in the default model",
    ),
    R(
        "BaselineMLP",
        "`BaselineMLP(hidden=(128, 64), dropout=0.2)`",
        "hidden sets the widths: (256, 128) and (100,)",
        "hidden ignored (always 128, 64)",
    ),
    R(
        "BaselineMLP",
        "then for each hidden width a `Linear` layer, a `ReLU` and a `Dropout(dropout)`",
        _MLP_FORWARD,
        "no ReLU after the second layer",
    ),
    R(
        "BaselineMLP",
        "and a final `Linear` to the 10 class logits (no softmax: `F.cross_entropy` takes logits)",
        _MLP_FORWARD,
        "ends in LogSoftmax",
    ),
    R("BaselineMLP", "a `ReLU` and a `Dropout(dropout)`", _DROPOUT, "no dropout"),
    R("BaselineMLP", "`Dropout(dropout)`", _DROPOUT, "dropout rate fixed at 0.2"),
    R(
        "BaselineMLP",
        "in eval mode two passes differ by up to {difference:.3g}, expected 0: dropout must be off",
        "dropout is off in eval mode",
        "dropout also in eval mode",
        also=(_MLP_FORWARD,),
        note="the layer check runs in eval mode, where this model still drops units",
    ),
    R(
        "BaselineMLP",
        "`forward(x)` maps `(N, 1, 28, 28)` to `(N, 10)`",
        "logits of shape (N, 10) for (N, 1, 28, 28) images",
        "logits of shape (N, 10, 1)",
        also=(_MLP_FORWARD,),
    ),
    R(
        "BaselineMLP",
        "Flatten -> [Linear -> ReLU -> Dropout] for each hidden width -> Linear (10 logits).",
        "every parameter gets a gradient",
        "detaches the first layer's output",
        note="every layer feeds the logits, so every parameter learns",
    ),
    # ---- FashionCNN
    R(
        "FashionCNN",
        r"i.e. **241,546** for $3\times3$",
        "matches the lecture's worked example: 241,546 parameters with 3x3 kernels",
        "first convolution without bias for 3x3 kernels",
    ),
    R(
        "FashionCNN",
        "`Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2)`",
        "5x5 and 7x7 kernels: 405,898 and 652,426 parameters",
        "padding=1 whatever the kernel size",
    ),
    R(
        "FashionCNN",
        "`FashionCNN(kernel_size=3, channels=(32, 64, 128), hidden=128, dropout=0.3)`",
        "channels and hidden set the widths",
        "channels and hidden ignored",
    ),
    R(
        "FashionCNN",
        r"Then `Flatten` ($128 \cdot 3 \cdot 3 = 1152$ features), `Linear(1152, 128)`, `ReLU`,",
        _CNN_FORWARD,
        "no ReLU after the first dense layer",
    ),
    R(
        "FashionCNN",
        "Flatten -> Linear(C*9, hidden) -> ReLU -> Dropout -> Linear(hidden, 10)",
        _CNN_FORWARD,
        "ends in Softmax",
    ),
    R("FashionCNN", "`Dropout(0.3)`", _DROPOUT, "no dropout"),
    R(
        "FashionCNN",
        "expected 0: dropout must be off",
        "dropout is off in eval mode",
        "dropout also in eval mode",
        also=(_CNN_FORWARD,),
        note="the layer check runs in eval mode, where this model still drops units",
    ),
    R(
        "FashionCNN",
        "has shape {got}, expected (2, 10)",
        "logits of shape (N, 10) for (N, 1, 28, 28) images",
        "logits of shape (N, 10, 1)",
        also=(_CNN_FORWARD,),
    ),
    R(
        "FashionCNN",
        "Three blocks [Conv(k, same padding) -> ReLU -> MaxPool 2x2] (28 -> 14 -> 7 -> 3), then",
        "every parameter gets a gradient",
        "detaches the features",
        note="every layer feeds the logits, so every parameter learns",
    ),
    R(
        "FashionCNN",
        "`kernel_size` must be odd (raise a `ValueError` otherwise",
        "rejects an even kernel_size",
        "even kernel sizes accepted",
    ),
    # ---- count_parameters
    R(
        "count_parameters",
        "the lecture's example: 3*3*1*32 + 32",
        "matches the lecture's worked example: Conv2d(1, 32, 3) has 320",
        "wrong only on the lecture's Conv2d(1, 32, 3)",
    ),
    R(
        "count_parameters",
        "`model.parameters()` yields every weight tensor of a module and `p.numel()` is its number of "
        "entries",
        "linear, convolution and batch-norm stacks",
        "counts tensors, not their entries",
        also=(
            "matches the lecture's worked example: Conv2d(1, 32, 3) has 320",
            "counts only trainable parameters",
        ),
        note="every property counts entries; the lecture's example has one tensor of 288 and one of 32",
    ),
    R(
        "count_parameters",
        "nn.Sequential(nn.Conv2d(32, 64, 3), nn.ReLU(), nn.BatchNorm2d(64)), 18_496 + 128",
        "linear, convolution and batch-norm stacks",
        "Linear and Conv2d layers only (not BatchNorm2d)",
        also=(
            "matches the lecture's worked example: Conv2d(1, 32, 3) has 320",
            "counts only trainable parameters",
        ),
        note="the lecture's examples and the frozen stacks have batch norms too",
    ),
    R(
        "count_parameters",
        "Write `count_parameters(model)`: the number of **trainable** parameters.",
        "counts only trainable parameters",
        "counts frozen parameters too",
    ),
    # ---- train_one_epoch
    R(
        "train_one_epoch",
        "One **epoch** visits every batch of the loader once.",
        "matches the reference on a fixed small run",
        "skips the last batch",
        also=("one optimizer step per batch (zero_grad, backward, step)",),
    ),
    R(
        "train_one_epoch",
        "clear the old gradients (`optimizer.zero_grad()`)",
        "one optimizer step per batch (zero_grad, backward, step)",
        "never zeroes the gradients",
        also=("matches the reference on a fixed small run",),
    ),
    R(
        "train_one_epoch",
        "so the epoch's mean loss is the average **weighted by batch size**",
        "returns the mean loss of its batches, weighted by batch size",
        "mean of the batch means",
    ),
    R(
        "train_one_epoch",
        "Put the model in training mode first (`model.train()`: dropout on).",
        "trains in training mode (model.train())",
        "never calls model.train()",
    ),
    R(
        "train_one_epoch",
        "(use `loss.item()` to get a Python float)",
        "returns a Python float",
        "returns a tensor",
    ),
    # ---- evaluate
    R(
        "evaluate",
        "`evaluate` computes the mean cross-entropy and the accuracy over a loader",
        "matches the reference on a fixed small run",
        "sum of the batch losses",
        also=(
            "mean loss and accuracy in [0, 1], weighted by batch size",
            "evaluates in eval mode (dropout off)",
        ),
        note="the eval-mode property compares the loss too",
    ),
    R(
        "evaluate",
        "`evaluate(model, loader) -> (loss, accuracy)` (accuracy in $[0, 1]$)",
        "mean loss and accuracy in [0, 1], weighted by batch size",
        "accuracy in percent",
    ),
    R(
        "evaluate",
        "(mean cross-entropy, accuracy in [0, 1]) over loader",
        "mean loss and accuracy in [0, 1], weighted by batch size",
        "mean of the batch means",
    ),
    R(
        "evaluate",
        "`model.eval()` (dropout off)",
        "evaluates in eval mode (dropout off)",
        "stays in train mode",
    ),
    R(
        "evaluate",
        "`torch.no_grad()` (no gradients, faster)",
        "without gradients (torch.no_grad())",
        "gradients on",
    ),
    R(
        "evaluate",
        "**without changing the model**",
        "does not change the parameters",
        "a leftover optimizer step after the loop",
    ),
    # ---- confusion_matrix
    R(
        "confusion_matrix",
        r"C = \begin{pmatrix} 1 & 1 & 0\\ 0 & 1 & 1\\ 0 & 1 & 1 \end{pmatrix},",
        "matches the lecture's worked example",
        "wrong only on the lecture's labels",
    ),
    R(
        "confusion_matrix",
        "(rows: truth, columns: prediction;",
        "rows are true classes, columns predictions",
        "rows are predictions",
        also=(
            "matches the lecture's worked example",
            "n_classes sets the size (absent classes count 0; 10 by default)",
            "an int array",
        ),
        note="every value property counts; the side condition then earns nothing",
    ),
    R(
        "confusion_matrix",
        "`confusion_matrix(y_true, y_pred, n_classes=10)`",
        "n_classes sets the size (absent classes count 0; 10 by default)",
        "3 classes by default",
    ),
    R("confusion_matrix", "(an int array `(n_classes, n_classes)`)", "an int array", "float counts"),
    R("confusion_matrix", "", None, note=_UNCHANGED_NOT_STATED),
    # ---- per_class_accuracy
    R(
        "per_class_accuracy",
        "(np.array([[5, 1], [2, 2]]), [5 / 6, 0.5]),",
        "matches the lecture's worked example",
        "wrong only on the lecture's matrix",
    ),
    R(
        "per_class_accuracy",
        r"The accuracy *per class* (its recall) is $C_{ii} / \sum_j C_{ij}$",
        "diagonal over row sums (recall per class)",
        "divides by column sums",
        also=(
            "matches the lecture's worked example",
            "NaN for a class with no samples",
            "no numpy warnings (also for an empty row)",
        ),
        note="every value property divides; the side conditions then earn nothing",
    ),
    R(
        "per_class_accuracy",
        "undefined (NaN) for a class without any test image",
        "NaN for a class with no samples",
        "0 for a class with no samples",
    ),
    R(
        "per_class_accuracy",
        "don't let numpy print warnings",
        "no numpy warnings (also for an empty row)",
        "numpy warns on an empty row",
    ),
)
