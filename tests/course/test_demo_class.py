"""The demo class (``python -m autograder.demo conv_arithmetic --root TMP``), built once for this module:

- the demo writes only into its root: the checkout's tracked files (``release/`` included) are
  untouched, byte for byte and in their modification times;
- the class report (``python -m autograder report``) on the demo's standalone records, with three more
  submissions graded into the same folder (two more students with cy's bug, one who tampered with a
  test cell's points): per-item distribution, property pass rates, the shared smallest failing call
  (3 students), the flagged student, clean figures, and the CSV/JSON files agree with the grader's
  own grades.csv;
- the formgrader on the demo class in headless Chromium, offline, with JupyterLab started above the
  course root and the course found through the instructor's nbgrader_config.py (the README's recipe):
  the assignment list and a graded
  submission whose formulas are MathML (screenshots ``out/screenshots/formgrader*.png``), and
  nbgrader's feedback page for the solution, also offline.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.class_report import build, find_records, make_figures
from autograder.release import COURSE_ROOT
from tests.browser.lab import chromium, jupyterlab, needs_browser, screenshot
from tests.notebooks.figure_check import figure_problems

ASSIGNMENT = "conv_arithmetic"
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("demo-class")]


def _tracked() -> dict[str, tuple[str, int]]:
    """Every tracked file of the checkout: (sha256, mtime in ns)."""
    names = (
        subprocess.run(["git", "ls-files", "-z"], cwd=COURSE_ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    found = {}
    for name in filter(None, names):
        path = COURSE_ROOT / name
        if path.is_file() and not path.is_symlink():
            found[name] = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
    return found


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, tuple[str, int]]]]:
    """The demo class of conv_arithmetic in a temporary root, and the tracked files before it ran."""
    root = tmp_path_factory.mktemp("demo") / "class"
    before = _tracked()
    proc = subprocess.run(
        [sys.executable, "-m", "autograder.demo", ASSIGNMENT, "--root", str(root)],
        cwd=COURSE_ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "all scores as expected; both graders agree" in proc.stdout
    yield root, before


def test_the_demo_writes_nothing_tracked(demo: tuple[Path, dict[str, tuple[str, int]]]) -> None:
    root, before = demo
    assert _tracked() == before
    assert (root / "class_report" / "index.html").is_file()


def _grade(paths: list[Path], out: Path) -> None:
    command = [sys.executable, "-m", "autograder", "grade", *map(str, paths), "--assignment", ASSIGNMENT]
    command += ["--out", str(out), "--jobs", "1", "--quiet", "--call-timeout", "60"]
    subprocess.run(command, cwd=COURSE_ROOT, check=True, capture_output=True, timeout=900)


def test_the_class_report_of_the_demo_class(
    demo: tuple[Path, dict[str, tuple[str, int]]], tmp_path: Path
) -> None:
    root, _ = demo
    out = tmp_path / "graded"
    shutil.copytree(root / "standalone" / ASSIGNMENT, out)
    # three more students: two with cy's bug (true division in output_size), one who raised a test's points
    extra = tmp_path / "more"
    extra.mkdir()
    cy = root / "submitted" / "cy" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    for name in ("cy2", "cy3"):
        (extra / f"{name}.ipynb").write_bytes(cy.read_bytes())
    tampered = nbformat.read(root / "submitted" / "ada" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    for cell in tampered.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_conv2d_params":
            cell.metadata.nbgrader.points = 20
    nbformat.write(tampered, extra / "tampered.ipynb")
    _grade([extra], out)

    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "report", str(out)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    report = out / "class_report"
    students = ["ada", "bo", "cy", "cy2", "cy3", "di", "ed", "fa", "tampered"]

    # grades.csv (for an LMS) agrees with the grader's own grades.csv
    graded = {r["student"]: r["total"] for r in csv.DictReader((out / "grades.csv").open())}
    lms = {r["student"]: r[ASSIGNMENT] for r in csv.DictReader((report / "grades.csv").open())}
    assert sorted(lms) == students and lms == graded

    items = {r["item"]: r for r in csv.DictReader((report / "items.csv").open())}
    assert items["output_size"]["not_written"] == "1"  # bo handed in the stubs
    assert items["output_size"]["partial"] == "4"  # cy, the two copies, and fa (the same bug)
    assert items["receptive_field"]["partial"] == "1" and items["conv2d_params"]["partial"] == "1"  # di, ed

    # the property cy's bug breaks: the 8 students who wrote output_size, 4 of them fail it
    props = {(r["item"], r["property"]): r for r in csv.DictReader((report / "properties.csv").open())}
    floor = props[("output_size", "stride > 1 rounds down")]
    assert (floor["passed"], floor["tried"]) == ("4", "8")

    shared = [r for r in csv.DictReader((report / "misconceptions.csv").open()) if r["students"] == "4"]
    assert {r["property"] for r in shared} >= {"stride > 1 rounds down"}
    assert all(
        r["who"] == "cy cy2 cy3 fa" and "got 1.5" in r["outcome"]
        for r in shared
        if "rounds down" in r["property"]
    )

    flagged = {r["student"]: r["reasons"] for r in csv.DictReader((report / "flagged.csv").open())}
    assert set(flagged) == {"tampered", "fa"} and "points" in flagged["tampered"]
    assert "tried to import" in flagged["fa"]  # fa's in-kernel cheat imports the grader: flagged

    page = (report / "index.html").read_text()
    assert "<b>4 students</b> fail <i>output_size: stride &gt; 1 rounds down</i>" in page
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 3 and all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    data = json.loads((report / "class_report.json").read_text())
    assert {m["students"] for m in data["misconceptions"]} >= {4, 1}
    # the figures are clean: no overlapping or cut-off text, no empty box
    for name, figure in make_figures(build(find_records([out]))).items():
        assert figure_problems(figure) == [], name


@needs_browser
def test_the_formgrader_on_the_demo_class_offline(
    demo: tuple[Path, dict[str, tuple[str, int]]], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    root, _ = demo
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        notebook_id = gradebook.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, "ada").id
    # the README's recipe: JupyterLab started above the course root, the course found through the
    # instructor's ~/.jupyter/nbgrader_config.py (here the server's own config folder)
    config = tmp_path / "jupyter-config"
    config.mkdir()
    (config / "nbgrader_config.py").write_text(f"load_subconfig({str(root / 'nbgrader_config.py')!r})\n")
    with jupyterlab(root.parent, tmp_path) as lab, chromium(tmp_path) as driver:
        wait = WebDriverWait(driver, 120, poll_frequency=0.5)
        driver.get(lab.url("formgrader/manage_assignments"))
        wait.until(lambda d: ASSIGNMENT in d.find_element(By.TAG_NAME, "body").text)
        body = driver.find_element(By.TAG_NAME, "body").text
        assert "Manage Assignments" in body and re.search(rf"{ASSIGNMENT}\s.*\b6\b", body), body[:2000]
        assert "does not exist" not in body  # the demo class has its own exchange
        screenshot(driver, "formgrader")

        driver.get(lab.url(f"formgrader/submissions/{notebook_id}/?index=0"))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "math"))
        text = driver.find_element(By.TAG_NAME, "body").text
        assert "$W$" not in text and "\\lfloor" not in text  # no raw LaTeX, though MathJax cannot load
        block = driver.find_element(By.CSS_SELECTOR, "math[display='block']")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", block)
        screenshot(driver, "formgrader_submission")

    feedback = root / "feedback" / "ada" / ASSIGNMENT / f"{ASSIGNMENT}.html"
    with chromium(tmp_path) as driver:
        driver.get(feedback.as_uri())
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "math"))
        assert "\\frac" not in driver.find_element(By.TAG_NAME, "body").text
        screenshot(driver, "feedback")
