r"""TinyCNN and MLP: two numpy classifiers of 8x8 stripe images, built from course_lib's own layers.

Both models take images ``X`` of shape (N, 1, size, size) (float64) and integer labels ``y`` (N,),
and share one interface (:class:`Classifier`): ``n_params``, ``forward(X) -> logits``,
``loss(X, y)``, ``backward(X, y) -> gradients``, ``fit``, ``predict``, ``accuracy``.

TinyCNN (``n_filters = F``, ``n_classes = K``, ``size = S``; defaults F = 3, K = 3, S = 8)::

    X (N, 1, 8, 8) -> conv2d 3x3, valid (N, F, 6, 6) -> relu -> maxpool2d 2x2 (N, F, 3, 3)
      -> flatten (N, 9F) -> linear (N, K) = logits -> softmax cross-entropy

    parameters = (9 + 1) F  +  (9F + 1) K  =  30 + 84 = 114 for K = 3,  30 + 112 = 142 for K = 4

(In general the pooled side is ``P = (S - 2) // 2`` and the count is ``10 F + (F P^2 + 1) K``.
The lecture's "117" for three classes is wrong: 3 filters x (9 weights + 1 bias) = 30 and a
27 -> 3 dense layer = 27 x 3 + 3 = 84.)

MLP (``hidden = h``)::

    X (N, 1, 8, 8) -> flatten (N, 64) -> linear (N, h) -> relu -> linear (N, K) = logits

    parameters = (S^2 + 1) h + (h + 1) K  =  68 h + 3 for 8x8 images and K = 3

Parameter layout (the contract for notebooks and the autograder)
-----------------------------------------------------------------
``model.params`` is a dict of float64 arrays, in this order:

==========  ===============  =============  ==============================================
model       name             shape          role
==========  ===============  =============  ==============================================
TinyCNN     ``"conv.w"``     (F, 1, 3, 3)   filters, ``w`` of :func:`course_lib.conv.conv2d`
TinyCNN     ``"conv.b"``     (F,)           filter biases
TinyCNN     ``"dense.w"``    (K, 9F)        ``w`` of :func:`course_lib.layers.linear` (out, in)
TinyCNN     ``"dense.b"``    (K,)           class biases
MLP         ``"hidden.w"``   (h, S^2)       hidden layer (out, in)
MLP         ``"hidden.b"``   (h,)
MLP         ``"out.w"``      (K, h)         output layer (out, in)
MLP         ``"out.b"``      (K,)
==========  ===============  =============  ==============================================

The flattened feature index of TinyCNN's dense layer is ``f * P^2 + i * P + j`` (filter-major,
C-order reshape of the (F, P, P) pooled maps, exactly ``torch.flatten(x, 1)`` of NCHW); so a
PyTorch ``Conv2d(1, F, 3) -> ReLU -> MaxPool2d(2) -> Flatten -> Linear(9F, K)`` with the same
arrays computes the same logits. ``get_params()``/``set_params(dict)`` copy whole dicts (names and
shapes are checked); ``get_flat_params()``/``set_flat_params(v)`` use one vector: the arrays
raveled in C order and concatenated in the order of the table. ``backward`` returns a dict with
the same names and shapes.

Initialisation (``seed`` feeds ``numpy.random.default_rng``): ReLU layers (``conv``, ``hidden``)
get He-normal weights, N(0, 2 / fan_in), each unit's weights then shifted to zero mean (a unit
starts out responding to contrast, not to overall brightness), and bias 0.1 (so no unit starts
dead); the output layers (``dense``, ``out``) get N(0, 1 / fan_in) and bias 0. Without the
zero-mean shift and the positive bias, one of TinyCNN's three filters occasionally dies during
training and accuracy stalls near 98 %.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from course_lib.arithmetic import conv2d_params, linear_params, output_size
from course_lib.conv import conv2d
from course_lib.layers import (
    conv2d_backward,
    cross_entropy,
    cross_entropy_backward,
    linear,
    linear_backward,
    relu,
    relu_backward,
    softmax,
)
from course_lib.pooling import maxpool2d, maxpool2d_backward
from course_lib.tinycnn.train import DEFAULTS, History, Progress, fit
from course_lib.validation import Array, as_array, check_int

Labels = npt.NDArray[np.int64]
Cache = dict[str, Array]

KERNEL_SIZE = 3
"""TinyCNN's filters are 3x3."""
POOL_SIZE = 2
"""TinyCNN max-pools 2x2 windows with stride 2."""
RELU_BIAS_INIT = 0.1
"""Initial bias of every ReLU unit (conv filters and MLP hidden units)."""


