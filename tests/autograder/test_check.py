"""autograder.check: the nbgrader hidden-test entry point, in the kernel.

Feedback goes to stdout only and the return value is the points earned. Golden files pin the exact
feedback of a few mutants: regenerate them with ``AUTOGRADER_REGENERATE_GOLDEN=1 pytest tests/autograder``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from autograder import check
from autograder.items import ITEMS
from tests.autograder.mutants import (
    backprop_conv_pool,
    batchnorm_and_efficient_convs,
    conv_arithmetic,
    convolution_by_hand,
    fashion_mnist_kernels,
    tinycnn,
)

GOLDEN = Path(__file__).parent / "golden"
REGENERATE = os.environ.get("AUTOGRADER_REGENERATE_GOLDEN") == "1"


def _mutant(grade_id: str, name: str) -> object:
    mods = (
        conv_arithmetic,
        convolution_by_hand,
        backprop_conv_pool,
        tinycnn,
        fashion_mnist_kernels,
        batchnorm_and_efficient_convs,
    )
    return next(m.func for mod in mods for m in mod.MUTANTS if (m.grade_id, m.name) == (grade_id, name))


def correct_relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def test_returns_points_and_prints_to_stdout_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert check("relu", correct_relu) == 2.0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith("relu: 2/2 points\nrelu: matches the lecture's worked example: PASSED (0.5/0.5)\n")


def test_student_prints_and_warnings_stay_out_of_the_feedback(capsys: pytest.CaptureFixture[str]) -> None:
    def noisy_relu(x: np.ndarray) -> np.ndarray:
        print("debugging my relu")
        print("oops", file=sys.stderr)
        warnings.warn("a student warning", stacklevel=1)
        return np.maximum(x, 0.0) / np.ones_like(x)

    assert check("relu", noisy_relu) == 2.0
    out, err = capsys.readouterr()
    assert err == "" and "debugging" not in out and "warning" not in out


def test_stub_scores_zero_with_a_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    def conv2d(
        x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: int = 1, padding: int = 0
    ) -> None:
        raise NotImplementedError

    assert check("conv2d", conv2d) == 0.0
    assert (
        capsys.readouterr().out
        == "conv2d: 0/7 points\n  not implemented yet: conv2d raises NotImplementedError\n"
    )


def test_the_reference_itself_earns_zero_and_is_flagged(capsys: pytest.CaptureFixture[str]) -> None:
    from course_lib.layers import relu

    assert check("relu", relu) == 0.0
    assert (
        "uses the course's reference implementation (relu from course_lib.layers)" in capsys.readouterr().out
    )


def test_a_dynamic_import_of_the_reference_is_caught_while_it_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def relu(x: np.ndarray) -> np.ndarray:
        import importlib

        return importlib.import_module("course_" + "lib.layers").relu(x)

    assert check("relu", relu) == 0.0
    assert "calls course_lib.layers.relu" in capsys.readouterr().out


def test_monkeypatching_numpy_cannot_change_a_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    original = np.maximum

    def relu(x: np.ndarray) -> np.ndarray:
        np.maximum = lambda a, b: a  # would make the reference agree with anything
        return x

    assert check("relu", relu) == 0.0
    assert np.maximum is original
    assert "replaced numpy.maximum while running" in capsys.readouterr().out


def test_unknown_grade_id_is_an_error() -> None:
    with pytest.raises(ValueError, match="not a graded item"):
        check("no_such_function", correct_relu)


def test_importing_autograder_does_not_import_torch() -> None:
    code = "import sys, autograder; assert 'torch' not in sys.modules; print(autograder.check.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "check"


GOLDEN_CASES = [
    ("conv2d", "stride ignored"),
    ("conv2d", "height and width swapped in the output size"),
    ("output_size", "float division, no floor"),
    ("relu_backward", "x >= 0 passes the gradient at 0"),
    ("maxpool2d_backward", "overlapping windows overwrite"),
    ("conv2d_backward", "db is a mean"),
    ("numerical_gradient", "x not restored"),
    ("TinyCNN", "gradients summed over the batch"),
    ("BaselineMLP", "no dropout, ends in LogSoftmax"),
    ("train_one_epoch", "mean of the batch means"),
    ("train_one_epoch", "never zeroes the gradients"),
    ("confusion_matrix", "3 classes by default"),
]


@pytest.mark.parametrize(("grade_id", "name"), GOLDEN_CASES, ids=[f"{g}-{n}" for g, n in GOLDEN_CASES])
def test_feedback_matches_the_golden_file(
    grade_id: str, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    points = check(grade_id, _mutant(grade_id, name))
    out = capsys.readouterr().out
    assert 0 < points < ITEMS[grade_id].points
    path = GOLDEN / f"{grade_id}--{re.sub(r'[^A-Za-z0-9_]', '', name.replace(' ', '_'))}.txt"
    if REGENERATE:
        path.write_text(out)
    assert path.exists(), f"missing golden file {path.name}: run with AUTOGRADER_REGENERATE_GOLDEN=1"
    assert out == path.read_text()


def test_a_grader_bug_is_feedback_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    check_module = sys.modules["autograder.check"]  # the package attribute is the function

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("bug in the grader")

    monkeypatch.setattr(check_module, "run_item", broken)
    assert check("relu", correct_relu) == 0.0
    out, err = capsys.readouterr()
    assert (
        err == ""
        and out == "relu: 0/2 points\n  internal grader error (RuntimeError); please tell your instructor\n"
    )


def test_c_level_writes_to_file_descriptors_1_and_2_never_reach_the_cell() -> None:
    """torch's native warnings write to file descriptor 2 directly; nbgrader zeroes a test cell with
    any stderr output. The oracle: the process's real stderr and stdout, captured from outside."""
    code = (
        "import os\n"
        "from autograder import check\n"
        "def relu(x):\n"
        "    os.write(2, b'[W NNPACK.cpp:64] Could not initialize NNPACK!\\n')\n"
        "    os.write(1, b'C-level stdout\\n')\n"
        "    import numpy as np\n"
        "    return np.maximum(x, 0)\n"
        "points = check('relu', relu)\n"
        "print('points', points)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stderr == ""
    assert "NNPACK" not in out.stdout and "C-level stdout" not in out.stdout
    assert f"points {float(ITEMS['relu'].points)}" in out.stdout
    assert out.stdout.startswith("relu: ")
