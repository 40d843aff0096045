"""fashion_mnist_kernels: students' PyTorch models, counts, loops and metrics, correct and buggy."""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn

from tests.autograder.mutants import Correct, mutant

DROPOUT = "dropout(p) is on in training mode (p=0.5 varies, p=0 does not)"
EVAL = "dropout is off in eval mode"
SHAPE = "logits of shape (N, 10) for (N, 1, 28, 28) images"
GRADS = "every parameter gets a gradient"
MLP_WORKED = "matches the lecture's worked example: 109,386 parameters"
MLP_HIDDEN = "hidden sets the widths: (256, 128) and (100,)"
MLP_FORWARD = "forward: Linear -> ReLU per hidden width, then raw logits (no softmax)"
CNN_WORKED = "matches the lecture's worked example: 241,546 parameters with 3x3 kernels"
CNN_KERNELS = "5x5 and 7x7 kernels: 405,898 and 652,426 parameters"
CNN_WIDTHS = "channels and hidden set the widths"
CNN_FORWARD = "forward: three [Conv -> ReLU -> MaxPool 2x2] blocks, then Linear -> ReLU -> Linear, raw logits"
CNN_EVEN = "rejects an even kernel_size"


def make_baseline_mlp(
    dropout_always: bool = False,
    dropout: str = "given",
    end: str = "logits",
    hidden_ignored: bool = False,
    first_bias_default: bool = True,
    second_relu: bool = True,
    detach_first: bool = False,
    extra_axis: bool = False,
):
    class BaselineMLP(nn.Module):
        def __init__(self, hidden=(128, 64), dropout_p=0.2, **kwargs):
            super().__init__()
            p = kwargs.get("dropout", dropout_p)
            hidden = (128, 64) if hidden_ignored else tuple(hidden)
            widths = [784, *hidden]
            bias_first = first_bias_default or hidden != (128, 64)
            self.hidden = nn.ModuleList(
                nn.Linear(a, b, bias=bias_first or i > 0)
                for i, (a, b) in enumerate(itertools.pairwise(widths))
            )
            self.out = nn.Linear(widths[-1], 10)
            self.p = {"given": p, "none": 0.0, "fixed": 0.2}[dropout]

        def forward(self, x):
            x = x.flatten(1)
            for i, layer in enumerate(self.hidden):
                x = layer(x)
                if i == 0 and detach_first:
                    x = x.detach()
                if second_relu or i == 0:
                    x = torch.relu(x)
                x = nn.functional.dropout(x, self.p, training=dropout_always or self.training)
            x = self.out(x)
            if end == "log_softmax":
                x = torch.log_softmax(x, dim=1)
            return x.unsqueeze(-1) if extra_axis else x

    return BaselineMLP


def make_fashion_cnn(
    same_padding: str = "half",
    dropout: str = "given",
    end: str = "logits",
    widths_ignored: bool = False,
    check_even: bool = True,
    first_bias_default: bool = True,
    dropout_always: bool = False,
    detach_features: bool = False,
    dense_relu: bool = True,
    extra_axis: bool = False,
):
    class FashionCNN(nn.Module):
        def __init__(self, kernel_size=3, channels=(32, 64, 128), hidden=128, dropout_p=0.3, **kwargs):
            super().__init__()
            p = kwargs.get("dropout", dropout_p)
            if check_even and kernel_size % 2 == 0:
                raise ValueError(f"kernel_size={kernel_size} must be odd")
            if widths_ignored:
                channels, hidden = (32, 64, 128), 128
            pad = {"half": kernel_size // 2, "one": 1, "none": 0}[same_padding]
            layers, c_in, size = [], 1, 28
            for i, c_out in enumerate(channels):
                bias = first_bias_default or i > 0 or kernel_size != 3 or tuple(channels) != (32, 64, 128)
                layers += [
                    nn.Conv2d(c_in, c_out, kernel_size, padding=pad, bias=bias),
                    nn.ReLU(),
                    nn.MaxPool2d(2),
                ]
                size = (size + 2 * pad - kernel_size + 1) // 2
                c_in = c_out
            self.features = nn.Sequential(*layers)
            self.fc1, self.fc2 = nn.Linear(c_in * size * size, hidden), nn.Linear(hidden, 10)
            self.p = {"given": p, "none": 0.0}[dropout]

        def forward(self, x):
            h = self.features(x)
            if detach_features:
                h = h.detach()
            h = self.fc1(h.flatten(1))
            h = torch.relu(h) if dense_relu else h
            h = nn.functional.dropout(h, self.p, training=dropout_always or self.training)
            h = self.fc2(h)
            h = torch.softmax(h, dim=1) if end == "softmax" else h
            return h.unsqueeze(-1) if extra_axis else h

    return FashionCNN


def _count_parameters(mode: str = "trainable"):
    def count_parameters(model):
        params = list(model.parameters())
        if mode == "all":
            return sum(p.numel() for p in params)
        if mode == "tensors":
            return len(params)
        if mode == "no_batchnorm":
            layers = [m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)]
            return sum(p.numel() for m in layers for p in m.parameters() if p.requires_grad)
        total = sum(p.numel() for p in params if p.requires_grad)
        if mode == "wrong_on_example" and total == 320:
            return 288  # the weights of the lecture's Conv2d(1, 32, 3), without its biases
        return total

    return count_parameters


