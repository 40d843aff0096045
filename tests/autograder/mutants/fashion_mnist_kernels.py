"""fashion_mnist_kernels: students' PyTorch models, counts, loops and metrics, correct and buggy."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tests.autograder.mutants import Correct, mutant


def make_fashion_cnn(same_padding: bool = True):
    class FashionCNN(nn.Module):
        def __init__(self, kernel_size=3):
            super().__init__()
            pad = kernel_size // 2 if same_padding else 0
            layers, c_in, size = [], 1, 28
            for c_out in (32, 64, 128):
                layers += [nn.Conv2d(c_in, c_out, kernel_size, padding=pad), nn.ReLU(), nn.MaxPool2d(2)]
                size = (size + 2 * pad - kernel_size + 1) // 2
                c_in = c_out
            self.features = nn.Sequential(*layers)
            self.head = nn.Sequential(
                nn.Flatten(),
                nn.Linear(128 * size * size, 128),
                nn.ReLU(),
                nn.Dropout(0.3),
                nn.Linear(128, 10),
            )

        def forward(self, x):
            return self.head(self.features(x))

    return FashionCNN


def make_baseline_mlp(dropout_always: bool = False):
    class BaselineMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.fc3 = nn.Linear(784, 128), nn.Linear(128, 64), nn.Linear(64, 10)

        def forward(self, x):
            x = x.flatten(1)
            x = nn.functional.dropout(torch.relu(self.fc1(x)), 0.2, training=dropout_always or self.training)
            x = nn.functional.dropout(torch.relu(self.fc2(x)), 0.2, training=dropout_always or self.training)
            return self.fc3(x)

    return BaselineMLP


def count_parameters(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_all_parameters(model):
    return sum(p.numel() for p in model.parameters())


def make_train_one_epoch(zero_grad: bool = True, weighted: bool = True):
    def train_one_epoch(model, loader, optimizer, device="cpu"):
        model.train()
        losses, sizes = [], []
        for x, y in loader:
            if zero_grad:
                optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            sizes.append(len(y))
        return float(np.average(losses, weights=sizes if weighted else None))

    return train_one_epoch


def make_evaluate(eval_mode: bool = True, weighted: bool = True):
    def evaluate(model, loader, device="cpu"):
        if eval_mode:
            model.eval()
        losses, correct, sizes = [], [], []
        with torch.no_grad():
            for x, y in loader:
                logits = model(x)
                losses.append(nn.functional.cross_entropy(logits, y).item())
                correct.append((logits.argmax(1) == y).float().mean().item())
                sizes.append(len(y))
        w = sizes if weighted else None
        return float(np.average(losses, weights=w)), float(np.average(correct, weights=w))

    return evaluate


def make_confusion_matrix(transposed: bool = False):
    def confusion_matrix(y_true, y_pred, n_classes=10):
        cm = np.zeros((n_classes, n_classes), dtype=int)
        for t, p in zip(y_true, y_pred, strict=True):
            cm[(p, t) if transposed else (t, p)] += 1
        return cm

    return confusion_matrix


def make_per_class_accuracy(axis: int = 1, empty: str = "nan"):
    def per_class_accuracy(cm):
        totals = cm.sum(axis=axis).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = np.diag(cm) / totals
        return np.nan_to_num(acc, nan=0.0) if empty == "zero" else acc

    return per_class_accuracy


TRAINABLE = "counts only trainable parameters"
MUTANTS = [
    mutant(
        "FashionCNN",
        "no padding (valid convolutions)",
        make_fashion_cnn(same_padding=False),
        "matches the lecture's worked example: 241,546 parameters with 3x3 kernels",
        "5x5 and 7x7 kernels: 405,898 and 652,426 parameters",
    ),
    mutant(
        "BaselineMLP",
        "dropout also in eval mode",
        make_baseline_mlp(dropout_always=True),
        "dropout is off in eval mode",
    ),
    mutant("count_parameters", "counts frozen parameters too", count_all_parameters, TRAINABLE),
    mutant(
        "train_one_epoch",
        "never zeroes the gradients",
        make_train_one_epoch(zero_grad=False),
        "matches the reference on a fixed small run",
        "one optimizer step per batch (zero_grad, backward, step)",
        "returns the mean loss, weighted by batch size",
    ),
    mutant(
        "train_one_epoch",
        "mean of the batch means",
        make_train_one_epoch(weighted=False),
        "returns the mean loss, weighted by batch size",
    ),
    mutant(
        "evaluate",
        "stays in train mode",
        make_evaluate(eval_mode=False),
        "evaluates in eval mode (dropout off)",
    ),
    mutant(
        "evaluate",
        "mean of the batch means",
        make_evaluate(weighted=False),
        "mean loss and accuracy in [0, 1], weighted by batch size",
    ),
    mutant(
        "confusion_matrix",
        "rows are predictions",
        make_confusion_matrix(transposed=True),
        "matches the lecture's worked example",
        "rows are true classes, columns predictions",
        "n_classes sets the size (absent classes count 0)",
    ),
    mutant(
        "per_class_accuracy",
        "divides by column sums",
        make_per_class_accuracy(axis=0),
        "matches the lecture's worked example",
        "diagonal over row sums (recall per class)",
        "NaN for a class with no samples",
    ),
    mutant(
        "per_class_accuracy",
        "0 for a class with no samples",
        make_per_class_accuracy(empty="zero"),
        "NaN for a class with no samples",
    ),
]

CORRECT = [
    Correct("FashionCNN", "three conv blocks with same padding", make_fashion_cnn()),
    Correct("BaselineMLP", "functional dropout", make_baseline_mlp()),
    Correct("count_parameters", "sum of numel over trainable parameters", count_parameters),
    Correct("train_one_epoch", "weighted average of batch losses", make_train_one_epoch()),
    Correct("evaluate", "weighted averages in eval mode", make_evaluate()),
    Correct("confusion_matrix", "a counting loop", make_confusion_matrix()),
    Correct("per_class_accuracy", "diagonal over row sums", make_per_class_accuracy()),
]
