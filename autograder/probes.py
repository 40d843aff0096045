"""Probes: small functions that run IN THE STUDENT'S PROCESS and drive the student's object.

Some graded things cannot be called directly across the sandbox wire: a function that takes a
Python callable (``numerical_gradient(f, x)``), a class (``TinyCNN``, ``FashionCNN``), a training
function that takes a model and a data loader. A probe receives the student's object plus plain
data (arrays, numbers, strings), builds whatever objects the call needs from that data, calls the
student's code and returns plain data for the grader to compare::

    def probe_name(student_obj, *args, **kwargs) -> plain data

This module imports only the standard library, numpy and (lazily) torch -- never ``autograder`` or
``course_lib`` -- because the sandbox ships its SOURCE to the worker and executes it there. The
grader imports it too, to build the same test functions when it computes the expected values.
"""

from __future__ import annotations

import contextlib
import types
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

# ------------------------------------------------------------------------------ generic probes

#: Top-level packages a solution must not use: the course's reference library and the grader.
PROTECTED = ("course_lib", "autograder")


def _is_protected(module: object) -> bool:
    return isinstance(module, str) and module.split(".")[0] in PROTECTED


def _refers(obj: Any, seen: set[int], depth: int = 0) -> str | None:
    """How ``obj`` (a function, class, method, partial, module) refers to a protected package."""
    if id(obj) in seen or depth > 6:
        return None
    seen.add(id(obj))
    if isinstance(obj, types.ModuleType):
        return f"module {obj.__name__}" if _is_protected(obj.__name__) else None
    module = getattr(obj, "__module__", None) if callable(obj) else None
    if _is_protected(module):
        return f"{getattr(obj, '__qualname__', type(obj).__name__)} from {module}"
    inner = [getattr(obj, attr, None) for attr in ("__wrapped__", "__func__", "func")]
    if isinstance(obj, type):
        inner += list(obj.__mro__[1:]) + list(vars(obj).values())
    if isinstance(obj, staticmethod | classmethod):
        inner.append(obj.__func__)
    if isinstance(obj, types.FunctionType):
        inner += [cell.cell_contents for cell in obj.__closure__ or () if _cell_filled(cell)]
        inner += [obj.__globals__.get(name) for name in _global_names(obj.__code__)]
    for value in inner:
        if value is not None and (callable(value) or isinstance(value, types.ModuleType)):
            found = _refers(value, seen, depth + 1)
            if found is not None:
                return found
    return None


def _cell_filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - raises ValueError for an empty cell
    except ValueError:
        return False
    return True


def _global_names(code: types.CodeType) -> list[str]:
    """Names a code object (and the functions nested in it) loads from globals."""
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names += _global_names(const)
    return names


def probe_provenance(obj: Any) -> str | None:
    """A description of how ``obj`` is, wraps, subclasses or imports course_lib/autograder, else None.

    Looks at the object's ``__module__``, ``__wrapped__``, bound/partial functions, base classes and
    methods, closure cells and the globals its code refers to (modules and functions).
    """
    return _refers(obj, set())


def probe_inputs_after_call(func: Callable[..., Any], *args: Any, **kwargs: Any) -> list[Any]:
    """Call ``func(*args, **kwargs)`` and return the positional arguments as they are afterwards
    (the grader compares them with the originals: a function must not modify its inputs)."""
    func(*args, **kwargs)
    return list(args)


# --------------------------------------------------------------------------- gradient checking

#: Scalar test functions for ``numerical_gradient``, by name: separable, so each gradient entry
#: depends on its own coordinate only. ``source`` is how the feedback writes them.
GRADIENT_FUNCTIONS: dict[str, tuple[str, Callable[[np.ndarray], float]]] = {
    "sum_squares": ("lambda x: np.sum(x ** 2)", lambda x: float(np.sum(x**2))),
    "sum_cubes": ("lambda x: np.sum(x ** 3)", lambda x: float(np.sum(x**3))),
    "sum_sin": ("lambda x: np.sum(np.sin(x))", lambda x: float(np.sum(np.sin(x)))),
    # reads x through a closure and ignores its argument (as the notebook's gradient checks do)
    "closure_sum_squares": ("lambda _: np.sum(x ** 2), reading x through a closure", lambda x: 0.0),
}
#: The test functions that read ``x`` through a closure: name -> the function of ``x`` they compute.
CLOSURES: dict[str, str] = {"closure_sum_squares": "sum_squares"}


def _step_text(step: float) -> float:
    """A perturbation size rounded to 6 significant digits (``(1.5 + 0.1) - 1.5`` is ``0.1``)."""
    return float(f"{step:.6g}")


