r"""The ONE module of hypothesis strategies, shared by the test suite and the grader.

A *case* is a frozen dataclass holding everything one call needs (arrays and keyword arguments) plus a
``describe()`` that names it in the student's own terms for feedback::

    conv2d(x.shape=(1, 1, 3, 3), w.shape=(1, 1, 2, 2), stride=2, padding=0)

Strategies are composable: every size parameter takes an ``int`` or a strategy of ints, and they only
generate VALID configurations (the kernel fits the padded input, ``"same"`` only with stride 1). Shapes
are small and drawn from ``st.integers`` ranges so that failures shrink to the smallest case; arrays are
float64 with bounded finite values (``float_arrays``), on a grid (``grid_arrays``, for finite
differences) or, for max pooling, distinct values (``distinct_arrays``: no ties, and neighbours at least
``2 / size`` apart, so finite differences never cross a tie). ``invalid_*`` strategies draw calls that
must raise, with the exception type expected.

Sections: arrays -- arithmetic cases -- convolution cases -- pooling cases -- invalid calls.
Other engineers append their own clearly headed sections at the end.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

Array = npt.NDArray[np.float64]
T = TypeVar("T")
IntLike = int | st.SearchStrategy[int]
BoolLike = bool | st.SearchStrategy[bool]
PaddingLike = int | str | st.SearchStrategy[int | str] | st.SearchStrategy[int] | st.SearchStrategy[str]

# Largest number of elements whose values ``describe()`` prints.
SMALL_ARRAY = 16

# Default ranges (module-level singletons): small shapes that shrink well.
BATCH = st.integers(1, 2)
CHANNELS = st.integers(1, 3)
CONV_KERNEL = st.integers(1, 4)
POOL_KERNEL = st.integers(1, 3)
KERNEL_1_7 = st.integers(1, 7)
STRIDE_1_3 = st.integers(1, 3)
DILATION_1_3 = st.integers(1, 3)
PADDING_0_3 = st.integers(0, 3)
LAYERS = st.integers(1, 5)
EXTRA_SIZE = st.integers(0, 4)
BOOLEANS = st.booleans()


def as_strategy(value: T | st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """``value`` itself if it is a strategy, else a strategy that always gives ``value``."""
    return value if isinstance(value, st.SearchStrategy) else st.just(value)


def describe_array(name: str, a: Array | None, values: bool = True) -> str:
    """``name.shape=(...)``, followed by the values when the array is small."""
    if a is None:
        return f"{name}=None"
    text = f"{name}.shape={a.shape}"
    if values and a.size <= SMALL_ARRAY:
        flat = " ".join(np.array2string(a, precision=4, separator=", ").split())
        text += f", {name}={flat}"
    return text


# ----------------------------------------------------------------------------------------- arrays


def float_arrays(shape: tuple[int, ...], bound: float = 2.0) -> st.SearchStrategy[Array]:
    """float64 arrays of ``shape`` with finite values in ``[-bound, bound]`` (no NaN, inf, subnormals)."""
    elements = st.floats(-bound, bound, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    return hnp.arrays(np.float64, shape, elements=elements)


def grid_arrays(shape: tuple[int, ...], bound: float = 2.0, step: float = 0.125) -> st.SearchStrategy[Array]:
    """float64 arrays of ``shape`` whose values are multiples of ``step`` in ``[-bound, bound]``: sums of
    their products are exact, and no value is tiny but nonzero (good for finite differences, where a
    gradient of 1e-45 next to a numerical 0 would read as a 100% error)."""
    n = int(bound / step)
    return hnp.arrays(np.float64, shape, elements=st.integers(-n, n).map(lambda i: i * step))


def distinct_arrays(shape: tuple[int, ...]) -> st.SearchStrategy[Array]:
    """float64 arrays of ``shape`` whose values are all different: a random permutation of
    ``size`` evenly spaced values in ``[-1, 1]`` (shrinks towards increasing row-major order)."""
    size = int(np.prod(shape))
    grid = np.linspace(-1.0, 1.0, size) if size > 1 else np.zeros(1)
    return st.permutations(range(size)).map(lambda perm: grid[np.asarray(perm, dtype=np.intp)].reshape(shape))


# ------------------------------------------------------------------------------ arithmetic cases


class KeywordCase:
    """A case whose dataclass fields are exactly the keyword arguments of the call."""

    def kwargs(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    def describe(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.kwargs().items())


@dataclass(frozen=True, eq=False)
class OutputSizeCase(KeywordCase):
    """Arguments of ``output_size``."""

    input_size: int
    kernel_size: int
    padding: int | str
    stride: int
    dilation: int


def _draw_padding(draw: st.DrawFn, padding: PaddingLike) -> int | str:
    """An int, "valid" or "same", drawn when ``padding`` is a strategy."""
    value: int | str = draw(padding) if isinstance(padding, st.SearchStrategy) else padding
    return value


def _padded_min_size(extent: int, padding: int | str) -> int:
    """Smallest input size that a kernel spanning ``extent`` pixels fits with this padding."""
    if padding == "same":
        return 1
    pad = 0 if padding == "valid" else int(padding)
    return max(1, extent - 2 * pad)


@st.composite
def output_size_cases(
    draw: st.DrawFn,
    kernel: IntLike = KERNEL_1_7,
    padding: PaddingLike = PADDING_0_3,
    stride: IntLike = STRIDE_1_3,
    dilation: IntLike = DILATION_1_3,
    extra_size: IntLike = EXTRA_SIZE,
) -> OutputSizeCase:
    """Valid ``output_size`` arguments: the input is ``extra_size`` larger than the smallest that fits."""
    k, s, d = draw(as_strategy(kernel)), draw(as_strategy(stride)), draw(as_strategy(dilation))
    p = _draw_padding(draw, padding)
    assume(not (p == "same" and s != 1))
    size = _padded_min_size(d * (k - 1) + 1, p) + draw(as_strategy(extra_size))
    return OutputSizeCase(size, k, p, s, d)


@dataclass(frozen=True, eq=False)
class ReceptiveFieldCase(KeywordCase):
    """Arguments of ``receptive_field``: one entry per layer, input side first."""

    kernel_sizes: tuple[int, ...]
    strides: tuple[int, ...] | None
    dilations: tuple[int, ...] | None


@st.composite
def receptive_field_cases(
    draw: st.DrawFn,
    layers: IntLike = LAYERS,
    kernel: IntLike = KERNEL_1_7,
    stride: IntLike = STRIDE_1_3,
    dilation: IntLike = DILATION_1_3,
    with_strides: BoolLike = BOOLEANS,
    with_dilations: BoolLike = BOOLEANS,
) -> ReceptiveFieldCase:
    """Stacks of layers; ``strides``/``dilations`` are left out (None) when ``with_*`` is False."""
    n = draw(as_strategy(layers))
    ks = tuple(draw(as_strategy(kernel)) for _ in range(n))
    ss = tuple(draw(as_strategy(stride)) for _ in range(n)) if draw(as_strategy(with_strides)) else None
    ds = tuple(draw(as_strategy(dilation)) for _ in range(n)) if draw(as_strategy(with_dilations)) else None
    return ReceptiveFieldCase(ks, ss, ds)


# ---------------------------------------------------------------------------- convolution cases


@dataclass(frozen=True, eq=False)
class ConvCase:
    """One convolution call ``conv2d(x, w, b, **kwargs())`` and an upstream gradient ``dout`` of the
    output's shape for ``conv2d_backward(dout, x, w, **kwargs())``."""

    x: Array  # (N, C_in, H, W)
    w: Array  # (C_out, C_in, KH, KW)
    b: Array | None  # (C_out,)
    stride: int
    padding: int | str
    dilation: int
    dout: Array = field(repr=False)  # (N, C_out, H_out, W_out)

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments; ``dilation`` only when it is not 1 (the students' signatures may omit it)."""
        kw: dict[str, Any] = {"stride": self.stride, "padding": self.padding}
        if self.dilation != 1:
            kw["dilation"] = self.dilation
        return kw

    def describe(self, values: bool = True) -> str:
        arrays = [describe_array("x", self.x, values), describe_array("w", self.w, values)]
        if self.b is not None:
            arrays.append(describe_array("b", self.b, values))
        return ", ".join(arrays + [f"{k}={v!r}" for k, v in self.kwargs().items()])


@st.composite
def conv_cases(
    draw: st.DrawFn,
    batch: IntLike = BATCH,
    in_channels: IntLike = CHANNELS,
    out_channels: IntLike = CHANNELS,
    kernel: IntLike = CONV_KERNEL,
    stride: IntLike = 1,
    padding: PaddingLike = 0,
    dilation: IntLike = 1,
    square: BoolLike = BOOLEANS,
    bias: BoolLike = BOOLEANS,
    extra_size: IntLike = EXTRA_SIZE,
    bound: float = 2.0,
    grid: bool = False,
    seeded: bool = False,
) -> ConvCase:
    """Valid convolution calls. ``square=True`` makes both the input and the kernel square; the input
    is ``extra_size`` pixels larger (per axis) than the smallest the dilated kernel fits with padding.
    Values are ``float_arrays`` in ``[-bound, bound]``, or ``grid_arrays`` when ``grid`` is True, or
    ``seeded_arrays`` (fast, for grading) when ``seeded`` is True."""
    arrays = seeded_arrays if seeded else grid_arrays if grid else float_arrays
    s, d, p = draw(as_strategy(stride)), draw(as_strategy(dilation)), _draw_padding(draw, padding)
    assume(not (p == "same" and s != 1))
    is_square = draw(as_strategy(square))
    kh = draw(as_strategy(kernel))
    kw = kh if is_square else draw(as_strategy(kernel))
    h = _padded_min_size(d * (kh - 1) + 1, p) + draw(as_strategy(extra_size))
    wd = h if is_square else _padded_min_size(d * (kw - 1) + 1, p) + draw(as_strategy(extra_size))
    n, c_in, c_out = draw(as_strategy(batch)), draw(as_strategy(in_channels)), draw(as_strategy(out_channels))
    x = draw(arrays((n, c_in, h, wd), bound))
    w = draw(arrays((c_out, c_in, kh, kw), bound))
    b = draw(arrays((c_out,), bound)) if draw(as_strategy(bias)) else None
    if p == "same":
        out_h, out_w = h, wd
    else:
        pad = 0 if p == "valid" else int(p)
        out_h = (h + 2 * pad - d * (kh - 1) - 1) // s + 1
        out_w = (wd + 2 * pad - d * (kw - 1) - 1) // s + 1
    dout = draw(arrays((n, c_out, out_h, out_w), bound))
    return ConvCase(x, w, b, s, p, d, dout)


def wide_conv_cases() -> st.SearchStrategy[ConvCase]:
    """Every configuration the reference is tested on: kernels 1..7, strides 1..3, paddings 0..3,
    dilations 1..3, batches 1..3, 1..4 channels in and out, square and non-square."""
    return conv_cases(
        batch=st.integers(1, 3),
        in_channels=st.integers(1, 4),
        out_channels=st.integers(1, 4),
        kernel=KERNEL_1_7,
        stride=STRIDE_1_3,
        padding=PADDING_0_3,
        dilation=DILATION_1_3,
    )


# -------------------------------------------------------------------------------- pooling cases


@dataclass(frozen=True, eq=False)
class PoolCase:
    """One pooling call ``maxpool2d(x, **kwargs())`` (``stride`` left out when None: it defaults to the
    kernel size) and an upstream gradient ``dout`` of the output's shape."""

    x: Array  # (N, C, H, W), distinct values: no ties in any window
    kernel_size: int
    stride: int | None
    dout: Array = field(repr=False)  # (N, C, H_out, W_out)

    def kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"kernel_size": self.kernel_size}
        if self.stride is not None:
            kw["stride"] = self.stride
        return kw

    def describe(self, values: bool = True) -> str:
        kwargs = [f"{k}={v!r}" for k, v in self.kwargs().items()]
        return ", ".join([describe_array("x", self.x, values), *kwargs])


