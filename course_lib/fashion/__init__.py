"""Fashion-MNIST with PyTorch: verified offline data, MLP vs CNN, training, the kernel-size study, and the
lecture's networks (its batch-norm CNN, the two-block CNN and its dense baseline) with their study.

Modules: :mod:`~course_lib.fashion.data` (files, loaders), :mod:`~course_lib.fashion.models`
(``BaselineMLP``, ``FashionCNN``, ``LectureCNN``, ``TwoBlockCNN``, ``DenseBaseline``, parameter counts),
:mod:`~course_lib.fashion.train` (loops, metrics, one run, the lecture's recipe),
:mod:`~course_lib.fashion.study` (the kernel-size study, the 15-epoch timing),
:mod:`~course_lib.fashion.lecture_study` (augmentation, two-block CNN vs dense, separable convolutions),
:mod:`~course_lib.fashion.plots` (figures). Command line: ``python -m course_lib.fashion --help``.
"""

from course_lib.fashion.data import CLASS_NAMES, FashionData, load_fashion_mnist, make_loaders
from course_lib.fashion.lecture_study import run_lecture_study
from course_lib.fashion.models import (
    BaselineMLP,
    DenseBaseline,
    FashionCNN,
    LectureCNN,
    TwoBlockCNN,
    count_parameters,
    layer_summary,
)
from course_lib.fashion.study import run_epoch_timing, run_kernel_study
from course_lib.fashion.train import (
    LECTURE_CONFIG,
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
    "LECTURE_CONFIG",
    "BaselineMLP",
    "DenseBaseline",
    "FashionCNN",
    "FashionData",
    "LectureCNN",
    "TrainConfig",
    "TwoBlockCNN",
    "confusion_matrix",
    "count_parameters",
    "evaluate",
    "layer_summary",
    "load_fashion_mnist",
    "make_loaders",
    "per_class_accuracy",
    "predict",
    "run_epoch_timing",
    "run_kernel_study",
    "run_lecture_study",
    "run_training",
    "train_one_epoch",
]
