"""The batch grader under load and on repeat: ``python -m benchmarks hardening``.

**Load**: ``N`` submissions of conv_arithmetic (``BENCH_HARDENING_N``, default 500), a realistic mix
of six honest ones in ten (solution, stub, a buggy ``output_size``) and four hostile ones from the
hardening corpus (a hanging function, a memory bomb, a segfault, a 100 MB flood), graded by
``python -m autograder grade --jobs 2`` in a subprocess. Printed: wall seconds, throughput, the peak
of the summed resident memory of the grader's whole process tree (grader, grading processes,
zygotes, workers) and of the grader's own processes in the first and last third of the run (bounded
memory: no growth), leftover processes and temporary folders once it exits, and whether every copy
of a submission got the same total.

**Determinism**: a selection of corpus cases (one or two per category), each graded
``BENCH_HARDENING_REPEATS`` times (default 20) in one batch; every copy must give the same
``grading.json`` (timings aside), ``results.json`` and feedback.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Hypothesis's cache folder, one per user in the temp directory, reused by every run
#: (autograder.properties): not a leftover of one batch.
HYPOTHESIS_CACHE = "autograder-hypothesis-"
ASSIGNMENT = "conv_arithmetic"
#: Ten slots of the load mix: corpus case names (tests/hardening/corpus.py) or "buggy".
LOAD_MIX = (
    "control_solution", "control_stub", "buggy", "loop_in_function", "control_solution",
    "memory_bomb_top_level", "buggy", "segfault_in_function", "control_solution", "stdout_flood",
)  # fmt: skip
#: Corpus cases graded on repeat (one or two per category; cheap ones).
REPEATED = (
    "buggy", "right_then_wrong", "control_stub", "loop_in_function", "memory_bomb_in_function",
    "segfault_in_function", "os_exit_top_level", "huge_exception_message", "patch_numpy",
    "eq_always_true", "metadata_points", "duplicated_solution_cell", "returns_nan", "binary_garbage",
)  # fmt: skip


def descendants(pid: int) -> list[int]:
    """Live processes below ``pid`` (children, grandchildren, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def processes_using(folder: Path) -> list[int]:
    """Live processes whose working directory or environment mentions ``folder`` (leftovers)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if cwd.startswith(str(folder)) or str(folder).encode() in environ:
            found.append(int(entry))
    return found


def sandbox_processes(grader: int) -> list[int]:
    """Live processes of the sandbox uid of the grader with pid ``grader`` (run as root, its workers
    run as ``BASE_UID + grader``; other graders' workers are not counted)."""
    from autograder.sandbox.session import BASE_UID

    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == BASE_UID + grader:
                    found.append(int(entry))
            except OSError:
                continue
    return found


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def submissions(folder: Path, names: Sequence[str], copies: int | None = None) -> dict[str, str]:
    """Write one notebook per slot (``names`` cycled ``copies`` times, or ``len(names)`` slots);
    returns ``{student: kind}``."""
    from autograder.demo import Student, submission
    from tests.hardening import corpus

    context = corpus.Context(ROOT, folder / "out")
    buggy = Student("buggy", edits=(("output_size", "- extent) // stride + 1", "- extent) / stride + 1"),))
    texts: dict[str, bytes] = {}
    for name in set(names):
        if name == "buggy":
            import nbformat

            texts[name] = nbformat.writes(submission(ASSIGNMENT, buggy)).encode()
        else:
            texts[name] = corpus.build(corpus.CASES[name], context)
    kinds = {}
    slots = len(names) if copies is None else copies
    (folder / "subs").mkdir(parents=True, exist_ok=True)
    for i in range(slots):
        kind = names[i % len(names)]
        student = f"{i:04d}-{kind}"
        (folder / "subs" / f"{student}.ipynb").write_bytes(texts[kind])
        kinds[student] = kind
    return kinds


@dataclasses.dataclass
class LoadResult:
    n: int
    seconds: float
    peak_tree_mb: float
    grader_first_mb: float
    grader_last_mb: float
    leftover_processes: list[int]
    leftover_temp: list[str]
    consistent: bool
    returncode: int
    totals: dict[str, float] = dataclasses.field(default_factory=dict)  # kind -> total (one copy's)

    @property
    def throughput(self) -> float:
        return self.n / self.seconds


def run_load(n: int, folder: Path, jobs: int = 2, extra: Sequence[str] = ()) -> LoadResult:
    """Grade ``n`` submissions of :data:`LOAD_MIX` with the command line, sampling memory."""
    kinds = submissions(folder, LOAD_MIX, n)
    tmp = folder / "tmp"
    tmp.mkdir()
    command = [sys.executable, "-m", "autograder", "grade", str(folder / "subs"), "--assignment",
               ASSIGNMENT, "--out", str(folder / "out"), "--jobs", str(jobs), "--quiet", *extra]  # fmt: skip
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONDONTWRITEBYTECODE": "1"}
    start = time.monotonic()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    samples: list[tuple[float, float, float]] = []  # (time, whole tree, grader processes) in MB

    def sample() -> None:
        while proc.poll() is None:
            tree = descendants(proc.pid)
            graders = [proc.pid, *(p for p in tree if _is_grader(p))]
            samples.append(
                (time.monotonic() - start, sum(map(rss_mb, [proc.pid, *tree])), sum(map(rss_mb, graders)))
            )
            time.sleep(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    _, stderr = proc.communicate()
    seconds = time.monotonic() - start
    sampler.join()
    if proc.returncode != 0:
        print(stderr.decode(errors="replace")[-2000:], file=sys.stderr)
    time.sleep(0.5)
    totals: dict[str, set[float]] = {}
    for student, kind in kinds.items():
        record = folder / "out" / student / "grading.json"
        total = json.loads(record.read_text())["total"] if record.is_file() else -1.0
        totals.setdefault(kind, set()).add(total)
    third = max(1, len(samples) // 3)
    return LoadResult(
        n=n,
        seconds=seconds,
        peak_tree_mb=max((s[1] for s in samples), default=0.0),
        grader_first_mb=max((s[2] for s in samples[:third]), default=0.0),
        grader_last_mb=max((s[2] for s in samples[-third:]), default=0.0),
        leftover_processes=processes_using(folder) + sandbox_processes(proc.pid),
        leftover_temp=sorted(n for n in os.listdir(tmp) if not n.startswith(HYPOTHESIS_CACHE)),
        consistent=all(len(v) == 1 and -1.0 not in v for v in totals.values()),
        totals={kind: min(v) for kind, v in sorted(totals.items())},
        returncode=proc.returncode,
    )


def _is_grader(pid: int) -> bool:
    """A grading process (the CLI or its pool), not a zygote or a sandboxed worker."""
    try:
        return b"-I\x00-S" not in Path(f"/proc/{pid}/cmdline").read_bytes() and os.getsid(pid) != pid
    except OSError:
        return False


def repeat_records(folder: Path, names: Sequence[str], repeats: int, jobs: int = 2) -> dict[str, int]:
    """Grade each of ``names`` ``repeats`` times in one batch (the hardening tests' small limits);
    how many distinct outcomes each got."""
    from tests.hardening.grading import grade_folder

    kinds = submissions(folder, names, len(names) * repeats)
    grade_folder(folder / "subs", ASSIGNMENT, folder / "out", jobs=jobs)
    outcomes: dict[str, set[str]] = {}
    for student, kind in kinds.items():
        outcomes.setdefault(kind, set()).add(outcome_text(folder / "out", student))
    return {kind: len(texts) for kind, texts in outcomes.items()}


def outcome_text(out: Path, student: str) -> str:
    """Everything graded for ``student`` except timings and diagnostics, the student's name replaced."""
    record = json.loads((out / student / "grading.json").read_text())
    results = json.loads((out / student / "results.json").read_text())
    for data in (record, results):
        for key in ("seconds", "execution_time", "events", "cells"):  # timings, diagnostics, printed output
            data.pop(key, None)
    feedback = [(out / student / name).read_text() for name in ("feedback.md", "feedback.html")]
    return json.dumps([record, results, feedback], sort_keys=True).replace(student, "STUDENT")


def main() -> None:
    n = int(os.environ.get("BENCH_HARDENING_N", "500"))
    repeats = int(os.environ.get("BENCH_HARDENING_REPEATS", "20"))
    with tempfile.TemporaryDirectory(prefix="bench-hardening-") as raw:
        folder = Path(raw)
        loads = {
            level: run_load(n, folder / f"load-{level}", extra=("--isolation", level))
            for level in ("namespaces", "none")
        }
        print(f"load: {n} conv_arithmetic submissions (6 honest, 4 hostile in 10), --jobs 2, side by side")
        print(f"  {'--isolation':<44}{'namespaces':>12}{'none':>12}")
        ns, none = loads["namespaces"], loads["none"]

        def both(fmt: str, attr: str) -> tuple[str, str]:
            return format(getattr(ns, attr), fmt), format(getattr(none, attr), fmt)

        rows = [
            ("wall seconds", *both(".1f", "seconds")),
            ("throughput (submissions/s)", *both(".2f", "throughput")),
            ("seconds per submission", f"{ns.seconds / n:.3f}", f"{none.seconds / n:.3f}"),
            ("peak memory, whole process tree (MB RSS)", *both(".0f", "peak_tree_mb")),
            ("grader processes, first third (MB RSS)", *both(".0f", "grader_first_mb")),
            ("grader processes, last third (MB RSS)", *both(".0f", "grader_last_mb")),
            (
                "leftover processes / temporary folders",
                f"{len(ns.leftover_processes)} / {len(ns.leftover_temp)}",
                f"{len(none.leftover_processes)} / {len(none.leftover_temp)}",
            ),
            ("every copy of a submission scored the same", str(ns.consistent), str(none.consistent)),
            ("exit status", str(ns.returncode), str(none.returncode)),
        ]
        for kind in ns.totals:  # both levels must give the same score (a level that fails must show)
            rows.append(
                (f"  total of {kind}", format(ns.totals[kind], "g"), format(none.totals.get(kind, -1), "g"))
            )
        for label, a, b in rows:
            print(f"  {label:<44}{a:>12}{b:>12}")
        cost = (ns.seconds - none.seconds) / n
        print(
            f"  isolation's cost: {cost * 1000:+.0f} ms per submission; isolated throughput = "
            f"{ns.throughput / none.throughput:.0%} of the unisolated one"
        )
        start = time.monotonic()
        distinct = repeat_records(folder / "repeat", REPEATED, repeats)
        seconds = time.monotonic() - start
        print(
            f"\ndeterminism: {len(REPEATED)} submissions x {repeats} gradings in one batch ({seconds:.0f} s)"
        )
        for kind, count in distinct.items():
            print(f"  {kind:<28} {'identical' if count == 1 else f'{count} different outcomes'}")
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
