r"""Training and evaluation loops, metrics, and one complete seeded training run.

- :func:`train_one_epoch` minimises the mean cross-entropy
  :math:`L = -\frac1B \sum_i \log \operatorname{softmax}(z_i)_{y_i}` batch by batch and returns the
  epoch's mean loss (weighted by batch size).
- :func:`confusion_matrix`: :math:`C_{ij} = \#\{n : y_n = i, \hat y_n = j\}` (rows = true class);
  :func:`per_class_accuracy`: :math:`C_{ii} / \sum_j C_{ij}` (recall per class).
- :func:`run_training` trains one model from a :class:`TrainConfig` and returns a
  :class:`TrainResult`; everything is seeded, so a CPU run is reproducible bit for bit.
- :data:`LECTURE_CONFIG` is the lecture's recipe for :class:`~course_lib.fashion.models.LectureCNN`;
  :data:`TWO_BLOCK_CONFIG` / :data:`DENSE_CONFIG` train the second course's two models.

Timing: every epoch records its wall time and, robust to other processes on a shared machine, the
median duration of its training steps times the number of steps (:attr:`EpochRecord.step_seconds`;
a burst of load slows a few steps but barely moves their median), and the CPU time the process spent
in the epoch (all its threads; on a saturated machine, where every wall time stretches with the load,
the CPU seconds of a one-thread run still measure the work).
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib.fashion.data import (
    CLASS_NAMES,
    LECTURE_MEAN,
    LECTURE_STD,
    N_CLASSES,
    FashionData,
    Loaders,
    make_loaders,
)
from course_lib.fashion.memory import retain_freed_memory
from course_lib.fashion.models import (
    BaselineMLP,
    DenseBaseline,
    FashionCNN,
    LectureCNN,
    TwoBlockCNN,
    count_parameters,
    first_layer_parameters,
)
from course_lib.validation import check_int

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]
Scheduler = torch.optim.lr_scheduler.LRScheduler
Plateau = torch.optim.lr_scheduler.ReduceLROnPlateau
MODELS = ("cnn", "mlp", "lecture", "two_block", "dense")


def default_device() -> str:
    """``"cuda"`` when a GPU is present, else ``"cpu"``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and GPU)."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 -- seeds any legacy global-RNG user
    torch.manual_seed(seed)


def _progress_enabled(progress: bool | None) -> bool:
    """``None``: only on an interactive terminal; ``True``/``False``: forced on/off."""
    return sys.stderr.isatty() if progress is None else progress


def load_average() -> float:
    """The 1-minute load average (NaN where the OS does not report one)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return math.nan


def train_one_epoch(
    model: nn.Module,
    loader: Batches,
    optimizer: torch.optim.Optimizer,
    device: str | torch.device = "cpu",
    scheduler: Scheduler | None = None,
    progress: bool | None = None,
    step_seconds: list[float] | None = None,
) -> float:
    """One pass over ``loader`` (zero grad, forward, cross-entropy, backward, step, then
    ``scheduler.step()`` per batch when given); returns the mean training loss.

    ``step_seconds``, when given, receives the wall time of every step (fetching and augmenting the
    batch included). A :class:`~torch.optim.lr_scheduler.ReduceLROnPlateau` steps once per epoch on a
    metric: :func:`fit` handles it, so it is refused here.
    """
    if isinstance(scheduler, Plateau):
        raise TypeError("ReduceLROnPlateau steps once per epoch on the evaluation loss: pass it to fit()")
    model.train()
    total, count = 0.0, 0
    bar = tqdm(loader, desc="train", leave=False, disable=not _progress_enabled(progress))
    last = time.perf_counter()
    for x, y in bar:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total += loss.item() * len(y)
        count += len(y)
        if step_seconds is not None:
            now = time.perf_counter()
            step_seconds.append(now - last)
            last = now
        bar.set_postfix(loss=f"{total / count:.4f}", refresh=False)
    if count == 0:
        raise ValueError("loader yielded no batches")
    return total / count


@torch.no_grad()
def _logits(
    model: nn.Module, loader: Batches, device: str | torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    outs, ys = [], []
    for x, y in loader:
        outs.append(model(x.to(device)).float().cpu())
        ys.append(y)
    if not outs:
        raise ValueError("loader yielded no batches")
    return torch.cat(outs), torch.cat(ys)  # (N, n_classes), (N,)


def evaluate(model: nn.Module, loader: Batches, device: str | torch.device = "cpu") -> tuple[float, float]:
    """(mean cross-entropy, accuracy in [0, 1]) over ``loader``, in eval mode without gradients."""
    logits, y = _logits(model, loader, device)
    loss = nn.functional.cross_entropy(logits, y).item()
    return loss, (logits.argmax(1) == y).double().mean().item()


def predict(
    model: nn.Module, loader: Batches, device: str | torch.device = "cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """(true labels, predicted labels) as int64 arrays, in the loader's order."""
    logits, y = _logits(model, loader, device)
    return y.numpy().astype(np.int64), logits.argmax(1).numpy().astype(np.int64)


