"""Attacks on the sandbox itself, graded as root and as an ordinary user: every one gets its safe outcome.

``tests/hardening/attacks/`` holds hostile conv_arithmetic notebooks (``INDEX.md`` says what each
tries, and what happened before the sandbox was enforced by the kernel). Each mode grades all of them
in ONE batch with the command line (``--jobs 2``), the CPU hog next to an honest neighbour with a
3 s CPU self-test, and then checks the evidence each attack leaves (or does not):

- scores: an attack that needs the instructor's files, the tests' solutions or last term's draws
  gets no points for the item it targets; the honest neighbour keeps 11/11;
- outside the sandbox: no connection reached a UNIX socket or a TCP port of this machine; the output
  folder holds only the grader's files (no other student's results rewritten, no FIFO), the course
  tree, the submissions, a file outside every folder and the grading user's home are unchanged; the
  grader's environment (a planted secret) appears in no output;
- after the run: no process of the sandbox is left, no temporary folder, no cgroup; a later run in
  the same temporary folder works (a 3000-deep tree does not break its clean-up).

As an ordinary user the grader runs with the cgroups that root delegated to that user once
(``python -m autograder sandbox delegate USER``), the documented set-up, and the same protections.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from autograder import grade
from autograder.sandbox import cgroups
from autograder.sandbox.session import BASE_UID
from tests.hardening import as_user

ATTACKS = Path(__file__).with_name("attacks")
ASSIGNMENT = "conv_arithmetic"
FULL = {"output_size": 5.0, "receptive_field": 4.0, "conv2d_params": 2.0}
SECRET = "grader-secret-7d2a61"
#: The hogs are graded first, each side by side with an honest neighbour (one job each): the CPU hog,
#: the memory multiplier and the disk filler; the neighbours run an honest 3 s CPU self-test.
FIRST = (
    "cpu_hog_neighbor", "aaa_victim", "memory_multiplier", "aab_neighbour", "disk_fill", "aac_neighbour",
)  # fmt: skip
NEIGHBOURS = ("aaa_victim", "aab_neighbour", "aac_neighbour")
LIMITS = ["--cell-timeout", "30", "--call-timeout", "2", "--submission-timeout", "150",
          "--memory-mb", "1024", "--max-processes", "32", "--cpu-seconds", "60"]  # fmt: skip


@dataclasses.dataclass
class Batch:
    """What one graded batch left behind, for the checks."""

    mode: str
    root: Path
    out: Path
    subs: Path
    drop: Path
    home: Path
    returncode: int
    stderr: str
    seconds: float
    unix_connections: int
    tcp_connections: int
    before: dict[str, dict[str, str]]
    after: dict[str, dict[str, str]]
    leftover_processes: list[str]
    leftover_cgroups: list[str]
    leftover_temp: list[str]
    second_run: int

    def record(self, student: str) -> dict:
        return json.loads((self.out / student / grade.RECORD).read_text())

    def earned(self, student: str) -> dict[str, float]:
        return {item["grade_id"]: item["earned"] for item in self.record(student)["items"]}

    def text(self, student: str) -> str:
        folder = self.out / student
        return "\n".join(p.read_text(errors="replace") for p in sorted(folder.iterdir()) if p.is_file())


def _digest(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every file under ``folder`` (relative path -> digest); FIFOs and the like by type."""
    found = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if rel.startswith(skip) or path.is_dir():
            continue
        if path.is_file() and not path.is_symlink():
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[rel] = "special"
    return found


