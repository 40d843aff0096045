"""Notebooks as students really hand them in (``tests/autograder/realworld/``, README there), graded
the way Jupyter runs them: each gets full marks, with a flag for the instructor where its structure
is odd (and none where it is not). Plus the kinds the README lists without a file: a notebook over
20 MB because of its plots, a copied solution cell whose copy holds only a print, magics indented
in a loop."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder import grade, gradescope
from autograder import notebook as nb
from tests.autograder.test_gradescope import run_autograder, unpack

REALWORLD = Path(__file__).with_name("realworld")
LIMITS = grade.Limits(call_timeout=20.0, cell_timeout=60.0)

#: file or folder -> (assignment, the flag expected (a substring), or "" for none)
CASES = {
    "magics_assign_and_help.ipynb": ("convolution_by_hand", ""),
    "split_cell_conv2d.ipynb": ("convolution_by_hand", "solution cell 'conv2d' appears 2 times"),
    "lost_metadata_conv2d_single.ipynb": ("convolution_by_hand", "'conv2d_single' has no nbgrader metadata"),
    "shadowing_relu_later_cell.ipynb": ("convolution_by_hand", ""),
    "stderr_native_warning_conv2d.ipynb": ("convolution_by_hand", ""),
    "crlf_line_endings.ipynb": ("conv_arithmetic", ""),
    "several_notebooks/alice": (
        "conv_arithmetic",
        "graded conv_arithmetic-Copy1.ipynb; also found Untitled.ipynb (none of the assignment's cells)",
    ),
}


def source(assignment: str) -> dict:
    return nb.load_source(grade.COURSE_ROOT / "source" / assignment / f"{assignment}.ipynb")


def full_marks(assignment: str) -> float:
    return sum(p for _, p in nb.plan(source(assignment), source(assignment)).items)


#: The README's kinds without a file (made by :func:`_own_cases` from the instructor's solution).
OWN = {
    "plots_over_20_mb.ipynb": ("conv_arithmetic", ""),
    "copied_cell_with_a_print.ipynb": ("conv_arithmetic", "solution cell 'output_size' appears 2 times"),
    "magics_indented_in_a_loop.ipynb": ("conv_arithmetic", ""),
}
ALL = {**CASES, **OWN}


def _own_cases(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    src = source("conv_arithmetic")
    plots = nb.student_copy(src, "solution")
    png = {"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBORw0KGgo" * (2 * 2**20)}}
    code_cells = [c for c in plots.cells if c.cell_type == "code"]
    code_cells[-1].outputs = [nbformat.from_dict(png)]  # 22 MB of a plot's base64
    nbformat.write(plots, folder / "plots_over_20_mb.ipynb")
    assert (folder / "plots_over_20_mb.ipynb").stat().st_size > 20 * 2**20
    copied = nb.student_copy(src, "solution")
    cell = next(c for c in copied.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "output_size")
    copy = nbformat.from_dict(json.loads(json.dumps(cell)))
    copy.source, copy.id = "print(output_size(5, 3))", "output-size-copy"
    copied.cells.insert(copied.cells.index(cell) + 1, copy)
    nbformat.write(copied, folder / "copied_cell_with_a_print.ipynb")
    looped = nb.student_copy(src, "solution")
    cell = next(
        c for c in looped.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "receptive_field"
    )
    cell.source += (
        "\n\nfor _k in (3, 5):\n    %time _rf = receptive_field([_k] * 4)\n"
        "    _x = %timeit -o -n 1 -r 1 len([])\n"
    )
    nbformat.write(looped, folder / "magics_indented_in_a_loop.ipynb")


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, grade.Graded]:
    """Every case graded by the standalone grader, one batch per assignment."""
    root = tmp_path_factory.mktemp("realworld")
    _own_cases(root / "own")
    cases = ALL
    records: dict[str, grade.Graded] = {}
    for assignment in sorted({a for a, _ in cases.values()}):
        subs = root / "subs" / assignment
        subs.mkdir(parents=True)
        names = {}
        for name, (of, _) in cases.items():
            if of != assignment:
                continue
            where = REALWORLD / name if (REALWORLD / name).exists() else root / "own" / name
            student = Path(name).stem.replace("/", "_") if where.is_file() else Path(name).name
            if where.is_file():
                (subs / student).mkdir()
                shutil.copy(where, subs / student / where.name)
            else:
                shutil.copytree(where, subs / student)
            names[student] = name
        settings = grade.Settings(assignment, out=root / "out" / assignment, limits=LIMITS)
        found = grade.find_submissions([subs], assignment, source(assignment))
        grade.grade_batch(found, settings, jobs=2, quiet=True)
        for student, name in names.items():
            loaded = grade.load_record(root / "out" / assignment / student, assignment)
            assert loaded is not None, name
            records[name] = loaded
    return records


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ALL))
def test_real_world_notebooks_get_full_marks_with_the_right_flags(
    graded: dict[str, grade.Graded], name: str
) -> None:
    record = graded[name]
    expected_flag = ALL[name][1]
    assert record.total == full_marks(record.assignment), (record.notes, [r.message for r in record.results])
    if expected_flag:
        assert any(expected_flag in f for f in record.flags), record.flags
    else:
        assert record.flags == []
    assert not any("edited" in f for f in record.flags)  # CRLF and magics are not edits


@pytest.mark.slow
def test_the_graded_file_is_named_in_the_record_and_the_feedback(graded: dict[str, grade.Graded]) -> None:
    assert graded["several_notebooks/alice"].notebook == "conv_arithmetic-Copy1.ipynb"
    assert graded["crlf_line_endings.ipynb"].notebook == "crlf_line_endings.ipynb"


@pytest.mark.slow
def test_a_mac_zip_on_gradescope_grades_the_real_notebook(tmp_path: Path) -> None:
    bundle = gradescope.build_bundle("conv_arithmetic", tmp_path / "autograder.zip")
    root = unpack(bundle, tmp_path / "autograder")
    shutil.rmtree(root / "submission")
    shutil.copytree(REALWORLD / "gradescope_mac_zip" / "submission", root / "submission")
    data = run_autograder(root)
    assert data["score"] == data["max_score"] == full_marks("conv_arithmetic")
    assert "._my_hw2.ipynb" not in json.dumps(data)


#: The real-world notebooks nbgrader can find at all (it skips a renamed notebook, extra notebooks and
#: zip layouts before any preprocessor runs): student -> (assignment, file).
NBGRADER_CAN_FIND = {
    name.removesuffix(".ipynb"): (assignment, name)
    for name, (assignment, _) in CASES.items()
    if name.endswith(".ipynb")
}


def _nbgrader_course(root: Path) -> Path:
    import nbformat as nbf

    course = root / "course"
    (course / "source").mkdir(parents=True)
    shutil.copy2(grade.COURSE_ROOT / "nbgrader_config.py", course)
    for assignment in sorted({a for a, _ in NBGRADER_CAN_FIND.values()}):
        shutil.copytree(grade.COURSE_ROOT / "source" / assignment, course / "source" / assignment)
    for student, (assignment, name) in NBGRADER_CAN_FIND.items():
        folder = course / "submitted" / student / assignment
        folder.mkdir(parents=True)
        shutil.copy(REALWORLD / name, folder / f"{assignment}.ipynb")
        assert nbf.read(folder / f"{assignment}.ipynb", as_version=4)  # nbgrader can read it
    return course


def _nbgrader(args: list[str], course: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run([sys.executable, "-m", *args], cwd=course, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("path", ["nbgrader autograde", "grade --gradebook"])
def test_nbgrader_and_the_standalone_grader_agree_on_real_world_notebooks(
    graded: dict[str, grade.Graded], tmp_path: Path, path: str
) -> None:
    """Every notebook nbgrader can find, through the course's nbgrader configuration (sandboxed) and
    through the parallel gradebook path: nbgrader's own gradebook holds the standalone grader's scores."""
    from nbgrader.api import Gradebook

    course = _nbgrader_course(tmp_path)
    for assignment in sorted({a for a, _ in NBGRADER_CAN_FIND.values()}):
        _nbgrader(["nbgrader", "generate_assignment", assignment, "--force"], course)
        if path == "nbgrader autograde":
            _nbgrader(["nbgrader", "autograde", assignment, "--create", "--force"], course)
        else:
            _nbgrader(["autograder", "grade", str(course), "--assignment", assignment, "--gradebook",
                       "--jobs", "2", "--quiet"], course)  # fmt: skip
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student, (assignment, name) in NBGRADER_CAN_FIND.items():
            notebook = gb.find_submission(assignment, student).notebooks[0]
            theirs = {
                g.name[5:]: float(g.auto_score or 0) for g in notebook.grades if g.name.startswith("test_")
            }
            ours = {r.grade_id: r.earned for r in graded[name].results}
            assert theirs == ours, (name, theirs, ours)
            assert theirs == {r.grade_id: r.points for r in graded[name].results}  # full marks
