r"""Submissions as data: read and validate a notebook, map its cells by nbgrader ``grade_id``, flag
edits to locked cells, and decide which code the sandbox runs.

What runs (the standalone path) is decided against the instructor's *source* notebook
(``source/<assignment>/<assignment>.ipynb``), never against the submission's own metadata:

============================  ==========================================================
submission cell               what the sandbox runs
============================  ==========================================================
locked instructor cell        the SOURCE's text (imports, helpers: a student cannot change them)
solution cell (``<name>``)    the submission's text
test cell (``test_*``)        nothing (the grader checks the items itself)
visible check (``visible_*``) nothing (a failing assert must not stop the notebook)
cell the student added        the submission's text
============================  ==========================================================

A locked cell the student deleted is put back (in source order). Edited locked/test cells and
changed nbgrader metadata are *flagged*: the checksum is nbgrader's ``compute_checksum`` of the
submitted cell against the same checksum of the source cell with its hidden tests removed (exactly
what ``nbgrader generate_assignment`` stores in the release). Points and grade_ids come from the
source's test cells. A solution cell that is missing, duplicated or not a code cell makes its item
score 0 with a message (:attr:`Plan.problems`).

Any unreadable submission (not UTF-8, not JSON, nbformat 3, not a notebook, over
``max_mb`` megabytes, schema errors) raises :class:`NotebookError` with a message meant for the
student; the grader turns it into a score of 0, never a crash.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import nbformat

#: A notebook as its JSON object (``cells``, ``metadata``, ``nbformat``...).
Notebook = Mapping[str, Any]


#: Largest notebook accepted by default (megabytes).
MAX_NOTEBOOK_MB = 20.0
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
SOLUTION_BEGIN = "### BEGIN SOLUTION"
SOLUTION_END = "### END SOLUTION"
#: What a released solution region becomes (as ``c.ClearSolutions.code_stub`` in nbgrader_config.py).
CODE_STUB = "raise NotImplementedError()"
_MAGIC = re.compile(r"^(%%?|!)")


class NotebookError(ValueError):
    """A submission that cannot be graded as a notebook; the message is shown to the student."""


@dataclass(frozen=True)
class Cell:
    """A code or markdown cell: position, type, nbgrader ``grade_id`` (or "") and text."""

    index: int
    cell_type: str
    grade_id: str
    source: str
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def solution(self) -> bool:
        return bool(self.meta.get("solution"))

    @property
    def locked(self) -> bool:
        return bool(self.meta.get("locked")) and not self.solution

    @property
    def graded(self) -> bool:
        return bool(self.meta.get("grade"))


@dataclass
class Plan:
    """What to run and what to grade for one submission.

    ``cells``: ``(index, code)`` pairs in execution order (index = the submission's cell index, or
    ``1000 + source index`` for a locked cell put back). ``items``: ``(grade_id, points)`` from the
    source's test cells. ``problems``: item-level errors (missing/duplicated solution cell).
    ``flags``: edits a reviewer should see.
    """

    cells: list[tuple[int, str]]
    items: list[tuple[str, float]]
    problems: dict[str, str] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)


def read_notebook(path: str | Path, max_mb: float = MAX_NOTEBOOK_MB) -> dict[str, Any]:
    """Read and validate a notebook file; :class:`NotebookError` with a clear message otherwise."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise NotebookError(f"cannot read {path.name}: {exc.strerror}") from None
    if size > max_mb * 2**20:
        raise NotebookError(f"{path.name} is {size / 2**20:.1f} MB, over the limit of {max_mb:g} MB")
    if size == 0:
        raise NotebookError(f"{path.name} is empty (0 bytes)")
    data = path.read_bytes()
    return parse_notebook(data, path.name)


