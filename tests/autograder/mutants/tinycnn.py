"""tinycnn: a student's TinyCNN class (numpy), correct and with common bugs."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tests.autograder.mutants import Correct, mutant


def make_tinycnn(param_count_offset: int = 0, batch_mean: bool = True, predict_with: str = "argmax"):
    class TinyCNN:
        """conv 3x3 (F filters) -> ReLU -> maxpool 2x2 -> flatten -> dense (K classes)."""

        def __init__(self, n_classes=3, n_filters=3, seed=0):
            rng = np.random.default_rng(seed)
            self.params = {
                "conv.w": rng.normal(0, 0.5, (n_filters, 1, 3, 3)),
                "conv.b": np.zeros(n_filters),
                "dense.w": rng.normal(0, 0.2, (n_classes, 9 * n_filters)),
                "dense.b": np.zeros(n_classes),
            }

        @property
        def n_params(self):
            return sum(p.size for p in self.params.values()) + param_count_offset

        def _forward(self, X):
            w, b = self.params["conv.w"], self.params["conv.b"]
            win = sliding_window_view(X[:, 0], (3, 3), axis=(1, 2))  # (N, 6, 6, 3, 3)
            conv = np.einsum("nijuv,fuv->nfij", win, w[:, 0]) + b[None, :, None, None]  # (N, F, 6, 6)
            act = np.maximum(conv, 0)
            n, f = act.shape[:2]
            blocks = act.reshape(n, f, 3, 2, 3, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, f, 3, 3, 4)
            pooled = blocks.max(axis=-1)  # (N, F, 3, 3)
            flat = pooled.reshape(n, -1)  # (N, 9F)
            logits = flat @ self.params["dense.w"].T + self.params["dense.b"]
            return logits, (X, win, conv, blocks, flat)

        def forward(self, X):
            return self._forward(X)[0]

        def predict(self, X):
            logits = self.forward(X)
            return logits.argmax(axis=1) if predict_with == "argmax" else logits.argmin(axis=1)

        def backward(self, X, y):
            logits, (X, win, conv, blocks, flat) = self._forward(X)
            n = X.shape[0]
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            dlogits = p.copy()
            dlogits[np.arange(n), y] -= 1
            dlogits /= n if batch_mean else 1
            grads = {"dense.w": dlogits.T @ flat, "dense.b": dlogits.sum(axis=0)}
            dflat = dlogits @ self.params["dense.w"]  # (N, 9F)
            f = conv.shape[1]
            dpooled = dflat.reshape(n, f, 3, 3)
            onehot = blocks == blocks.max(axis=-1, keepdims=True)  # no ties for the grader's inputs
            dblocks = onehot * dpooled[..., None]  # (N, F, 3, 3, 4)
            dact = dblocks.reshape(n, f, 3, 3, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, f, 6, 6)
            dconv = dact * (conv > 0)
            grads["conv.w"] = np.einsum("nfij,nijuv->fuv", dconv, win)[:, None]
            grads["conv.b"] = dconv.sum(axis=(0, 2, 3))
            return grads

    return TinyCNN


MUTANTS = [
    mutant(
        "TinyCNN",
        "the lecture's wrong count (117)",
        make_tinycnn(param_count_offset=3),
        "matches the lecture's worked example: 114 parameters for 3 classes, 142 for 4",
    ),
    mutant(
        "TinyCNN",
        "gradients summed over the batch",
        make_tinycnn(batch_mean=False),
        "backward: gradients of the mean cross-entropy",
    ),
    mutant(
        "TinyCNN",
        "predict with argmin",
        make_tinycnn(predict_with="argmin"),
        "predict: the class with the largest logit",
    ),
]

CORRECT = [Correct("TinyCNN", "einsum over sliding windows, reshape pooling", make_tinycnn())]
