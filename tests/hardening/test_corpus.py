"""The hostile and broken corpus (tests/hardening/corpus.py) graded in one batch with two jobs.

For every case: a score within the expected bounds, the expected message and flag in its record,
bounded files and time. For the batch: nothing left behind (processes, temporary folders, partial
files), nothing escaped (the output folder, the network, the grader's environment), and the controls
score exactly what they score when graded alone.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

import pytest

from autograder import grade
from autograder import notebook as nb
from tests.hardening import as_user
from tests.hardening import corpus as C
from tests.hardening.grading import (
    LIMITS,
    descendants,
    grade_folder,
    hardened,
    record,
    settings,
    zygote_pid,
)

SECRET = "hardening-secret-5f1c9e"
#: Control characters other than newline and tab (a student's NUL bytes, terminal escape codes).
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
#: Longest results.json accepted: feedback is bounded whatever the submission prints or raises.
MAX_RESULTS_BYTES = 64 * 1024


@dataclasses.dataclass
class Batch:
    out: Path
    subs: Path
    paths: dict[str, Path]
    seconds: float
    leftover_processes: list[object]
    leftover_temp: list[str]
    connections: int


def max_points(assignment: str) -> dict[str, float]:
    source = nb.load_source(grade.COURSE_ROOT / "source" / assignment / f"{assignment}.ipynb")
    return dict(nb.plan(source, source).items)


def grade_corpus(root: Path) -> Batch:
    """Every case and control graded in one batch per assignment (two jobs), watched from outside."""
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    out = root / "out"
    context = C.Context(grade.COURSE_ROOT, out, server.getsockname()[1], SECRET)
    cases = list(C.CASES.values())
    paths = C.write_corpus(cases, root / "subs", context)
    start = time.monotonic()
    with hardened(root) as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setenv("HARDENING_SECRET", SECRET)
        leftovers: list[int] = []
        for assignment in sorted({c.assignment for c in cases}):
            subs = root / "subs" / assignment
            session = settings(assignment, out, [subs]).session()
            zygotes = grade.start_zygotes(
                session, grade.COURSE_ROOT / "source" / assignment / f"{assignment}.ipynb", 2
            )
            for zygote in zygotes:
                zygote.wait_ready()
            before = {p for z in zygotes for p in descendants(zygote_pid(z))}
            try:
                grade_folder(subs, assignment, out, jobs=2, zygotes=zygotes, session=session)
                time.sleep(0.5)  # the zygotes reap orphans every 0.2 s
                leftovers += [p for z in zygotes for p in descendants(zygote_pid(z)) if p not in before]
            finally:
                for zygote in zygotes:
                    zygote.close()
                session.close()
        seconds = time.monotonic() - start
        temp = sorted(os.listdir(tmp))
    try:
        server.accept()
        connections = 1
    except BlockingIOError:
        connections = 0
    server.close()
    return Batch(out, root / "subs", paths, seconds, leftovers, temp, connections)


def test_the_corpus_covers_every_kind_of_hostile_submission() -> None:
    assert len(C.CORPUS) >= 40
    by_category = {category: [c for c in C.CORPUS if c.category == category] for category in
                   ("runaway", "exit", "flood", "cheat", "broken", "wrong")}  # fmt: skip
    assert all(len(cases) >= 4 for cases in by_category.values()), {k: len(v) for k, v in by_category.items()}
    points = max_points(C.ARITHMETIC)
    for cheat in by_category["cheat"]:  # a cheat costs the points it aims at, or is flagged or refused
        loses = any(high < points[g] for g, (_, high) in cheat.outcome.scores.items())
        refused = cheat.outcome.message.startswith(("refused", C.NOT_VISIBLE, "Network is unreachable"))
        escaped = cheat.name == "write_output_folder"  # what it wrote is checked batch-wide
        assert loses or cheat.outcome.flag or refused or escaped, cheat.name


def case_problems(batch: Batch, case: C.Case) -> list[str]:
    """What is wrong with the grading of ``case`` (nothing, when it went as expected)."""
    folder = batch.out / case.name
    data = json.loads((folder / grade.RECORD).read_text())
    gradescope = (folder / "results.json").read_text()
    text = json.loads(gradescope)
    readable = "\n".join([text.get("output", ""), *(t["output"] for t in text["tests"])]).lower()
    points = max_points(case.assignment)
    earned = {item["grade_id"]: item["earned"] for item in data["items"]}
    others = {
        "full": {g: (p, p) for g, p in points.items()},
        "zero": dict.fromkeys(points, (0.0, 0.0)),
        "any": {g: (0.0, p) for g, p in points.items()},
    }[case.outcome.others]
    bounds = {**others, **case.outcome.scores}
    checks = {
        "results.json is bounded": len(gradescope.encode()) < MAX_RESULTS_BYTES,
        "feedback files are plain text": not any(
            CONTROL.search((folder / name).read_text()) for name in ("feedback.md", "feedback.html")
        ),
        # grade_ids and points come from the source notebook, never from the submission
        "items and points are the source's": list(earned) == list(points)
        and data["max_total"] == sum(points.values()),
        f"scores {earned} within {bounds}": all(
            bounds[g][0] <= earned.get(g, -1) <= bounds[g][1] for g in points
        ),
        f"message {case.outcome.message!r}": case.outcome.message.lower() in readable,
        f"flag {case.outcome.flag!r}": case.outcome.flag.lower() in "\n".join(data["flags"]).lower()
        and (not case.outcome.flag or "flagged for review" in readable),
        # never past its limits: the worst case here is a few timeouts, each followed by a restart
        "time within the submission's limit": data["seconds"] < LIMITS.submission_timeout,
    }
    return [f"{case.name}: {what}" for what, ok in checks.items() if not ok]


def test_the_corpus_in_one_batch(tmp_path: Path) -> None:
    """One test for the whole batch: under pytest-xdist, tests sharing a module fixture may run in two
    processes, and each would grade the corpus again."""
    batch = grade_corpus(tmp_path)
    assert [p for case in C.CASES.values() for p in case_problems(batch, case)] == []
    check_nothing_left_behind(batch)
    check_nothing_escaped(batch)
    check_controls_score_as_alone(batch, tmp_path / "alone")


def check_nothing_left_behind(batch: Batch) -> None:
    assert batch.leftover_processes == []
    assert batch.leftover_temp == []
    assert not [p for p in batch.out.rglob("*") if p.name.endswith(".tmp")]
    expected = {c.name for c in C.CASES.values()}
    assert {p.name for p in batch.out.iterdir() if p.is_dir()} == expected  # no "intruder" folder


def check_nothing_escaped(batch: Batch) -> None:
    assert batch.connections == 0  # the network case reached no server on this machine
    for path in batch.out.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), path
    control = json.loads((batch.out / "control_solution" / "results.json").read_text())
    assert control["score"] == control["max_score"] == sum(max_points(C.ARITHMETIC).values())
    grades = (batch.out / "grades.csv").read_text()
    assert "1000" not in grades


def check_controls_score_as_alone(batch: Batch, tmp_path: Path) -> None:
    for name in ("control_solution", "control_stub", "control_backprop", "right_then_wrong"):
        case = C.CASES[name]
        alone = tmp_path / name
        alone.mkdir(parents=True)
        (alone / f"{name}.ipynb").write_bytes(batch.paths[name].read_bytes())
        with hardened(tmp_path / f"{name}-tmp"):
            grade_folder(alone, case.assignment, tmp_path / f"{name}-out", jobs=1)
        assert record(tmp_path / f"{name}-out", name) == record(batch.out, name)


def grade_corpus_as_user(root: Path) -> Batch:
    """The same corpus graded with the command line by an ordinary user (delegated cgroups)."""
    from autograder.sandbox import cgroups
    from tests.hardening.test_attacks import _sandbox_processes

    user = as_user.ensure_user()
    cgroups.delegate(user.pw_name)
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    out, subs, tmp = root / "out", root / "subs", root / "tmp"
    context = C.Context(grade.COURSE_ROOT, out, server.getsockname()[1], SECRET)
    cases = list(C.CASES.values())
    paths = C.write_corpus(cases, subs, context)
    for folder in (out, tmp):
        folder.mkdir()
    for path in [root, out, tmp, *subs.rglob("*")]:
        os.chown(path, user.pw_uid, user.pw_gid)
    limits = ["--cpu-seconds", str(LIMITS.cpu_seconds), "--memory-mb", str(LIMITS.memory_mb),
              "--max-processes", str(LIMITS.max_processes), "--file-size-mb", str(LIMITS.file_size_mb),
              "--call-timeout", str(LIMITS.call_timeout), "--cell-timeout", str(LIMITS.cell_timeout),
              "--submission-timeout", str(LIMITS.submission_timeout)]  # fmt: skip
    env = as_user.grader_env(user, tmp, HARDENING_SECRET=SECRET)
    start = time.monotonic()
    try:
        for assignment in sorted({c.assignment for c in cases}):
            argv = [sys.executable, "-m", "autograder", "grade", str(subs / assignment), "--assignment",
                    assignment, "--out", str(out), "--jobs", "2", "--quiet", *limits]  # fmt: skip
            proc = as_user.run_as(user, argv, cwd=root, env=env, expose=[str(root)])
            assert proc.returncode == 0, proc.stderr
        leftovers = _sandbox_processes("user", user)
    finally:
        cgroups.undelegate(user.pw_name)
    try:
        server.accept()
        connections = 1
    except BlockingIOError:
        connections = 0
    server.close()
    return Batch(out, subs, paths, time.monotonic() - start, leftovers, sorted(os.listdir(tmp)), connections)


@pytest.mark.slow
@pytest.mark.xdist_group(as_user.GROUP)
def test_the_corpus_as_an_ordinary_user() -> None:
    """The corpus through the command line run by an ordinary user: the same outcomes as root's."""
    if os.getuid() != 0:
        pytest.skip("grading as an ordinary user is tested from root (which can create one)")
    root = Path(tempfile.mkdtemp(prefix="corpus-user-", dir="/tmp"))
    os.chmod(root, 0o755)
    try:
        batch = grade_corpus_as_user(root)
        assert [p for case in C.CASES.values() for p in case_problems(batch, case)] == []
        check_nothing_left_behind(batch)
        check_nothing_escaped(batch)
    finally:
        shutil.rmtree(root, ignore_errors=True)
