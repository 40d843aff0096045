"""Earlier releases of each assignment: the locked cells a student may still have.

Students fetch an assignment once; when the instructor later improves it (a clearer check message,
a new helper in the setup cell) and releases it again, the notebooks already handed out keep the
earlier locked cells. Those cells are not edits by the student and must not be flagged as such.

``autograder/release_history/<assignment>.json`` keeps, per grade_id, the fingerprints (nbgrader's
checksum of the normalised text, :func:`autograder.notebook.checksum`) of every earlier released
version of each locked, test and check cell. ``make release`` records the release it replaces
(:func:`remember`); the grader accepts a cell that matches the current source or any earlier release
(:func:`autograder.notebook.plan`). What runs is always the current source's text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from autograder import notebook as nb

#: One JSON file per assignment: ``{grade_id: [fingerprint, ...]}``.
FOLDER = Path(__file__).with_name("release_history")


def fingerprints(notebook: Mapping[str, Any]) -> dict[str, str]:
    """The fingerprint of every locked, test and check cell of a released notebook, by grade_id."""
    found = {}
    for cell in nb.cells_of(notebook):
        if cell.grade_id and (cell.locked or cell.graded) and not cell.solution:
            found[cell.grade_id] = nb.checksum(cell.cell_type, nb.normalised(cell.source), cell.meta)
    return found


def earlier(assignment: str, folder: Path = FOLDER) -> dict[str, frozenset[str]]:
    """The fingerprints of the earlier releases of ``assignment`` (empty when none is recorded)."""
    try:
        data = json.loads((folder / f"{assignment}.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return {str(gid): frozenset(map(str, prints)) for gid, prints in data.items()}


def remember(assignment: str, released: Mapping[str, Any], folder: Path = FOLDER) -> bool:
    """Add the cells of an earlier ``released`` notebook to the history; True when something was new."""
    history = {gid: set(prints) for gid, prints in earlier(assignment, folder).items()}
    changed = False
    for gid, print_ in fingerprints(released).items():
        if print_ not in history.setdefault(gid, set()):
            history[gid].add(print_)
            changed = True
    if changed:
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps({gid: sorted(prints) for gid, prints in sorted(history.items())}, indent=1)
        (folder / f"{assignment}.json").write_text(text + "\n", encoding="utf-8")
    return changed
