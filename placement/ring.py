"""Hierarchical weighted rendezvous placement: which nodes hold a stripe.

The ring places the ``count`` (k + m) fragments of a stripe on distinct
nodes from nothing but the node list and the stripe id: no partition table,
no state, no I/O. Nodes sit in a tree of failure domains, site > zone > node,
and each has a weight (its capacity).

**Shares, top down.** Sites share ``count``, each site's zones share what the
site holds, each zone's nodes share what the zone holds
(:mod:`placement.quota`). At every level the split follows weight (water
filling) under a cap per member:

* a site or zone holds at most ``max(ceil(q / domains), count - k)`` of the
  ``q`` fragments its parent holds (``count - k`` only when the caller passes
  ``k``): with three or more sites, losing any one still leaves ``k``
  whenever ``k + m`` allows it, and two sites split 4 + 2 as 3 + 3. A domain
  never holds more than it has nodes; when the caps cannot hold ``q`` they
  are relaxed one step at a time;
* a node holds at most one fragment of a stripe.

A member's mean count is its *weighted share* (:meth:`Ring.shares`); with no
cap binding a node's share is ``count * weight / total weight``. Each stripe
rounds every mean to ``floor`` or ``floor + 1``, so no stripe strays more
than one fragment from any domain's share.

**Races.** Who takes the ``floor + 1`` is an exponential race: member ``i``
finishes at ``E_i / rate_i`` and the first finishers win. A node's ``E_i`` is
``-ln u_i`` for a uniform xxh3 hash ``u_i`` of (stripe id, node id): with one
winner this is classic weighted rendezvous hashing (score
``-weight / ln u``). With several winners a plain race favours light nodes,
so the rates are calibrated once per plan to make every member win exactly
its share (:mod:`placement.race`). A zone races with its *clock*, the first
finishing time of its own node race rescaled to a standard exponential, and a
site with the clock of its zone race. The first finishing time of an
exponential race is independent of the order of finishers, so every level's
odds stay exact, while a domain wins an extra fragment precisely when one of
its nodes is fast: a node that joins a domain mostly brings in the fragments
its domain gains.

**Properties.**

* Deterministic: the same nodes (in any order), stripe id and ``count`` give
  the same placement in every process (xxh3 hashes, IEEE double arithmetic).
* Weighted: each node holds its weighted share in the long run.
* Minimal movement: a node's race position depends only on the stripe and
  the node, so adding a node moves the fragments it wins, and removing one
  moves the fragments it held. Extra movement comes only from recalibrated
  rates when weights differ and from shares of domains that shift (a new
  node raises its site's mean): a fragment that changes site lands on any of
  the site's nodes, mostly but not only on the new one.
* Availability: nodes that are down, draining or excluded are *substituted*
  after placement, not removed from the map: the fragment goes to the next
  candidate in the stripe's fallback order (the same zone first, then the
  least-loaded zone of the same site, then the least-loaded site; within a
  domain, weighted rendezvous order). Every other fragment of the stripe, and
  every stripe that does not use the node, keeps its node. The caller records
  where fragments really went: metadata is the authority, the ring proposes.
* Fragment order: :meth:`Ring.pick` returns nodes indexed by fragment, sorted
  by a second, independent half of each node's hash, so data fragments
  (indexes below k, the ones reads prefer) spread in proportion too.

**Reads.** :meth:`Ring.read_order` ranks a stripe's locations: the reader's
own site first, then lowest measured round trip, then data fragments before
parity (a systematic code reads data without decoding).

**Cost.** Calibration runs once per (ring, count, k), in milliseconds, and
is cached. A pick hashes every node once, takes one logarithm per racing
node and sorts a few short lists: about 10 to 15 microseconds for a dozen
nodes in three sites.

Why not a partition ring (Swift) or CRUSH: a partition table has to be
built, stored, versioned and rebalanced, and moves whole partitions; CRUSH
needs bucket trees and retry rules and has the same multi-pick skew, fixed
there by separately tuned weight sets. Rendezvous hashing needs none of that,
and at tens of nodes hashing every node per stripe is cheap.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

import xxhash

from placement.quota import Apportionment, apportion

_MASK64 = (1 << 64) - 1
_UNIT = 1.0 / (1 << 53)


@dataclass(frozen=True)
class RingNode:
    """A placement target (a storage node, or a drive of the embedded server)
    with a relative weight and its failure domains."""

    node_id: str
    weight: float = 1.0
    site: str = ""
    zone: str = ""


class NotEnoughNodes(Exception):
    """Fewer usable nodes than a stripe needs."""


def _seed(kind: bytes, *names: str) -> int:
    return xxhash.xxh3_64_intdigest(b"\0".join([kind, *(n.encode() for n in names)]))


def _clock(stripe_id: bytes, seed: int) -> float:
    """A standard exponential variate from a 64-bit hash of the stripe."""
    return -math.log(((xxhash.xxh3_64_intdigest(stripe_id, seed=seed) >> 11) + 0.5) * _UNIT)


class _Zone:
    __slots__ = ("name", "weight", "members", "seeds", "draw_seeds", "clock_seed")

    def __init__(self, site: str, name: str, members: list[int], nodes: Sequence[RingNode]) -> None:
        self.name = name
        self.weight = math.fsum(nodes[i].weight for i in members)
        self.members = tuple(members)
        self.seeds = tuple(_seed(b"node", nodes[i].node_id) for i in members)
        self.draw_seeds = tuple(_seed(b"node-draw", nodes[i].node_id) for i in members)
        self.clock_seed = _seed(b"zone", site, name)


class _Site:
    __slots__ = ("name", "weight", "zones", "size", "clock_seed", "zone_draw_seeds")

    def __init__(self, name: str, zones: list[_Zone]) -> None:
        self.name = name
        self.weight = math.fsum(z.weight for z in zones)
        self.zones = tuple(zones)
        self.size = sum(len(z.members) for z in zones)
        self.clock_seed = _seed(b"site", name)
        self.zone_draw_seeds = tuple(_seed(b"zone-draw", name, z.name) for z in zones)


@dataclass(frozen=True)
class _Draw:
    """One parent count's quota, compiled: who takes how many for sure, and
    how many extras go to the first finishers among the racers."""

    base: tuple[int, ...]
    racers: tuple[int, ...]
    rates: tuple[float, ...]  # per racer
    extra: int


@dataclass(frozen=True)
class _Level:
    """A domain's split over its members for every count it may hold.

    When ``nested``, one race (``racers``, ``rates``) serves every count and
    its finishing times come from the members' clocks, so the level is
    coupled to the levels below; otherwise each count races on hashes of its
    own."""

    draws: dict[int, _Draw]
    nested: bool
    racers: tuple[int, ...]
    rates: tuple[float, ...]
    rate_sum: float

    @classmethod
    def of(cls, split: Apportionment) -> _Level:
        draws = {}
        for q, quota in split.quotas.items():
            racers = quota.racers
            draws[q] = _Draw(quota.base, racers, tuple(quota.rates[i] for i in racers), quota.extra)
        first = next(iter(draws.values()))
        racers = first.racers if split.nested else ()
        rates = first.rates if split.nested else ()
        return cls(draws, split.nested, racers, rates, math.fsum(rates))


@dataclass(frozen=True)
class _ZoneStep:
    """A zone's part of a plan, laid out for the hot path: its nodes start at
    position ``start`` of the plan's flat node list, the finishing times of
    its nested node race are positions ``key_start:key_end`` of the flat key
    list."""

    start: int
    key_start: int
    key_end: int
    level: _Level
    racer_positions: tuple[int, ...]  # flat node positions of the nested racers
    clock_seed: int
    draw_seeds: tuple[int, ...]


@dataclass(frozen=True)
class _Plan:
    """Everything a pick of ``count`` fragments needs, computed once."""

    sites: _Level
    zones: tuple[_Level, ...]  # per site
    steps: tuple[tuple[_ZoneStep, ...], ...]  # per site, per zone
    seeds: tuple[int, ...]  # per flat node position
    node_of: tuple[int, ...]  # flat node position -> ring node index
    key_spec: tuple[tuple[int, float], ...]  # (flat position, rate) of every nested node racer
    site_weights: tuple[tuple[float, ...], ...]  # per site, per zone: zone weight
    site_clock_seeds: tuple[int, ...]
    zone_draw_seeds: tuple[tuple[int, ...], ...]
    clocks_needed: bool  # does the site level race?
    shares: dict[str, float]

    @classmethod
    def build(cls, sites: Sequence[_Site], nodes: Sequence[RingNode], count: int, k: int | None) -> _Plan:
        slack = count - k if k is not None else 0
        site_split = apportion([(count, 1.0)], [s.weight for s in sites], _caps([s.size for s in sites], slack))
        site_level = _Level.of(site_split)
        zone_levels = []
        steps = []
        seeds: list[int] = []
        node_of: list[int] = []
        key_spec: list[tuple[int, float]] = []
        shares = {}
        for si, site in enumerate(sites):
            zone_split = apportion(
                site_split.outcomes[si],
                [z.weight for z in site.zones],
                _caps([len(z.members) for z in site.zones], slack),
            )
            zone_levels.append(_Level.of(zone_split))
            site_steps = []
            for zi, zone in enumerate(site.zones):
                node_split = apportion(
                    zone_split.outcomes[zi],
                    [nodes[i].weight for i in zone.members],
                    lambda q, n=len(zone.members): [1] * n,
                )
                level = _Level.of(node_split)
                start = len(seeds)
                seeds.extend(zone.seeds)
                node_of.extend(zone.members)
                key_start = len(key_spec)
                positions = tuple(start + j for j in level.racers)
                key_spec.extend(zip(positions, level.rates))
                site_steps.append(
                    _ZoneStep(start, key_start, len(key_spec), level, positions, zone.clock_seed, zone.draw_seeds)
                )
                for i, e in zip(zone.members, node_split.expected):
                    shares[nodes[i].node_id] = e
            steps.append(tuple(site_steps))
        return cls(
            sites=site_level,
            zones=tuple(zone_levels),
            steps=tuple(steps),
            seeds=tuple(seeds),
            node_of=tuple(node_of),
            key_spec=tuple(key_spec),
            site_weights=tuple(tuple(z.weight for z in s.zones) for s in sites),
            site_clock_seeds=tuple(s.clock_seed for s in sites),
            zone_draw_seeds=tuple(s.zone_draw_seeds for s in sites),
            clocks_needed=any(d.extra for d in site_level.draws.values()),
            shares=shares,
        )


def _caps(sizes: Sequence[int], slack: int) -> Callable[[int], list[int]]:
    """The spread rule for domains with these node counts: given ``q``
    fragments, each domain takes at most ``max(ceil(q / domains), slack)``
    and never more than it has nodes; the cap is relaxed one step at a time
    until the domains can hold ``q``."""

    def caps(q: int) -> list[int]:
        cap = min(q, max(-(-q // len(sizes)), slack))
        while sum(min(cap, size) for size in sizes) < q:
            cap += 1
        return [min(cap, size) for size in sizes]

    return caps


def _winners(level: _Level, q: int, keys: Sequence[float] | None, stripe_id: bytes, seeds: Sequence[int]) -> list[int]:
    """Counts per member for one stripe at a level whose parent holds ``q``.
    ``keys`` are the nested race's finishing times (per racer); without them
    the draw races on hashes with ``seeds``."""
    draw = level.draws[q]
    out = list(draw.base)
    if draw.extra:
        if keys is not None and level.nested:
            order = sorted(zip(keys, level.racers))
        else:
            order = sorted((_clock(stripe_id, seeds[j]) / rate, j) for j, rate in zip(draw.racers, draw.rates))
        for _, j in order[: draw.extra]:
            out[j] += 1
    return out


def _zone_clock(step: _ZoneStep, keys: Sequence[float], stripe_id: bytes) -> float:
    """A zone's clock: the first finisher of its nested node race rescaled to
    a standard exponential, or a hash of its own when it has no such race."""
    if step.key_start < step.key_end:
        return min(keys[step.key_start : step.key_end]) * step.level.rate_sum
    return _clock(stripe_id, step.clock_seed)


def _site_clock(plan: _Plan, si: int, keys: Sequence[float], stripe_id: bytes) -> float:
    """A site's clock: the first finisher of its zone race (or, with no
    nested zone race, of its zones' clocks by weight), rescaled to a standard
    exponential."""
    site_steps = plan.steps[si]
    level = plan.zones[si]
    if len(site_steps) == 1:
        return _zone_clock(site_steps[0], keys, stripe_id)
    if level.nested and level.racers:
        first = min(_zone_clock(site_steps[z], keys, stripe_id) / r for z, r in zip(level.racers, level.rates))
        return first * level.rate_sum
    weights = plan.site_weights[si]
    return min(_zone_clock(step, keys, stripe_id) / w for step, w in zip(site_steps, weights)) * math.fsum(weights)


class Ring:
    """Places the fragments of stripes on nodes by hierarchical weighted
    rendezvous hashing (see the module docstring for the algorithm)."""

    def __init__(self, nodes: Iterable[RingNode]) -> None:
        self.nodes: tuple[RingNode, ...] = tuple(nodes)
        ids = [n.node_id for n in self.nodes]
        if len(set(ids)) != len(ids):
            raise ValueError("node ids must be unique")
        if any(not (n.weight > 0 and math.isfinite(n.weight)) for n in self.nodes):
            raise ValueError("node weights must be positive and finite")
        self._ids = tuple(ids)
        self._by_id = {n.node_id: i for i, n in enumerate(self.nodes)}
        grouped: dict[str, dict[str, list[int]]] = {}
        for i, n in enumerate(self.nodes):
            grouped.setdefault(n.site, {}).setdefault(n.zone, []).append(i)
        self._sites = tuple(
            _Site(
                site,
                [
                    _Zone(site, zone, sorted(members, key=lambda i: ids[i]), self.nodes)
                    for zone, members in sorted(zones.items())
                ],
            )
            for site, zones in sorted(grouped.items())
        )
        self._site_of = [0] * len(self.nodes)
        self._zone_of = [0] * len(self.nodes)
        for si, site in enumerate(self._sites):
            for zi, zone in enumerate(site.zones):
                for i in zone.members:
                    self._site_of[i] = si
                    self._zone_of[i] = zi
        self._plans: dict[tuple[int, int | None], _Plan] = {}

    # -- placement -----------------------------------------------------------

    def pick(
        self,
        stripe_id: bytes,
        count: int,
        exclude: Sequence[str] = (),
        unavailable: AbstractSet[str] = frozenset(),
        *,
        k: int | None = None,
    ) -> list[str]:
        """The nodes for the ``count`` fragments of ``stripe_id``, indexed by
        fragment: distinct, spread over sites then zones, in proportion to
        weight.

        ``unavailable`` (down or draining) and ``exclude`` nodes are replaced
        by the next candidates of the stripe's fallback order; every other
        fragment stays where it would be. ``k`` (data fragments per stripe),
        when given, lets a site or zone hold up to ``count - k`` fragments if
        that is more than the even spread, so weights decide more while
        losing any one domain still leaves ``k``. Raises NotEnoughNodes when
        fewer than ``count`` usable nodes exist.
        """
        placed = self._place(stripe_id, count, k)
        ids = self._ids
        if exclude or unavailable:
            bad = set(exclude).union(unavailable) if exclude else unavailable
            if any(ids[i] in bad for i in placed):
                placed = self._substitute(stripe_id, placed, bad)
        return [ids[i] for i in placed]

    def ranked(
        self,
        stripe_id: bytes,
        exclude: Sequence[str] = (),
        *,
        count: int = 0,
        k: int | None = None,
        unavailable: AbstractSet[str] = frozenset(),
    ) -> list[str]:
        """Every usable node id for ``stripe_id``, best first: the ``count``
        nodes :meth:`pick` chooses, then the rest in the order further
        fragments would go (least-loaded site, then zone, then weighted
        rendezvous order)."""
        bad = set(exclude).union(unavailable)
        placed = self._place(stripe_id, count, k) if count else []
        if any(self._ids[i] in bad for i in placed):
            placed = self._substitute(stripe_id, placed, bad)
        keys = self._fallback_keys(stripe_id)
        used = set(placed)
        site_load, zone_load = self._loads(placed)
        while (nxt := self._next_candidate(keys, used, bad, site_load, zone_load, None, None)) is not None:
            placed.append(nxt)
            used.add(nxt)
            self._add_load(site_load, zone_load, nxt)
        return [self._ids[i] for i in placed]

    def shares(self, count: int, k: int | None = None) -> dict[str, float]:
        """Each node's weighted share: the expected number of a stripe's
        ``count`` fragments it holds (they sum to ``count``).

        Shares flow down the tree by water filling: sites share ``count`` in
        proportion to weight under the spread cap, each site's zones share
        its mean the same way, each zone's nodes share its mean with a cap of
        one. With no cap binding a node's share is ``count * weight / total
        weight``. :meth:`pick` meets these means in the long run."""
        if count == 0:
            self._check_count(count, k)
            return dict.fromkeys(self._ids, 0.0)
        return dict(self._plan(count, k).shares)

    # -- reads ---------------------------------------------------------------

    def read_order(
        self,
        locations: Sequence[str],
        k: int,
        local_site: str,
        rtt: Mapping[str, float],
        *,
        rtt_step: float = 0.001,
    ) -> list[int]:
        """Fragment indexes of a stripe in the order to read them: nodes of
        ``local_site`` first, then lowest round trip (seconds, compared in
        steps of ``rtt_step`` so that nodes within a step are equally near;
        unknown round trips last), then data fragments (index < ``k``) before
        parity, then index. Empty locations are left out; nodes the ring does
        not know count as remote."""
        ranked = []
        for index, location in enumerate(locations):
            if not location:
                continue
            known = self._by_id.get(location)
            local = known is not None and self.nodes[known].site == local_site
            trip = rtt.get(location)
            if trip is None or not math.isfinite(trip):
                nearness = math.inf
            elif rtt_step > 0:
                nearness = float(math.floor(trip / rtt_step))
            else:
                nearness = trip
            ranked.append((0 if local else 1, nearness, 0 if index < k else 1, index))
        ranked.sort()
        return [entry[3] for entry in ranked]

    def site_of(self, node_id: str) -> str:
        """The site of a node (KeyError for an unknown node)."""
        return self.nodes[self._by_id[node_id]].site

    # -- internals -----------------------------------------------------------

    @staticmethod
    def _check_count(count: int, k: int | None) -> None:
        if count < 0:
            raise ValueError(f"fragment count must not be negative, got {count}")
        if k is not None and not 1 <= k <= count:
            raise ValueError(f"k must be between 1 and the fragment count {count}, got {k}")

    def _plan(self, count: int, k: int | None) -> _Plan:
        plan = self._plans.get((count, k))
        if plan is None:
            self._check_count(count, k)
            if count > len(self.nodes):
                raise NotEnoughNodes(f"need {count} nodes, have {len(self.nodes)}")
            plan = self._plans[(count, k)] = _Plan.build(self._sites, self.nodes, count, k)
        return plan

    def _place(self, stripe_id: bytes, count: int, k: int | None) -> list[int]:
        """Node indexes for the stripe's fragments, in fragment order,
        ignoring node state."""
        plan = self._plans.get((count, k))
        if plan is None:
            if count == 0:
                self._check_count(count, k)
                return []
            plan = self._plan(count, k)
        h128 = xxhash.xxh3_128_intdigest
        log = math.log
        unit = _UNIT
        # Every node's hash, and the finishing time of every node in a nested race.
        hashes = [h128(stripe_id, seed=seed) for seed in plan.seeds]
        keys = [-log(((hashes[p] >> 75) + 0.5) * unit) / rate for p, rate in plan.key_spec]
        steps = plan.steps
        site_counts: Sequence[int]
        site_level = plan.sites
        if plan.clocks_needed:
            site_keys = [
                _site_clock(plan, s, keys, stripe_id) / rate for s, rate in zip(site_level.racers, site_level.rates)
            ]
            site_counts = _winners(site_level, count, site_keys, stripe_id, plan.site_clock_seeds)
        else:
            site_counts = site_level.draws[count].base
        node_of = plan.node_of
        chosen: list[tuple[int, int]] = []
        for si, qs in enumerate(site_counts):
            if not qs:
                continue
            site_steps = steps[si]
            zone_level = plan.zones[si]
            zone_draw = zone_level.draws[qs]
            if zone_draw.extra:
                zone_keys = None
                if zone_level.nested:
                    zone_keys = [
                        _zone_clock(site_steps[z], keys, stripe_id) / rate
                        for z, rate in zip(zone_level.racers, zone_level.rates)
                    ]
                zone_counts = _winners(zone_level, qs, zone_keys, stripe_id, plan.zone_draw_seeds[si])
            else:
                zone_counts = zone_draw.base
            for zi, qz in enumerate(zone_counts):
                if not qz:
                    continue
                step = site_steps[zi]
                level = step.level
                draw = level.draws[qz]
                start = step.start
                for j, c in enumerate(draw.base):
                    if c:
                        p = start + j
                        chosen.append((hashes[p] & _MASK64, node_of[p]))
                if draw.extra:
                    if level.nested:
                        order = sorted(zip(keys[step.key_start : step.key_end], step.racer_positions))
                        for _, p in order[: draw.extra]:
                            chosen.append((hashes[p] & _MASK64, node_of[p]))
                    else:
                        for j, c in enumerate(_winners(level, qz, None, stripe_id, step.draw_seeds)):
                            if c > draw.base[j]:
                                p = start + j
                                chosen.append((hashes[p] & _MASK64, node_of[p]))
        # Fragment order: the low half of each chosen node's hash, independent
        # of the half that raced.
        chosen.sort()
        return [i for _, i in chosen]

    def _substitute(self, stripe_id: bytes, placed: list[int], bad: AbstractSet[str]) -> list[int]:
        """Replace the placed nodes in ``bad`` by fallback candidates, keeping
        every other position."""
        ids = self._ids
        keys = self._fallback_keys(stripe_id)
        result = list(placed)
        used = set(placed)
        site_load, zone_load = self._loads([i for i in placed if ids[i] not in bad])
        for position, i in enumerate(placed):
            if ids[i] not in bad:
                continue
            si, zi = self._site_of[i], self._zone_of[i]
            nxt = self._next_candidate(keys, used, bad, site_load, zone_load, si, zi)
            if nxt is None:
                usable = sum(1 for node_id in ids if node_id not in bad)
                raise NotEnoughNodes(f"need {len(placed)} nodes, have {usable} usable")
            result[position] = nxt
            used.add(nxt)
            self._add_load(site_load, zone_load, nxt)
        return result

    def _loads(self, placed: Sequence[int]) -> tuple[list[int], dict[tuple[int, int], int]]:
        """Fragments per site and per (site, zone) among ``placed``."""
        site_load = [0] * len(self._sites)
        zone_load = {(si, zi): 0 for si, site in enumerate(self._sites) for zi in range(len(site.zones))}
        for i in placed:
            self._add_load(site_load, zone_load, i)
        return site_load, zone_load

    def _add_load(self, site_load: list[int], zone_load: dict[tuple[int, int], int], node: int) -> None:
        site_load[self._site_of[node]] += 1
        zone_load[(self._site_of[node], self._zone_of[node])] += 1

    def _fallback_keys(self, stripe_id: bytes) -> list[float]:
        """Every node's weighted rendezvous key for the stripe (lower is
        better): the same race ``pick`` runs, with rates equal to weights."""
        h128 = xxhash.xxh3_128_intdigest
        keys = [0.0] * len(self.nodes)
        for site in self._sites:
            for zone in site.zones:
                for i, seed in zip(zone.members, zone.seeds):
                    u = ((h128(stripe_id, seed=seed) >> 75) + 0.5) * _UNIT
                    keys[i] = -math.log(u) / self.nodes[i].weight
        return keys

    def _next_candidate(
        self,
        keys: Sequence[float],
        used: set[int],
        bad: AbstractSet[str],
        site_load: list[int],
        zone_load: dict[tuple[int, int], int],
        site: int | None,
        zone: int | None,
    ) -> int | None:
        """The next node a stripe would use: the best free node of ``zone`` in
        ``site``; else of the least-loaded other zone of ``site``; else of the
        least-loaded other site (and its least-loaded zone). Ties go to the
        domain whose best free node has the lower key."""
        ids = self._ids

        def free(si: int, zi: int) -> list[int]:
            return [i for i in self._sites[si].zones[zi].members if i not in used and ids[i] not in bad]

        def best_in_site(si: int, skip: int | None) -> int | None:
            options = []
            for zi in range(len(self._sites[si].zones)):
                if zi != skip and (nodes := free(si, zi)):
                    best = min(nodes, key=lambda i: (keys[i], i))
                    options.append((zone_load[(si, zi)], keys[best], best))
            return min(options)[2] if options else None

        if site is not None and zone is not None:
            nodes = free(site, zone)
            if nodes:
                return min(nodes, key=lambda i: (keys[i], i))
            found = best_in_site(site, zone)
            if found is not None:
                return found
        options = []
        for si in range(len(self._sites)):
            if si != site and (best := best_in_site(si, None)) is not None:
                options.append((site_load[si], keys[best], best))
        return min(options)[2] if options else None
