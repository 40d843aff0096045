r"""nbgrader's own workflow, graded through the sandbox: one trustworthy gradebook.

:class:`SandboxGrade` is an nbgrader preprocessor that replaces the kernel execution step of
``nbgrader autograde`` (``Autograde.autograde_preprocessors``; the course's ``nbgrader_config.py``
configures it). For each notebook nbgrader autogrades it grades **the student's file as submitted**
(``submitted/STUDENT/ASSIGNMENT/NOTEBOOK.ipynb``, before nbgrader's sanitising, so flags match the
standalone grader) with the standalone grader's pipeline in the sandbox, and writes into the notebook
nbgrader then saves what nbgrader reads:

- each graded test cell (``test_<item>``) gets the item's feedback as its stdout and the points as
  its ``execute_result`` (nbgrader's partial credit); a notebook that could not be graded at all
  gets an ``error`` in each test cell (0 points);
- the student's cells get their output as the sandbox captured it (and an ``error`` output where a
  cell raised); the first test cell also carries the grader's flags and notes.

So ``nbgrader autograde`` (unchanged commands), the formgrader, manual grading of the written answers,
``generate_feedback`` and ``export`` all carry the sandbox's verdict. The grading record of each
submission is also written where the standalone grader would (``COURSE/graded/ASSIGNMENT/STUDENT/``:
``grading.json``, ``results.json``, feedback), and a record already there for the same submitted
file and source notebook (:attr:`autograder.grade.Graded.digest`) is reused instead of grading again:
that is how the parallel path, :func:`grade_course` (``python -m autograder grade COURSE --assignment
A --gradebook``), grades a large class with ``--jobs`` processes first and then lets nbgrader record
everything in its gradebook in seconds.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode, from_dict
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Float, Int, Unicode

from autograder import grade
from autograder import notebook as nb
from autograder.report import item_text
from autograder.sandbox import Limits, Session
from autograder.sandbox.zygote import Zygote

#: Where the grading records of an nbgrader course go, relative to its root (one folder per assignment).
RECORDS = "graded"

#: One sandbox session and zygote per (isolation, modules to preload), shared by every notebook an
#: ``nbgrader autograde`` process grades; closed when the process ends.
_ENGINES: dict[tuple[str, tuple[str, ...]], tuple[Session, Zygote]] = {}


def _close_engines() -> None:
    for session, zygote in _ENGINES.values():
        with contextlib.suppress(Exception):
            zygote.close()
        with contextlib.suppress(Exception):
            session.close()
    _ENGINES.clear()


atexit.register(_close_engines)


class SandboxGrade(NbGraderPreprocessor):
    """Grade the submitted notebook in the sandbox and write nbgrader's outputs (see the module doc)."""

    isolation = Unicode(
        "namespaces", help="the sandbox's isolation level: namespaces (required by default), uid or none"
    ).tag(config=True)
    records = Unicode(RECORDS, help="folder (relative to the course root) for the grading records").tag(
        config=True
    )
    cell_timeout = Float(Limits.cell_timeout, help="wall-clock seconds per notebook cell").tag(config=True)
    call_timeout = Float(Limits.call_timeout, help="wall-clock seconds per call of a graded function").tag(
        config=True
    )
    memory_mb = Int(Limits.memory_mb, help="memory of the student's code (MB)").tag(config=True)

    def preprocess(
        self, nb_node: NotebookNode, resources: ResourcesDict
    ) -> tuple[NotebookNode, ResourcesDict]:
        info = resources["nbgrader"]
        coursedir = CourseDirectory(config=self.config)
        root = Path(coursedir.root).resolve()
        assignment, student, notebook_id = info["assignment"], info["student"], info["notebook"]
        submitted = Path(coursedir.format_path(coursedir.submitted_directory, student, assignment)) / (
            f"{notebook_id}.ipynb"
        )
        settings = grade.Settings(
            assignment,
            source_root=root,
            out=root / self.records / assignment,
            limits=Limits(
                cell_timeout=self.cell_timeout, call_timeout=self.call_timeout, memory_mb=self.memory_mb
            ),
            forbidden_paths=(str(root),),
            isolation=self.isolation,
        )
        graded = self._graded(settings, grade.Submission(grade.safe_name(student), submitted))
        try:
            original: dict[str, Any] | None = nb.read_notebook(submitted)
        except nb.NotebookError:
            original = None
        restore_test_cells(nb_node, nb.load_source(settings.source_notebook))
        fill_notebook(nb_node, graded, original)
        return nb_node, resources

    def _graded(self, settings: grade.Settings, sub: grade.Submission) -> grade.Graded:
        """The submission's record: reused when fresh, else graded now (and written)."""
        own = grade.student_files(sub, grade.helper_files(settings))
        digest = grade.submission_digest(sub.path, settings.source_notebook, own.files)
        cached = grade.load_record(settings.out / sub.student, settings.assignment)
        if cached is not None and cached.digest == digest:
            self.log.info("Using the sandbox's grading record of %s", sub.student)
            return cached
        self.log.info("Grading %s in the sandbox (%s)", sub.student, settings.isolation)
        source = nb.load_source(settings.source_notebook)
        preload = grade.preload_for(nb.plan(source, source).cells)
        key = (settings.isolation, preload)
        if key not in _ENGINES:
            session = settings.session()  # IsolationUnavailable stops nbgrader with the reason
            _ENGINES[key] = (session, Zygote(session, preload))
        session, zygote = _ENGINES[key]
        graded = grade.grade_submission(sub, settings, source, session, zygote)
        grade.write_outputs(graded, settings.out)
        return graded


