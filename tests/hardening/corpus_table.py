"""The README's table of corpus outcomes, measured: ``python -m tests.hardening.corpus_table``.

Grades the whole corpus as ``tests/hardening/test_corpus.py`` does (one batch per assignment, two
jobs, the hardening limits) and prints one markdown row per case: its kind, name, what it does, its
score (and the items that lost points) and what its record says first (a flag, else a cell's error,
else the first failing line of its feedback).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from autograder import grade
from tests.hardening import corpus as C
from tests.hardening.test_corpus import grade_corpus, max_points


def _points(x: float) -> str:
    return f"{x:g}"


def row(out: Path, case: C.Case) -> str:
    data = json.loads((out / case.name / grade.RECORD).read_text())
    points = max_points(case.assignment)
    lost = [i for i in data["items"] if i["earned"] < i["points"]]
    score = f"{_points(data['total'])}/{_points(sum(points.values()))}"
    if lost and len(lost) < len(points):
        score += (
            " ("
            + ", ".join(f"{i['grade_id']} {_points(i['earned'])}/{_points(i['points'])}" for i in lost)
            + ")"
        )
    messages = [i["message"] for i in data["items"] if i.get("message")]
    failing = [
        line.strip()
        for i in data["items"]
        for prop in i.get("properties", [])
        if not prop.get("passed")
        for line in prop.get("lines", [])[1:2]
    ]
    says = (data["flags"] + data["notes"] + messages + failing + [""])[0]
    says = says.replace(str(grade.COURSE_ROOT) + "/", "").replace(str(out), "OUT").replace("|", "\\|")
    if len(says) > 90:
        says = says[:87] + "..."
    return f"| {case.category} | `{case.name}` | {case.what} | {score} | {says} |"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="corpus-table-") as tmp:
        batch = grade_corpus(Path(tmp))
        counts = {
            k: sum(c.category == k for c in C.CASES.values())
            for k in dict.fromkeys(c.category for c in C.CASES.values())
        }
        print(" ".join(f"{n} {kind}" for kind, n in counts.items()), file=sys.stderr)
        print("| kind | case | the submission | score | what the record says |")
        print("|---|---|---|---|---|")
        for case in C.CASES.values():
            print(row(batch.out, case))
    return 0


if __name__ == "__main__":
    sys.exit(main())