def probe_numerical_gradient(
    numerical_gradient: Callable[..., Any], function: str, x: np.ndarray, eps: float | None = None
) -> dict[str, Any]:
    """Run the student's ``numerical_gradient(f, x)`` (or ``(f, x, eps)``) with the named test function.

    Returns ``{"grad": the result, "x": x afterwards (it must be restored), "steps": the sizes of the
    perturbations f saw (largest change of any entry per call of f, rounded; the unperturbed calls
    left out)}``. A closure test function reads the very array ``x`` that was passed in.
    """
    x = np.array(x, dtype=np.float64)  # a fresh, writeable float64 array the student may nudge
    original = x.copy()
    steps: set[float] = set()

    def seen(z: Any) -> np.ndarray:
        values = np.asarray(z, dtype=np.float64)
        if values.shape == original.shape and values.size:
            step = float(np.max(np.abs(values - original)))
            if step > 0:
                steps.add(_step_text(step))
        return values

    if function in CLOSURES:
        base = GRADIENT_FUNCTIONS[CLOSURES[function]][1]

        def f(z: Any) -> float:  # reads x through the closure, not its argument
            return base(seen(x))

    else:
        plain = GRADIENT_FUNCTIONS[function][1]

        def f(z: Any) -> float:
            return plain(seen(z))

    grad = numerical_gradient(f, x) if eps is None else numerical_gradient(f, x, eps)
    return {"grad": grad, "x": x, "steps": sorted(steps)}


# ------------------------------------------------------------------------ numpy classifiers


def probe_classifier(
    cls: Callable[..., Any],
    kwargs: dict[str, Any],
    action: str,
    params: dict[str, np.ndarray] | None = None,
    X: np.ndarray | None = None,
    y: np.ndarray | None = None,
) -> Any:
    """Build ``cls(**kwargs)`` (TinyCNN, MLP), give it ``params`` (via ``set_params`` when it has one,
    else by assigning ``model.params``), and report one thing about it:

    ``"n_params"``, ``"param_shapes"`` (name -> shape), ``"forward"`` (logits of ``X``),
    ``"backward"`` (gradient dict of the mean cross-entropy on ``X, y``), ``"predict"`` (labels).
    The grader runs the same probe on the reference class to get the expected value.
    """
    model = cls(**kwargs)
    if params is not None:
        fresh = {name: np.array(value, dtype=np.float64) for name, value in params.items()}
        if callable(getattr(model, "set_params", None)):
            model.set_params(fresh)
        else:
            model.params = fresh
    if action == "n_params":
        n = model.n_params
        return int(n() if callable(n) else n)
    if action == "param_shapes":
        return {str(name): tuple(int(d) for d in np.shape(p)) for name, p in model.params.items()}
    if action == "forward":
        return model.forward(X)
    if action == "backward":
        return dict(model.backward(X, y))
    if action == "predict":
        return model.predict(X)
    raise ValueError(f"unknown classifier probe action {action!r}")


# --------------------------------------------------------------------------- torch: models


def _torch() -> Any:
    """torch, imported only when a torch probe runs (the numpy assignments never load it)."""
    import torch

    return torch


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run tiny torch work on one thread (no oversubscription when graders run in parallel), then
    restore the caller's setting."""
    torch = _torch()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def probe_torch_model(cls: Callable[..., Any], kwargs: dict[str, Any], batch: int = 2) -> dict[str, Any]:
    """Build ``cls(**kwargs)`` with torch's seed 0 and report what the grader checks of a model:
    ``n_params`` (trainable), ``out_shape`` for ``batch`` fixed images (N, 1, 28, 28),
    ``eval_repeatable`` (two eval-mode passes agree: dropout is off), ``train_varies`` (two
    training-mode passes differ: dropout is on), ``layer_logits`` (in eval mode the model computes the
    stated architecture from its own ``Conv2d`` and ``Linear`` layers, see :func:`stated_forward`, and
    returns its raw logits) and ``all_grads`` (every trainable parameter gets a gradient from the
    summed logits)."""
    torch = _torch()
    with _one_thread():
        return _model_facts(torch, cls, kwargs, batch)


