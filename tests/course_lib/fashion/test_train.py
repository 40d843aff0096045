"""course_lib.fashion.train: metrics against hand examples and brute force, loops against torch, runs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from torch import nn

from autograder.strategies import label_pairs
from course_lib.fashion import data as data_module
from course_lib.fashion.data import CLASS_NAMES, FashionData, TensorLoader
from course_lib.fashion.models import BaselineMLP, FashionCNN, LectureCNN, count_parameters
from course_lib.fashion.train import (
    LECTURE_CONFIG,
    PRESETS,
    TrainConfig,
    TrainingRun,
    TrainResult,
    confusion_matrix,
    evaluate,
    fit,
    per_class_accuracy,
    predict,
    run_training,
    save_result,
    train_one_epoch,
)

TINY = TrainConfig(model="cnn", channels=(4, 8, 8), hidden=(16,), epochs=2, batch_size=16)

# ------------------------------------------------------------------------------------------ metrics


def test_confusion_matrix_hand_example() -> None:
    y_true = [0, 0, 1, 2, 2, 2]
    y_pred = [0, 1, 1, 2, 0, 2]
    expected = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 2]])  # rows = true class
    cm = confusion_matrix(y_true, y_pred, n_classes=3)
    np.testing.assert_array_equal(cm, expected)
    assert cm.dtype == np.int64
    np.testing.assert_allclose(per_class_accuracy(cm), [1 / 2, 1, 2 / 3])


def test_per_class_accuracy_is_nan_for_absent_classes() -> None:
    acc = per_class_accuracy(np.array([[2, 0], [0, 0]]))
    assert acc[0] == 1.0 and np.isnan(acc[1])


@given(label_pairs())
def test_confusion_matrix_counts_like_brute_force(case: tuple[int, np.ndarray, np.ndarray]) -> None:
    k, y_true, y_pred = case
    cm = confusion_matrix(y_true, y_pred, n_classes=k)
    brute = [
        [sum(1 for t, p in zip(y_true, y_pred, strict=True) if (t, p) == (i, j)) for j in range(k)]
        for i in range(k)
    ]
    np.testing.assert_array_equal(cm, np.array(brute, dtype=np.int64).reshape(k, k))
    acc = per_class_accuracy(cm)
    for i in range(k):
        members = y_true == i
        if members.any():
            assert acc[i] == pytest.approx(np.mean(y_pred[members] == i))
        else:
            assert np.isnan(acc[i])


@pytest.mark.parametrize(
    ("y_true", "y_pred", "n_classes", "error", "match"),
    [
        ([0, 1], [0], 10, ValueError, "y_true has 2 labels but y_pred has 1"),
        ([0, 10], [0, 1], 10, ValueError, "y_true has labels outside 0..9"),
        ([0, 1], [-1, 1], 10, ValueError, "y_pred has labels outside 0..9"),
        ([0.0, 1.0], [0, 1], 10, TypeError, "y_true.dtype=float64 must be an integer type"),
        ([[0, 1]], [[0, 1]], 10, ValueError, "y_true must be 1-D"),
        ([0], [0], 0, ValueError, "n_classes=0 must be >= 1"),
    ],
)
def test_confusion_matrix_rejects_bad_input(
    y_true: list[object], y_pred: list[object], n_classes: int, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        confusion_matrix(y_true, y_pred, n_classes)


def test_per_class_accuracy_rejects_bad_matrices() -> None:
    with pytest.raises(ValueError, match="square"):
        per_class_accuracy(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="negative"):
        per_class_accuracy(np.array([[1, -1], [0, 1]]))


# ---------------------------------------------------------------------------------------- the loops


def _fixed_batch(n: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


@pytest.mark.parametrize(
    "make", [lambda: FashionCNN(3, channels=(4, 8, 8)), lambda: BaselineMLP()], ids=["cnn", "mlp"]
)
def test_one_optimisation_step_lowers_the_loss(make: object) -> None:
    torch.manual_seed(0)
    model: nn.Module = make()  # type: ignore[operator]
    x, y = _fixed_batch()
    batch = [(x, y)]
    before, _ = evaluate(model, batch)
    train_one_epoch(model, batch, torch.optim.SGD(model.parameters(), lr=0.05), progress=False)
    after, _ = evaluate(model, batch)
    assert after < before


def test_train_one_epoch_returns_the_sample_weighted_mean_loss() -> None:
    """With lr = 0 and no dropout the weights stay put: the epoch loss is the full-data cross-entropy."""
    torch.manual_seed(0)
    model = BaselineMLP(dropout=0.0)
    x, y = _fixed_batch(23)
    loader = TensorLoader(x, y, batch_size=10)  # batches of 10, 10, 3
    loss = train_one_epoch(model, loader, torch.optim.SGD(model.parameters(), lr=0.0), progress=False)
    with torch.no_grad():
        expected = nn.functional.cross_entropy(model(x), y).item()
    assert loss == pytest.approx(expected, rel=1e-6)


def test_evaluate_and_predict_agree_with_torch() -> None:
    torch.manual_seed(1)
    model = FashionCNN(3, channels=(4, 4, 4), batch_norm=True)
    x, y = _fixed_batch(25)
    loader = TensorLoader(x, y, batch_size=7)
    loss, acc = evaluate(model, loader)
    model.eval()
    with torch.no_grad():
        logits = model(x)
    assert loss == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-5)
    assert acc == pytest.approx((logits.argmax(1) == y).float().mean().item())
    y_true, y_pred = predict(model, loader)
    np.testing.assert_array_equal(y_true, y.numpy())
    np.testing.assert_array_equal(y_pred, logits.argmax(1).numpy())


def test_scheduler_is_stepped_once_per_batch() -> None:
    torch.manual_seed(0)
    model = BaselineMLP()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5**step)
    x, y = _fixed_batch(30)
    train_one_epoch(model, TensorLoader(x, y, batch_size=10), optimizer, scheduler=scheduler, progress=False)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.5**3)


def test_empty_loader_is_an_error() -> None:
    model = BaselineMLP()
    with pytest.raises(ValueError, match="no batches"):
        train_one_epoch(model, [], torch.optim.SGD(model.parameters(), lr=0.1), progress=False)
    with pytest.raises(ValueError, match="no batches"):
        evaluate(model, [])


def test_fit_stops_at_the_target_accuracy() -> None:
    torch.manual_seed(0)
    model = BaselineMLP()
    x, y = _fixed_batch(20)
    batch = [(x, y)]
    history = fit(model, batch, batch, torch.optim.SGD(model.parameters(), lr=0.1), 5, target_accuracy=0.0)
    assert len(history) == 1
    with pytest.raises(ValueError, match="epochs=0 must be >= 1"):
        fit(model, batch, batch, torch.optim.SGD(model.parameters(), lr=0.1), 0)


def test_quiet_training_writes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    model = BaselineMLP()
    x, y = _fixed_batch(8)
    fit(model, [(x, y)], [(x, y)], torch.optim.SGD(model.parameters(), lr=0.1), 2, progress=False)
    assert capsys.readouterr() == ("", "")


# ------------------------------------------------------------------------------------- complete runs


def test_run_training_is_deterministic_and_seeded(synthetic_data: FashionData) -> None:
    first = run_training(TINY, synthetic_data, "cpu", progress=False)
    again = run_training(TINY, synthetic_data, "cpu", progress=False)
    other = run_training(replace(TINY, seed=1), synthetic_data, "cpu", progress=False)
    assert [h.train_loss for h in first.history] == [h.train_loss for h in again.history]
    assert first.test_loss == again.test_loss
    assert first.history[0].train_loss != other.history[0].train_loss


def test_run_training_learns_the_synthetic_bars(synthetic_data: FashionData) -> None:
    cfg = replace(TINY, epochs=10, lr=1e-2, schedule="onecycle", optimizer="adamw", batch_norm=True)
    result = run_training(cfg, synthetic_data, "cpu", progress=False)
    assert result.history[-1].train_loss < result.history[0].train_loss
    assert result.test_accuracy > 0.8  # chance is 0.1


def test_result_fields_and_files(synthetic_data: FashionData, tmp_path: Path) -> None:
    cfg = replace(
        TINY, val_size=12, augment=True, channels_last=True, schedule="cosine", optimizer="sgd", lr=0.01
    )
    result = run_training(cfg, synthetic_data, "cpu", progress=False)
    assert result.eval_split == "val"
    assert result.params == count_parameters(cfg.build_model())
    assert np.sum(result.confusion) == 30
    assert list(result.per_class_accuracy) == list(CLASS_NAMES)
    assert len(result.history) == 2 and all(h.seconds > 0 for h in result.history)
    path = save_result(result, tmp_path / "run")
    saved = json.loads(path.read_text())
    assert saved["test_accuracy"] == result.test_accuracy
    assert saved["config"]["kernel_size"] == 3 and len(saved["history"]) == 2
    state = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    fresh = cfg.build_model()
    fresh.load_state_dict(state)  # the checkpoint fits the architecture the config describes


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"model": "rnn"}, "model='rnn' must be one of 'cnn', 'mlp', 'lecture'"),
        ({"optimizer": "lbfgs"}, "optimizer='lbfgs'"),
        ({"schedule": "step"}, "schedule='step'"),
    ],
)
def test_config_rejects_unknown_choices(change: dict[str, str], match: str) -> None:
    cfg = replace(TINY, **change)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=match):
        model = cfg.build_model()
        cfg.build_scheduler(cfg.build_optimizer(model), 10)


def test_config_defaults_build_the_course_models() -> None:
    assert count_parameters(TrainConfig(model="mlp").build_model()) == 109_386
    assert count_parameters(TrainConfig(model="cnn", kernel_size=5).build_model()) == 405_898
    assert count_parameters(TrainConfig(model="mlp", hidden=(256, 128)).build_model()) == 235_146


# ------------------------------------------------------------ the lecture's recipe and robust timing


def test_plateau_halves_the_lr_after_more_than_patience_bad_epochs() -> None:
    """The evaluation loss never improves (the optimizer holds a parameter the model does not use):
    epoch 1 sets the best loss, epochs 2-4 are 3 bad epochs (= patience, no change), epoch 5 is the 4th,
    so epoch 6 starts at lr x 0.5 (torch's ReduceLROnPlateau semantics)."""
    torch.manual_seed(0)
    model = BaselineMLP(dropout=0.0)
    unused = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([unused], lr=1.0)
    cfg = replace(TINY, schedule="plateau", plateau_patience=3, plateau_factor=0.5)
    scheduler = cfg.build_scheduler(optimizer, steps_per_epoch=1)
    assert isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    batch = [_fixed_batch(8)]
    history = fit(model, batch, batch, optimizer, 7, scheduler, progress=False)
    assert len({h.eval_loss for h in history}) == 1
    assert [h.lr for h in history] == [1.0] * 5 + [0.5, 0.5]
    with pytest.raises(TypeError, match="ReduceLROnPlateau steps once per epoch"):
        train_one_epoch(model, batch, optimizer, scheduler=scheduler, progress=False)


def test_fit_records_step_times_and_load() -> None:
    model = BaselineMLP()
    x, y = _fixed_batch(30)
    loader = TensorLoader(x, y, batch_size=8)  # 4 steps
    (record,) = fit(model, loader, loader, torch.optim.SGD(model.parameters(), lr=0.1), 1, progress=False)
    assert record.steps == 4 and 0 < record.median_step <= record.seconds
    assert record.step_seconds == pytest.approx(4 * record.median_step)
    assert record.load_average >= 0 or np.isnan(record.load_average)
    assert record.cpu_seconds > 0


def test_lecture_preset_is_the_lecture_recipe() -> None:
    cfg = LECTURE_CONFIG
    model = cfg.build_model()
    assert isinstance(model, LectureCNN) and count_parameters(model) == 825_162
    optimizer = cfg.build_optimizer(model)
    assert isinstance(optimizer, torch.optim.Adam) and not isinstance(optimizer, torch.optim.AdamW)
    group = optimizer.param_groups[0]
    assert (group["lr"], group["weight_decay"]) == (1e-3, 1e-4)
    scheduler = cfg.build_scheduler(optimizer, 10)
    assert isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert (scheduler.factor, scheduler.patience, scheduler.mode) == (0.5, 3, "min")
    assert cfg.augment and cfg.normalization == (0.286, 0.353)
    assert PRESETS["lecture"] is LECTURE_CONFIG
    assert count_parameters(PRESETS["two_block"].build_model()) == 421_642
    assert count_parameters(PRESETS["dense"].build_model()) == 235_146


def test_augmentation_runs_on_training_batches_only(
    synthetic_data: FashionData, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lecture's recipe on 60 synthetic images (4 batches of 16 per epoch, 2 epochs): the crop+flip
    runs exactly 8 times, on 16/16/16/12-image batches, and never on the 30 test images; the test
    images are normalised with the lecture's constants."""
    calls: list[int] = []
    original = data_module.random_crop_flip

    def counting(x: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        calls.append(len(x))
        return original(x, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(data_module, "random_crop_flip", counting)
    cfg = replace(LECTURE_CONFIG, epochs=2, batch_size=16, hidden=(8,))
    result = run_training(cfg, synthetic_data, "cpu", progress=False)
    assert calls == [16, 16, 16, 12] * 2
    assert result.params == count_parameters(cfg.build_model())
    loaders = data_module.make_loaders(synthetic_data, 16, augment=True, normalization=cfg.normalization)
    assert loaders.train.augment and not loaders.test.augment
    expected = (synthetic_data.test_images[0] / 255.0 - 0.286) / 0.353
    np.testing.assert_allclose(loaders.test.x[0, 0].numpy(), expected, rtol=1e-6, atol=1e-6)
    assert (loaders.mean, loaders.std) == (0.286, 0.353)


def test_lecture_result_round_trips_through_json(synthetic_data: FashionData) -> None:
    cfg = replace(LECTURE_CONFIG, epochs=1, batch_size=16, hidden=(8,), channels_last=False)
    result = run_training(cfg, synthetic_data, "cpu", progress=False)
    again = TrainResult.from_json(json.loads(json.dumps(result.to_json())))
    assert again.config == cfg
    assert again.history == result.history
    assert again.step_seconds_per_epoch == result.step_seconds_per_epoch > 0


def test_old_results_without_step_times_still_load() -> None:
    saved = {
        "config": {"model": "cnn", "hidden": [16]},
        "params": 1,
        "first_layer_params": 1,
        "test_loss": 1.0,
        "test_accuracy": 0.5,
        "confusion": [[1]],
        "per_class_accuracy": {},
        "history": [
            {"epoch": 1, "train_loss": 1, "eval_loss": 1, "eval_accuracy": 0.5, "seconds": 2.0, "lr": 0.1}
        ],
        "seconds_per_epoch": 2.0,
        "eval_split": "test",
    }
    result = TrainResult.from_json(saved)
    assert result.config.hidden == (16,) and np.isnan(result.history[0].median_step)


def test_a_run_fitted_in_pieces_is_the_run_fitted_at_once(synthetic_data: FashionData) -> None:
    """TrainingRun: prepare, fit 1 epoch, fit 1 more = run_training for 2 epochs, bit for bit (the
    epochs continue: numbering, optimizer state, data order)."""
    at_once = run_training(TINY, synthetic_data, "cpu", progress=False)
    run = TrainingRun.prepare(TINY, synthetic_data, "cpu")
    with pytest.raises(ValueError, match="fit"):
        run.result()
    run.fit(1, progress=False)
    run.fit(1, progress=False)
    pieces = run.result()
    assert [h.epoch for h in pieces.history] == [1, 2]
    assert [h.train_loss for h in pieces.history] == [h.train_loss for h in at_once.history]
    assert pieces.test_loss == at_once.test_loss and pieces.confusion == at_once.confusion
