"""The sandboxed worker: isolation, limits, timeouts, crashes and floods never reach the grader.

The functional tests run at the ``namespaces`` level (the default) and, where the behaviour must not
depend on the level, at ``none`` too. ``tests/hardening/`` attacks the sandbox as root and as an
ordinary user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from autograder.invoke import StudentError, StudentTimeout
from autograder.sandbox import Limits, Session
from autograder.sandbox import invoker as sandbox_invoker
from autograder.sandbox.invoker import SandboxInvoker
from autograder.sandbox.zygote import Zygote

FAST = Limits(call_timeout=1.0, cell_timeout=1.5, submission_timeout=60.0)


@pytest.fixture(scope="module", params=["namespaces", "none"])
def level(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def session(level: str) -> Iterator[Session]:
    s = Session(level, limits=FAST).start()
    yield s
    s.close()


@pytest.fixture(scope="module")
def ns_session() -> Iterator[Session]:
    s = Session("namespaces", limits=FAST).start()
    yield s
    s.close()


@pytest.fixture(scope="module")
def zygote(session: Session) -> Iterator[Zygote]:
    z = Zygote(session, preload=("numpy",), wait=True)
    yield z
    z.close()


@pytest.fixture(scope="module")
def ns_zygote(ns_session: Session) -> Iterator[Zygote]:
    z = Zygote(ns_session, preload=("numpy",), wait=True)
    yield z
    z.close()


@pytest.fixture(autouse=True)
def short_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox_invoker, "GRACE_SECONDS", 0.5)


def cells(*sources: str) -> list[tuple[int, str]]:
    return list(enumerate(sources))


def run(zygote: Zygote, sources: Sequence[str], limits: Limits = FAST) -> SandboxInvoker:
    invoker = SandboxInvoker(
        cells(*sources), session=zygote.session, zygote=zygote, limits=limits, probes_source=""
    )
    invoker.start()
    return invoker


def errors(invoker: SandboxInvoker) -> list[str | None]:
    return [None if o.error is None else o.error[0] for _, o in sorted(invoker.outcomes.items())]


def processes_of_session(sid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[3]) == sid:
                found.append(int(entry))
    return found


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (by parent links in /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@pytest.mark.parametrize("own_zygote", [False, True], ids=["shared zygote", "own zygote"])
def test_cells_run_in_order_and_calls_return_plain_values(zygote: Zygote, own_zygote: bool) -> None:
    with SandboxInvoker(
        cells(
            "import numpy as np", "def double(x):\n    return np.asarray(x) * 2", "raise ValueError('cell 2')"
        ),
        session=zygote.session,
        zygote=None if own_zygote else zygote,
        limits=FAST,
        probes_source="",
    ) as invoker:
        assert errors(invoker) == [None, None, "ValueError"]
        assert invoker.outcomes[2].error == ("ValueError", "cell 2")
        got = invoker.call("double", (np.arange(3.0),), {})
        np.testing.assert_array_equal(got, [0.0, 2.0, 4.0])
        with pytest.raises(StudentError, match="NameError"):
            invoker.call("missing", (), {})


def test_grader_packages_cannot_be_imported_or_read(zygote: Zygote) -> None:
    import course_lib

    root = str(Path(course_lib.__file__).resolve().parents[1])
    with run(
        zygote,
        [
            "import course_lib",
            "import autograder.items",
            f"import sys\nsys.path.insert(0, {root!r})\nimport course_lib",
            f"text = open({course_lib.__file__!r}).read()",
            "import numpy",
        ],
    ) as invoker:
        refused = "FileNotFoundError" if zygote.session.level == "namespaces" else "PermissionError"
        assert errors(invoker) == ["ModuleNotFoundError"] * 3 + [refused, None]
    assert "import course_lib" in invoker.attempts


def test_environment_is_scrubbed_and_workdir_is_private(
    zygote: Zygote, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRADER_SECRET", "hunter2")
    invoker = run(
        zygote,
        [
            "import os\nenv = dict(os.environ)\nhome = os.getcwd()\nopen('scratch.txt', 'w').write('ok')",
            "def env_of(name):\n    return env.get(name)",
            "def cwd():\n    return home",
        ],
    )
    assert invoker.call("env_of", ("GRADER_SECRET",), {}) is None
    assert invoker.call("env_of", ("NBGRADER_EXECUTION",), {}) == "autograde"
    assert invoker.call("env_of", ("OMP_NUM_THREADS",), {}) == "1"
    workdir = invoker.call("cwd", (), {})
    assert invoker.call("env_of", ("HOME",), {}) == workdir
    invoker.close()
    if zygote.session.level == "namespaces":
        assert workdir == "/home/student"  # on the worker's own tmpfs, gone with its namespaces
    else:
        assert not Path(workdir).exists()


def test_the_sandbox_shows_only_python_data_and_its_own_folder(ns_zygote: Zygote) -> None:
    """Every file a worker can see, listed: no file of the course tree, /root or the grader."""
    import autograder

    course = Path(autograder.__file__).resolve().parents[1]
    lister = (
        "import os\n"
        "def visible(allowed, names):\n"
        "    count, outside, suspicious = 0, [], []\n"
        "    for top in sorted(os.listdir('/')):\n"
        "        if top in ('proc', 'dev') or os.path.islink('/' + top):\n"
        "            continue\n"
        "        for folder, dirs, files in os.walk('/' + top):\n"
        "            for name in files:\n"
        "                path = os.path.join(folder, name)\n"
        "                count += 1\n"
        "                if not path.startswith(tuple(allowed)):\n"
        "                    outside.append(path)\n"
        "                if any(word in path for word in ('course_lib', '/autograder/', *names)):\n"
        "                    suspicious.append(path)\n"
        "    return [count, outside, suspicious]\n"
    )
    python = os.path.realpath(os.sys.base_prefix)
    allowed = ["/usr/", "/etc/", python + "/", "/opt/site/", *(d + "/" for d in ns_zygote.session.data)]
    with run(ns_zygote, [lister], Limits(call_timeout=60.0, cell_timeout=60.0)) as invoker:
        names = sorted(p.name for p in (course / "source").iterdir())  # the assignments' folders
        count, outside, suspicious = invoker.call("visible", (allowed, names), {})
    assert count > 1000, "the worker should see the Python installation"
    # /etc holds only the few files the sandbox provides; nothing else exists outside these folders
    assert outside == []
    assert suspicious == []  # no grader package, no reference, no assignment's files
    assert not str(course).startswith(tuple(allowed))


def test_pid_network_and_mount_namespaces_are_the_workers_own(ns_zygote: Zygote, tmp_path: Path) -> None:
    marker = tmp_path / "grader-file.txt"
    marker.write_text("secret")
    with run(
        ns_zygote,
        [
            "import os, socket\n"
            "pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
            "ifaces = sorted(os.listdir('/sys/class/net')) if os.path.exists('/sys/class/net') else []\n"
            "try:\n"
            "    socket.create_connection(('127.0.0.1', 9), timeout=1)\n"
            "    net = 'connected'\n"
            "except OSError as e:\n"
            "    net = type(e).__name__\n",
            "def facts():\n"
            f"    return [pids, os.getpid(), net, os.path.exists({str(marker)!r}), os.getuid()]",
        ],
    ) as invoker:
        pids, pid, net, sees_marker, uid = invoker.call("facts", (), {})
    assert pid == 1 and pids == [1]  # alone in its PID namespace: no grader, no other worker
    assert net != "connected"
    assert sees_marker is False
    assert uid == 1000


def test_network_and_writes_outside_the_workdir_fail(zygote: Zygote, tmp_path: Path) -> None:
    with run(
        zygote,
        [
            "import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)",
            f"open({str(tmp_path / 'out.txt')!r}, 'w')",
        ],
    ) as invoker:
        assert None not in errors(invoker)
    assert not (tmp_path / "out.txt").exists()


def test_infinite_loop_in_a_call_times_out_and_other_functions_still_work(zygote: Zygote) -> None:
    with run(zygote, ["def spin(n):\n    while True:\n        pass", "def one():\n    return 1"]) as invoker:
        with pytest.raises(StudentTimeout, match="did not finish within 1 s"):
            invoker.call("spin", (3,), {})
        with pytest.raises(StudentTimeout):  # fails fast, no second wait
            invoker.call("spin", (4,), {})
        assert invoker.call("one", (), {}) == 1


def test_top_level_loop_that_ignores_alarms_is_killed_and_later_cells_still_run(zygote: Zygote) -> None:
    with run(
        zygote,
        [
            "x = 41",
            "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass",
            "def answer():\n    return x + 1",
        ],
    ) as invoker:
        assert errors(invoker) == [None, "Timeout", None]
        assert invoker.call("answer", (), {}) == 42
        assert any("restarted" in e for e in invoker.events)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import sys\nsys.exit(3)", "SystemExit"),
        ("raise KeyboardInterrupt", "KeyboardInterrupt"),
        ("import os\nos._exit(3)", "WorkerDied"),
        ("import ctypes\nctypes.string_at(0)", "WorkerDied"),
    ],
    ids=["sys.exit", "KeyboardInterrupt", "os._exit", "segfault"],
)
def test_exits_and_crashes_in_a_cell_are_recorded_and_grading_continues(
    zygote: Zygote, source: str, expected: str
) -> None:
    with run(zygote, ["y = 2", source, "def f():\n    return y"]) as invoker:
        assert errors(invoker) == [None, expected, None]
        assert invoker.call("f", (), {}) == 2


def test_segfault_inside_a_call_is_a_student_error(zygote: Zygote) -> None:
    with run(
        zygote, ["import ctypes\ndef crash():\n    ctypes.string_at(0)", "def ok():\n    return 'ok'"]
    ) as invoker:
        with pytest.raises(StudentError, match="SIGSEGV"):
            invoker.call("crash", (), {})
        assert invoker.call("ok", (), {}) == "ok"


def test_output_flood_is_bounded(zygote: Zygote) -> None:
    limits = Limits(call_timeout=5.0, cell_timeout=10.0, output_bytes=1000)
    with run(
        zygote,
        ["import sys, os\nfor _ in range(2000):\n    print('x' * 10000)\nos.write(2, b'e' * 10**6)"],
        limits,
    ) as invoker:
        assert errors(invoker) == [None]
    assert invoker.output.startswith("x" * 1000)
    assert "more bytes of output dropped" in invoker.output
    assert len(invoker.output) < 1100


def test_process_bomb_is_contained_and_leaves_no_process(zygote: Zygote) -> None:
    limits = Limits(call_timeout=1.0, cell_timeout=2.0, max_processes=8)
    source = (
        "import ctypes, time\nlibc = ctypes.CDLL(None)\nfor _ in range(30):\n    libc.fork()\ntime.sleep(60)"
    )
    before = descendants(zygote.pid)  # bubblewrap's own PID 1 and the zygote (namespaces), or none
    invoker = run(zygote, ["def f():\n    return 5", source], limits)
    assert errors(invoker) == [None, "Timeout"]
    assert invoker.call("f", (), {}) == 5
    invoker.close()
    deadline = time.monotonic() + 10.0  # killed at once; the zygote reaps the orphans every 0.2 s
    while descendants(zygote.pid) != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert descendants(zygote.pid) == before


def test_memory_bomb_raises_memory_error(zygote: Zygote) -> None:
    with run(zygote, ["blob = bytearray(64 * 2**30)"], Limits(memory_mb=512)) as invoker:
        assert errors(invoker) == ["MemoryError"]


def test_results_that_are_not_plain_data_are_student_errors(zygote: Zygote) -> None:
    with run(
        zygote,
        [
            "import numpy as np\nclass Liar(np.ndarray):\n    def __eq__(self, other):\n        return True",
            "def liar():\n    return np.zeros(2).view(Liar)",
            "def thing():\n    return object()",
        ],
    ) as invoker:
        assert type(invoker.call("liar", (), {})) is np.ndarray
        with pytest.raises(StudentError, match="unsupported return type object"):
            invoker.call("thing", (), {})


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="call_timeout=0"):
        Limits(call_timeout=0)


def test_zygote_is_usable_from_a_forked_grading_process(zygote: Zygote) -> None:
    """Grading processes are forked from the batch parent, which owns the zygote."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        ok = False
        try:
            with SandboxInvoker(
                cells("def f():\n    return 7"),
                session=zygote.session,
                zygote=zygote,
                limits=FAST,
                probes_source="",
            ) as inv:
                ok = zygote.alive() and inv.call("f", (), {}) == 7 and not inv.events
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