def _model_facts(torch: Any, cls: Callable[..., Any], kwargs: dict[str, Any], batch: int) -> dict[str, Any]:
    torch.manual_seed(0)
    model = cls(**kwargs)
    x = torch.linspace(-1.0, 1.0, batch * 28 * 28).reshape(batch, 1, 28, 28)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    model.eval()
    with torch.no_grad():
        first, second = model(x), model(x)
        stated = stated_forward(model, x)
    model.train()
    torch.manual_seed(1)
    with torch.no_grad():
        varies = not torch.equal(model(x), model(x))
    model.zero_grad()
    with contextlib.suppress(RuntimeError):  # e.g. an output that does not depend on any parameter
        model(x).sum().backward()
    trainable = [p for p in model.parameters() if p.requires_grad]
    same = stated is not None and stated.shape == first.shape
    return {
        "n_params": int(n_params),
        "out_shape": tuple(int(d) for d in first.shape),
        "eval_repeatable": bool(torch.equal(first, second)),
        "train_varies": bool(varies),
        "layer_logits": bool(same and torch.allclose(first, stated, rtol=1e-4, atol=1e-5)),
        "all_grads": bool(trainable) and all(p.grad is not None for p in trainable),
    }


def stated_forward(model: Any, x: Any) -> Any:
    """The notebook's architecture recomputed from the model's own layers, or None when it has none:
    ``[Conv2d -> ReLU -> MaxPool 2x2]`` for each ``Conv2d`` (chained by channel counts from 1 input
    channel), flatten, then ``Linear -> ReLU`` for each ``Linear`` (chained by feature counts) except
    the last, which gives the raw logits. Dropout is off (eval mode), so it does not appear."""
    torch = _torch()
    nn, F = torch.nn, torch.nn.functional
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    h = x
    for _ in range(len(convs)):
        conv = next((m for m in convs if m.in_channels == h.shape[1]), None)
        if conv is None:
            return None
        convs.remove(conv)
        h = F.max_pool2d(F.relu(conv(h)), 2)
    h = h.flatten(1)
    chain = []
    while linears:
        layer = next((m for m in linears if m.in_features == h.shape[1]), None)
        if layer is None:
            return None
        linears.remove(layer)
        chain.append(layer)
        h = layer(h) if not linears else F.relu(layer(h))
    return h if chain else None


#: Layer specs for ``count_parameters``: ("linear", in, out), ("conv", in, out, k), ("bn", channels),
#: ("relu",); a trailing "frozen" freezes that layer's parameters, "frozen_weight" only its weight.
LayerSpec = tuple[Any, ...]


def build_torch_model(layers: list[LayerSpec]) -> Any:
    """An ``nn.Sequential`` from layer specs (see :data:`LayerSpec`), seeded."""
    torch = _torch()
    nn = torch.nn
    torch.manual_seed(0)
    modules = []
    for spec in layers:
        kind, *dims = spec
        freeze = dims[-1] if dims and dims[-1] in ("frozen", "frozen_weight") else ""
        dims = dims[:-1] if freeze else dims
        module = {
            "linear": lambda d: nn.Linear(d[0], d[1], bias=len(d) < 3 or bool(d[2])),
            "conv": lambda d: nn.Conv2d(d[0], d[1], d[2], bias=len(d) < 4 or bool(d[3])),
            "bn": lambda d: nn.BatchNorm2d(d[0]),
            "relu": lambda d: nn.ReLU(),
        }[kind](dims)
        for name, p in module.named_parameters():
            p.requires_grad_(not (freeze == "frozen" or (freeze == "frozen_weight" and name == "weight")))
        modules.append(module)
    return nn.Sequential(*modules)


def probe_count_parameters(count_parameters: Callable[..., Any], layers: list[LayerSpec]) -> Any:
    """The student's ``count_parameters`` on a model built from ``layers``."""
    with _one_thread():
        return count_parameters(build_torch_model(layers))


# ------------------------------------------------------------------------ torch: training loops


def make_batches(seed: int, sizes: list[int], n_features: int = 16, n_classes: int = 3) -> list[Any]:
    """A deterministic "loader": a list of ``(x (B, 1, 4, 4), y (B,))`` tensor batches of the given
    sizes (16 features as 4x4 one-channel images)."""
    torch = _torch()
    gen = torch.Generator().manual_seed(seed)
    side = round(n_features**0.5)
    return [
        (torch.randn(b, 1, side, side, generator=gen), torch.randint(0, n_classes, (b,), generator=gen))
        for b in sizes
    ]


def build_tiny_classifier(dropout: float = 0.0, n_features: int = 16, n_classes: int = 3) -> Any:
    """Flatten -> Linear(16, 8) -> ReLU -> Dropout -> Linear(8, 3), seeded: small and fast."""
    torch = _torch()
    nn = torch.nn
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(n_features, 8), nn.ReLU(), nn.Dropout(dropout), nn.Linear(8, n_classes)
    )


def _flat_params(model: Any) -> np.ndarray:
    return np.concatenate([p.detach().cpu().numpy().ravel() for p in model.parameters()]).astype(np.float64)