def parse_notebook(data: bytes, name: str = "notebook") -> dict[str, Any]:
    """A checked nbformat-4 notebook (its JSON object) from raw bytes (see :func:`read_notebook`).

    Checks what grading relies on -- a list of cells, each with a known ``cell_type``, a ``source``
    (text or list of lines, joined here) and a ``metadata`` object -- without importing nbformat
    (whose JSON-schema stack takes seconds to import).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotebookError(
            f"{name} is not a text file (binary data): save it from Jupyter as .ipynb"
        ) from None
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise NotebookError(f"{name} is not valid JSON ({exc}): the file is damaged, save it again") from None
    except RecursionError:
        raise NotebookError(f"{name} is nested too deeply to be a notebook") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells", raw.get("worksheets")), list):
        raise NotebookError(f"{name} is JSON but not a Jupyter notebook (no list of cells)")
    version = raw.get("nbformat")
    if version != 4:
        raise NotebookError(
            f"{name} uses nbformat {version!r}; the grader reads nbformat 4 (save it with Jupyter 4 or later)"
        )
    for index, cell in enumerate(raw["cells"]):
        problem = _cell_problem(cell)
        if problem is not None:
            raise NotebookError(f"{name} is not a valid notebook: cell {index} {problem}")
        if isinstance(cell["source"], list):
            cell["source"] = "".join(cell["source"])
        cell.setdefault("metadata", {})
    if not isinstance(raw.get("metadata", {}), dict):
        raise NotebookError(f"{name} is not a valid notebook: its metadata is not an object")
    return raw


def _cell_problem(cell: Any) -> str | None:
    if not isinstance(cell, dict):
        return "is not an object"
    if cell.get("cell_type") not in ("code", "markdown", "raw"):
        return f"has an unknown cell_type {cell.get('cell_type')!r}"
    source = cell.get("source")
    if not (
        isinstance(source, str) or (isinstance(source, list) and all(isinstance(x, str) for x in source))
    ):
        return "has no source text"
    meta = cell.get("metadata", {})
    if not isinstance(meta, dict) or not isinstance(meta.get("nbgrader", {}), dict):
        return "has metadata that is not an object"
    return None


def cells_of(notebook: Notebook) -> list[Cell]:
    """The notebook's cells with their nbgrader metadata."""
    cells = []
    for index, cell in enumerate(notebook.get("cells", [])):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        meta = dict(meta) if isinstance(meta, dict) else {}
        source = cell.get("source", "")
        cells.append(
            Cell(index, str(cell.get("cell_type", "")), str(meta.get("grade_id", "")), str(source), meta)
        )
    return cells


def strip_hidden_tests(source: str) -> str:
    """The cell text without its hidden-test region, as ``nbgrader generate_assignment`` writes it."""
    lines, kept, hidden = source.split("\n"), [], False
    for line in lines:
        if line.strip() == HIDDEN_BEGIN:
            hidden = True
        elif line.strip() == HIDDEN_END:
            hidden = False
        elif not hidden:
            kept.append(line)
    return "\n".join(kept)


def checksum(cell_type: str, source: str, meta: dict[str, Any]) -> str:
    """nbgrader's ``compute_checksum`` of a cell, recomputed here (no nbgrader needed at grading time):
    md5 of the source, the cell type, the grade/solution/locked flags, the grade_id and the points.
    Metadata that nbgrader itself could not hash (e.g. non-numeric points) gives ``"invalid"``."""
    grade, solution = meta.get("grade", False), meta.get("solution", False)
    locked = False if solution else (True if grade else meta.get("locked", False))
    parts = [source, cell_type, str(grade), str(solution), str(locked), str(meta.get("grade_id", ""))]
    if grade:
        try:
            parts.append(str(float(meta.get("points", 0))))
        except (TypeError, ValueError):
            return "invalid"
    digest = hashlib.md5(usedforsecurity=False)
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def runnable(source: str) -> str:
    """Cell text Python can run: IPython magics and shell escapes (``%``, ``%%``, ``!``) at the start
    of a line become comments (nbgrader runs them in IPython; they never define graded code)."""
    return "\n".join("# " + line if _MAGIC.match(line) else line for line in source.split("\n"))


def _kind(cell: Cell) -> str:
    if cell.cell_type != "code":
        return "markdown"
    if cell.grade_id.startswith("test_") or (cell.graded and not cell.solution):
        return "test"
    if cell.grade_id.startswith("visible_"):
        return "visible"
    if cell.solution:
        return "solution"
    if cell.locked:
        return "locked"
    return "other"


def plan(submission: Notebook, source: Notebook) -> Plan:
    """Decide what runs and what is graded (see the module docstring)."""
    src_cells = cells_of(source)
    sub_cells = cells_of(submission)
    items = [
        (c.grade_id[len("test_") :], float(c.meta.get("points", 0) or 0))
        for c in src_cells
        if _kind(c) == "test" and c.grade_id.startswith("test_")
    ]
    result = Plan(cells=[], items=items)
    by_id: dict[str, list[Cell]] = {}
    for cell in sub_cells:
        if cell.grade_id:
            by_id.setdefault(cell.grade_id, []).append(cell)
    src_by_id = {c.grade_id: c for c in src_cells if c.grade_id}
    _check_solutions(src_cells, by_id, result)
    _check_locked(src_cells, by_id, result)
    locked_src = {c.grade_id: c for c in src_cells if _kind(c) == "locked"}
    order = {c.grade_id: i for i, c in enumerate(src_cells) if c.grade_id}
    emitted: set[str] = set()

    def emit_missing_before(position: int) -> None:
        for gid, cell in locked_src.items():
            if gid not in emitted and gid not in by_id and order[gid] < position:
                result.cells.append((1000 + cell.index, runnable(cell.source)))
                emitted.add(gid)

    for cell in sub_cells:
        src = src_by_id.get(cell.grade_id) if cell.grade_id else None
        if src is not None:
            emit_missing_before(order[cell.grade_id])
        if cell.cell_type != "code":
            continue
        if src is not None and _kind(src) in ("test", "visible"):
            continue
        if src is not None and _kind(src) == "locked":
            if cell.grade_id not in emitted:
                result.cells.append((cell.index, runnable(src.source)))
                emitted.add(cell.grade_id)
            continue
        if src is None and _kind(cell) in ("test", "visible"):
            continue  # a test cell the source does not have: never run the student's test code
        result.cells.append((cell.index, runnable(cell.source)))
    emit_missing_before(len(src_cells) + 1)
    return result