FORGER = """
import os, stat
def forge():
    frame = {frame!r}
    for fd in range(3, 64):
        try:
            if fd > 2 and stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.write(fd, frame)
        except OSError:
            pass
    return 1
def honest():
    return 2
"""


def test_a_frame_forged_by_the_student_breaks_the_sequence_and_is_not_believed(zygote: Zygote) -> None:
    from autograder.sandbox import wire

    forged = wire.frame_bytes({"ok": True, "value": ["i", 42], "id": 10**6})
    with run(zygote, [FORGER.format(frame=forged)]) as invoker:
        with pytest.raises(StudentError, match="out of sequence"):
            invoker.call("forge", (), {})
        assert invoker.call("honest", (), {}) == 2


DEEP = """
import os, stat, struct, threading, time
def _flood():
    time.sleep(0.3)
    header = b'[' * 100000 + b']' * 100000
    frame = b'AGW1' + struct.pack('>I', len(header)) + header + struct.pack('>I', 0)
    for fd in range(3, 64):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.write(fd, frame)
        except OSError:
            pass
threading.Thread(target=_flood, daemon=True).start()
def honest():
    time.sleep(1)
    return 2
"""


def test_a_deeply_nested_answer_never_breaks_the_grader_and_the_worker_still_dies(zygote: Zygote) -> None:
    before = descendants(zygote.pid)
    invoker = run(zygote, [DEEP], Limits(call_timeout=3.0, cell_timeout=3.0))
    with pytest.raises(StudentError, match=r"protocol|sequence"):
        invoker.call("honest", (), {})
    invoker.close()  # must not raise
    deadline = time.monotonic() + 3.0
    while descendants(zygote.pid) != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert descendants(zygote.pid) == before


