"""How many of a stripe's fragments each failure domain takes.

A level of the placement tree (the sites of a cluster, the zones of a site,
the nodes of a zone) splits the fragments its parent received over its
members. The parent's count may vary from stripe to stripe (a site expected
to hold 2.4 fragments takes 2 or 3), so a level is given the parent's
*outcomes*, each count with its probability.

**Means.** Each member's long-run average count is the :func:`water_fill`
of the parent's mean count: in proportion to weight, no member above its cap
(the spread rule, or one per node), what a capped member cannot take going
to the others in proportion. Caps may depend on the parent's count; the mean
is filled under the probability-weighted caps.

**Per stripe.** Member ``i`` with mean ``e_i`` takes ``floor(e_i)`` or
``floor(e_i) + 1`` fragments, never further from its mean. The members that
take the extra one are the first finishers of an exponential race whose
rates are calibrated (:mod:`placement.race`) so that each member wins
exactly ``e_i - floor(e_i)`` of the time, whatever count the parent hands
down. One race serves every parent count, so the members chosen when the
parent holds ``q`` are among those chosen when it holds ``q + 1``: when a
map change tips a stripe's domain from ``q`` to ``q + 1`` fragments, one
fragment arrives and none of the others moves.

When the caps forbid that (a member at its cap when the parent holds ``q``
but not ``q + 1``), each parent count gets its own split instead: for two
counts, the pair of split vectors whose mean is still the water fill, the
difference going by weight within the bounds that keep both between 0 and
their caps; otherwise each count water-filled on its own. Spread always holds;
only the nesting (and in the last case the exact mean) is given up.

Pure computation, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from placement.race import calibrated_rates

# Values this close to a whole number are that number (float noise).
_SNAP = 1e-9

Outcomes = Sequence[tuple[int, float]]


def water_fill(total: float, weights: Sequence[float], caps: Sequence[float]) -> list[float]:
    """Split ``total`` over members in proportion to ``weights`` with no member
    above its cap. Raises ValueError when the caps cannot hold ``total``."""
    return bounded_fill(total, weights, [0.0] * len(weights), caps)


def bounded_fill(
    total: float, weights: Sequence[float], lower: Sequence[float], upper: Sequence[float]
) -> list[float]:
    """Split ``total`` as ``clamp(t * weight_i, lower_i, upper_i)`` with the
    one ``t`` that makes the parts sum to ``total``. Raises ValueError when
    the bounds cannot (a lower bound above its upper one, or sums out of
    reach)."""
    n = len(weights)
    if not len(lower) == len(upper) == n:
        raise ValueError("bounded_fill needs one bound of each kind per weight")
    if any(w <= 0 for w in weights):
        raise ValueError("weights must be positive")
    if any(lo > up + _SNAP for lo, up in zip(lower, upper)):
        raise ValueError("a lower bound lies above its upper bound")
    if total < math.fsum(lower) - _SNAP or total > math.fsum(upper) + _SNAP:
        raise ValueError(f"bounds {list(lower)} .. {list(upper)} cannot hold {total}")

    def parts(t: float) -> list[float]:
        return [min(max(t * w, lo), up) for w, lo, up in zip(weights, lower, upper)]

    # The sum is piecewise linear and non-decreasing in t, with breaks where a
    # member leaves its lower bound or reaches its upper one; at the first
    # break every member sits at its lower bound.
    breaks = sorted({b / w for b, w in zip(lower, weights)} | {b / w for b, w in zip(upper, weights)})
    previous, previous_sum = breaks[0], math.fsum(parts(breaks[0]))
    t = breaks[-1]
    for b in breaks:
        s = math.fsum(parts(b))
        if s >= total:
            t = b if s == previous_sum else previous + (total - previous_sum) * (b - previous) / (s - previous_sum)
            break
        previous, previous_sum = b, s
    out = parts(t)
    # Put any rounding residue on members strictly between their bounds.
    residue = total - math.fsum(out)
    free = [i for i in range(n) if lower[i] + _SNAP < out[i] < upper[i] - _SNAP]
    if free and residue:
        weight = math.fsum(weights[i] for i in free)
        for i in free:
            out[i] += residue * weights[i] / weight
    return out


@dataclass(frozen=True)
class Quota:
    """Whole fragments per member when the parent holds one given count.

    Every stripe gives member ``i`` ``base[i]`` fragments, and ``extra`` of
    the members with a positive ``rates[i]`` one more each: the first
    ``extra`` finishers of a race where member ``i`` finishes at
    ``-ln(u_i) / rates[i]``, ``u_i`` a uniform hash of stripe and member.
    """

    base: tuple[int, ...]
    extra: int
    rates: tuple[float, ...]

    @classmethod
    def of(cls, means: Sequence[float]) -> Quota:
        """The quota of a fixed total whose long-run averages are ``means``."""
        base, fractions = _split_whole(means)
        extra = round(math.fsum(means)) - sum(base)
        rates = [0.0] * len(base)
        if extra:
            racers = [i for i, f in enumerate(fractions) if f > 0]
            scale = extra / math.fsum(fractions[i] for i in racers)  # exact sum despite rounding
            for i, rate in zip(racers, calibrated_rates([fractions[i] * scale for i in racers], extra)):
                rates[i] = rate
        return cls(tuple(base), extra, tuple(rates))

    @property
    def racers(self) -> tuple[int, ...]:
        """The members that may take an extra fragment."""
        return tuple(i for i, rate in enumerate(self.rates) if rate > 0)


@dataclass(frozen=True)
class Apportionment:
    """One level's split: each member's mean count, the quota for each count
    the parent may hold, and each member's own counts with their
    probabilities (the outcomes the level below is given)."""

    expected: tuple[float, ...]
    quotas: dict[int, Quota]
    outcomes: tuple[tuple[tuple[int, float], ...], ...]
    nested: bool


def apportion(parent: Outcomes, weights: Sequence[float], caps: Callable[[int], Sequence[int]]) -> Apportionment:
    """Split a parent's fragments over members with these weights. ``parent``
    lists the counts the parent may hold with their probabilities; ``caps(q)``
    the most each member may take when the parent holds ``q``."""
    outcomes = sorted((q, p) for q, p in parent if p > 0)
    if not outcomes or abs(math.fsum(p for _, p in outcomes) - 1.0) > 1e-9:
        raise ValueError("parent outcomes must have probabilities summing to 1")
    mean_count = math.fsum(q * p for q, p in outcomes)
    cap_rows = [caps(q) for q, _ in outcomes]
    blended = [math.fsum(p * c for (_, p), c in zip(outcomes, column)) for column in zip(*cap_rows)]
    means = water_fill(mean_count, weights, blended)
    nested = _nested(outcomes, means, caps)
    if nested is not None:
        return nested
    if len(outcomes) == 2 and outcomes[1][0] == outcomes[0][0] + 1:
        vectors = _paired(outcomes[0][0], outcomes[1][1], means, weights, caps)
    else:
        vectors = None
    if vectors is None:
        vectors = {q: water_fill(q, weights, caps(q)) for q, _ in outcomes}
    quotas = {q: Quota.of(vectors[q]) for q, _ in outcomes}
    member_outcomes = []
    expected = []
    for i in range(len(weights)):
        merged: dict[int, float] = {}
        for q, p in outcomes:
            base, fraction = _split_whole([vectors[q][i]])
            merged[base[0]] = merged.get(base[0], 0.0) + p * (1.0 - fraction[0])
            if fraction[0]:
                merged[base[0] + 1] = merged.get(base[0] + 1, 0.0) + p * fraction[0]
        member_outcomes.append(tuple(sorted((c, p) for c, p in merged.items() if p > 0)))
        expected.append(math.fsum(c * p for c, p in merged.items()))
    return Apportionment(tuple(expected), quotas, tuple(member_outcomes), nested=False)


def _split_whole(values: Sequence[float]) -> tuple[list[int], list[float]]:
    """Whole parts and fractions, with near-whole values snapped."""
    base = []
    fractions = []
    for v in values:
        whole = round(v)
        if abs(v - whole) < _SNAP:
            base.append(int(whole))
            fractions.append(0.0)
        else:
            base.append(math.floor(v))
            fractions.append(v - math.floor(v))
    return base, fractions


def _nested(outcomes: Outcomes, means: Sequence[float], caps: Callable[[int], Sequence[int]]) -> Apportionment | None:
    """One race for every parent count (floors fixed, the number of extras
    varying with the count), or None when the caps or the means forbid it."""
    base, fractions = _split_whole(means)
    racers = [i for i, f in enumerate(fractions) if f > 0]
    extras: dict[int, float] = {}
    for q, p in outcomes:
        extra = q - sum(base)
        if not 0 <= extra <= len(racers):
            return None
        cap = caps(q)
        if any(b > c for b, c in zip(base, cap)):
            return None
        if extra and any(base[i] + 1 > cap[i] for i in racers):
            return None
        extras[extra] = extras.get(extra, 0.0) + p
    rates = [0.0] * len(base)
    if racers and any(extras):
        # A member of the race wins at least whenever everyone does, and at
        # most whenever anyone does.
        floor_ = extras.get(len(racers), 0.0)
        ceiling = 1.0 - extras.get(0, 0.0)
        if any(not floor_ - _SNAP <= fractions[i] <= ceiling + _SNAP for i in racers):
            return None
        mean = math.fsum(r * p for r, p in extras.items())
        scale = mean / math.fsum(fractions[i] for i in racers)
        try:
            found = calibrated_rates([fractions[i] * scale for i in racers], extras)
        except ValueError:
            return None
        for i, rate in zip(racers, found):
            rates[i] = rate
    quotas = {q: Quota(tuple(base), q - sum(base), tuple(rates)) for q, _ in outcomes}
    member_outcomes = tuple(
        ((b, 1.0 - f), (b + 1, f)) if f else ((b, 1.0),) for b, f in zip(base, fractions)
    )
    return Apportionment(tuple(b + f for b, f in zip(base, fractions)), quotas, member_outcomes, nested=True)


def _paired(
    lo: int, f: float, means: Sequence[float], weights: Sequence[float], caps: Callable[[int], Sequence[int]]
) -> dict[int, list[float]] | None:
    """Split vectors for parent counts ``lo`` and ``lo + 1`` (probability
    ``f``) whose mean is ``means``: ``means - f * d`` and
    ``means + (1 - f) * d``, with ``d`` summing to 1 and following weight
    within the bounds that keep both vectors between 0 and the caps (and, if
    possible, within one of the mean). None if no such ``d`` exists."""
    cap_lo, cap_hi = caps(lo), caps(lo + 1)
    hard_lower = [max((e - a) / f, -e / (1 - f)) for e, a in zip(means, cap_lo)]
    hard_upper = [min(e / f, (b - e) / (1 - f)) for e, b in zip(means, cap_hi)]
    tight_lower = []
    tight_upper = []
    for e, low, up in zip(means, hard_lower, hard_upper):
        below, above = e - math.floor(e), math.ceil(e) - e
        if abs(e - round(e)) < _SNAP:
            below = above = 0.0
        tight_lower.append(max(low, -above / f, -below / (1 - f)))
        tight_upper.append(min(up, below / f, above / (1 - f)))
    for lower, upper in ((tight_lower, tight_upper), (hard_lower, hard_upper)):
        if any(lw > u + _SNAP for lw, u in zip(lower, upper)):
            continue
        upper = [max(u, lw) for u, lw in zip(upper, lower)]
        if math.fsum(lower) > 1 + _SNAP or math.fsum(upper) < 1 - _SNAP:
            continue
        step = bounded_fill(1.0, weights, lower, upper)
        return {
            lo: [min(max(e - f * d, 0.0), a) for e, d, a in zip(means, step, cap_lo)],
            lo + 1: [min(max(e + (1 - f) * d, 0.0), b) for e, d, b in zip(means, step, cap_hi)],
        }
    return None
