"""The batch grader end to end on the conv_arithmetic assignment: scores, files, isolation between
submissions, determinism, restarts and the command line."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import nbformat
import pytest

from autograder import grade
from autograder import notebook as nb
from autograder.__main__ import main
from autograder.sandbox import Limits

ASSIGNMENT = "conv_arithmetic"
LIMITS = Limits(call_timeout=2.0, cell_timeout=2.0, submission_timeout=60.0)
BUGGY_OUTPUT_SIZE = (
    "def output_size(input_size, kernel_size, padding=0, stride=1, dilation=1):\n"
    "    return (input_size + padding - kernel_size) // stride + 1"
)
EXITS = "import os\ndef output_size(*args, **kwargs):\n    os._exit(1)"


def source() -> nbformat.NotebookNode:
    return nb.load_source(grade.COURSE_ROOT / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")


def write_submissions(folder: Path) -> dict[str, Path]:
    """solution, stub, buggy, a hostile one (hangs at top level, exits in a call) and garbage."""
    folder.mkdir(parents=True, exist_ok=True)
    src = source()
    hostile = nb.student_copy(src, "solution")
    hostile.cells.insert(2, nbformat.v4.new_code_cell("while True:\n    pass"))
    position = next(
        i
        for i, c in enumerate(hostile.cells)
        if c.metadata.get("nbgrader", {}).get("grade_id") == "output_size"
    )
    hostile.cells.insert(position + 1, nbformat.v4.new_code_cell(EXITS))  # before output_size's test cell
    notebooks = {
        "solution": nb.student_copy(src, "solution"),
        "stub": nb.student_copy(src, "stub"),
        "buggy": nb.student_copy(src, {"output_size": BUGGY_OUTPUT_SIZE}),
        "hostile": hostile,
    }
    paths = {}
    for name, notebook in notebooks.items():
        paths[name] = folder / f"{name}.ipynb"
        nbformat.write(notebook, paths[name])
    paths["garbage"] = folder / "garbage.ipynb"
    paths["garbage"].write_bytes(b"\x00\xff" * 1000)
    return paths


def settings(out: Path) -> grade.Settings:
    return grade.Settings(ASSIGNMENT, out=out, limits=LIMITS)


def record(out: Path, student: str) -> dict[str, object]:
    data = json.loads((out / student / grade.RECORD).read_text())
    data.pop("seconds")
    data.pop("events")  # restarts and kills: diagnostics that may depend on the machine's load
    return data


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    root = tmp_path_factory.mktemp("batch")
    paths = write_submissions(root / "subs")
    subs = grade.find_submissions([root / "subs"], ASSIGNMENT)
    grade.grade_batch(subs, settings(root / "out"), jobs=2, quiet=True)
    return root / "out", paths


def test_batch_scores_every_kind_of_submission(batch: tuple[Path, dict[str, Path]]) -> None:
    out, _ = batch
    rows = {row["student"]: row for row in csv.DictReader((out / "grades.csv").open())}
    assert set(rows) == {"solution", "stub", "buggy", "hostile", "garbage"}
    full = sum(p for _, p in nb.plan(source(), source()).items)
    assert float(rows["solution"]["total"]) == full
    assert float(rows["stub"]["total"]) == 0 and float(rows["garbage"]["total"]) == 0
    assert 0 < float(rows["buggy"]["output_size"]) < 5 and float(rows["buggy"]["receptive_field"]) == 4
    # the hostile notebook hangs in one cell and exits in output_size: only that item is lost
    assert float(rows["hostile"]["output_size"]) == 0
    assert float(rows["hostile"]["total"]) == full - 5
    hostile = record(out, "hostile")
    assert any("Timeout" in n for n in hostile["notes"])  # type: ignore[attr-defined]
    garbage = json.loads((out / "garbage" / "results.json").read_text())
    assert "not a text file" in garbage["tests"][0]["output"]


def test_results_json_has_gradescope_fields_and_feedback_files_exist(
    batch: tuple[Path, dict[str, Path]],
) -> None:
    out, _ = batch
    data = json.loads((out / "buggy" / "results.json").read_text())
    assert {"score", "max_score", "execution_time", "tests"} <= set(data)
    for test in data["tests"]:
        assert {"name", "score", "max_score", "status", "output", "visibility"} <= set(test)
    failed = next(t for t in data["tests"] if t["name"] == "output_size")
    assert failed["status"] == "failed" and "smallest failing call" in failed["output"]
    assert (out / "buggy" / "feedback.md").read_text().startswith("# conv_arithmetic: buggy")
    assert "<html>" in (out / "buggy" / "feedback.html").read_text()
    assert not list(out.rglob("*.tmp"))


def test_each_submission_scores_in_a_batch_exactly_as_graded_alone(
    batch: tuple[Path, dict[str, Path]], tmp_path: Path
) -> None:
    out, paths = batch
    for name in ("buggy", "hostile"):
        alone = tmp_path / name
        grade.grade_batch(
            grade.find_submissions([paths[name]], ASSIGNMENT), settings(alone), jobs=1, quiet=True
        )
        assert record(alone, name) == record(out, name)


def test_same_submission_graded_twice_gives_identical_results_and_feedback(
    batch: tuple[Path, dict[str, Path]], tmp_path: Path
) -> None:
    _, paths = batch
    outs = [tmp_path / "first", tmp_path / "second"]
    for out in outs:
        grade.grade_batch(
            grade.find_submissions([paths["buggy"]], ASSIGNMENT), settings(out), jobs=1, quiet=True
        )
    results = [json.loads((out / "buggy" / "results.json").read_text()) for out in outs]
    for data in results:
        data.pop("execution_time")
    assert results[0] == results[1]
    assert (outs[0] / "buggy" / "feedback.md").read_text() == (outs[1] / "buggy" / "feedback.md").read_text()


def test_restart_skips_finished_submissions_and_regrades_partial_ones(tmp_path: Path) -> None:
    paths = write_submissions(tmp_path / "subs")
    subs = [
        s for s in grade.find_submissions([tmp_path / "subs"], ASSIGNMENT) if s.student in ("stub", "garbage")
    ]
    out = tmp_path / "out"
    grade.grade_batch(subs, settings(out), jobs=1, quiet=True)
    done = (out / "stub" / grade.RECORD).stat().st_mtime_ns
    (out / "garbage" / grade.RECORD).unlink()  # as if interrupted before the record was written
    grade.grade_batch(subs, settings(out), jobs=1, quiet=True)
    assert (out / "stub" / grade.RECORD).stat().st_mtime_ns == done
    assert (out / "garbage" / grade.RECORD).is_file()
    grade.grade_batch(subs, settings(out), jobs=1, force=True, quiet=True)
    assert (out / "stub" / grade.RECORD).stat().st_mtime_ns != done
    assert paths["stub"].is_file()


def test_nbgrader_course_layout_and_unique_student_names(tmp_path: Path) -> None:
    for student in ("alice", "bob"):
        folder = tmp_path / "course" / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / f"{ASSIGNMENT}.ipynb").write_text("{}")
    (tmp_path / "loose").mkdir()
    (tmp_path / "loose" / "alice.ipynb").write_text("{}")
    subs = grade.find_submissions([tmp_path / "course", tmp_path / "loose"], ASSIGNMENT)
    assert [s.student for s in subs] == ["alice", "bob", "alice-2"]
    assert grade.safe_name("../../etc/passwd") == "etc_passwd"
    with pytest.raises(FileNotFoundError):
        grade.find_submissions([tmp_path / "nope"], ASSIGNMENT)


def test_command_line_grades_and_reports_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = write_submissions(tmp_path / "subs")
    out = tmp_path / "out"
    argv = [
        "grade",
        str(paths["stub"]),
        "--assignment",
        ASSIGNMENT,
        "--out",
        str(out),
        "--jobs",
        "1",
        "--quiet",
    ]
    assert main([*argv, "--call-timeout", "2"]) == 0
    assert (out / "grades.csv").read_text().splitlines()[1].startswith("stub,conv_arithmetic,0,0,0,0")
    assert main(["grade", str(tmp_path / "subs"), "--assignment", "no_such_assignment", "--quiet"]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["grade", str(empty), "--assignment", ASSIGNMENT, "--quiet"]) == 2
    assert "no notebooks found" in capsys.readouterr().err
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the output folder should be")
    assert main([*argv[:5], str(blocked / "out"), "--jobs", "1", "--quiet"]) == 1
    assert "cannot write the results" in capsys.readouterr().err


def test_atomic_write_replaces_whole_files(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "file.json"
    grade.atomic_write(target, "first")
    grade.atomic_write(target, b"second")
    assert target.read_text() == "second"
    assert os.listdir(target.parent) == ["file.json"]


def test_feedback_counts_cells_from_one_as_jupyterlab_does(tmp_path: Path) -> None:
    """The hanging cell is the notebook's third (index 2) and a cell that does not parse its fifth:
    the notes say "cell 3" and "cell 5", also inside the SyntaxError's own ``<cell N>`` reference."""
    notebook = nb.student_copy(source(), "solution")
    notebook.cells.insert(2, nbformat.v4.new_code_cell("while True:\n    pass"))
    notebook.cells.insert(4, nbformat.v4.new_code_cell("print((1, 2)"))
    path = tmp_path / "cells.ipynb"
    nbformat.write(notebook, path)
    with settings(tmp_path / "out").session() as session:
        graded = grade.grade_submission(
            grade.Submission("cells", path), settings(tmp_path / "out"), source(), session
        )
    assert any(n.startswith("cell 3 raised Timeout") for n in graded.notes), graded.notes
    (syntax,) = [n for n in graded.notes if "SyntaxError" in n]
    assert syntax.startswith("cell 5 raised SyntaxError") and "<cell 5>" in syntax, syntax
    feedback = grade.write_outputs(graded, tmp_path / "out") / "feedback.md"
    assert "cell 3 raised Timeout" in feedback.read_text()


