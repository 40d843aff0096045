"""Fashion-MNIST with PyTorch: verified offline data, MLP vs CNN, training, and the kernel-size study.

Modules: :mod:`~course_lib.fashion.data` (files, loaders), :mod:`~course_lib.fashion.models`
(``BaselineMLP``, ``FashionCNN``, parameter counts), :mod:`~course_lib.fashion.train` (loops,
metrics, one run), :mod:`~course_lib.fashion.study` (the kernel-size study),
:mod:`~course_lib.fashion.plots` (figures). Command line: ``python -m course_lib.fashion --help``.
"""

from course_lib.fashion.data import CLASS_NAMES, FashionData, load_fashion_mnist, make_loaders
from course_lib.fashion.models import BaselineMLP, FashionCNN, count_parameters, layer_summary
from course_lib.fashion.study import run_kernel_study
from course_lib.fashion.train import (
    TrainConfig,
    confusion_matrix,
    evaluate,
    per_class_accuracy,
    predict,
    run_training,
    train_one_epoch,
)

__all__ = [
    "CLASS_NAMES",
    "BaselineMLP",
    "FashionCNN",
    "FashionData",
    "TrainConfig",
    "confusion_matrix",
    "count_parameters",
    "evaluate",
    "layer_summary",
    "load_fashion_mnist",
    "make_loaders",
    "per_class_accuracy",
    "predict",
    "run_kernel_study",
    "run_training",
    "train_one_epoch",
]
