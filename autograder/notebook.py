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

A locked cell the student deleted is put back (in source order). Every item is graded **where its
test cell stands** (:attr:`Plan.checkpoints`): the cells before it have run, the ones after it
have not, exactly as nbgrader grades a function when its test cell runs -- so a later cell that
reuses the name (``relu = relu(maps[0])``) changes nothing, and whatever defines the function before
its test cell counts: a split or copied solution cell (the same grade_id twice), a solution cell
whose nbgrader metadata an editor dropped, an answer in a new cell below the stub. Such structure
changes are *flagged* for the instructor, never a zero on their own. A deleted test cell is graded
where the source has it.

Edited locked/test cells and changed nbgrader metadata are flagged too, and the flag says what
changed: the comparison is nbgrader's ``compute_checksum`` of the submitted cell against the source
cell with its hidden tests removed (what ``nbgrader generate_assignment`` stores in the release),
both with normalised text (line endings and trailing whitespace do not count), so a notebook saved
on Windows is not "edited". Points and grade_ids come from the source's test cells.

Reading (:func:`read_notebook`) drops outputs and attachments at once: the size limit applies to
what is graded (code and text), while a much larger cap on the raw file protects the grader's
memory. Any unreadable submission (not UTF-8, not JSON, nbformat 3, not a notebook, too large,
schema errors) raises :class:`NotebookError` with a message meant for the student; the grader turns
it into a score of 0, never a crash. :func:`choose_notebook` picks the assignment's notebook among
several (and ignores ``__MACOSX/``, ``._*`` and checkpoint junk).
"""

from __future__ import annotations

import dataclasses
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


#: Largest notebook accepted by default (megabytes of code and text: outputs do not count).
MAX_NOTEBOOK_MB = 20.0
#: Largest notebook file read at all (megabytes, outputs included): protects the grader's memory.
MAX_FILE_MB = 256.0
#: Folders and file-name prefixes that never hold a student's notebook (Mac zips, Jupyter, VCS).
JUNK_FOLDERS = frozenset({"__MACOSX", ".ipynb_checkpoints", "__pycache__", ".git", ".Trash", ".Trashes"})
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
SOLUTION_BEGIN = "### BEGIN SOLUTION"
SOLUTION_END = "### END SOLUTION"
#: What a released solution region becomes (as ``c.ClearSolutions.code_stub`` in nbgrader_config.py).
CODE_STUB = "raise NotImplementedError()"


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
    source's test cells. ``checkpoints``: ``grade_id -> position``: the item is graded after
    ``cells[:position]`` have run. ``flags``: structure changes and edits a reviewer should see.
    """

    cells: list[tuple[int, str]]
    items: list[tuple[str, float]]
    checkpoints: dict[str, int] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)


