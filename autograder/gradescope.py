r"""Gradescope: build an autograder bundle, and grade one submission inside Gradescope's container.

``python -m autograder gradescope-bundle ASSIGNMENT --out FILE.zip`` writes a zip with::

    setup.sh            run once by Gradescope, as root, when it builds the image (see below)
    run_autograder      grades /autograder/submission -> /autograder/results/results.json
    requirements.txt    what setup.sh installs (torch only for an assignment that uses it)
    package/            autograder + course_lib
    course/source/ASSIGNMENT/   the source notebook and its helper modules
    course/.autograder/draw_secret   the course's draw secret (autograder.draws)
    course/gradescope.json      the bundle's options: limits, isolation, details' visibility
    wheels/             (optional, --wheels DIR) packages to install without a network

Gradescope unpacks the zip into ``/autograder/source``. **setup.sh** checks that the image's
``python3`` is 3.10 or newer and stops the image build with a clear message otherwise (Gradescope's
Ubuntu 22.04 image has 3.10, 24.04 has 3.12; 20.04's 3.8 is refused), installs bubblewrap, creates
a virtual environment in ``/opt/autograder-venv`` (Ubuntu 24.04's Python refuses system-wide pip
installs, PEP 668), installs the requirements (from ``wheels/`` or ``$AUTOGRADER_WHEELS`` when given,
without the network) and copies the two packages into it; then it makes the grader's own files --
``autograder`` and ``course_lib`` in the environment, and ``/autograder/source`` (the instructor's
source notebook with solutions, the draw secret) -- readable by root only.

**run_autograder** (:func:`run`) grades the submitted notebook (chosen among every ``*.ipynb`` of
the submission and inside its zips, Mac zip junk ignored; the student's own ``*.py`` files next to
it are copied into the worker's folder, :func:`autograder.grade.student_files`) with the same
pipeline as the batch grader, one job, with limits below what the container really has (its
cgroup's memory and CPU, :func:`container_limits`), at the strongest isolation level that works in
the container (``namespaces`` when unprivileged user namespaces work there, else ``uid``: the
student's code runs as an unprivileged uid that cannot read the grader's files nor write the
results, with the network off where the kernel allows it, else ``none``). ``results.json`` is
written by the grader alone, after the student's code has ended; it
records the level in force (``extra_data``). ``AUTOGRADER_ROOT`` replaces ``/autograder``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autograder import draws, grade, report
from autograder import notebook as nb
from autograder.sandbox import Limits, Session
from autograder.sandbox.zygote import Zygote

PACKAGES = ("autograder", "course_lib")
#: What the grader needs in the image (torch is added for assignments that use it).
REQUIREMENTS = """\
numpy>=1.26
matplotlib>=3.8
hypothesis>=6.100
ipython>=8.0
pyseccomp>=0.1.2
threadpoolctl>=3.1
tqdm>=4.66
"""
TORCH_REQUIREMENTS = """\
--extra-index-url https://download.pytorch.org/whl/cpu
torch>=2.1,<2.15
"""
VENV = "/opt/autograder-venv"
SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu 22.04 or 24.04).
set -euo pipefail
SOURCE="${{AUTOGRADER_ROOT:-/autograder}}/source"
VENV="${{AUTOGRADER_VENV:-{venv}}}"
if [ -z "${{AUTOGRADER_SKIP_APT:-}}" ] && command -v apt-get > /dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \\
    python3 python3-venv bubblewrap libseccomp2 > /dev/null
fi
PYTHON="${{AUTOGRADER_SYSTEM_PYTHON:-python3}}"
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
  echo "setup.sh: the autograder needs Python 3.10 or newer, and this image's $PYTHON is" \\
       "$("$PYTHON" --version 2>&1). In Gradescope's autograder settings choose the Ubuntu 22.04" \\
       "(Python 3.10) or Ubuntu 24.04 (Python 3.12) base image." >&2
  exit 1
fi
"$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
WHEELS="${{AUTOGRADER_WHEELS:-$SOURCE/wheels}}"
if [ -d "$WHEELS" ]; then
  PIP+=(--no-index --find-links "$WHEELS")
fi
"${{PIP[@]}}" -r "$SOURCE/requirements.txt"
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
for package in {packages}; do
  rm -rf "${{SITE:?}}/$package"
  cp -r "$SOURCE/package/$package" "$SITE/$package"
done
"$VENV/bin/python" -c 'import autograder.gradescope, course_lib'
# The student's code may run as another (unprivileged) uid: the grader's own files are root's alone.
chmod -R go-rwx "$SITE/autograder" "$SITE/course_lib" "$SOURCE"
chmod go+rx "$SOURCE/run_autograder" 2> /dev/null || true
echo "setup.sh: autograder installed in $VENV ($("$VENV/bin/python" --version))"
"""
RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission, as root: grade the notebook, write results/results.json.
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{AUTOGRADER_PYTHON:-${{AUTOGRADER_VENV:-{venv}}}/bin/python}}"
exec "$PYTHON" -m autograder.gradescope --assignment {assignment} --root "$ROOT" \\
    --course "$ROOT/source/course"