@st.composite
def pool_cases(
    draw: st.DrawFn,
    batch: IntLike = BATCH,
    channels: IntLike = CHANNELS,
    kernel: IntLike = POOL_KERNEL,
    stride: int | st.SearchStrategy[int | None] | None = None,
    square: BoolLike = BOOLEANS,
    extra_size: IntLike = EXTRA_SIZE,
    bound: float = 2.0,
    grid: bool = False,
    seeded: bool = False,
) -> PoolCase:
    """Valid pooling calls on inputs with all-distinct values (no ties, see ``distinct_arrays``); the
    upstream gradient ``dout`` is ``float_arrays``, or ``grid_arrays`` when ``grid`` is True; with
    ``seeded`` (fast, for grading) both come from ``seeded_distinct_arrays``/``seeded_arrays``."""
    k, s = draw(as_strategy(kernel)), draw(as_strategy(stride))
    h = k + draw(as_strategy(extra_size))
    wd = h if draw(as_strategy(square)) else k + draw(as_strategy(extra_size))
    n, c = draw(as_strategy(batch)), draw(as_strategy(channels))
    x = draw((seeded_distinct_arrays if seeded else distinct_arrays)((n, c, h, wd)))
    step = k if s is None else s
    arrays = seeded_arrays if seeded else grid_arrays if grid else float_arrays
    dout = draw(arrays((n, c, (h - k) // step + 1, (wd - k) // step + 1), bound))
    return PoolCase(x, k, s, dout)


# -------------------------------------------------------------------------------- invalid calls


@dataclass(frozen=True, eq=False)
class InvalidCall:
    """A call that must raise ``error``; ``rule`` says which rule it breaks (for feedback)."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    error: type[Exception]
    rule: str
    arg_names: tuple[str, ...] = ("x", "w", "b")  # how describe() names the positional arguments

    def describe(self) -> str:
        names = [*self.arg_names, *(f"args[{i}]" for i in range(len(self.arg_names), len(self.args)))]
        parts = [
            describe_array(name, a, values=False) if isinstance(a, np.ndarray) else f"{name}={a!r}"
            for name, a in zip(names, self.args, strict=False)
        ]
        parts += [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{', '.join(parts)} must raise {self.error.__name__} ({self.rule})"


def _bad_int(name: str, minimum: int) -> st.SearchStrategy[tuple[Any, type[Exception], str]]:
    """(value, error, rule) for an int argument: too small, a bool, or a non-integer number."""
    return st.one_of(
        st.integers(minimum - 3, minimum - 1).map(lambda v: (v, ValueError, f"{name} must be >= {minimum}")),
        st.booleans().map(lambda v: (v, TypeError, f"{name} must be an int, not a bool")),
        st.sampled_from([1.5, 2.0]).map(lambda v: (v, TypeError, f"{name} must be an int")),
    )


@st.composite
def invalid_output_size_calls(draw: st.DrawFn) -> InvalidCall:
    """``output_size`` calls that must raise: kernel larger than the padded input, stride/dilation < 1,
    negative padding, non-integers, bools, ``"same"`` with stride > 1."""
    good = draw(output_size_cases(padding=st.integers(0, 2)))
    kwargs = good.kwargs()
    rules = ["too_big", "same_stride", "input_size", "kernel_size", "stride", "dilation", "padding"]
    broken = draw(st.sampled_from(rules))
    if broken == "too_big":
        kwargs["padding"] = p = draw(st.integers(0, 2))
        kwargs["dilation"] = 1
        kwargs["input_size"] = size = draw(st.integers(1, 6))
        kwargs["kernel_size"] = size + 2 * p + draw(st.integers(1, 3))
        return InvalidCall((), kwargs, ValueError, "kernel_size is larger than the padded input")
    if broken == "same_stride":
        kwargs["padding"], kwargs["stride"] = "same", draw(st.integers(2, 3))
        return InvalidCall((), kwargs, ValueError, "padding='same' needs stride=1")
    minimum = 0 if broken == "padding" else 1
    kwargs[broken], error, rule = draw(_bad_int(broken, minimum))
    return InvalidCall((), kwargs, error, rule)


@st.composite
def invalid_conv_calls(draw: st.DrawFn) -> InvalidCall:
    """``conv2d(x, w, b, **kwargs)`` calls that must raise: kernel larger than the padded input,
    mismatched channels, wrong ndim, wrong bias shape, bad stride/padding/dilation, ``"same"`` with
    stride > 1."""
    case = draw(conv_cases(bias=True))
    x, w, b = case.x, case.w, case.b
    kwargs: dict[str, Any] = {"stride": 1, "padding": 0, "dilation": 1}
    rules = ["too_big", "channels", "x_ndim", "w_ndim", "bias", "same_stride"]
    rules += ["stride", "dilation", "padding"]
    broken = draw(st.sampled_from(rules))
    if broken == "too_big":
        k = max(x.shape[2], x.shape[3]) + draw(st.integers(1, 2))
        w = np.zeros((w.shape[0], w.shape[1], k, k))
        return InvalidCall((x, w, b), kwargs, ValueError, "the kernel is larger than the padded input")
    if broken == "channels":
        w = np.zeros((w.shape[0], w.shape[1] + draw(st.integers(1, 2)), *w.shape[2:]))
        return InvalidCall((x, w, b), kwargs, ValueError, "x and w must have the same C_in")
    if broken == "x_ndim":
        return InvalidCall((x[0], w, b), kwargs, ValueError, "x must be 4-D (N, C_in, H, W)")
    if broken == "w_ndim":
        return InvalidCall((x, w[0], b), kwargs, ValueError, "w must be 4-D (C_out, C_in, KH, KW)")
    if broken == "bias":
        return InvalidCall((x, w, np.zeros(w.shape[0] + 1)), kwargs, ValueError, "b must have shape (C_out,)")
    if broken == "same_stride":
        kwargs.update(padding="same", stride=draw(st.integers(2, 3)))
        return InvalidCall((x, w, b), kwargs, ValueError, "padding='same' needs stride=1")
    kwargs[broken], error, rule = draw(_bad_int(broken, 0 if broken == "padding" else 1))
    return InvalidCall((x, w, b), kwargs, error, rule)


@st.composite
def invalid_pool_calls(draw: st.DrawFn) -> InvalidCall:
    """``maxpool2d(x, **kwargs)`` (or avgpool2d) calls that must raise: kernel larger than the input,
    kernel/stride < 1, bools, non-integers, wrong ndim."""
    case = draw(pool_cases(stride=st.integers(1, 3)))
    x, kwargs = case.x, case.kwargs()
    broken = draw(st.sampled_from(["too_big", "x_ndim", "kernel_size", "stride"]))
    if broken == "too_big":
        kwargs["kernel_size"] = max(x.shape[2], x.shape[3]) + draw(st.integers(1, 2))
        return InvalidCall((x,), kwargs, ValueError, "kernel_size is larger than the input")
    if broken == "x_ndim":
        return InvalidCall((x[0],), kwargs, ValueError, "x must be 4-D (N, C, H, W)")
    kwargs[broken], error, rule = draw(_bad_int(broken, 1))
    return InvalidCall((x,), kwargs, error, rule)


# ------------------------------------------------------------------------- fashion: label vectors

N_CLASSES_1_10 = st.integers(1, 10)


@st.composite
def label_pairs(
    draw: st.DrawFn, n_classes: IntLike = N_CLASSES_1_10, max_size: int = 60
) -> tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``(n_classes, y_true, y_pred)``: two int64 label vectors of equal length (possibly empty) with
    values in ``0..n_classes-1``, for ``confusion_matrix`` / ``per_class_accuracy``."""
    k = draw(as_strategy(n_classes))
    labels = st.integers(0, k - 1)
    pairs = draw(st.lists(st.tuples(labels, labels), max_size=max_size))
    y_true = np.array([t for t, _ in pairs], dtype=np.int64)
    y_pred = np.array([p for _, p in pairs], dtype=np.int64)
    return k, y_true, y_pred


# ------------------------------------------------------------------ grading: autograder items
# Strategies only the grader needs (autograder/items/). Grading draws thousands of cases per
# notebook, so arrays come from ONE draw each (a seed for numpy's generator) instead of one draw per
# element: about five times faster, while shapes and options still shrink to the smallest case.
# Values are multiples of 1/4 in [-2, 2]: exact sums, short numbers in the feedback.

SEEDS = st.integers(0, 2**32 - 1)


def seeded_arrays(
    shape: tuple[int, ...], bound: float = 2.0, step: float = 0.25, nonzero: bool = False
) -> st.SearchStrategy[Array]:
    """float64 arrays of ``shape`` with values ``step * k`` in ``[-bound, bound]`` drawn by numpy's
    PCG64 from one hypothesis-drawn seed; ``nonzero`` leaves out 0 (where ReLU's derivative is a
    convention)."""
    top = round(bound / step)

    def build(seed: int) -> Array:
        rng = np.random.default_rng(seed)
        if nonzero:
            k = rng.integers(1, top + 1, size=shape) * rng.choice(np.array([-1, 1]), size=shape)
        else:
            k = rng.integers(-top, top + 1, size=shape)
        return k.astype(np.float64) * step

    return SEEDS.map(build)


def seeded_distinct_arrays(shape: tuple[int, ...]) -> st.SearchStrategy[Array]:
    """Like ``distinct_arrays`` (all values different: no ties), permuted by a seeded generator."""
    size = int(np.prod(shape))
    grid = np.linspace(-1.0, 1.0, size) if size > 1 else np.zeros(1)
    return SEEDS.map(lambda seed: grid[np.random.default_rng(seed).permutation(size)].reshape(shape))


@st.composite
def any_shape_arrays(
    draw: st.DrawFn, min_dims: int = 1, max_dims: int = 4, max_side: int = 4, nonzero: bool = False
) -> Array:
    """``seeded_arrays`` of a drawn shape (``min_dims``..``max_dims`` axes of 1..``max_side``)."""
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side))
    return draw(seeded_arrays(shape, nonzero=nonzero))


@st.composite
def array_pairs(
    draw: st.DrawFn, min_dims: int = 1, max_dims: int = 2, max_side: int = 4
) -> tuple[Array, Array]:
    """Two float64 arrays of the same drawn shape (for ``relative_error``); the first has no zeros,
    so the pair is never both zero."""
    a = draw(any_shape_arrays(min_dims, max_dims, max_side, nonzero=True))
    return a, draw(seeded_arrays(a.shape))


@st.composite
def too_big_kernel_sizes(draw: st.DrawFn) -> tuple[int, int, int]:
    """``(input_size, kernel_size, padding)`` where the kernel is larger than the padded input."""
    size, pad = draw(st.integers(1, 6)), draw(st.integers(0, 2))
    return size, size + 2 * pad + draw(st.integers(1, 3)), pad


# ------------------------------------------------------------------------------ stripes / TinyCNN
# Arguments of course_lib.stripes.make_stripes, and weight dicts in the parameter layout of
# course_lib.tinycnn (name -> array, the shapes of a model's ``param_shapes``).


STRIPES_N = st.integers(1, 40)
STRIPES_CLASSES = st.integers(2, 4)
STRIPES_SIZE = st.integers(4, 12)


@st.composite
def stripes_kwargs(
    draw: st.DrawFn,
    n: IntLike = STRIPES_N,
    n_classes: IntLike = STRIPES_CLASSES,
    size: IntLike = STRIPES_SIZE,
) -> dict[str, Any]:
    """Valid keyword arguments of ``make_stripes``: ``n``, ``n_classes`` (2..4), ``size`` (>= 4),
    ``noise`` (0 to 1 in steps of 0.05) and ``seed``."""
    return {
        "n": draw(as_strategy(n)),
        "n_classes": draw(as_strategy(n_classes)),
        "size": draw(as_strategy(size)),
        "noise": draw(st.integers(0, 20)) * 0.05,
        "seed": draw(st.integers(0, 2**16)),
    }


def classifier_params(
    shapes: dict[str, tuple[int, ...]], bound: float = 1.0, step: float = 2.0**-10
) -> st.SearchStrategy[dict[str, Array]]:
    """One weight dict for ``shapes`` (e.g. ``TinyCNN().param_shapes``), each array a ``seeded_arrays``
    draw: values are fine-grained multiples of ``step``, so ties in TinyCNN's max pool are unlikely."""
    return st.fixed_dictionaries({name: seeded_arrays(shape, bound, step) for name, shape in shapes.items()})


# ------------------------------------------------------------------ wire: values that cross the sandbox
WIRE_DTYPES = (np.float64, np.float32, np.int64, np.uint8, np.bool_, np.complex128)


def wire_values() -> st.SearchStrategy[Any]:
    """Plain data as student functions return it (``autograder.sandbox.wire``): None, bools, ints, floats
    (NaN and infinities included), short strings, arrays of the wire's dtypes (0-d to 3-d), and
    lists, tuples and dicts (str or int keys) of those."""
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
    arrays = hnp.arrays(
        dtype=st.sampled_from(WIRE_DTYPES), shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=3)
    )
    return st.recursive(
        scalars | arrays,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.lists(inner, max_size=3).map(tuple)
            | st.dictionaries(st.text(max_size=3) | st.integers(), inner, max_size=3)
        ),
        max_leaves=10,
    )