def read_notebook(
    path: str | Path, max_mb: float = MAX_NOTEBOOK_MB, max_file_mb: float = MAX_FILE_MB
) -> dict[str, Any]:
    """Read and validate a notebook file, outputs and attachments dropped.

    ``max_file_mb`` caps the file itself (plots included); ``max_mb`` caps what is graded: the text
    of its code and markdown cells (images pasted into markdown as ``data:`` URIs do not count).
    :class:`NotebookError` with a clear message otherwise.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise NotebookError(f"cannot read {path.name}: {exc.strerror}") from None
    if size > max_file_mb * 2**20:
        raise NotebookError(
            f"{path.name} is {size / 2**20:.1f} MB, over the limit of {max_file_mb:g} MB for a notebook "
            "file (clear the outputs: Edit > Clear All Outputs, then save)"
        )
    if size == 0:
        raise NotebookError(f"{path.name} is empty (0 bytes)")
    notebook = parse_notebook(path.read_bytes(), path.name)
    text = sum(_graded_size(cell) for cell in notebook["cells"])
    if text > max_mb * 2**20:
        raise NotebookError(
            f"{path.name} holds {text / 2**20:.1f} MB of code and text, over the limit of {max_mb:g} MB"
        )
    return notebook


#: An image pasted into a markdown cell as a ``data:`` URI (Colab, some editors): never graded text.
_DATA_URI = re.compile(r"data:[\w.+-]+/[\w.+-]+;base64,[A-Za-z0-9+/=\s]*")


def _graded_size(cell: dict[str, Any]) -> int:
    """Bytes of a cell that count against the notebook size limit: code, and text without images."""
    source = str(cell["source"])
    if cell["cell_type"] != "code":
        source = _DATA_URI.sub("", source)
    return len(source.encode("utf-8", "surrogatepass"))


def parse_notebook(data: bytes, name: str = "notebook") -> dict[str, Any]:
    """A checked nbformat-4 notebook (its JSON object) from raw bytes (see :func:`read_notebook`).

    Checks what grading relies on -- a list of cells, each with a known ``cell_type``, a ``source``
    (text or list of lines, joined here) and a ``metadata`` object -- without importing nbformat
    (whose JSON-schema stack takes seconds to import).
    """
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark (some Windows editors write one) is not text
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
        # never graded, possibly huge (plots): dropped while reading
        if cell["cell_type"] == "code":
            cell["outputs"] = []
        cell.pop("attachments", None)
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


def normalised(source: str) -> str:
    """Cell text as compared and run: Unix line endings, no trailing whitespace on a line or at the end."""
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).rstrip("\n")


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


def plan(submission: Notebook, source: Notebook, earlier: Mapping[str, frozenset[str]] | None = None) -> Plan:
    """Decide what runs, where each item is graded, and what to flag (see the module docstring).

    ``earlier``: fingerprints of the locked cells of earlier releases (:mod:`autograder.releases`):
    a cell as an earlier release had it is not an edit."""
    src_cells = cells_of(source)
    sub_cells, recognised = recognise_cells(cells_of(submission), src_cells)
    items = [
        (c.grade_id[len("test_") :], float(c.meta.get("points", 0) or 0))
        for c in src_cells
        if _kind(c) == "test" and c.grade_id.startswith("test_")
    ]
    result = Plan(cells=[], items=items)
    if recognised:
        result.flags.append(
            f"{len(recognised)} of the instructor's cells had lost their nbgrader metadata (an editor such "
            "as VS Code, Colab or jupytext drops it) and were recognised by their text: "
            + ", ".join(f"cell {index + 1} = {gid!r}" for index, gid in recognised)
        )
    by_id: dict[str, list[Cell]] = {}
    for cell in sub_cells:
        if cell.grade_id:
            by_id.setdefault(cell.grade_id, []).append(cell)
    src_by_id = {c.grade_id: c for c in src_cells if c.grade_id}
    _check_solutions(src_cells, sub_cells, by_id, result)
    _check_locked(src_cells, by_id, result, earlier or {})
    locked_src = {c.grade_id: c for c in src_cells if _kind(c) == "locked"}
    order = {c.grade_id: i for i, c in enumerate(src_cells) if c.grade_id}
    tests = {
        c.grade_id: i
        for i, c in enumerate(src_cells)
        if _kind(c) == "test" and c.grade_id.startswith("test_")
    }
    emitted: set[str] = set()
    # a deleted test cell is graded right after the last cell that precedes it in the source
    present = sorted({order[gid] for gid in by_id if gid in order})
    anchors: dict[int, list[str]] = {}
    for gid, where in tests.items():
        if gid not in by_id:
            before = [p for p in present if p < where]
            anchors.setdefault(before[-1] if before else -1, []).append(gid[len("test_") :])

    def reached(position: int) -> None:
        """The submission reached source position ``position``: deleted locked cells before it run."""
        for gid, cell in locked_src.items():
            if gid not in emitted and gid not in by_id and order[gid] < position:
                result.cells.append((1000 + cell.index, normalised(cell.source)))
                emitted.add(gid)

    for name in anchors.get(-1, []):
        result.checkpoints[name] = 0
    for cell in sub_cells:
        src = src_by_id.get(cell.grade_id) if cell.grade_id else None
        if src is not None:
            reached(order[cell.grade_id])
        _emit(cell, src, result, emitted)
        if src is not None:
            for name in anchors.get(order[cell.grade_id], []):
                result.checkpoints[name] = len(result.cells)  # after the last copy of its anchor
    reached(len(src_cells) + 1)
    _defined_below_test(result)
    return result


def _defines(source: str, name: str) -> bool:
    """Whether a cell's text may bind ``name`` at its top level: ``def``/``class``, an assignment, an
    import of it, or something this cannot see through (``import *``, ``%run``, ``exec``)."""
    n = re.escape(name)
    return bool(
        re.search(
            rf"^(?:def|class)\s+{n}\b|^{n}\s*(?::[^=\n]*)?=(?!=)|^\s*(?:from\s+\S+\s+)?import\b.*\b{n}\b",
            source,
            re.MULTILINE,
        )
        or re.search(r"\bimport\s+\*|^\s*%run\b|\bexec\s*\(|\bglobals\s*\(", source, re.MULTILINE)
    )


def _defined_below_test(result: Plan) -> None:
    """An item whose test cell stands above every cell that defines it (test cells moved up, or the
    answer written below the tests) is graded after the first cell below that defines it, with a
    flag; nbgrader would grade it undefined. Left alone when any cell above may define it."""
    for name, position in list(result.checkpoints.items()):
        if any(_defines(code, name) for _, code in result.cells[:position]):
            continue
        below = [k for k in range(position, len(result.cells)) if _defines(result.cells[k][1], name)]
        if below:
            index = result.cells[below[0]][0]
            result.checkpoints[name] = below[0] + 1
            result.flags.append(
                f"the test cell of {name!r} stands above the cell that defines {name!r} (cell {index + 1}): "
                "graded after that cell (nbgrader, which grades at the test cell, would find it undefined)"
            )


def recognise_cells(sub_cells: list[Cell], src_cells: list[Cell]) -> tuple[list[Cell], list[tuple[int, str]]]:
    """The submission's cells, where a cell without nbgrader metadata whose text is exactly one of the
    instructor's locked, test or visible-check cells (as released: hidden tests removed; normalised
    text) gets that cell's grade_id and metadata back. Only source cells the submission does not
    already hold by grade_id are matched, in notebook order (the k-th such cell with a given text is
    the k-th source cell with that text). Returns the cells and ``(index, grade_id)`` of each match."""
    present = {c.grade_id for c in sub_cells if c.grade_id}
    wanted: dict[tuple[str, str], list[Cell]] = {}
    for src in src_cells:
        if _kind(src) in ("locked", "test", "visible") and src.grade_id not in present:
            text = normalised(strip_hidden_tests(src.source))
            if text:
                wanted.setdefault((src.cell_type, text), []).append(src)
    if not wanted:
        return sub_cells, []
    cells, recognised = [], []
    for cell in sub_cells:
        queue = wanted.get((cell.cell_type, normalised(cell.source))) if not cell.grade_id else None
        if queue:
            src = queue.pop(0)
            cell = dataclasses.replace(cell, grade_id=src.grade_id, meta=dict(src.meta))
            recognised.append((cell.index, src.grade_id))
        cells.append(cell)
    return cells, recognised


def _emit(cell: Cell, src: Cell | None, result: Plan, emitted: set[str]) -> None:
    """Add what ``cell`` runs (if anything) to the plan, or mark its item's checkpoint."""
    if src is not None and _kind(src) == "test":
        if cell.grade_id.startswith("test_"):
            result.checkpoints.setdefault(cell.grade_id[len("test_") :], len(result.cells))
        return
    if cell.cell_type != "code" or (src is not None and _kind(src) == "visible"):
        return
    if src is not None and _kind(src) == "locked":
        if cell.grade_id not in emitted:
            result.cells.append((cell.index, normalised(src.source)))
            emitted.add(cell.grade_id)
        return
    if src is None and _kind(cell) in ("test", "visible"):
        return  # a test cell the source does not have: never run the student's test code
    result.cells.append((cell.index, normalised(cell.source)))


