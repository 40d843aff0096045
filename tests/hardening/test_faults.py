"""Faults around a batch: a worker killed mid-grade, the grader killed and restarted, an output folder
that cannot be written or fills up. Grades are records: none may be lost, half written or regraded."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest

from autograder import grade
from autograder import notebook as nb
from autograder.__main__ import main
from autograder.demo import Student, submission
from autograder.sandbox import RUN_LOCK, RUN_PREFIX, remove_stale_runs, run_folder
from benchmarks.bench_hardening import processes_using
from tests.hardening.grading import LIMITS, descendants, grade_folder, hardened, settings, zygote_pid

ASSIGNMENT = "conv_arithmetic"
SOURCE = grade.COURSE_ROOT / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
FULL = sum(points for _, points in nb.plan(nb.load_source(SOURCE), nb.load_source(SOURCE)).items)
BUGGY = Student("buggy", edits=(("output_size", "- extent) // stride + 1", "- extent) / stride + 1"),))


def write(folder: Path, name: str, student: Student, pause: float = 0.0) -> Path:
    """A submission; ``pause`` adds a cell that sleeps (to keep a batch busy for a while)."""
    notebook = submission(ASSIGNMENT, student)
    if pause:
        notebook.cells.insert(2, nbformat.v4.new_code_cell(f"import time\ntime.sleep({pause})"))
        for cell in notebook.cells:
            cell.pop("id", None)
        notebook.nbformat_minor = 4
    path = folder / f"{name}.ipynb"
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


def finished(out: Path) -> dict[str, float]:
    """``{student: total}`` of every complete record; fails on any half-written result file."""
    totals = {}
    for folder in sorted(p for p in out.iterdir() if p.is_dir()):
        for name in ("results.json", grade.RECORD):
            if (folder / name).exists():
                json.loads((folder / name).read_text())  # complete JSON, never a fragment
        if (folder / grade.RECORD).exists():
            assert (folder / "results.json").is_file()  # the record is written last
            totals[folder.name] = json.loads((folder / grade.RECORD).read_text())["total"]
    return totals


def test_a_worker_killed_mid_grade_costs_nothing_and_is_reported(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    write(subs, "victim", Student("victim"), pause=1.5)
    with hardened(tmp_path) as tmp:
        session = settings(ASSIGNMENT, tmp_path / "out", [subs]).session()
        zygotes = grade.start_zygotes(session, SOURCE, 1)
        zygotes[0].wait_ready()
        before = set(descendants(zygote_pid(zygotes[0])))  # bubblewrap and the zygote itself
        killed: list[int] = []

        def killer() -> None:  # SIGKILL the first worker once it sits in the sleeping cell
            deadline = time.monotonic() + 60
            while not killed and time.monotonic() < deadline:
                workers = [p for p in descendants(zygote_pid(zygotes[0])) if p not in before]
                if workers:
                    time.sleep(0.8)
                    try:
                        os.kill(workers[-1], signal.SIGKILL)  # the worker itself (below its parent)
                    except ProcessLookupError:  # a short-lived process of the zygote, not the worker
                        continue
                    killed.append(workers[-1])
                time.sleep(0.05)

        thread = threading.Thread(target=killer)
        thread.start()
        try:
            totals = grade_folder(
                subs, ASSIGNMENT, tmp_path / "out", jobs=1, zygotes=zygotes, session=session
            )
        finally:
            thread.join()
            for zygote in zygotes:
                zygote.close()
            session.close()
        assert os.listdir(tmp) == []
    assert killed
    assert totals == {"victim": FULL}  # the killed cell is skipped, the worker restarted
    notes = json.loads((tmp_path / "out" / "victim" / grade.RECORD).read_text())["notes"]
    assert any("SIGKILL" in note for note in notes), notes


def run_cli(subs: Path, out: Path, tmp: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "autograder", "grade", str(subs), "--assignment", ASSIGNMENT,
               "--out", str(out), "--jobs", "2", "--quiet", "--call-timeout", str(LIMITS.call_timeout),
               "--cell-timeout", "5"]  # fmt: skip
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.Popen(
        command, cwd=grade.COURSE_ROOT, env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_an_interrupted_batch_restarts_without_regrading_or_half_written_files(tmp_path: Path) -> None:
    subs, out, tmp = tmp_path / "subs", tmp_path / "out", tmp_path / "tmp"
    tmp.mkdir()
    expected = {}
    for i in range(8):
        student = (Student(f"s{i}"), Student(f"s{i}", stub=True), BUGGY)[i % 3]
        write(subs, f"s{i}", student, pause=0.6)
        expected[f"s{i}"] = (FULL, 0.0, None)[i % 3]
    proc = run_cli(subs, out, tmp)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(out.glob("*/grading.json"))) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole grader, no clean-up
    proc.wait()
    first = finished(out)
    assert 2 <= len(first) < 8
    stamps = {s: (out / s / grade.RECORD).stat().st_mtime_ns for s in first}
    deadline = time.monotonic() + 10  # orphaned zygotes and workers notice and exit
    while processes_using(tmp) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_using(tmp) == []

    restart = run_cli(subs, out, tmp)
    stdout, stderr = restart.communicate(timeout=300)
    assert restart.returncode == 0, stderr.decode()
    assert "graded 8 submission(s)" in stdout.decode()
    totals = finished(out)
    assert set(totals) == set(expected)
    for student, total in expected.items():
        if total is None:
            assert 0 < totals[student] < FULL
        else:
            assert totals[student] == total
    assert {s: (out / s / grade.RECORD).stat().st_mtime_ns for s in first} == stamps  # not regraded
    rows = (out / "grades.csv").read_text().splitlines()
    assert len(rows) == 1 + 8
    assert os.listdir(tmp) == []  # the killed run's folder was removed by the rerun


def batch_of_eight(subs: Path) -> None:
    for i in range(8):
        write(subs, f"s{i}", (Student(f"s{i}"), Student(f"s{i}", stub=True), BUGGY)[i % 3], pause=0.6)


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_the_batch_cleanly_and_a_rerun_finishes_it(
    tmp_path: Path, signum: signal.Signals, status: int
) -> None:
    subs, out, tmp = tmp_path / "subs", tmp_path / "out", tmp_path / "tmp"
    tmp.mkdir()
    batch_of_eight(subs)
    proc = run_cli(subs, out, tmp)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(out.glob("*/grading.json"))) < 2:
        time.sleep(0.05)
    if signum == signal.SIGINT:
        os.killpg(proc.pid, signum)  # Ctrl-C: the terminal signals the whole foreground group
    else:
        os.kill(proc.pid, signum)  # `kill PID`: the command alone
    _, stderr = proc.communicate(timeout=60)
    err = stderr.decode()
    assert proc.returncode == status, err
    first = finished(out)
    assert 2 <= len(first) < 8
    assert err == (
        f"interrupted: {len(first)} of 8 submissions graded; rerun the same command to finish the rest\n"
    )
    assert processes_using(tmp) == []  # grading processes, zygotes and workers all ended
    assert os.listdir(tmp) == []
    stamps = {s: (out / s / grade.RECORD).stat().st_mtime_ns for s in first}

    restart = run_cli(subs, out, tmp)
    stdout, stderr = restart.communicate(timeout=300)
    assert restart.returncode == 0, stderr.decode()
    assert "graded 8 submission(s)" in stdout.decode()
    assert len(finished(out)) == 8
    assert {s: (out / s / grade.RECORD).stat().st_mtime_ns for s in first} == stamps  # not regraded
    assert os.listdir(tmp) == []


def test_only_the_folders_of_ended_runs_are_removed(tmp_path: Path) -> None:
    stale = tmp_path / f"{RUN_PREFIX}stale"
    (stale / "autograder-worker").mkdir(parents=True)
    (stale / RUN_LOCK).touch()  # nobody holds its lock: the run was killed
    other = tmp_path / f"{RUN_PREFIX}unlocked"  # no lock file: not (yet) a run folder, kept
    other.mkdir()
    with hardened(tmp_path) as tmp, run_folder() as live:
        assert live.parent == tmp and tempfile.gettempdir() == str(live)
        assert remove_stale_runs(str(tmp_path)) == [str(stale)]
        assert remove_stale_runs(str(tmp)) == []  # the live run keeps its folder
        assert live.is_dir()
    assert not live.exists() and not stale.exists() and other.is_dir()


def test_an_unwritable_output_folder_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    subs = tmp_path / "subs"
    write(subs, "alice", Student("alice"))
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the output folder should be")
    argv = ["grade", str(subs), "--assignment", ASSIGNMENT, "--jobs", "1", "--quiet"]
    with hardened(tmp_path):
        assert main([*argv, "--out", str(blocker / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(blocker) in err and "Traceback" not in err
    assert (subs / "alice.ipynb").is_file()


def test_a_full_output_folder_stops_cleanly_and_a_rerun_completes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    subs, out = tmp_path / "subs", tmp_path / "out"
    for i, student in enumerate((Student("a"), BUGGY, Student("c", stub=True), Student("d"))):
        write(subs, f"s{i}", student)
    real_fsync = os.fsync
    writes = {"left": 6}  # room for the first submission's four files and a bit: then the disk is full

    def fsync(fd: int) -> None:
        if writes["left"] <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        writes["left"] -= 1
        real_fsync(fd)

    argv = ["grade", str(subs), "--assignment", ASSIGNMENT, "--jobs", "1", "--quiet", "--out", str(out)]
    with hardened(tmp_path) as tmp:
        monkeypatch.setattr(os, "fsync", fsync)
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "No space left on device" in err and "Traceback" not in err
        first = finished(out)
        assert list(first) == ["s0"]
        assert not [p for p in out.rglob("*") if p.is_file() and p.name.endswith(".tmp")]
        stamp = (out / "s0" / grade.RECORD).stat().st_mtime_ns
        monkeypatch.setattr(os, "fsync", real_fsync)
        assert main(argv) == 0
        assert os.listdir(tmp) == []
    totals = finished(out)
    assert totals["s0"] == totals["s3"] == FULL and totals["s2"] == 0 and 0 < totals["s1"] < FULL
    assert (out / "s0" / grade.RECORD).stat().st_mtime_ns == stamp


def deep_tree(folder: Path, depth: int = 3000) -> None:
    """``folder/d/d/.../d``, deeper than PATH_MAX allows to name (made folder by folder, like a worker)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(fd)


