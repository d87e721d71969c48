"""Calibrated exponential races: inclusion odds and the rates that hit targets."""

from __future__ import annotations

import math

import pytest
import xxhash

from placement.race import calibrated_rates, race_inclusion


def _uniform(i: int, member: int) -> float:
    return ((xxhash.xxh3_64_intdigest(i.to_bytes(8, "big"), seed=member) >> 11) + 0.5) / (1 << 53)


def _simulate(rates: list[float], winners: int, races: int) -> list[float]:
    """How often each member is among the first ``winners`` finishers, over
    fixed hash-driven races."""
    wins = [0] * len(rates)
    for i in range(races):
        order = sorted(range(len(rates)), key=lambda j: -math.log(_uniform(i, j)) / rates[j])
        for j in order[:winners]:
            wins[j] += 1
    return [w / races for w in wins]


def test_inclusion_sums_to_the_winners() -> None:
    rates = [0.3, 1.0, 0.7, 0.1, 0.5]
    for r in range(len(rates) + 1):
        assert math.fsum(race_inclusion(rates, r)) == pytest.approx(r, abs=1e-9)
    mixed = race_inclusion(rates, {1: 0.25, 3: 0.75})
    assert math.fsum(mixed) == pytest.approx(2.5, abs=1e-9)


def test_one_winner_is_proportional_and_equal_rates_are_even() -> None:
    rates = [1.0, 2.0, 3.0, 4.0]
    assert race_inclusion(rates, 1) == pytest.approx([0.1, 0.2, 0.3, 0.4], abs=1e-9)
    assert race_inclusion([2.0] * 5, 2) == pytest.approx([0.4] * 5, abs=1e-9)
    assert race_inclusion(rates, 0) == [0.0] * 4
    assert race_inclusion(rates, 4) == [1.0] * 4


def test_plain_race_skews_towards_light_members() -> None:
    # The reason for calibration: rates in proportion to the targets miss them.
    targets = [0.2, 0.4, 0.6, 0.8]
    got = race_inclusion(targets, 2)
    assert got[0] > 0.22 and got[3] < 0.75


@pytest.mark.parametrize(
    ("targets", "winners"),
    [
        ([0.2, 0.4, 0.6, 0.8], 2),
        ([1 / 7, 2 / 7, 3 / 7, 4 / 7, 5 / 7, 6 / 7], 3),
        ([0.05, 0.3, 0.3, 0.35], 1),
        ([0.9, 0.9, 0.2], 2),
        ([0.3, 0.5, 0.7, 0.9], {2: 0.6, 3: 0.4}),
    ],
)
def test_calibrated_rates_hit_the_targets(targets: list[float], winners: int | dict[int, float]) -> None:
    rates = calibrated_rates(targets, winners)
    assert max(rates) == pytest.approx(1.0)
    assert race_inclusion(rates, winners) == pytest.approx(targets, abs=1e-7)


def test_calibrated_race_wins_its_targets_in_practice() -> None:
    targets = [0.2, 0.4, 0.6, 0.8]
    races = 20_000
    calibrated = _simulate(list(calibrated_rates(targets, 2)), 2, races)
    naive = _simulate(targets, 2, races)
    # Four standard deviations of a binomial at 20,000 races is under 0.012.
    assert calibrated == pytest.approx(targets, abs=0.012)
    assert abs(naive[0] - targets[0]) > 0.025


def test_shortcuts_need_no_iteration() -> None:
    assert calibrated_rates([0.1, 0.3, 0.6], 1) == pytest.approx((1 / 6, 0.5, 1.0))
    assert calibrated_rates([0.5, 0.5, 0.5, 0.5], 2) == (1.0, 1.0, 1.0, 1.0)
    assert calibrated_rates([0.2, 0.3], {0: 0.5, 1: 0.5}) == pytest.approx((2 / 3, 1.0))


def test_bad_targets_are_refused() -> None:
    with pytest.raises(ValueError):
        calibrated_rates([0.5, 1.0, 0.5], 2)  # a certain member does not race
    with pytest.raises(ValueError):
        calibrated_rates([0.5, 0.5, 0.5], 2)  # sums to 1.5, not 2
    with pytest.raises(ValueError):
        calibrated_rates([0.5, 0.5], {1: 0.5, 2: 0.6})  # probabilities sum past 1
    with pytest.raises(ValueError):
        calibrated_rates([0.5, 0.5], {1: -0.5, 2: 1.5})
