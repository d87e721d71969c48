"""Quotas: water filling, whole fragments per stripe, splits across parent counts."""

from __future__ import annotations

import math

import pytest

from placement.quota import Quota, apportion, bounded_fill, water_fill
from placement.race import race_inclusion


def test_water_fill_is_proportional_until_a_cap_binds() -> None:
    assert water_fill(6, [1, 1, 1], [2, 2, 2]) == pytest.approx([2, 2, 2])
    assert water_fill(3, [1, 2, 3], [3, 3, 3]) == pytest.approx([0.5, 1.0, 1.5])
    # The heavy member is capped; the rest share what it cannot take.
    assert water_fill(6, [10, 1, 1, 1], [2, 2, 2, 2]) == pytest.approx([2, 4 / 3, 4 / 3, 4 / 3])
    assert water_fill(2, [4, 1, 1], [1, 1, 1]) == pytest.approx([1.0, 0.5, 0.5])
    with pytest.raises(ValueError):
        water_fill(7, [1, 1, 1], [2, 2, 2])


def test_bounded_fill_respects_both_bounds() -> None:
    out = bounded_fill(1.0, [1, 1, 1], [0.5, 0, 0], [1, 1, 0.1])
    # t = 0.4: the first member held up at 0.5, the last held down at 0.1.
    assert out == pytest.approx([0.5, 0.4, 0.1])
    with pytest.raises(ValueError):
        bounded_fill(1.0, [1, 1], [0.6, 0.6], [1, 1])
    with pytest.raises(ValueError):
        bounded_fill(1.0, [1, 1], [0.5, 0], [0.4, 1])


def test_quota_floors_and_races_the_fractions() -> None:
    quota = Quota.of([1.0, 0.75, 0.25, 0.0])
    assert quota.base == (1, 0, 0, 0)
    assert quota.extra == 1
    assert quota.racers == (1, 2)
    # One winner: rates in proportion to the fractions.
    assert quota.rates[1] / quota.rates[2] == pytest.approx(3.0)
    whole = Quota.of([2.0000000000001, 0.9999999999999, 1.0])
    assert whole.base == (2, 1, 1) and whole.extra == 0 and whole.racers == ()


def test_one_parent_count_gives_the_water_fill() -> None:
    split = apportion([(6, 1.0)], [3, 2, 1], lambda q: [2, 2, 2])
    assert split.expected == pytest.approx((2.0, 2.0, 2.0))
    assert split.quotas[6].extra == 0
    split = apportion([(2, 1.0)], [4, 3, 2, 1], lambda q: [1, 1, 1, 1])
    assert split.expected == pytest.approx((0.8, 0.6, 0.4, 0.2))
    quota = split.quotas[2]
    racers = quota.racers
    assert race_inclusion([quota.rates[i] for i in racers], 2) == pytest.approx([0.8, 0.6, 0.4, 0.2], abs=1e-7)


def test_two_parent_counts_share_one_nested_race() -> None:
    # A zone holding 1 or 2 fragments (equally likely) over nodes 2:1:1.
    split = apportion([(1, 0.5), (2, 0.5)], [2, 1, 1], lambda q: [1, 1, 1])
    assert split.nested
    assert split.expected == pytest.approx((0.75, 0.375, 0.375))
    one, two = split.quotas[1], split.quotas[2]
    assert one.base == two.base and one.rates == two.rates
    assert (one.extra, two.extra) == (1, 2)
    rates = [one.rates[i] for i in one.racers]
    got = race_inclusion(rates, {1: 0.5, 2: 0.5})
    assert got == pytest.approx([0.75, 0.375, 0.375], abs=1e-7)
    for member, outcomes in enumerate(split.outcomes):
        assert math.fsum(p for _, p in outcomes) == pytest.approx(1.0)
        assert math.fsum(c * p for c, p in outcomes) == pytest.approx(split.expected[member])


def test_forced_members_stay_out_of_the_race() -> None:
    # Two nodes holding 1 or 2 fragments: the heavy one is always chosen.
    split = apportion([(1, 0.8), (2, 0.2)], [10, 1], lambda q: [1, 1])
    assert split.expected == pytest.approx((1.0, 0.2))
    assert split.quotas[1].base == (1, 0) and split.quotas[1].extra == 0
    assert split.quotas[2].extra == 1 and split.quotas[2].racers == (1,)


def test_caps_that_change_with_the_count_split_each_count() -> None:
    # Three zones with 3 or 4 fragments: one each at 3, at most two at 4.
    def caps(q: int) -> list[int]:
        return [1, 1, 1] if q == 3 else [2, 2, 2]

    split = apportion([(3, 0.5), (4, 0.5)], [3, 2, 1], caps)
    assert not split.nested
    assert split.quotas[3].base == (1, 1, 1) and split.quotas[3].extra == 0
    # The mean is still the water fill of 3.5 under the blended caps of 1.5,
    # [1.5, 4/3, 2/3]: so at 4 the heavy zone takes 2, the middle one 1 or 2,
    # the light one 0 or 1.
    assert split.expected == pytest.approx(tuple(water_fill(3.5, [3, 2, 1], [1.5, 1.5, 1.5])))
    four = split.quotas[4]
    assert four.base == (2, 1, 0) and four.extra == 1 and four.racers == (1, 2)
    assert math.fsum(split.expected) == pytest.approx(3.5)


def test_outcomes_must_be_a_distribution() -> None:
    with pytest.raises(ValueError):
        apportion([(1, 0.5)], [1, 1], lambda q: [1, 1])
