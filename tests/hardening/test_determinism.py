"""Determinism: the same submission graded 20 times in one batch (two jobs, interleaved with the other
submissions) gives the same record, results.json and feedback every time, timings aside."""

from __future__ import annotations

from pathlib import Path

from benchmarks.bench_hardening import repeat_records
from tests.hardening.grading import hardened

#: Cheap submissions whose grading takes different paths: a failing property shrunk by hypothesis
#: (buggy), a worker crash and restart (segfault), an unreadable file. The benchmark repeats more.
CASES = ("buggy", "segfault_in_function", "binary_garbage")


def test_twenty_gradings_of_each_submission_are_identical(tmp_path: Path) -> None:
    with hardened(tmp_path):
        distinct = repeat_records(tmp_path / "repeat", CASES, repeats=20)
    assert distinct == dict.fromkeys(CASES, 1)


def test_the_fashion_solution_graded_five_times_gives_identical_feedback_and_no_notes(tmp_path: Path) -> None:
    """The torch assignment writes caches (torch, matplotlib) by itself: they land in the worker's own
    tmpfs, so an honest submission gets no note at all, and every copy the same text."""
    import json

    import nbformat

    from autograder import grade
    from autograder import notebook as nb

    assignment = "fashion_mnist_kernels"
    source = nb.load_source(grade.COURSE_ROOT / "source" / assignment / f"{assignment}.ipynb")
    solved = nb.student_copy(source, "solution")
    subs = tmp_path / "subs"
    subs.mkdir()
    for k in range(5):
        nbformat.write(solved, subs / f"copy{k}.ipynb")
    settings = grade.Settings(assignment, out=tmp_path / "out", limits=grade.Limits(call_timeout=60.0))
    grade.grade_batch(grade.find_submissions([subs], assignment, source), settings, jobs=2, quiet=True)
    texts = set()
    for k in range(5):
        folder = tmp_path / "out" / f"copy{k}"
        record = grade.load_record(folder, assignment)
        assert record is not None and record.notes == [] and record.flags == [], (record.notes, record.flags)
        assert record.total == sum(p for _, p in nb.plan(source, source).items)
        # the same text but for the student's name in the title
        texts.add(
            tuple(
                (folder / n).read_text().replace(f"copy{k}", "COPY") for n in ("feedback.md", "feedback.html")
            )
        )
        results = json.loads((folder / "results.json").read_text())
        results.pop("execution_time")
        texts.add((json.dumps(results, sort_keys=True),))
    assert len(texts) == 2  # one set of feedback files, one results.json (timing aside): all copies alike