"""


@dataclasses.dataclass(frozen=True)
class Options:
    """What an instructor chooses for a Gradescope assignment (``course/gradescope.json``)."""

    isolation: str = "auto"
    details: str = "visible"
    cell_timeout: float = 60.0
    call_timeout: float = 10.0
    submission_timeout: float = 600.0
    memory_mb: int = 1024
    max_notebook_mb: float = nb.MAX_NOTEBOOK_MB
    max_file_mb: float = nb.MAX_FILE_MB

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True) + "\n"

    @classmethod
    def load(cls, path: Path) -> Options:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _add_file(archive: zipfile.ZipFile, name: str, data: str | bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # fixed date: reproducible zips
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o755 if executable else 0o644) << 16
    archive.writestr(info, data)


def requirements(source_notebook: Path) -> str:
    """The bundle's requirements: torch only when the assignment's notebook imports it."""
    text = source_notebook.read_text(encoding="utf-8")
    torch = re.search(r"(import|from)\s+torch\b", text) is not None
    return REQUIREMENTS + (TORCH_REQUIREMENTS if torch else "")


def build_bundle(
    assignment: str,
    out: str | Path,
    course_root: str | Path = grade.COURSE_ROOT,
    options: Options | None = None,
    wheels: str | Path | None = None,
) -> Path:
    """Write the Gradescope zip for ``assignment`` to ``out``; returns its path (see the module doc)."""
    course_root = Path(course_root)
    source = course_root / "source" / assignment / f"{assignment}.ipynb"
    if not source.is_file():
        raise ValueError(f"assignment={assignment!r}: no source notebook {source}")
    if not assignment.replace("_", "").isalnum():
        raise ValueError(f"assignment={assignment!r} must be letters, digits and underscores")
    options = options or Options()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    package_root = Path(grade.__file__).resolve().parent.parent
    tmp = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        _add_file(archive, "setup.sh", SETUP_SH.format(venv=VENV, packages=" ".join(PACKAGES)), True)
        _add_file(archive, "run_autograder", RUN_AUTOGRADER.format(assignment=assignment, venv=VENV), True)
        _add_file(archive, "requirements.txt", requirements(source))
        for package in PACKAGES:
            for path in sorted((package_root / package).rglob("*")):
                if (
                    path.is_file()
                    and "__pycache__" not in path.parts
                    and path.suffix in (".py", ".json", ".txt", ".md")
                ):
                    _add_file(archive, f"package/{path.relative_to(package_root)}", path.read_bytes())
        for path in sorted(source.parent.iterdir()):
            if path.is_file() and path.suffix in (".ipynb", ".py", ".json", ".csv", ".txt"):
                _add_file(archive, f"course/source/{assignment}/{path.name}", path.read_bytes())
        _add_file(archive, f"course/{draws.SECRET_FILE}", draws.load_secret(course_root) + b"\n")
        _add_file(archive, "course/gradescope.json", options.to_json())
        if wheels is not None:
            for path in sorted(Path(wheels).iterdir()):
                if path.suffix in (".whl", ".gz", ".zip"):
                    _add_file(archive, f"wheels/{path.name}", path.read_bytes())
    os.replace(tmp, out)
    return out


def container_limits() -> tuple[int | None, float | None]:
    """The memory (bytes) and CPUs this container may use, from its cgroup (v2 or v1); None if unlimited."""

    def read(path: str) -> str | None:
        try:
            return Path(path).read_text().strip()
        except OSError:
            return None

    memory: int | None = None
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        text = read(path)
        if text and text != "max" and text.isdigit() and int(text) < 2**60:
            memory = int(text)
            break
    cpus: float | None = None
    cpu_max = read("/sys/fs/cgroup/cpu.max")
    if cpu_max and not cpu_max.startswith("max"):
        quota, period = cpu_max.split()[:2]
        cpus = int(quota) / int(period)
    else:
        quota_text = read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") or read(
            "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us"
        )
        period_text = read("/sys/fs/cgroup/cpu/cpu.cfs_period_us") or read(
            "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us"
        )
        if quota_text and period_text and int(quota_text) > 0:
            cpus = int(quota_text) / int(period_text)
    return memory, cpus


def limits_for(options: Options, memory: int | None, cpus: float | None) -> Limits:
    """The sandbox's limits inside a container with ``memory`` bytes and ``cpus`` CPUs: the student's
    code gets at most half the container's memory (the grader, torch and the zygote need the rest),
    and on less than one CPU the time limits stretch accordingly."""
    memory_mb = options.memory_mb
    if memory is not None:
        memory_mb = max(128, min(memory_mb, memory // 2**20 // 2))
    stretch = 1.0 if cpus is None or cpus >= 1 else 1.0 / max(cpus, 0.1)
    return Limits(
        memory_mb=memory_mb,
        cell_timeout=options.cell_timeout * stretch,
        call_timeout=options.call_timeout * stretch,
        submission_timeout=options.submission_timeout * stretch,
        max_processes=8,
    )


def find_notebook(folder: Path, source: nb.Notebook) -> grade.Submission:
    """The submitted notebook: among the ``*.ipynb`` files anywhere in ``folder`` and inside its zips
    (Mac zip junk such as ``__MACOSX/._x.ipynb``, checkpoints and hidden files ignored), the one
    holding the assignment's work; a checkpoint copy when there is nothing else; else a submission
    whose ``missing`` says what was found (:func:`autograder.grade.submission_in`)."""
    return grade.submission_in(folder, "submission", source, recursive=True, where="submission")


def run(assignment: str, root: Path, course: Path) -> dict[str, Any]:
    """Grade ``root/submission`` and write ``root/results/results.json``; returns its content."""
    start = time.monotonic()
    options = Options.load(course / "gradescope.json")
    memory, cpus = container_limits()
    limits = limits_for(options, memory, cpus)
    results_dir = root / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    feedback = results_dir / "feedback"
    submission = root / "submission"
    settings = grade.Settings(
        assignment, source_root=course, out=feedback, limits=limits,
        max_notebook_mb=options.max_notebook_mb, max_file_mb=options.max_file_mb,
        forbidden_paths=(str(submission), str(results_dir)), isolation=options.isolation,
    )  # fmt: skip
    source = nb.load_source(settings.source_notebook)
    sub = find_notebook(submission, source) if submission.is_dir() else None
    if sub is None or sub.missing:
        items = nb.plan(source, source).items
        found = sub.missing if sub is not None else "no submission folder"
        zeros = [
            grade.zero_result(g, p, "error", f"no .ipynb notebook was found in the submission ({found})")
            for g, p in items
        ]
        output = "\n".join([f"no notebook was submitted: {found}", *(sub.notes if sub else ())])
        data = report.gradescope_results(
            zeros, time.monotonic() - start, output=output, details=options.details
        )
    else:
        if os.getuid() == 0:  # at the uid level the student's code runs as another uid
            for private in (submission, results_dir):
                os.chmod(private, 0o700)
        graded, level, mechanisms = _grade(settings, source, sub)
        grade.write_outputs(graded, feedback)
        extra = {
            "isolation": level,
            "mechanisms": mechanisms,
            "notebook": sub.name,
            "container_memory_mb": None if memory is None else memory // 2**20,
            "container_cpus": cpus,
        }
        data = report.gradescope_results(
            graded.results, time.monotonic() - start, output=grade._notes_text(graded),
            details=options.details, extra=extra,
        )  # fmt: skip
    grade.atomic_write(results_dir / "results.json", json.dumps(data, indent=1, sort_keys=True) + "\n")
    return data


def _grade(
    settings: grade.Settings, source: Any, sub: grade.Submission
) -> tuple[grade.Graded, str, list[str]]:
    """Grade the chosen notebook at the strongest isolation level that works here."""
    session = Session(settings.isolation, limits=settings.limits, hidden=settings.hidden_paths()).start()
    try:
        zygote = Zygote(session, grade.preload_for(nb.plan(source, source).cells))
        try:
            graded = grade.grade_submission(sub, settings, source, session, zygote=zygote)
        finally:
            zygote.close()
        return graded, session.level, session.mechanisms()
    finally:
        session.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.gradescope",
        description="Grade a Gradescope submission (what run_autograder calls).",
    )
    parser.add_argument("--assignment", required=True)
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("AUTOGRADER_ROOT", "/autograder")))
    parser.add_argument("--course", type=Path, default=None, help="course root (default: ROOT/source/course)")
    args = parser.parse_args(argv)
    course = args.course or args.root / "source" / "course"
    data = run(args.assignment, args.root, course)
    level = data.get("extra_data", {}).get("isolation", "-")
    results = args.root / "results" / "results.json"
    print(f"score {data['score']}/{data['max_score']} (isolation: {level}) -> {results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
