"""What students hand in besides a plain notebook: their own helper modules (``from my_helpers import
*``, ``%run my_solutions.py``), zips (also a zip in a folder of the uploaded zip), a Jupyter
checkpoint copy, or no notebook at all. Correct solutions get full marks; symbolic links, zip bombs
and paths out of the unpacking folder are refused with a note."""

from __future__ import annotations

import csv
import json
import os
import time
import tracemalloc
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import grade, gradescope, intake
from autograder import notebook as nb
from tests.autograder.test_gradescope import run_autograder, unpack

ASSIGNMENT = "conv_arithmetic"
LIMITS = grade.Limits(call_timeout=5.0, cell_timeout=20.0, submission_timeout=120.0)
IMPORTS = "import math\nimport numpy as np\n\n"


def source() -> dict:
    return nb.load_source(grade.COURSE_ROOT / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")


def full_marks() -> float:
    return sum(p for _, p in nb.plan(source(), source()).items)


def solution_code(grade_id: str) -> str:
    """The instructor's solution of ``grade_id`` (the oracle: it scores full marks in its own cell)."""
    copy = nb.student_copy(source(), "solution")
    return next(c.source for c in copy.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def helpers_notebook() -> nbformat.NotebookNode:
    """The solution with its answers moved to the student's own files: ``my_helpers.py`` (imported)
    holds output_size, ``my_solutions.py`` (``%run``) the other two."""
    return nb.student_copy(
        source(),
        {
            "output_size": "from my_helpers import *",
            "receptive_field": "%run my_solutions.py",
            "conv2d_params": "# defined by my_solutions.py above",
        },
    )


def write_helpers(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "my_helpers.py").write_text(IMPORTS + solution_code("output_size"))
    (folder / "my_solutions.py").write_text(
        IMPORTS + solution_code("receptive_field") + "\n\n" + solution_code("conv2d_params")
    )


def zip_bytes(members: dict[str, bytes]) -> bytes:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"zip-{os.getpid()}-{time.monotonic_ns()}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    data = path.read_bytes()
    path.unlink()
    return data


# ------------------------------------------------------------------------------- no sandbox needed


def test_own_files_copies_regular_py_files_and_refuses_links_and_clashes(tmp_path: Path) -> None:
    folder = tmp_path / "alice"
    write_helpers(folder)
    secret = tmp_path / "instructor" / "solutions.py"
    secret.parent.mkdir()
    secret.write_text("ANSWER = 42\n")
    (folder / "linked.py").symlink_to(secret)
    os.link(secret, folder / "hard.py")
    os.mkfifo(folder / "pipe.py")
    (folder / "._my_helpers.py").write_bytes(b"\x00\x05\x16\x07")  # Mac resource fork
    (folder / "fashion_data.py").write_text("def load():\n    return 'mine'\n")
    (folder / "stripes_data.py").write_text("RELEASED = True\n")  # the released file, unchanged
    own = intake.own_files(folder, reserved={"fashion_data.py": b"", "stripes_data.py": b"RELEASED = True\n"})
    assert sorted(own.files) == ["my_helpers.py", "my_solutions.py"]
    assert own.files["my_helpers.py"] == (folder / "my_helpers.py").read_bytes()
    notes = "\n".join(own.notes)
    assert "linked.py was skipped (not copied next to the notebook): it is a symbolic link" in notes
    assert "hard.py was skipped (not copied next to the notebook): it is a hard link" in notes
    assert "pipe.py was skipped (not copied next to the notebook): it is not a regular file" in notes
    assert "your fashion_data.py was not used: the assignment provides its own" in notes
    assert set(own.skipped) == {"linked.py", "hard.py", "pipe.py", "fashion_data.py"}
    # a symlinked folder is not read at all; junk folders are not either
    (tmp_path / "bob").symlink_to(folder)
    assert intake.own_files(tmp_path / "bob").files == {}
    assert "bob/ is a symbolic link" in intake.own_files(tmp_path / "bob").notes[0]
    assert intake.own_files(folder / ".ipynb_checkpoints") == intake.OwnFiles()


def test_own_files_caps_the_count_and_the_total_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(intake.MAX_OWN_FILES + 3):
        (tmp_path / f"m{i:03d}.py").write_text(f"X = {i}\n")
    own = intake.own_files(tmp_path)
    assert len(own.files) == intake.MAX_OWN_FILES and "m000.py" in own.files
    assert own.notes == (f"only {intake.MAX_OWN_FILES} .py files were copied next to the notebook; "
                         "not copied: m064.py, m065.py, m066.py",)  # fmt: skip
    monkeypatch.setattr(intake, "MAX_OWN_BYTES", 20)
    big = tmp_path / "big"
    big.mkdir()
    (big / "a.py").write_text("A = 1\n" * 3)  # 18 bytes
    (big / "b.py").write_text("B = 1\n")  # 6 more: over 20
    own = intake.own_files(big)
    assert list(own.files) == ["a.py"]
    assert own.notes == ("b.py was skipped (not copied next to the notebook): it is over the 20 bytes all "
                         ".py files may hold",)  # fmt: skip


def test_submission_digest_changes_with_a_helper_file(tmp_path: Path) -> None:
    write_helpers(tmp_path)
    notebook = tmp_path / "hw.ipynb"
    nbformat.write(helpers_notebook(), notebook)
    sub = grade.Submission("alice", notebook)
    src = grade.COURSE_ROOT / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    before = grade.submission_digest(notebook, src, grade.student_files(sub).files)
    (tmp_path / "my_helpers.py").write_text(IMPORTS + "def output_size(*args):\n    return 0\n")
    after = grade.submission_digest(notebook, src, grade.student_files(sub).files)
    assert before != after
    # without helper files the digest is the one records written before helper files counted hold
    assert grade.submission_digest(notebook, src, {}) == grade.submission_digest(notebook, src)


def test_a_zip_bomb_is_refused_in_bounded_time_and_memory(tmp_path: Path) -> None:
    bomb = tmp_path / "hw.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("hw/conv_arithmetic.ipynb")
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as member:
            zeros = bytes(2**20)
            for _ in range(1024):  # 1 GB of zeros
                member.write(zeros)
    assert bomb.stat().st_size < 2 * 2**20
    tracemalloc.start()
    start = time.monotonic()
    try:
        got = intake.unzip(bomb, tmp_path / "out")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - start < 5.0 and peak < 8 * 2**20, (time.monotonic() - start, peak)
    assert got.notebooks == ()
    assert got.notes == ("hw.zip: hw/conv_arithmetic.ipynb was not unpacked: it unpacks to 1024 MB, over "
                         "the 64 MB allowed",)  # fmt: skip
    assert list((tmp_path / "out").rglob("*")) == []


def test_a_member_whose_header_lies_about_its_size_is_read_only_up_to_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header's size is checked first; the bytes really decompressed are counted too."""
    path = tmp_path / "hw.zip"
    path.write_bytes(zip_bytes({"hw.ipynb": bytes(4 * 2**20)}))
    monkeypatch.setattr(intake, "CHUNK", 2**16)
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("hw.ipynb")
        info.file_size = 2**20  # what a forged header would claim
        with pytest.raises(intake.Refused, match=r"could not be unpacked|more than the 2 MB allowed"):
            intake._read_member(archive, info, 2 * 2**20)
        info.file_size = 4 * 2**20
        with pytest.raises(intake.Refused, match="it unpacks to 4 MB, over the 2 MB allowed"):
            intake._read_member(archive, info, 2 * 2**20)


def test_unzip_never_writes_outside_its_folder_and_skips_links_and_junk(tmp_path: Path) -> None:
    path = tmp_path / "hw.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("../evil.ipynb", "{}")
        archive.writestr("/abs.ipynb", "{}")
        archive.writestr("__MACOSX/hw/._hw.ipynb", "junk")
        link = zipfile.ZipInfo("hw/link.py")
        link.external_attr = (0o120777) << 16  # a symbolic link to the instructor's solutions
        archive.writestr(link, "/autograder/source/solutions.py")
        archive.writestr("hw/hw.ipynb", "{}")
        archive.writestr("hw/inner.zip", b"PK")
        archive.writestr("hw/notes.txt", "hi")
    into = tmp_path / "a" / "b" / "out"
    got = intake.unzip(path, into)
    assert [(p.relative_to(into).as_posix(), m) for p, m in got.notebooks] == [("hw/hw.ipynb", "hw/hw.ipynb")]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        "a/b/out/hw/hw.ipynb",
        "hw.zip",
    ]
    notes = "\n".join(got.notes)
    assert "'../evil.ipynb' was not unpacked (an absolute path or '..')" in notes
    assert "'/abs.ipynb' was not unpacked" in notes
    assert "hw/link.py was not unpacked (a symbolic link)" in notes
    assert "hw/inner.zip was not opened (zips inside a zip are not)" in notes


def test_find_submissions_gives_every_student_folder_a_row(tmp_path: Path) -> None:
    subs_dir = tmp_path / "subs"
    (subs_dir / "frank").mkdir(parents=True)
    (subs_dir / "frank" / "notes.txt").write_text("I ran out of time")
    (subs_dir / "frank" / "hw.zip").write_bytes(zip_bytes({"hw/readme.txt": b"x"}))
    (subs_dir / "gina" / ".ipynb_checkpoints").mkdir(parents=True)
    (subs_dir / "gina" / ".ipynb_checkpoints" / "hw-checkpoint.ipynb").write_text("{}")
    subs = {s.student: s for s in grade.find_submissions([subs_dir], ASSIGNMENT, source())}
    assert set(subs) == {"frank", "gina"}
    assert (
        subs["frank"].missing
        == "no notebook in frank/: found hw.zip (no .ipynb inside; holds readme.txt), notes.txt"
    )
    assert subs["gina"].flags == (
        "graded the Jupyter checkpoint copy .ipynb_checkpoints/hw-checkpoint.ipynb: the notebook itself "
        "was not handed in",
    )
    assert subs["gina"].helpers_folder() == subs_dir / "gina"


# ------------------------------------------------------------------------------------- in the sandbox


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """alice: helper files; bob: the same, symlinked; dave: only a zip; erin: only a checkpoint copy;
    frank: no notebook; gwen: a zip beside the students' folders; hank: the same without a notebook."""
    root = tmp_path_factory.mktemp("intake")
    subs_dir = root / "subs"
    for student in ("alice", "bob"):
        (subs_dir / student).mkdir(parents=True)
        nbformat.write(helpers_notebook(), subs_dir / student / f"{ASSIGNMENT}.ipynb")
    write_helpers(subs_dir / "alice")
    write_helpers(root / "elsewhere")
    (subs_dir / "bob" / "my_helpers.py").symlink_to(root / "elsewhere" / "my_helpers.py")
    (subs_dir / "bob" / "my_solutions.py").write_bytes((root / "elsewhere" / "my_solutions.py").read_bytes())
    (subs_dir / "dave").mkdir()
    solution = nbformat.writes(nb.student_copy(source(), "solution")).encode()
    (subs_dir / "dave" / "hw.zip").write_bytes(zip_bytes({f"hw/{ASSIGNMENT}.ipynb": solution}))
    (subs_dir / "erin" / ".ipynb_checkpoints").mkdir(parents=True)
    (subs_dir / "erin" / ".ipynb_checkpoints" / f"{ASSIGNMENT}-checkpoint.ipynb").write_bytes(solution)
    (subs_dir / "frank").mkdir()
    (subs_dir / "frank" / "notes.txt").write_text("I ran out of time")
    (subs_dir / "frank" / "hw.zip").write_bytes(zip_bytes({"hw/readme.txt": b"x"}))
    (subs_dir / "gwen.zip").write_bytes(
        zip_bytes({f"work/{ASSIGNMENT}.ipynb": solution})
    )  # beside the folders
    (subs_dir / "hank.zip").write_bytes(zip_bytes({"work/answers.txt": b"x"}))
    subs = grade.find_submissions([subs_dir], ASSIGNMENT, source())
    out = root / "out"
    grade.grade_batch(subs, grade.Settings(ASSIGNMENT, out=out, limits=LIMITS), jobs=2, quiet=True)
    return out


def record(out: Path, student: str) -> dict:
    return json.loads((out / student / grade.RECORD).read_text())


def test_helper_files_next_to_the_notebook_are_imported_and_run(batch: Path) -> None:
    alice = record(batch, "alice")
    assert alice["total"] == full_marks(), alice


def test_a_symlinked_helper_file_is_not_copied(batch: Path) -> None:
    bob = record(batch, "bob")
    scores = {item["grade_id"]: item["earned"] for item in bob["items"]}
    assert scores["output_size"] == 0 and bob["total"] == full_marks() - 5, bob
    notes = "\n".join(bob["notes"])
    assert "my_helpers.py was skipped (not copied next to the notebook): it is a symbolic link" in notes
    assert "ModuleNotFoundError: No module named 'my_helpers'" in notes


def test_zip_and_checkpoint_submissions_are_graded_and_every_student_has_a_row(batch: Path) -> None:
    rows = {row["student"]: row for row in csv.DictReader((batch / "grades.csv").open())}
    assert set(rows) == {"alice", "bob", "dave", "erin", "frank", "gwen", "hank"}
    gwen, hank = record(batch, "gwen"), record(batch, "hank")
    assert gwen["total"] == full_marks() and gwen["notebook"] == f"gwen.zip:work/{ASSIGNMENT}.ipynb"
    assert hank["total"] == 0 and hank["notes"][0].startswith("no notebook in hank.zip")
    dave, erin, frank = (record(batch, s) for s in ("dave", "erin", "frank"))
    assert dave["total"] == erin["total"] == full_marks()
    assert dave["notebook"] == f"hw.zip:hw/{ASSIGNMENT}.ipynb"
    assert f"graded hw/{ASSIGNMENT}.ipynb from inside hw.zip" in dave["notes"]
    assert "from inside hw.zip" in (batch / "dave" / "feedback.md").read_text()
    assert erin["flags"] == [f"graded the Jupyter checkpoint copy .ipynb_checkpoints/{ASSIGNMENT}-checkpoint"
                             ".ipynb: the notebook itself was not handed in"]  # fmt: skip
    assert frank["total"] == 0 and float(rows["frank"]["total"]) == 0
    assert (
        frank["notes"][0]
        == "no notebook in frank/: found hw.zip (no .ipynb inside; holds readme.txt), notes.txt"
    )


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return gradescope.build_bundle(ASSIGNMENT, tmp_path_factory.mktemp("bundle") / "autograder.zip")


def test_gradescope_grades_a_zip_in_a_folder_of_the_upload_with_its_helper_file(
    bundle: Path, tmp_path: Path
) -> None:
    root = unpack(bundle, tmp_path / "autograder")
    notebook = nbformat.writes(
        nb.student_copy(source(), {"output_size": "from my_helpers import *"})
    ).encode()
    helper = (IMPORTS + solution_code("output_size")).encode()
    (root / "submission" / "work").mkdir()
    (root / "submission" / "work" / "hw.zip").write_bytes(
        zip_bytes(
            {f"hw/{ASSIGNMENT}.ipynb": notebook, "hw/my_helpers.py": helper, "__MACOSX/hw/._x.ipynb": b""}
        )
    )
    data = run_autograder(root)
    assert data["score"] == data["max_score"] == full_marks(), data
    assert data["extra_data"]["notebook"] == f"work/hw.zip:hw/{ASSIGNMENT}.ipynb"  # type: ignore[index]
    assert f"graded hw/{ASSIGNMENT}.ipynb from inside work/hw.zip" in str(data["output"])


def test_gradescope_names_what_it_found_when_there_is_no_notebook(bundle: Path, tmp_path: Path) -> None:
    root = unpack(bundle, tmp_path / "autograder")
    (root / "submission" / "hw.zip").write_bytes(zip_bytes({"hw/answers.pdf": b"%PDF"}))
    data = run_autograder(root)
    assert data["score"] == 0
    assert str(data["output"]).startswith(
        "no notebook was submitted: no notebook in submission/: found hw.zip (no .ipynb inside; "
        "holds answers.pdf)"
    ), data["output"]


def test_symbolic_links_to_the_instructors_files_are_not_followed(tmp_path: Path) -> None:
    """The grader often runs as root: a student's notebook, folder or assignment folder that is a
    symbolic link (say to the instructor's source notebook, which holds the solutions) is refused
    with a clear note and scores 0, instead of being graded as the student's work."""
    source_notebook = grade.COURSE_ROOT / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    subs_dir = tmp_path / "subs"
    (subs_dir / "ivan").mkdir(parents=True)
    (subs_dir / "ivan" / f"{ASSIGNMENT}.ipynb").symlink_to(source_notebook)
    (subs_dir / "judy").symlink_to(source_notebook.parent)
    (subs_dir / "ken").mkdir()
    (subs_dir / "ken" / ASSIGNMENT).symlink_to(source_notebook.parent)
    subs = grade.find_submissions([subs_dir], ASSIGNMENT, source())
    out = tmp_path / "out"
    grade.grade_batch(subs, grade.Settings(ASSIGNMENT, out=out, limits=LIMITS), jobs=1, quiet=True)
    for student, why in [
        ("ivan", f"{ASSIGNMENT}.ipynb is a symbolic link"),
        ("judy", "judy/ is a symbolic link"),
        ("ken", f"ken/{ASSIGNMENT}/ is a symbolic link"),
    ]:
        graded = record(out, student)
        assert graded["total"] == 0 and why in graded["notes"][0], graded["notes"]
