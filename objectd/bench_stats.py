"""Latency statistics of a benchmark step: percentiles and their summary."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (0..1) of ``ordered`` (sorted ascending), by
    linear interpolation between the closest ranks (the "inclusive" method of
    :func:`statistics.quantiles`, numpy's default): 0 is the minimum, 1 the maximum."""
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction {fraction} outside 0..1")
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    weight = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * weight


@dataclass(frozen=True)
class LatencySummary:
    """Latencies of a step's operations, in seconds."""

    count: int
    mean: float
    p50: float
    p99: float
    max: float

    @classmethod
    def of(cls, latencies: Sequence[float]) -> LatencySummary:
        """The summary of ``latencies`` (any order); all zero when there are none."""
        if not latencies:
            return cls(0, 0.0, 0.0, 0.0, 0.0)
        ordered = sorted(latencies)
        return cls(
            count=len(ordered),
            mean=math.fsum(ordered) / len(ordered),
            p50=percentile(ordered, 0.50),
            p99=percentile(ordered, 0.99),
            max=ordered[-1],
        )
