"""autograder.report (and the result round trip): text in the GUIDE's style, escaped markdown and
HTML, Gradescope's results.json shape, grades.csv rows."""

from __future__ import annotations

import json

from autograder.report import (
    csv_header,
    csv_row,
    format_points,
    gradescope_results,
    html_report,
    item_text,
    markdown_report,
    text_report,
)
from autograder.result import ItemResult, PropResult

CONV = ItemResult(
    "conv2d",
    6,
    (
        PropResult("matches the reference, stride 1, no padding", 2, True),
        PropResult("handles zero padding", 2, True),
        PropResult(
            "handles stride",
            2,
            False,
            (
                "smallest failing call: "
                "conv2d(x.shape=(1, 1, 3, 3), w.shape=(1, 1, 2, 2), stride=2, padding=0)",
                "expected shape (1, 1, 1, 1), got (1, 1, 2, 2)",
            ),
        ),
    ),
)
STUB = ItemResult(
    "relu",
    2,
    (PropResult("idea", 2, False, ("failing call: relu(x=1)", "raised X")),),
    "not_implemented",
    "not implemented yet: relu raises NotImplementedError",
)
HOSTILE = ItemResult(
    "pad2d",
    2,
    (PropResult("<b>idea</b>", 2, False, ("raised ValueError: <script>alert(1)</script> ``` `x`",)),),
)


def test_item_text_matches_the_guide() -> None:
    assert item_text(CONV) == (
        "conv2d: 4/6 points\n"
        "conv2d: matches the reference, stride 1, no padding: PASSED (2/2)\n"
        "conv2d: handles zero padding: PASSED (2/2)\n"
        "conv2d: handles stride: FAILED (0/2)\n"
        "  smallest failing call: conv2d(x.shape=(1, 1, 3, 3), w.shape=(1, 1, 2, 2), stride=2, padding=0)\n"
        "  expected shape (1, 1, 1, 1), got (1, 1, 2, 2)"
    )


def test_not_graded_items_show_only_the_message() -> None:
    assert item_text(STUB) == "relu: 0/2 points\n  not implemented yet: relu raises NotImplementedError"
    assert STUB.earned == 0


def test_text_report_totals() -> None:
    text = text_report([CONV, STUB], title="convolution_by_hand")
    assert text.startswith("convolution_by_hand\n\nconv2d: 4/6 points\n")
    assert text.endswith("\n\ntotal: 4/8 points\n")


def test_feedback_is_bounded() -> None:
    long = ItemResult(
        "f", 2, tuple(PropResult(f"idea {i}", 0.01, False, ("x" * 240, "y" * 240)) for i in range(200))
    )
    assert len(item_text(long)) <= 4000


def test_markdown_keeps_student_text_in_code_spans() -> None:
    md = markdown_report([HOSTILE])
    assert "## pad2d: 0/2 points" in md
    assert "``raised ValueError: <script>alert(1)</script> ''' 'x'``" in md


def test_html_escapes_everything() -> None:
    page = html_report([HOSTILE, CONV], title="<Feedback>")
    assert "<script>" not in page and "<b>idea</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;Feedback&gt;" in page
    assert page.startswith("<!DOCTYPE html>")


def test_gradescope_results_shape() -> None:
    data = gradescope_results([CONV, STUB], execution_time=1.23456)
    json.dumps(data)  # serialisable
    assert (data["score"], data["max_score"], data["execution_time"]) == (4, 8, 1.235)
    assert [t["name"] for t in data["tests"]] == ["conv2d", "relu"]
    assert data["tests"][0] == {
        "name": "conv2d",
        "score": 4,
        "max_score": 6,
        "status": "failed",
        "output": item_text(CONV),
        "visibility": "visible",
    }


def test_csv_rows() -> None:
    assert csv_header(["conv2d", "relu"]) == ["student", "assignment", "conv2d", "relu", "total"]
    assert csv_row("ada", "convolution_by_hand", [CONV], ["conv2d", "relu"]) == [
        "ada",
        "convolution_by_hand",
        "4",
        "0",
        "4",
    ]


def test_format_points() -> None:
    assert [format_points(v) for v in (3.0, 2.5, 1 / 3, 0.0)] == ["3", "2.5", "0.33", "0"]


def test_result_round_trips_through_json() -> None:
    for result in (CONV, STUB, HOSTILE):
        assert ItemResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_flagged_items_earn_nothing() -> None:
    flagged = ItemResult(
        "relu", 2, (PropResult("idea", 2, True),), "flagged", "uses the reference", ("reference",)
    )
    assert flagged.earned == 0 and flagged.flagged
