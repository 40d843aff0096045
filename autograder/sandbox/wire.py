r"""The message protocol between the grader and a student's worker process: JSON + ``.npy`` bytes.

A value crosses the wire as a JSON *tree* plus a list of binary *blobs*:

- ``None``, ``bool``, ``int``, ``float`` (NaN and infinities included), ``complex`` and ``str``
  are tagged JSON nodes; numpy scalars become the matching Python scalar;
- ``list``, ``tuple`` and ``dict`` are encoded recursively (dict keys are encoded like values and
  must decode to something hashable);
- a numpy array becomes a blob holding its ``.npy`` bytes (``np.save(..., allow_pickle=False)``)
  and a node pointing at the blob; only dtype kinds ``b i u f c S U`` are allowed;
- anything else goes through ``np.asarray(value)`` (a torch tensor, an object with ``__array__``);
  if that fails or gives dtype ``object`` the value is refused with
  ``WireError("unsupported return type <name>")``.

Decoding builds fresh plain objects (exact ``int``/``float``/``str``, base-class ``ndarray``), so a
student's subclass with a rigged ``__eq__`` never reaches the grader. Blobs are parsed with
``np.load(..., allow_pickle=False)`` after their header has been checked against the blob's size:
**nothing that came from a student process is ever unpickled.**

A *frame* is one message on a byte stream::

    b"AGW1" | u32 header length | header JSON (UTF-8) | u32 blob count | (u64 length | bytes) * count

(all integers big-endian). :class:`FrameDecoder` parses frames incrementally (for a reader that
multiplexes pipes with deadlines); :func:`read_frame` is the blocking form.

This module imports only the standard library and numpy: its *source* is shipped to the sandboxed
worker and executed there, so both sides speak exactly the same protocol.
"""

from __future__ import annotations

import io
import json
import math
import struct
from collections.abc import Iterable
from typing import Any, BinaryIO

import numpy as np

MAGIC = b"AGW1"
#: Deepest nesting of lists/tuples/dicts accepted in a value.
MAX_DEPTH = 32
#: Most nodes (scalars + containers + arrays) accepted in one value.
MAX_NODES = 200_000
#: Largest JSON header accepted in a frame (bytes).
MAX_HEADER_BYTES = 16 * 2**20
#: Largest total frame size accepted by default (bytes).
MAX_FRAME_BYTES = 512 * 2**20
#: numpy dtype kinds that may cross the wire: bool, signed/unsigned int, float, complex, bytes, str.
ALLOWED_KINDS = frozenset("biufcSU")

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


class WireError(TypeError):
    """A value cannot be encoded (unsupported type, too deep, object dtype) or decoded."""


class FrameError(ValueError):
    """A byte stream does not hold a well-formed frame (bad magic, over a size limit, truncated)."""


# ---------------------------------------------------------------------------------------------
# values <-> (tree, blobs)
# ---------------------------------------------------------------------------------------------


def encode(value: Any) -> tuple[Any, list[bytes]]:
    """``value`` as ``(tree, blobs)``: a JSON-serialisable tree and the ``.npy`` bytes it points at.

    Raises :class:`WireError` for values that are not plain data.
    """
    blobs: list[bytes] = []
    counter = [0]
    tree = _encode(value, blobs, counter, 0)
    return tree, blobs


def decode(tree: Any, blobs: list[bytes]) -> Any:
    """The value described by ``tree`` and ``blobs`` (the inverse of :func:`encode`).

    Raises :class:`WireError` on any malformed input; never unpickles.
    """
    counter = [0]
    return _decode(tree, blobs, counter, 0)


def roundtrip(value: Any) -> Any:
    """``decode(encode(value))`` through the JSON text, exactly as if it had crossed the wire."""
    tree, blobs = encode(value)
    return decode(json.loads(json.dumps(tree)), blobs)


def _type_name(value: Any) -> str:
    return type(value).__name__