def test_notes_about_one_cell_give_it_one_number_and_a_put_back_cell_its_name(tmp_path: Path) -> None:
    """A cell that runs ``!ls`` and then raises is one cell: both notes give the number JupyterLab
    shows. A deleted locked cell that the grader put back has no number in the student's notebook:
    its note names it (never ``cell 1001``)."""
    notebook = nb.student_copy(source(), "solution")
    setup = next(
        i for i, c in enumerate(notebook.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "setup"
    )
    del notebook.cells[setup]  # put back by the grader, after the cell inserted below
    # the put-back setup cell's `from contextlib import contextmanager` then fails
    notebook.cells.insert(1, nbformat.v4.new_code_cell("import sys\nsys.modules['contextlib'] = None"))
    notebook.cells.insert(2, nbformat.v4.new_code_cell("!ls\nraise ValueError('mine')"))
    path = tmp_path / "cells.ipynb"
    nbformat.write(notebook, path)
    with settings(tmp_path / "out").session() as session:
        graded = grade.grade_submission(
            grade.Submission("cells", path), settings(tmp_path / "out"), source(), session
        )
    assert "cell 3 raised ValueError: mine" in graded.notes, graded.notes
    assert any(n.startswith("cell 3: `!ls` was not run") for n in graded.notes), graded.notes
    assert any(n.startswith("the instructor's cell 'setup' (put back) raised ") for n in graded.notes), (
        graded.notes
    )
    assert not any("100" in n.split(" raised")[0] for n in graded.notes), graded.notes
