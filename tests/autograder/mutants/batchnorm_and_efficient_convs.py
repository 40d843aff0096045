"""batchnorm_and_efficient_convs: batchnorm2d, batchnorm2d_backward, depthwise_separable_conv2d,
depthwise_separable_params, global_avgpool_head as students write them."""

from __future__ import annotations

import numpy as np

from tests.autograder.mutants import Correct, mutant

WORKED = "matches the notebook's worked example"
LECTURE = "matches the lecture's worked example"

# The notebook's worked examples (as a student's special case would recognise them).
BN_X = np.array([[[[1.0, 3.0]], [[2.0, 2.0]]], [[[3.0, 1.0]], [[6.0, 6.0]]]])
SEP_X = np.stack([np.arange(9.0).reshape(3, 3)] * 2)[None]
HEAD_X = np.array([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 0.0], [0.0, 4.0]]]])


def is_example(a: object, example: np.ndarray) -> bool:
    a = np.asarray(a)
    return a.shape == example.shape and np.array_equal(a, example)


def _c(v: np.ndarray) -> np.ndarray:
    """A (C,) vector as (1, C, 1, 1), to broadcast over NCHW."""
    return np.asarray(v, dtype=np.float64)[None, :, None, None]


# ------------------------------------------------------------------------------------ batchnorm2d

BN_TRAIN_OUT = (
    "training: each channel normalised with its own batch mean and biased variance",
    "training: statistics over the whole batch (N, H, W)",
    "training: gamma scales and beta shifts each channel",
    "eps (1e-5 unless given)",
)


def _batchnorm2d(
    axes: str = "channel",
    train_stats: str = "batch",
    norm_var: str = "biased",
    divide: bool = True,
    running_var: str = "unbiased",
    momentum_style: str = "torch",
    use_momentum: bool = True,
    keepdims_stats: bool = False,
    first_image_out: bool = False,
    affine: bool = True,
    eval_stats: str = "running",
    eval_update: bool = False,
    use_eps: bool = True,
    in_place: bool = False,
    loops: bool = False,
    wrong_on_example: bool = False,
):
    def batchnorm2d(x, gamma, beta, running_mean, running_var_, training, momentum=0.1, eps=1e-5):
        e = eps if use_eps else 1e-5
        mom = momentum if use_momentum else 0.1
        n, c, h, w = x.shape
        m = n * h * w
        if loops:  # one channel at a time, with Python sums
            batch_mean = np.array([sum(x[:, k].ravel()) / m for k in range(c)])
            batch_var = np.array([sum((x[:, k].ravel() - batch_mean[k]) ** 2) / m for k in range(c)])
        else:
            batch_mean, batch_var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
        if axes == "all":  # one mean and variance for the whole tensor
            batch_mean, batch_var = np.full(c, x.mean()), np.full(c, x.var())
        update = training or eval_update
        if update:
            unbiased = batch_var * m / (m - 1) if running_var == "unbiased" else batch_var
            keep = mom if momentum_style == "torch" else 1 - mom
            if in_place:
                running_mean *= 1 - mom
                running_mean += mom * batch_mean
                running_var_ *= 1 - mom
                running_var_ += mom * unbiased
                new_mean, new_var = running_mean, running_var_
            else:
                new_mean = (1 - keep) * running_mean + keep * batch_mean
                new_var = (1 - keep) * running_var_ + keep * unbiased
        else:
            new_mean, new_var = running_mean.copy(), running_var_.copy()
        if training and train_stats == "batch":
            if axes == "image":  # each image's own statistics
                mean, var = x.mean(axis=(2, 3), keepdims=True), x.var(axis=(2, 3), keepdims=True)
            else:
                mean = _c(batch_mean)
                var = _c(batch_var * m / (m - 1) if norm_var == "unbiased" else batch_var)
        elif not training and eval_stats == "batch":
            mean, var = _c(batch_mean), _c(batch_var)
        else:
            mean, var = _c(running_mean), _c(running_var_)
        x_hat = (x - mean) / np.sqrt(var + e) if divide else x - mean
        out = _c(gamma) * x_hat + _c(beta) if affine else x_hat
        if wrong_on_example and is_example(x, BN_X):
            out = out + 1
        if keepdims_stats:
            new_mean, new_var = _c(new_mean), _c(new_var)
        if first_image_out:
            out = out[:1]
        return out, new_mean, new_var

    return batchnorm2d


