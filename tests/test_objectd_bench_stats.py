"""Percentile math of the benchmark."""

from __future__ import annotations

import random
import statistics

import pytest

from objectd.bench_stats import LatencySummary, percentile


@pytest.mark.parametrize("size", [2, 3, 10, 101, 1000, 1537])
def test_percentiles_match_statistics_inclusive_quantiles(size: int) -> None:
    rng = random.Random(size)
    values = sorted(rng.expovariate(1 / 0.004) for _ in range(size))
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    assert percentile(values, 0.50) == pytest.approx(cuts[49], rel=1e-12)
    assert percentile(values, 0.99) == pytest.approx(cuts[98], rel=1e-12)
    assert percentile(values, 0.50) == pytest.approx(statistics.median(values), rel=1e-12)


def test_percentile_ends_and_single_value() -> None:
    values = [3.0, 1.0, 2.0, 10.0]
    ordered = sorted(values)
    assert percentile(ordered, 0.0) == min(values)
    assert percentile(ordered, 1.0) == max(values)
    assert percentile([7.5], 0.99) == 7.5
    with pytest.raises(ValueError):
        percentile([], 0.5)
    with pytest.raises(ValueError):
        percentile(ordered, 1.5)


def test_interpolates_between_ranks() -> None:
    # Position 0.99 * (5 - 1) = 3.96 lies between the 4th and 5th values.
    ordered = [0.0, 1.0, 2.0, 3.0, 103.0]
    assert percentile(ordered, 0.99) == pytest.approx(3.0 + 0.96 * (103.0 - 3.0))


def test_summary_of_unordered_latencies() -> None:
    rng = random.Random(7)
    latencies = [rng.uniform(0.001, 0.1) for _ in range(500)]
    summary = LatencySummary.of(latencies)
    assert summary.count == 500
    assert summary.max == max(latencies)
    assert summary.mean == pytest.approx(statistics.fmean(latencies))
    assert summary.p50 == pytest.approx(statistics.median(latencies))
    assert summary.p50 <= summary.p99 <= summary.max
    assert LatencySummary.of([]) == LatencySummary(0, 0.0, 0.0, 0.0, 0.0)