def check_labels(name: str, y: Any, n: int, n_classes: int) -> Labels:
    """``y`` as int64 labels: 1-D, one per image (``n``), each in ``0 .. n_classes - 1``."""
    labels = np.asarray(y)
    if labels.dtype == np.bool_ or not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"{name} must be an integer array of class labels, got dtype {labels.dtype}")
    if labels.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) (one label per image), got {labels.shape}")
    if n and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"{name} must hold class labels in 0..{n_classes - 1} (n_classes={n_classes})")
    return labels.astype(np.int64, copy=False)


def _relu_layer_init(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[Array, Array]:
    """He-normal weights shifted to zero mean per unit (axis 0), and bias 0.1."""
    fan_in = int(np.prod(shape[1:]))
    w = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
    w -= w.reshape(shape[0], -1).mean(axis=1).reshape((-1,) + (1,) * (len(shape) - 1))
    return w, np.full(shape[0], RELU_BIAS_INIT)


def _output_layer_init(rng: np.random.Generator, out_features: int, in_features: int) -> tuple[Array, Array]:
    """N(0, 1 / fan_in) weights and zero bias."""
    return rng.normal(0.0, np.sqrt(1.0 / in_features), size=(out_features, in_features)), np.zeros(
        out_features
    )


class Classifier(ABC):
    """The shared machinery of :class:`TinyCNN` and :class:`MLP`: parameters, loss, gradients, fit.

    Subclasses fill ``self.params`` (an ordered dict, see the module docstring) and implement
    ``_forward(X) -> (logits, cache)`` and ``_backward(dlogits, cache) -> gradients``.
    """

    n_classes: int
    size: int
    seed: int
    params: dict[str, Array]

    def __init__(self, n_classes: int, size: int, seed: int) -> None:
        self.n_classes = check_int("n_classes", n_classes, minimum=2)
        self.size = check_int("size", size, minimum=KERNEL_SIZE + POOL_SIZE - 1)
        self.seed = check_int("seed", seed, minimum=0)

    # -- parameters -------------------------------------------------------------------------------
    @property
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name -> shape of every parameter array, in layout order."""
        return {name: p.shape for name, p in self.params.items()}

    @property
    def n_params(self) -> int:
        """Total number of trainable scalars."""
        return sum(p.size for p in self.params.values())

    def get_params(self) -> dict[str, Array]:
        """A copy of every parameter array (name -> array)."""
        return {name: p.copy() for name, p in self.params.items()}

    def set_params(self, params: Mapping[str, Any]) -> None:
        """Replace every parameter: ``params`` must have exactly the names and shapes of
        :attr:`param_shapes`; values are copied as float64."""
        expected = self.param_shapes
        if set(params) != set(expected):
            missing, unknown = sorted(set(expected) - set(params)), sorted(set(params) - set(expected))
            raise ValueError(
                f"params must have exactly the names {list(expected)}, got {list(params)} "
                f"(missing {missing}, unknown {unknown})"
            )
        new = {}
        for name, shape in expected.items():
            value = as_array(f"params[{name!r}]", params[name])
            if value.shape != shape:
                raise ValueError(f"params[{name!r}] must have shape {shape}, got {value.shape}")
            new[name] = value.copy()
        self.params = new

    def get_flat_params(self) -> Array:
        """Every parameter in one vector: arrays raveled (C order) and concatenated in layout order."""
        return np.concatenate([p.ravel() for p in self.params.values()])  # (n_params,)

    def set_flat_params(self, flat: Any) -> None:
        """Inverse of :meth:`get_flat_params`."""
        flat = as_array("flat", flat, 1, "(n_params,)")
        if flat.size != self.n_params:
            raise ValueError(f"flat must have n_params={self.n_params} entries, got {flat.size}")
        offsets = np.cumsum([0] + [p.size for p in self.params.values()])
        self.params = {
            name: flat[start:stop].reshape(p.shape).copy()  # (n,) -> the parameter's shape
            for (name, p), start, stop in zip(self.params.items(), offsets[:-1], offsets[1:], strict=True)
        }

    def flat_gradients(self, grads: Mapping[str, Array]) -> Array:
        """A gradient dict as one vector, in the order of :meth:`get_flat_params`."""
        return np.concatenate([np.asarray(grads[name]).ravel() for name in self.params])

    # -- forward and backward ---------------------------------------------------------------------
    def check_images(self, X: Any, name: str = "X") -> Array:
        """``X`` as float64 of shape (N, 1, size, size)."""
        X = as_array(name, X, 4, "(N, 1, H, W)")
        if X.shape[1:] != (1, self.size, self.size):
            raise ValueError(
                f"{name} must have shape (N, 1, {self.size}, {self.size}) (one {self.size}x{self.size} "
                f"grey image per row), got {X.shape}"
            )
        return X

    def check_labels(self, y: Any, n: int, name: str = "y") -> Labels:
        """``y`` as int64 labels, one per image, in ``0 .. n_classes - 1``."""
        return check_labels(name, y, n, self.n_classes)

    @abstractmethod
    def _forward(self, X: Array) -> tuple[Array, Cache]:
        """Logits (N, K) and the intermediate arrays the backward pass needs."""

    @abstractmethod
    def _backward(self, dlogits: Array, cache: Cache) -> dict[str, Array]:
        """Gradients of every parameter, given ``dL/dlogits`` (N, K) and the forward cache."""

    def forward(self, X: Any) -> Array:
        """Logits of shape (N, n_classes) for images ``X`` (N, 1, size, size)."""
        return self._forward(self.check_images(X))[0]

    def loss(self, X: Any, y: Any) -> float:
        """Mean softmax cross-entropy of the batch (:func:`course_lib.layers.cross_entropy`)."""
        X = self.check_images(X)
        y = self.check_labels(y, X.shape[0])
        return cross_entropy(self._forward(X)[0], y)

    def loss_and_gradients(self, X: Any, y: Any) -> tuple[float, dict[str, Array]]:
        """The mean cross-entropy and its gradient with respect to every parameter (one forward and
        one backward pass)."""
        X = self.check_images(X)
        y = self.check_labels(y, X.shape[0])
        logits, cache = self._forward(X)
        return cross_entropy(logits, y), self._backward(cross_entropy_backward(logits, y), cache)

    def backward(self, X: Any, y: Any) -> dict[str, Array]:
        """Gradients of the mean cross-entropy on ``(X, y)`` with respect to every parameter:
        a dict with the names and shapes of :attr:`params`."""
        return self.loss_and_gradients(X, y)[1]

    # -- prediction -------------------------------------------------------------------------------
    def predict_proba(self, X: Any) -> Array:
        """Class probabilities (N, n_classes): the softmax of the logits."""
        return softmax(self.forward(X))

    def predict(self, X: Any) -> Labels:
        """Predicted labels (N,): the arg-max of the logits."""
        return self.forward(X).argmax(axis=1).astype(np.int64)

    def accuracy(self, X: Any, y: Any) -> float:
        """Fraction of images whose predicted label equals ``y``."""
        X = self.check_images(X)
        return float(np.mean(self.predict(X) == self.check_labels(y, X.shape[0])))

    def evaluate(self, X: Any, y: Any) -> tuple[float, float]:
        """``(loss, accuracy)`` on ``(X, y)`` from one forward pass."""
        X = self.check_images(X)
        y = self.check_labels(y, X.shape[0])
        logits = self._forward(X)[0]  # (N, K)
        return cross_entropy(logits, y), float(np.mean(logits.argmax(axis=1) == y))

    # -- training ---------------------------------------------------------------------------------
    def fit(
        self,
        X: Any,
        y: Any,
        epochs: int = DEFAULTS.epochs,
        lr: float = DEFAULTS.lr,
        batch_size: int = DEFAULTS.batch_size,
        X_val: Any = None,
        y_val: Any = None,
        snapshot_epochs: Sequence[int] = (),
        progress: Progress = None,
        **options: Any,
    ) -> History:
        """Train in place (Adam, peak lr 0.05 with cosine decay, weight decay 0.1, batches of 32,
        40 epochs by default) and return the :class:`~course_lib.tinycnn.train.History`; ``options``
        (``optimizer``, ``schedule``, ``momentum``, ``weight_decay``, ``seed``, ``target_accuracy``)
        as in :func:`course_lib.tinycnn.train.fit`."""
        return fit(
            self,
            X,
            y,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            X_val=X_val,
            y_val=y_val,
            snapshot_epochs=snapshot_epochs,
            progress=progress,
            **options,
        )


@dataclass(frozen=True, eq=False)
class InferenceTrace:
    """Everything TinyCNN computes for one image, from pixels to probabilities."""

    image: Array
    """(size, size) the input."""
    conv: Array
    """(F, size-2, size-2) the filter responses (conv2d output, bias included)."""
    relu: Array
    """(F, size-2, size-2) after ReLU."""
    pool: Array
    """(F, P, P) after 2x2 max pooling."""
    logits: Array
    """(K,) the dense layer's output."""
    probs: Array
    """(K,) the softmax of the logits."""

    @property
    def predicted(self) -> int:
        """The predicted class."""
        return int(np.argmax(self.logits))


class TinyCNN(Classifier):
    r"""conv 3x3 (``n_filters``, valid) -> ReLU -> maxpool 2x2 -> flatten -> dense -> softmax.

    ``n_params = 10 F + (F P^2 + 1) K`` with ``P = (size - 2) // 2``: 114 for the default
    (F = 3, K = 3, 8x8), 142 for four classes. See the module docstring for the parameter layout
    and the initialisation.
    """

    n_filters: int

    def __init__(self, n_classes: int = 3, n_filters: int = 3, seed: int = 0, size: int = 8) -> None:
        super().__init__(n_classes, size, seed)
        self.n_filters = check_int("n_filters", n_filters, minimum=1)
        rng = np.random.default_rng(self.seed)
        conv_w, conv_b = _relu_layer_init(rng, (self.n_filters, 1, KERNEL_SIZE, KERNEL_SIZE))
        dense_w, dense_b = _output_layer_init(rng, self.n_classes, self.n_features)
        self.params = {"conv.w": conv_w, "conv.b": conv_b, "dense.w": dense_w, "dense.b": dense_b}

    def __repr__(self) -> str:
        return (
            f"TinyCNN(n_classes={self.n_classes}, n_filters={self.n_filters}, seed={self.seed}, "
            f"size={self.size}) with {self.n_params} parameters"
        )

    @property
    def pooled_size(self) -> int:
        """Side ``P`` of the pooled maps: ``floor((size - 3 + 1 - 2) / 2) + 1`` (3 for 8x8)."""
        return output_size(output_size(self.size, KERNEL_SIZE), POOL_SIZE, stride=POOL_SIZE)

    @property
    def n_features(self) -> int:
        """Inputs of the dense layer: ``F * P^2`` (27 for the default)."""
        return self.n_filters * self.pooled_size**2

    @property
    def filters(self) -> Array:
        """A copy of the 3x3 filters, (F, 3, 3)."""
        return self.params["conv.w"][:, 0].copy()

    def _forward(self, X: Array) -> tuple[Array, Cache]:
        conv = conv2d(X, self.params["conv.w"], self.params["conv.b"])  # (N, F, S-2, S-2)
        act = relu(conv)  # (N, F, S-2, S-2)
        pooled = maxpool2d(act, POOL_SIZE)  # (N, F, P, P)
        flat = pooled.reshape(X.shape[0], -1)  # (N, F*P*P)
        logits = linear(flat, self.params["dense.w"], self.params["dense.b"])  # (N, K)
        return logits, {"X": X, "conv": conv, "act": act, "flat": flat}

    def _backward(self, dlogits: Array, cache: Cache) -> dict[str, Array]:
        dflat, d_dense_w, d_dense_b = linear_backward(dlogits, cache["flat"], self.params["dense.w"])
        dpooled = dflat.reshape(-1, self.n_filters, self.pooled_size, self.pooled_size)  # (N, F, P, P)
        dact = maxpool2d_backward(dpooled, cache["act"], POOL_SIZE)  # (N, F, S-2, S-2)
        dconv = relu_backward(dact, cache["conv"])  # (N, F, S-2, S-2)
        _, d_conv_w, d_conv_b = conv2d_backward(dconv, cache["X"], self.params["conv.w"])
        return {"conv.w": d_conv_w, "conv.b": d_conv_b, "dense.w": d_dense_w, "dense.b": d_dense_b}

    def trace(self, image: Any) -> InferenceTrace:
        """The feature maps and the softmax for ONE image, given as (size, size), (1, size, size)
        or (1, 1, size, size)."""
        x = as_array("image", image)
        if x.shape not in {(self.size,) * 2, (1,) + (self.size,) * 2, (1, 1) + (self.size,) * 2}:
            raise ValueError(
                f"image must be one {self.size}x{self.size} image, shaped ({self.size}, {self.size}), "
                f"(1, {self.size}, {self.size}) or (1, 1, {self.size}, {self.size}); got {x.shape}"
            )
        X = x.reshape(1, 1, self.size, self.size)  # (1, 1, S, S)
        logits, cache = self._forward(X)
        act = cache["act"][0]  # (F, S-2, S-2)
        return InferenceTrace(
            image=X[0, 0].copy(),
            conv=cache["conv"][0],
            relu=act,
            pool=cache["flat"][0].reshape(self.n_filters, self.pooled_size, self.pooled_size),  # (F, P, P)
            logits=logits[0],
            probs=softmax(logits)[0],
        )


class MLP(Classifier):
    r"""flatten -> dense (``hidden`` units) -> ReLU -> dense -> softmax.

    ``n_params = (size^2 + 1) * hidden + (hidden + 1) * n_classes`` (68 h + 3 for 8x8 and three
    classes). See the module docstring for the parameter layout and the initialisation.
    """

    hidden: int

    def __init__(self, hidden: int, n_classes: int = 3, seed: int = 0, size: int = 8) -> None:
        super().__init__(n_classes, size, seed)
        self.hidden = check_int("hidden", hidden, minimum=1)
        rng = np.random.default_rng(self.seed)
        hidden_w, hidden_b = _relu_layer_init(rng, (self.hidden, self.size**2))
        out_w, out_b = _output_layer_init(rng, self.n_classes, self.hidden)
        self.params = {"hidden.w": hidden_w, "hidden.b": hidden_b, "out.w": out_w, "out.b": out_b}

    def __repr__(self) -> str:
        return (
            f"MLP(hidden={self.hidden}, n_classes={self.n_classes}, seed={self.seed}, size={self.size}) "
            f"with {self.n_params} parameters"
        )

    def _forward(self, X: Array) -> tuple[Array, Cache]:
        flat = X.reshape(X.shape[0], -1)  # (N, S*S)
        pre = linear(flat, self.params["hidden.w"], self.params["hidden.b"])  # (N, h)
        act = relu(pre)  # (N, h)
        logits = linear(act, self.params["out.w"], self.params["out.b"])  # (N, K)
        return logits, {"flat": flat, "pre": pre, "act": act}

    def _backward(self, dlogits: Array, cache: Cache) -> dict[str, Array]:
        dact, d_out_w, d_out_b = linear_backward(dlogits, cache["act"], self.params["out.w"])
        dpre = relu_backward(dact, cache["pre"])  # (N, h)
        _, d_hidden_w, d_hidden_b = linear_backward(dpre, cache["flat"], self.params["hidden.w"])
        return {"hidden.w": d_hidden_w, "hidden.b": d_hidden_b, "out.w": d_out_w, "out.b": d_out_b}


def tinycnn_param_count(n_classes: int = 3, n_filters: int = 3, size: int = 8) -> int:
    r"""Closed form of :attr:`TinyCNN.n_params` from the layer formulas of
    :mod:`course_lib.arithmetic`: ``conv2d_params(1, F, 3) + linear_params(F P^2, K)``
    = ``10 F + (F P^2 + 1) K`` with ``P = output_size(output_size(size, 3), 2, stride=2)``."""
    pooled = output_size(output_size(size, KERNEL_SIZE), POOL_SIZE, stride=POOL_SIZE)
    return conv2d_params(1, n_filters, KERNEL_SIZE) + linear_params(n_filters * pooled**2, n_classes)


def mlp_param_count(hidden: int, n_classes: int = 3, size: int = 8) -> int:
    r"""Closed form of :attr:`MLP.n_params`: ``linear_params(size^2, h) + linear_params(h, K)``
    = ``(size^2 + 1) h + (h + 1) K``."""
    return linear_params(size**2, hidden) + linear_params(hidden, n_classes)
