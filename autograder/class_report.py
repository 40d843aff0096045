r"""The class report: where a class struggled, from the standalone grader's records.

``python -m autograder report OUT [OUT ...] [--to DIR]`` reads every ``OUT/<student>/grading.json``
(the full record :meth:`autograder.grade.Graded.to_dict` writes; ``OUT`` may also be a folder of such
output folders, one per assignment, like ``demo_class/standalone``) and writes into ``DIR`` (default
``OUT/class_report``):

- ``index.html``: one self-contained page (figures embedded) with
  the score distribution per assignment and per item (full marks / partial / zero / not written),
  the pass rate of every property among the students who wrote the function,
  the **misconceptions**: the smallest failing calls shared by several students, grouped (same
  property, same call, same outcome: "3 students fail 'stride > 1' with the same call"),
  and the students flagged for review (edited or tampered cells, use of the reference, actions the
  sandbox refused -- except the temporary-folder probes of Python's ``tempfile`` --, submissions that
  could not be graded);
- the same as data for a learning-management system or a spreadsheet: ``grades.csv`` (one row per
  student, one column per assignment), ``items.csv``, ``properties.csv``, ``misconceptions.csv``,
  ``flagged.csv`` and ``class_report.json`` (everything);
- the figures as PNG files (``scores.png``, ``items.png``, ``properties.png``).

Nothing but the records is read; the same records always give the same files.
"""

from __future__ import annotations

import argparse
import base64
import csv
import html
import io
import json
import re
import statistics
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.grade import RECORD, Graded
from autograder.report import format_points
from autograder.result import ItemResult

#: A refused write of a fresh file in a system temporary folder: Python's ``tempfile`` probing /tmp,
#: /var/tmp and /usr/tmp for a writable folder when a library asks for one (torch does), not the student.
TEMP_PROBE = re.compile(r"refused in the sandbox: tried to write (/tmp|/var/tmp|/usr/tmp)/\w+$")
#: Item statuses that mean "the student did not write it" rather than "wrote it wrong".
NOT_WRITTEN = ("not_implemented", "missing")
CALL_PREFIXES = ("smallest failing call: ", "failing call: ")


# ---------------------------------------------------------------------------------------- reading


def find_records(paths: Iterable[Path]) -> list[Graded]:
    """Every grading record under ``paths`` (grader output folders, or folders of them), sorted by
    assignment then student; a record seen twice (same assignment and student) is kept once."""
    found: dict[tuple[str, str], Graded] = {}
    for path in paths:
        if not path.is_dir():
            raise FileNotFoundError(f"{path} is not a folder")
        files = sorted(path.glob(f"*/{RECORD}")) or sorted(path.glob(f"*/*/{RECORD}"))
        for file in files:
            try:
                graded = Graded.from_dict(json.loads(file.read_text(encoding="utf-8")))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a half-written or foreign file: the grader rewrites it on the next run
            found.setdefault((graded.assignment, graded.student), graded)
    return [found[key] for key in sorted(found)]


# ------------------------------------------------------------------------------------ aggregation


@dataclass
class ItemStats:
    """How one graded item went across the class."""

    assignment: str
    grade_id: str
    points: float
    earned: list[float] = field(default_factory=list)
    not_written: int = 0

    @property
    def students(self) -> int:
        return len(self.earned)

    @property
    def full(self) -> int:
        return sum(e >= self.points - 1e-9 for e in self.earned)

    @property
    def zero(self) -> int:
        """Students who wrote the function and earned nothing."""
        return sum(e <= 1e-9 for e in self.earned) - self.not_written

    @property
    def partial(self) -> int:
        return self.students - self.full - self.zero - self.not_written


@dataclass
class PropertyStats:
    """How one property went among the students who wrote the function."""

    assignment: str
    grade_id: str
    name: str
    weight: float
    passed: int = 0
    tried: int = 0

    @property
    def pass_rate(self) -> float:
        return self.passed / self.tried if self.tried else float("nan")