def test_removing_a_hostile_working_folder_is_bounded_and_complete(tmp_path: Path) -> None:
    """What a worker at the uid or none level may leave on the host: a 3000-deep tree (shutil.rmtree
    raises RecursionError on it), a FIFO, a socket, unreadable folders."""
    import socket as sockets

    from autograder.sandbox import remove_tree

    victim = tmp_path / "work"
    victim.mkdir()
    deep_tree(victim)
    os.mkfifo(victim / "fifo")
    server = sockets.socket(sockets.AF_UNIX)
    server.bind(str(victim / "socket"))
    (victim / "locked" / "inner").mkdir(parents=True)
    (victim / "locked" / "inner" / "file").write_text("x")
    os.chmod(victim / "locked" / "inner", 0)
    os.chmod(victim / "locked", 0)
    start = time.monotonic()
    assert remove_tree(victim)
    assert not victim.exists() and time.monotonic() - start < 30
    server.close()
    # and a stale run folder holding such a tree never stops the next run
    stale = tmp_path / f"{RUN_PREFIX}stale"
    stale.mkdir()
    deep_tree(stale)
    (stale / RUN_LOCK).touch()
    assert remove_stale_runs(str(tmp_path)) == [str(stale)]


def test_without_bubblewrap_the_grader_refuses_to_start_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    subs = tmp_path / "subs"
    write(subs, "alice", Student("alice"))
    monkeypatch.setenv("AUTOGRADER_BWRAP", str(tmp_path / "no-bwrap-here"))
    argv = [
        "grade",
        str(subs),
        "--assignment",
        ASSIGNMENT,
        "--jobs",
        "1",
        "--quiet",
        "--out",
        str(tmp_path / "o"),
    ]
    with hardened(tmp_path):
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert "bubblewrap (bwrap) is not installed: apt-get install bubblewrap" in err
    assert "--isolation uid (as root) or --isolation none" in err and "Traceback" not in err
    assert not (tmp_path / "o" / "alice").exists()  # nothing graded without the sandbox