def test_without_a_cgroup_a_submission_is_one_process_with_threads() -> None:
    """No cgroup (an ordinary user without delegation): seccomp refuses new processes, so the
    per-process address-space limit bounds the whole submission; threads still work."""
    limits = Limits(call_timeout=2.0, cell_timeout=3.0, memory_mb=256)
    with Session("namespaces", limits=limits, use_cgroups=False) as session:
        assert session.single_process
        assert any("one process per submission" in m for m in session.mechanisms())
        zygote = Zygote(session, preload=("numpy",), wait=True)
        try:
            with run(
                zygote,
                [
                    "import os\nos.fork()",
                    "import subprocess\nsubprocess.run(['true'])",
                    "import ctypes\nif ctypes.CDLL(None).fork() < 0:\n    raise OSError('libc fork refused')",
                    "import threading\nt = threading.Thread(target=lambda: None)\nt.start()\nt.join()",
                    "blob = bytearray(1024 * 2**20)",
                ],
                limits,
            ) as invoker:
                assert errors(invoker) == [
                    "PermissionError",
                    "PermissionError",
                    "OSError",
                    None,
                    "MemoryError",
                ]
        finally:
            zygote.close()


def test_cells_run_as_jupyter_runs_them(zygote: Zygote) -> None:
    """IPython syntax anywhere in a cell, through IPython's own transformer and magics."""
    with run(
        zygote,
        [
            "import numpy as np\ndef f():\n    return 1",
            "t = %timeit -o -n 1 -r 1 f()\nbest = t.best",
            "np.pad?\nhelped = True",
            "total = 0\nfor i in range(3):\n    %time total += f()",
            "%%time\ntimed_cell = f() + 1",
            "%matplotlib inline\n%load_ext autoreload\n%autoreload 2\nplots = 'agg'",
            "display('shown')\nshown = True",
        ],
        Limits(call_timeout=5.0, cell_timeout=10.0),
    ) as invoker:
        assert errors(invoker) == [None] * 7
        for i, name in enumerate(("best", "helped", "total", "timed_cell", "plots", "shown")):
            invoker.cells.append((100 + i, f"def get_{name}():\n    return {name}"))
        invoker.run_cells(len(invoker.cells))
        assert invoker.call("get_total", (), {}) == 3
        assert invoker.call("get_timed_cell", (), {}) == 2
        assert invoker.call("get_best", (), {}) >= 0
        assert invoker.notes == []
    assert "Signature" in invoker.output or "Docstring" in invoker.output  # np.pad? printed its help