def _recording_model(model: Any, record: dict[str, Any]) -> Any:
    """``model`` (an ``nn.Sequential``) whose forward also notes, per call, which of the batches
    ``record["inputs"]`` it was given (-1 for none), training mode, whether autograd was on, and the
    logits (``record["forwards"]``). The parameters are the same objects, in the same order."""
    torch = _torch()

    class Recorded(torch.nn.Sequential):  # type: ignore[name-defined]
        def forward(self, x: Any) -> Any:
            out = super().forward(x)
            flat = x.detach().reshape(-1).cpu()
            batch = next(  # the batch whose values these are (reshaped, cast or copied, it is the same)
                (
                    i
                    for i, seen in enumerate(record["inputs"])
                    if seen.numel() == flat.numel() and torch.equal(seen.reshape(-1), flat.to(seen.dtype))
                ),
                -1,
            )
            logits = out.detach().double().cpu().numpy()
            record["forwards"].append((batch, self.training, torch.is_grad_enabled(), logits))
            return out

    recorded = Recorded(*model)
    recorded.train(model.training)
    return recorded


def _per_batch(record: dict[str, Any], column: int) -> list[Any]:
    """Column ``column`` of the first forward pass on each batch (in batch order)."""
    first: dict[int, Any] = {}
    for forward in record["forwards"]:
        if forward[0] >= 0:
            first.setdefault(forward[0], forward)
    return [first[b][column] for b in sorted(first)]


def _as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def probe_train_one_epoch(
    train_one_epoch: Callable[..., Any], seed: int, sizes: list[int], lr: float = 0.1, dropout: float = 0.0
) -> dict[str, Any]:
    """The student's ``train_one_epoch(model, loader, optimizer)`` on a tiny seeded model (handed over in
    eval mode, with ``dropout``) and data, with plain SGD. Returns ``loss`` (the returned value as a
    float, None if it is not a number), ``is_float`` (it is a Python float), ``params`` (afterwards),
    and, per batch that the loop ran a forward pass on: ``batches`` (its index), ``modes`` (training
    mode on) and ``logits`` (of its first forward pass, the ones its loss came from)."""
    torch = _torch()
    with _one_thread():
        loader = make_batches(seed, sizes)
        record: dict[str, Any] = {"inputs": [x for x, _ in loader], "forwards": []}
        model = _recording_model(build_tiny_classifier(dropout), record)
        model.eval()
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        loss = train_one_epoch(model, loader, optimizer)
        return {
            "loss": _as_float(loss),
            "loss_type": "float" if isinstance(loss, float) else type(loss).__name__,
            "params": _flat_params(model),
            "batches": _per_batch(record, 0),
            "modes": _per_batch(record, 1),
            "logits": _per_batch(record, 3),
        }


def probe_evaluate(
    evaluate: Callable[..., Any], seed: int, sizes: list[int], dropout: float = 0.0
) -> dict[str, Any]:
    """The student's ``evaluate(model, loader)`` on a tiny seeded model (left in train mode, with
    ``dropout``): ``{"loss", "accuracy", "params": the parameters afterwards, "no_grad": per batch
    evaluated, autograd was off}``."""
    with _one_thread():
        loader = make_batches(seed, sizes)
        record: dict[str, Any] = {"inputs": [x for x, _ in loader], "forwards": []}
        model = _recording_model(build_tiny_classifier(dropout), record)
        model.train()
        loss, accuracy = evaluate(model, loader)
        return {
            "loss": _as_float(loss),
            "accuracy": _as_float(accuracy),
            "params": _flat_params(model),
            "no_grad": [not enabled for enabled in _per_batch(record, 2)],
        }


# --------------------------------------------------------------------------------- numpy warnings


def probe_warnings(func: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Call ``func`` with numpy's floating-point warnings switched on (the student's own
    ``np.errstate`` inside ``func`` still wins) and report ``{"warnings": the first three warnings'
    texts}``; the same on every grading path."""
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="warn"):
        warnings.simplefilter("always")
        func(*args, **kwargs)
    return {"warnings": [f"{w.category.__name__}: {w.message}" for w in caught[:3]]}


#: Every probe, by the name the items use.
PROBES: dict[str, Callable[..., Any]] = {
    "provenance": probe_provenance,
    "inputs_after_call": probe_inputs_after_call,
    "numerical_gradient": probe_numerical_gradient,
    "classifier": probe_classifier,
    "torch_model": probe_torch_model,
    "count_parameters": probe_count_parameters,
    "train_one_epoch": probe_train_one_epoch,
    "evaluate": probe_evaluate,
    "warnings": probe_warnings,
}
