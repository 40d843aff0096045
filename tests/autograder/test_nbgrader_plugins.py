"""The course's nbgrader preprocessors (autograder/nbgrader_plugins.py): hidden tests put back only into
untouched test cells, no config warning in the feedback pipeline, formulas as MathML."""

from __future__ import annotations

import copy
import logging
import shutil
from pathlib import Path

import nbformat
import pytest
from nbconvert.exporters import HTMLExporter
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.preprocessors import ClearHiddenTests

from autograder.course import _nbgrader
from autograder.nbgrader_plugins import ClearHiddenTestsInFeedback, RestoreHiddenTests, render_math
from autograder.release import COURSE_ROOT, IGNORE

# ----------------------------------------------------------------------------------- hidden tests


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course with conv_arithmetic in its gradebook (nbgrader generate_assignment)."""
    root = tmp_path_factory.mktemp("course")
    shutil.copy2(COURSE_ROOT / "nbgrader_config.py", root)
    shutil.copytree(
        COURSE_ROOT / "source" / "conv_arithmetic", root / "source" / "conv_arithmetic", ignore=IGNORE
    )
    _nbgrader(["generate_assignment", "conv_arithmetic", "--force"], root)  # its config: root = its folder
    return root


def _restore(course: Path, nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    resources = {
        "nbgrader": {"db_url": f"sqlite:///{course / 'gradebook.db'}", "notebook": "conv_arithmetic",
                     "assignment": "conv_arithmetic"}
    }  # fmt: skip
    restored, _ = RestoreHiddenTests().preprocess(copy.deepcopy(nb), resources)
    return restored


def _tests(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    return {c.metadata.nbgrader.grade_id: c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
            and c.cell_type == "code"}  # fmt: skip


def test_untouched_test_cells_get_their_hidden_tests_back_and_match_the_gradebook(course: Path) -> None:
    released = nbformat.read(course / "release" / "conv_arithmetic" / "conv_arithmetic.ipynb", 4)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        source = {
            c.name: c for c in gradebook.find_notebook("conv_arithmetic", "conv_arithmetic").source_cells
        }
        restored = _tests(_restore(course, released))
        assert set(restored) == {"test_output_size", "test_receptive_field", "test_conv2d_params"}
        for name, cell in _tests(released).items():
            assert utils.compute_checksum(cell) != source[name].checksum  # what nbgrader warned about
            assert "BEGIN HIDDEN TESTS" in restored[name].source
            assert restored[name].source == source[name].source
            assert utils.compute_checksum(restored[name]) == source[name].checksum


def test_an_edited_test_cell_is_left_for_nbgrader_to_report(course: Path) -> None:
    released = nbformat.read(course / "release" / "conv_arithmetic" / "conv_arithmetic.ipynb", 4)
    edited = copy.deepcopy(released)
    cell = _tests(edited)["test_output_size"]
    cell.source += "\nprint('full marks')"
    restored = _tests(_restore(course, edited))
    assert restored["test_output_size"].source == cell.source  # OverwriteCells warns and restores it
    assert "BEGIN HIDDEN TESTS" in restored["test_receptive_field"].source


def test_the_feedback_preprocessor_accepts_the_html_exporters_settings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """nbgrader's ClearHiddenTests warns about the exporter's display_data_priority; the course's does not."""
    config = HTMLExporter().default_config
    with caplog.at_level(logging.WARNING):
        ClearHiddenTests(config=config)
    assert "display_data_priority" in caplog.text  # the warning nbgrader printed at every generate_feedback
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        ClearHiddenTestsInFeedback(config=config)
    assert caplog.text == ""


# -------------------------------------------------------------------------------------------- math


def test_formulas_become_mathml_and_code_stays_code() -> None:
    text = (
        "Inline $W_{out} = \\lfloor (W - K)/S \\rfloor + 1$ and `$FASHION_MNIST_DIR` stay apart.\n\n"
        "$$\n\\frac{\\partial L}{\\partial x} = \\sum_o w\n$$\n\n"
        "```bash\necho $HOME $PATH\n```\nA price of \\$5 and $x$."
    )
    out = render_math(text)
    assert out.count("<math") == 3 and 'display="block"' in out
    assert "`$FASHION_MNIST_DIR`" in out and "echo $HOME $PATH" in out and "\\$5" in out
    assert "\\frac" not in out and "\\lfloor" not in out


def test_markdown_cannot_break_the_mathml() -> None:
    """Characters markdown reads (``*``, ``_``, ``|``) inside a formula are entities, so a formula in a
    table cell keeps the table, and LaTeX that does not convert is left as it was."""
    table = "| a | b |\n|---|---|\n| $|x| * y_i$ | 2 |\n"
    html = markdown2html_mistune(render_math(table))
    assert html.count("<td>") == 2 and "<math" in html and "<em>" not in html
    assert render_math("left $x^{$ right") == "left $x^{$ right"  # latex2mathml cannot read it


def test_every_formula_of_the_course_converts() -> None:
    for path in sorted((COURSE_ROOT / "release").glob("*/*.ipynb")):
        for cell in nbformat.read(path, 4).cells:
            if cell.cell_type == "markdown" and "$" in cell.source:
                prose = "".join(render_math(cell.source).split("`")[::2])  # outside code spans
                assert "$" not in prose, (path.name, cell.source[:80])