def test_shell_commands_and_program_magics_are_refused_and_the_rest_of_the_cell_runs(zygote: Zygote) -> None:
    with run(
        zygote,
        [
            "!pip install torch\nafter_bang = 1",
            "files = !ls /\nafter_capture = len(files)",
            "%pip install numpy\nafter_pip = 1",
            "%%bash\necho hi > /tmp/x",
            "%%writefile helper.py\nx = 1",
            "import os\nwrote = os.path.exists('helper.py')",
            "def state():\n    return [after_bang, after_capture, after_pip, wrote]",
        ],
    ) as invoker:
        assert errors(invoker) == [None] * 7
        assert invoker.call("state", (), {}) == [1, 0, 1, False]
    notes = "\n".join(invoker.notes)
    # cells counted from 1, as JupyterLab and the grader's "cell N raised" notes count them
    for expected in ("cell 1: `!pip install torch` was not run", "cell 2: `!ls /` was not run",
                     "cell 3: `%pip install numpy` was not run", "cell 4: `%%bash` was not run",
                     "cell 5: `%%writefile helper.py` was not run"):  # fmt: skip
        assert expected in notes, notes


def test_a_named_cell_is_called_by_its_name_in_notes(zygote: Zygote) -> None:
    """A locked cell the grader put back runs at index 1000 + its source index: notes name it."""
    with SandboxInvoker(
        [(0, "x = 1"), (1003, "!ls\ny = 2")],
        session=zygote.session,
        zygote=zygote,
        limits=FAST,
        probes_source="",
        cell_names={1003: "the instructor's cell 'setup' (put back)"},
    ) as invoker:
        assert errors(invoker) == [None, None]
    assert invoker.notes == ["the instructor's cell 'setup' (put back): `!ls` was not run (shell "
                             "commands are not run when grading)"]  # fmt: skip


