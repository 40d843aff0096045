"""The hardening corpus: hostile and broken submissions, declared as data, with expected outcomes.

Every case starts from a release notebook (``release/<assignment>/<assignment>.ipynb``) whose solution
cells hold the instructor's solution (:func:`autograder.demo.submission`), then applies its
:class:`Edit`\\ s: replace a cell's text, add a cell, delete or duplicate one, change its type or its
nbgrader metadata, or replace the whole file with other bytes. Cell texts may use ``{course}`` (the
course root), ``{out}`` (the grader's output folder), ``{port}`` (a TCP port the test listens on) and
``{secret}`` (an environment variable's value the test plants in the grader): :class:`Context`.

The expected :class:`Outcome` of a case: score bounds per item (items not named keep full marks,
unless ``others`` says otherwise), a substring of the grading record (what the student and the
instructor read), and a substring of its review flags.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import nbformat
from nbformat import NotebookNode

from autograder.demo import Student, submission

#: Corpus assignments: the cheapest to grade (conv_arithmetic needs neither torch nor data) and one
#: with arrays (backprop_conv_pool) for wrong shapes, dtypes and mutated inputs.
ARITHMETIC = "conv_arithmetic"
BACKPROP = "backprop_conv_pool"
#: The instructor's solution, no edits.
SOLVED = Student("solved")
#: What a submission gets when it looks for a file the sandbox does not show (the course tree, the
#: output folder, the submissions): at the namespaces level such files do not exist at all.
NOT_VISIBLE = "No such file or directory"


@dataclasses.dataclass(frozen=True)
class Context:
    """Values a case's cell text may refer to (see the module docstring)."""

    course: Path
    out: Path
    port: int = 9
    secret: str = "no-secret"

    def fill(self, text: str) -> str:
        for key, value in dataclasses.asdict(self).items():
            text = text.replace("{" + key + "}", str(value))
        return text


EditKind = Literal["replace", "insert", "delete", "duplicate", "cell_type", "meta", "file", "lean"]


@dataclasses.dataclass(frozen=True)
class Edit:
    """One change to the solved release notebook.

    - ``replace``: the cell ``grade_id`` gets ``text``;
    - ``insert``: a new code cell ``text`` right after the cell ``grade_id``;
    - ``delete`` / ``duplicate`` the cell ``grade_id``; ``cell_type``: make it a ``text`` cell;
    - ``meta``: set its nbgrader metadata ``key`` to ``value``;
    - ``file``: the whole file becomes :func:`_file_bytes` of kind ``text`` (broken notebooks);
    - ``lean``: drop the code cells without nbgrader metadata (figures and tables, ungraded), which
      makes the backprop_conv_pool cases cheap to grade.
    """

    kind: EditKind
    grade_id: str = ""
    text: str = ""
    key: str = ""
    value: object = None


def replace(grade_id: str, text: str) -> Edit:
    return Edit("replace", grade_id, text)


def insert(text: str, after: str = "setup") -> Edit:
    return Edit("insert", after, text)


#: Drop the ungraded figure and table cells (see :class:`Edit`).
LEAN = Edit("lean")


