"""The Gradescope bundle in a simulated Gradescope container: its own ``setup.sh`` builds the image and
its own ``run_autograder`` grades, inside bubblewrap, as root, with ``/autograder`` bound to a temporary
folder, no network, and the packages from a local folder of wheels (``--wheels``). Students' code runs
as an unprivileged uid there (the container's ``/proc`` keeps nested user namespaces from mounting
their own, as in many real containers), and the attacks that read ``/autograder/source`` or write
``results.json`` get nothing."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import grade, gradescope
from autograder import notebook as nb

ASSIGNMENT = "conv_arithmetic"
SYSTEM_PYTHON = "/usr/bin/python3"

READ_SOURCE = """
import json
nb = json.load(open('/autograder/source/course/source/conv_arithmetic/conv_arithmetic.ipynb'))
for cell in nb['cells']:
    if cell.get('metadata', {}).get('nbgrader', {}).get('grade_id') == 'output_size':
        exec(''.join(cell['source']))
"""
WRITE_RESULTS = """
import json, os, time
fake = {'score': 100.0, 'max_score': 11.0, 'tests': []}
for path in ('/autograder/results/results.json', '/autograder/results/feedback/submission/results.json'):
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        json.dump(fake, open(path, 'w'))
    except OSError:
        pass
if os.fork() == 0:  # a process that outlives the grading and rewrites the results afterwards
    os.setsid()
    if os.fork() == 0:
        time.sleep(4)
        try:
            json.dump(fake, open('/autograder/results/results.json', 'w'))
        except OSError:
            pass
    os._exit(0)
"""


def wheelhouse(requirements: str) -> Path:
    """Wheels for ``requirements`` (downloaded once, then reused from the user's cache)."""
    key = hashlib.sha256(requirements.encode()).hexdigest()[:16]
    folder = Path.home() / ".cache" / "autograder-tests" / f"wheels-{key}"
    if not (folder / ".complete").exists():
        folder.mkdir(parents=True, exist_ok=True)
        spec = folder / "requirements.txt"
        spec.write_text(requirements)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "-r", str(spec), "-d", str(folder),
             "--only-binary=:all:"],
            check=True, capture_output=True, timeout=900,
        )  # fmt: skip
        (folder / ".complete").touch()
    return folder


