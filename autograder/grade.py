r"""The standalone grader's pipeline: load -> sandbox -> check -> score -> report.

For one submission (:func:`grade_submission`):

1. **load**: read and validate the notebook, plan what runs against the source notebook
   (:mod:`autograder.notebook`); an unreadable notebook scores 0 with the reason;
2. **sandbox**: run the planned cells in a fresh worker (:class:`~autograder.sandbox.SandboxInvoker`);
3. **check**: for each item of the source's test cells, :func:`autograder.properties.run_item` --
   this process draws the inputs, the worker runs the student's code, this process computes the
   reference and compares;
4. **score**: points from the source notebook (item weights scaled if the two ever differ);
5. **report**: ``OUT/<student>/results.json`` (Gradescope), ``feedback.md``, ``feedback.html`` and
   ``grading.json`` (the full record, written last: its presence marks the submission as done).

For a batch (:func:`grade_batch`), submissions are graded by ``jobs`` processes forked from this
pre-warmed parent (numpy, hypothesis, the items and the references are imported once), one submission
at a time each; each has its own :class:`~autograder.sandbox.Zygote` that forks a fresh worker per
submission; SIGTERM stops a grading process cleanly (its current worker killed, its folder removed).
``OUT/grades.csv`` is rebuilt from every ``grading.json`` at the end. Every file is written
atomically (temporary file + ``os.replace``), so an interrupted batch leaves no half-written results
and a re-run skips what is done (unless ``force``). A broken or hostile submission never stops a batch.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import html
import io
import json
import multiprocessing
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import Generator, Iterable, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from tqdm import tqdm

from autograder import draws, intake, releases, report
from autograder import notebook as nb
from autograder.invoke import truncate
from autograder.items import ITEMS
from autograder.properties import run_item
from autograder.result import ItemResult
from autograder.sandbox import Limits, Session
from autograder.sandbox.invoker import SandboxInvoker
from autograder.sandbox.zygote import Zygote

#: The course root: ``source/<assignment>/<assignment>.ipynb`` lives under it.
COURSE_ROOT = Path(__file__).resolve().parent.parent
RECORD = "grading.json"
#: Most notes (cell errors, refused actions) kept per submission.
MAX_NOTES = 30


@dataclasses.dataclass(frozen=True)
class Submission:
    """One student's notebook: ``student`` is a folder-safe name used for ``OUT/<student>/``;
    ``ignored``: other notebooks of the student's folder, not graded, each with the reason."""

    student: str
    path: Path
    ignored: tuple[tuple[str, str], ...] = ()
    #: the graded file as the record and the feedback name it (default: the notebook's file name;
    #: ``hw.zip:hw/hw.ipynb`` for a notebook inside a zip)
    label: str = ""
    #: notes (shown to the student) and flags (for the instructor) from finding the notebook
    notes: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    #: the folder whose own ``*.py`` files are copied next to the notebook (default: the notebook's
    #: folder); ``own_files=False`` copies none (a folder of several students' notebooks)
    helpers: Path | None = None
    own_files: bool = True
    #: no notebook was found, and what was (the record then scores 0 with this note)
    missing: str = ""

    @property
    def name(self) -> str:
        return self.label or self.path.name

    def helpers_folder(self) -> Path | None:
        return (self.helpers or self.path.parent) if self.own_files else None


@dataclasses.dataclass
class Settings:
    """Everything a batch needs besides its submissions."""

    assignment: str
    source_root: Path = COURSE_ROOT
    out: Path = Path("graded")
    limits: Limits = dataclasses.field(default_factory=Limits)
    max_notebook_mb: float = nb.MAX_NOTEBOOK_MB
    max_file_mb: float = nb.MAX_FILE_MB
    forbidden_paths: tuple[str, ...] = ()
    isolation: str = "namespaces"
    data_dirs: tuple[str, ...] = ()

    def hidden_paths(self) -> list[str]:
        """What the sandbox must never show: the course root, the output folder, the submissions."""
        return [str(self.source_root), str(self.out), *self.forbidden_paths]

    def session(self) -> Session:
        """A started sandbox session for these settings (:class:`IsolationUnavailable` if it cannot)."""
        return Session(
            self.isolation, limits=self.limits, hidden=self.hidden_paths(), data=self.data_dirs
        ).start()

    @property
    def source_notebook(self) -> Path:
        return self.source_root / "source" / self.assignment / f"{self.assignment}.ipynb"