def test_the_graders_packages_stay_hidden_when_installed_into_site_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A non-editable install puts course_lib and autograder next to numpy: the sandbox covers them."""
    import autograder
    import course_lib
    from autograder.sandbox import session as session_module

    site = tmp_path / "site-packages"
    for package in (course_lib, autograder):
        shutil.copytree(
            Path(package.__file__).parent,
            site / package.__name__,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    (site / "cnn_course-0.1.0.dist-info").mkdir()
    (site / "cnn_course-0.1.0.dist-info" / "top_level.txt").write_text("autograder\ncourse_lib\n")
    (site / "course_paths.pth").write_text(str(Path(autograder.__file__).resolve().parents[1]) + "\n")
    finder = "__editable___cnn_course_0_1_0_finder"  # an editable install's hook, and its compiled copy
    (site / f"{finder}.py").write_text("MAPPING = {'autograder': '/the/course'}\n")
    (site / "__pycache__").mkdir()
    (site / "__pycache__" / f"{finder}.cpython-311.pyc").write_bytes(b"/the/course")
    (site / "__pycache__" / "numpy_helper.cpython-311.pyc").write_bytes(b"")
    real = session_module.site_dirs()
    monkeypatch.setattr(session_module, "site_dirs", lambda: [*real, str(site)])
    with Session("namespaces", limits=FAST) as installed:
        place = installed.site_places()[str(site)]
        zygote = Zygote(installed, preload=("numpy",), wait=True)
        try:
            with run(
                zygote,
                [
                    "import course_lib",
                    f"import sys\nsys.path.insert(0, {place!r})\n"
                    "import importlib\nimportlib.import_module('autograder')",
                    f"import os\nlisted = sorted(os.listdir({place!r}))",
                    f"inside = os.listdir({place!r} + '/course_lib') + os.listdir({place!r} + '/autograder')",
                    f"try:\n    pth = open({place!r} + '/course_paths.pth').read()\n"
                    "except OSError as error:\n    pth = type(error).__name__",
                    "def content(path):\n    try:\n        return open(path, 'rb').read().decode()\n"
                    "    except OSError as error:\n        return type(error).__name__",
                    f"pyc = {place!r} + '/__pycache__/'\n"
                    "cache = {n: content(pyc + n) for n in os.listdir(pyc)}",
                    f"try:\n    open({place!r} + '/course_lib/planted.py', 'w').write('x')\n"
                    "    planted = 'written'\nexcept OSError as error:\n    planted = error.strerror",
                    "def seen():\n    return [listed, inside, pth, cache, planted]",
                ],
            ) as invoker:
                assert errors(invoker) == ["ModuleNotFoundError", "ModuleNotFoundError", *[None] * 7]
                listed, inside, pth, cache, planted = invoker.call("seen", (), {})
                assert errors(invoker)[:2] == ["ModuleNotFoundError", "ModuleNotFoundError"], invoker.outcomes
        finally:
            zygote.close()
    assert "course_lib" in listed  # the name may show (an empty mount point) ...
    assert inside == [] and pth in ("", "PermissionError")  # ... but nothing of it, no path to the course
    assert cache.pop("numpy_helper.cpython-311.pyc") == ""
    assert cache == {f"{finder}.cpython-311.pyc": cache[f"{finder}.cpython-311.pyc"]}
    assert cache[f"{finder}.cpython-311.pyc"] in ("", "PermissionError")  # covered: no path to the course
    assert planted == "Read-only file system"  # a cover is no shared folder for the next submission


STARVED_CELL = """
import os, time
os.sched_setaffinity(0, {{{cpu}}})  # onto the CPU the test keeps busy
start, used = time.monotonic(), time.process_time()
while time.process_time() - used < {work}:  # {work} s of CPU time
    pass