def _snapshot(course: Path, subs: Path, home: Path, victim: Path) -> dict[str, dict[str, str]]:
    return {
        "course": {
            f"{sub}/{rel}": digest
            for sub in ("autograder", "course_lib", "source", "tests/autograder/mutants")
            for rel, digest in _digest(course / sub).items()
            if "__pycache__" not in rel
        },
        "subs": _digest(subs),
        "home": _digest(home, skip=(".cache/autograder",)),  # the grader's own hypothesis cache
        "victim": {"victim": hashlib.sha256(victim.read_bytes()).hexdigest()},
    }


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _write_attacks(subs: Path, values: dict[str, str]) -> list[Path]:
    """Every attack notebook with its placeholders filled; the honest neighbour as ``aaa_victim``
    (the name the output-folder attack aims at). Returned in grading order."""
    subs.mkdir(parents=True, exist_ok=True)
    paths = {}
    for notebook in sorted(ATTACKS.glob("*.ipynb")):
        data = json.loads(notebook.read_text())
        for cell in data["cells"]:
            if cell["cell_type"] == "code":
                source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
                cell["source"] = _fill(source, values)
        names = NEIGHBOURS if notebook.stem == "neighbor_victim_slow" else (notebook.stem,)
        for name in names:
            path = subs / f"{name}.ipynb"
            path.write_text(json.dumps(data))
            paths[name] = path
    order = [*FIRST, *sorted(set(paths) - set(FIRST))]
    return [paths[name] for name in order if name in paths]


