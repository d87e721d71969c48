"""The benchmark's single-core MD5 rate."""

from __future__ import annotations

import pytest

from objectd.bench_md5_rate import md5_rate


def test_keeps_the_best_round() -> None:
    # Rounds last 4, 2 and 3 ticks of a fake clock: the best is 2.
    readings = iter([0.0, 4.0, 10.0, 12.0, 20.0, 23.0])
    assert md5_rate(1000, rounds=3, clock=lambda: next(readings)) == pytest.approx(1000 / 2.0)


def test_coarse_clock_gives_no_rate() -> None:
    assert md5_rate(1000, rounds=2, clock=lambda: 5.0) == 0.0


def test_real_clock_and_bad_arguments() -> None:
    assert md5_rate(1 << 20, rounds=1) > 0
    with pytest.raises(ValueError):
        md5_rate(0)
    with pytest.raises(ValueError):
        md5_rate(10, rounds=0)