@dataclass
class Misconception:
    """Students who fail one property with the same smallest failing call and the same outcome."""

    assignment: str
    grade_id: str
    prop: str
    call: str
    outcome: str
    students: list[str] = field(default_factory=list)


@dataclass
class ClassReport:
    """Everything the report shows, computed from the records alone."""

    records: list[Graded]
    assignments: list[str]
    students: list[str]
    items: list[ItemStats]
    properties: list[PropertyStats]
    misconceptions: list[Misconception]
    flagged: list[tuple[str, str, list[str]]]  # (assignment, student, reasons)

    def max_total(self, assignment: str) -> float:
        return sum(i.points for i in self.items if i.assignment == assignment)

    def totals(self, assignment: str) -> dict[str, float]:
        return {r.student: r.total for r in self.records if r.assignment == assignment}


def _failure(lines: Sequence[str]) -> tuple[str, str] | None:
    """(call, outcome) of a failed property's explanation, or None when it names no call."""
    for index, line in enumerate(lines):
        for prefix in CALL_PREFIXES:
            if line.startswith(prefix):
                outcome = " ".join(lines[index + 1 :]).strip()
                return line[len(prefix) :], outcome
    return None


def _review_reasons(record: Graded) -> list[str]:
    reasons = list(record.flags)
    for item in record.results:
        if item.status == "flagged" or item.flags:
            reasons += [f"{item.grade_id}: {flag}" for flag in item.flags] or [
                f"{item.grade_id}: {item.message}"
            ]
        elif item.status == "error":
            reasons.append(f"{item.grade_id} could not be graded: {item.message}")
    reasons += [
        note
        for note in record.notes
        if note.startswith("refused in the sandbox") and not TEMP_PROBE.match(note)
    ]
    return list(dict.fromkeys(reasons))  # unique, in order


def _in_course_order(assignments: set[str]) -> list[str]:
    """The course's teaching order (nbgrader_config.ASSIGNMENTS) where known, then by name."""
    from autograder.release import course_assignments

    try:
        order = {a: i for i, a in enumerate(course_assignments())}
    except (OSError, KeyError):
        order = {}
    return sorted(assignments, key=lambda a: (order.get(a, len(order)), a))


def build(records: Sequence[Graded]) -> ClassReport:
    """Aggregate grading records into a :class:`ClassReport`."""
    assignments = _in_course_order({r.assignment for r in records})
    items: dict[tuple[str, str], ItemStats] = {}
    props: dict[tuple[str, str, str], PropertyStats] = {}
    groups: dict[tuple[str, str, str, str, str], Misconception] = {}
    flagged = []
    for record in records:
        for item in record.results:
            stats = items.setdefault(
                (record.assignment, item.grade_id), ItemStats(record.assignment, item.grade_id, item.points)
            )
            stats.earned.append(item.earned)
            if item.status in NOT_WRITTEN:
                stats.not_written += 1
            if item.status != "graded":
                continue
            _count_properties(record, item, props, groups)
        reasons = _review_reasons(record)
        if reasons:
            flagged.append((record.assignment, record.student, reasons))
    rank = {a: i for i, a in enumerate(assignments)}
    misconceptions = sorted(
        groups.values(), key=lambda m: (-len(m.students), rank[m.assignment], m.grade_id, m.prop, m.call)
    )
    return ClassReport(
        records=list(records),
        assignments=assignments,
        students=sorted({r.student for r in records}),
        items=sorted(items.values(), key=lambda s: rank[s.assignment]),  # stable: notebook order within
        properties=sorted(props.values(), key=lambda p: rank[p.assignment]),
        misconceptions=misconceptions,
        flagged=flagged,
    )


