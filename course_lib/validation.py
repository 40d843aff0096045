r"""Argument validation shared by every course_lib function: one place for every rule.

Every check raises with a message that names the argument and the rule it broke:

- ``TypeError`` for a wrong type: ``stride must be an int, got float 1.5`` (``bool`` is not an int here,
  although Python says it is);
- ``ValueError`` for a value out of range: ``stride=0 must be >= 1``,
  ``kernel_size=7 is larger than the padded input (5 + 2*0 = 5)``,
  ``x must be 4-D (N, C_in, H, W), got shape (3, 5, 5)``.

Numeric arrays are converted to float64 (the course's dtype) without a copy when they already are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
"""A float64 numpy array; 4-D arrays are NCHW."""

PADDING_MODES = ("valid", "same")


def check_int(name: str, value: object, minimum: int | None = None, why: str = "") -> int:
    """Return ``value`` as an ``int`` if it is an integer (not a bool) and ``>= minimum``; ``why``
    (e.g. "padding is zeros per side") is appended to the range error."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}={value} must be >= {minimum}" + (f" ({why})" if why else ""))
    return value


def check_float(
    name: str,
    value: object,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
) -> float:
    """Return ``value`` as a ``float`` if it is a real number (int or float, not a bool), finite, and
    within ``[minimum, maximum]`` (``(minimum, maximum]`` when ``exclusive_minimum``)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    number = float(value)
    if not np.isfinite(number):
        raise ValueError(f"{name}={number} must be finite")
    if minimum is not None and (number <= minimum if exclusive_minimum else number < minimum):
        raise ValueError(f"{name}={number} must be {'>' if exclusive_minimum else '>='} {minimum}")
    if maximum is not None and number > maximum:
        raise ValueError(f"{name}={number} must be <= {maximum}")
    return number


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a ``bool`` (``0``/``1`` are not accepted)."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def check_int_sequence(name: str, values: object, minimum: int) -> list[int]:
    """Return a list of ints, each ``>= minimum``; ``name[i]`` is named in errors."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
        raise TypeError(f"{name} must be a sequence of ints, got {type(values).__name__} {values!r}")
    return [check_int(f"{name}[{i}]", v, minimum) for i, v in enumerate(values)]


def check_padding(padding: object, stride: int = 1) -> int | str:
    """Return a valid padding: an int ``>= 0``, ``"valid"`` or ``"same"`` (``"same"`` needs stride 1)."""
    if isinstance(padding, str):
        if padding not in PADDING_MODES:
            raise ValueError(f"padding={padding!r} must be an int >= 0, 'valid' or 'same'")
        if padding == "same" and stride != 1:
            raise ValueError(f"padding='same' needs stride=1, got stride={stride}")
        return padding
    return check_int("padding", padding, minimum=0, why="zeros added per side")


def padding_per_side(padding: int | str, kernel_size: int, dilation: int = 1) -> tuple[int, int]:
    r"""Zeros added (before, after) along one axis for an already validated ``padding``.

    ``"same"`` pads the kernel's extent ``D(K-1)`` in total, the extra zero of an odd total going
    after (bottom/right), as ``torch.nn.functional.conv2d(padding="same")`` does.
    """
    if padding == "valid":
        return 0, 0
    if padding == "same":
        total = dilation * (kernel_size - 1)
        return total // 2, total - total // 2
    assert isinstance(padding, int)
    return padding, padding


def check_kernel_fits(
    input_size: int, kernel_size: int, pad: tuple[int, int], dilation: int = 1, axis: str = ""
) -> None:
    r"""Raise unless the (dilated) kernel fits inside the padded input: ``D(K-1) + 1 <= W + P_0 + P_1``."""
    padded = input_size + pad[0] + pad[1]
    padded_text = (
        f"{input_size} + 2*{pad[0]} = {padded}"
        if pad[0] == pad[1]
        else f"{input_size} + {pad[0]} + {pad[1]} = {padded}"
    )
    extent = dilation * (kernel_size - 1) + 1
    where = f" {axis}" if axis else ""
    if extent > padded:
        if dilation == 1:
            raise ValueError(
                f"kernel_size={kernel_size} is larger than the padded input{where} ({padded_text})"
            )
        raise ValueError(
            f"kernel_size={kernel_size} with dilation={dilation} spans {dilation}*({kernel_size}-1)+1 = "
            f"{extent}, larger than the padded input{where} ({padded_text})"
        )


def as_array(name: str, x: Any, ndim: int | None = None, layout: str = "") -> Array:
    """Return ``x`` as a float64 array of ``ndim`` dimensions (any when None); ``layout``
    (e.g. "(N, C, H, W)") is named in the error message."""
    arr = np.asarray(x)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D {layout}, got shape {arr.shape}")
    return arr.astype(np.float64, copy=False)


def check_same_shape(name: str, arr: Array, expected: tuple[int, ...], why: str) -> None:
    """Raise unless ``arr.shape == expected``; ``why`` says where the expected shape comes from."""
    if arr.shape != expected:
        raise ValueError(f"{name} must have shape {expected} ({why}), got {arr.shape}")


def check_inputs_match_weights(x: Array, w: Array, symbol: str, noun: str) -> None:
    """Raise unless ``x.shape[1] == w.shape[1]``: the input channels/features that ``x`` has and the
    weights ``w`` expect (``symbol`` e.g. "C_in", ``noun`` e.g. "channels")."""
    if x.shape[1] != w.shape[1]:
        raise ValueError(
            f"x has {symbol}={x.shape[1]} {noun} (x.shape[1]) but w expects {symbol}={w.shape[1]} "
            f"(w.shape[1]); they must match"
        )
