"""Assignment 4, tinycnn: the TinyCNN class (numpy), driven by the ``classifier`` probe."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from autograder import probes
from autograder import strategies as S
from autograder.items.base import Call, Item, Prop

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


def _tinycnn_shapes(n_classes: int) -> dict[str, tuple[int, ...]]:
    from course_lib.tinycnn import TinyCNN

    return TinyCNN(n_classes=n_classes).param_shapes


#: Fine-grained values (multiples of 2**-10): no ties in the max pool, so routing is unambiguous.
_FINE = 2.0**-10


@st.composite
def _tinycnn_calls(draw: st.DrawFn, action: str, n_classes: int = 3) -> Call:
    n = draw(st.integers(1, 3))
    shapes = _tinycnn_shapes(n_classes)
    params = {name: draw(S.seeded_arrays(shape, bound=1.0, step=_FINE)) for name, shape in shapes.items()}
    X = draw(S.seeded_arrays((n, 1, 8, 8), bound=1.0, step=_FINE))
    y = np.array(draw(st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n)), dtype=np.int64)
    return Call(({"n_classes": n_classes}, action, params, X, y))


def _describe_classifier(name: str) -> Callable[[Call], str]:
    def describe(call: Call) -> str:
        kwargs, action, params, X, y = (*call.args, None, None, None)[:5]
        model = f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
        weights = " with the grader's weights" if params is not None else ""
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
            1,
            examples=(Call(({"n_classes": 3}, "n_params")), Call(({"n_classes": 4}, "n_params"))),
        ),
        Prop(
            "parameter names and shapes (conv.w, conv.b, dense.w, dense.b)",
            0.5,
            examples=(Call(({"n_classes": 3}, "param_shapes")),),
        ),
        Prop("forward: logits for given weights", 1.5, _tinycnn_calls("forward"), max_examples=5),
        Prop(
            "backward: gradients of the mean cross-entropy", 1.5, _tinycnn_calls("backward"), max_examples=5
        ),
        Prop("predict: the class with the largest logit", 0.5, _tinycnn_calls("predict"), max_examples=5),
        Prop("four classes", 1, _tinycnn_calls("forward", n_classes=4), max_examples=3),
    ),
)


#: The graded items, in notebook order.
GRADED: tuple[Item, ...] = (TINYCNN,)

AUDIT: tuple = ()
