"""tinycnn: a student's TinyCNN class (numpy), correct and with common bugs."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tests.autograder.mutants import Correct, mutant

WORKED = "matches the lecture's worked example: 114 parameters for 3 classes, 142 for 4"
SHAPES = "parameter names and shapes (conv.w, conv.b, dense.w, dense.b)"
FORWARD = "forward: logits for given weights"
BACKWARD = "backward: gradients of the mean cross-entropy"
STABLE = "backward: a stable softmax (large logits)"
PREDICT = "predict: the class with the largest logit"
PREDICT_INTS = "predict: an int array"
FOUR = "four classes"
FILTERS = "n_filters filters: 10F + (9F + 1)K parameters, logits"


def make_tinycnn(
    slides_count: bool = False,
    count_filters: bool = True,
    batch_mean: bool = True,
    predict_with: str = "argmax",
    predict_floats: bool = False,
    flatten: str = "filter_major",
    stable: bool = True,
    bias_2d: bool = False,
    logits_for_3: bool = False,
    flat_27: bool = False,
    n_params_method: bool = False,
    cached_weights: bool = False,
):
    class TinyCNN:
        """conv 3x3 (F filters) -> ReLU -> maxpool 2x2 -> flatten -> dense (K classes)."""

        def __init__(self, n_classes=3, n_filters=3, seed=0):
            rng = np.random.default_rng(seed)
            self.n_classes, self.n_filters = n_classes, n_filters
            self.params = {
                "conv.w": rng.normal(0, 0.5, (n_filters, 1, 3, 3)),
                "conv.b": np.zeros(n_filters),
                "dense.w": rng.normal(0, 0.2, (n_classes, 9 * n_filters)),
                "dense.b": np.zeros((1, n_classes) if bias_2d else n_classes),
            }
            self._cached = dict(
                self.params
            )  # a copy of the initial weights, read by forward if cached_weights

        def _count(self):
            if slides_count and self.n_classes == 3 and self.n_filters == 3:
                return 117  # the slides' count
            if not count_filters:
                return 30 + (27 + 1) * self.n_classes
            return sum(p.size for p in self.params.values())

        if n_params_method:

            def n_params(self):
                return self._count()

        else:

            @property
            def n_params(self):
                return self._count()

        def _forward(self, X):
            params = self._cached if cached_weights else self.params
            w, b = params["conv.w"], params["conv.b"]
            win = sliding_window_view(X[:, 0], (3, 3), axis=(1, 2))  # (N, 6, 6, 3, 3)
            conv = np.einsum("nijuv,fuv->nfij", win, w[:, 0]) + b[None, :, None, None]  # (N, F, 6, 6)
            act = np.maximum(conv, 0)
            n, f = act.shape[:2]
            blocks = act.reshape(n, f, 3, 2, 3, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, f, 3, 3, 4)
            pooled = blocks.max(axis=-1)  # (N, F, 3, 3)
            if flatten == "position_major":
                pooled = pooled.transpose(0, 2, 3, 1)
            flat = pooled.reshape(n, 27) if flat_27 else pooled.reshape(n, -1)  # (N, 9F)
            logits = flat @ params["dense.w"].T + params["dense.b"].reshape(-1)
            if logits_for_3:
                buffer = np.zeros((n, 3))
                buffer[:] = logits
                logits = buffer
            return logits, (X, win, conv, blocks, flat)

        def forward(self, X):
            return self._forward(X)[0]

        def predict(self, X):
            logits = self.forward(X)
            labels = logits.argmax(axis=1) if predict_with == "argmax" else logits.argmin(axis=1)
            return labels.astype(float) if predict_floats else labels

        def backward(self, X, y):
            logits, (X, win, conv, blocks, flat) = self._forward(X)
            n = X.shape[0]
            shifted = logits - logits.max(axis=1, keepdims=True) if stable else logits
            p = np.exp(shifted)
            p /= p.sum(axis=1, keepdims=True)
            dlogits = p.copy()
            dlogits[np.arange(n), y] -= 1
            dlogits /= n if batch_mean else 1
            grads = {
                "dense.w": dlogits.T @ flat,
                "dense.b": dlogits.sum(axis=0).reshape(self.params["dense.b"].shape),
            }
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
    mutant("TinyCNN", "the slides' count (117)", make_tinycnn(slides_count=True), WORKED),
    mutant("TinyCNN", "dense.b of shape (1, K)", make_tinycnn(bias_2d=True), SHAPES),
    mutant(
        "TinyCNN",
        "flattens position-major (not like torch.flatten)",
        make_tinycnn(flatten="position_major"),
        FORWARD,
        BACKWARD,
        STABLE,
        PREDICT,
        FOUR,
        FILTERS,
    ),
    mutant(
        "TinyCNN",
        "reads the weights it was built with, not self.params",
        make_tinycnn(cached_weights=True),
        FORWARD,
        BACKWARD,
        STABLE,
        PREDICT,
        FOUR,
        FILTERS,
    ),
    mutant("TinyCNN", "gradients summed over the batch", make_tinycnn(batch_mean=False), BACKWARD, STABLE),
    mutant("TinyCNN", "softmax without subtracting the maximum", make_tinycnn(stable=False), STABLE),
    mutant("TinyCNN", "predict with argmin", make_tinycnn(predict_with="argmin"), PREDICT),
    mutant("TinyCNN", "predict returns floats", make_tinycnn(predict_floats=True), PREDICT_INTS),
    mutant("TinyCNN", "logits buffer sized for 3 classes", make_tinycnn(logits_for_3=True), FOUR),
    mutant("TinyCNN", "count ignores n_filters", make_tinycnn(count_filters=False), FILTERS),
    mutant("TinyCNN", "flattens to 27 features (3 filters only)", make_tinycnn(flat_27=True), FILTERS),
]

CORRECT = [
    Correct("TinyCNN", "einsum over sliding windows, reshape pooling", make_tinycnn()),
    Correct("TinyCNN", "n_params as a method", make_tinycnn(n_params_method=True)),
]