def _count_properties(
    record: Graded,
    item: ItemResult,
    props: dict[tuple[str, str, str], PropertyStats],
    groups: dict[tuple[str, str, str, str, str], Misconception],
) -> None:
    for prop in item.properties:
        stats = props.setdefault(
            (record.assignment, item.grade_id, prop.name),
            PropertyStats(record.assignment, item.grade_id, prop.name, prop.weight),
        )
        stats.tried += 1
        stats.passed += prop.passed
        failure = None if prop.passed else _failure(prop.lines)
        if failure is not None:
            key = (record.assignment, item.grade_id, prop.name, *failure)
            groups.setdefault(key, Misconception(*key)).students.append(record.student)


# -------------------------------------------------------------------------------------------- data


def tables(report: ClassReport) -> dict[str, list[dict[str, Any]]]:
    """The report as rows (what the CSV files and the JSON hold)."""
    grades = []
    for student in report.students:
        row: dict[str, Any] = {"student": student}
        for assignment in report.assignments:
            total = report.totals(assignment).get(student)
            row[assignment] = "" if total is None else format_points(total)
        row["total"] = format_points(sum(r.total for r in report.records if r.student == student))
        grades.append(row)
    items = [
        {
            "assignment": s.assignment,
            "item": s.grade_id,
            "points": format_points(s.points),
            "students": s.students,
            "mean": format_points(statistics.fmean(s.earned)) if s.earned else "",
            "median": format_points(statistics.median(s.earned)) if s.earned else "",
            "full_marks": s.full,
            "partial": s.partial,
            "zero": s.zero,
            "not_written": s.not_written,
        }
        for s in report.items
    ]
    properties = [
        {
            "assignment": p.assignment,
            "item": p.grade_id,
            "property": p.name,
            "weight": format_points(p.weight),
            "passed": p.passed,
            "tried": p.tried,
            "pass_rate": "" if not p.tried else f"{p.pass_rate:.3f}",
        }
        for p in report.properties
    ]
    misconceptions = [
        {
            "assignment": m.assignment,
            "item": m.grade_id,
            "property": m.prop,
            "students": len(m.students),
            "call": m.call,
            "outcome": m.outcome,
            "who": " ".join(m.students),
        }
        for m in report.misconceptions
    ]
    flagged = [
        {"assignment": a, "student": s, "reasons": "; ".join(reasons)} for a, s, reasons in report.flagged
    ]
    return {
        "grades": grades,
        "items": items,
        "properties": properties,
        "misconceptions": misconceptions,
        "flagged": flagged,
    }


