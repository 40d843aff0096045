"""The students' environment (``student/``, ``pip install ./student``): what the released notebooks
import, nbgrader for the Assignment List and Validate, the student's Jupyter settings, and nothing of the
course's reference code. (What those settings do in JupyterLab: tests/browser/test_student_lab.py.)"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import tomllib
from packaging.requirements import Requirement

from autograder.course import VALIDATE_SETTINGS
from autograder.release import COURSE_ROOT

STUDENT = COURSE_ROOT / "student"
#: import name -> distribution name, for the third-party modules the notebooks may import
DISTRIBUTIONS = {"numpy": "numpy", "matplotlib": "matplotlib", "torch": "torch", "torchvision": "torchvision"}


def _requirements(pyproject: Path) -> dict[str, Requirement]:
    project = tomllib.loads(pyproject.read_text())["project"]
    return {Requirement(r).name: Requirement(r) for r in project["dependencies"]}


def _imported(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_it_has_what_every_released_notebook_imports_with_the_courses_versions() -> None:
    modules: set[str] = set()
    helpers = {p.stem for p in (COURSE_ROOT / "release").glob("*/*.py")}
    for path in (COURSE_ROOT / "release").glob("*/*"):
        if path.suffix == ".ipynb":
            modules |= {
                m for c in nbformat.read(path, 4).cells if c.cell_type == "code" for m in _imported(c.source)
            }
        elif path.suffix == ".py":
            modules |= _imported(path.read_text())
    third_party = modules - set(sys.stdlib_module_names) - helpers - {"__future__"}
    assert third_party <= set(DISTRIBUTIONS), third_party - set(DISTRIBUTIONS)
    student, course = _requirements(STUDENT / "pyproject.toml"), _requirements(COURSE_ROOT / "pyproject.toml")
    for module in third_party:
        name = DISTRIBUTIONS[module]
        assert name in student, f"the student environment lacks {name} (imported as {module})"
        assert student[name].specifier == course[name].specifier, (
            name
        )  # the versions the course is tested with
    assert {"jupyterlab", "nbgrader", "ipykernel"} <= set(student)
    assert "cnn-course" not in student


def test_its_wheel_installs_the_student_settings_and_no_code(tmp_path: Path) -> None:
    shutil.copytree(STUDENT, tmp_path / "student")  # building writes build/ and egg-info next to the sources
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    build += ["-w", str(tmp_path / "dist"), str(tmp_path / "student")]
    subprocess.run(build, check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    data = "cnn_course_student-0.1.0.data/data/etc/jupyter/"
    assert {n for n in names if ".data/" in n} == {
        data + "nbgrader_config.py",
        data + "labconfig/page_config.d/cnn_course_student.json",
        data + "jupyter_server_config.d/nbgrader_student.json",
    }
    assert not [n for n in names if n.endswith(".py") and ".data/" not in n], names
    disabled = json.loads(
        (STUDENT / "etc/jupyter/labconfig/page_config.d/cnn_course_student.json").read_text()
    )
    assert set(disabled["disabledExtensions"]) == {
        "@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:course-list"
    }  # fmt: skip


def test_its_server_settings_switch_the_formgrader_off_next_to_nbgraders_own(tmp_path: Path) -> None:
    """Installed, our file lands in the same folder as nbgrader's nbgrader.json (which enables every
    nbgrader server extension); Jupyter reads a folder's files in name order, so ours must win."""
    nbgraders = Path(sys.prefix) / "etc/jupyter/jupyter_server_config.d/nbgrader.json"
    folder = tmp_path / "config" / "jupyter_server_config.d"
    folder.mkdir(parents=True)
    shutil.copy2(nbgraders, folder)
    shutil.copy2(STUDENT / "etc/jupyter/jupyter_server_config.d/nbgrader_student.json", folder)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    listed = subprocess.run(
        [sys.executable, "-m", "jupyter", "server", "extension", "list"],
        env={**env, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "NO_COLOR": "1"},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    ours = (
        (listed.stdout + listed.stderr).split(f"Config dir: {tmp_path / 'config'}")[1].split("Config dir:")[0]
    )
    state = dict(
        re.findall(r"^\s+(nbgrader\.server_extensions\.\w+) \S*?(enabled|disabled)", ours, re.MULTILINE)
    )
    assert state == {
        "nbgrader.server_extensions.formgrader": "disabled",
        "nbgrader.server_extensions.course_list": "disabled",
        "nbgrader.server_extensions.validate_assignment": "enabled",
        "nbgrader.server_extensions.assignment_list": "enabled",
    }


def test_the_students_validate_settings_are_the_courses() -> None:
    """The student environment and the file `make course` writes for students set Validate alike."""
    assert VALIDATE_SETTINGS in (STUDENT / "etc/jupyter/nbgrader_config.py").read_text()