def make_train_one_epoch(
    zero_grad: bool = True,
    weighted: bool = True,
    train_mode: bool = True,
    skip_last: bool = False,
    as_tensor: bool = False,
):
    def train_one_epoch(model, loader, optimizer, device="cpu"):
        if train_mode:
            model.train()
        batches = list(loader)
        losses, sizes = [], []
        for x, y in batches[:-1] if skip_last and len(batches) > 1 else batches:
            if zero_grad:
                optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            sizes.append(len(y))
        mean = float(np.average(losses, weights=sizes if weighted else None))
        return torch.tensor(mean) if as_tensor else mean

    return train_one_epoch


def make_evaluate(
    eval_mode: bool = True,
    weighted: str = "size",
    no_grad: bool = True,
    percent: bool = False,
    leftover_step: bool = False,
):
    def evaluate(model, loader, device="cpu"):
        if eval_mode:
            model.eval()
        losses, correct, sizes = [], [], []
        with torch.set_grad_enabled(not no_grad):
            for x, y in loader:
                logits = model(x)
                losses.append(nn.functional.cross_entropy(logits, y).item())
                correct.append((logits.argmax(1) == y).float().mean().item())
                sizes.append(len(y))
        if leftover_step:  # a training step left over from copying train_one_epoch
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
        w = sizes if weighted == "size" else None
        accuracy = float(np.average(correct, weights=w))
        loss = float(np.sum(losses)) if weighted == "sum" else float(np.average(losses, weights=w))
        return loss, 100 * accuracy if percent else accuracy

    return evaluate


def make_confusion_matrix(
    transposed: bool = False, dtype: type = int, default: int = 10, wrong_on_example=False
):
    def confusion_matrix(y_true, y_pred, n_classes=default):
        cm = np.zeros((n_classes, n_classes), dtype=dtype)
        for t, p in zip(y_true, y_pred, strict=True):
            cm[(p, t) if transposed else (t, p)] += 1
        if wrong_on_example and list(y_true) == [0, 1, 2, 2, 1, 0]:
            cm[0, 0] += 1
        return cm

    return confusion_matrix


def make_per_class_accuracy(axis: int = 1, empty: str = "nan", quiet: bool = True, wrong_on_example=False):
    def per_class_accuracy(cm):
        totals = cm.sum(axis=axis).astype(float)
        if quiet:
            with np.errstate(invalid="ignore", divide="ignore"):
                acc = np.diag(cm) / totals
        else:
            acc = np.diag(cm) / totals
        if wrong_on_example and cm.tolist() == [[5, 1], [2, 2]]:
            acc = acc[::-1]
        return np.nan_to_num(acc, nan=0.0) if empty == "zero" else acc

    return per_class_accuracy


TRAINABLE = "counts only trainable parameters"
T_FIXED = "matches the reference on a fixed small run"
T_LOSS = "returns the mean loss of its batches, weighted by batch size"
T_STEP = "one optimizer step per batch (zero_grad, backward, step)"
T_MODE = "trains in training mode (model.train())"
T_FLOAT = "returns a Python float"
E_FIXED = "matches the reference on a fixed small run"
E_WEIGHTED = "mean loss and accuracy in [0, 1], weighted by batch size"