def _encode(value: Any, blobs: list[bytes], counter: list[int], depth: int) -> Any:
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise WireError(f"return value has more than {MAX_NODES} elements outside arrays")
    if depth > MAX_DEPTH:
        raise WireError(f"return value is nested deeper than {MAX_DEPTH} levels")
    # Dispatch on type(value) (isinstance can be fooled by a fake __class__) and convert with the
    # base-class methods, so a subclass's overridden __int__/__float__/__iter__ is never used.
    kind = type(value)
    if value is None:
        return ["n"]
    if issubclass(kind, bool | np.bool_):
        return ["b", bool(value)]
    if issubclass(kind, int):
        return ["i", int.__index__(value)]
    if issubclass(kind, np.integer):
        return ["i", int(value.item())]
    if issubclass(kind, float):
        return ["f", _float_text(float.__float__(value))]
    if issubclass(kind, np.floating) and not issubclass(kind, np.longdouble):
        return ["f", _float_text(float(value.item()))]
    if issubclass(kind, complex):
        # the base class's own descriptors (complex.__complex__ is new in Python 3.11)
        real, imag = complex.real.__get__(value), complex.imag.__get__(value)
        return ["c", [_float_text(float(real)), _float_text(float(imag))]]
    if issubclass(kind, np.complexfloating) and not issubclass(kind, np.clongdouble):
        c = complex(value.item())
        return ["c", [_float_text(c.real), _float_text(c.imag)]]
    if issubclass(kind, str):
        return ["s", str.__str__(value)]
    if issubclass(kind, np.ndarray):
        return ["a", _add_array(value, blobs)]
    if issubclass(kind, list):
        return ["l", [_encode(item, blobs, counter, depth + 1) for item in list.__iter__(value)]]
    if issubclass(kind, tuple):
        return ["t", [_encode(item, blobs, counter, depth + 1) for item in tuple.__iter__(value)]]
    if issubclass(kind, dict):
        pairs = [
            [_encode(k, blobs, counter, depth + 1), _encode(v, blobs, counter, depth + 1)]
            for k, v in dict.items(value)
        ]
        return ["d", pairs]
    try:
        array = np.asarray(value)
    except Exception:
        raise WireError(f"unsupported return type {_type_name(value)}") from None
    if array.dtype.kind not in ALLOWED_KINDS:
        raise WireError(f"unsupported return type {_type_name(value)}")
    return ["a", _add_array(array, blobs)]


def _float_text(x: float) -> float | str:
    """JSON has no NaN/inf: those travel as strings, every other float as itself (exact repr)."""
    return x if math.isfinite(x) else repr(x)


def _add_array(array: np.ndarray, blobs: list[bytes]) -> int:
    array = np.asarray(array)  # a base-class ndarray even for a subclass
    if array.dtype.kind not in ALLOWED_KINDS:
        raise WireError(f"unsupported return type ndarray of dtype {array.dtype}")
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    blobs.append(buffer.getvalue())
    return len(blobs) - 1


def _decode(node: Any, blobs: list[bytes], counter: list[int], depth: int) -> Any:
    counter[0] += 1
    if counter[0] > MAX_NODES or depth > MAX_DEPTH:
        raise WireError("message is too large or nested too deeply")
    if not isinstance(node, list) or not node or not isinstance(node[0], str):
        raise WireError("malformed message node")
    tag = node[0]
    payload = node[1] if len(node) > 1 else None
    if tag == "n":
        return None
    if tag == "b" and isinstance(payload, bool):
        return payload
    if tag == "i" and isinstance(payload, int) and not isinstance(payload, bool):
        return payload
    if tag == "f":
        return _text_float(payload)
    if tag == "c" and isinstance(payload, list) and len(payload) == 2:
        return complex(_text_float(payload[0]), _text_float(payload[1]))
    if tag == "s" and isinstance(payload, str):
        return payload
    if tag == "a" and isinstance(payload, int) and not isinstance(payload, bool):
        if not 0 <= payload < len(blobs):
            raise WireError("message points at a missing array")
        return load_array(blobs[payload])
    if tag in ("l", "t") and isinstance(payload, list):
        items = [_decode(item, blobs, counter, depth + 1) for item in payload]
        return items if tag == "l" else tuple(items)
    if tag == "d" and isinstance(payload, list):
        out: dict[Any, Any] = {}
        for pair in payload:
            if not isinstance(pair, list) or len(pair) != 2:
                raise WireError("malformed dict entry in message")
            key = _decode(pair[0], blobs, counter, depth + 1)
            try:
                out[key] = _decode(pair[1], blobs, counter, depth + 1)
            except TypeError:
                raise WireError(f"unhashable dict key of type {_type_name(key)}") from None
        return out
    raise WireError(f"malformed message node with tag {tag!r}")


def _text_float(payload: Any) -> float:
    if isinstance(payload, float | int) and not isinstance(payload, bool):
        return float(payload)
    if payload in ("nan", "inf", "-inf"):
        return float(payload)
    raise WireError("malformed float in message")


def load_array(blob: bytes) -> np.ndarray:
    """The array in ``.npy`` bytes, checked before anything is allocated; never unpickles.

    Refuses a header whose dtype kind is not in :data:`ALLOWED_KINDS` or whose shape does not match
    the number of data bytes.
    """
    stream = io.BytesIO(blob)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise WireError(f"unsupported .npy version {version}")
    except WireError:
        raise
    except Exception as exc:
        raise WireError(f"malformed array in message: {exc}") from None
    if dtype.kind not in ALLOWED_KINDS or dtype.hasobject or dtype.itemsize == 0:
        raise WireError(f"array dtype {dtype} is not allowed on the wire")
    count = math.prod(shape)
    if count * dtype.itemsize != len(blob) - stream.tell():
        raise WireError("array data does not match its header")
    stream.seek(0)
    try:
        array = np.load(stream, allow_pickle=False)
    except Exception as exc:
        raise WireError(f"malformed array in message: {exc}") from None
    return np.asarray(array)