def _csv(rows: list[dict[str, Any]], header: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(header), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------- figures


def _figure_png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def figures(report: ClassReport) -> dict[str, bytes]:
    """``scores.png``, ``items.png`` and ``properties.png`` (matplotlib, Agg)."""
    import matplotlib.pyplot as plt

    pngs = {}
    for name, fig in make_figures(report).items():
        pngs[name] = _figure_png(fig)
        plt.close(fig)
    return pngs


def make_figures(report: ClassReport) -> dict[str, Any]:
    """The report's matplotlib figures, by file name (the caller closes them)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    out: dict[str, Any] = {}
    n = len(report.assignments)
    # 1. totals per assignment: a histogram each, three to a row
    columns = min(3, n)
    rows = -(-n // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(3.8 * columns, 0.4 + 2.9 * rows), squeeze=False, layout="constrained"
    )
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, assignment in zip(axes.flat, report.assignments, strict=False):
        totals = list(report.totals(assignment).values())
        top = report.max_total(assignment)
        # a bar per half point, centred on it (scores move in halves): edges at k/2 -+ 1/4
        bins = [k / 2 - 0.25 for k in range(int(top * 2) + 2)] if top <= 40 else 20
        ax.hist(totals, bins=bins, color="#4c72b0", edgecolor="white")
        ax.set_title(f"{assignment} ({len(totals)} students)", fontsize=9)
        ax.set_xlabel(f"total points (of {format_points(top)})", fontsize=8)
        ax.set_ylabel("students", fontsize=8)
        ax.set_xlim(-0.5, top + 0.5)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=8)
    fig.suptitle("score distribution per assignment", fontsize=10)
    out["scores.png"] = fig

    # 2. per item: full / partial / zero / not written, stacked
    labels = [f"{s.assignment}: {s.grade_id} ({format_points(s.points)})" for s in report.items]
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.3 * len(labels)), layout="constrained")
    left = [0] * len(labels)
    segments = (("full marks", "full", "#55a868"), ("partial", "partial", "#dd8452"),
                ("zero", "zero", "#c44e52"), ("not written", "not_written", "#bbbbbb"))  # fmt: skip
    for name, attr, color in segments:
        values = [getattr(s, attr) for s in report.items]
        ax.barh(range(len(labels)), values, left=left, color=color, label=name)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("students", fontsize=8)
    ax.legend(fontsize=8, ncols=4, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    ax.set_title("score distribution per item (points in brackets)", fontsize=10, pad=24)
    out["items.png"] = fig

    # 3. pass rate of every property among the students who wrote the function, a panel per assignment
    groups = [[p for p in report.properties if p.tried and p.assignment == a] for a in report.assignments]
    groups = [g for g in groups if g]
    total = sum(len(g) for g in groups)
    fig, axes = plt.subplots(
        len(groups), 1, figsize=(8, 0.9 + 0.24 * total + 0.45 * len(groups)), squeeze=False,
        gridspec_kw={"height_ratios": [len(g) + 1 for g in groups]}, layout="constrained",
    )  # fmt: skip
    for ax, props in zip(axes[:, 0], groups, strict=True):
        rates = [100 * p.pass_rate for p in props]
        colors = ["#55a868" if r >= 80 else "#dd8452" if r >= 50 else "#c44e52" for r in rates]
        ax.barh(range(len(props)), rates, color=colors)
        ax.set_yticks(range(len(props)), [f"{p.grade_id}: {p.name}" for p in props], fontsize=7)
        for y, (p, r) in enumerate(zip(props, rates, strict=True)):
            ax.text(min(r, 88) + 1, y, f"{p.passed}/{p.tried}", va="center", fontsize=7)
        ax.set_ylim(len(props) - 0.5, -0.5)
        ax.set_xlim(0, 100)
        ax.set_title(props[0].assignment, fontsize=9, loc="left")
        ax.tick_params(axis="x", labelsize=7)
    axes[-1, 0].set_xlabel("students who wrote the function and pass the property (%)", fontsize=8)
    fig.suptitle("pass rate of every property", fontsize=10)
    out["properties.png"] = fig
    return out


# -------------------------------------------------------------------------------------------- html


def _table(rows: list[dict[str, Any]], columns: Sequence[tuple[str, str]], code: Sequence[str] = ()) -> str:
    e = html.escape
    head = "".join(f"<th>{e(title)}</th>" for _, title in columns)
    body = []
    for row in rows:
        cells = []
        for key, _ in columns:
            text = e(str(row[key]))
            cells.append(f"<td><code>{text}</code></td>" if key in code else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not body:
        return "<p>none</p>"
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def html_page(report: ClassReport, data: dict[str, list[dict[str, Any]]], pngs: dict[str, bytes]) -> str:
    e = html.escape

    def img(name: str, alt: str) -> str:
        encoded = base64.b64encode(pngs[name]).decode("ascii")
        return f'<img src="data:image/png;base64,{encoded}" alt="{e(alt)}">'

    shared = [m for m in data["misconceptions"] if m["students"] > 1]
    medians = {a: format_points(statistics.median(report.totals(a).values())) for a in report.assignments}
    summary = ", ".join(
        f"{a}: {len(report.totals(a))} students, median {medians[a]}/{format_points(report.max_total(a))}"
        for a in report.assignments
    )
    parts = [
        "<h1>Class report</h1>",
        f"<p>{e(summary)}. Built from {len(report.records)} grading records.</p>",
        "<h2>Scores</h2>",
        img("scores.png", "score distribution per assignment"),
        img("items.png", "score distribution per item"),
        _table(
            data["items"],
            [
                ("assignment", "assignment"),
                ("item", "item"),
                ("points", "points"),
                ("mean", "mean"),
                ("median", "median"),
                ("full_marks", "full marks"),
                ("partial", "partial"),
                ("zero", "zero"),
                ("not_written", "not written"),
            ],
        ),
        "<h2>Properties</h2>",
        img("properties.png", "pass rate of every property"),
        "<h2>Misconceptions: the same smallest failing call</h2>",
        "<p>Students who fail a property with the same smallest failing call and the same outcome "
        "(the grader shrinks every failure to its smallest case, so one bug gives one call).</p>",
        "".join(
            f"<p><b>{m['students']} students</b> fail <i>{e(m['item'])}: {e(m['property'])}</i> with "
            f"<code>{e(m['call'])}</code>: {e(m['outcome'])}<br><small>{e(m['who'])}</small></p>"
            for m in shared
        )
        or "<p>No failing call is shared by two or more students.</p>",
        "<details><summary>every failing call</summary>",
        _table(
            data["misconceptions"],
            [
                ("students", "students"),
                ("assignment", "assignment"),
                ("item", "item"),
                ("property", "property"),
                ("call", "smallest failing call"),
                ("outcome", "outcome"),
                ("who", "who"),
            ],
            code=("call", "outcome"),
        ),
        "</details>",
        "<h2>Flagged for review</h2>",
        _table(data["flagged"], [("assignment", "assignment"), ("student", "student"), ("reasons", "why")]),
    ]
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:90%}"
        "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}"
        "img{max-width:100%;display:block;margin:1em 0}code{font-size:90%}"
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Class report</title>'
        f"<style>{style}</style></head>\n<body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


# ------------------------------------------------------------------------------------------ writing

COLUMNS = {
    "items": ("assignment", "item", "points", "students", "mean", "median", "full_marks", "partial", "zero",
              "not_written"),
    "properties": ("assignment", "item", "property", "weight", "passed", "tried", "pass_rate"),
    "misconceptions": ("assignment", "item", "property", "students", "call", "outcome", "who"),
    "flagged": ("assignment", "student", "reasons"),
}  # fmt: skip


def write_report(paths: Sequence[Path], to: Path | None = None) -> Path:
    """Write the class report of the records under ``paths`` into ``to``; return ``to``."""
    from autograder.grade import atomic_write

    records = find_records(paths)
    if not records:
        raise FileNotFoundError(
            f"no {RECORD} under {', '.join(map(str, paths))}: run `python -m autograder grade`"
        )
    folder = to if to is not None else paths[0] / "class_report"
    report = build(records)
    data = tables(report)
    pngs = figures(report)
    for name, png in pngs.items():
        atomic_write(folder / name, png)
    atomic_write(folder / "grades.csv", _csv(data["grades"], ["student", *report.assignments, "total"]))
    for name, header in COLUMNS.items():
        atomic_write(folder / f"{name}.csv", _csv(data[name], header))
    atomic_write(folder / "class_report.json", json.dumps(data, indent=1, sort_keys=True) + "\n")
    atomic_write(folder / "index.html", html_page(report, data, pngs))
    return folder


EPILOG = """\
example:
  python -m autograder grade course --assignment conv_arithmetic --out graded/conv_arithmetic
  python -m autograder report graded/conv_arithmetic
  python -m autograder report demo_class/standalone --to class_report   (every assignment)"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder report",
        description="Write the class report (HTML with figures, CSV and JSON) from the standalone grader's\n"
        "records: score distributions, property pass rates, shared failing calls (misconceptions)\n"
        "and the students flagged for review.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "out",
        nargs="+",
        type=Path,
        help="grader output folders (OUT/STUDENT/grading.json), or folders of them",
    )
    parser.add_argument("--to", type=Path, default=None, help="report folder (default: OUT/class_report)")
    args = parser.parse_args(argv)
    try:
        folder = write_report(args.out, args.to)
    except (FileNotFoundError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"class report: {folder / 'index.html'} (and grades.csv, items.csv, properties.csv, "
          "misconceptions.csv, flagged.csv, class_report.json)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