def _check_solutions(src_cells: list[Cell], by_id: dict[str, list[Cell]], result: Plan) -> None:
    for src in src_cells:
        if _kind(src) != "solution":
            continue
        found = by_id.get(src.grade_id, [])
        if not found:
            result.problems[src.grade_id] = (
                f"the solution cell {src.grade_id!r} is missing from the submission "
                "(deleted, or its nbgrader metadata was removed)"
            )
        elif len(found) > 1:
            result.problems[src.grade_id] = (
                f"the submission has {len(found)} cells with grade_id {src.grade_id!r}; keep exactly one"
            )
        elif found[0].cell_type != "code":
            result.problems[src.grade_id] = (
                f"the solution cell {src.grade_id!r} was changed to a {found[0].cell_type} cell"
            )


def _check_locked(src_cells: list[Cell], by_id: dict[str, list[Cell]], result: Plan) -> None:
    for src in src_cells:
        kind = _kind(src)
        if kind not in ("locked", "test", "visible"):
            continue
        found = by_id.get(src.grade_id, [])
        if not found:
            if kind in ("locked", "test"):
                result.flags.append(f"{kind} cell {src.grade_id!r} was deleted")
            continue
        expected = checksum(src.cell_type, strip_hidden_tests(src.source), src.meta)
        for cell in found:
            if checksum(cell.cell_type, cell.source, cell.meta) != expected:
                result.flags.append(_edit_description(kind, src, cell))


def _edit_description(kind: str, src: Cell, cell: Cell) -> str:
    what = "test" if kind == "test" else "locked"
    for key in ("points", "grade", "solution", "locked"):
        if src.meta.get(key) != cell.meta.get(key):
            return (
                f"nbgrader metadata of {what} cell {src.grade_id!r} was changed "
                f"({key}: {src.meta.get(key)!r} -> {cell.meta.get(key)!r}); the source's values are used"
            )
    if cell.cell_type != src.cell_type:
        return f"{what} cell {src.grade_id!r} was changed to a {cell.cell_type} cell"
    action = "is not run" if kind in ("test", "visible") else "the source's version was run"
    return f"{what} cell {src.grade_id!r} was edited ({action})"


def load_source(path: str | Path) -> dict[str, Any]:
    """The instructor's source notebook (trusted; errors here are the instructor's to fix)."""
    try:
        return read_notebook(path, max_mb=1000)
    except NotebookError as exc:
        raise ValueError(f"source notebook {path}: {exc}") from None


def uses_torch(plan_cells: list[tuple[int, str]]) -> bool:
    """Whether the code to run imports torch (the worker's zygote then pre-imports it)."""
    return any(re.search(r"^\s*(import|from)\s+torch", code, re.MULTILINE) for _, code in plan_cells)


def _replace_solution(source: str, stub: str | None) -> str:
    """Solution regions without their markers (``stub`` None) or replaced by ``stub``."""
    kept: list[str] = []
    inside = False
    for line in source.split("\n"):
        if line.strip() == SOLUTION_BEGIN:
            inside = True
            if stub is not None:
                indent = line[: len(line) - len(line.lstrip())]
                kept += [indent + stub_line for stub_line in stub.split("\n")]
        elif line.strip() == SOLUTION_END:
            inside = False
        elif not inside or stub is None:
            kept.append(line)
    return "\n".join(kept)


def student_copy(
    source: Notebook, solutions: str | dict[str, str] = "stub", stub: str = CODE_STUB
) -> nbformat.NotebookNode:
    """What a student hands in, made from the source notebook without nbgrader (tests, benchmarks).

    Hidden tests are removed and nbgrader's checksums are added, as ``generate_assignment`` does.
    ``solutions="stub"``: every solution region becomes ``stub``; ``"solution"``: the instructor's
    solution (markers removed); a dict maps a solution cell's grade_id to the student's whole cell
    text (the other solution cells get the instructor's solution).
    """
    import nbformat  # tests and benchmarks only: grading itself never imports nbformat

    copy = nbformat.from_dict(json.loads(json.dumps(source)))
    for cell in copy.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id", "")
        if meta.get("solution") and cell.cell_type == "code":
            if isinstance(solutions, dict) and gid in solutions:
                cell.source = solutions[gid]
            else:
                cell.source = _replace_solution(cell.source, None if solutions != "stub" else stub)
        elif meta.get("solution"):
            cell.source = _replace_solution(cell.source, None if solutions != "stub" else "YOUR ANSWER HERE")
        else:
            cell.source = strip_hidden_tests(cell.source)
        if meta:
            meta["checksum"] = checksum(cell.cell_type, cell.source, meta)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return copy