def restore_test_cells(node: NotebookNode, source: dict[str, Any]) -> None:
    """Put back the test cells a student deleted (their hidden tests removed, at the end), so that
    nbgrader records the item's score as the standalone grader gives it."""
    present = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in node.cells}
    for cell in nb.cells_of(source):
        if cell.graded and cell.grade_id.startswith("test_") and cell.grade_id not in present:
            meta = dict(cell.meta)
            text = nb.strip_hidden_tests(cell.source)
            meta["checksum"] = nb.checksum(cell.cell_type, text, meta)
            node.cells.append(
                from_dict(
                    {
                        "cell_type": "code",
                        "source": text,
                        "metadata": {"nbgrader": meta},
                        "outputs": [],
                        "execution_count": None,
                    }
                )
            )


def _stream(text: str) -> NotebookNode:
    return from_dict({"output_type": "stream", "name": "stdout", "text": text})


def _error(name: str, message: str) -> NotebookNode:
    return from_dict(
        {"output_type": "error", "ename": name, "evalue": message, "traceback": [f"{name}: {message}"]}
    )


def fill_notebook(node: NotebookNode, graded: grade.Graded, submitted: dict[str, Any] | None) -> None:
    """Write ``graded`` into nbgrader's sanitised copy ``node`` of the ``submitted`` notebook."""
    results = {r.grade_id: r for r in graded.results}
    notes = grade._notes_text(graded)
    unreadable = submitted is None
    first = True
    for cell in node.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id", "")
        if cell.cell_type != "code" or not (meta.get("grade") and gid.startswith("test_")):
            continue
        result = results.get(gid[len("test_") :])
        if result is None:
            continue
        header = f"Grading notes:\n{notes}\n\n" if first and notes else ""
        first = False
        if unreadable:
            cell.outputs = [
                _stream(header + item_text(result) + "\n"),
                _error("NotebookError", result.message),
            ]
        else:
            data = {"text/plain": repr(round(result.earned, 6))}
            result_output = {
                "output_type": "execute_result",
                "execution_count": None,
                "metadata": {},
                "data": data,
            }
            cell.outputs = [_stream(header + item_text(result) + "\n"), from_dict(result_output)]
    if submitted is not None:
        _student_outputs(node, graded, submitted)


def _student_outputs(node: NotebookNode, graded: grade.Graded, submitted: dict[str, Any]) -> None:
    """The student's cells' outputs as the sandbox captured them, by the cell's place in the
    submitted file (nbgrader keeps the cells' order; cells it put back are skipped)."""
    submitted_ids = {
        c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in submitted["cells"]
    } - {None, ""}
    kept = [
        c for c in node.cells
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id", "") in submitted_ids | {""}
    ]  # fmt: skip
    if len(kept) != len(submitted["cells"]):
        return  # the cells do not line up: leave the student's cells without outputs
    for index, cell in enumerate(kept):
        if cell.cell_type != "code" or cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            continue
        ran = graded.cells.get(str(index))
        if ran is None:
            continue
        outputs = [_stream(ran["output"])] if ran.get("output") else []
        if ran.get("error"):
            name, message = ran["error"]
            outputs.append(_error(str(name), str(message)))
        cell.outputs = outputs


def grade_course(
    course: Path,
    assignment: str,
    *,
    jobs: int,
    limits: Limits,
    isolation: str = "namespaces",
    force: bool = False,
    quiet: bool = False,
) -> int:
    """The parallel path into nbgrader's gradebook: grade ``course/submitted/*/assignment`` with
    ``jobs`` sandboxed processes into ``course/graded/assignment/``, then run ``nbgrader autograde``
    (which reuses those records through :class:`SandboxGrade`) so that the gradebook, the autograded
    notebooks and the late-submission information are nbgrader's own. Returns nbgrader's exit status."""
    course = course.resolve()
    settings = grade.Settings(
        assignment, source_root=course, out=course / RECORDS / assignment, limits=limits,
        forbidden_paths=(str(course),), isolation=isolation,
    )  # fmt: skip
    source = nb.load_source(settings.source_notebook)
    subs = grade.find_submissions([course], assignment, source)
    grade.grade_batch(subs, settings, jobs=jobs, force=force, quiet=quiet)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [sys.executable, "-m", "nbgrader", "autograde", assignment, "--create", "--force",
               f"--SandboxGrade.isolation={isolation}"]  # fmt: skip
    done = subprocess.run(command, cwd=course, env=env, capture_output=quiet, text=True, check=False)
    if done.returncode != 0 and quiet:
        sys.stderr.write(done.stderr[-3000:])
    return done.returncode
