"""The Gradescope bundle, unpacked into a simulated /autograder and run like Gradescope runs it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import grade, gradescope
from autograder import notebook as nb

ASSIGNMENT = "conv_arithmetic"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return gradescope.build_bundle(ASSIGNMENT, tmp_path_factory.mktemp("bundle") / "autograder.zip")


def unpack(bundle: Path, root: Path) -> Path:
    """Gradescope's layout: the zip in ROOT/source, the student's files in ROOT/submission."""
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
        for info in archive.infolist():
            mode = (info.external_attr >> 16) & 0o777
            os.chmod(root / "source" / info.filename, mode)
    (root / "submission").mkdir()
    (root / "results").mkdir()
    return root


def run_autograder(root: Path) -> dict[str, object]:
    env = {
        "PATH": os.environ["PATH"],
        "AUTOGRADER_ROOT": str(root),
        "AUTOGRADER_PYTHON": sys.executable,
        "PYTHONPATH": str(root / "source" / "package"),  # what setup.sh's pip install provides
    }
    done = subprocess.run(
        [str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads((root / "results" / "results.json").read_text())


def test_bundle_holds_scripts_packages_and_the_source_notebook(bundle: Path) -> None:
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        modes = {i.filename: (i.external_attr >> 16) for i in archive.infolist()}
    assert {"setup.sh", "run_autograder", "requirements.txt", "course/gradescope.json"} <= names
    assert "course/.autograder/draw_secret" in names and "torch" not in archive_text(
        bundle, "requirements.txt"
    )
    assert f"course/source/{ASSIGNMENT}/{ASSIGNMENT}.ipynb" in names
    assert {"package/autograder/grade.py", "package/course_lib/__init__.py"} <= names
    assert modes["run_autograder"] & stat.S_IXUSR and modes["setup.sh"] & stat.S_IXUSR
    assert not any("__pycache__" in n for n in names)


def test_bundle_is_reproducible(bundle: Path, tmp_path: Path) -> None:
    again = gradescope.build_bundle(ASSIGNMENT, tmp_path / "again.zip")
    assert again.read_bytes() == bundle.read_bytes()


def test_run_autograder_grades_the_submission_into_results_json(bundle: Path, tmp_path: Path) -> None:
    root = unpack(bundle, tmp_path / "autograder")
    source = nb.load_source(grade.COURSE_ROOT / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    nbformat.write(nb.student_copy(source, "solution"), root / "submission" / "my_work.ipynb")
    data = run_autograder(root)
    full = sum(p for _, p in nb.plan(source, source).items)
    assert data["score"] == data["max_score"] == full
    assert [t["name"] for t in data["tests"]] == [g for g, _ in nb.plan(source, source).items]  # type: ignore[union-attr]


def test_run_autograder_without_a_notebook_scores_zero(bundle: Path, tmp_path: Path) -> None:
    root = unpack(bundle, tmp_path / "autograder")
    (root / "submission" / "notes.txt").write_text("forgot the notebook")
    data = run_autograder(root)
    assert data["score"] == 0
    assert "no notebook" in str(data["output"])


def test_unknown_assignment_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no source notebook"):
        gradescope.build_bundle("nope", tmp_path / "x.zip")


def archive_text(bundle: Path, name: str) -> str:
    with zipfile.ZipFile(bundle) as archive:
        return archive.read(name).decode()


def test_results_show_details_after_the_due_date_when_the_instructor_chooses(tmp_path: Path) -> None:
    from autograder.report import gradescope_results
    from autograder.result import ItemResult, PropResult

    result = ItemResult("conv2d", 2.0, (PropResult("stride > 1", 1.0, False, ("failing call: conv2d(...)",)),
                                        PropResult("adds the bias", 1.0, True)))  # fmt: skip
    data = gradescope_results([result], 1.0, details="after_due_date", extra={"isolation": "uid"})
    visible, hidden = data["tests"]
    assert (
        visible["visibility"] == "visible"
        and visible["score"] == 1.0
        and "failing call" not in visible["output"]
    )
    assert (
        hidden["visibility"] == "after_due_date"
        and hidden["max_score"] == 0
        and "failing call" in hidden["output"]
    )
    assert data["stdout_visibility"] == "hidden" and data["extra_data"] == {"isolation": "uid"}
    assert data["score"] == 1.0 and data["max_score"] == 2.0


def test_limits_fit_the_container() -> None:
    options = gradescope.Options(memory_mb=1024, cell_timeout=60.0)
    small = gradescope.limits_for(options, memory=768 * 2**20, cpus=0.5)
    assert small.memory_mb == 384 and small.cell_timeout == 120.0  # half the memory; half a CPU: 2x time
    roomy = gradescope.limits_for(options, memory=8 * 2**30, cpus=2.0)
    assert roomy.memory_mb == 1024 and roomy.cell_timeout == 60.0
    assert gradescope.limits_for(options, None, None).memory_mb == 1024