def _as_labels(name: str, values: object, n_classes: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name}.dtype={arr.dtype} must be an integer type")
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise ValueError(f"{name} has labels outside 0..{n_classes - 1}")
    return arr.astype(np.int64)


def confusion_matrix(y_true: object, y_pred: object, n_classes: int = N_CLASSES) -> np.ndarray:
    """int64 ``(n_classes, n_classes)`` counts, ``C[i, j]`` = samples of true class i predicted as j."""
    n_classes = check_int("n_classes", n_classes, minimum=1)
    t, p = _as_labels("y_true", y_true, n_classes), _as_labels("y_pred", y_pred, n_classes)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} labels but y_pred has {p.size}")
    flat = np.bincount(t * n_classes + p, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes)  # (true, predicted)


def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    """Diagonal over row sums of a confusion matrix (rows = true class); NaN for classes with no samples."""
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be a square 2-D matrix, got shape {cm.shape}")
    if (cm < 0).any():
        raise ValueError("cm must not contain negative counts")
    rows = cm.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(rows > 0, np.diag(cm) / rows, np.nan)


# --------------------------------------------------------------------------------------------------
# One complete run
# --------------------------------------------------------------------------------------------------


@dataclass
class TrainConfig:
    """Everything that defines one training run (the optimizer and LR schedule are explicit).

    ``model``: ``"cnn"`` (:class:`FashionCNN`; ``kernel_size``, ``channels``, ``batch_norm``,
    ``separable`` apply), ``"mlp"`` (:class:`BaselineMLP`), ``"lecture"`` (:class:`LectureCNN`),
    ``"two_block"`` (:class:`TwoBlockCNN`), ``"dense"`` (:class:`DenseBaseline`). ``schedule``:
    ``constant``, ``onecycle`` and ``cosine`` step per batch; ``plateau`` is ReduceLROnPlateau on the
    per-epoch evaluation loss (``plateau_factor``, ``plateau_patience``). ``normalization`` is the
    (mean, std) of the [0, 1] pixels; ``None`` uses the training images' own.
    """

    model: Literal["cnn", "mlp", "lecture", "two_block", "dense"] = "cnn"
    kernel_size: int = 3
    channels: tuple[int, ...] = (32, 64, 128)
    hidden: tuple[int, ...] | None = None  # None: the model's default (CNN 128, MLP (128, 64), lecture 256)
    dropout: float | None = None  # None: the model's default (0.3 CNN, 0.2 MLP, 0.4 lecture)
    batch_norm: bool = False
    separable: bool = False
    epochs: int = 5
    batch_size: int = 128
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: Literal["constant", "onecycle", "cosine", "plateau"] = "constant"
    plateau_factor: float = 0.5
    plateau_patience: int = 3
    augment: bool = False
    normalization: tuple[float, float] | None = None
    val_size: int | float = 0
    seed: int = 0
    subset: int | None = None  # first n training images (None: all)
    test_subset: int | None = None  # first n test images (None: all)
    channels_last: bool = False
    target_accuracy: float | None = None  # stop once the test accuracy reaches it

    def build_model(self) -> nn.Module:
        """The model; ``None`` fields (hidden, dropout) take the model's own defaults."""
        kwargs: dict[str, Any] = {} if self.dropout is None else {"dropout": self.dropout}
        if self.model in ("cnn", "lecture", "two_block") and self.hidden is not None:
            kwargs["hidden"] = self.hidden[0]
        if self.model in ("mlp", "dense") and self.hidden is not None:
            kwargs["hidden"] = self.hidden
        if self.model in ("two_block", "dense") and self.dropout is not None:
            raise ValueError(f"model={self.model!r} has no dropout; leave dropout=None")
        if self.model == "cnn":
            flags = {"batch_norm": self.batch_norm, "separable": self.separable}
            return FashionCNN(self.kernel_size, self.channels, **flags, **kwargs)
        if self.model == "mlp":
            return BaselineMLP(**kwargs)
        if self.model == "lecture":
            return LectureCNN(**kwargs)
        if self.model == "two_block":
            return TwoBlockCNN(**kwargs)
        if self.model == "dense":
            return DenseBaseline(**kwargs)
        raise ValueError(f"model={self.model!r} must be one of {', '.join(map(repr, MODELS))}")

    def build_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        """The optimizer; Adam/AdamW use the fused kernel (one pass over all parameters, 4x faster
        on CPU than the per-tensor loop; deterministic)."""
        params = model.parameters()
        if self.optimizer == "adam":
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay, fused=True)
        if self.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay, fused=True)
        if self.optimizer == "sgd":
            return torch.optim.SGD(
                params, lr=self.lr, momentum=0.9, nesterov=True, weight_decay=self.weight_decay
            )
        raise ValueError(f"optimizer={self.optimizer!r} must be 'adam', 'adamw' or 'sgd'")

    def build_scheduler(self, optimizer: torch.optim.Optimizer, steps_per_epoch: int) -> Scheduler | None:
        """Stepped once per batch: OneCycle peaks at ``lr``; cosine decays from ``lr`` to 0. ``plateau``:
        ``ReduceLROnPlateau(mode="min", factor, patience)``, stepped by :func:`fit` once per epoch
        with the evaluation loss (the LR is multiplied by ``factor`` after more than ``patience``
        epochs without a new best loss)."""
        total = self.epochs * steps_per_epoch
        if self.schedule == "constant":
            return None
        if self.schedule == "plateau":
            return Plateau(optimizer, mode="min", factor=self.plateau_factor, patience=self.plateau_patience)
        if self.schedule == "onecycle":
            return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=self.lr, total_steps=total)
        if self.schedule == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
        raise ValueError(f"schedule={self.schedule!r} must be 'constant', 'onecycle', 'cosine' or 'plateau'")