# ---------------------------------------------- batch norm, depthwise separable convolution, GAP head
# Calls of course_lib.batchnorm, course_lib.separable and course_lib.layers.global_avgpool_head, shared
# by their reference tests (``grid``/plain float draws) and the sixth assignment's items (``seeded``).

SIDE_1_4 = st.integers(1, 4)
MOMENTUM = st.sampled_from([0.0, 0.1, 0.5, 1.0]) | st.floats(0.0, 1.0)
BN_EPS = st.sampled_from([1e-5, 1e-3, 0.5])
FloatLike = float | st.SearchStrategy[float]

#: torch's defaults (``nn.BatchNorm2d``), left out of ``BatchNormCase.kwargs()``.
BN_MOMENTUM_DEFAULT, BN_EPS_DEFAULT = 0.1, 1e-5


@dataclass(frozen=True, eq=False)
class BatchNormCase:
    """One call ``batchnorm2d(x, gamma, beta, running_mean, running_var, training, **kwargs())`` and an
    upstream gradient ``dout`` of the output's shape (that of ``x``) for ``batchnorm2d_backward``."""

    x: Array  # (N, C, H, W), at least 2 values per channel
    gamma: Array  # (C,)
    beta: Array  # (C,)
    running_mean: Array  # (C,)
    running_var: Array  # (C,), >= 0
    momentum: float
    eps: float
    dout: Array = field(repr=False)  # (N, C, H, W)

    def kwargs(self) -> dict[str, Any]:
        """``momentum`` and ``eps`` when they are not torch's defaults (0.1 and 1e-5)."""
        kw: dict[str, Any] = {}
        if self.momentum != BN_MOMENTUM_DEFAULT:
            kw["momentum"] = self.momentum
        if self.eps != BN_EPS_DEFAULT:
            kw["eps"] = self.eps
        return kw


