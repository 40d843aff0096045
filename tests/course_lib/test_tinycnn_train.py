"""course_lib.tinycnn.train: the optimizers and the schedule against torch.optim, fit's history,
snapshots, determinism, early stop, a short training run, and argument errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_lib.stripes import make_stripes
from course_lib.tinycnn import DEFAULTS, MLP, TinyCNN, TrainConfig
from course_lib.tinycnn.train import SGD, Adam, decay_weights, learning_rate, minibatches

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def _gradient_sequence(shape: tuple[int, ...], steps: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.normal(size=shape) for _ in range(steps)]


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda p: Adam(p), lambda t: torch.optim.Adam([t], lr=0.05)),
        (
            lambda p: Adam(p, (0.8, 0.99), 1e-6),
            lambda t: torch.optim.Adam([t], lr=0.05, betas=(0.8, 0.99), eps=1e-6),
        ),
        (lambda p: SGD(p, 0.9), lambda t: torch.optim.SGD([t], lr=0.05, momentum=0.9)),
        (lambda p: SGD(p, 0.0), lambda t: torch.optim.SGD([t], lr=0.05)),
    ],
    ids=["adam", "adam-betas", "sgd-momentum", "sgd"],
)
def test_optimizers_match_torch_optim(ours: object, theirs: object) -> None:
    start = np.random.default_rng(1).normal(size=(3, 4))
    params = {"w": start.copy()}
    opt = ours(params)  # type: ignore[operator]
    t = torch.tensor(start.copy(), requires_grad=True)
    topt = theirs(t)  # type: ignore[operator]
    for g in _gradient_sequence((3, 4), 7):
        opt.step(params, {"w": g}, 0.05)
        t.grad = torch.from_numpy(g.copy())
        topt.step()
    np.testing.assert_allclose(params["w"], t.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_decoupled_weight_decay_then_adam_is_torch_adamw() -> None:
    start = np.random.default_rng(2).normal(size=(4, 3))
    params = {"dense.w": start.copy(), "dense.b": start[0].copy()}
    opt = Adam(params)
    w = torch.tensor(start.copy(), requires_grad=True)
    b = torch.tensor(start[0].copy(), requires_grad=True)
    topt = torch.optim.AdamW(
        [{"params": [w], "weight_decay": 0.1}, {"params": [b], "weight_decay": 0.0}], lr=0.05
    )
    for g in _gradient_sequence((4, 3), 6):
        decay_weights(params, 0.05, 0.1)
        opt.step(params, {"dense.w": g, "dense.b": g[0]}, 0.05)
        w.grad, b.grad = torch.from_numpy(g.copy()), torch.from_numpy(g[0].copy())
        topt.step()
    np.testing.assert_allclose(params["dense.w"], w.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(params["dense.b"], b.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_cosine_schedule_matches_torch() -> None:
    total = 20
    t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([t], lr=DEFAULTS.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    for step in range(total):
        assert learning_rate(DEFAULTS, step, total) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
        opt.step()
        sched.step()
    constant = TrainConfig(schedule="constant", lr=0.1)
    assert learning_rate(constant, 7, total) == 0.1


def test_minibatches_cover_every_index_once() -> None:
    batches = list(minibatches(10, 4, np.random.default_rng(0)))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))


def test_defaults_are_the_documented_recipe() -> None:
    assert (DEFAULTS.epochs, DEFAULTS.lr, DEFAULTS.batch_size) == (40, 0.05, 32)
    assert (DEFAULTS.optimizer, DEFAULTS.schedule, DEFAULTS.weight_decay) == ("adam", "cosine", 0.1)


def test_short_training_run_exceeds_95_percent() -> None:
    X, y = make_stripes(600, seed=21)
    X_val, y_val = make_stripes(600, seed=22)
    model = TinyCNN()
    history = model.fit(X, y, epochs=3, X_val=X_val, y_val=y_val, progress=False)
    assert history.val_accuracy[0] < 0.6, "an untrained model is near chance"
    assert history.final_val_accuracy > 0.95
    assert model.accuracy(X_val, y_val) == history.final_val_accuracy


def test_history_records_every_epoch_and_the_snapshots() -> None:
    X, y = make_stripes(90, seed=23)
    X_val, y_val = make_stripes(30, seed=24)
    model = TinyCNN(seed=1)
    initial = model.get_params()
    history = model.fit(X, y, epochs=3, X_val=X_val, y_val=y_val, snapshot_epochs=(0, 2, 3), progress=False)
    assert history.epochs == [0, 1, 2, 3]
    for series in (history.train_loss, history.train_accuracy, history.val_loss, history.val_accuracy):
        assert len(series) == 4
    assert sorted(history.snapshots) == [0, 2, 3]
    for name, value in initial.items():
        np.testing.assert_array_equal(history.snapshots[0][name], value)
        np.testing.assert_array_equal(history.snapshots[3][name], model.params[name])
    assert not np.array_equal(history.snapshots[2]["conv.w"], history.snapshots[3]["conv.w"])
    assert history.train_loss[-1] == pytest.approx(model.loss(X, y))
    assert history.val_loss[0] == pytest.approx(TinyCNN(seed=1).loss(X_val, y_val))
    data = history.to_dict()
    assert data["config"]["lr"] == DEFAULTS.lr and data["epochs"] == [0, 1, 2, 3]
    assert np.array(data["snapshots"]["2"]["conv.w"]).shape == (3, 1, 3, 3)


def test_fit_is_deterministic_for_a_seed() -> None:
    X, y = make_stripes(100, seed=25)
    runs = []
    for shuffle_seed in (None, None, 9):
        model = MLP(4, seed=3)
        history = model.fit(X, y, epochs=2, progress=False, seed=shuffle_seed)
        runs.append((model.get_flat_params(), history.train_loss))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]
    assert not np.array_equal(runs[0][0], runs[2][0]), "another shuffling seed, another path"


def test_zero_epochs_change_nothing() -> None:
    X, y = make_stripes(20)
    model = TinyCNN()
    before = model.get_flat_params()
    history = model.fit(X, y, epochs=0, progress=False)
    np.testing.assert_array_equal(model.get_flat_params(), before)
    assert history.epochs == [0] and history.val_accuracy == []
    assert math.isnan(history.final_val_accuracy)


def test_target_accuracy_stops_early() -> None:
    X, y = make_stripes(600, seed=26)
    X_val, y_val = make_stripes(300, seed=27)
    history = TinyCNN().fit(X, y, X_val=X_val, y_val=y_val, target_accuracy=0.9, progress=False)
    assert history.stopped_at is not None and history.stopped_at < DEFAULTS.epochs
    assert history.epochs[-1] == history.stopped_at
    assert history.val_accuracy[-1] >= 0.9 > max(history.val_accuracy[:-1])
    assert history.first_epoch_reaching(0.9) == history.stopped_at


def test_sgd_option_trains_too() -> None:
    X, y = make_stripes(300, seed=28)
    model = TinyCNN()
    history = model.fit(X, y, epochs=2, lr=0.05, optimizer="sgd", schedule="constant", progress=False)
    assert history.config.optimizer == "sgd"
    assert history.train_loss[-1] < history.train_loss[0]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"epochs": -1}, ValueError, "epochs=-1 must be >= 0"),
        ({"batch_size": 0}, ValueError, "batch_size=0 must be >= 1"),
        ({"lr": 0.0}, ValueError, "lr=0.0 must be > 0"),
        ({"lr": float("inf")}, TypeError, "lr must be a finite number"),
        ({"optimizer": "rmsprop"}, ValueError, "optimizer='rmsprop' must be one of"),
        ({"schedule": "step"}, ValueError, "schedule='step' must be one of"),
        ({"momentum": 1.0}, ValueError, r"momentum=1.0 must be in \[0, 1\)"),
        ({"weight_decay": -0.1}, ValueError, "weight_decay=-0.1 must be >= 0"),
        ({"snapshot_epochs": (0, 5)}, ValueError, r"snapshot_epochs\[1\]=5 must be <= epochs=2"),
        ({"X_val": np.zeros((1, 1, 8, 8))}, ValueError, "X_val and y_val must be given together"),
        ({"target_accuracy": 0.9}, ValueError, "target_accuracy needs validation data"),
        ({"X_val": np.zeros((1, 1, 8, 8)), "y_val": [7]}, ValueError, r"y_val must hold class labels"),
    ],
)
def test_invalid_fit_arguments_are_named(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    X, y = make_stripes(10)
    with pytest.raises(error, match=message):
        TinyCNN().fit(X, y, **{"epochs": 2, "progress": False, **kwargs})  # type: ignore[arg-type]