# The lecture's recipe for its CNN: Adam 1e-3 with L2 weight decay 1e-4, ReduceLROnPlateau (patience 3,
# factor 0.5) on the evaluation loss, train-only RandomHorizontalFlip + RandomCrop(28, padding=2), and
# normalisation with the lecture's constants 0.286 / 0.353. The batch size (128) is this course's choice;
# channels-last memory is a speed choice (same maths).
LECTURE_CONFIG = TrainConfig(
    model="lecture",
    batch_size=128,
    optimizer="adam",
    lr=1e-3,
    weight_decay=1e-4,
    schedule="plateau",
    plateau_factor=0.5,
    plateau_patience=3,
    augment=True,
    normalization=(LECTURE_MEAN, LECTURE_STD),
    channels_last=True,
)
# The second course's two models as Keras trains them by default: Adam 1e-3, no augmentation, no decay;
# batch 128 here (Keras' default is 32) as in the kernel study.
TWO_BLOCK_CONFIG = TrainConfig(
    model="two_block", batch_size=128, optimizer="adam", lr=1e-3, channels_last=True
)
DENSE_CONFIG = replace(TWO_BLOCK_CONFIG, model="dense", channels_last=False)
PRESETS: dict[str, TrainConfig] = {
    "lecture": LECTURE_CONFIG,
    "two_block": TWO_BLOCK_CONFIG,
    "dense": DENSE_CONFIG,
}


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    eval_loss: float
    eval_accuracy: float
    seconds: float  # training time of the epoch (evaluation excluded)
    lr: float
    steps: int = 0  # training steps (batches) in the epoch
    median_step: float = math.nan  # median wall time of one step, seconds
    load_average: float = math.nan  # 1-minute load average at the end of the epoch
    cpu_seconds: float = math.nan  # CPU time of the process (all threads) during the training epoch

    @property
    def step_seconds(self) -> float:
        """``median_step * steps``: the epoch's time with bursts of outside load filtered out."""
        return self.median_step * self.steps