def _vary_channels(x: Array, step: float) -> Array:
    """``x`` with one value moved by ``step`` in every channel that holds a single value throughout
    (a constant channel normalises to beta whatever the statistics, so it tests nothing)."""
    x = x.copy()
    for c in range(x.shape[1]):
        channel = x[:, c]
        if channel.min() == channel.max():
            first = channel.flat[0]
            channel.flat[0] = first - step if first > 0 else first + step
    return x


@st.composite
def batchnorm_cases(
    draw: st.DrawFn,
    batch: IntLike = BATCH,
    channels: IntLike = CHANNELS,
    height: IntLike = SIDE_1_4,
    width: IntLike = SIDE_1_4,
    momentum: FloatLike = MOMENTUM,
    eps: FloatLike = BN_EPS,
    affine: bool = True,
    varied: bool = False,
    grid: bool = False,
    seeded: bool = False,
) -> BatchNormCase:
    """Batch-norm calls with at least 2 values per channel (training needs them: when ``N*H*W`` would
    be 1, the width grows by one) and bounded values; ``affine=False`` makes gamma 1 and beta 0;
    ``varied`` gives every channel at least two different values. Values are ``float_arrays``,
    ``grid_arrays`` (``grid``, for finite differences) or ``seeded_arrays`` (``seeded``, for grading:
    then the running mean has no zeros and the running variance lies in [0.25, 2])."""
    arrays = seeded_arrays if seeded else grid_arrays if grid else float_arrays
    n, c = draw(as_strategy(batch)), draw(as_strategy(channels))
    h, w = draw(as_strategy(height)), draw(as_strategy(width))
    if n * h * w < 2:
        w += 1
    x = draw(arrays((n, c, h, w)))
    if varied:
        x = _vary_channels(x, 0.25 if seeded else 0.5)
    if affine:
        gamma, beta = draw(arrays((c,))), draw(arrays((c,)))
    else:
        gamma, beta = np.ones(c), np.zeros(c)
    if seeded:
        running_mean = draw(seeded_arrays((c,), nonzero=True))
        running_var = np.abs(draw(seeded_arrays((c,), nonzero=True)))
    else:
        running_mean, running_var = draw(arrays((c,))), np.abs(draw(arrays((c,))))
    m, e = draw(as_strategy(momentum)), draw(as_strategy(eps))
    return BatchNormCase(x, gamma, beta, running_mean, running_var, m, e, draw(arrays(x.shape)))


