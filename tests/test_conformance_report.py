"""conformance/report.py: the table as text and Markdown."""

from __future__ import annotations

from conformance.registry import Check
from conformance.report import render_markdown, render_text, summary
from conformance.runner import FAIL, PASS, SKIP, Outcome


def _outcome(group: str, name: str, status: str, detail: str = "") -> Outcome:
    return Outcome(Check(group, name, lambda ctx: None, 1.0), status, detail, 0.5)


OUTCOMES = [
    _outcome("PutObject", "stores the bytes", PASS),
    _outcome("GetObject", "Range a|b", FAIL, "status: expected 206,\n got 200"),
    _outcome("rclone", "copy", SKIP, "rclone is not installed"),
]


def test_summary_counts_each_verdict() -> None:
    assert summary(OUTCOMES) == "1 passed, 1 failed, 1 skipped"
    assert summary(OUTCOMES[:1]) == "1 passed"


def test_text_has_a_row_per_check_with_reasons_on_one_line() -> None:
    lines = render_text(OUTCOMES).splitlines()
    assert lines[0].split() == ["operation", "/", "client", "behaviour", "result", "reason"]
    assert lines[2].split() == ["PutObject", "stores", "the", "bytes", "pass"]
    assert lines[3].split()[-6:] == ["FAIL", "status:", "expected", "206,", "got", "200"]
    assert lines[4].endswith("skip    rclone is not installed")
    assert lines[-1] == "1 passed, 1 failed, 1 skipped"


def test_markdown_table_escapes_pipes_and_lists_clients() -> None:
    text = render_markdown(OUTCOMES, "`objectd serve`", {"rclone": "v1.60.1"})
    assert text.startswith("Results of `python -m conformance` against `objectd serve`: 1 passed, 1 failed, 1 skipped.")
    assert "| rclone | v1.60.1 |" in text
    assert "| PutObject | stores the bytes | pass |" in text
    assert "| GetObject | Range a\\|b | FAIL: status: expected 206, got 200 |" in text
    assert "| rclone | copy | skip: rclone is not installed |" in text
