"""A student's JupyterLab 4, driven in headless Chromium: the student environment's settings
(``student/etc/jupyter``), the released conv_arithmetic notebook, Run All, then the Validate button.

- untouched release (stubs): Run All stops at the first check with the stub's NotImplementedError, and
  Validate lists every function still to write by name and both unanswered questions, and shows no
  hidden test; the student has the Assignment List but no formgrader, course list or Create Assignment
  (the formgrader's page is not served);
- the solution with the questions answered: every cell runs, every check prints "all checks passed"
  and Validate says "Success!".

Screenshots: ``out/screenshots/validate_stub.png`` and ``validate_solution.png``.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from typing import Any

import nbformat
import pytest

from autograder.release import COURSE_ROOT
from tests.browser.lab import Lab, chromium, jupyterlab, needs_browser, screenshot
from tests.notebooks.course_notebooks import meta, with_solutions

ASSIGNMENT = "conv_arithmetic"
pytestmark = [needs_browser, pytest.mark.slow, pytest.mark.xdist_group("student-lab")]
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"
"""The notebook on screen (an earlier one stays in the page, hidden, in its own tab)."""


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, Any]]:
    """A student's home with the release as fetched (``stub/``) and as finished (``done/``), served by
    JupyterLab with the student settings; and a browser."""
    scratch = tmp_path_factory.mktemp("student-lab")
    home = scratch / "home"
    shutil.copytree(COURSE_ROOT / "release" / ASSIGNMENT, home / "stub")
    shutil.copytree(COURSE_ROOT / "release" / ASSIGNMENT, home / "done")
    finished = with_solutions(ASSIGNMENT)
    for cell in finished.cells:
        if cell.cell_type == "markdown" and meta(cell).get("solution"):
            cell.source = "My answer, with the numbers of my run."
    nbformat.write(finished, home / "done" / f"{ASSIGNMENT}.ipynb")
    with jupyterlab(home, scratch, student=True) as lab, chromium(scratch) as driver:
        yield lab, driver


def _open_and_run_all(lab: Lab, driver: Any, folder: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(lab.url(f"lab/tree/{folder}/{ASSIGNMENT}.ipynb"))
    wait = WebDriverWait(driver, 180, poll_frequency=0.5)
    wait.until(lambda d: "Idle" in d.find_element(By.ID, "jp-main-statusbar").text)
    _menu(driver, "Run", "Run All Cells")

    def finished(d: Any) -> bool:
        prompts = [
            e.text for e in d.find_elements(By.CSS_SELECTOR, f"{NOTEBOOK} .jp-CodeCell .jp-InputPrompt")
        ]
        ran = any(re.fullmatch(r"\[\d+\]:", p) for p in prompts) and not any("*" in p for p in prompts)
        return ran and "Idle" in d.find_element(By.ID, "jp-main-statusbar").text

    wait.until(finished)


def _menu(driver: Any, menu: str, item: str | None = None) -> list[str]:
    """Open ``menu`` in the menu bar; click ``item`` (or close the menu); return the item labels."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    next(e for e in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-itemLabel") if e.text == menu).click()
    time.sleep(0.5)
    items = driver.find_elements(By.CSS_SELECTOR, ".lm-Menu-itemLabel")
    labels = [e.text for e in items if e.text]
    if item is None:
        driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    else:
        next(e for e in items if e.text == item).click()
    return labels


def _validate(driver: Any) -> str:
    """Press Validate; the dialog's text once nbgrader has answered."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    buttons = driver.find_elements(
        By.CSS_SELECTOR, f"{NOTEBOOK} button, {NOTEBOOK} .jp-ToolbarButtonComponent"
    )
    next(b for b in buttons if b.text.strip() == "Validate").click()
    wait = WebDriverWait(driver, 300, poll_frequency=0.5)
    wait.until(
        lambda d: (
            "Validation Results" in " ".join(e.text for e in d.find_elements(By.CLASS_NAME, "jp-Dialog"))
        )
    )
    dialog = driver.find_element(By.CLASS_NAME, "jp-Dialog")
    return str(dialog.get_attribute("innerText"))


def _close_dialog(driver: Any) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, ".jp-Dialog .jp-mod-accept").click()
    time.sleep(0.5)


def test_validate_names_every_function_a_student_has_not_written(student: tuple[Lab, Any]) -> None:
    from selenium.webdriver.common.by import By

    lab, driver = student
    _open_and_run_all(lab, driver, "stub")
    errors = [
        e.text
        for e in driver.find_elements(
            By.CSS_SELECTOR, f"{NOTEBOOK} [data-mime-type='application/vnd.jupyter.stderr']"
        )
    ]
    assert len(errors) == 1 and "NotImplementedError" in errors[0], errors  # Run All stops at the first check

    shown = _validate(driver)
    screenshot(driver, "validate_stub")
    assert shown.count("The following cell failed:") == 5, shown[:2000]
    for name in ("output_size", "receptive_field", "conv2d_params"):
        assert f"# Checks for {name}" in shown, name
    assert shown.count("You did not provide a response.") == 2
    assert "write this function as its docstring says" in shown
    for secret in ("HIDDEN TESTS", "from autograder", "Hidden tests:"):
        assert secret not in shown, secret
    _close_dialog(driver)

    # the student's tools only
    assert _menu(driver, "Nbgrader") == ["Assignment List"]
    panels = [e.get_attribute("title") or "" for e in driver.find_elements(By.CSS_SELECTOR, ".lm-TabBar-tab")]
    assert not any("Create Assignment" in p for p in panels), panels
    assert lab.status("formgrader") == 404 and lab.status("lab") == 200


def test_a_finished_notebook_validates(student: tuple[Lab, Any]) -> None:
    from selenium.webdriver.common.by import By

    lab, driver = student
    _open_and_run_all(lab, driver, "done")
    prompts = [
        e.text for e in driver.find_elements(By.CSS_SELECTOR, f"{NOTEBOOK} .jp-CodeCell .jp-InputPrompt")
    ]
    assert all(re.fullmatch(r"\[\d+\]:", p) for p in prompts), prompts
    outputs = " ".join(
        e.text for e in driver.find_elements(By.CSS_SELECTOR, f"{NOTEBOOK} .jp-OutputArea-output")
    )
    assert outputs.count("all checks passed") == 3 and "Error" not in outputs
    shown = _validate(driver)
    screenshot(driver, "validate_solution")
    assert "Success! Your notebook passes all the tests." in shown, shown[:2000]
    _close_dialog(driver)
