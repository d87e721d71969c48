"""The benchmark's results: figures from measured steps, as a text table,
a Markdown table and JSON (pure functions: steps in, text out).

Each figure of the endpoint stands beside the bare aiohttp server's, with
their ratio (endpoint ÷ bare: below 1 for throughput and above 1 for latency
means the endpoint is that far from the ceiling), and the server's CPU time
per unit of work where its process was named.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from objectd.bench_phases import Step

MIB = 1 << 20
GIB = 1 << 30


@dataclass(frozen=True)
class CpuCost:
    """Server CPU time per unit of work."""

    value: float
    unit: str  # "ms/op", "ms/page" or "s/GiB"


@dataclass(frozen=True)
class Figure:
    """One line of the results: a metric of a phase, for the endpoint and the bare server."""

    phase: str
    metric: str
    unit: str
    endpoint: float | None
    bare: float | None = None
    endpoint_cpu: CpuCost | None = None
    bare_cpu: CpuCost | None = None

    @property
    def ratio(self) -> float | None:
        """Endpoint ÷ bare, when both were measured."""
        if self.endpoint is None or not self.bare:
            return None
        return self.endpoint / self.bare


@dataclass(frozen=True)
class _Value:
    phase: str
    metric: str
    unit: str
    value: float
    cpu: CpuCost | None


def _values(step: Step) -> list[_Value]:
    """The figures one step yields."""
    cpu = step.server_cpu
    if step.phase == "large":
        cost = CpuCost(cpu / (step.bytes / GIB), "s/GiB") if cpu is not None and step.bytes else None
        return [_Value(step.phase, f"{step.name} MiB/s", "MiB/s", step.bytes_per_second / MIB, cost)]
    if step.name == "listing":
        return [_Value(step.phase, f"list {step.keys:,} keys s (median)", "s", step.latency.p50, None)]
    if step.name == "page":
        cost = CpuCost(cpu / step.ops * 1000, "ms/page") if cpu is not None and step.ops else None
        return [
            _Value(step.phase, "page p50 ms", "ms", step.latency.p50 * 1000, cost),
            _Value(step.phase, "page p99 ms", "ms", step.latency.p99 * 1000, None),
        ]
    cost = CpuCost(cpu / step.ops * 1000, "ms/op") if cpu is not None and step.ops else None
    return [
        _Value(step.phase, f"{step.name} ops/s", "ops/s", step.ops_per_second, cost),
        _Value(step.phase, f"{step.name} p50 ms", "ms", step.latency.p50 * 1000, None),
        _Value(step.phase, f"{step.name} p99 ms", "ms", step.latency.p99 * 1000, None),
    ]


def build_figures(endpoint: Sequence[Step], bare: Sequence[Step] = ()) -> list[Figure]:
    """The figures of the endpoint's measured steps (setup steps left out),
    each beside the bare server's same figure if it was measured."""
    bare_values = {(v.phase, v.metric): v for s in bare if not s.setup for v in _values(s)}
    figures = []
    for step in endpoint:
        if step.setup:
            continue
        for value in _values(step):
            twin = bare_values.get((value.phase, value.metric))
            figures.append(Figure(
                value.phase, value.metric, value.unit, value.value,
                twin.value if twin else None, value.cpu, twin.cpu if twin else None,
            ))
    return figures


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _cost(cost: CpuCost | None) -> str:
    return "-" if cost is None else f"{_number(cost.value)} {cost.unit}"


def _rows(figures: Sequence[Figure]) -> tuple[list[str], list[list[str]], list[bool]]:
    """Header, cells and which columns are numeric, leaving out empty columns."""
    with_bare = any(f.bare is not None for f in figures)
    with_cpu = any(f.endpoint_cpu is not None for f in figures)
    with_bare_cpu = any(f.bare_cpu is not None for f in figures)
    header = ["phase", "metric", "endpoint"]
    numeric = [False, False, True]
    if with_bare:
        header += ["bare", "endpoint/bare"]
        numeric += [True, True]
    if with_cpu:
        header.append("server CPU")
        numeric.append(True)
    if with_bare_cpu:
        header.append("bare CPU")
        numeric.append(True)
    rows = []
    for f in figures:
        row = [f.phase, f.metric, _number(f.endpoint)]
        if with_bare:
            row += [_number(f.bare), "-" if f.ratio is None else f"{f.ratio:.2f}x"]
        if with_cpu:
            row.append(_cost(f.endpoint_cpu))
        if with_bare_cpu:
            row.append(_cost(f.bare_cpu))
        rows.append(row)
    return header, rows, numeric


def render_table(figures: Sequence[Figure]) -> str:
    """The figures as an aligned plain-text table."""
    header, rows, numeric = _rows(figures)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if n else c.ljust(w) for c, w, n in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]) + "\n"


def render_markdown(figures: Sequence[Figure]) -> str:
    """The figures as a Markdown table (numbers right-aligned)."""
    header, rows, numeric = _rows(figures)
    rule = ["---:" if n else "---" for n in numeric]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in [header, rule, *rows]) + "\n"


def to_json(meta: dict[str, Any], figures: Sequence[Figure], steps: Sequence[Step]) -> str:
    """Everything measured as JSON: ``meta`` (run parameters), the figures
    (with their ratio) and every step, setup steps included."""
    document = {
        **meta,
        "figures": [{**dataclasses.asdict(f), "ratio": f.ratio} for f in figures],
        "steps": [dataclasses.asdict(s) for s in steps],
    }
    return json.dumps(document, indent=2) + "\n"
