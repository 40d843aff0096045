"""autograder.invoke: the in-kernel invoker copies inputs, captures output, converts results through
the wire, maps exceptions to StudentError and records reference calls and monkeypatching."""

from __future__ import annotations

import contextlib
import sys

import numpy as np
import pytest

from autograder.invoke import MAX_MESSAGE_CHARS, LocalInvoker, StudentError, StudentTimeout, truncate


def test_the_student_gets_copies_of_the_inputs() -> None:
    def scribble(x: np.ndarray) -> float:
        x[...] = 7.0
        return float(x.sum())

    x = np.zeros(3)
    assert LocalInvoker({"f": scribble}).call("f", (x,), {}) == 21.0
    np.testing.assert_array_equal(x, np.zeros(3))


def test_results_cross_the_wire_as_plain_data() -> None:
    out = LocalInvoker({"f": lambda: (np.float32(1.5), np.int64(2), [np.ones(2, dtype=np.float32)])}).call(
        "f", (), {}
    )
    assert out[0] == 1.5 and type(out[0]) is float and type(out[1]) is int
    assert type(out[2][0]) is np.ndarray


def test_unsupported_results_are_a_wire_error() -> None:
    with pytest.raises(StudentError) as info:
        LocalInvoker({"f": lambda: object()}).call("f", (), {})
    assert info.value.type_name == "WireError" and "unsupported return type object" in info.value.message


@pytest.mark.parametrize(
    ("func", "type_name"),
    [(lambda: 1 / 0, "ZeroDivisionError"), (lambda: sys.exit(3), "SystemExit")],
    ids=["exception", "sys.exit"],
)
def test_exceptions_become_student_errors(func: object, type_name: str) -> None:
    with pytest.raises(StudentError) as info:
        LocalInvoker({"f": func}).call("f", (), {})
    assert info.value.type_name == type_name


def test_a_missing_name_is_a_name_error() -> None:
    with pytest.raises(StudentError, match="name 'relu' is not defined"):
        LocalInvoker({}).call("relu", (), {})


def test_messages_are_bounded_and_on_one_line() -> None:
    assert truncate("a\nb   c") == "a b c"
    assert len(truncate("x" * 10_000)) == MAX_MESSAGE_CHARS
    with pytest.raises(StudentError) as info:
        LocalInvoker({"f": lambda: (_ for _ in ()).throw(ValueError("y" * 5000))}).call("f", (), {})
    assert len(info.value.message) == MAX_MESSAGE_CHARS


def test_prints_are_captured(capsys: pytest.CaptureFixture[str]) -> None:
    def chatty() -> int:
        print("hello")
        print("oops", file=sys.stderr)
        return 1

    assert LocalInvoker({"f": chatty}).call("f", (), {}) == 1
    assert capsys.readouterr() == ("", "")


def test_calls_into_course_lib_are_recorded() -> None:
    def relu(x: np.ndarray) -> np.ndarray:
        from course_lib import layers

        return layers.relu(x)

    invoker = LocalInvoker({"relu": relu})
    invoker.call("relu", (np.ones(2),), {})
    assert invoker.reference_calls == ["course_lib.layers.relu"]


def test_monkeypatches_are_undone_and_recorded() -> None:
    original = np.sum

    def patcher() -> int:
        np.sum = lambda *a, **k: 0
        return 1

    invoker = LocalInvoker({"f": patcher})
    invoker.call("f", (), {})
    assert np.sum is original
    assert invoker.replaced_attributes == ["numpy.sum"]


def test_a_slow_call_is_interrupted() -> None:
    def forever() -> None:
        while True:
            with contextlib.suppress(Exception):  # cannot swallow the timeout
                sum(range(1000))

    with pytest.raises(StudentTimeout, match=r"f took longer than 0\.2 s"):
        LocalInvoker({"f": forever}, call_timeout=0.2).call("f", (), {})