def meta(grade_id: str, key: str, value: object) -> Edit:
    return Edit("meta", grade_id, key=key, value=value)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What grading a case must give.

    ``scores``: ``grade_id -> (low, high)`` points; ``others``: the items not named score ``"full"``
    marks, ``"zero"`` or ``"any"`` score in range. ``message`` must occur in the grading record
    (results.json: item feedback and notes), ``flag`` in its review flags (both case-insensitive).
    Every case must also leave no file outside its own results and put the planted secret in none.
    """

    scores: Mapping[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    others: Literal["full", "zero", "any"] = "full"
    message: str = ""
    flag: str = ""


Category = Literal["control", "runaway", "exit", "flood", "cheat", "broken", "wrong"]


@dataclasses.dataclass(frozen=True)
class Case:
    """One submission of the corpus: ``what`` it does (for people), its edits and its outcome."""

    name: str
    category: Category
    what: str
    edits: tuple[Edit, ...]
    outcome: Outcome
    assignment: str = ARITHMETIC


ZERO = (0.0, 0.0)


def case(
    name: str,
    category: Category,
    what: str,
    edits: Sequence[Edit],
    assignment: str = ARITHMETIC,
    **outcome: object,
) -> Case:
    return Case(name, category, what, tuple(edits), Outcome(**outcome), assignment)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------- cell texts

LOOP = "while True:\n    pass"
IGNORE_ALARM = "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
OUTPUT_SIZE = "def output_size(input_size, kernel_size, padding=0, stride=1, dilation=1):\n"


def output_size_body(body: str) -> str:
    """An ``output_size`` cell whose function runs ``body`` (indented here)."""
    indented = "\n".join("    " + line for line in body.split("\n"))
    return OUTPUT_SIZE + indented


#: A correct output_size, for cheats that add something to a right answer.
CORRECT_OUTPUT_SIZE = output_size_body(
    "if padding == 'valid':\n    padding = 0\n"
    "if padding == 'same':\n"
    "    if stride != 1:\n        raise ValueError('same needs stride 1')\n"
    "    return input_size\n"
    "for name, v in (('input_size', input_size), ('kernel_size', kernel_size), ('stride', stride),\n"
    "                ('dilation', dilation)):\n"
    "    if isinstance(v, bool) or not isinstance(v, int) or v < 1:\n"
    "        raise ValueError(f'{name}={v!r} must be a positive int')\n"
    "if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:\n"
    "    raise ValueError(f'padding={padding!r} must be a non-negative int')\n"
    "extent = dilation * (kernel_size - 1) + 1\n"
    "if extent > input_size + 2 * padding:\n"
    "    raise ValueError('kernel larger than the padded input')\n"
    "return (input_size + 2 * padding - extent) // stride + 1"
)
WRONG_OUTPUT_SIZE = output_size_body("return 0")

RUNAWAY: list[Case] = [
    case(
        "loop_top_level",
        "runaway",
        "an infinite loop in a cell of its own",
        [insert(LOOP)],
        message="Timeout",
    ),
    case(
        "loop_in_function",
        "runaway",
        "output_size never returns",
        [replace("output_size", output_size_body(LOOP))],
        scores={"output_size": ZERO},
        message="did not finish within",
    ),
    case(
        "loop_ignoring_sigalrm",
        "runaway",
        "a top-level loop that ignores the worker's alarm",
        [insert(IGNORE_ALARM + LOOP)],
        message="ran past its time limit",
    ),
    case(
        "loop_in_function_ignoring_sigalrm",
        "runaway",
        "output_size ignores the alarm and spins",
        [replace("output_size", output_size_body(IGNORE_ALARM + LOOP))],
        scores={"output_size": ZERO},
        message="did not finish within",
    ),
    case(
        "deep_recursion",
        "runaway",
        "output_size recurses without end",
        [replace("output_size", output_size_body("return output_size(input_size, kernel_size)"))],
        scores={"output_size": ZERO},
        message="RecursionError",
    ),
    case(
        "c_stack_overflow",
        "runaway",
        "recursion limit lifted: the C stack overflows",
        [
            replace(
                "output_size",
                "import sys\nsys.setrecursionlimit(10**8)\n"
                + output_size_body("return output_size(input_size, kernel_size) + 1"),
            )
        ],
        scores={"output_size": ZERO},
    ),
    case(
        "memory_bomb_top_level",
        "runaway",
        "allocates 64 GB in a cell",
        [insert("blob = bytearray(64 * 2**30)")],
        message="MemoryError",
    ),
    case(
        "memory_bomb_growing",
        "runaway",
        "grows a list of 64 MB blocks until memory runs out",
        [insert("blocks = []\nwhile True:\n    blocks.append(bytearray(64 * 2**20))")],
        message="MemoryError",
    ),
    case(
        "memory_bomb_in_function",
        "runaway",
        "output_size allocates 64 GB per call",
        [replace("output_size", output_size_body("return len(bytearray(64 * 2**30))"))],
        scores={"output_size": ZERO},
        message="MemoryError",
    ),
    case(
        "process_bomb",
        "runaway",
        "forks 30 times through libc (bypassing the audit hook)",
        [
            insert(
                "import ctypes, time\nlibc = ctypes.CDLL(None)\nfor _ in range(30):\n    libc.fork()\n"
                "time.sleep(3600)"
            )
        ],
        message="Timeout",
    ),
    case(
        "fork_contained",
        "runaway",
        "os.fork and a 100 s subprocess at top level (both stay in the submission's PID namespace)",
        [
            insert(
                "import os, subprocess\ntry:\n    os.fork()\nfinally:\n    subprocess.run(['sleep', '100'])"
            )
        ],
        message="ran past its time limit",
    ),
    case(
        "sleep_forever",
        "runaway",
        "sleeps for a day at top level",
        [insert("import time\ntime.sleep(86400)")],
        message="Timeout",
    ),
    case(
        "sleep_in_function",
        "runaway",
        "output_size sleeps for a day",
        [replace("output_size", output_size_body("import time\ntime.sleep(86400)"))],
        scores={"output_size": ZERO},
        message="did not finish within",
    ),
    case(
        "ignores_sigterm_and_sigalrm",
        "runaway",
        "ignores SIGTERM, SIGALRM, SIGINT, then sleeps",
        [
            insert(
                "import signal, time\nfor s in (signal.SIGTERM, signal.SIGALRM, signal.SIGINT):\n"
                "    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    time.sleep(1)"
            )
        ],
        message="ran past its time limit",
    ),
    case(
        "leftover_threads",
        "runaway",
        "starts non-daemon threads that spin and sleep forever",
        [
            insert(
                "import threading, time\n"
                "threading.Thread(target=lambda: time.sleep(86400)).start()\n"
                "def spin():\n    while True:\n        time.sleep(0.001)\n"
                "threading.Thread(target=spin).start()"
            )
        ],
    ),
]

EXITS: list[Case] = [
    case(
        "sys_exit_top_level",
        "exit",
        "sys.exit(0) in a cell",
        [insert("import sys\nsys.exit(0)")],
        message="SystemExit",
    ),
    case(
        "os_exit_top_level",
        "exit",
        "os._exit(0) in a cell",
        [insert("import os\nos._exit(0)")],
        message="exited with code 0",
    ),
    case(
        "raise_keyboard_interrupt_top_level",
        "exit",
        "raise KeyboardInterrupt in a cell",
        [insert("raise KeyboardInterrupt")],
        message="KeyboardInterrupt",
    ),
    case(
        "raise_system_exit_in_function",
        "exit",
        "output_size raises SystemExit",
        [replace("output_size", output_size_body("raise SystemExit(0)"))],
        scores={"output_size": ZERO},
        message="SystemExit",
    ),
    case(
        "keyboard_interrupt_in_function",
        "exit",
        "output_size raises KeyboardInterrupt",
        [replace("output_size", output_size_body("raise KeyboardInterrupt"))],
        scores={"output_size": ZERO},
        message="KeyboardInterrupt",
    ),
    case(
        "os_exit_in_function",
        "exit",
        "output_size calls os._exit(3)",
        [replace("output_size", output_size_body("import os\nos._exit(3)"))],
        scores={"output_size": ZERO},
        message="exited with code 3",
    ),
    case(
        "segfault_top_level",
        "exit",
        "ctypes.string_at(0) in a cell",
        [insert("import ctypes\nctypes.string_at(0)")],
        message="SIGSEGV",
    ),
    case(
        "segfault_in_function",
        "exit",
        "output_size dereferences NULL through ctypes",
        [replace("output_size", output_size_body("import ctypes\nreturn ctypes.string_at(0)"))],
        scores={"output_size": ZERO},
        message="SIGSEGV",
    ),
]

FLOODS: list[Case] = [
    case(
        "stdout_flood",
        "flood",
        "writes 100 MB to stdout",
        [insert("import sys\nchunk = 'x' * 2**20\nfor _ in range(100):\n    sys.stdout.write(chunk)")],
        message="printed more than",
    ),
    case(
        "stderr_flood",
        "flood",
        "writes 100 MB to stderr (file descriptor 2)",
        [insert("import os\nchunk = b'e' * 2**20\nfor _ in range(100):\n    os.write(2, chunk)")],
        message="printed more than",
    ),
    case(
        "huge_exception_message",
        "flood",
        "output_size raises a 10 MB message",
        [replace("output_size", output_size_body("raise ValueError('why ' * 2_500_000)"))],
        scores={"output_size": ZERO},
        message="ValueError: why why",
    ),
    case(
        "unprintable_exception",
        "flood",
        "an exception whose __str__ raises",
        [
            replace(
                "output_size",
                "class Weird(Exception):\n    def __str__(self):\n        raise RuntimeError\n"
                + output_size_body("raise Weird()"),
            )
        ],
        scores={"output_size": ZERO},
        message="could not be printed",
    ),
    case(
        "control_characters_in_message",
        "flood",
        "surrogates, NUL, ANSI escapes and HTML in a message",
        [
            replace(
                "output_size",
                output_size_body("raise ValueError('\\udcff\\x00\\x1b[31m<script>alert(1)</script>' * 3)"),
            )
        ],
        scores={"output_size": ZERO},
        message="ValueError",
    ),
    case(
        "control_characters_in_a_cell",
        "flood",
        "a cell raises a message with NUL, a terminal escape and a newline",
        [insert("raise RuntimeError('\\x00\\x1b[2J\\nrm -rf /')")],
        message="RuntimeError: \\x00\\x1b[2J rm -rf /",
    ),
    case(
        "exception_at_top_level_huge",
        "flood",
        "a cell raises a 10 MB message",
        [insert("raise RuntimeError('boom ' * 2_000_000)")],
        message="RuntimeError: boom boom",
    ),
]

SOURCE_NOTEBOOK = "{course}/source/conv_arithmetic/conv_arithmetic.ipynb"
CHEATS: list[Case] = [
    case(
        "import_course_lib",
        "cheat",
        "output_size is course_lib's",
        [replace("output_size", "from course_lib.arithmetic import output_size")],
        scores={"output_size": ZERO},
        message="output_size",
        flag="tried to import",
    ),
    case(
        "import_course_lib_from_its_folder",
        "cheat",
        "course root put on sys.path, then imported",
        [
            replace(
                "output_size",
                "import sys\nsys.path.insert(0, '{course}')\n"
                "import course_lib.arithmetic as ref\n"
                + output_size_body(
                    "return ref.output_size(input_size, kernel_size, padding, stride, dilation)"
                ),
            )
        ],
        scores={"output_size": ZERO},
        flag="tried to import",
    ),
    case(
        "exec_course_lib_file",
        "cheat",
        "reads course_lib/arithmetic.py and executes it",
        [replace("output_size", "exec(open('{course}/course_lib/arithmetic.py').read())")],
        scores={"output_size": ZERO},
        message=NOT_VISIBLE,
    ),
    case(
        "patch_autograder_check",
        "cheat",
        "wrong answer + replaces autograder.check",
        [
            replace(
                "output_size",
                "import autograder\n"
                "full = {'output_size': 5, 'receptive_field': 4, 'conv2d_params': 2}\n"
                "autograder.check = lambda name, f: full[name]\n" + WRONG_OUTPUT_SIZE,
            )
        ],
        scores={"output_size": ZERO},
        flag="tried to import",
    ),
    case(
        "patch_numpy",
        "cheat",
        "wrong answer + numpy comparisons that always agree",
        [
            replace(
                "output_size",
                "import numpy as np\nnp.array_equal = np.allclose = lambda *a, **k: True\n"
                "np.testing.assert_allclose = np.testing.assert_array_equal = lambda *a, **k: None\n"
                "np.isclose = lambda a, b, *x, **k: np.ones(np.shape(a), bool)\n" + WRONG_OUTPUT_SIZE,
            )
        ],
        scores={"output_size": ZERO},
    ),
    case(
        "patch_builtins",
        "cheat",
        "wrong answer + isinstance/len/round that lie (the worker itself breaks)",
        [
            replace(
                "output_size",
                "import builtins\nbuiltins.isinstance = lambda *a: True\n"
                "builtins.len = lambda *a: 0\nbuiltins.round = lambda *a, **k: 0\n" + WRONG_OUTPUT_SIZE,
            )
        ],
        scores={"output_size": ZERO},
        message="WorkerDied",
    ),
    case(
        "patch_hypothesis",
        "cheat",
        "wrong answer + hypothesis made to test nothing",
        [
            replace(
                "output_size",
                "import hypothesis\nfrom hypothesis import strategies as st\n"
                "hypothesis.given = lambda *a, **k: (lambda f: f)\nst.integers = lambda *a, **k: st.just(1)\n"
                + WRONG_OUTPUT_SIZE,
            )
        ],
        scores={"output_size": ZERO},
    ),
    case(
        "eq_always_true",
        "cheat",
        "returns an object equal to everything",
        [
            replace(
                "output_size",
                "class Anything(int):\n    def __eq__(self, other):\n        return True\n"
                "    __hash__ = int.__hash__\n"
                "class Liar:\n    def __eq__(self, other):\n        return True\n"
                "    def __int__(self):\n        return 0\n" + output_size_body("return Liar()"),
            )
        ],
        scores={"output_size": ZERO},
        message="unsupported return type",
    ),
    case(
        "array_always_agrees",
        "cheat",
        "an ndarray subclass whose == and allclose always agree",
        [
            replace(
                "output_size",
                "import numpy as np\nclass Agree(np.ndarray):\n"
                "    def __eq__(self, other):\n        return np.ones(np.shape(other), bool)\n"
                "    def __array__(self, *a, **k):\n        return np.asarray(0)\n"
                + output_size_body("return np.zeros(()).view(Agree)"),
            )
        ],
        scores={"output_size": ZERO},
    ),
    case(
        "right_then_wrong",
        "cheat",
        "right for the first 12 calls (the worked examples), then wrong",
        [
            replace(
                "output_size",
                "calls = [0]\n_right = None\n"
                + CORRECT_OUTPUT_SIZE.replace("def output_size(", "def _right(")
                + "\n"
                + output_size_body(
                    "calls[0] += 1\n"
                    "return _right(input_size, kernel_size, padding, stride, dilation) + (calls[0] > 12)"
                ),
            )
        ],
        scores={"output_size": (0.0, 2.5)},
        message="FAILED",
    ),
    case(
        "read_source_notebook",
        "cheat",
        "reads the instructor's source notebook and runs its solution",
        [
            replace(
                "output_size",
                "import json\nnb = json.load(open('" + SOURCE_NOTEBOOK + "'))\n"
                "exec(''.join(nb['cells'][3]['source']))",
            )
        ],
        scores={"output_size": ZERO},
        message=NOT_VISIBLE,
    ),
    case(
        "read_other_assignment_solutions",
        "cheat",
        "reads another assignment's source (solutions)",
        [insert("text = open('{course}/source/backprop_conv_pool/backprop_conv_pool.ipynb').read()")],
        message=NOT_VISIBLE,
    ),
    case(
        "read_git_history",
        "cheat",
        "reads the course's git history (which holds the solutions)",
        [insert("text = open('{course}/.git/HEAD').read()")],
        message=NOT_VISIBLE,
    ),
    case(
        "always_raises_value_error",
        "cheat",
        "output_size raises ValueError on every call",
        [replace("output_size", output_size_body("raise ValueError('invalid')"))],
        scores={"output_size": ZERO},
        message="not credited",
    ),
    case(
        "read_grader_items",
        "cheat",
        "reads the hidden tests (autograder/items/conv_arithmetic.py)",
        [insert("text = open('{course}/autograder/items/conv_arithmetic.py').read()")],
        message=NOT_VISIBLE,
    ),
    case(
        "write_output_folder",
        "cheat",
        "writes a results.json for itself and another student",
        [
            insert(
                "import os, json\nfor who in ('write_output_folder', 'control_solution', 'intruder'):\n"
                "    try:\n        os.makedirs('{out}/' + who, exist_ok=True)\n"
                "    except OSError:\n        pass\n"
                "    with open('{out}/' + who + '/results.json', 'w') as f:\n"
                "        json.dump({'score': 1000}, f)"
            )
        ],
        message="",  # the output folder is not there: check_nothing_left_behind shows nothing reached it
    ),
    case(
        "read_environment_secrets",
        "cheat",
        "puts the grader's environment in its error messages",
        [
            replace(
                "output_size",
                "import os\nfound = repr(dict(os.environ))\n"
                "for pid in ('1', str(os.getppid())):\n    try:\n"
                "        found += open('/proc/' + pid + '/environ').read()\n"
                "    except OSError:\n        pass\n" + output_size_body("raise ValueError(found)"),
            )
        ],
        scores={"output_size": ZERO},
        message="ValueError",
    ),
    case(
        "network_connection",
        "cheat",
        "connects to a server on the grader's machine",
        [
            insert(
                "import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
                "s.sendall(b'answers please')"
            )
        ],
        message="Network is unreachable",
    ),
    case(
        "edit_test_cell",
        "cheat",
        "stub + the hidden test cell replaced to print full marks",
        [
            replace("output_size", OUTPUT_SIZE + "    raise NotImplementedError()"),
            replace("test_output_size", "print('5 points')\n5"),
        ],
        scores={"output_size": ZERO},
        flag="test cell 'test_output_size' was edited",
    ),
    case(
        "metadata_points",
        "cheat",
        "test cell points raised from 5 to 500",
        [meta("test_output_size", "points", 500)],
        flag="points: 5 -> 500",
    ),
    case(
        "metadata_grade_flag",
        "cheat",
        "a graded test cell marked ungraded, a solution cell marked graded",
        [
            meta("test_receptive_field", "grade", False),
            meta("output_size", "grade", True),
            meta("output_size", "points", 50),
        ],
        flag="grade: True -> False",
    ),
    case(
        "delete_test_cells",
        "cheat",
        "deletes every hidden test cell",
        [Edit("delete", g) for g in ("test_output_size", "test_receptive_field", "test_conv2d_params")],
        flag="was deleted",
    ),
    case(
        "edit_locked_setup",
        "cheat",
        "rewrites the locked setup cell to redefine numpy",
        [replace("setup", "import math\nclass np:\n    pass")],
        flag="locked cell 'setup' was edited",
    ),
]

BROKEN: list[Case] = [
    case(
        "invalid_json",
        "broken",
        "the file is cut in half",
        [Edit("file", text="truncated")],
        others="zero",
        message="not valid JSON",
    ),
    case(
        "nbformat_3",
        "broken",
        "an nbformat 3 notebook",
        [Edit("file", text="nbformat3")],
        others="zero",
        message="nbformat 3",
    ),
    case(
        "missing_solution_cell",
        "broken",
        "the output_size cell is deleted",
        [Edit("delete", "output_size")],
        scores={"output_size": ZERO},
        message="missing",
    ),
    case(
        "duplicated_solution_cell",
        "broken",
        "the receptive_field cell appears twice (graded on what it defines at its test cell, flagged)",
        [Edit("duplicate", "receptive_field")],
        flag="solution cell 'receptive_field' appears 2 times",
    ),
    case(
        "solution_cell_as_markdown",
        "broken",
        "the conv2d_params cell became markdown",
        [Edit("cell_type", "conv2d_params", "markdown")],
        scores={"conv2d_params": ZERO},
        message="changed to a markdown cell",
    ),
    case("empty_file", "broken", "0 bytes", [Edit("file", text="empty")], others="zero", message="empty"),
    case(
        "notebook_without_cells",
        "broken",
        "a valid notebook with no cells",
        [Edit("file", text="no_cells")],
        others="zero",
        message="missing",
    ),
    case(
        "huge_notebook",
        "broken",
        "a 50 MB notebook",
        [Edit("file", text="huge")],
        others="zero",
        message="over the limit",
    ),
    case(
        "binary_garbage",
        "broken",
        "random bytes",
        [Edit("file", text="garbage")],
        others="zero",
        message="not a text file",
    ),
    case(
        "json_not_a_notebook",
        "broken",
        "a JSON list",
        [Edit("file", text="json_list")],
        others="zero",
        message="not a Jupyter notebook",
    ),
    case(
        "schema_invalid",
        "broken",
        "a cell of type 'banana'",
        [Edit("file", text="banana")],
        others="zero",
        message="not a valid notebook",
    ),
    case(
        "syntax_error",
        "broken",
        "output_size does not parse",
        [replace("output_size", OUTPUT_SIZE + "    return (input_size +")],
        scores={"output_size": ZERO},
        message="SyntaxError",
    ),
]

WRONG: list[Case] = [
    case(
        "returns_nan",
        "wrong",
        "output_size returns NaN",
        [replace("output_size", output_size_body("return float('nan')"))],
        scores={"output_size": ZERO},
        message="nan",
    ),
    case(
        "returns_inf",
        "wrong",
        "output_size returns inf",
        [replace("output_size", output_size_body("return float('inf')"))],
        scores={"output_size": ZERO},
        message="inf",
    ),
    case(
        "returns_none",
        "wrong",
        "output_size returns None",
        [replace("output_size", output_size_body("pass"))],
        scores={"output_size": ZERO},
        message="None",
    ),
    case(
        "returns_string",
        "wrong",
        "conv2d_params returns a string",
        [
            replace(
                "conv2d_params",
                "def conv2d_params(in_channels, out_channels, kernel_size, bias=True):\n"
                "    return str(kernel_size ** 2 * in_channels * out_channels + out_channels * bias)",
            )
        ],
        scores={"conv2d_params": ZERO},
        message="str",
    ),
    case(
        "returns_list",
        "wrong",
        "receptive_field returns a one-element list",
        [
            replace(
                "receptive_field",
                "def receptive_field(kernel_sizes, strides=None, dilations=None):\n"
                "    return [1 + sum(k - 1 for k in kernel_sizes)]",
            )
        ],
        scores={"receptive_field": ZERO},
        message="got a list",
    ),
    case(
        "mutates_input_list",
        "wrong",
        "receptive_field empties the caller's list",
        [
            replace(
                "receptive_field",
                "def receptive_field(kernel_sizes, strides=None, dilations=None):\n"
                "    rf, jump = 1, 1\n    strides = strides or [1] * len(kernel_sizes)\n"
                "    dilations = dilations or [1] * len(kernel_sizes)\n"
                "    while kernel_sizes:\n"
                "        k, s, d = kernel_sizes.pop(0), strides.pop(0), dilations.pop(0)\n"
                "        rf += (k - 1) * d * jump\n        jump *= s\n    return rf",
            )
        ],
        scores={"receptive_field": (0.0, 3.99)},
    ),
    case(
        "numerical_gradient_mutates_x",
        "wrong",
        "numerical_gradient leaves x nudged",
        [
            LEAN,
            replace(
                "numerical_gradient",
                "import numpy as np\ndef numerical_gradient(f, x, eps=1e-5):\n    grad = np.zeros(x.shape)\n"
                "    for i in np.ndindex(x.shape):\n        old = x[i]\n        x[i] = old + eps\n"
                "        up = f(x)\n        x[i] = old - eps\n        grad[i] = (up - f(x)) / (2 * eps)\n"
                "    return grad",
            ),
        ],
        BACKPROP,
        scores={"numerical_gradient": (0.5, 3.99)},
        message="x: at",
    ),
    case(
        "relu_backward_wrong_shape",
        "wrong",
        "relu_backward returns a flat array",
        [LEAN, replace("relu_backward", "def relu_backward(dout, x):\n    return (dout * (x > 0)).ravel()")],
        BACKPROP,
        scores={"relu_backward": (0.0, 1.0)},
        message="shape",
    ),
    case(
        "relu_backward_int_dtype",
        "wrong",
        "relu_backward rounds to integers",
        [
            LEAN,
            replace("relu_backward", "def relu_backward(dout, x):\n    return (dout * (x > 0)).astype(int)"),
        ],
        BACKPROP,
        scores={"relu_backward": (0.0, 2.99)},
        message="FAILED",
    ),
    case(
        "relative_error_nan",
        "wrong",
        "relative_error divides 0 by 0",
        [
            LEAN,
            replace(
                "relative_error",
                "import numpy as np\ndef relative_error(a, b):\n"
                "    return float(np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b)))",
            ),
        ],
        BACKPROP,
        scores={"relative_error": (0.0, 2.99)},
        message="nan",
    ),
]

CONTROLS: list[Case] = [
    case("control_solution", "control", "the instructor's solution", []),
    case("control_backprop", "control", "the instructor's solution", [LEAN], BACKPROP),
    case(
        "control_stub",
        "control",
        "the release as handed out (stubs)",
        [
            replace(g, f"def {g}(*args, **kwargs):\n    raise NotImplementedError()")
            for g in ("output_size", "receptive_field", "conv2d_params")
        ],
        others="zero",
        message="NotImplementedError",
    ),
]

CORPUS: list[Case] = [*RUNAWAY, *EXITS, *FLOODS, *CHEATS, *BROKEN, *WRONG]
CASES: dict[str, Case] = {c.name: c for c in [*CORPUS, *CONTROLS]}
assert len(CASES) == len(CORPUS) + len(CONTROLS), "case names must be unique"


# ----------------------------------------------------------------------------------- building


def _file_bytes(kind: str, solved: NotebookNode) -> bytes:
    text = nbformat.writes(solved)
    if kind == "truncated":
        return text[: len(text) // 2].encode()
    if kind == "nbformat3":
        return json.dumps(
            {
                "nbformat": 3,
                "nbformat_minor": 0,
                "metadata": {},
                "worksheets": [
                    {"cells": [{"cell_type": "code", "input": "x = 1", "language": "python", "outputs": []}]}
                ],
            }
        ).encode()
    if kind == "empty":
        return b""
    if kind == "no_cells":
        return nbformat.writes(nbformat.v4.new_notebook()).encode()
    if kind == "huge":
        big = nbformat.v4.new_markdown_cell("x" * (50 * 2**20))
        return nbformat.writes(nbformat.v4.new_notebook(cells=[*solved.cells, big])).encode()
    if kind == "garbage":
        return bytes((i * 7919 + 13) % 256 for i in range(100_000))
    if kind == "json_list":
        return b"[1, 2, 3]"
    if kind == "banana":
        raw = json.loads(text)
        raw["cells"][0]["cell_type"] = "banana"
        return json.dumps(raw).encode()
    raise ValueError(f"unknown file kind {kind!r}")


def _index(notebook: NotebookNode, grade_id: str) -> int:
    for i, cell in enumerate(notebook.cells):
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return i
    raise KeyError(f"no cell with grade_id {grade_id!r}")


def build(case: Case, context: Context) -> bytes:
    """The submitted file of ``case``: the solved release notebook with the case's edits."""
    notebook = submission(case.assignment, SOLVED, context.course)
    for edit in case.edits:
        if edit.kind == "file":
            return _file_bytes(edit.text, notebook)
        if edit.kind == "lean":
            notebook.cells = [
                c for c in notebook.cells if c.cell_type != "code" or c.get("metadata", {}).get("nbgrader")
            ]
            continue
        i = _index(notebook, edit.grade_id)
        cell = notebook.cells[i]
        if edit.kind == "replace":
            cell.source = context.fill(edit.text)
        elif edit.kind == "insert":
            notebook.cells.insert(i + 1, nbformat.v4.new_code_cell(context.fill(edit.text)))
        elif edit.kind == "delete":
            del notebook.cells[i]
        elif edit.kind == "duplicate":
            copy = nbformat.from_dict(json.loads(json.dumps(cell)))
            copy.pop("id", None)
            notebook.cells.insert(i + 1, copy)
        elif edit.kind == "cell_type":
            new = nbformat.v4.new_markdown_cell(cell.source, metadata=cell.metadata)
            notebook.cells[i] = new
        elif edit.kind == "meta":
            cell.metadata.nbgrader[edit.key] = edit.value
    for cell in notebook.cells:  # new and copied cells need their own ids
        cell.pop("id", None)
    notebook.nbformat_minor = 4
    return nbformat.writes(notebook).encode("utf-8")


def write_corpus(cases: Sequence[Case], folder: Path, context: Context) -> dict[str, Path]:
    """Each case as ``folder/<assignment>/<name>.ipynb``; returns ``{name: path}``."""
    paths = {}
    for c in cases:
        path = folder / c.assignment / f"{c.name}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(build(c, context))
        paths[c.name] = path
    return paths
