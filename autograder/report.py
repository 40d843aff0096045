"""Feedback and scores from :class:`~autograder.result.ItemResult`\\ s: plain text (the notebook),
markdown and HTML (feedback files), Gradescope's ``results.json`` dict and ``grades.csv`` rows.

Plain text, one block per item::

    conv2d: 6/7 points
    conv2d: matches the lecture's worked example: PASSED (1/1)
    conv2d: stride > 1: FAILED (0/1)
      smallest failing call: conv2d(x.shape=(1, 1, 3, 3), w.shape=(1, 1, 2, 2), stride=2, padding=0)
      expected shape (1, 1, 1, 1), got (1, 1, 2, 2)

The text never contains timings, addresses or random ids, so the same submission always gets the
same feedback; every block is bounded (:data:`MAX_ITEM_CHARS`). Markdown puts the details in code
spans and HTML escapes everything, so a student's exception message cannot inject markup.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from autograder.result import ItemResult

#: Longest feedback block for one item (characters).
MAX_ITEM_CHARS = 4000


def format_points(value: float) -> str:
    """``3`` for 3.0, ``2.5`` for 2.5, at most two decimals."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _score(earned: float, possible: float) -> str:
    return f"{format_points(earned)}/{format_points(possible)}"


def _clip(text: str, limit: int = MAX_ITEM_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 30].rstrip() + "\n  ... (feedback truncated)"


def item_text(result: ItemResult) -> str:
    """The plain-text feedback block for one item."""
    gid = result.grade_id
    lines = [f"{gid}: {_score(result.earned, result.points)} points"]
    if result.status != "graded":
        lines.append(f"  {result.message}")
        return _clip("\n".join(lines))
    for prop in result.properties:
        verdict = "PASSED" if prop.passed else "FAILED"
        lines.append(f"{gid}: {prop.name}: {verdict} ({_score(prop.earned, prop.weight)})")
        lines += [f"  {line}" for line in prop.lines]
    if result.message:
        lines.append(f"  {result.message}")
    return _clip("\n".join(lines))


def _total(results: Sequence[ItemResult]) -> tuple[float, float]:
    return round(sum(r.earned for r in results), 6), round(sum(r.points for r in results), 6)


def text_report(results: Sequence[ItemResult], title: str = "") -> str:
    """Every item's block, then the total."""
    earned, possible = _total(results)
    blocks = [title] + [item_text(r) for r in results]
    blocks.append(f"total: {_score(earned, possible)} points")
    return "\n\n".join(b for b in blocks if b).strip() + "\n"


def _md_code(line: str) -> str:
    """A markdown code span that a backtick in ``line`` cannot close early."""
    return "``" + line.replace("`", "'") + "``"


def markdown_report(results: Sequence[ItemResult], title: str = "Feedback") -> str:
    """Markdown: a heading per item, a bullet per property, failure details as code spans."""
    earned, possible = _total(results)
    out = [f"# {title}", "", f"**Total: {_score(earned, possible)} points**", ""]
    for r in results:
        out.append(f"## {r.grade_id}: {_score(r.earned, r.points)} points")
        out.append("")
        if r.status != "graded":
            out.append(f"- {_md_code(r.message)}")
        for prop in r.properties if r.status == "graded" else ():
            verdict = "PASSED" if prop.passed else "**FAILED**"
            out.append(f"- {prop.name}: {verdict} ({_score(prop.earned, prop.weight)})")
            out += [f"  - {_md_code(line)}" for line in prop.lines]
        if r.status == "graded" and r.message:
            out.append(f"- {_md_code(r.message)}")
        out.append("")
    return "\n".join(out)


def html_report(results: Sequence[ItemResult], title: str = "Feedback") -> str:
    """A standalone HTML page; every piece of text is escaped."""
    e = html.escape
    earned, possible = _total(results)
    body = [f"<h1>{e(title)}</h1>", f"<p><strong>Total: {_score(earned, possible)} points</strong></p>"]
    for r in results:
        body.append(f"<h2>{e(r.grade_id)}: {_score(r.earned, r.points)} points</h2>")
        items: list[str] = []
        if r.status != "graded" or r.message:
            items.append(f"<li><pre>{e(r.message)}</pre></li>")
        for prop in r.properties if r.status == "graded" else ():
            css = "passed" if prop.passed else "failed"
            verdict = "PASSED" if prop.passed else "FAILED"
            details = f"<pre>{e(chr(10).join(prop.lines))}</pre>" if prop.lines else ""
            items.append(
                f'<li class="{css}">{e(prop.name)}: <b>{verdict}</b> '
                f"({_score(prop.earned, prop.weight)}){details}</li>"
            )
        body.append("<ul>\n" + "\n".join(items) + "\n</ul>")
    style = ".failed b{color:#b00020}.passed b{color:#1b5e20}pre{margin:.2em 0 .4em 1em}"
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{e(title)}</title><style>{style}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def gradescope_results(
    results: Sequence[ItemResult],
    execution_time: float,
    output: str = "",
    details: str = "visible",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Gradescope's ``results.json``: score, max_score, execution_time, one test per item.

    ``details="after_due_date"``: each item's test shows only its score until the due date, and a
    second test per item (0 points, visibility ``after_due_date``) holds the properties and the
    smallest failing calls. The runner's own printout is never shown to students
    (``stdout_visibility: hidden``); ``extra`` goes to ``extra_data`` (the isolation in force)."""
    if details not in ("visible", "after_due_date"):
        raise ValueError(f"details={details!r} must be 'visible' or 'after_due_date'")
    earned, possible = _total(results)
    tests: list[dict[str, Any]] = []
    for r in results:
        status = "passed" if r.earned >= r.points else "failed"
        text = item_text(r)
        if details == "visible":
            tests.append(
                {"name": r.grade_id, "score": r.earned, "max_score": r.points, "status": status,
                 "output": text, "visibility": "visible"}
            )  # fmt: skip
        else:
            summary = text.split("\n", 1)[0] + "\n(the details are shown after the due date)"
            tests.append(
                {"name": r.grade_id, "score": r.earned, "max_score": r.points, "status": status,
                 "output": summary, "visibility": "visible"}
            )  # fmt: skip
            tests.append(
                {"name": f"{r.grade_id} (details)", "score": 0, "max_score": 0, "output": text,
                 "visibility": "after_due_date"}
            )  # fmt: skip
    data: dict[str, Any] = {
        "score": earned,
        "max_score": possible,
        "execution_time": round(float(execution_time), 3),
        "stdout_visibility": "hidden",
        "tests": tests,
    }
    if output:
        data["output"] = output
    if extra:
        data["extra_data"] = extra
    return data


def csv_header(grade_ids: Sequence[str]) -> list[str]:
    """The ``grades.csv`` header: student, assignment, one column per item, total."""
    return ["student", "assignment", *grade_ids, "total"]


def csv_row(
    student: str, assignment: str, results: Sequence[ItemResult], grade_ids: Sequence[str]
) -> list[str]:
    """One ``grades.csv`` row; an item without a result scores 0."""
    by_id = {r.grade_id: r for r in results}
    scores = [format_points(by_id[g].earned) if g in by_id else "0" for g in grade_ids]
    return [student, assignment, *scores, format_points(_total(results)[0])]
