"""course_lib.tinycnn.models: parameter counts, layout, forward and gradients against torch autograd
and finite differences, the inference trace, determinism and argument errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder import strategies as S
from course_lib.gradcheck import numerical_gradient, relative_error
from course_lib.stripes import make_stripes
from course_lib.tinycnn import MLP, TinyCNN, mlp_param_count, tinycnn_param_count
from course_lib.tinycnn.models import Classifier

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def _torch_twin(model: Classifier) -> tuple[torch.nn.Sequential, dict[str, torch.nn.Module]]:
    """The equivalent PyTorch model (float64) holding the same weights, and its layers by prefix."""
    if isinstance(model, TinyCNN):
        net = torch.nn.Sequential(
            torch.nn.Conv2d(1, model.n_filters, 3),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Flatten(),
            torch.nn.Linear(model.n_features, model.n_classes),
        ).double()
        layers = {"conv": net[0], "dense": net[4]}
    else:
        assert isinstance(model, MLP)
        net = torch.nn.Sequential(
            torch.nn.Flatten(),
            torch.nn.Linear(model.size**2, model.hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(model.hidden, model.n_classes),
        ).double()
        layers = {"hidden": net[1], "out": net[3]}
    with torch.no_grad():
        for prefix, layer in layers.items():
            layer.weight.copy_(torch.from_numpy(model.params[f"{prefix}.w"]))
            layer.bias.copy_(torch.from_numpy(model.params[f"{prefix}.b"]))
    return net, layers


MODELS = [
    pytest.param(lambda: TinyCNN(), id="TinyCNN-3"),
    pytest.param(lambda: TinyCNN(n_classes=4, seed=2), id="TinyCNN-4"),
    pytest.param(lambda: TinyCNN(n_filters=5, size=9, seed=1), id="TinyCNN-5f-9px"),
    pytest.param(lambda: MLP(4), id="MLP-4"),
    pytest.param(lambda: MLP(7, n_classes=4, seed=3), id="MLP-7-4cls"),
]


# -- parameter counts: the lecture's numbers, corrected ---------------------------------------------
def test_tinycnn_has_114_parameters_for_three_classes_and_142_for_four() -> None:
    assert TinyCNN().n_params == 114  # 3*(9+1) + 27*3+3, not the lecture's 117
    assert TinyCNN(n_classes=4).n_params == 142
    assert TinyCNN().param_shapes == {
        "conv.w": (3, 1, 3, 3),
        "conv.b": (3,),
        "dense.w": (3, 27),
        "dense.b": (3,),
    }


@pytest.mark.parametrize("hidden", [1, 2, 4, 8, 12, 18])
def test_mlp_has_68h_plus_3_parameters(hidden: int) -> None:
    assert MLP(hidden).n_params == 68 * hidden + 3
    assert MLP(hidden).param_shapes == {
        "hidden.w": (hidden, 64),
        "hidden.b": (hidden,),
        "out.w": (3, hidden),
        "out.b": (3,),
    }


@given(k=st.integers(2, 6), f=st.integers(1, 6), size=st.integers(4, 12), h=st.integers(1, 20))
def test_general_parameter_formulas(k: int, f: int, size: int, h: int) -> None:
    pooled = (size - 2) // 2
    assert TinyCNN(n_classes=k, n_filters=f, size=size).n_params == 10 * f + (f * pooled**2 + 1) * k
    assert tinycnn_param_count(k, f, size) == 10 * f + (f * pooled**2 + 1) * k
    assert MLP(h, n_classes=k, size=size).n_params == (size**2 + 1) * h + (h + 1) * k
    assert mlp_param_count(h, k, size) == (size**2 + 1) * h + (h + 1) * k


# -- forward and gradients against torch ------------------------------------------------------------
@pytest.mark.parametrize("make", MODELS)
def test_forward_and_backward_match_torch_autograd(make: object) -> None:
    model = make()  # type: ignore[operator]
    X, y = make_stripes(16, n_classes=model.n_classes, size=model.size, seed=11)
    net, layers = _torch_twin(model)
    X_t = torch.from_numpy(X)
    logits_t = net(X_t)
    loss_t = torch.nn.functional.cross_entropy(logits_t, torch.from_numpy(y))
    loss_t.backward()

    np.testing.assert_allclose(model.forward(X), logits_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    loss, grads = model.loss_and_gradients(X, y)
    assert loss == pytest.approx(loss_t.item(), rel=1e-12)
    assert model.loss(X, y) == pytest.approx(loss_t.item(), rel=1e-12)
    expected = {}
    for prefix, layer in layers.items():
        assert layer.weight.grad is not None and layer.bias.grad is not None
        expected[f"{prefix}.w"], expected[f"{prefix}.b"] = layer.weight.grad.numpy(), layer.bias.grad.numpy()
    assert list(grads) == list(model.params)
    for name, g in grads.items():
        np.testing.assert_allclose(g, expected[name], rtol=1e-9, atol=1e-12, err_msg=name)
    for name, g in model.backward(X, y).items():
        np.testing.assert_allclose(g, expected[name], rtol=1e-9, atol=1e-12, err_msg=name)


def _away_from_kinks(model: Classifier, X: np.ndarray, margin: float = 1e-3) -> np.ndarray:
    """Which images keep every ReLU input and every max-pool runner-up at least ``margin`` away
    from the kink, so that finite differences of step 1e-5 never cross one."""
    keep = []
    for x in X:
        if isinstance(model, TinyCNN):
            conv = model.trace(x).conv  # (F, S-2, S-2)
            p = model.pooled_size
            act = np.maximum(conv, 0)[:, : 2 * p, : 2 * p]
            windows = act.reshape(model.n_filters, p, 2, p, 2).transpose(0, 1, 3, 2, 4).reshape(-1, 4)
            top2 = np.sort(windows, axis=1)[:, -2:]  # (F*P*P, 2)
            ok = (
                np.abs(conv).min() > margin and ((top2[:, 1] - top2[:, 0] > margin) | (top2[:, 1] == 0)).all()
            )
        else:
            pre = x.reshape(1, -1) @ model.params["hidden.w"].T + model.params["hidden.b"]  # (1, h)
            ok = np.abs(pre).min() > margin
        keep.append(ok)
    return np.array(keep)


@settings(max_examples=8)
@given(params=S.classifier_params(TinyCNN().param_shapes), seed=st.integers(0, 1000))
def test_any_weights_match_torch(params: dict[str, np.ndarray], seed: int) -> None:
    model = TinyCNN()
    model.set_params(params)
    X, y = make_stripes(4, seed=seed)
    net, layers = _torch_twin(model)
    loss_t = torch.nn.functional.cross_entropy(net(torch.from_numpy(X)), torch.from_numpy(y))
    loss_t.backward()
    assert model.loss(X, y) == pytest.approx(loss_t.item(), rel=1e-12)
    grads = model.backward(X, y)
    for prefix, layer in layers.items():
        assert layer.weight.grad is not None and layer.bias.grad is not None
        np.testing.assert_allclose(grads[f"{prefix}.w"], layer.weight.grad.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(grads[f"{prefix}.b"], layer.bias.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("make", MODELS)
def test_gradients_match_finite_differences(make: object) -> None:
    model = make()  # type: ignore[operator]
    X, y = make_stripes(40, n_classes=model.n_classes, size=model.size, seed=12)
    keep = _away_from_kinks(model, X)
    X, y = X[keep][:8], y[keep][:8]
    assert len(y) == 8
    grads = model.backward(X, y)
    analytic = model.flat_gradients(grads)
    theta = model.get_flat_params()

    def loss_at(v: np.ndarray) -> float:
        model.set_flat_params(v)
        return model.loss(X, y)

    numeric = numerical_gradient(loss_at, theta)
    assert relative_error(analytic, numeric) < 1e-6
    offsets = np.cumsum([0] + [p.size for p in model.params.values()])
    for name, lo, hi in zip(model.params, offsets[:-1], offsets[1:], strict=True):  # per array: no hiding
        assert relative_error(grads[name].ravel(), numeric[lo:hi]) < 1e-6, name


def test_predictions_and_probabilities_agree_with_logits() -> None:
    model = TinyCNN(seed=4)
    X, y = make_stripes(30, seed=13)
    logits = model.forward(X)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba, torch.softmax(torch.from_numpy(logits), dim=1).numpy(), rtol=1e-12)
    np.testing.assert_array_equal(model.predict(X), logits.argmax(axis=1))
    assert model.accuracy(X, y) == pytest.approx(np.mean(logits.argmax(axis=1) == y))
    loss, accuracy = model.evaluate(X, y)
    assert loss == pytest.approx(model.loss(X, y)) and accuracy == model.accuracy(X, y)


# -- the inference trace ----------------------------------------------------------------------------
def test_trace_follows_one_image_through_the_network() -> None:
    model = TinyCNN(seed=5)
    X, _ = make_stripes(3, seed=14)
    trace = model.trace(X[1])
    conv = torch.nn.functional.conv2d(
        torch.from_numpy(X[1:2]),
        torch.from_numpy(model.params["conv.w"]),
        torch.from_numpy(model.params["conv.b"]),
    )[0].numpy()
    np.testing.assert_allclose(trace.conv, conv, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(trace.relu, np.maximum(trace.conv, 0))
    blocks = trace.relu.reshape(3, 3, 2, 3, 2).max(axis=(2, 4))  # (F, 3, 2, 3, 2) -> (F, 3, 3)
    np.testing.assert_array_equal(trace.pool, blocks)
    np.testing.assert_allclose(trace.logits, model.forward(X[1:2])[0], rtol=1e-12)
    np.testing.assert_allclose(trace.probs, model.predict_proba(X[1:2])[0], rtol=1e-12)
    assert trace.probs.sum() == pytest.approx(1.0)
    assert trace.predicted == model.predict(X[1:2])[0]
    np.testing.assert_array_equal(trace.image, X[1, 0])
    for shaped in (X[1, 0], X[1], X[1:2]):
        np.testing.assert_array_equal(model.trace(shaped).pool, trace.pool)


def test_trace_rejects_a_batch() -> None:
    X, _ = make_stripes(2)
    with pytest.raises(ValueError, match="image must be one 8x8 image"):
        TinyCNN().trace(X)


# -- parameters: init, layout helpers, determinism --------------------------------------------------
def test_same_seed_same_weights_other_seed_other_weights() -> None:
    for make in (TinyCNN, lambda seed: MLP(5, seed=seed)):
        a, b, c = make(seed=7), make(seed=7), make(seed=8)  # type: ignore[operator]
        for name in a.params:
            np.testing.assert_array_equal(a.params[name], b.params[name])
        assert not np.array_equal(a.get_flat_params(), c.get_flat_params())


def test_initialisation_is_as_documented() -> None:
    cnn = TinyCNN(seed=1)
    np.testing.assert_allclose(cnn.params["conv.w"].sum(axis=(1, 2, 3)), 0, atol=1e-12)  # zero-mean filters
    np.testing.assert_array_equal(cnn.params["conv.b"], 0.1)
    np.testing.assert_array_equal(cnn.params["dense.b"], 0.0)
    mlp = MLP(16, seed=1)
    np.testing.assert_allclose(mlp.params["hidden.w"].sum(axis=1), 0, atol=1e-12)
    np.testing.assert_array_equal(mlp.params["hidden.b"], 0.1)
    # He scale: variance 2/fan_in (64 inputs) before centring, up to sampling error
    assert mlp.params["hidden.w"].std() == pytest.approx(np.sqrt(2 / 64), rel=0.1)
    np.testing.assert_array_equal(cnn.filters, cnn.params["conv.w"][:, 0])


def test_get_set_and_flat_params_round_trip() -> None:
    model = TinyCNN(seed=2)
    saved = model.get_params()
    saved["conv.w"][0, 0, 0, 0] = 123.0  # a copy: the model is unchanged
    assert model.params["conv.w"][0, 0, 0, 0] != 123.0
    flat = model.get_flat_params()
    assert flat.shape == (114,)
    np.testing.assert_array_equal(flat[:27], model.params["conv.w"].ravel())
    np.testing.assert_array_equal(flat[27:30], model.params["conv.b"])
    np.testing.assert_array_equal(flat[30:111], model.params["dense.w"].ravel())
    other = TinyCNN(seed=3)
    other.set_flat_params(flat)
    X, _ = make_stripes(5)
    np.testing.assert_array_equal(other.forward(X), model.forward(X))
    other.set_params(saved)
    assert other.params["conv.w"][0, 0, 0, 0] == 123.0


def test_set_params_rejects_wrong_names_and_shapes() -> None:
    model = TinyCNN()
    params = model.get_params()
    with pytest.raises(ValueError, match=r"missing \['dense.b'\]"):
        model.set_params({k: v for k, v in params.items() if k != "dense.b"})
    with pytest.raises(
        ValueError, match=r"params\['conv.w'\] must have shape \(3, 1, 3, 3\), got \(3, 3, 3\)"
    ):
        model.set_params({**params, "conv.w": params["conv.w"][:, 0]})
    with pytest.raises(ValueError, match="flat must have n_params=114 entries, got 113"):
        model.set_flat_params(np.zeros(113))


# -- argument errors --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: TinyCNN(n_classes=1), ValueError, "n_classes=1 must be >= 2"),
        (lambda: TinyCNN(n_filters=0), ValueError, "n_filters=0 must be >= 1"),
        (lambda: TinyCNN(n_filters=True), TypeError, "n_filters must be an int"),
        (lambda: TinyCNN(size=3), ValueError, "size=3 must be >= 4"),
        (lambda: MLP(0), ValueError, "hidden=0 must be >= 1"),
        (lambda: MLP(2.5), TypeError, "hidden must be an int"),
        (lambda: TinyCNN().forward(np.zeros((2, 1, 7, 7))), ValueError, r"X must have shape \(N, 1, 8, 8\)"),
        (lambda: TinyCNN().forward(np.zeros((2, 8, 8))), ValueError, "X must be 4-D"),
        (
            lambda: TinyCNN().loss(np.zeros((2, 1, 8, 8)), [0, 3]),
            ValueError,
            r"y must hold class labels in 0\.\.2",
        ),
        (lambda: TinyCNN().loss(np.zeros((2, 1, 8, 8)), [0]), ValueError, r"y must have shape \(2,\)"),
        (lambda: TinyCNN().loss(np.zeros((2, 1, 8, 8)), [0.0, 1.0]), TypeError, "y must be an integer array"),
    ],
)
def test_invalid_arguments_are_named(call: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        call()  # type: ignore[operator]


@settings(max_examples=10)
@given(n=st.integers(1, 5), seed=st.integers(0, 100))
def test_forward_shapes(n: int, seed: int) -> None:
    X, _ = make_stripes(n, n_classes=4, seed=seed)
    assert TinyCNN(n_classes=4, seed=seed).forward(X).shape == (n, 4)
    assert MLP(3, n_classes=4, seed=seed).forward(X).shape == (n, 4)