def _sandbox_processes(mode: str, user: pwd.struct_passwd | None, grader: int | None = None) -> list[str]:
    """Processes of the sandbox's users still alive: as root, the workers' uid of the grader with pid
    ``grader`` (every run as root when None); as a user, that user's."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
            uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
            name = next(line for line in status.splitlines() if line.startswith("Name:")).split()[1]
        except (OSError, StopIteration, ValueError, IndexError):
            continue
        ours = uid == BASE_UID + grader if grader is not None else uid >= BASE_UID
        if (mode == "root" and ours) or (user is not None and uid == user.pw_uid):
            found.append(f"{entry} {name} uid={uid}")
    return found


def _run_cgroups(mode: str, user: pwd.struct_passwd | None, grader: int) -> list[str]:
    """Run cgroups left: as root, the grader's (named by its pid); as a user, any in the user's."""
    mounts = cgroups._v1_mounts()
    found = []
    for name in cgroups.CONTROLLERS:
        if name not in mounts:
            continue
        base = (
            mounts[name] / cgroups._own_paths().get(name, "/").lstrip("/")
            if mode == "root"
            else mounts[name] / f"autograder-{user.pw_name if user else ''}"
        )
        if base.is_dir():
            runs = [p for p in base.iterdir() if p.name.startswith(cgroups.RUN_PREFIX)]
            found += [
                str(p) for p in runs if mode != "root" or p.name.startswith(f"{cgroups.RUN_PREFIX}{grader}-")
            ]
    return found


def _run(
    argv: list[str], cwd: Path, env: dict[str, str], timeout: float
) -> tuple[subprocess.CompletedProcess[str], int]:
    """``subprocess.run`` that also returns the pid (the workers' uid as root is derived from it)."""
    with subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as p:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            raise
    return subprocess.CompletedProcess(argv, p.returncode, out, err), p.pid


def grade_attacks(mode: str) -> Batch:
    user = as_user.ensure_user() if mode == "user" else None
    if user is not None:
        cgroups.delegate(user.pw_name)
    root = Path(tempfile.mkdtemp(prefix=f"attacks-{mode}-", dir="/tmp"))
    os.chmod(root, 0o755)
    subs, out, drop, tmp = root / "subs", root / "out", root / "drop", root / "tmp"
    for folder in (subs, out, tmp):
        folder.mkdir()
    drop.mkdir(mode=0o777)
    os.chmod(drop, 0o1777)
    victim = root / "victim.txt"
    victim.write_text("a file outside every sandbox folder\n")
    home = Path(user.pw_dir) if user else Path(tempfile.mkdtemp(prefix="attacks-home-", dir="/tmp"))
    if user is not None:
        for path in (root, subs, out, tmp, victim):
            os.chown(path, user.pw_uid, user.pw_gid)
    unix_server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock_path = str(root / "listener.sock")
    unix_server.bind(sock_path)
    os.chmod(sock_path, 0o777)
    unix_server.listen(8)
    unix_server.setblocking(False)
    tcp_server = socket.create_server(("127.0.0.1", 0))
    tcp_server.setblocking(False)
    course = grade.COURSE_ROOT
    values = {"course": str(course), "out": str(out), "subs": str(subs), "drop": str(drop),
              "sock": sock_path, "port": str(tcp_server.getsockname()[1]), "victim": str(victim),
              "home": str(home)}  # fmt: skip
    paths = _write_attacks(subs, values)
    if user is not None:
        for path in paths:
            os.chown(path, user.pw_uid, user.pw_gid)
    before = _snapshot(course, subs, home, victim)
    argv = [sys.executable, "-m", "autograder", "grade", *map(str, paths), "--assignment", ASSIGNMENT,
            "--out", str(out), "--jobs", "2", "--quiet", "--source", str(course), *LIMITS]  # fmt: skip
    start = time.monotonic()
    if user is None:
        env = {**os.environ, "TMPDIR": str(tmp), "GRADER_SECRET": SECRET, "HOME": str(home)}
        proc, grader = _run(argv, cwd=root, env=env, timeout=600)
    else:
        env = as_user.grader_env(user, tmp, GRADER_SECRET=SECRET)
        proc, grader = as_user.run_as(user, argv, cwd=root, env=env, expose=[str(root)], timeout=600), 0
    seconds = time.monotonic() - start
    leftover_processes = _sandbox_processes(mode, user, grader)
    connections = {"unix": 0, "tcp": 0}
    for key, server in (("unix", unix_server), ("tcp", tcp_server)):
        try:
            server.accept()[0].close()
            connections[key] += 1
        except BlockingIOError:
            pass
        server.close()
    after = _snapshot(course, subs, home, victim)
    leftover_temp = sorted(os.listdir(tmp))
    # a later run in the same temporary folder (the deep tree must not break its clean-up)
    control = root / "later"
    control.mkdir()
    shutil.copy(paths[0].with_name("aaa_victim.ipynb"), control / "again.ipynb")
    if user is not None:
        os.chown(control, user.pw_uid, user.pw_gid)
        os.chown(control / "again.ipynb", user.pw_uid, user.pw_gid)
    later = [sys.executable, "-m", "autograder", "grade", str(control), "--assignment", ASSIGNMENT,
             "--out", str(root / "later-out"), "--jobs", "1", "--quiet", "--source", str(course)]  # fmt: skip
    if user is None:
        second = subprocess.run(later, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    else:
        os.chown(root, user.pw_uid, user.pw_gid)
        second = as_user.run_as(user, later, cwd=root, env=env, expose=[str(root)], timeout=300)
    return Batch(
        mode=mode, root=root, out=out, subs=subs, drop=drop, home=home, returncode=proc.returncode,
        stderr=proc.stderr, seconds=seconds, unix_connections=connections["unix"],
        tcp_connections=connections["tcp"], before=before, after=after,
        leftover_processes=leftover_processes, leftover_cgroups=_run_cgroups(mode, user, grader),
        leftover_temp=leftover_temp, second_run=second.returncode,
    )  # fmt: skip


def _zero(item: str) -> Callable[[Batch, str], list[str]]:
    def check(batch: Batch, name: str) -> list[str]:
        earned = batch.earned(name)[item]
        return [] if earned == 0 else [f"{name}: {item} earned {earned}, expected 0"]

    return check


def _full(batch: Batch, name: str) -> list[str]:
    earned = batch.earned(name)
    return [] if earned == FULL else [f"{name}: expected full marks, got {earned}"]


def _below_full(batch: Batch, name: str) -> list[str]:
    total = sum(batch.earned(name).values())
    return [] if total < sum(FULL.values()) else [f"{name}: a memorized table earned full marks"]


def _not_rewritten(batch: Batch, name: str) -> list[str]:
    results = json.loads((batch.out / name / "results.json").read_text())
    total = batch.record(name)["total"]
    return (
        [] if results["score"] == total else [f"{name}: results.json says {results['score']}, record {total}"]
    )


def _memory_bounded(batch: Batch, name: str) -> list[str]:
    events = " ".join(batch.record(name)["events"])
    peaks = [float(word) for word in events.replace("peak memory", "\0").split("\0")[1:] for word in
             word.split()[:1]]  # fmt: skip
    budget = 1024 + 64 + 64  # --memory-mb, the tmpfs (default 64 MB) and the cgroup's margin
    return [f"{name}: peak memory {p} MB over {budget}" for p in peaks if p > budget]


#: The safe outcome of each attack that its own record shows (INDEX.md); the batch-wide checks apply
#: to every attack, the ones not named here included.
OWN_CHECKS: dict[str, list[Callable[[Batch, str], list[str]]]] = {
    "guard_kill_switch": [_zero("output_size")],
    "chdir_relative_read": [_zero("output_size")],
    "spawn_shell_without_audit": [_zero("conv2d_params")],
    "tests_folder_solutions": [_zero("output_size")],
    "memorized_draws": [_below_full],
    "setsid_double_fork_persists": [_not_rewritten],
    "memory_multiplier": [_memory_bounded],
    "aaa_victim": [_full],  # the honest neighbour of the CPU hog, and the output-folder attack's target
    "aab_neighbour": [_full],  # next to the memory multiplier
    "aac_neighbour": [_full],  # next to the disk filler
    "deep_directory_tree": [_full],
    "disk_fill": [_full],
    "kill_every_process_of_uid": [],
    "proc_of_the_grader": [],
    "unix_socket_exfiltration": [],
    "write_grader_files_nonroot": [],
    "cpu_hog_neighbor": [],
}


def problems(batch: Batch) -> list[str]:
    found = []
    if batch.returncode != 0:
        found.append(f"the grader exited with {batch.returncode}: {batch.stderr[-500:]}")
    names = [p.stem for p in batch.subs.glob("*.ipynb")]
    for name in names:
        if not (batch.out / name / grade.RECORD).is_file():
            found.append(f"{name}: no grading record (the batch was disturbed)")
            continue
        for check in OWN_CHECKS.get(name, []):
            found += check(batch, name)
        if SECRET in batch.text(name):
            found.append(f"{name}: the grader's environment leaked into the results")
    expected = {*names, "grades.csv"}
    intruders = sorted({p.name for p in batch.out.iterdir()} - expected)
    found += [f"output folder: unexpected {name}" for name in intruders]
    found += [f"output folder: {p} is not a regular file" for p in batch.out.rglob("*")
              if not p.is_dir() and not p.is_file()]  # fmt: skip
    for what in ("course", "subs", "home", "victim"):
        if batch.before[what] != batch.after[what]:
            changed = sorted(set(batch.before[what].items()) ^ set(batch.after[what].items()))[:5]
            found.append(f"{what} changed: {changed}")
    if batch.unix_connections or batch.tcp_connections:
        found.append(
            f"connections reached the machine: unix {batch.unix_connections}, tcp {batch.tcp_connections}"
        )
    found += [f"process left: {p}" for p in batch.leftover_processes]
    found += [f"cgroup left: {c}" for c in batch.leftover_cgroups]
    found += [f"temporary folder left: {t}" for t in batch.leftover_temp]
    if batch.second_run != 0:
        found.append(f"a later run failed with {batch.second_run}")
    markers = sorted(p.name for p in batch.drop.iterdir())
    found += [f"evidence dropped outside the sandbox: {m}" for m in markers]
    return found


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["root", pytest.param("user", marks=pytest.mark.xdist_group(as_user.GROUP))])
def test_every_attack_gets_its_safe_outcome(mode: str) -> None:
    """One test per mode (the batch is graded once, whatever pytest-xdist does with the tests)."""
    if os.getuid() != 0:
        pytest.skip("the attacks are graded from root (as root, and as a user root creates)")
    if mode == "root" and not cgroups.parents():
        pytest.skip("no cgroup v1 hierarchy to check the CPU and memory protections against")
    batch = grade_attacks(mode)
    try:
        time.sleep(1.0)  # anything that escaped would act now (the setsid attack waits 25 s in all)
        assert problems(batch) == []
        for neighbour in NEIGHBOURS:
            assert batch.earned(neighbour) == FULL, f"{neighbour} lost points next to a hog"
    finally:
        shutil.rmtree(batch.root, ignore_errors=True)
        if mode == "user":
            cgroups.undelegate(as_user.USER)