@dataclasses.dataclass
class Graded:
    """The outcome of one submission (what ``grading.json`` holds).

    ``notes`` (cell errors, refused actions) and ``flags`` are shown to the student; ``events`` (worker
    restarts, kills) and ``seconds`` are diagnostics for the instructor that may vary with the
    machine's load, so they stay out of ``results.json`` and the feedback files.
    """

    student: str
    assignment: str
    results: list[ItemResult]
    notes: list[str]
    flags: list[str]
    seconds: float
    events: list[str] = dataclasses.field(default_factory=list)
    sandbox: dict[str, Any] = dataclasses.field(default_factory=dict)
    notebook: str = ""
    #: cell index (as a string) -> {"output": what it printed, "error": [type, message] or None}
    cells: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    #: sha256 of the submitted file and of the source notebook (a cached record is reused only for
    #: the same submission graded against the same source)
    digest: str = ""

    @property
    def total(self) -> float:
        return round(sum(r.earned for r in self.results), 6)

    def to_dict(self) -> dict[str, Any]:
        return {
            "student": self.student,
            "assignment": self.assignment,
            "total": self.total,
            "max_total": round(sum(r.points for r in self.results), 6),
            "items": [r.to_dict() for r in self.results],
            "notes": self.notes,
            "flags": self.flags,
            "seconds": round(self.seconds, 3),
            "events": self.events,
            "sandbox": self.sandbox,
            "notebook": self.notebook,
            "cells": self.cells,
            "digest": self.digest,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Graded:
        return cls(
            student=str(data["student"]),
            assignment=str(data["assignment"]),
            results=[ItemResult.from_dict(r) for r in data["items"]],
            notes=[str(n) for n in data.get("notes", [])],
            flags=[str(f) for f in data.get("flags", [])],
            seconds=float(data.get("seconds", 0.0)),
            events=[str(e) for e in data.get("events", [])],
            sandbox=dict(data.get("sandbox", {})),
            notebook=str(data.get("notebook", "")),
            cells={str(k): dict(v) for k, v in data.get("cells", {}).items()},
            digest=str(data.get("digest", "")),
        )


# ---------------------------------------------------------------------------------------- finding


def safe_name(text: str) -> str:
    """A folder-safe student name: letters, digits, ``._-``; never empty, never hidden."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "student"
    return name[:100]


def find_submissions(paths: Iterable[str | Path], assignment: str, source: Any = None) -> list[Submission]:
    """Submissions under ``paths``: notebooks, folders of notebooks (or of ``STUDENT/*.ipynb``), or an
    nbgrader course root (``submitted/STUDENT/ASSIGNMENT/*.ipynb``). Student names are made unique.

    Junk is ignored everywhere (``__MACOSX/``, ``._*``, ``.ipynb_checkpoints/``, hidden files). Every
    student folder gives a submission (:func:`submission_in`): its notebooks and those inside its zips
    are candidates, the one holding the assignment's work is graded
    (:func:`autograder.notebook.choose_notebook`, against ``source``, the instructor's notebook) and
    the others are named in :attr:`Submission.ignored`; a Jupyter checkpoint copy is graded when it is
    the only notebook; a folder with none scores 0 with a note of what it holds."""
    found: list[Submission] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file() and path.suffix.lower() == ".zip":
            found.append(submission_in_zip(path, path.stem, source))
        elif path.is_file():
            found.append(Submission(path.parent.name if path.stem == assignment else path.stem, path))
        elif (path / "submitted").is_dir():
            for student_dir in sorted((path / "submitted").iterdir()):
                if (linked := _linked_folder(student_dir, assignment)) is not None:
                    found.append(linked)
                elif (student_dir / assignment).is_dir():
                    where = f"{student_dir.name}/{assignment}"
                    found.append(
                        submission_in(student_dir / assignment, student_dir.name, source, False, where)
                    )
        elif path.is_dir():
            for entry in sorted(path.iterdir()):
                if nb.is_junk(Path(entry.name)) or entry.name in nb.JUNK_FOLDERS:
                    continue
                if entry.is_file() and entry.suffix == ".ipynb":
                    student = entry.parent.name if entry.stem == assignment else entry.stem
                    found.append(Submission(student, entry, own_files=False))  # several students' folder
                elif entry.is_file() and entry.suffix.lower() == ".zip":  # bob.zip next to alice.ipynb
                    found.append(submission_in_zip(entry, entry.stem, source))
                elif (linked := _linked_folder(entry, assignment)) is not None:
                    found.append(linked)
                elif entry.is_dir():
                    sub = None
                    if (entry / assignment).is_dir():
                        sub = submission_in(entry / assignment, entry.name, source, False)
                    if sub is None or sub.missing:
                        sub = submission_in(entry, entry.name, source, True)
                    found.append(sub)
        else:
            raise FileNotFoundError(f"{path} is not a notebook or a folder")
    subs: list[Submission] = []
    used: set[str] = set()
    for sub in found:
        name, k = safe_name(sub.student), 2
        while name in used:
            name, k = f"{safe_name(sub.student)}-{k}", k + 1
        used.add(name)
        subs.append(dataclasses.replace(sub, student=name))
    return subs


def _linked_folder(folder: Path, assignment: str) -> Submission | None:
    """A student's folder (or its assignment folder) that is a symbolic link: a submission scoring 0
    with why (a link could show the grader, often root, files the student cannot read)."""
    for path in (folder, folder / assignment):
        if path.is_symlink():
            why = f"{path.relative_to(folder.parent)}/ is a symbolic link, which the grader does not follow"
            return Submission(folder.name, folder, own_files=False, missing=why)
    return None


#: Most zips looked into per student.
MAX_ZIPS = 8


def submission_in(
    folder: Path, student: str, source: Any = None, recursive: bool = True, where: str | None = None
) -> Submission:
    """The submission in a student's ``folder`` (and below it, when ``recursive``); never None.

    Candidates are the notebooks (junk left out) and the notebooks inside the folder's zips, unpacked
    one level deep into a private folder (:func:`autograder.intake.unzip`, its limits and notes); the
    one holding the assignment's work is chosen. With none, a Jupyter checkpoint copy
    (``.ipynb_checkpoints/X-checkpoint.ipynb``) is graded and flagged; with none of those either, the
    submission's :attr:`Submission.missing` names what the folder holds (``where``: how to call it)."""
    where = where or folder.name
    candidates = nb.candidate_notebooks(folder, recursive=recursive)
    pattern = "*.zip"
    zips = sorted(
        p
        for p in (folder.rglob(pattern) if recursive else folder.glob(pattern))
        if not nb.is_junk(p.relative_to(folder)) and p.is_file()
    )
    notes: list[str] = []
    labels: dict[Path, str] = {}
    unzipped: dict[Path, intake.Unzipped] = {}
    if len(zips) > MAX_ZIPS:
        notes.append(f"only {MAX_ZIPS} of the {len(zips)} zips were looked into")
    for zip_path in zips[:MAX_ZIPS]:
        name = zip_path.relative_to(folder).as_posix()
        into = Path(tempfile.mkdtemp(dir=intake.scratch())) / "unzipped"
        got = intake.unzip(zip_path, into, label=name)
        unzipped[zip_path] = got
        notes += got.notes
        for path, member in got.notebooks:
            labels[path] = f"{name}:{member}"
            candidates.append(path)
    flags: list[str] = []
    helpers: Path | None = None
    if not candidates:
        found = folder.rglob("*.ipynb") if recursive else folder.glob(".ipynb_checkpoints/*.ipynb")
        checkpoints = sorted(p for p in found if _is_checkpoint(p.relative_to(folder)) and p.is_file())
        if checkpoints:
            candidates = checkpoints
    if not candidates:
        missing = f"no notebook in {where}/: found {intake.describe(folder, unzipped)}"
        return Submission(student, folder, notes=tuple(notes), missing=missing)
    if len(candidates) > 1 and source is not None:
        choice = nb.choose_notebook(candidates, source)
        assert choice is not None
    else:
        choice = nb.Choice(candidates[0])
    graded = choice.path
    if graded in labels:
        zip_name, member = labels[graded].split(":", 1)
        notes.insert(0, f"graded {member} from inside {zip_name}")
    elif _is_checkpoint(graded.relative_to(folder)):
        rel = graded.relative_to(folder).as_posix()
        flags.append(f"graded the Jupyter checkpoint copy {rel}: the notebook itself was not handed in")
        helpers = graded.parent.parent  # the notebook's own folder, where Jupyter saved the checkpoint
    label = labels.get(graded, "")
    return Submission(student, graded, choice.ignored, label, tuple(notes), tuple(flags), helpers)


def submission_in_zip(zip_path: Path, student: str, source: Any = None) -> Submission:
    """The submission of a student who handed in only a zip (``subs/bob.zip`` beside other students'
    notebooks, or a zip named on the command line): its notebooks, unpacked as in
    :func:`submission_in`, are the candidates; its own ``*.py`` files come from the notebook's folder
    inside the zip. Never None: a zip without a notebook scores 0 with what it holds."""
    into = Path(tempfile.mkdtemp(dir=intake.scratch())) / "unzipped"
    got = intake.unzip(zip_path, into, label=zip_path.name)
    if not got.notebooks:
        missing = f"no notebook in {zip_path.name} ({got.summary or 'empty'})"
        return Submission(student, zip_path, notes=tuple(got.notes), own_files=False, missing=missing)
    labels = dict(got.notebooks)
    paths = sorted(labels)
    choice = nb.choose_notebook(paths, source) if len(paths) > 1 and source is not None else None
    graded = choice.path if choice is not None else paths[0]
    member = labels[graded]
    return Submission(
        student, graded, choice.ignored if choice is not None else (), f"{zip_path.name}:{member}",
        (f"graded {member} from inside {zip_path.name}", *got.notes), helpers=graded.parent,
    )  # fmt: skip


def _is_checkpoint(relative: Path) -> bool:
    """A Jupyter checkpoint copy (``.ipynb_checkpoints/X-checkpoint.ipynb``), in no other junk."""
    folders = relative.parts[:-1]
    return (
        bool(folders)
        and folders[-1] == ".ipynb_checkpoints"
        and not nb.is_junk(Path(*folders[:-1], relative.name))
    )


# -------------------------------------------------------------------------------------- one notebook


def _scaled(result: ItemResult, points: float) -> ItemResult:
    """``result`` on a ``points`` scale (the source notebook's), weights scaled proportionally."""
    if abs(result.points - points) < 1e-9:
        return result
    factor = points / result.points if result.points else 0.0
    props = tuple(dataclasses.replace(p, weight=round(p.weight * factor, 6)) for p in result.properties)
    return dataclasses.replace(result, points=points, properties=props)


def zero_result(grade_id: str, points: float, status: str, message: str) -> ItemResult:
    return ItemResult(grade_id, points, (), status, message)


def helper_files(settings: Settings) -> dict[str, bytes]:
    """The assignment folder's helper modules (``*.py``) the notebook imports."""
    folder = settings.source_notebook.parent
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.py")) if p.is_file()}


def preload_for(cells: Sequence[tuple[int, str]]) -> tuple[str, ...]:
    """What the worker's parent imports once: numpy and matplotlib, and torch when the code uses it."""
    base = ("numpy", "matplotlib.pyplot")
    return (*base, "torch") if nb.uses_torch(list(cells)) else base


def grade_submission(
    sub: Submission, settings: Settings, source: Any, session: Session, zygote: Zygote | None = None
) -> Graded:
    """Grade one submission end to end in ``session``'s sandbox (never raises for anything the
    submission does)."""
    start = time.monotonic()
    src_plan = nb.plan(source, source)
    items = src_plan.items
    if sub.missing:
        zeros = [zero_result(g, p, "error", sub.missing) for g, p in items]
        digest = hashlib.sha256(f"{sub.missing}\0{settings.source_notebook}".encode()).hexdigest()
        return Graded(
            sub.student, settings.assignment, zeros, [sub.missing, *sub.notes][:MAX_NOTES],
            list(sub.flags), time.monotonic() - start, digest=digest,
        )  # fmt: skip
    linked = _linked(sub.path)
    if linked:  # a link could show the grader (often root) a file the student cannot read
        message = f"{sub.name} {linked}: hand in the notebook file itself"
        digest = hashlib.sha256(f"{message}\0{settings.source_notebook}".encode()).hexdigest()
        return Graded(
            sub.student, settings.assignment, [zero_result(g, p, "error", message) for g, p in items],
            [message, *sub.notes][:MAX_NOTES], [*sub.flags, message], time.monotonic() - start,
            notebook=sub.name, digest=digest,
        )  # fmt: skip
    instructor = helper_files(settings)
    own = student_files(sub, instructor)
    digest = submission_digest(sub.path, settings.source_notebook, own.files)
    try:
        notebook = nb.read_notebook(sub.path, settings.max_notebook_mb, settings.max_file_mb)
    except nb.NotebookError as exc:
        zeros = [zero_result(g, p, "error", f"the notebook could not be read: {exc}") for g, p in items]
        return Graded(
            sub.student, settings.assignment, zeros, [str(exc), *sub.notes][:MAX_NOTES], list(sub.flags),
            time.monotonic() - start, notebook=sub.name, digest=digest,
        )  # fmt: skip
    plan = nb.plan(notebook, source, releases.earlier(settings.assignment))
    notes: list[str] = [*sub.notes, *own.notes]
    results: list[ItemResult] = []
    invoker = SandboxInvoker(
        plan.cells,
        session=session,
        zygote=zygote,
        limits=settings.limits,
        preload=preload_for(plan.cells),
        files={**own.files, **instructor},  # the instructor's helper modules win a name clash
        cell_names=put_back_names(plan.cells, source),
    )
    secret = draws.load_secret(settings.source_root)
    try:
        graded: dict[str, ItemResult] = {}
        with draws.drawing_for(secret, settings.assignment):
            # each item where its test cell stands: the cells before it have run, the later ones not
            for grade_id, points in sorted(items, key=lambda item: plan.checkpoints.get(item[0], 10**9)):
                invoker.run_cells(plan.checkpoints.get(grade_id, len(plan.cells)))
                graded[grade_id] = _grade_item(grade_id, points, invoker)
        invoker.run_cells(len(plan.cells))  # the cells after the last test cell (their errors are noted)
        results = [graded[grade_id] for grade_id, _ in items]
        for index, outcome in sorted(invoker.outcomes.items()):
            if outcome.error is not None:
                kind, message = outcome.error
                notes.append(truncate(f"{invoker.cell_name(index)} raised {kind}: {message}", 400))
    except BaseException:  # a grader error, or the grader is being stopped: no report, kill now
        invoker.abort()
        raise
    invoker.close()
    notes += [f"refused in the sandbox: tried to {a}" for a in invoker.attempts]
    notes += invoker.notes
    if invoker.output_truncated:
        limit = settings.limits.output_bytes
        notes.append(f"printed more than {limit} bytes of output: only the first {limit} were kept")
    flags = [*sub.flags, *plan.flags]
    flags += [f"graded {sub.name}; also found {name} ({why}), not graded" for name, why in sub.ignored]
    if any(name in instructor for name in own.skipped):
        clash = ", ".join(sorted(n for n in own.skipped if n in instructor))
        flags.append(f"handed in its own {clash}: the assignment's file of that name was used instead")
    if any(
        a.startswith("import ") and a.split()[1].split(".")[0] in ("course_lib", "autograder")
        for a in invoker.attempts
    ):
        flags.append("tried to import the course's reference library or the grader")
    seconds = time.monotonic() - start
    events = list(invoker.events)
    if invoker.peak_memory is not None:
        events.append(f"peak memory {invoker.peak_memory / 2**20:.0f} MB")
    sandbox = {"isolation": session.level, "mechanisms": session.mechanisms()}
    cells = {
        str(index): {
            "output": invoker.cell_outputs.get(index, ""),
            "error": list(outcome.error) if outcome.error else None,
        }
        for index, outcome in sorted(invoker.outcomes.items())
    }
    return Graded(
        sub.student, settings.assignment, results, notes[:MAX_NOTES], flags, seconds, events, sandbox,
        notebook=sub.name, cells=cells, digest=digest,
    )  # fmt: skip


def _linked(path: Path) -> str:
    """Why the submitted notebook is not graded: it is a symbolic link ("" when not; a student's
    folder that is one is refused by :func:`find_submissions`)."""
    return "is a symbolic link, which the grader does not follow" if path.is_symlink() else ""


def student_files(sub: Submission, instructor: dict[str, bytes] | None = None) -> intake.OwnFiles:
    """The student's own helper modules copied next to the notebook
    (:func:`autograder.intake.own_files` of :meth:`Submission.helpers_folder`); names the
    ``instructor``'s helper modules use are left out."""
    folder = sub.helpers_folder()
    return intake.own_files(folder, reserved=instructor or {}) if folder is not None else intake.OwnFiles()


def submission_digest(path: Path, source_notebook: Path, files: dict[str, bytes] | None = None) -> str:
    """sha256 of the submitted file followed by the source notebook and then, when there are any, the
    student's own helper modules ``files`` (name and bytes): a changed helper file changes the digest,
    so a cached record is not reused for it (see :attr:`Graded.digest`)."""
    digest = hashlib.sha256()
    for part in (path, source_notebook):
        try:
            digest.update(Path(part).read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
        digest.update(b"\0")
    for name, data in sorted((files or {}).items()):
        digest.update(hashlib.sha256(name.encode("utf-8", "surrogateescape")).digest())
        digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()


def put_back_names(cells: Sequence[tuple[int, str]], source: Any) -> dict[int, str]:
    """What notes call each locked cell the grader put back (planned at ``1000 + source index``, see
    :func:`autograder.notebook.plan`): ``the instructor's cell 'setup' (put back)``, never a number
    the student's notebook does not have. Every other cell is ``cell N``, counted from 1."""
    src_cells = nb.cells_of(source)
    names = {}
    for index, _ in cells:
        if index >= 1000:
            src = src_cells[index - 1000] if index - 1000 < len(src_cells) else None
            name = repr(src.grade_id) if src is not None and src.grade_id else f"{index - 1000 + 1}"
            names[index] = f"the instructor's cell {name} (put back)"
    return names


def _grade_item(grade_id: str, points: float, invoker: SandboxInvoker) -> ItemResult:
    if grade_id not in ITEMS:
        return zero_result(
            grade_id, points, "error", f"no grading is declared for {grade_id!r} (tell your instructor)"
        )
    try:
        return _scaled(run_item(ITEMS[grade_id], invoker), points)
    except Exception as exc:  # a grader bug must not cost the rest of the batch
        return zero_result(
            grade_id, points, "error", f"internal grader error ({type(exc).__name__}); tell your instructor"
        )


# ------------------------------------------------------------------------------------------- output


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write ``path`` via a temporary file in the same folder and ``os.replace``: all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _notes_text(graded: Graded) -> str:
    lines = [f"flagged for review: {f}" for f in graded.flags] + graded.notes
    return "\n".join(lines)


def write_outputs(graded: Graded, out: Path) -> Path:
    """``results.json``, ``feedback.md``, ``feedback.html`` then ``grading.json`` in ``out/<student>/``."""
    folder = out / graded.student
    title = f"{graded.assignment}: {graded.student}"
    notes = _notes_text(graded)
    gradescope = report.gradescope_results(graded.results, graded.seconds, output=notes)
    atomic_write(folder / "results.json", json.dumps(gradescope, indent=1, sort_keys=True) + "\n")
    markdown = report.markdown_report(graded.results, title=title)
    page = report.html_report(graded.results, title=title)
    if notes:
        markdown += (
            "\n## Notes\n\n"
            + "\n".join("- ``" + line.replace("`", "'") + "``" for line in notes.splitlines())
            + "\n"
        )
        items = "\n".join(f"<li><pre>{html.escape(line)}</pre></li>" for line in notes.splitlines())
        page = page.replace("\n</body></html>", f"\n<h2>Notes</h2>\n<ul>\n{items}\n</ul>\n</body></html>")
    atomic_write(folder / "feedback.md", markdown)
    atomic_write(folder / "feedback.html", page)
    atomic_write(folder / RECORD, json.dumps(graded.to_dict(), indent=1, sort_keys=True) + "\n")
    return folder


def load_record(folder: Path, assignment: str) -> Graded | None:
    """The finished record in ``folder`` for ``assignment``, or None (missing, partial, other)."""
    try:
        data = json.loads((folder / RECORD).read_text(encoding="utf-8"))
        graded = Graded.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if graded.assignment != assignment or not (folder / "results.json").is_file():
        return None
    return graded


def write_csv(out: Path, assignment: str, grade_ids: Sequence[str]) -> Path:
    """``out/grades.csv`` from every finished record in ``out`` (sorted by student)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(report.csv_header(grade_ids))
    for folder in sorted(p for p in out.iterdir() if p.is_dir()):
        graded = load_record(folder, assignment)
        if graded is not None:
            writer.writerow(report.csv_row(graded.student, assignment, graded.results, grade_ids))
    path = out / "grades.csv"
    atomic_write(path, buffer.getvalue())
    return path


# -------------------------------------------------------------------------------------------- batch

_STATE: dict[str, Any] = {}


def _init_pool(settings: Settings, session: Session, zygotes: Sequence[Zygote], slot: int = 1) -> None:
    """Grading process start-up: the run's sandbox session and this process's zygote."""
    _STATE["settings"] = settings
    _STATE["session"] = session
    _STATE["source"] = nb.load_source(settings.source_notebook)
    _STATE["zygote"] = zygotes[(slot - 1) % len(zygotes)] if zygotes else None


def _grade_one(sub: Submission) -> tuple[str, float]:
    settings: Settings = _STATE["settings"]
    try:
        graded = grade_submission(sub, settings, _STATE["source"], _STATE["session"], _STATE["zygote"])
    except Exception as exc:  # the grader's own failure: recorded for this submission, batch goes on
        items = nb.plan(_STATE["source"], _STATE["source"]).items
        message = f"internal grader error ({type(exc).__name__}: {exc})"[:300]
        graded = Graded(
            sub.student,
            settings.assignment,
            [zero_result(g, p, "error", message) for g, p in items],
            [message],
            [],
            0.0,
        )
    write_outputs(graded, settings.out)
    return sub.student, graded.total


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the current submission: its worker is killed


def _serve(
    conn: Connection, slot: int, settings: Settings, session: Session, zygotes: Sequence[Zygote]
) -> None:
    """A grading process: grade each submission the batch sends until it sends None or goes away.

    SIGTERM ends it cleanly (exit status 143, no traceback); Ctrl-C is left to the batch.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    _init_pool(settings, session, zygotes, slot)
    while True:
        try:
            sub = conn.recv()
        except (EOFError, OSError):
            return
        if sub is None:
            return
        result = _grade_one(sub)
        try:
            conn.send(result)
        except OSError:  # the batch is gone; the record is written
            return


def _grade_in_processes(
    todo: Sequence[Submission], settings: Settings, session: Session, zygotes: Sequence[Zygote], jobs: int
) -> Generator[tuple[str, float], None, None]:
    """Yield ``(student, total)`` as ``jobs`` forked grading processes finish ``todo``.

    However this ends (also by an exception such as an interrupt), the grading processes are
    stopped (SIGTERM, which kills their current workers) and reaped before it returns.
    """
    context = multiprocessing.get_context("fork")
    pending = list(todo)[::-1]
    procs: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []
    stopping = True
    try:
        for slot in range(1, jobs + 1):
            mine, theirs = context.Pipe()
            # the child sets its own handlers before it takes SIGINT/SIGTERM
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            try:
                started = context.Process(
                    target=_serve, args=(theirs, slot, settings, session, zygotes), daemon=True
                )
                started.start()
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            theirs.close()
            procs.append((started, mine))
        busy: list[Connection] = []
        for _, idle in procs:
            if pending:
                idle.send(pending.pop())
                busy.append(idle)
        while busy:
            for ready in wait(busy):
                assert isinstance(ready, Connection)
                try:
                    student, total = ready.recv()
                except EOFError:
                    raise RuntimeError("a grading process ended unexpectedly") from None
                yield student, total
                if pending:
                    ready.send(pending.pop())
                else:
                    busy.remove(ready)
        stopping = False
    finally:
        for proc, conn in procs:
            if stopping and proc.is_alive():
                proc.terminate()
            with contextlib.suppress(OSError):
                conn.send(None)
        for proc, conn in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
                proc.join()
            conn.close()


def start_zygotes(session: Session, source_notebook: Path, jobs: int) -> list[Zygote]:
    """One pre-warmed worker parent per grading process; they import numpy/matplotlib (and torch
    when the assignment uses it) while the grader itself starts up."""
    source = nb.load_source(source_notebook)
    preload = preload_for(nb.plan(source, source).cells)
    return [Zygote(session, preload) for _ in range(jobs)]


def grade_batch(
    subs: Sequence[Submission],
    settings: Settings,
    jobs: int = 1,
    force: bool = False,
    quiet: bool = False,
    zygotes: Sequence[Zygote] | None = None,
    session: Session | None = None,
) -> dict[str, float]:
    """Grade ``subs`` with ``jobs`` processes; returns ``{student: total}`` (finished ones included).

    Submissions with a finished record in ``settings.out`` are skipped unless ``force``. The sandbox
    ``session`` (see :meth:`Settings.session`) and the ``zygotes`` (see :func:`start_zygotes`) are
    started here when not given, and then also closed here.
    """
    if jobs < 1:
        raise ValueError(f"jobs={jobs} must be at least 1")
    source = nb.load_source(settings.source_notebook)
    src_plan = nb.plan(source, source)
    settings.out.mkdir(parents=True, exist_ok=True)
    totals: dict[str, float] = {}
    todo = []
    for sub in subs:
        done = None if force else load_record(settings.out / sub.student, settings.assignment)
        if done is not None:
            totals[sub.student] = done.total
        else:
            todo.append(sub)
    jobs = max(1, min(jobs, len(todo)))
    own_session = session is None and bool(todo)
    if session is None and todo:
        session = settings.session()
    own = zygotes is None and bool(todo)
    warm = (
        list(zygotes)
        if zygotes is not None
        else (start_zygotes(session, settings.source_notebook, jobs) if session is not None else [])
    )
    bar = tqdm(
        total=len(todo),
        desc=f"grading {settings.assignment}",
        unit="nb",
        disable=quiet or not sys.stderr.isatty(),
    )
    try:
        if jobs == 1 and session is not None:
            _init_pool(settings, session, warm)
            for sub in todo:
                student, total = _grade_one(sub)
                totals[student] = total
                bar.update()
        elif session is not None:
            with contextlib.closing(_grade_in_processes(todo, settings, session, warm, jobs)) as graded:
                for student, total in graded:
                    totals[student] = total
                    bar.update()
    finally:
        bar.close()
        if own:
            for zygote in warm:
                zygote.close()
        if own_session and session is not None:
            session.close()
    write_csv(settings.out, settings.assignment, [g for g, _ in src_plan.items])
    return totals
