r"""nbgrader preprocessors of the course (named in ``nbgrader_config.py``).

- :class:`RestoreHiddenTests` (``nbgrader autograde``, before ``OverwriteCells``): a student receives
  each hidden-test cell with its hidden region removed, while the gradebook holds it with the hidden
  tests and their checksum. nbgrader then took every untouched test cell for an edited one and warned
  ``Attribute 'checksum' for cell test_... has changed!`` at every autograde. This puts the hidden
  tests back into the cells a student left exactly as released, so the warning is left for the cells a
  student really changed (which ``OverwriteCells`` then restores, as before).
- :class:`DeduplicateIds` (``nbgrader autograde``, instead of nbgrader's): a solution cell split or
  copied in JupyterLab carries the same grade_id twice. nbgrader's ``DeduplicateIds`` empties the
  later copies' nbgrader metadata (``{}``), which its own ``CheckCellMetadata`` then rejects ("the
  nbgrader metadata may be corrupted"), and the whole submission fails to autograde. This one removes
  the metadata of the earlier copies instead, so they become ordinary cells: all copies still run
  in order (the sandbox grades the submitted file itself) and the last one keeps the grade_id.
- :class:`ClearHiddenTestsInFeedback` (``nbgrader generate_feedback``): nbgrader's ``ClearHiddenTests``
  whose ``display_data_priority`` accepts the value the HTML exporter configures for every
  preprocessor (nbgrader's base class declares it without ``config=True``, hence the warning
  ``Config option `display_data_priority` not recognized by `ClearHiddenTests``` at every run).
- :class:`RenderMath` (feedback HTML and the formgrader): the markdown cells' LaTeX (``$...$`` and
  ``$$...$$``) becomes MathML on the server (``latex2mathml``), which browsers draw themselves, so the
  pages show formulas offline instead of raw LaTeX waiting for MathJax from a CDN. Code spans and code
  blocks are left alone; a formula that does not convert stays as it was.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from nbconvert.preprocessors import Preprocessor
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor
from traitlets import List

# ------------------------------------------------------------------------------------- hidden tests


class RestoreHiddenTests(NbGraderPreprocessor):
    """Put the hidden tests back into the test cells a student left as released (see module doc)."""

    def preprocess(self, nb: Any, resources: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gradebook:
            try:
                notebook = gradebook.find_notebook(info["notebook"], info["assignment"])
            except MissingEntry:
                return nb, resources  # nbgrader reports the unknown notebook itself
            # the source cells as the instructor wrote them: name -> (source, locked)
            self._sources = {cell.name: (cell.source, cell.locked) for cell in notebook.source_cells}
        self._clear = ClearHiddenTests(parent=self)
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell: Any, resources: dict[str, Any], index: int) -> tuple[Any, dict[str, Any]]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in self._sources and cell.cell_type == "code":
            source, locked = self._sources[grade_id]
            if locked and cell.source == self.released(source, cell) != source:
                cell.source = source
        return cell, resources

    def released(self, source: str, cell: Any) -> str:
        """``source`` as generate_assignment gives it to students (hidden test regions removed)."""
        probe = copy.deepcopy(cell)
        probe.source = source
        self._clear._remove_hidden_test_region(probe)
        return str(probe.source)


class DeduplicateIds(NbGraderPreprocessor):
    """Keep a grade_id on its last cell only; earlier copies lose their nbgrader metadata entirely."""

    def preprocess(self, nb: Any, resources: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        seen: set[str] = set()
        for cell in reversed(nb.cells):
            meta = cell.get("metadata", {}).get("nbgrader")
            grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
            if not grade_id:
                continue
            if grade_id in seen:
                self.log.warning(
                    "Cell with id '%s' exists multiple times: an earlier copy runs as a plain cell", grade_id
                )
                del cell.metadata["nbgrader"]
            else:
                seen.add(grade_id)
        return nb, resources


class ClearHiddenTestsInFeedback(ClearHiddenTests):
    """nbgrader's ClearHiddenTests for the feedback exporter (see the module docstring)."""

    display_data_priority: List[Any] = List(
        help="Accepted from the HTML exporter's configuration; not used by this preprocessor."
    ).tag(config=True)


# --------------------------------------------------------------------------------------------- math

_CODE = re.compile(r"(```.*?```|~~~.*?~~~|`[^`\n]*`)", re.DOTALL)
_DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.DOTALL)
# inside a paragraph: may wrap onto the next line, never across a blank line
_INLINE = re.compile(r"(?<![\\$])\$(?![\s$])((?:\\\$|[^$\n]|\n(?![ \t]*\n))+?)(?<![\s\\])\$(?!\$)")
# characters that markdown (emphasis, code, links, tables) would read inside inline HTML
_MARKDOWN_SPECIAL = re.compile(r"[*_`\[\]\\|]")
_TEXT_NODE = re.compile(r">([^<]+)<")


def latex_to_mathml(tex: str, display: bool = False) -> str | None:
    """MathML for one formula (one line, markdown-safe), or None when latex2mathml cannot read it."""
    from latex2mathml.converter import convert

    try:
        mathml = convert(tex.strip(), display="block" if display else "inline")
    except Exception:  # any LaTeX it does not understand: keep the formula as it was
        return None
    mathml = _TEXT_NODE.sub(
        lambda m: ">" + _MARKDOWN_SPECIAL.sub(lambda c: f"&#{ord(c.group())};", m.group(1)) + "<", mathml
    )
    return mathml.replace("\n", " ")


def render_math(markdown: str) -> str:
    """``markdown`` with every ``$$...$$`` and ``$...$`` outside code turned into MathML."""

    def display(match: re.Match[str]) -> str:
        mathml = latex_to_mathml(match.group(1), display=True)
        return match.group(0) if mathml is None else f"\n\n{mathml}\n\n"

    def inline(match: re.Match[str]) -> str:
        mathml = latex_to_mathml(match.group(1))
        return match.group(0) if mathml is None else mathml

    parts = _CODE.split(markdown)
    for i in range(0, len(parts), 2):  # even parts are prose, odd parts code
        parts[i] = _INLINE.sub(inline, _DISPLAY.sub(display, parts[i]))
    return "".join(parts)


class RenderMath(Preprocessor):
    """LaTeX in markdown cells to MathML, for pages that must show formulas offline."""

    def preprocess_cell(self, cell: Any, resources: dict[str, Any], index: int) -> tuple[Any, dict[str, Any]]:
        if cell.cell_type == "markdown" and "$" in cell.source:
            cell.source = render_math(cell.source)
        return cell, resources