def container(root: Path, opt: Path, *command: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    """``command`` in a Gradescope-like container: root, the host's /usr and /etc, ``/autograder`` and
    ``/opt`` from the test, a private /tmp, no network."""
    args = ["bwrap", "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for top in ("/bin", "/sbin", "/lib", "/lib64", "/lib32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    args += [
        "--proc", "/proc", "--dev", "/dev", "--bind", str(tmp), "/tmp", "--tmpfs", "/root",
        "--bind", str(root), "/autograder", "--bind", str(opt), "/opt",
        "--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent", "--cap-add", "ALL",
        "--clearenv", "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin", "--setenv", "HOME", "/root",
        "--setenv", "LANG", "C.UTF-8", "--setenv", "AUTOGRADER_SKIP_APT", "1",
        "--setenv", "AUTOGRADER_SYSTEM_PYTHON", SYSTEM_PYTHON, "--",
    ]  # fmt: skip
    return subprocess.run([*args, *command], capture_output=True, text=True, timeout=900, check=False)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The bundle unpacked in ``/autograder/source`` and ``setup.sh`` run: ``(root, opt, tmp)``."""
    if os.getuid() != 0 or shutil.which("bwrap") is None or not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip("needs root, bubblewrap and the system's python3")
    base = tmp_path_factory.mktemp("gradescope")
    source = grade.COURSE_ROOT / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    wheels = wheelhouse(gradescope.requirements(source))
    bundle = gradescope.build_bundle(ASSIGNMENT, base / "bundle.zip", wheels=wheels)
    root, opt, tmp = base / "autograder", base / "opt", base / "tmp"
    for folder in (root / "source", root / "submission", root / "results", opt, tmp):
        folder.mkdir(parents=True)
    os.chmod(tmp, 0o1777)
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
        for info in archive.infolist():
            os.chmod(root / "source" / info.filename, (info.external_attr >> 16) & 0o777)
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    done = container(root, opt, "bash", "/autograder/source/setup.sh", tmp=tmp)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return root, opt, tmp


def grade_in_image(image: tuple[Path, Path, Path], notebook: nbformat.NotebookNode) -> dict:
    root, opt, tmp = image
    for folder in ("submission", "results"):
        shutil.rmtree(root / folder)
        (root / folder).mkdir()
    nbformat.write(notebook, root / "submission" / "homework.ipynb")
    done = container(root, opt, "/autograder/run_autograder", tmp=tmp)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return json.loads((root / "results" / "results.json").read_text())


def source_notebook() -> dict:
    return nb.load_source(grade.COURSE_ROOT / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")


@pytest.mark.slow
def test_setup_makes_the_graders_files_roots_alone(image: tuple[Path, Path, Path]) -> None:
    root, opt, _ = image
    site = next((opt / "autograder-venv" / "lib").glob("python3*/site-packages"))
    for private in (site / "autograder", site / "course_lib", root / "source"):
        assert stat.S_IMODE(private.stat().st_mode) & 0o077 == 0, private
    assert (site / "numpy").is_dir() and stat.S_IMODE((site / "numpy").stat().st_mode) & 0o005


@pytest.mark.slow
def test_the_solution_gets_full_marks_and_the_stub_none(image: tuple[Path, Path, Path]) -> None:
    full = sum(p for _, p in nb.plan(source_notebook(), source_notebook()).items)
    solved = grade_in_image(image, nb.student_copy(source_notebook(), "solution"))
    assert solved["score"] == solved["max_score"] == full
    assert solved["stdout_visibility"] == "hidden"
    assert solved["extra_data"]["isolation"] in ("namespaces", "uid")
    assert solved["extra_data"]["notebook"] == "homework.ipynb"
    stub = grade_in_image(image, nb.student_copy(source_notebook(), "stub"))
    assert stub["score"] == 0


@pytest.mark.slow
def test_attacks_on_the_autograders_files_get_nothing(image: tuple[Path, Path, Path]) -> None:
    root = image[0]
    reader = nb.student_copy(source_notebook(), {"output_size": READ_SOURCE})
    read = grade_in_image(image, reader)
    scores = {t["name"]: t["score"] for t in read["tests"]}
    assert scores["output_size"] == 0  # the instructor's solution could not be read
    assert "Permission" in read.get("output", "") or "No such file" in read.get("output", "")

    writer = nb.student_copy(source_notebook(), {"output_size": WRITE_RESULTS})
    written = grade_in_image(image, writer)
    honest = sum(t["score"] for t in written["tests"])
    assert written["score"] == honest < written["max_score"]  # the grader's own score, not the fake
    time.sleep(5)  # the double-forked process would rewrite results.json now, had it survived
    again = json.loads((root / "results" / "results.json").read_text())
    assert again == written


ATTACKS = Path(__file__).resolve().parents[1] / "hardening" / "attacks"
#: The hardening attacks that go after Gradescope's files, their placeholders filled for its layout.
GRADESCOPE_PLACES = {
    "course": "/autograder/source/course",
    "out": "/autograder/results",
    "subs": "/autograder/submission",
    "drop": "/tmp",
    "home": "/root",
    "victim": "/autograder/results/results.json",
    "sock": "/tmp/none.sock",
    "port": "9",
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("attack", "target"),
    [
        ("guard_kill_switch", "output_size"),  # reads the instructor's source notebook and runs it
        ("tests_folder_solutions", "output_size"),  # reads correct implementations from the course tree
        ("setsid_double_fork_persists", None),  # a grandchild rewrites results.json after the grader
        ("write_grader_files_nonroot", None),  # overwrites results, appends to the grader's modules
    ],
)
def test_hardening_attacks_get_nothing_in_gradescopes_container(
    image: tuple[Path, Path, Path], attack: str, target: str | None
) -> None:
    root = image[0]
    data = json.loads((ATTACKS / f"{attack}.ipynb").read_text())
    for cell in data["cells"]:
        if cell["cell_type"] == "code":
            text = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            for key, value in GRADESCOPE_PLACES.items():
                text = text.replace("{" + key + "}", value)
            cell["source"] = text
    results = grade_in_image(image, nbformat.from_dict(data))
    scores = {t["name"]: t["score"] for t in results["tests"]}
    assert results["score"] == sum(scores.values())  # the grader's own numbers
    if target is not None:
        assert scores[target] == 0, scores
    time.sleep(5)  # a process that outlived the grading would rewrite the results now
    assert json.loads((root / "results" / "results.json").read_text()) == results
    site = next((image[1] / "autograder-venv" / "lib").glob("python3*/site-packages"))
    assert "touched by a student" not in (site / "autograder" / "compare.py").read_text()