def batchnorm2d_as_lists(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    out, mean, var = _batchnorm2d()(x, gamma, beta, running_mean, running_var, training, momentum, eps)
    return [out.tolist(), mean.tolist(), var.tolist()]


# --------------------------------------------------------------------------- batchnorm2d_backward


def _batchnorm2d_backward(
    style: str = "compact",
    dx_mode: str = "full",
    axes: str = "channel",
    train_stats: str = "batch",
    dbeta_reduce: str = "sum",
    dbeta_keepdims: bool = False,
    dgamma_mode: str = "x_hat",
    eval_dx: str = "affine",
    eval_dgamma: str = "running",
    use_eps: bool = True,
    centre_in_place: bool = False,
    wrong_on_example: bool = False,
):
    def batchnorm2d_backward(dout, x, gamma, running_mean, running_var, training, eps=1e-5):
        e = eps if use_eps else 1e-5
        example = is_example(x, BN_X)
        n, _, h, w = x.shape
        m = n * h * w
        if axes == "image":
            m = h * w
            batch_mean, batch_var = x.mean(axis=(2, 3), keepdims=True), x.var(axis=(2, 3), keepdims=True)
        else:
            batch_mean, batch_var = _c(x.mean(axis=(0, 2, 3))), _c(x.var(axis=(0, 2, 3)))
        if (training and train_stats == "batch") or (not training and eval_dgamma == "batch"):
            mean, var = batch_mean, batch_var
        else:
            mean, var = _c(running_mean), _c(running_var)
        if centre_in_place:
            x -= mean  # the caller's x is now centred
            centred = x
        else:
            centred = x - mean
        x_hat = centred / np.sqrt(var + e)
        dbeta = dout.sum(axis=(0, 2, 3)) if dbeta_reduce == "sum" else dout.mean(axis=(0, 2, 3))
        forgets_x_hat = dgamma_mode == "dout"
        dgamma = dout.sum(axis=(0, 2, 3)) if forgets_x_hat else (dout * x_hat).sum(axis=(0, 2, 3))
        g = _c(gamma)
        if not training and eval_dx == "affine":
            dx = dout * g / np.sqrt(_c(running_var) + e)
        elif not training:  # the training formula with the running statistics
            x_hat_r = (x - _c(running_mean)) / np.sqrt(_c(running_var) + e)
            db, dg = _c(dout.sum(axis=(0, 2, 3))), _c((dout * x_hat_r).sum(axis=(0, 2, 3)))
            dx = g / (m * np.sqrt(_c(running_var) + e)) * (m * dout - db - x_hat_r * dg)
        elif dx_mode == "constants":  # mean and variance treated as constants
            dx = dout * g / np.sqrt(var + e)
        elif style == "chain":  # Ioffe & Szegedy's Algorithm 1, step by step
            axis = (2, 3) if axes == "image" else (0, 2, 3)
            dx_hat = dout * g
            dvar = np.sum(dx_hat * centred, axis=axis, keepdims=True) * -0.5 * (var + e) ** -1.5
            dmean = -np.sum(dx_hat, axis=axis, keepdims=True) / np.sqrt(var + e)
            dmean = dmean + dvar * np.mean(-2.0 * centred, axis=axis, keepdims=True)
            dx = dx_hat / np.sqrt(var + e) + dvar * 2.0 * centred / m + dmean / m
        else:
            axis = (2, 3) if axes == "image" else (0, 2, 3)
            db = dout.sum(axis=axis, keepdims=True)
            dg = (dout * x_hat).sum(axis=axis, keepdims=True)
            dx = g / (m * np.sqrt(var + e)) * (m * dout - db - x_hat * dg)
        if wrong_on_example and example:
            dx = dx + 1
        if dbeta_keepdims:
            dbeta = _c(dbeta)
        return dx, dgamma, dbeta

    return batchnorm2d_backward


# --------------------------------------------------------------------- depthwise_separable_conv2d


def _depthwise_separable_conv2d(
    depthwise: str = "own",
    flip: bool = False,
    order: str = "depthwise_first",
    pointwise: str = "w",
    bias_depthwise: str = "before",
    none_bias_ok: bool = True,
    padding_mode: str = "both",
    use_stride: bool = True,
    stride_pointwise: bool = False,
    swap: bool = False,
    first_image: bool = False,
    style: str = "offsets",
    wrong_on_example: bool = False,
):
    def depthwise_step(x, wd, stride, padding):
        s = stride if use_stride else 1
        p = padding
        if padding_mode == "both":
            xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        else:  # only at the bottom and on the right, twice as much
            xp = np.pad(x, ((0, 0), (0, 0), (0, 2 * p), (0, 2 * p)))
        n, c, hp, wp = xp.shape
        kh, kw = wd.shape[2:]
        ho, wo = (hp - kh) // s + 1, (wp - kw) // s + 1
        if swap:
            ho, wo = wo, ho
        kernel = wd[:, 0, ::-1, ::-1] if flip else wd[:, 0]  # (C, KH, KW)
        if depthwise == "first_filter":
            kernel = np.broadcast_to(kernel[:1], kernel.shape)
        y = np.zeros((n, c, ho, wo))
        if style == "pixels":  # a loop over output pixels, einsum per window
            for i in range(ho):
                for j in range(wo):
                    window = xp[:, :, i * s : i * s + kh, j * s : j * s + kw]  # (N, C, KH, KW)
                    if depthwise == "across":
                        y[:, :, i, j] = np.einsum("nduv,cuv->nc", window, kernel)
                    else:
                        y[:, :, i, j] = np.einsum("ncuv,cuv->nc", window, kernel)
            return y
        for u in range(kh):
            for v in range(kw):
                window = xp[:, :, u : u + s * (ho - 1) + 1 : s, v : v + s * (wo - 1) + 1 : s]
                if depthwise == "across":  # every filter sees the sum of all the channels
                    window = window.sum(axis=1, keepdims=True)
                y += window * kernel[None, :, u, v, None, None]
        return y

    def pointwise_step(y, wp):
        w2 = wp[:, :, 0, 0]
        if pointwise == "transposed":
            return np.einsum("co,nchw->nohw", w2, y)
        return np.einsum("oc,nchw->nohw", w2, y)

    def depthwise_separable_conv2d(
        x, w_depthwise, w_pointwise, b_depthwise=None, b_pointwise=None, stride=1, padding=0
    ):
        if first_image:
            x = x[:1]
        if not none_bias_ok:  # adds the biases whatever they are: None breaks it
            b_depthwise = np.asarray(b_depthwise, dtype=np.float64)
            b_pointwise = np.asarray(b_pointwise, dtype=np.float64)
            if b_depthwise.ndim == 0 or b_pointwise.ndim == 0:
                raise TypeError("unsupported operand type(s) for +: 'float' and 'NoneType'")
        if order == "pointwise_first":
            z = pointwise_step(x, w_pointwise)
            z = depthwise_step(z, w_depthwise, stride, padding)
        else:
            y = depthwise_step(x, w_depthwise, stride, padding)
            if b_depthwise is not None and bias_depthwise == "before":
                y = y + _c(b_depthwise)
            z = pointwise_step(y, w_pointwise)
        if b_depthwise is not None and bias_depthwise == "after":
            z = z + _c(b_depthwise)
        if b_pointwise is not None:
            z = z + _c(b_pointwise)
        if stride_pointwise:
            z = z[:, :, ::stride, ::stride]
        if wrong_on_example and is_example(x, SEP_X):
            z = 2 * z
        return z

    return depthwise_separable_conv2d


def separable_as_dense_conv(
    x, w_depthwise, w_pointwise, b_depthwise=None, b_pointwise=None, stride=1, padding=0
):
    """A standard convolution with the rank-one filters w_pointwise[o, c] * w_depthwise[c] (and the
    depthwise bias pushed through the pointwise weights), in float32."""
    dense = (w_pointwise[:, :, 0, 0, None, None] * w_depthwise[None, :, 0]).astype(np.float32)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding))).astype(np.float32)
    kh, kw = dense.shape[2:]
    ho, wo = (xp.shape[2] - kh) // stride + 1, (xp.shape[3] - kw) // stride + 1
    out = np.zeros((x.shape[0], dense.shape[0], ho, wo), dtype=np.float32)
    for i in range(ho):
        for j in range(wo):
            window = xp[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
            out[:, :, i, j] = np.tensordot(window, dense, axes=([1, 2, 3], [1, 2, 3]))
    bias = np.zeros(dense.shape[0])
    if b_depthwise is not None:
        bias = bias + w_pointwise[:, :, 0, 0] @ b_depthwise
    if b_pointwise is not None:
        bias = bias + b_pointwise
    return out + bias[None, :, None, None].astype(np.float32)


# --------------------------------------------------------------------- depthwise_separable_params


def _depthwise_separable_params(
    count: str = "separable",
    biases: str = "both",
    use_bias_flag: bool = True,
    validate: bool = True,
    as_float: bool = False,
    wrong_on_example: bool = False,
):
    def depthwise_separable_params(in_channels, out_channels, kernel_size, bias=True):
        if validate and min(in_channels, out_channels, kernel_size) < 1:
            raise ValueError("channels and kernel_size must be >= 1")
        k2 = kernel_size**2.0 if as_float else kernel_size * kernel_size
        if count == "standard":
            weights = k2 * in_channels * out_channels
        elif count == "k":
            weights = kernel_size * in_channels + in_channels * out_channels
        else:
            weights = k2 * in_channels + in_channels * out_channels
        with_bias = bias if use_bias_flag else True
        extra = {"both": in_channels + out_channels, "pointwise": out_channels}[biases] if with_bias else 0
        total = weights + extra
        if wrong_on_example and (in_channels, out_channels, kernel_size) == (32, 64, 3):
            total += 1
        return total

    return depthwise_separable_params


# ---------------------------------------------------------------------------- global_avgpool_head


def _global_avgpool_head(
    pool: str = "mean",
    transpose: bool = True,
    use_bias: bool = True,
    loops: bool = False,
    float32: bool = False,
    wrong_on_example: bool = False,
):
    def global_avgpool_head(x, w, b):
        n, c, h, wd = x.shape
        if pool == "sum":
            g = x.sum(axis=(2, 3))
        elif pool == "max":
            g = x.max(axis=(2, 3))
        elif pool == "square":  # divides by H * H: square maps assumed
            g = x.sum(axis=(2, 3)) / (h * h)
        elif loops:
            g = np.zeros((n, c))
            for i in range(n):
                for k in range(c):
                    g[i, k] = sum(x[i, k].ravel()) / (h * wd)
        else:
            g = x.reshape(n, c, h * wd).mean(axis=2)
        if float32:
            g, w, b = g.astype(np.float32), w.astype(np.float32), b.astype(np.float32)
        z = g @ w.T if transpose else g @ w
        if use_bias:
            z = z + b
        if wrong_on_example and is_example(x, HEAD_X):
            z = z + 1
        return z

    return global_avgpool_head


DEPTHWISE = "depthwise step: channel c filtered by w_depthwise[c] alone"
POINTWISE = "pointwise step: a 1x1 convolution mixing the channels"
BIASES = "biases: b_depthwise before the pointwise step, b_pointwise after it"
#: Every property of depthwise_separable_conv2d.
SEPARABLE = (
    WORKED,
    DEPTHWISE,
    POINTWISE,
    "depthwise, then pointwise",
    BIASES,
    "zero padding",
    "stride > 1",
    "non-square images and kernels",
    "a batch of several images",
)
#: Every property of depthwise_separable_params.
PARAMS = (
    LECTURE,
    "bias=False: K^2 C_in + C_in C_out",
    "counts both biases, C_in + C_out",
    "rejects a channel count or kernel size below 1",
    "returns an int",
)
LINEAR = "a linear layer on the averages: w (K, C), b (K,)"

MUTANTS = [
    # ---- batchnorm2d
    mutant("batchnorm2d", "wrong only on the worked example", _batchnorm2d(wrong_on_example=True), WORKED),
    mutant(
        "batchnorm2d",
        "normalises with the unbiased variance",
        _batchnorm2d(norm_var="unbiased"),
        WORKED,
        *BN_TRAIN_OUT,
    ),
    mutant(
        "batchnorm2d",
        "one mean and variance for all channels",
        _batchnorm2d(axes="all"),
        WORKED,
        *BN_TRAIN_OUT,
        "training: running mean = (1 - momentum) * running mean + momentum * batch mean",
        "training: running variance takes the unbiased batch variance",
    ),
    mutant(
        "batchnorm2d",
        "normalises with the running statistics in training mode",
        _batchnorm2d(train_stats="running"),
        WORKED,
        *BN_TRAIN_OUT,
    ),
    mutant(
        "batchnorm2d",
        "x_hat not divided by the standard deviation",
        _batchnorm2d(divide=False),
        WORKED,
        *BN_TRAIN_OUT,
        "evaluation: normalises with the running statistics",
    ),
    mutant(
        "batchnorm2d",
        "statistics of each image alone (over H, W)",
        _batchnorm2d(axes="image"),
        WORKED,
        "training: statistics over the whole batch (N, H, W)",
    ),
    mutant(
        "batchnorm2d",
        "out of the first image only",
        _batchnorm2d(first_image_out=True),
        WORKED,
        "training: statistics over the whole batch (N, H, W)",
        "evaluation: normalises with the running statistics",
    ),
    mutant(
        "batchnorm2d",
        "gamma and beta ignored",
        _batchnorm2d(affine=False),
        WORKED,
        "training: gamma scales and beta shifts each channel",
        "evaluation: normalises with the running statistics",
    ),
    mutant(
        "batchnorm2d",
        "momentum weights the old value (Keras)",
        _batchnorm2d(momentum_style="keras"),
        WORKED,
        "training: running mean = (1 - momentum) * running mean + momentum * batch mean",
        "training: running variance takes the unbiased batch variance",
    ),
    mutant(
        "batchnorm2d",
        "momentum ignored (always 0.1)",
        _batchnorm2d(use_momentum=False),
        "training: running mean = (1 - momentum) * running mean + momentum * batch mean",
        "training: running variance takes the unbiased batch variance",
    ),
    mutant(
        "batchnorm2d",
        "running statistics of shape (1, C, 1, 1)",
        _batchnorm2d(keepdims_stats=True),
        WORKED,
        "training: running mean = (1 - momentum) * running mean + momentum * batch mean",
        "training: running variance takes the unbiased batch variance",
        "evaluation: returns the running statistics unchanged",
    ),
    mutant(
        "batchnorm2d",
        "biased variance in the running variance",
        _batchnorm2d(running_var="biased"),
        WORKED,
        "training: running variance takes the unbiased batch variance",
    ),
    mutant(
        "batchnorm2d",
        "evaluation normalises with the batch statistics",
        _batchnorm2d(eval_stats="batch"),
        WORKED,
        "evaluation: normalises with the running statistics",
    ),
    mutant(
        "batchnorm2d",
        "updates the running statistics in evaluation mode too",
        _batchnorm2d(eval_update=True),
        WORKED,
        "evaluation: returns the running statistics unchanged",
    ),
    mutant(
        "batchnorm2d", "eps ignored (always 1e-5)", _batchnorm2d(use_eps=False), "eps (1e-5 unless given)"
    ),
    mutant(
        "batchnorm2d",
        "updates running_mean and running_var in place",
        _batchnorm2d(in_place=True),
        "does not modify its inputs",
    ),
    # ---- batchnorm2d_backward
    mutant(
        "batchnorm2d_backward",
        "wrong only on the worked example",
        _batchnorm2d_backward(wrong_on_example=True),
        WORKED,
    ),
    mutant(
        "batchnorm2d_backward",
        "dbeta is a mean",
        _batchnorm2d_backward(style="chain", dbeta_reduce="mean"),
        WORKED,
        "dbeta sums dout over (N, H, W)",
    ),
    mutant(
        "batchnorm2d_backward",
        "dbeta of shape (1, C, 1, 1)",
        _batchnorm2d_backward(dbeta_keepdims=True),
        WORKED,
        "dbeta sums dout over (N, H, W)",
    ),
    mutant(
        "batchnorm2d_backward",
        "dgamma sums dout only (no x_hat)",
        _batchnorm2d_backward(style="chain", dgamma_mode="dout"),
        WORKED,
        "dgamma sums dout * x_hat over (N, H, W)",
        "evaluation: dgamma with x_hat from the running statistics",
    ),
    mutant(
        "batchnorm2d_backward",
        "mean and variance treated as constants",
        _batchnorm2d_backward(dx_mode="constants"),
        WORKED,
        "training: dx through the batch mean and variance",
        "training: dx for a batch of several images",
        "eps (1e-5 unless given)",
    ),
    mutant(
        "batchnorm2d_backward",
        "training mode normalises with the running statistics",
        _batchnorm2d_backward(train_stats="running"),
        WORKED,
        "dgamma sums dout * x_hat over (N, H, W)",
        "training: dx through the batch mean and variance",
        "training: dx for a batch of several images",
        "eps (1e-5 unless given)",
    ),
    mutant(
        "batchnorm2d_backward",
        "statistics of each image alone (over H, W)",
        _batchnorm2d_backward(axes="image"),
        WORKED,
        "training: dx for a batch of several images",
    ),
    mutant(
        "batchnorm2d_backward",
        "evaluation dx keeps the mean and variance terms",
        _batchnorm2d_backward(eval_dx="training_formula"),
        WORKED,
        "evaluation: dx = dout * gamma / sqrt(running_var + eps)",
    ),
    mutant(
        "batchnorm2d_backward",
        "evaluation dgamma with the batch's x_hat",
        _batchnorm2d_backward(eval_dgamma="batch"),
        WORKED,
        "evaluation: dgamma with x_hat from the running statistics",
    ),
    mutant(
        "batchnorm2d_backward",
        "eps ignored (always 1e-5)",
        _batchnorm2d_backward(use_eps=False),
        "eps (1e-5 unless given)",
    ),
    mutant(
        "batchnorm2d_backward",
        "centres x in place",
        _batchnorm2d_backward(centre_in_place=True),
        "does not modify its inputs",
    ),
    # ---- depthwise_separable_conv2d
    mutant(
        "depthwise_separable_conv2d",
        "wrong only on the worked example",
        _depthwise_separable_conv2d(wrong_on_example=True),
        WORKED,
    ),
    mutant(
        "depthwise_separable_conv2d",
        "depthwise weights applied across channels",
        _depthwise_separable_conv2d(depthwise="across"),
        *SEPARABLE,
    ),
    mutant(
        "depthwise_separable_conv2d",
        "every channel filtered by the first filter",
        _depthwise_separable_conv2d(depthwise="first_filter"),
        *(p for p in SEPARABLE if p != POINTWISE),  # the pointwise property's 1x1 filters are all ones
    ),
    mutant(
        "depthwise_separable_conv2d",
        "flips the depthwise kernel",
        _depthwise_separable_conv2d(flip=True),
        *(p for p in SEPARABLE if p != POINTWISE),  # a 1x1 kernel is its own flip
    ),
    mutant(
        "depthwise_separable_conv2d",
        "pointwise weights indexed [c, o]",
        _depthwise_separable_conv2d(pointwise="transposed"),
        *(p for p in SEPARABLE if p != DEPTHWISE),  # the depthwise property's pointwise step is I
    ),
    mutant(
        "depthwise_separable_conv2d",
        "pointwise step first",
        _depthwise_separable_conv2d(order="pointwise_first"),
        *(p for p in SEPARABLE if p != DEPTHWISE),
    ),
    mutant(
        "depthwise_separable_conv2d",
        "fails on a bias that is None",
        _depthwise_separable_conv2d(none_bias_ok=False),
        *(p for p in SEPARABLE if p != BIASES),  # only the biases property passes both biases
    ),
    mutant(
        "depthwise_separable_conv2d",
        "b_depthwise added after the pointwise step",
        _depthwise_separable_conv2d(bias_depthwise="after"),
        WORKED,
        BIASES,
    ),
    mutant(
        "depthwise_separable_conv2d",
        "padding only at the bottom and right",
        _depthwise_separable_conv2d(padding_mode="one_side"),
        "zero padding",
    ),
    mutant(
        "depthwise_separable_conv2d",
        "stride ignored",
        _depthwise_separable_conv2d(use_stride=False),
        "stride > 1",
    ),
    mutant(
        "depthwise_separable_conv2d",
        "stride applied again in the pointwise step",
        _depthwise_separable_conv2d(stride_pointwise=True),
        "stride > 1",
    ),
    mutant(
        "depthwise_separable_conv2d",
        "height and width swapped",
        _depthwise_separable_conv2d(swap=True),
        "non-square images and kernels",
    ),
    mutant(
        "depthwise_separable_conv2d",
        "first image only",
        _depthwise_separable_conv2d(first_image=True),
        "a batch of several images",
    ),
    # ---- depthwise_separable_params
    mutant(
        "depthwise_separable_params",
        "wrong only for the lecture's layer",
        _depthwise_separable_params(wrong_on_example=True),
        LECTURE,
    ),
    mutant(
        "depthwise_separable_params",
        "bias=False ignored",
        _depthwise_separable_params(use_bias_flag=False),
        LECTURE,
        "bias=False: K^2 C_in + C_in C_out",
    ),
    mutant(
        "depthwise_separable_params",
        "counts only the pointwise bias",
        _depthwise_separable_params(biases="pointwise"),
        LECTURE,
        "counts both biases, C_in + C_out",
    ),
    mutant(
        "depthwise_separable_params",
        "standard convolution's count",
        _depthwise_separable_params(count="standard"),
        *PARAMS,  # the side conditions then earn nothing either
    ),
    mutant("depthwise_separable_params", "K instead of K^2", _depthwise_separable_params(count="k"), *PARAMS),
    mutant(
        "depthwise_separable_params",
        "kernel size not validated",
        _depthwise_separable_params(validate=False),
        "rejects a channel count or kernel size below 1",
    ),
    mutant(
        "depthwise_separable_params",
        "returns a float",
        _depthwise_separable_params(as_float=True),
        "returns an int",
    ),
    # ---- global_avgpool_head
    mutant(
        "global_avgpool_head",
        "wrong only on the worked example",
        _global_avgpool_head(wrong_on_example=True),
        WORKED,
    ),
    mutant(
        "global_avgpool_head",
        "sums instead of averaging",
        _global_avgpool_head(pool="sum"),
        WORKED,
        "averages each channel over H and W",
        "any image size H x W",
    ),
    mutant(
        "global_avgpool_head",
        "max instead of the mean",
        _global_avgpool_head(pool="max"),
        WORKED,
        "averages each channel over H and W",
        "any image size H x W",
    ),
    mutant(
        "global_avgpool_head",
        "bias ignored",
        _global_avgpool_head(use_bias=False),
        WORKED,
        LINEAR,
        "any image size H x W",
    ),
    mutant(
        "global_avgpool_head",
        "w not transposed",
        _global_avgpool_head(transpose=False),
        WORKED,
        LINEAR,
        "any image size H x W",
    ),
    mutant(
        "global_avgpool_head",
        "divides by H*H (square maps assumed)",
        _global_avgpool_head(pool="square"),
        "any image size H x W",
    ),
]

CORRECT = [
    Correct("batchnorm2d", "vectorized over (N, H, W)", _batchnorm2d()),
    Correct("batchnorm2d", "a loop over channels with Python sums", _batchnorm2d(loops=True)),
    Correct("batchnorm2d", "returns lists", batchnorm2d_as_lists),
    Correct("batchnorm2d_backward", "the compact formula", _batchnorm2d_backward()),
    Correct(
        "batchnorm2d_backward",
        "Ioffe & Szegedy's chain rule, step by step",
        _batchnorm2d_backward(style="chain"),
    ),
    Correct("depthwise_separable_conv2d", "a loop over kernel offsets", _depthwise_separable_conv2d()),
    Correct(
        "depthwise_separable_conv2d", "a loop over output pixels", _depthwise_separable_conv2d(style="pixels")
    ),
    Correct(
        "depthwise_separable_conv2d",
        "a standard convolution with rank-one filters, float32",
        separable_as_dense_conv,
    ),
    Correct("depthwise_separable_params", "the formula", _depthwise_separable_params()),
    Correct("global_avgpool_head", "reshape and mean", _global_avgpool_head()),
    Correct("global_avgpool_head", "loops, float32", _global_avgpool_head(loops=True, float32=True)),
]