@st.composite
def depthwise_cases(
    draw: st.DrawFn, channels: IntLike = CHANNELS, grid: bool = False, seeded: bool = False, **kwargs: Any
) -> ConvCase:
    """Depthwise convolution calls: ``conv_cases`` (``kwargs``) with C_out = C_in = ``channels``,
    keeping one input channel of each filter, so ``w`` is (C, 1, KH, KW) and ``b`` (C,); the case's
    ``dout`` has the depthwise output's shape."""
    c = draw(as_strategy(channels))
    case = draw(conv_cases(in_channels=c, out_channels=c, grid=grid, seeded=seeded, **kwargs))
    return ConvCase(case.x, case.w[:, :1].copy(), case.b, case.stride, case.padding, case.dilation, case.dout)


@dataclass(frozen=True, eq=False)
class SeparableCase:
    """``depthwise_separable_conv2d(x, w_depthwise, w_pointwise, b_depthwise, b_pointwise, **kwargs)``:
    the depthwise step is a :func:`depthwise_cases` case, followed by a pointwise (1x1) convolution."""

    depthwise: ConvCase  # x, w_depthwise (C_in, 1, KH, KW), b_depthwise, stride, padding, dilation
    w_pointwise: Array  # (C_out, C_in, 1, 1)
    b_pointwise: Array | None  # (C_out,)
    dout: Array = field(repr=False)  # (N, C_out, H_out, W_out)