def defined_names(source: str) -> list[str]:
    """The functions and classes a cell's text defines at its left margin, in order."""
    return re.findall(r"^(?:def|class)\s+([A-Za-z_]\w*)", source, re.MULTILINE)


def _check_solutions(
    src_cells: list[Cell], sub_cells: list[Cell], by_id: dict[str, list[Cell]], result: Plan
) -> None:
    """Flag solution cells that are missing, lost their metadata, were split or copied, or retyped.

    None of these costs points by itself: the item is graded on what the notebook defines at its
    test cell."""
    graded_at = "graded the {name} the notebook defines when its test cell runs"
    for src in src_cells:
        if _kind(src) != "solution":
            continue
        name = src.grade_id
        found = by_id.get(name, [])
        code = [c for c in found if c.cell_type == "code"]
        if not found:
            names = [name, *defined_names(src.source)]
            stray = [
                (c, n) for c in sub_cells if not c.grade_id and c.cell_type == "code"
                for n in names if n in defined_names(c.source)
            ]  # fmt: skip
            if stray:
                cell, defines = stray[0]
                result.flags.append(
                    f"solution cell {name!r} has no nbgrader metadata (cell {cell.index + 1} defines "
                    f"{defines}; an editor may have dropped it): " + graded_at.format(name=name)
                )
            else:
                result.flags.append(
                    f"solution cell {name!r} is missing (deleted, or its nbgrader metadata was removed): "
                    + graded_at.format(name=name)
                )
        elif len(found) > 1:
            where = ", ".join(str(c.index + 1) for c in found)
            result.flags.append(
                f"solution cell {name!r} appears {len(found)} times (cells {where}: split or copied); "
                "all of them run in order: " + graded_at.format(name=name)
            )
        if found and not code:
            result.flags.append(
                f"solution cell {name!r} was changed to a {found[0].cell_type} cell, which does not run"
            )