wall = time.monotonic() - start
"""


@pytest.mark.parametrize(("work", "expected"), [(0.5, None), (2.5, "Timeout")], ids=["starved", "too slow"])
def test_time_waiting_for_a_cpu_does_not_count_against_a_cell(
    zygote: Zygote, work: float, expected: str | None
) -> None:
    """A cell that needs 0.5 s of CPU gets a fraction of one (four busy processes on its CPU):
    it runs past its 1.5 s limit on the wall clock, but the kernel's run-queue wait is not its time.
    A cell that needs 2.5 s of CPU times out all the same (oracle: the kernel's accounting)."""
    cpu = min(os.sched_getaffinity(0))
    hogs = [
        subprocess.Popen(
            [sys.executable, "-c", f"import os\nos.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"],
            start_new_session=True,  # each its own scheduling group (autogroup), like the worker
        )
        for _ in range(4)
    ]
    try:
        time.sleep(0.2)
        cell = STARVED_CELL.format(cpu=cpu, work=work)
        with run(zygote, [cell, "def wall_seconds():\n    return wall"]) as invoker:
            assert errors(invoker) == [expected, None], invoker.outcomes
            if expected is None:
                assert invoker.call("wall_seconds", (), {}) > FAST.cell_timeout  # it was starved
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def test_the_zygotes_boot_message_is_not_left_in_the_workers_memory(ns_zygote: Zygote) -> None:
    """The zygote received the grader's modules and the session's paths in one message; after the
    boot nothing reachable from the garbage collector holds them (``gc.unfreeze()`` included)."""
    import autograder

    course = str(Path(autograder.__file__).resolve().parents[1])
    scan = (
        "import gc\n"
        "def holding(reversed_needles):\n"  # reversed: the call's own arguments hold no needle
        "    needles = [n[::-1] for n in reversed_needles]\n"
        "    gc.unfreeze()\n"
        "    found = set()\n"
        "    for obj in gc.get_objects():\n"
        "        if obj is needles:\n"
        "            continue\n"
        "        values = obj.values() if isinstance(obj, dict) else obj\n"
        "        if not isinstance(obj, (dict, list, tuple)):\n"
        "            continue\n"
        "        for value in list(values):\n"
        "            if isinstance(value, str):\n"
        "                found.update(n for n in needles if n in value)\n"
        "    return sorted(found)\n"
    )
    with run(ns_zygote, [scan]) as invoker:
        assert invoker.call("holding", ([n[::-1] for n in ("def start_worker(", course)],), {}) == []


def test_what_a_hostile_worker_answers_is_clipped_before_it_reaches_the_record(zygote: Zygote) -> None:
    """The student's code owns its worker: it can rewrite the answers of later cells (megabytes of
    error text, a duration that is not a number) and its own notes. The grader keeps at most
    MESSAGE_CHARS of each, 30 notes, and never raises."""
    hijack = (
        "import gc\n"
        "server = next(o for o in gc.get_objects() if type(o).__name__ == 'Server')\n"
        "original = server.run_cell\n"
        "def run_cell(source, index, timeout):\n"
        "    reply = original(source, index, timeout)\n"
        "    reply['error'] = {'type': 'E' * 10**6, 'message': 'x' * (5 * 10**6)}\n"
        "    reply['seconds'] = 'not a number'\n"
        "    return reply\n"
        "server.run_cell = run_cell\n"
        "server.notes.extend(['n' * 10**6] * 100)\n"
    )
    invoker = run(zygote, [hijack, "pass"])
    invoker.close()
    kind, message = invoker.outcomes[1].error or ("", "")
    assert len(kind) <= 100 + 40 and len(message) <= sandbox_invoker.MESSAGE_CHARS + 40
    assert message.endswith("more characters cut)") and invoker.outcomes[1].seconds == 0.0
    assert len(invoker.notes) <= 30 and all(
        len(n) <= sandbox_invoker.MESSAGE_CHARS + 40 for n in invoker.notes
    )


def test_only_run_cgroups_of_dead_graders_are_removed_and_a_removed_one_comes_back() -> None:
    """A grader killed with SIGKILL leaves ``autograder-run-<pid>-<n>`` cgroups; the next run removes
    those whose pid is gone, never a live grader's nor a name it did not make. A grader whose run
    cgroup another clean-up removed anyway makes it again for its next worker."""
    from autograder.sandbox import cgroups

    found = cgroups.parents()
    if found is None:
        pytest.skip("no writable cgroup v1 hierarchy here")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # its pid names a grader that is gone
    names = [
        f"{cgroups.RUN_PREFIX}{gone.pid}-0",
        f"{cgroups.RUN_PREFIX}{os.getpid()}-99",
        f"{cgroups.RUN_PREFIX}x",
    ]
    for parent in found.values():
        for name in names:
            (parent / name).mkdir()
    tree = cgroups.CgroupTree.create()
    assert tree is not None
    try:
        for parent in found.values():
            assert (
                not (parent / names[0]).exists()
                and (parent / names[1]).is_dir()
                and (parent / names[2]).is_dir()
            )
        for run in tree.runs.values():
            run.rmdir()  # what another grader's (older) clean-up did
        worker = tree.worker(memory_mb=256, max_processes=4)
        assert all(folder.is_dir() for folder in worker.folders.values())
        worker.close_fds()
        worker.remove()
    finally:
        tree.close()
        for parent in found.values():
            for name in names[1:]:
                (parent / name).rmdir()


def test_the_guard_lets_installed_packages_be_read_inside_a_forbidden_course(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At the uid and none levels the in-process guard refuses the course folder; a virtualenv
    inside the course checkout (how CI and developers set up) must stay readable, or IPython's lazy
    imports fail and every cell raises (the hardening benchmark graded everything 0 at ``none``)."""
    from autograder.sandbox.worker import Guard

    course = tmp_path / "course"
    site = course / ".venv" / "lib" / "python3.11" / "site-packages"
    for path in ("IPython/core/logger.py", "autograder/grade.py", "cnn_course-0.1.0.dist-info/RECORD"):
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_text("")
    (course / "source").mkdir()
    (course / "source" / "solution.ipynb").write_text("{}")
    monkeypatch.setattr(sys, "path", [*sys.path, str(site)])
    guard = Guard(
        str(tmp_path / "work"), [str(course)], ["autograder", "course_lib", "cnn_course"], audit=True
    )
    guard.active = True
    guard.audit("open", (str(site / "IPython/core/logger.py"), "r", 0))  # allowed
    refused = [
        (str(site / "IPython/core/logger.py"), "w"),
        (str(site / "autograder/grade.py"), "r"),
        (str(site / "cnn_course-0.1.0.dist-info/RECORD"), "r"),
        (str(course / "source" / "solution.ipynb"), "r"),
    ]
    for path, mode in refused:
        with pytest.raises(PermissionError):
            guard.audit("open", (path, mode, 0))
