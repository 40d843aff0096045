"""Assignment 6, batchnorm_and_efficient_convs: batchnorm2d, batchnorm2d_backward,
depthwise_separable_conv2d, depthwise_separable_params, global_avgpool_head."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from autograder import strategies as S
from autograder.compare import Tolerance
from autograder.items.base import CHANNELS, Call, Item, Prop, Requirement, one_below_one, returns_int
from course_lib import arithmetic, batchnorm, layers, separable

#: Place in the course (teaching order): after the Fashion-MNIST study, whose networks use
#: nn.BatchNorm2d as a black box; it builds on Assignments 2 and 3 (convolution, backpropagation).
POSITION = 6

# ------------------------------------------------------------------------------- worked examples
# The notebook's hand-worked examples (its markdown works them out; its check cells assert them).

#: x (N=2, C=2, H=1, W=2): channel 0 holds 1, 3 | 3, 1 (mean 2, biased variance 1), channel 1 holds
#: 2, 2 | 6, 6 (mean 4, biased variance 4: each image alone is constant).
BN_X = np.array([[[[1.0, 3.0]], [[2.0, 2.0]]], [[[3.0, 1.0]], [[6.0, 6.0]]]])
BN_GAMMA, BN_BETA = np.array([2.0, 0.5]), np.array([1.0, -1.0])
#: torch's initial running statistics (training example) and statistics "from training" (evaluation).
BN_INIT_MEAN, BN_INIT_VAR = np.zeros(2), np.ones(2)
BN_RUNNING_MEAN, BN_RUNNING_VAR = np.array([1.0, 2.0]), np.array([4.0, 1.0])
#: dout: 1 at x[0, 0, 0, 1] (a 3 of channel 0) and at x[1, 1, 0, 0] (a 6 of channel 1), 0 elsewhere.
BN_DOUT = np.zeros((2, 2, 1, 2))
BN_DOUT[0, 0, 0, 1] = BN_DOUT[1, 1, 0, 0] = 1.0

#: x (1, 2, 3, 3): both channels 0..8; depthwise filters [[1, 1], [1, 1]] and [[1, 0], [0, -1]];
#: pointwise rows (1, 1), (1, -1), (0.5, 0); biases (0, 10) and (1, 2, 3).
SEP_X = np.stack([np.arange(9.0).reshape(3, 3)] * 2)[None]
SEP_W_DEPTHWISE = np.array([[[[1.0, 1.0], [1.0, 1.0]]], [[[1.0, 0.0], [0.0, -1.0]]]])
SEP_W_POINTWISE = np.array([[1.0, 1.0], [1.0, -1.0], [0.5, 0.0]])[:, :, None, None]
SEP_B_DEPTHWISE, SEP_B_POINTWISE = np.array([0.0, 10.0]), np.array([1.0, 2.0, 3.0])

#: x (1, 2, 2, 2): channel means 2.5 and 1; w (3, 2), b (3,).
HEAD_X = np.array([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 0.0], [0.0, 4.0]]]])
HEAD_W, HEAD_B = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]]), np.array([0.0, 0.0, 0.5])


#: The hand-worked values leave eps out (the notebook says so); eps moves them by ~1e-5.
_HAND_WORKED = Tolerance(atol_scale=1e-4, rtol=1e-4)


def _copy(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    return tuple(a.copy() for a in arrays)


# ------------------------------------------------------------------------------------ batchnorm2d

#: Momenta of the running-statistics properties: torch's default (left out of the call) and others;
#: never 0.5, where the weights of the old and the new value are the same.
_MOMENTA = st.sampled_from([0.1, 0.25, 0.75, 1.0])
#: eps of the eps properties: never the default, so an eps that is ignored shows.
_EPSILONS = st.sampled_from([0.25, 1.0, 4.0])
_BN_OUTPUTS = ("out", "running_mean", "running_var")
_RUNNING = ("running_mean", "running_var")


def _bn_cases(training: bool, **kw: Any) -> st.SearchStrategy[Call]:
    """batchnorm2d calls: torch's default momentum and eps, every channel holding two values or more,
    unless overridden."""
    options = {"momentum": 0.1, "eps": 1e-5, "varied": True, "seeded": True, **kw}
    return S.batchnorm_cases(**options).map(
        lambda c: Call((c.x, c.gamma, c.beta, c.running_mean, c.running_var, training), c.kwargs())
    )


def _worked_batchnorm() -> tuple[Call, ...]:
    return (
        Call((*_copy(BN_X, BN_GAMMA, BN_BETA, BN_INIT_MEAN, BN_INIT_VAR), True)),
        Call((*_copy(BN_X, BN_GAMMA, BN_BETA, BN_RUNNING_MEAN, BN_RUNNING_VAR), False)),
    )


BATCHNORM2D = Item(
    "batchnorm2d",
    points=7,
    reference=batchnorm.batchnorm2d,
    params=("x", "gamma", "beta", "running_mean", "running_var", "training"),
    outputs=_BN_OUTPUTS,
    properties=(
        Prop("matches the notebook's worked example", 0.75, examples=_worked_batchnorm(), tol=_HAND_WORKED),
        Prop(
            "training: each channel normalised with its own batch mean and biased variance",
            1,
            _bn_cases(True, batch=1, channels=st.integers(2, 3), affine=False),
            keys=("out",),
        ),
        Prop(
            "training: statistics over the whole batch (N, H, W)",
            0.75,
            _bn_cases(True, batch=st.integers(2, 3), affine=False),
            keys=("out",),
        ),
        Prop(
            "training: gamma scales and beta shifts each channel",
            0.75,
            _bn_cases(True, batch=1),
            keys=("out",),
        ),
        Prop(
            "training: running mean = (1 - momentum) * running mean + momentum * batch mean",
            0.75,
            _bn_cases(True, momentum=_MOMENTA),
            keys=("running_mean",),
        ),
        Prop(
            "training: running variance takes the unbiased batch variance",
            0.75,
            _bn_cases(True, momentum=_MOMENTA),
            keys=("running_var",),
        ),
        Prop(
            "evaluation: normalises with the running statistics",
            1,
            _bn_cases(False, momentum=_MOMENTA),
            keys=("out",),
        ),
        Prop(
            "evaluation: returns the running statistics unchanged",
            0.25,
            _bn_cases(False, momentum=_MOMENTA),
            keys=_RUNNING,
            side=True,
        ),
        Prop(
            "eps (1e-5 unless given)",
            0.5,
            _bn_cases(True, batch=1, affine=False, eps=_EPSILONS),
            keys=("out",),
        ),
        Prop(
            "does not modify its inputs",
            0.5,
            _bn_cases(True, momentum=_MOMENTA),
            expect="unchanged",
        ),
    ),
)

# --------------------------------------------------------------------------- batchnorm2d_backward


def _bn_backward_cases(training: bool, **kw: Any) -> st.SearchStrategy[Call]:
    """batchnorm2d_backward calls (the running statistics are passed in both modes)."""
    options = {"momentum": 0.1, "eps": 1e-5, "varied": True, "seeded": True, **kw}
    return S.batchnorm_cases(**options).map(
        lambda c: Call(
            (c.dout, c.x, c.gamma, c.running_mean, c.running_var, training),
            {"eps": c.eps} if c.eps != S.BN_EPS_DEFAULT else {},
        )
    )


def _worked_batchnorm_backward() -> tuple[Call, ...]:
    return tuple(
        Call((*_copy(BN_DOUT, BN_X, BN_GAMMA, BN_RUNNING_MEAN, BN_RUNNING_VAR), training))
        for training in (True, False)
    )


BATCHNORM2D_BACKWARD = Item(
    "batchnorm2d_backward",
    points=6,
    reference=batchnorm.batchnorm2d_backward,
    params=("dout", "x", "gamma", "running_mean", "running_var", "training"),
    outputs=("dx", "dgamma", "dbeta"),
    properties=(
        Prop(
            "matches the notebook's worked example",
            0.75,
            examples=_worked_batchnorm_backward(),
            tol=_HAND_WORKED,
        ),
        Prop("dbeta sums dout over (N, H, W)", 0.5, _bn_backward_cases(True), keys=("dbeta",)),
        Prop(
            "dgamma sums dout * x_hat over (N, H, W)",
            0.75,
            _bn_backward_cases(True, batch=1),
            keys=("dgamma",),
        ),
        Prop(
            "training: dx through the batch mean and variance",
            1.25,
            _bn_backward_cases(True, batch=1),
            keys=("dx",),
        ),
        Prop(
            "training: dx for a batch of several images",
            0.5,
            _bn_backward_cases(True, batch=st.integers(2, 3)),
            keys=("dx",),
        ),
        Prop(
            "evaluation: dx = dout * gamma / sqrt(running_var + eps)",
            0.75,
            _bn_backward_cases(False),
            keys=("dx",),
        ),
        Prop(
            "evaluation: dgamma with x_hat from the running statistics",
            0.5,
            _bn_backward_cases(False),
            keys=("dgamma",),
        ),
        Prop(
            "eps (1e-5 unless given)",
            0.5,
            _bn_backward_cases(True, batch=1, eps=_EPSILONS),
            keys=("dx",),
        ),
        Prop("does not modify its inputs", 0.5, _bn_backward_cases(True), expect="unchanged"),
    ),
)

# --------------------------------------------------------------------- depthwise_separable_conv2d


def _separable_call(x: np.ndarray, wd: np.ndarray, wp: np.ndarray, conv: S.ConvCase, **biases: Any) -> Call:
    kwargs = {k: v for k, v in biases.items() if v is not None}
    return Call((x, wd, wp), {**kwargs, **conv.kwargs()})


def _from_case(case: S.SeparableCase) -> Call:
    d = case.depthwise
    return _separable_call(d.x, d.w, case.w_pointwise, d, b_depthwise=d.b, b_pointwise=case.b_pointwise)


#: One image, square, stride 1, no padding, no biases, at least two channels (unless overridden).
_SEPARABLE: dict[str, Any] = {
    "batch": 1,
    "channels": st.integers(2, 3),
    "kernel": st.integers(1, 3),
    "square": True,
    "bias": False,
    "pointwise_bias": False,
    "extra_size": st.integers(0, 3),
    "seeded": True,
}


def _separable_cases(**kw: Any) -> st.SearchStrategy[Call]:
    return S.separable_cases(**{**_SEPARABLE, **kw}).map(_from_case)


def _depthwise_only(case: S.SeparableCase) -> Call:
    """The pointwise step is the identity (C_out = C_in, w_pointwise = I): the output is the depthwise one."""
    d = case.depthwise
    eye = np.eye(d.x.shape[1])[:, :, None, None]  # (C, C, 1, 1)
    return _separable_call(d.x, d.w, eye, d)


def _pointwise_only(case: S.SeparableCase) -> Call:
    """The depthwise step is the identity (1x1 filters holding 1): the output is the pointwise one."""
    d = case.depthwise
    ones = np.ones((d.x.shape[1], 1, 1, 1))  # (C_in, 1, 1, 1)
    return _separable_call(d.x, ones, case.w_pointwise, d)


def _worked_separable() -> tuple[Call, ...]:
    x, wd, wp = _copy(SEP_X, SEP_W_DEPTHWISE, SEP_W_POINTWISE)
    plain = Call((x, wd, wp), {"stride": 1, "padding": 0})
    biases = {"b_depthwise": SEP_B_DEPTHWISE.copy(), "b_pointwise": SEP_B_POINTWISE.copy()}
    return plain, Call(_copy(x, wd, wp), {**biases, "stride": 1, "padding": 0})


def _not_square(call: Call) -> bool:
    return any(a.shape[-1] != a.shape[-2] for a in call.args[:2])


DEPTHWISE_SEPARABLE_CONV2D = Item(
    "depthwise_separable_conv2d",
    points=6,
    reference=separable.depthwise_separable_conv2d,
    params=("x", "w_depthwise", "w_pointwise"),
    properties=(
        Prop("matches the notebook's worked example", 0.75, examples=_worked_separable()),
        Prop(
            "depthwise step: channel c filtered by w_depthwise[c] alone",
            1,
            S.separable_cases(**_SEPARABLE).map(_depthwise_only),
        ),
        Prop(
            "pointwise step: a 1x1 convolution mixing the channels",
            0.75,
            S.separable_cases(**{**_SEPARABLE, "kernel": 1}).map(_pointwise_only),
        ),
        Prop("depthwise, then pointwise", 0.75, _separable_cases()),
        Prop(
            "biases: b_depthwise before the pointwise step, b_pointwise after it",
            0.75,
            _separable_cases(bias=True, pointwise_bias=True),
        ),
        Prop("zero padding", 0.5, _separable_cases(padding=st.integers(1, 2))),
        Prop("stride > 1", 0.5, _separable_cases(stride=st.integers(2, 3))),
        Prop(
            "non-square images and kernels",
            0.5,
            _separable_cases(square=False).filter(_not_square),
        ),
        Prop("a batch of several images", 0.5, _separable_cases(batch=st.integers(2, 3))),
    ),
)

# --------------------------------------------------------------------- depthwise_separable_params


_PARAM_ARGS = st.tuples(CHANNELS, CHANNELS, st.integers(1, 7))

DEPTHWISE_SEPARABLE_PARAMS = Item(
    "depthwise_separable_params",
    points=3,
    reference=arithmetic.depthwise_separable_params,
    params=("in_channels", "out_channels", "kernel_size"),
    properties=(
        Prop(
            "matches the lecture's worked example",
            0.5,
            examples=(Call((32, 64, 3)), Call((32, 64, 3), {"bias": False})),
        ),
        Prop("bias=False: K^2 C_in + C_in C_out", 1, _PARAM_ARGS.map(lambda a: Call(a, {"bias": False}))),
        Prop("counts both biases, C_in + C_out", 0.75, _PARAM_ARGS.map(lambda a: Call(a))),
        Prop(
            "rejects a channel count or kernel size below 1",
            0.5,
            st.tuples(
                st.integers(-2, 0), st.integers(1, 8), st.integers(1, 5), st.sampled_from([0, 1, 2])
            ).map(one_below_one),
            expect="raises",
        ),
        Prop(
            "returns an int",
            0.25,
            st.tuples(_PARAM_ARGS, st.booleans()).map(lambda a: Call(a[0], {"bias": a[1]})),
            side=True,
            judge=returns_int,
        ),
    ),
)

# ---------------------------------------------------------------------------- global_avgpool_head


def _head_call(case: S.HeadCase) -> Call:
    return Call((case.x, case.w, case.b))


def _pooling_only(case: S.HeadCase) -> Call:
    """w = I, b = 0: the logits are the channel means."""
    c = case.x.shape[1]
    return Call((case.x, np.eye(c), np.zeros(c)))


GLOBAL_AVGPOOL_HEAD = Item(
    "global_avgpool_head",
    points=3,
    reference=layers.global_avgpool_head,
    params=("x", "w", "b"),
    properties=(
        Prop(
            "matches the notebook's worked example",
            0.5,
            examples=(Call(_copy(HEAD_X, HEAD_W, HEAD_B)),),
        ),
        Prop(
            "averages each channel over H and W",
            1,
            S.head_cases(height=st.integers(2, 4), seeded=True).map(_pooling_only),
        ),
        Prop(
            "a linear layer on the averages: w (K, C), b (K,)",
            1,
            S.head_cases(height=1, seeded=True).map(_head_call),
        ),
        Prop(
            "any image size H x W",
            0.5,
            S.head_cases(batch=st.integers(1, 3), width=S.SIDE_1_4, seeded=True)
            .filter(lambda c: c.x.shape[2] != c.x.shape[3])
            .map(_head_call),
        ),
    ),
)

#: The graded items, in notebook order.
GRADED: tuple[Item, ...] = (
    BATCHNORM2D,
    BATCHNORM2D_BACKWARD,
    DEPTHWISE_SEPARABLE_CONV2D,
    DEPTHWISE_SEPARABLE_PARAMS,
    GLOBAL_AVGPOOL_HEAD,
)

R = Requirement

#: Property names used by several rows.
_WORKED = "matches the notebook's worked example"
_BN_NORMALISES = "training: each channel normalised with its own batch mean and biased variance"
_BN_BATCH = "training: statistics over the whole batch (N, H, W)"
_BN_AFFINE = "training: gamma scales and beta shifts each channel"
_BN_MEAN = "training: running mean = (1 - momentum) * running mean + momentum * batch mean"
_BN_VAR = "training: running variance takes the unbiased batch variance"
_BN_EVAL = "evaluation: normalises with the running statistics"
_BN_KEEPS = "evaluation: returns the running statistics unchanged"
_EPS = "eps (1e-5 unless given)"
_UNCHANGED = "does not modify its inputs"
#: The training-mode properties that compare ``out``.
_BN_TRAIN_OUT = (_BN_NORMALISES, _BN_BATCH, _BN_AFFINE, _EPS)
_DBETA = "dbeta sums dout over (N, H, W)"
_DGAMMA = "dgamma sums dout * x_hat over (N, H, W)"
_DX = "training: dx through the batch mean and variance"
_DX_BATCH = "training: dx for a batch of several images"
_EVAL_DX = "evaluation: dx = dout * gamma / sqrt(running_var + eps)"
_EVAL_DGAMMA = "evaluation: dgamma with x_hat from the running statistics"
_DEPTHWISE = "depthwise step: channel c filtered by w_depthwise[c] alone"
_POINTWISE = "pointwise step: a 1x1 convolution mixing the channels"
_BOTH = "depthwise, then pointwise"
_BIASES = "biases: b_depthwise before the pointwise step, b_pointwise after it"
_SEPARABLE_PROPS = tuple(p.name for p in DEPTHWISE_SEPARABLE_CONV2D.properties)
_LECTURE = "matches the lecture's worked example"
_WEIGHTS = "bias=False: K^2 C_in + C_in C_out"
_BOTH_BIASES = "counts both biases, C_in + C_out"
_REJECTS = "rejects a channel count or kernel size below 1"
_PARAMS_PROPS = tuple(p.name for p in DEPTHWISE_SEPARABLE_PARAMS.properties)
_POOLS = "averages each channel over H and W"
_LINEAR = "a linear layer on the averages: w (K, C), b (K,)"
_ANY_SIZE = "any image size H x W"


def _others(names: tuple[str, ...], *left_out: str) -> tuple[str, ...]:
    return tuple(n for n in names if n not in left_out)


#: The requirements audit: each sentence of the released notebook that states behaviour.
AUDIT: tuple[Requirement, ...] = (
    # ---- batchnorm2d
    R(
        "batchnorm2d",
        r"$(-1.5, -1.5 \mid -0.5, -0.5)$ in channel 1",
        _WORKED,
        "wrong only on the worked example",
    ),
    R(
        "batchnorm2d",
        r"$(1, 3 \mid 3, 1)$ and $(-1, -1 \mid 1, 1)$, whatever else is in the batch",
        _WORKED,
        "wrong only on the worked example",
    ),
    R(
        "batchnorm2d",
        "standardises each channel of a layer's output over the current mini-batch",
        _BN_NORMALISES,
        "one mean and variance for all channels",
        also=(_WORKED, *_others(_BN_TRAIN_OUT, _BN_NORMALISES), _BN_MEAN, _BN_VAR),
        note="the running statistics are then one number repeated, too",
    ),
    R(
        "batchnorm2d",
        "Batch normalisation of each channel of x (N, C, H, W) -> (out, new_running_mean, new_running_var).",
        _BN_NORMALISES,
        "one mean and variance for all channels",
        also=(_WORKED, *_others(_BN_TRAIN_OUT, _BN_NORMALISES), _BN_MEAN, _BN_VAR),
    ),
    R(
        "batchnorm2d",
        "Their mean and their *biased* variance (divided by $M$) are",
        _BN_NORMALISES,
        "normalises with the unbiased variance",
        also=(_WORKED, *_others(_BN_TRAIN_OUT, _BN_NORMALISES)),
        note="every training-mode property compares out",
    ),
    R(
        "batchnorm2d",
        r"\hat x_{n,c,i,j} = \frac{x_{n,c,i,j} - \mu_c}{\sqrt{\sigma_c^2 + \varepsilon}}",
        _BN_NORMALISES,
        "x_hat not divided by the standard deviation",
        also=(_WORKED, *_others(_BN_TRAIN_OUT, _BN_NORMALISES), _BN_EVAL),
        note="evaluation mode divides by the running standard deviation, so it fails there too",
    ),
    R(
        "batchnorm2d",
        "**Training mode** normalises each channel with the mean and biased variance of the batch",
        _BN_NORMALISES,
        "normalises with the running statistics in training mode",
        also=(_WORKED, *_others(_BN_TRAIN_OUT, _BN_NORMALISES)),
    ),
    R(
        "batchnorm2d",
        "over the images and both spatial axes $(N, H, W)$",
        _BN_BATCH,
        "statistics of each image alone (over H, W)",
        also=(_WORKED,),
    ),
    R(
        "batchnorm2d",
        "training=True: mean and var are the batch's (over N, H, W; var biased)",
        _BN_BATCH,
        "statistics of each image alone (over H, W)",
        also=(_WORKED,),
    ),
    R(
        "batchnorm2d",
        "`out` has the shape of `x`",
        _BN_BATCH,
        "out of the first image only",
        also=(_WORKED, _BN_EVAL),
    ),
    R(
        "batchnorm2d",
        r"y_{n,c,i,j} = \gamma_c\, \hat x_{n,c,i,j} + \beta_c",
        _BN_AFFINE,
        "gamma and beta ignored",
        also=(_WORKED, _BN_EVAL),
        note="both modes scale and shift",
    ),
    R(
        "batchnorm2d",
        "out = gamma * (x - mean) / sqrt(var + eps) + beta, per channel.",
        _BN_AFFINE,
        "gamma and beta ignored",
        also=(_WORKED, _BN_EVAL),
    ),
    R(
        "batchnorm2d",
        r"\bar\mu_c \leftarrow (1 - m)\,\bar\mu_c + m\,\mu_c",
        _BN_MEAN,
        "momentum weights the old value (Keras)",
        also=(_WORKED, _BN_VAR),
        note="the same momentum moves the running variance",
    ),
    R(
        "batchnorm2d",
        "moving averages with momentum $m$ as PyTorch defines it (the weight of the *new* value)",
        _BN_MEAN,
        "momentum weights the old value (Keras)",
        also=(_WORKED, _BN_VAR),
    ),
    R(
        "batchnorm2d",
        "training, momentum=0.1,",
        _BN_MEAN,
        "momentum ignored (always 0.1)",
        also=(_BN_VAR,),
        note="the running-statistics properties draw momenta other than 0.1 (and 0.1, left out)",
    ),
    R(
        "batchnorm2d",
        "`gamma`, `beta` and the running statistics have shape `(C,)`",
        _BN_MEAN,
        "running statistics of shape (1, C, 1, 1)",
        also=(_WORKED, _BN_VAR, _BN_KEEPS),
    ),
    R(
        "batchnorm2d",
        "The running variance takes the *unbiased* batch variance (divided by $M - 1$), as PyTorch does.",
        _BN_VAR,
        "biased variance in the running variance",
        also=(_WORKED,),
    ),
    R(
        "batchnorm2d",
        r"\bar\sigma_c^2 \leftarrow (1 - m)\,\bar\sigma_c^2 + m\,\frac{M}{M - 1}\,\sigma_c^2",
        _BN_VAR,
        "biased variance in the running variance",
        also=(_WORKED,),
    ),
    R(
        "batchnorm2d",
        "(1 - momentum) * running + momentum * batch, with the unbiased batch variance for running_var.",
        _BN_VAR,
        "biased variance in the running variance",
        also=(_WORKED,),
    ),
    R(
        "batchnorm2d",
        "**Evaluation mode** normalises with the running statistics instead",
        _BN_EVAL,
        "evaluation normalises with the batch statistics",
        also=(_WORKED,),
    ),
    R(
        "batchnorm2d",
        "training=False: mean and var are running_mean and running_var",
        _BN_EVAL,
        "evaluation normalises with the batch statistics",
        also=(_WORKED,),
    ),
    R(
        "batchnorm2d",
        "and leaves them unchanged.",
        _BN_KEEPS,
        "updates the running statistics in evaluation mode too",
        also=(_WORKED,),
    ),
    R(
        "batchnorm2d",
        "training=False: mean and var are running_mean and running_var, returned unchanged.",
        _BN_KEEPS,
        "updates the running statistics in evaluation mode too",
        also=(_WORKED,),
    ),
    R("batchnorm2d", "momentum=0.1, eps=1e-5)", _EPS, "eps ignored (always 1e-5)"),
    R(
        "batchnorm2d",
        "none of the functions of this notebook may change its arguments",
        _UNCHANGED,
        "updates running_mean and running_var in place",
    ),
    # ---- batchnorm2d_backward
    R(
        "batchnorm2d_backward",
        r"$\tfrac{0.5}{4 \cdot 2}(4\,\delta - 1 - \hat x) = (0, 0 \mid 0.125, -0.125)$ in channel 1",
        _WORKED,
        "wrong only on the worked example",
    ),
    R(
        "batchnorm2d_backward",
        r"\frac{\partial L}{\partial \beta_c} = \sum_{n,i,j} \frac{\partial L}{\partial y_{n,c,i,j}}, \qquad",
        _DBETA,
        "dbeta is a mean",
        also=(_WORKED,),
    ),
    R(
        "batchnorm2d_backward",
        "dbeta = sum of dout over (N, H, W);",
        _DBETA,
        "dbeta is a mean",
        also=(_WORKED,),
    ),
    R(
        "batchnorm2d_backward",
        "`(dx, dgamma, dbeta)` with the shapes of `x`, `(C,)` and `(C,)`",
        _DBETA,
        "dbeta of shape (1, C, 1, 1)",
        also=(_WORKED,),
    ),
    R(
        "batchnorm2d_backward",
        r"\frac{\partial L}{\partial \gamma_c} = \sum_{n,i,j} \frac{\partial L}{\partial y_{n,c,i,j}}\, "
        r"\hat x_{n,c,i,j} .",
        _DGAMMA,
        "dgamma sums dout only (no x_hat)",
        also=(_WORKED, _EVAL_DGAMMA),
        note="both modes compute dgamma so",
    ),
    R(
        "batchnorm2d_backward",
        "dgamma = sum of dout * x_hat.",
        _DGAMMA,
        "dgamma sums dout only (no x_hat)",
        also=(_WORKED, _EVAL_DGAMMA),
    ),
    R(
        "batchnorm2d_backward",
        r"- \hat x_{n,c,i,j}\,\frac{\partial L}{\partial \gamma_c} \right) .",
        _DX,
        "mean and variance treated as constants",
        also=(_WORKED, _DX_BATCH, _EPS),
        note="every training-mode dx property",
    ),
    R(
        "batchnorm2d_backward",
        "The two subtracted terms are the paths through the mean and the variance.",
        _DX,
        "mean and variance treated as constants",
        also=(_WORKED, _DX_BATCH, _EPS),
    ),
    R(
        "batchnorm2d_backward",
        "With them the gradient of each channel sums to zero: shifting a whole channel does not change "
        r"$\hat x$.",
        _DX,
        "mean and variance treated as constants",
        also=(_WORKED, _DX_BATCH, _EPS),
    ),
    R(
        "batchnorm2d_backward",
        "dx = gamma / (M sqrt(var + eps)) * (M dout - dbeta - x_hat dgamma), M = N H W, with the batch's "
        "mean and var.",
        _DX,
        "mean and variance treated as constants",
        also=(_WORKED, _DX_BATCH, _EPS),
    ),
    R(
        "batchnorm2d_backward",
        "In training mode the function recomputes the batch statistics from `x` and does not use "
        "`running_mean` and `running_var`.",
        _DX,
        "training mode normalises with the running statistics",
        also=(_WORKED, _DGAMMA, _DX_BATCH, _EPS),
    ),
    R(
        "batchnorm2d_backward",
        r"Every $\hat x_{n,c,i,j}$ depends on *every* value of channel $c$ in the batch",
        _DX_BATCH,
        "statistics of each image alone (over H, W)",
        also=(_WORKED,),
    ),
    R(
        "batchnorm2d_backward",
        r"\frac{\gamma_c}{\sqrt{\bar\sigma_c^2 + \varepsilon}},",
        _EVAL_DX,
        "evaluation dx keeps the mean and variance terms",
        also=(_WORKED,),
    ),
    R(
        "batchnorm2d_backward",
        "The running statistics are constants, so the layer is a fixed affine map per channel",
        _EVAL_DX,
        "evaluation dx keeps the mean and variance terms",
        also=(_WORKED,),
    ),
    R(
        "batchnorm2d_backward",
        "training=False: dx = dout * gamma / sqrt(running_var + eps).",
        _EVAL_DX,
        "evaluation dx keeps the mean and variance terms",
        also=(_WORKED,),
    ),
    R(
        "batchnorm2d_backward",
        r"and $\partial L/\partial\gamma_c$ uses the $\hat x$ of evaluation mode, computed with the running "
        "statistics.",
        _EVAL_DGAMMA,
        "evaluation dgamma with the batch's x_hat",
        also=(_WORKED,),
    ),
    R("batchnorm2d_backward", "training, eps=1e-5)` returning", _EPS, "eps ignored (always 1e-5)"),
    R(
        "batchnorm2d_backward",
        "none of the functions of this notebook may change its arguments",
        _UNCHANGED,
        "centres x in place",
    ),
    # ---- depthwise_separable_conv2d
    R(
        "depthwise_separable_conv2d",
        r"$y_0 + 6 + 1$, $y_0 - 6 + 2$ and $0.5\,y_0 + 3$",
        _WORKED,
        "wrong only on the worked example",
    ),
    R(
        "depthwise_separable_conv2d",
        r"each input channel $c$ is filtered by its own $K_H \times K_W$ filter `w_depthwise[c, 0]`, and "
        "channels are never mixed",
        _DEPTHWISE,
        "depthwise weights applied across channels",
        also=_others(_SEPARABLE_PROPS, _DEPTHWISE),
        note="the rule itself: every property with two channels or more applies it",
    ),
    R(
        "depthwise_separable_conv2d",
        "keep the channels apart in the depthwise step",
        _DEPTHWISE,
        "every channel filtered by the first filter",
        also=_others(_SEPARABLE_PROPS, _DEPTHWISE, _POINTWISE),
        note="the pointwise property's depthwise filters are all the same (1x1, holding 1)",
    ),
    R(
        "depthwise_separable_conv2d",
        "Depthwise convolution (channel c with its own filter w_depthwise[c, 0],",
        _DEPTHWISE,
        "every channel filtered by the first filter",
        also=_others(_SEPARABLE_PROPS, _DEPTHWISE, _POINTWISE),
    ),
    R(
        "depthwise_separable_conv2d",
        '"convolution" is cross-correlation (no kernel flip)',
        _DEPTHWISE,
        "flips the depthwise kernel",
        also=_others(_SEPARABLE_PROPS, _DEPTHWISE, _POINTWISE),
        note="a 1x1 kernel is its own flip",
    ),
    R(
        "depthwise_separable_conv2d",
        r"a $1 \times 1$ convolution mixes the channels at every pixel, $C_{in} \to C_{out}$",
        _POINTWISE,
        "pointwise weights indexed [c, o]",
        also=_others(_SEPARABLE_PROPS, _POINTWISE, _DEPTHWISE),
        note="the depthwise property's pointwise weights are the identity, which is its own transpose",
    ),
    R(
        "depthwise_separable_conv2d",
        "does the two jobs one after the other",
        _BOTH,
        "pointwise step first",
        also=_others(_SEPARABLE_PROPS, _BOTH, _DEPTHWISE),
        note="with C_out != C_in the swapped order cannot even run",
    ),
    R(
        "depthwise_separable_conv2d",
        "a bias that is None is left out",
        _BOTH,
        "fails on a bias that is None",
        also=_others(_SEPARABLE_PROPS, _BOTH, _BIASES),
        note="every other property leaves both biases out",
    ),
    R(
        "depthwise_separable_conv2d",
        "the depthwise bias travels through the mixing",
        _BIASES,
        "b_depthwise added after the pointwise step",
        also=(_WORKED,),
    ),
    R(
        "depthwise_separable_conv2d",
        "+ b_depthwise[c]) then a pointwise 1x1 convolution mixing the channels (+ b_pointwise[o]).",
        _BIASES,
        "b_depthwise added after the pointwise step",
        also=(_WORKED,),
    ),
    R(
        "depthwise_separable_conv2d",
        "the zero padding $P$ (on each side)",
        "zero padding",
        "padding only at the bottom and right",
    ),
    R(
        "depthwise_separable_conv2d",
        "The stride $S$ and the zero padding $P$ (on each side) belong to the depthwise step",
        "stride > 1",
        "stride ignored",
    ),
    R(
        "depthwise_separable_conv2d",
        "the pointwise step has stride 1 and no padding",
        "stride > 1",
        "stride applied again in the pointwise step",
    ),
    R(
        "depthwise_separable_conv2d",
        "so the output is $(N, C_{out}, H_{out}, W_{out})$ with the sizes of Assignment 1",
        "non-square images and kernels",
        "height and width swapped",
    ),
    R(
        "depthwise_separable_conv2d",
        "x (N, C_in, H, W), w_depthwise (C_in, 1, KH, KW), w_pointwise (C_out, C_in, 1, 1) "
        "-> (N, C_out, H_out, W_out).",
        "a batch of several images",
        "first image only",
    ),
    # ---- depthwise_separable_params
    R(
        "depthwise_separable_params",
        r"$9 \cdot 32 + 32 \cdot 64 = 288 + 2{,}048 = 2{,}336$ weights instead of",
        _LECTURE,
        "wrong only for the lecture's layer",
    ),
    R(
        "depthwise_separable_params",
        r"\#\text{params}_{\text{separable}} = K^2\, C_{in} + C_{in}\, C_{out}",
        _WEIGHTS,
        "standard convolution's count",
        also=_others(_PARAMS_PROPS, _WEIGHTS),
        note="no main property passes, so the side conditions earn nothing either",
    ),
    R(
        "depthwise_separable_params",
        "K^2 * C_in + C_in * C_out (+ C_in + C_out biases).",
        _BOTH_BIASES,
        "counts only the pointwise bias",
        also=(_LECTURE,),
    ),
    R(
        "depthwise_separable_params",
        "`bias=False` counts the weights only",
        _WEIGHTS,
        "bias=False ignored",
        also=(_LECTURE,),
    ),
    R(
        "depthwise_separable_params",
        "Each of the two convolutions has its own bias, as two `nn.Conv2d` layers have by default.",
        _BOTH_BIASES,
        "counts only the pointwise bias",
        also=(_LECTURE,),
    ),
    R(
        "depthwise_separable_params",
        "(square kernels;",
        _WEIGHTS,
        "K instead of K^2",
        also=_others(_PARAMS_PROPS, _WEIGHTS),
    ),
    R("depthwise_separable_params", "and return an `int`", "returns an int", "returns a float"),
    R(
        "depthwise_separable_params",
        "A layer needs at least one input channel, one output channel and a kernel of size 1: raise a "
        "`ValueError` otherwise.",
        _REJECTS,
        "kernel size not validated",
    ),
    R(
        "depthwise_separable_params",
        "Raises ValueError when a channel count or the kernel size is below 1.",
        _REJECTS,
        "kernel size not validated",
    ),
    # ---- global_avgpool_head
    R("global_avgpool_head", "the logits are $(2.5, 1, 2)$", _WORKED, "wrong only on the worked example"),
    R(
        "global_avgpool_head",
        r"g_{n,c} = \frac{1}{HW} \sum_{i,j} x_{n,c,i,j}",
        _POOLS,
        "sums instead of averaging",
        also=(_WORKED, _ANY_SIZE),
    ),
    R(
        "global_avgpool_head",
        "each of the $C$ final feature maps is averaged to one number",
        _POOLS,
        "max instead of the mean",
        also=(_WORKED, _ANY_SIZE),
    ),
    R(
        "global_avgpool_head",
        "the mean of each channel of x (N, C, H, W) over H and W",
        _POOLS,
        "sums instead of averaging",
        also=(_WORKED, _ANY_SIZE),
    ),
    R(
        "global_avgpool_head",
        r"z_{n,k} = b_k + \sum_c w_{k,c}\, g_{n,c}",
        _LINEAR,
        "bias ignored",
        also=(_WORKED, _ANY_SIZE),
    ),
    R("global_avgpool_head", "`w` (K, C)", _LINEAR, "w not transposed", also=(_WORKED, _ANY_SIZE)),
    R(
        "global_avgpool_head",
        "logits = means @ w.T + b, with w (K, C) and b (K,) -> (N, K).",
        _LINEAR,
        "w not transposed",
        also=(_WORKED, _ANY_SIZE),
    ),
    R(
        "global_avgpool_head",
        "it accepts images of any size",
        _ANY_SIZE,
        "divides by H*H (square maps assumed)",
    ),
)