def _check_locked(
    src_cells: list[Cell], by_id: dict[str, list[Cell]], result: Plan, earlier: Mapping[str, frozenset[str]]
) -> None:
    for src in src_cells:
        kind = _kind(src)
        if kind not in ("locked", "test", "visible"):
            continue
        found = by_id.get(src.grade_id, [])
        if not found:
            if kind in ("locked", "test"):
                graded = (
                    " (graded where the source has it)"
                    if kind == "test"
                    else " (the source's version was run)"
                )
                result.flags.append(f"{kind} cell {src.grade_id!r} was deleted{graded}")
            continue
        expected = {checksum(src.cell_type, normalised(strip_hidden_tests(src.source)), src.meta)}
        expected |= earlier.get(src.grade_id, frozenset())
        for cell in found:
            if checksum(cell.cell_type, normalised(cell.source), cell.meta) not in expected:
                result.flags.append(_edit_description(kind, src, cell))


def _edit_description(kind: str, src: Cell, cell: Cell) -> str:
    """What changed in a locked, test or visible cell, in words."""
    what = "test" if kind == "test" else "locked"
    for key in ("points", "grade", "solution", "locked"):
        if src.meta.get(key) != cell.meta.get(key):
            return (
                f"nbgrader metadata of {what} cell {src.grade_id!r} was changed "
                f"({key}: {src.meta.get(key)!r} -> {cell.meta.get(key)!r}); the source's values are used"
            )
    if cell.cell_type != src.cell_type:
        return f"{what} cell {src.grade_id!r} was changed to a {cell.cell_type} cell"
    before = normalised(strip_hidden_tests(src.source)).split("\n")
    after = normalised(cell.source).split("\n")
    changed = sum(1 for a, b in zip(before, after, strict=False) if a != b) + abs(len(before) - len(after))
    lines = f"{changed} line{'s' if changed != 1 else ''} changed"
    action = "it is not run" if kind in ("test", "visible") else "the source's version was run"
    return f"{what} cell {src.grade_id!r} was edited ({lines}; {action})"


def _answered(cell: Cell) -> bool:
    return cell.cell_type == "code" and not re.search(
        r"NotImplementedError|YOUR CODE HERE|YOUR ANSWER HERE", cell.source
    )


def is_junk(path: Path) -> bool:
    """A file that is never a student's notebook: Mac zip resource forks (``__MACOSX/``, ``._*``),
    Jupyter checkpoints, hidden files and folders."""
    return any(
        part in JUNK_FOLDERS or part.startswith(".") for part in path.parts[:-1]
    ) or path.name.startswith(".")


def candidate_notebooks(folder: Path, recursive: bool = False) -> list[Path]:
    """The ``*.ipynb`` files in ``folder`` (and below, when ``recursive``) that are not junk."""
    found = folder.rglob("*.ipynb") if recursive else folder.glob("*.ipynb")
    return sorted(p for p in found if p.is_file() and not is_junk(p.relative_to(folder)))


@dataclass(frozen=True)
class Choice:
    """The notebook chosen among several, and each other candidate with why it was not graded."""

    path: Path
    ignored: tuple[tuple[str, str], ...] = ()


def choose_notebook(paths: list[Path], source: Notebook, max_file_mb: float = MAX_FILE_MB) -> Choice | None:
    """The candidate that holds the assignment's work: most of the source's grade_ids, then most
    answered solution cells, then the newest file (then the name, for a stable choice)."""
    if not paths:
        return None
    wanted = {c.grade_id for c in cells_of(source) if c.grade_id}
    solutions = {c.grade_id for c in cells_of(source) if _kind(c) == "solution"}
    ranked = []
    for path in paths:
        try:
            cells = cells_of(read_notebook(path, max_mb=max_file_mb, max_file_mb=max_file_mb))
            ids = {c.grade_id for c in cells} & wanted
            answered = sum(1 for c in cells if c.grade_id in solutions and _answered(c))
        except NotebookError:
            ids, answered = set(), -1
        try:
            mtime = path.stat().st_mtime
        except OSError:
            mtime = 0.0
        ranked.append(((len(ids), answered, mtime, path.name), path, len(ids)))
    ranked.sort(key=lambda r: r[0], reverse=True)
    best = ranked[0][1]
    ignored = tuple(
        (
            path.name,
            f"{found} of the assignment's {len(wanted)} cells" if found else "none of the assignment's cells",
        )
        for _, path, found in ranked[1:]
    )
    return Choice(best, ignored)


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
