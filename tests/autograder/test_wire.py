"""The wire protocol: values survive the round trip as plain data; hostile bytes are refused."""

from __future__ import annotations

import io
import math
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given

from autograder.sandbox import wire
from autograder.strategies import wire_values

values = wire_values()


def assert_same(a: object, b: object) -> None:
    """Structural equality with exact types, NaN == NaN and arrays compared by dtype and bytes."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray)
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b)
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b)
    else:
        assert a == b


@given(values)
def test_roundtrip_preserves_plain_values(value: object) -> None:
    assert_same(wire.roundtrip(value), value)


@given(values)
def test_frames_carry_encoded_values_through_a_stream(value: object) -> None:
    tree, blobs = wire.encode(value)
    stream = io.BytesIO(wire.frame_bytes({"value": tree}, blobs) * 2)
    for _ in range(2):
        header, got_blobs = wire.read_frame(stream)
        assert_same(wire.decode(header["value"], got_blobs), value)
    with pytest.raises(EOFError):
        wire.read_frame(stream)


def test_numpy_scalars_and_tensors_become_plain_python_and_arrays() -> None:
    got = wire.roundtrip([np.float32(1.5), np.int16(-3), np.bool_(True), np.complex64(1 + 2j)])
    assert got == [1.5, -3, True, 1 + 2j]
    assert [type(x) for x in got] == [float, int, bool, complex]
    tensor = wire.roundtrip(torch.arange(6, dtype=torch.float64).reshape(2, 3))
    assert isinstance(tensor, np.ndarray)
    np.testing.assert_array_equal(tensor, np.arange(6.0).reshape(2, 3))


def test_subclasses_with_rigged_equality_arrive_as_base_types() -> None:
    class AlwaysEqualInt(int):
        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = int.__hash__

    class AlwaysEqualArray(np.ndarray):
        def __eq__(self, other: object) -> bool:  # type: ignore[override]
            return True

    rigged_array = np.zeros(3).view(AlwaysEqualArray)
    got_int, got_array = wire.roundtrip((AlwaysEqualInt(3), rigged_array))
    assert type(got_int) is int and got_int == 3 and got_int != 4
    assert type(got_array) is np.ndarray


def test_fake_class_attribute_cannot_pass_as_a_number() -> None:
    class Impostor:
        @property  # type: ignore[misc]
        def __class__(self) -> type:
            return int

    assert isinstance(Impostor(), int)  # isinstance is fooled ...
    with pytest.raises(wire.WireError, match="unsupported return type Impostor"):
        wire.roundtrip(Impostor())  # ... the wire is not


@pytest.mark.parametrize(
    "value",
    [object(), {1, 2}, np.array([object()]), lambda x: x, np.array(["2020-01-01"], dtype="datetime64[D]")],
)
def test_values_that_are_not_plain_data_are_refused(value: object) -> None:
    with pytest.raises(wire.WireError, match="unsupported return type"):
        wire.encode(value)


def test_self_referencing_list_is_refused_not_a_recursion_error() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(wire.WireError, match="nested deeper"):
        wire.encode(loop)


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def test_object_arrays_from_a_worker_are_never_unpickled() -> None:
    class Boom:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("unpickled!",))

    blob = npy_bytes(np.array([Boom()], dtype=object))
    with pytest.raises(wire.WireError, match="not allowed"):
        wire.decode(["a", 0], [blob])
    with pytest.raises(wire.WireError, match="malformed array"):
        wire.decode(["a", 0], [pickle.dumps(np.zeros(3))])


def test_array_header_must_match_the_data_size() -> None:
    blob = npy_bytes(np.zeros((4, 4)))
    forged = blob.replace(b"(4, 4)", b"(9, 9)")
    with pytest.raises(wire.WireError, match="does not match"):
        wire.decode(["a", 0], [forged])
    with pytest.raises(wire.WireError, match="does not match"):
        wire.decode(["a", 0], [blob[:-8]])


@pytest.mark.parametrize(
    "tree",
    [["a", 3], ["zz"], "x", [], ["i", True], ["f", "1e999x"], ["d", [[["l", []], ["n"]]]]],
)
def test_malformed_trees_are_refused(tree: object) -> None:
    with pytest.raises(wire.WireError):
        wire.decode(tree, [npy_bytes(np.zeros(1))])


def test_deeply_nested_tree_is_refused() -> None:
    tree: list[object] = ["n"]
    for _ in range(wire.MAX_DEPTH + 2):
        tree = ["l", [tree]]
    with pytest.raises(wire.WireError):
        wire.decode(tree, [])


def test_frame_decoder_assembles_frames_fed_one_byte_at_a_time() -> None:
    data = wire.frame_bytes({"op": "a"}, [b"xyz", b""]) + wire.frame_bytes({"op": "b"})
    decoder = wire.FrameDecoder()
    frames = []
    for i in range(len(data)):
        frames += decoder.feed(data[i : i + 1])
    assert frames == [({"op": "a"}, [b"xyz", b""]), ({"op": "b"}, [])]
    assert decoder.pending == 0


def test_frame_decoder_refuses_oversized_and_garbage_streams() -> None:
    decoder = wire.FrameDecoder(max_frame_bytes=100)
    with pytest.raises(wire.FrameError, match="over the limit"):
        decoder.feed(wire.frame_bytes({"op": "a"}, [b"x" * 200])[:40])
    with pytest.raises(wire.FrameError, match="magic"):
        wire.FrameDecoder().feed(b"Traceback (most recent")
    with pytest.raises(wire.FrameError, match="not a JSON object"):
        wire.FrameDecoder().feed(wire.MAGIC + (2).to_bytes(4, "big") + b"[]" + bytes(4))
    with pytest.raises(ValueError, match="max_frame_bytes"):
        wire.FrameDecoder(0)
