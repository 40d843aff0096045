"""TinyCNN: a 114-parameter CNN in pure numpy, built from course_lib's layers, against an MLP.

Modules: :mod:`~course_lib.tinycnn.models` (``TinyCNN``, ``MLP``, the parameter layout),
:mod:`~course_lib.tinycnn.train` (``fit``, Adam/SGD, ``History``),
:mod:`~course_lib.tinycnn.experiments` (the lecture's experiments as functions),
:mod:`~course_lib.tinycnn.plots` (figures). Data: :mod:`course_lib.stripes`.
Command line: ``python -m course_lib.tinycnn --help``.
"""

from course_lib.tinycnn.models import (
    MLP,
    Classifier,
    InferenceTrace,
    TinyCNN,
    mlp_param_count,
    tinycnn_param_count,
)
from course_lib.tinycnn.train import DEFAULTS, History, TrainConfig, fit

__all__ = [
    "DEFAULTS",
    "MLP",
    "Classifier",
    "History",
    "InferenceTrace",
    "TinyCNN",
    "TrainConfig",
    "fit",
    "mlp_param_count",
    "tinycnn_param_count",
]