# ---------------------------------------------------------------------------------------------
# frames on a byte stream
# ---------------------------------------------------------------------------------------------


def frame_bytes(header: dict[str, Any], blobs: Iterable[bytes] = ()) -> bytes:
    """One frame: ``header`` as JSON followed by ``blobs`` (see the module docstring)."""
    text = json.dumps(header, allow_nan=False, separators=(",", ":")).encode("utf-8")
    parts = [MAGIC, _U32.pack(len(text)), text]
    blob_list = list(blobs)
    parts.append(_U32.pack(len(blob_list)))
    for blob in blob_list:
        parts.append(_U64.pack(len(blob)))
        parts.append(bytes(blob))
    return b"".join(parts)


def write_frame(stream: BinaryIO, header: dict[str, Any], blobs: Iterable[bytes] = ()) -> None:
    """Write one frame to ``stream`` and flush it."""
    stream.write(frame_bytes(header, blobs))
    stream.flush()


class FrameDecoder:
    """Incremental frame parser: :meth:`feed` bytes as they arrive, get complete frames back.

    Every size is checked against ``max_frame_bytes`` before it is buffered, so a hostile writer
    cannot make the reader allocate more than that.
    """

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        if max_frame_bytes <= 0:
            raise ValueError(f"max_frame_bytes={max_frame_bytes} must be positive")
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[dict[str, Any], list[bytes]]]:
        """Add ``data``; return the frames completed by it (possibly none)."""
        self._buffer += data
        frames: list[tuple[dict[str, Any], list[bytes]]] = []
        while True:
            frame = self._parse_one()
            if frame is None:
                return frames
            frames.append(frame)

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buffer)

    def _parse_one(self) -> tuple[dict[str, Any], list[bytes]] | None:
        buf = self._buffer
        if len(buf) < 8:
            self._check_prefix()
            return None
        if bytes(buf[:4]) != MAGIC:
            raise FrameError("stream does not start with a frame (bad magic bytes)")
        (header_len,) = _U32.unpack_from(buf, 4)
        if header_len > min(MAX_HEADER_BYTES, self.max_frame_bytes):
            raise FrameError(f"frame header of {header_len} bytes is over the limit")
        pos = 8 + header_len
        if len(buf) < pos + 4:
            return None
        (n_blobs,) = _U32.unpack_from(buf, pos)
        pos += 4
        sizes = []
        total = pos
        for _ in range(n_blobs):
            if len(buf) < pos + 8:
                return None
            (size,) = _U64.unpack_from(buf, pos)
            total += 8 + size
            if total > self.max_frame_bytes:
                raise FrameError(f"frame is over the limit of {self.max_frame_bytes} bytes")
            if len(buf) < pos + 8 + size:
                return None
            sizes.append((pos + 8, size))
            pos += 8 + size
        try:
            header = json.loads(bytes(buf[8 : 8 + header_len]).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise FrameError(f"frame header is not JSON: {exc}") from None
        except RecursionError:
            raise FrameError("frame header is nested too deeply") from None
        if not isinstance(header, dict):
            raise FrameError("frame header is not a JSON object")
        blobs = [bytes(buf[start : start + size]) for start, size in sizes]
        del buf[:pos]
        return header, blobs

    def _check_prefix(self) -> None:
        n = min(len(self._buffer), 4)
        if bytes(self._buffer[:n]) != MAGIC[:n]:
            raise FrameError("stream does not start with a frame (bad magic bytes)")


def read_frame(
    stream: BinaryIO, max_frame_bytes: int = MAX_FRAME_BYTES
) -> tuple[dict[str, Any], list[bytes]]:
    """Blocking read of exactly one frame from ``stream``; :class:`EOFError` at a clean end."""

    def read_exact(n: int) -> bytes:
        chunks = []
        while n:
            chunk = stream.read(n)
            if not chunk:
                raise EOFError("stream closed")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    prefix = read_exact(8)
    if prefix[:4] != MAGIC:
        raise FrameError("stream does not start with a frame (bad magic bytes)")
    (header_len,) = _U32.unpack(prefix[4:])
    if header_len > min(MAX_HEADER_BYTES, max_frame_bytes):
        raise FrameError(f"frame header of {header_len} bytes is over the limit")
    text = read_exact(header_len)
    (n_blobs,) = _U32.unpack(read_exact(4))
    total = 12 + header_len
    blobs = []
    for _ in range(n_blobs):
        (size,) = _U64.unpack(read_exact(8))
        total += 8 + size
        if total > max_frame_bytes:
            raise FrameError(f"frame is over the limit of {max_frame_bytes} bytes")
        blobs.append(read_exact(size))
    try:
        header = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FrameError(f"frame header is not JSON: {exc}") from None
    except RecursionError:
        raise FrameError("frame header is nested too deeply") from None
    if not isinstance(header, dict):
        raise FrameError("frame header is not a JSON object")
    return header, blobs