@dataclass
class TrainResult:
    """What one run produces; ``to_json`` drops the model (saved separately as a checkpoint)."""

    config: TrainConfig
    params: int
    first_layer_params: int
    test_loss: float
    test_accuracy: float
    confusion: list[list[int]]
    per_class_accuracy: dict[str, float]
    history: list[EpochRecord]
    seconds_per_epoch: float
    eval_split: str
    model: nn.Module | None = field(default=None, repr=False)
    step_seconds_per_epoch: float = math.nan  # median over epochs of EpochRecord.step_seconds
    cpu_seconds_per_epoch: float = math.nan  # median over epochs of EpochRecord.cpu_seconds

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "model"}
        out["config"] = asdict(self.config)
        out["history"] = [asdict(h) for h in self.history]
        return out

    @classmethod
    def from_json(cls, saved: dict[str, Any]) -> TrainResult:
        """Inverse of :meth:`to_json` (without the model)."""
        config: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in saved["config"].items()
        }
        history = [EpochRecord(**h) for h in saved["history"]]
        return cls(**{**saved, "config": TrainConfig(**config), "history": history})


def fit(
    model: nn.Module,
    train_loader: Batches,
    eval_loader: Batches,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    scheduler: Scheduler | None = None,
    device: str | torch.device = "cpu",
    progress: bool | None = None,
    target_accuracy: float | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    first_epoch: int = 1,
) -> list[EpochRecord]:
    """Train for ``epochs`` (or until the eval accuracy reaches ``target_accuracy``); the history.

    A per-batch ``scheduler`` steps after every batch; a ``ReduceLROnPlateau`` steps after every
    epoch with that epoch's evaluation loss. ``EpochRecord.lr`` is the LR the epoch started with.
    ``on_epoch`` is called with every finished epoch's record (progress lines in long studies);
    ``first_epoch`` numbers the records when a run is fitted in pieces (:class:`TrainingRun`).
    """
    epochs = check_int("epochs", epochs, minimum=1)
    history: list[EpochRecord] = []
    plateau = scheduler if isinstance(scheduler, Plateau) else None
    per_batch = None if plateau is not None else scheduler
    epoch_numbers = range(first_epoch, first_epoch + epochs)
    bar = tqdm(epoch_numbers, desc="epochs", disable=not _progress_enabled(progress))
    for epoch in bar:
        lr = optimizer.param_groups[0]["lr"]
        steps: list[float] = []
        start, cpu_start = time.perf_counter(), time.process_time()
        train_loss = train_one_epoch(model, train_loader, optimizer, device, per_batch, progress, steps)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        eval_loss, eval_acc = evaluate(model, eval_loader, device)
        if plateau is not None:
            plateau.step(eval_loss)
        median = float(np.median(steps)) if steps else math.nan
        record = EpochRecord(epoch, train_loss, eval_loss, eval_acc, seconds, lr, len(steps), median)
        record.load_average, record.cpu_seconds = load_average(), cpu_seconds
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        bar.set_postfix(loss=f"{train_loss:.4f}", acc=f"{eval_acc:.4f}", refresh=False)
        if target_accuracy is not None and eval_acc >= target_accuracy:
            break
    return history


