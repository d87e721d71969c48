"""The compatibility table: outcomes as terminal text and as Markdown."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from conformance.runner import FAIL, PASS, SKIP, Outcome

_MARK = {PASS: "pass", FAIL: "FAIL", SKIP: "skip"}


def summary(outcomes: Sequence[Outcome]) -> str:
    """``N passed, N failed, N skipped`` (zero counts left out, except passed)."""
    counts = Counter(outcome.status for outcome in outcomes)
    parts = [f"{counts[PASS]} passed"]
    if counts[FAIL]:
        parts.append(f"{counts[FAIL]} failed")
    if counts[SKIP]:
        parts.append(f"{counts[SKIP]} skipped")
    return ", ".join(parts)


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def render_text(outcomes: Sequence[Outcome], detail_width: int = 160) -> str:
    """A fixed-width table for a terminal, one row per check, then the summary."""
    rows = [(o.check.group, o.check.name, _MARK[o.status], _one_line(o.detail, detail_width)) for o in outcomes]
    header = ("operation / client", "behaviour", "result", "reason")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    lines = []
    for row in [header, *rows]:
        cells = [row[i].ljust(widths[i]) for i in range(3)] + [row[3]]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(summary(outcomes))
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(outcomes: Sequence[Outcome], endpoint_label: str,
                    clients: Mapping[str, str] | None = None) -> str:
    """The table as Markdown: which endpoint, the client versions, one row per check."""
    lines = [f"Results of `python -m conformance` against {endpoint_label}: {summary(outcomes)}.", ""]
    if clients:
        lines += ["| client | version |", "| --- | --- |"]
        lines += [f"| {_cell(name)} | {_cell(version)} |" for name, version in clients.items()]
        lines.append("")
    lines += ["| S3 operation / client | behaviour | result |", "| --- | --- | --- |"]
    for outcome in outcomes:
        result = _MARK[outcome.status]
        if outcome.status != PASS and outcome.detail:
            result += f": {_one_line(outcome.detail, 160)}"
        lines.append(f"| {_cell(outcome.check.group)} | {_cell(outcome.check.name)} | {_cell(result)} |")
    return "\n".join(lines) + "\n"