@st.composite
def separable_cases(
    draw: st.DrawFn,
    out_channels: IntLike = CHANNELS,
    pointwise_bias: BoolLike = BOOLEANS,
    grid: bool = False,
    seeded: bool = False,
    **kwargs: Any,
) -> SeparableCase:
    """Depthwise separable calls: ``depthwise_cases(**kwargs)``, then ``out_channels`` 1x1 filters
    and (when ``pointwise_bias`` draws True) their biases."""
    arrays = seeded_arrays if seeded else grid_arrays if grid else float_arrays
    dw = draw(depthwise_cases(grid=grid, seeded=seeded, **kwargs))
    n, c_in, ho, wo = dw.dout.shape
    c_out = draw(as_strategy(out_channels))
    b = draw(arrays((c_out,))) if draw(as_strategy(pointwise_bias)) else None
    return SeparableCase(dw, draw(arrays((c_out, c_in, 1, 1))), b, draw(arrays((n, c_out, ho, wo))))


@dataclass(frozen=True, eq=False)
class HeadCase:
    """``global_avgpool_head(x, w, b)``: x (N, C, H, W), w (K, C), b (K,)."""

    x: Array
    w: Array
    b: Array


@st.composite
def head_cases(
    draw: st.DrawFn,
    batch: IntLike = BATCH,
    channels: IntLike = CHANNELS,
    classes: IntLike = CHANNELS,
    height: IntLike = SIDE_1_4,
    width: IntLike | None = None,
    seeded: bool = False,
) -> HeadCase:
    """Global-average-pooling head calls; ``width=None`` makes the maps square."""
    arrays = seeded_arrays if seeded else float_arrays
    n, c, k = draw(as_strategy(batch)), draw(as_strategy(channels)), draw(as_strategy(classes))
    h = draw(as_strategy(height))
    w = h if width is None else draw(as_strategy(width))
    return HeadCase(draw(arrays((n, c, h, w))), draw(arrays((k, c))), draw(arrays((k,))))