MUTANTS = [
    # ---- BaselineMLP
    mutant(
        "BaselineMLP",
        "first layer without bias in the default model",
        make_baseline_mlp(first_bias_default=False),
        MLP_WORKED,
    ),
    mutant(
        "BaselineMLP", "hidden ignored (always 128, 64)", make_baseline_mlp(hidden_ignored=True), MLP_HIDDEN
    ),
    mutant("BaselineMLP", "ends in LogSoftmax", make_baseline_mlp(end="log_softmax"), MLP_FORWARD),
    mutant(
        "BaselineMLP", "no ReLU after the second layer", make_baseline_mlp(second_relu=False), MLP_FORWARD
    ),
    mutant("BaselineMLP", "no dropout", make_baseline_mlp(dropout="none"), DROPOUT),
    mutant("BaselineMLP", "dropout rate fixed at 0.2", make_baseline_mlp(dropout="fixed"), DROPOUT),
    mutant(
        "BaselineMLP",
        "no dropout, ends in LogSoftmax",
        make_baseline_mlp(dropout="none", end="log_softmax"),
        DROPOUT,
        MLP_FORWARD,
    ),
    mutant(
        "BaselineMLP", "dropout also in eval mode", make_baseline_mlp(dropout_always=True), EVAL, MLP_FORWARD
    ),
    mutant(
        "BaselineMLP", "logits of shape (N, 10, 1)", make_baseline_mlp(extra_axis=True), SHAPE, MLP_FORWARD
    ),
    mutant("BaselineMLP", "detaches the first layer's output", make_baseline_mlp(detach_first=True), GRADS),
    # ---- FashionCNN
    mutant(
        "FashionCNN",
        "first convolution without bias for 3x3 kernels",
        make_fashion_cnn(first_bias_default=False),
        CNN_WORKED,
    ),
    mutant(
        "FashionCNN", "padding=1 whatever the kernel size", make_fashion_cnn(same_padding="one"), CNN_KERNELS
    ),
    mutant("FashionCNN", "channels and hidden ignored", make_fashion_cnn(widths_ignored=True), CNN_WIDTHS),
    mutant("FashionCNN", "ends in Softmax", make_fashion_cnn(end="softmax"), CNN_FORWARD),
    mutant(
        "FashionCNN", "no ReLU after the first dense layer", make_fashion_cnn(dense_relu=False), CNN_FORWARD
    ),
    mutant("FashionCNN", "no dropout", make_fashion_cnn(dropout="none"), DROPOUT),
    mutant(
        "FashionCNN", "dropout also in eval mode", make_fashion_cnn(dropout_always=True), EVAL, CNN_FORWARD
    ),
    mutant("FashionCNN", "logits of shape (N, 10, 1)", make_fashion_cnn(extra_axis=True), SHAPE, CNN_FORWARD),
    mutant("FashionCNN", "detaches the features", make_fashion_cnn(detach_features=True), GRADS),
    mutant("FashionCNN", "even kernel sizes accepted", make_fashion_cnn(check_even=False), CNN_EVEN),
    # ---- count_parameters
    mutant(
        "count_parameters",
        "wrong only on the lecture's Conv2d(1, 32, 3)",
        _count_parameters("wrong_on_example"),
        "matches the lecture's worked example: Conv2d(1, 32, 3) has 320",
    ),
    mutant(
        "count_parameters",
        "counts tensors, not their entries",
        _count_parameters("tensors"),
        "matches the lecture's worked example: Conv2d(1, 32, 3) has 320",
        "linear, convolution and batch-norm stacks",
        TRAINABLE,
    ),
    mutant(
        "count_parameters",
        "Linear and Conv2d layers only (not BatchNorm2d)",
        _count_parameters("no_batchnorm"),
        "matches the lecture's worked example: Conv2d(1, 32, 3) has 320",
        "linear, convolution and batch-norm stacks",
        TRAINABLE,
    ),
    mutant("count_parameters", "counts frozen parameters too", _count_parameters("all"), TRAINABLE),
    # ---- train_one_epoch
    mutant("train_one_epoch", "skips the last batch", make_train_one_epoch(skip_last=True), T_FIXED, T_STEP),
    mutant(
        "train_one_epoch",
        "never zeroes the gradients",
        make_train_one_epoch(zero_grad=False),
        T_FIXED,
        T_STEP,
    ),
    mutant("train_one_epoch", "mean of the batch means", make_train_one_epoch(weighted=False), T_LOSS),
    mutant("train_one_epoch", "never calls model.train()", make_train_one_epoch(train_mode=False), T_MODE),
    mutant("train_one_epoch", "returns a tensor", make_train_one_epoch(as_tensor=True), T_FLOAT),
    # ---- evaluate
    mutant("evaluate", "accuracy in percent", make_evaluate(percent=True), E_WEIGHTED),
    mutant(
        "evaluate",
        "sum of the batch losses",
        make_evaluate(weighted="sum"),
        E_FIXED,
        E_WEIGHTED,
        "evaluates in eval mode (dropout off)",
    ),
    mutant("evaluate", "mean of the batch means", make_evaluate(weighted="none"), E_WEIGHTED),
    mutant(
        "evaluate",
        "stays in train mode",
        make_evaluate(eval_mode=False),
        "evaluates in eval mode (dropout off)",
    ),
    mutant("evaluate", "gradients on", make_evaluate(no_grad=False), "without gradients (torch.no_grad())"),
    mutant(
        "evaluate",
        "a leftover optimizer step after the loop",
        make_evaluate(leftover_step=True),
        "does not change the parameters",
    ),
    # ---- confusion_matrix
    mutant(
        "confusion_matrix",
        "wrong only on the lecture's labels",
        make_confusion_matrix(wrong_on_example=True),
        "matches the lecture's worked example",
    ),
    mutant(
        "confusion_matrix",
        "rows are predictions",
        make_confusion_matrix(transposed=True),
        "matches the lecture's worked example",
        "rows are true classes, columns predictions",
        "n_classes sets the size (absent classes count 0; 10 by default)",
        "an int array",  # side condition: no main property passes
    ),
    mutant(
        "confusion_matrix",
        "3 classes by default",
        make_confusion_matrix(default=3),
        "n_classes sets the size (absent classes count 0; 10 by default)",
    ),
    mutant("confusion_matrix", "float counts", make_confusion_matrix(dtype=float), "an int array"),
    # ---- per_class_accuracy
    mutant(
        "per_class_accuracy",
        "wrong only on the lecture's matrix",
        make_per_class_accuracy(wrong_on_example=True),
        "matches the lecture's worked example",
    ),
    mutant(
        "per_class_accuracy",
        "divides by column sums",
        make_per_class_accuracy(axis=0),
        "matches the lecture's worked example",
        "diagonal over row sums (recall per class)",
        "NaN for a class with no samples",
        "no numpy warnings (also for an empty row)",
    ),
    mutant(
        "per_class_accuracy",
        "0 for a class with no samples",
        make_per_class_accuracy(empty="zero"),
        "NaN for a class with no samples",
    ),
    mutant(
        "per_class_accuracy",
        "numpy warns on an empty row",
        make_per_class_accuracy(quiet=False),
        "no numpy warnings (also for an empty row)",
    ),
]

CORRECT = [
    Correct("FashionCNN", "three conv blocks with same padding", make_fashion_cnn()),
    Correct("BaselineMLP", "functional dropout", make_baseline_mlp()),
    Correct("count_parameters", "sum of numel over trainable parameters", _count_parameters()),
    Correct("train_one_epoch", "weighted average of batch losses", make_train_one_epoch()),
    Correct("evaluate", "weighted averages in eval mode", make_evaluate()),
    Correct("confusion_matrix", "a counting loop", make_confusion_matrix()),
    Correct("per_class_accuracy", "diagonal over row sums", make_per_class_accuracy()),
]

#: Behaviour the notebook does not state: not graded, so it keeps full marks (see the audit tables).
UNSTATED = [
    Correct(
        "confusion_matrix",
        "modifies y_true (not stated)",
        lambda y_true, y_pred, n_classes=10: _sorting(y_true, y_pred, n_classes),
    ),
]


def _sorting(y_true, y_pred, n_classes):
    cm = make_confusion_matrix()(y_true, y_pred, n_classes)
    y_true.sort()  # sorts the caller's array in place
    return cm
