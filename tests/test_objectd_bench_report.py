"""The benchmark's figures, tables and JSON."""

from __future__ import annotations

import json

import pytest

from objectd.bench_phases import Step
from objectd.bench_report import GIB, MIB, build_figures, render_markdown, render_table, to_json
from objectd.bench_stats import LatencySummary


def _step(target: str, phase: str, name: str, ops: int, size: int, seconds: float, cpu: float | None,
          latencies: list[float], setup: bool = False, keys: int = 0) -> Step:
    return Step(target, phase, name, ops, ops * size, seconds, LatencySummary.of(latencies), cpu, 0.1, 4,
                setup, keys)


def _run(target: str, scale: float, cpu: float | None) -> list[Step]:
    return [
        _step(target, "large", "PUT", 8, 64 * MIB, 4.0 * scale, cpu, [1.0 * scale, 2.0 * scale]),
        _step(target, "small", "GET", 2000, 4096, 2.0 * scale, cpu, [0.001 * scale, 0.002 * scale, 0.01 * scale]),
        _step(target, "list", "0-byte PUT", 100, 0, 1.0, cpu, [0.01], setup=True),
        _step(target, "list", "listing", 3, 0, 0.9 * scale, cpu, [0.3 * scale, 0.2 * scale, 0.4 * scale], keys=100),
        _step(target, "list", "page", 30, 0, 0.9 * scale, cpu, [0.03 * scale] * 29 + [0.3 * scale], keys=100),
    ]


def test_figures_of_the_endpoint_beside_the_bare_server() -> None:
    endpoint, bare = _run("endpoint", 2.0, 3.0), _run("bare", 1.0, 0.5)
    figures = {(f.phase, f.metric): f for f in build_figures(endpoint, bare)}
    assert list(figures) == [
        ("large", "PUT MiB/s"),
        ("small", "GET ops/s"), ("small", "GET p50 ms"), ("small", "GET p99 ms"),
        ("list", "list 100 keys s (median)"), ("list", "page p50 ms"), ("list", "page p99 ms"),
    ]
    large = figures["large", "PUT MiB/s"]
    assert large.endpoint == pytest.approx(endpoint[0].bytes / endpoint[0].seconds / MIB)
    assert large.bare == pytest.approx(bare[0].bytes / bare[0].seconds / MIB)
    assert large.ratio == pytest.approx(large.endpoint / large.bare)
    assert large.endpoint_cpu is not None and large.endpoint_cpu.unit == "s/GiB"
    assert large.endpoint_cpu.value == pytest.approx(3.0 / (endpoint[0].bytes / GIB))
    ops = figures["small", "GET ops/s"]
    assert ops.endpoint == pytest.approx(2000 / endpoint[1].seconds)
    assert ops.endpoint_cpu is not None and ops.endpoint_cpu.value == pytest.approx(3.0 / 2000 * 1000)
    assert ops.bare_cpu is not None and ops.bare_cpu.value == pytest.approx(0.5 / 2000 * 1000)
    assert figures["small", "GET p50 ms"].endpoint == pytest.approx(endpoint[1].latency.p50 * 1000)
    assert figures["small", "GET p99 ms"].endpoint_cpu is None
    assert figures["list", "list 100 keys s (median)"].endpoint == pytest.approx(endpoint[3].latency.p50)
    page = figures["list", "page p50 ms"]
    assert page.endpoint_cpu is not None and page.endpoint_cpu.unit == "ms/page"
    assert page.endpoint_cpu.value == pytest.approx(3.0 / 30 * 1000)


def test_without_bare_or_cpu() -> None:
    figures = build_figures(_run("endpoint", 1.0, None))
    assert all(f.bare is None and f.ratio is None and f.endpoint_cpu is None for f in figures)
    header = render_table(figures).splitlines()[0].split()
    assert header == ["phase", "metric", "endpoint"]
    assert render_markdown(figures).splitlines()[1] == "| --- | --- | ---: |"


def test_table_and_markdown_hold_every_figure() -> None:
    figures = build_figures(_run("endpoint", 2.0, 3.0), _run("bare", 1.0, 0.5))
    table = render_table(figures).splitlines()
    assert table[0].split() == ["phase", "metric", "endpoint", "bare", "endpoint/bare", "server", "CPU",
                                "bare", "CPU"]
    assert len(table) == 2 + len(figures)
    assert len({len(line) for line in table[:2]}) == 1  # the rule spans the header
    markdown = render_markdown(figures).splitlines()
    assert len(markdown) == 2 + len(figures)
    assert all(line.startswith("| ") and line.endswith(" |") and line.count("|") == 8 for line in markdown)
    ratio = figures[0].ratio
    assert ratio is not None and f"{ratio:.2f}x" in markdown[2]


def test_json_holds_meta_figures_and_every_step() -> None:
    endpoint, bare = _run("endpoint", 2.0, 3.0), _run("bare", 1.0, None)
    figures = build_figures(endpoint, bare)
    document = json.loads(to_json({"endpoint": "http://x"}, figures, [*endpoint, *bare]))
    assert document["endpoint"] == "http://x"
    assert len(document["figures"]) == len(figures)
    assert document["figures"][0]["ratio"] == pytest.approx(figures[0].ratio)
    assert document["figures"][0]["bare_cpu"] is None
    assert len(document["steps"]) == len(endpoint) + len(bare)
    assert document["steps"][2]["setup"] is True
    assert document["steps"][1]["latency"]["p99"] == pytest.approx(endpoint[1].latency.p99)
