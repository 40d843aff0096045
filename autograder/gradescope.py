r"""Gradescope: build an autograder bundle, and grade one submission inside Gradescope's image.

``python -m autograder gradescope-bundle ASSIGNMENT --out FILE.zip`` writes a zip with::

    setup.sh            installs Python packages and the bundled course package (run once per image)
    run_autograder      grades /autograder/submission/*.ipynb -> /autograder/results/results.json
    requirements.txt    what setup.sh installs (numpy, torch CPU, hypothesis, ...)
    package/            autograder + course_lib and a minimal pyproject.toml
    course/source/ASSIGNMENT/   the source notebook and its helper modules

Gradescope unpacks the zip into ``/autograder/source``. ``run_autograder`` calls
``python -m autograder.gradescope --assignment ASSIGNMENT``, i.e. :func:`run`, which grades the
submitted notebook with the same sandboxed pipeline as the batch grader and writes Gradescope's
``results.json`` (plus feedback files). The environment variable ``AUTOGRADER_ROOT`` replaces
``/autograder`` (the tests simulate Gradescope's layout in a temporary folder);
``AUTOGRADER_PYTHON`` chooses the interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path

from autograder import grade, report
from autograder import notebook as nb
from autograder.sandbox import Session
from autograder.sandbox.zygote import Zygote

PACKAGES = ("autograder", "course_lib")
REQUIREMENTS = """\
--extra-index-url https://download.pytorch.org/whl/cpu
numpy>=1.26
torch>=2.9,<2.15
matplotlib>=3.8
hypothesis>=6.100
nbformat>=5.9
tqdm>=4.66
"""
SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image.
set -euo pipefail
cd /autograder/source
apt-get update -qq && apt-get install -y -qq python3 python3-pip > /dev/null
python3 -m pip install --quiet -r requirements.txt
python3 -m pip install --quiet --no-deps ./package
"""
RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission: grade the notebook, write results/results.json.
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
exec "${{AUTOGRADER_PYTHON:-python3}}" -m autograder.gradescope --assignment {assignment} \\
    --root "$ROOT" --course "$ROOT/source/course"
"""
PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "cnn-course-autograder"
version = "0.1.0"
requires-python = ">=3.11"

[tool.setuptools.packages.find]
include = ["autograder*", "course_lib*"]
"""


def _add_file(archive: zipfile.ZipFile, name: str, data: str | bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # fixed date: reproducible zips
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o755 if executable else 0o644) << 16
    archive.writestr(info, data)


def build_bundle(assignment: str, out: str | Path, course_root: str | Path = grade.COURSE_ROOT) -> Path:
    """Write the Gradescope zip for ``assignment`` to ``out``; returns its path."""
    course_root = Path(course_root)
    source = course_root / "source" / assignment / f"{assignment}.ipynb"
    if not source.is_file():
        raise ValueError(f"assignment={assignment!r}: no source notebook {source}")
    if not assignment.replace("_", "").isalnum():
        raise ValueError(f"assignment={assignment!r} must be letters, digits and underscores")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    package_root = Path(grade.__file__).resolve().parent.parent
    tmp = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        _add_file(archive, "setup.sh", SETUP_SH, executable=True)
        _add_file(archive, "run_autograder", RUN_AUTOGRADER.format(assignment=assignment), executable=True)
        _add_file(archive, "requirements.txt", REQUIREMENTS)
        _add_file(archive, "package/pyproject.toml", PYPROJECT)
        for package in PACKAGES:
            for path in sorted((package_root / package).rglob("*")):
                if (
                    path.is_file()
                    and "__pycache__" not in path.parts
                    and path.suffix in (".py", ".json", ".txt")
                ):
                    _add_file(archive, f"package/{path.relative_to(package_root)}", path.read_bytes())
        for path in sorted(source.parent.iterdir()):
            if path.is_file() and path.suffix in (".ipynb", ".py", ".json", ".csv", ".txt"):
                _add_file(archive, f"course/source/{assignment}/{path.name}", path.read_bytes())
    os.replace(tmp, out)
    return out


def find_notebook(folder: Path, source: nb.Notebook) -> nb.Choice | None:
    """The submitted notebook: among the ``*.ipynb`` files anywhere in ``folder`` (Mac zip junk such
    as ``__MACOSX/._x.ipynb``, checkpoints and hidden files ignored), the one holding the assignment's
    work (:func:`autograder.notebook.choose_notebook`)."""
    candidates = nb.candidate_notebooks(folder, recursive=True)
    return nb.choose_notebook(candidates, source) if candidates else None


def run(assignment: str, root: Path, course: Path) -> dict[str, object]:
    """Grade ``root/submission`` and write ``root/results/results.json``; returns its content."""
    start = time.monotonic()
    results_dir = root / "results"
    settings = grade.Settings(assignment, source_root=course, out=results_dir / "feedback")
    source = nb.load_source(settings.source_notebook)
    choice = find_notebook(root / "submission", source)
    if choice is None:
        items = nb.plan(source, source).items
        zeros = [
            grade.zero_result(g, p, "error", "no .ipynb notebook was found in the submission")
            for g, p in items
        ]
        data = report.gradescope_results(zeros, time.monotonic() - start, output="no notebook was submitted")
    else:
        session = Session("auto", limits=settings.limits, hidden=settings.hidden_paths()).start()
        try:
            zygote = Zygote(session, grade.preload_for(nb.plan(source, source).cells))
            try:
                sub = grade.Submission("submission", choice.path, choice.ignored)
                graded = grade.grade_submission(sub, settings, source, session, zygote=zygote)
            finally:
                zygote.close()
        finally:
            session.close()
        grade.write_outputs(graded, settings.out)
        data = json.loads((settings.out / "submission" / "results.json").read_text(encoding="utf-8"))
    grade.atomic_write(results_dir / "results.json", json.dumps(data, indent=1, sort_keys=True) + "\n")
    return data


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.gradescope", description=run.__doc__)
    parser.add_argument("--assignment", required=True)
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("AUTOGRADER_ROOT", "/autograder")))
    parser.add_argument("--course", type=Path, default=None, help="course root (default: ROOT/source/course)")
    args = parser.parse_args(argv)
    course = args.course or args.root / "source" / "course"
    data = run(args.assignment, args.root, course)
    print(f"score {data['score']}/{data['max_score']} -> {args.root / 'results' / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
