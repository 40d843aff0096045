"""Assignment 4, tinycnn: the TinyCNN class (numpy), driven by the ``classifier`` probe."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from autograder import probes
from autograder import strategies as S
from autograder.items.base import Call, Item, Prop, Requirement, integer_array

#: Place in the course (teaching order).
POSITION = 4


# The student's class is driven by the "classifier" probe: the grader draws weights and images, the
# probe gives the weights to the student's model (``set_params`` or ``model.params``, the layout of
# course_lib.tinycnn) and returns its outputs; the reference runs the same probe on course_lib's class.


def _tinycnn_reference(
    kwargs: dict[str, Any],
    action: str,
    params: dict[str, np.ndarray] | None = None,
    X: np.ndarray | None = None,
    y: np.ndarray | None = None,
) -> Any:
    from course_lib.tinycnn import TinyCNN

    return probes.probe_classifier(TinyCNN, kwargs, action, params, X, y)


def _tinycnn_shapes(n_classes: int, n_filters: int = 3) -> dict[str, tuple[int, ...]]:
    from course_lib.tinycnn import TinyCNN

    return TinyCNN(n_classes=n_classes, n_filters=n_filters).param_shapes


#: Fine-grained values (multiples of 2**-10): no ties in the max pool, so routing is unambiguous.
_FINE = 2.0**-10
#: Added to the dense biases for "large logits": exp(800) overflows float64.
_LARGE = 800.0


@st.composite
def _tinycnn_calls(
    draw: st.DrawFn, action: str, n_classes: int = 3, n_filters: int | None = None, large: bool = False
) -> Call:
    """The default model (or one with ``n_classes`` / ``n_filters``) with drawn weights and images."""
    n = draw(st.integers(1, 3))
    shapes = _tinycnn_shapes(n_classes, 3 if n_filters is None else n_filters)
    params = {name: draw(S.seeded_arrays(shape, bound=1.0, step=_FINE)) for name, shape in shapes.items()}
    if large:
        params["dense.b"] = params["dense.b"] + _LARGE
    X = draw(S.seeded_arrays((n, 1, 8, 8), bound=1.0, step=_FINE))
    y = np.array(draw(st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n)), dtype=np.int64)
    kwargs = (
        {"n_classes": n_classes} if n_filters is None else {"n_classes": n_classes, "n_filters": n_filters}
    )
    return Call((kwargs, action, params, X, y))


def _describe_classifier(name: str) -> Callable[[Call], str]:
    def describe(call: Call) -> str:
        kwargs, action, params, X, y = (*call.args, None, None, None)[:5]
        model = f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
        weights = " with the grader's weights" if params is not None else ""
        if params is not None and float(np.min(params["dense.b"])) > _LARGE / 2:
            weights += f" (dense.b + {_LARGE:g}: large logits)"
        shape = f"X.shape={None if X is None else X.shape}"
        what = {
            "n_params": ".n_params",
            "param_shapes": ".params (names and shapes)",
            "forward": f".forward({shape})",
            "predict": f".predict({shape})",
            "backward": f".backward({shape}, y={None if y is None else y.tolist()})",
        }[action]
        return f"{model}{what}{weights}"

    return describe


TINYCNN = Item(
    "TinyCNN",
    points=6,
    reference=_tinycnn_reference,
    probe="classifier",
    describe=_describe_classifier("TinyCNN"),
    properties=(
        Prop(
            "matches the lecture's worked example: 114 parameters for 3 classes, 142 for 4",
            0.75,
            examples=(Call(({"n_classes": 3}, "n_params")), Call(({"n_classes": 4}, "n_params"))),
        ),
        Prop(
            "parameter names and shapes (conv.w, conv.b, dense.w, dense.b)",
            0.5,
            examples=(
                Call(({"n_classes": 3}, "param_shapes")),
                Call(({"n_classes": 4, "n_filters": 2}, "param_shapes")),
            ),
            side=True,
        ),
        Prop("forward: logits for given weights", 1.25, _tinycnn_calls("forward"), max_examples=5),
        Prop(
            "backward: gradients of the mean cross-entropy", 1.25, _tinycnn_calls("backward"), max_examples=5
        ),
        Prop(
            "backward: a stable softmax (large logits)",
            0.5,
            _tinycnn_calls("backward", large=True),
            max_examples=3,
        ),
        Prop("predict: the class with the largest logit", 0.5, _tinycnn_calls("predict"), max_examples=5),
        Prop(
            "predict: an int array",
            0.25,
            _tinycnn_calls("predict"),
            max_examples=2,
            side=True,
            judge=integer_array,
        ),
        Prop("four classes", 0.5, _tinycnn_calls("forward", n_classes=4), max_examples=3),
        Prop(
            "n_filters filters: 10F + (9F + 1)K parameters, logits",
            0.5,
            st.sampled_from([2, 4]).flatmap(lambda f: _tinycnn_calls("forward", n_filters=f)),
            examples=(
                Call(({"n_classes": 3, "n_filters": 2}, "n_params")),
                Call(({"n_classes": 3, "n_filters": 4}, "n_params")),
            ),
            max_examples=3,
        ),
    ),
)


#: The graded items, in notebook order.
GRADED: tuple[Item, ...] = (TINYCNN,)

R = Requirement

#: The requirements audit: each sentence of the released notebook that states behaviour.
_FORWARD_FAILS = (
    "backward: gradients of the mean cross-entropy",
    "backward: a stable softmax (large logits)",
    "predict: the class with the largest logit",
    "four classes",
    "n_filters filters: 10F + (9F + 1)K parameters, logits",
)

AUDIT: tuple[Requirement, ...] = (
    R(
        "TinyCNN",
        r"\#\text{params} = 30 + 84 = \mathbf{114}\ (K = 3)",
        "matches the lecture's worked example: 114 parameters for 3 classes, 142 for 4",
        "the slides' count (117)",
    ),
    R(
        "TinyCNN",
        '`"conv.w"` $(F, 1, 3, 3)$, `"conv.b"` $(F,)$, `"dense.w"` $(K, 9F)$ (out, in), `"dense.b"` $(K,)$',
        "parameter names and shapes (conv.w, conv.b, dense.w, dense.b)",
        "dense.b of shape (1, K)",
    ),
    R(
        "TinyCNN",
        "Flatten the pooled maps $(N, F, 3, 3)$ with `reshape(N, -1)` (filter-major, like `torch.flatten`)",
        "forward: logits for given weights",
        "flattens position-major (not like torch.flatten)",
        also=_FORWARD_FAILS,
        note="every other value property runs the forward pass",
    ),
    R(
        "TinyCNN",
        "The grader replaces this dict with its own weights, so always read the weights from `self.params`.",
        "forward: logits for given weights",
        "reads the weights it was built with, not self.params",
        also=_FORWARD_FAILS,
    ),
    R(
        "TinyCNN",
        "the gradients of the **mean** softmax cross-entropy",
        "backward: gradients of the mean cross-entropy",
        "gradients summed over the batch",
        also=("backward: a stable softmax (large logits)",),
    ),
    R(
        "TinyCNN",
        "Compute the softmax stably: subtract each row's maximum before `np.exp`.",
        "backward: a stable softmax (large logits)",
        "softmax without subtracting the maximum",
    ),
    R(
        "TinyCNN",
        "**`predict(X)`**: the class with the largest logit",
        "predict: the class with the largest logit",
        "predict with argmin",
    ),
    R("TinyCNN", "an int array $(N,)$", "predict: an int array", "predict returns floats"),
    R(
        "TinyCNN",
        r"\mathbf{142}\ (K = 4)",
        "four classes",
        "logits buffer sized for 3 classes",
    ),
    R(
        "TinyCNN",
        "In general, with $F$ filters and pooled side $P = 3$: $10F + (9F + 1)K$.",
        "n_filters filters: 10F + (9F + 1)K parameters, logits",
        "count ignores n_filters",
    ),
    R(
        "TinyCNN",
        '`"dense.w"` $(K, 9F)$ (out, in)',
        "n_filters filters: 10F + (9F + 1)K parameters, logits",
        "flattens to 27 features (3 filters only)",
    ),
    R(
        "TinyCNN",
        "**Initialisation** (it matters for training, not for the grade)",
        None,
        note="not graded, as the notebook says: the grader gives the model its own weights",
    ),
)
