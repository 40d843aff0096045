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
    deadline = time.monotonic() + 3.0  # killed at once; the zygote reaps the orphans within 0.2 s
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
                    "def seen():\n    return [listed, inside, pth]",
                ],
            ) as invoker:
                listed, inside, pth = invoker.call("seen", (), {})
                assert errors(invoker)[:2] == ["ModuleNotFoundError", "ModuleNotFoundError"]
        finally:
            zygote.close()
    assert "course_lib" in listed  # the name may show (an empty mount point) ...
    assert inside == [] and pth in ("", "PermissionError")  # ... but nothing of it, no path to the course


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
