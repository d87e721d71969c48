"""Choosing r of n members with given inclusion probabilities: a calibrated race.

Weighted rendezvous hashing is an exponential race: member ``i`` draws
``E_i = -ln(u_i)`` from a uniform hash ``u_i`` of (stripe, member) and
finishes at ``E_i / rate_i``; the first ``r`` finishers win. With ``r = 1``
member ``i`` wins with probability ``rate_i / sum(rates)``, exactly
proportional. With ``r > 1`` it is not: the race samples without replacement,
so heavy members are under-chosen and light ones over-chosen (with rates
1, 2, 3, 4 and r = 2 the lightest wins 23 % of races, not 20 %; CRUSH has the
same "multi-pick" skew).

This module removes the skew by calibrating the rates. The probability that
member ``i`` is among the first ``r`` finishers is

    P_i = integral over t > 0 of  rate_i e^(-rate_i t) * P(fewer than r others finished by t) dt

where the others finish by ``t`` independently with probability
``1 - e^(-rate_j t)`` (a Poisson-binomial count). The number of winners may
itself vary, drawn independently of the race (a zone that holds 1 or 2
fragments): the probability is then the mixture over the counts, and one set
of rates serves them all, the winners for ``r`` always among those for
``r + 1``. :func:`race_inclusion`
evaluates it by the trapezoid rule in ``s = ln t``, where the integrand is
smooth and decays fast on both sides, so a step of 1/4 is accurate to about
1e-12. :func:`calibrated_rates` then solves ``P(rates) = targets`` by a
fixed-point iteration in log space (``ln rate += ln target - ln P``, which
converges because inclusion grows with rate more slowly than the rate),
accelerated by Anderson mixing: about ten evaluations, milliseconds for a
handful of members.

Only construction pays for this (results are cached); a draw is one hash,
one logarithm and one division per member. Pure computation, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import lru_cache

_STEP = 0.25
_TOLERANCE = 1e-9
_ACCEPTABLE = 1e-6  # a calibration that ends further off than this has failed
_MAX_ROUNDS = 200
_MEMORY = 5


Winners = int | Mapping[int, float]


def _winner_odds(winners: Winners, n: int) -> list[tuple[int, float]]:
    """The number of winners as (count, probability) pairs, counts clipped to 0..n."""
    pairs = [(winners, 1.0)] if isinstance(winners, int) else list(winners.items())
    merged: dict[int, float] = {}
    for r, p in pairs:
        if p < 0:
            raise ValueError("winner probabilities must not be negative")
        if p:
            c = min(max(r, 0), n)
            merged[c] = merged.get(c, 0.0) + p
    if abs(math.fsum(merged.values()) - 1.0) > 1e-9:
        raise ValueError("winner probabilities must sum to 1")
    return sorted(merged.items())


def race_inclusion(rates: Sequence[float], winners: Winners) -> list[float]:
    """The probability that each member is among the winners of an
    exponential race with these ``rates`` (all positive). ``winners`` is how
    many finishers win: a count, or counts with their probabilities (drawn
    independently of the race, as when a domain takes 2 or 3 fragments)."""
    n = len(rates)
    odds = _winner_odds(winners, n)
    certain = math.fsum(p for r, p in odds if r >= n)
    racing = [(r, p) for r, p in odds if 0 < r < n]
    if not racing:
        return [certain] * n
    width = max(r for r, _ in racing)
    top = max(rates)
    lam = [x / top for x in rates]
    s = math.log(1e-13)  # below this every member is still running (error < 1e-13)
    s_end = math.log(45.0 / min(lam))  # past this even the slowest has finished (e^-45)
    out = [0.0] * n
    start = [1.0] + [0.0] * (width - 1)
    while s < s_end:
        t = math.exp(s)
        running = [math.exp(-x * t) for x in lam]
        # prefix[j]: distribution (truncated to 0..width-1) of how many of
        # members 0..j-1 have finished by t.
        prefix = []
        dist = start
        for j in range(n):
            prefix.append(dist)
            q = running[j]
            p = 1.0 - q
            dist = [dist[0] * q] + [dist[c] * q + dist[c - 1] * p for c in range(1, width)]
        # Walk back with the suffix distribution; combine with the prefix to
        # leave member j out.
        dist = start
        for j in range(n - 1, -1, -1):
            cumulative = []
            acc = 0.0
            for c in range(width):
                acc += dist[c]
                cumulative.append(acc)
            before = prefix[j]
            win = 0.0
            for r, pr in racing:
                fewer = 0.0
                for c in range(r):
                    fewer += before[c] * cumulative[r - 1 - c]
                win += pr * fewer
            q = running[j]
            out[j] += lam[j] * t * q * win
            p = 1.0 - q
            dist = [dist[0] * q] + [dist[c] * q + dist[c - 1] * p for c in range(1, width)]
        s += _STEP
    return [certain + x * _STEP for x in out]


def calibrated_rates(targets: Sequence[float], winners: Winners) -> tuple[float, ...]:
    """Race rates under which member ``i`` is among the winners with
    probability ``targets[i]``.

    Each target must lie strictly between 0 and 1 and they must sum to the
    expected number of winners (a member certain to be chosen, or never,
    takes no part in a race). The rates are scaled so that the largest is 1.
    Results are cached.
    """
    n = len(targets)
    odds = tuple(_winner_odds(winners, n))
    if any(not 0.0 < t < 1.0 for t in targets):
        raise ValueError("race targets must lie strictly between 0 and 1")
    mean = math.fsum(r * p for r, p in odds)
    if abs(math.fsum(targets) - mean) > 1e-9 * n:
        raise ValueError(f"race targets sum to {math.fsum(targets)}, not the {mean} expected winners")
    rates, error = _calibrate(tuple(float(t) for t in targets), odds)
    if error > _ACCEPTABLE:
        raise ValueError(f"race targets {list(targets)} are out of reach for winners {dict(odds)}")
    return rates


@lru_cache(maxsize=1024)
def _calibrate(targets: tuple[float, ...], odds: tuple[tuple[int, float], ...]) -> tuple[tuple[float, ...], float]:
    top = max(targets)
    if all(r <= 1 for r, _ in odds) or min(targets) == top:
        # At most one winner: rates proportional to targets are exact. Equal
        # targets: equal rates.
        return tuple(t / top for t in targets), 0.0
    winners = dict(odds)
    log_targets = [math.log(t) for t in targets]
    x = list(log_targets)
    best_x, best_error = x, math.inf
    maps: list[list[float]] = []  # x + residual, for each kept round
    residuals: list[list[float]] = []
    for _ in range(_MAX_ROUNDS):
        got = race_inclusion([math.exp(v) for v in x], winners)
        error = max(abs(g - t) for g, t in zip(got, targets))
        if error < best_error:
            best_x, best_error = x, error
        if error < _TOLERANCE:
            break
        if error > 2 * best_error:
            # Mixing overshot: forget the history and restart from the best point.
            maps.clear()
            residuals.clear()
            x = best_x
            got = race_inclusion([math.exp(v) for v in x], winners)
        residual = [lt - math.log(max(g, 1e-300)) for lt, g in zip(log_targets, got)]
        maps.append([a + b for a, b in zip(x, residual)])
        residuals.append(residual)
        if len(maps) > _MEMORY + 1:
            maps.pop(0)
            residuals.pop(0)
        x = _anderson_step(maps, residuals)
        shift = max(x)
        x = [max(v - shift, -700.0) for v in x]
    return tuple(math.exp(v) for v in best_x), best_error


def _anderson_step(maps: list[list[float]], residuals: list[list[float]]) -> list[float]:
    """The next point: the latest fixed-point map, minus the combination of
    recent steps that best cancels the latest residual (least squares)."""
    latest = maps[-1]
    m = len(maps) - 1
    if m == 0:
        return list(latest)
    d_res = [[b - a for a, b in zip(residuals[j], residuals[j + 1])] for j in range(m)]
    d_map = [[b - a for a, b in zip(maps[j], maps[j + 1])] for j in range(m)]
    gram = [[sum(a * b for a, b in zip(d_res[p], d_res[q])) for q in range(m)] for p in range(m)]
    for p in range(m):
        gram[p][p] += 1e-12 * gram[p][p] + 1e-300
    rhs = [sum(a * b for a, b in zip(d_res[p], residuals[-1])) for p in range(m)]
    gamma = _solve(gram, rhs)
    if gamma is None:
        return list(latest)
    return [latest[i] - sum(gamma[j] * d_map[j][i] for j in range(m)) for i in range(len(latest))]


def _solve(matrix: list[list[float]], rhs: list[float]) -> list[float] | None:
    """Gaussian elimination with partial pivoting; None when singular."""
    n = len(rhs)
    rows = [row[:] + [b] for row, b in zip(matrix, rhs)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda i: abs(rows[i][col]))
        if abs(rows[pivot][col]) < 1e-300:
            return None
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for i in range(col + 1, n):
            f = rows[i][col] / rows[col][col]
            for c in range(col, n + 1):
                rows[i][c] -= f * rows[col][c]
    out = [0.0] * n
    for i in range(n - 1, -1, -1):
        out[i] = (rows[i][n] - sum(rows[i][c] * out[c] for c in range(i + 1, n))) / rows[i][i]
    if any(not math.isfinite(v) for v in out):
        return None
    return out