@dataclass
class TrainingRun:
    """One seeded run in three steps: :meth:`prepare` (seed, loaders, model, optimizer, schedule),
    :meth:`fit` (any number of times: epochs continue where they stopped), :meth:`result` (the test
    set). :func:`run_training` is the three in a row; :func:`course_lib.fashion.study.run_epoch_timing`
    interleaves the epochs of several runs so that they share the machine's load.

    The data order and augmentation draw from each run's own generators, but dropout draws from torch's
    global generator: runs fitted in alternation are deterministic, yet not bit-identical to the same
    runs fitted one after the other.
    """

    config: TrainConfig
    device: str
    loaders: Loaders
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Scheduler | None
    history: list[EpochRecord] = field(default_factory=list)

    @classmethod
    def prepare(
        cls, config: TrainConfig, data: FashionData | None = None, device: str | None = None
    ) -> TrainingRun:
        """Seed everything and build the loaders, model, optimizer and schedule of ``config``."""
        device = device or default_device()
        retain_freed_memory()  # reuse freed activation memory instead of page-faulting it in every step
        seed_everything(config.seed)
        data = (data if data is not None else FashionData.load()).subset(config.subset, config.test_subset)
        loaders = make_loaders(
            data,
            batch_size=config.batch_size,
            val_size=config.val_size,
            augment=config.augment,
            seed=config.seed,
            channels_last=config.channels_last,
            normalization=config.normalization,
        )
        model = config.build_model().to(device)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)
        optimizer = config.build_optimizer(model)
        scheduler = config.build_scheduler(optimizer, len(loaders.train))
        return cls(config, device, loaders, model, optimizer, scheduler)

    def fit(
        self, epochs: int, progress: bool | None = None, on_epoch: Callable[[EpochRecord], None] | None = None
    ) -> list[EpochRecord]:
        """Train ``epochs`` more epochs (see :func:`fit`); returns and keeps their records."""
        eval_loader = self.loaders.val if self.loaders.val is not None else self.loaders.test
        records = fit(
            self.model,
            self.loaders.train,
            eval_loader,
            self.optimizer,
            epochs,
            self.scheduler,
            self.device,
            progress,
            self.config.target_accuracy,
            on_epoch,
            first_epoch=len(self.history) + 1,
        )
        self.history += records
        return records

    def result(self) -> TrainResult:
        """Evaluate on the test set and collect the :class:`TrainResult` (the model included)."""
        if not self.history:
            raise ValueError("fit() the run for at least one epoch before asking for its result")
        # one pass over the test set: loss, accuracy and predictions
        logits, y = _logits(self.model, self.loaders.test, self.device)
        y_pred = logits.argmax(1)
        test_loss = nn.functional.cross_entropy(logits, y).item()
        test_acc = (y_pred == y).double().mean().item()
        cm = confusion_matrix(y.numpy(), y_pred.numpy())
        return TrainResult(
            config=self.config,
            params=count_parameters(self.model),
            first_layer_params=first_layer_parameters(self.model),
            test_loss=test_loss,
            test_accuracy=test_acc,
            confusion=cm.tolist(),
            per_class_accuracy=dict(zip(CLASS_NAMES, per_class_accuracy(cm).tolist(), strict=True)),
            history=list(self.history),
            seconds_per_epoch=float(np.mean([h.seconds for h in self.history])),
            eval_split="val" if self.loaders.val is not None else "test",
            model=self.model,
            step_seconds_per_epoch=float(np.median([h.step_seconds for h in self.history])),
            cpu_seconds_per_epoch=float(np.median([h.cpu_seconds for h in self.history])),
        )


def run_training(
    config: TrainConfig,
    data: FashionData | None = None,
    device: str | None = None,
    progress: bool | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> TrainResult:
    """Seed, build loaders/model/optimizer/schedule from ``config``, fit, and evaluate on the test set.

    The per-epoch history evaluates on the validation split when ``config.val_size`` > 0, else on the
    test set; a ``plateau`` schedule watches that same loss (the lecture watches its test loader's; set
    ``val_size`` to keep the test set out of training decisions). ``data`` defaults to
    :meth:`FashionData.load` (the verified real files).
    """
    run = TrainingRun.prepare(config, data, device)
    run.fit(config.epochs, progress, on_epoch)
    return run.result()


def save_result(result: TrainResult, out_dir: str | Path) -> Path:
    """Write ``results.json`` and ``model.pt`` (the state dict) into ``out_dir``; returns the JSON path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    path.write_text(json.dumps(result.to_json(), indent=2))
    if result.model is not None:
        torch.save(result.model.state_dict(), out / "model.pt")
    return path
