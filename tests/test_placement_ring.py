"""Ring: hierarchical weighted rendezvous placement and read order."""

from __future__ import annotations

import collections
import math
from collections.abc import Iterable

import pytest

from placement.ring import NotEnoughNodes, Ring, RingNode


def sid(i: int) -> bytes:
    """A fixed stripe id."""
    return i.to_bytes(16, "big")


def cluster(spec: dict[str, dict[str, list[float]]]) -> list[RingNode]:
    """Nodes from {site: {zone: [weights]}}, named site-zone-index."""
    return [
        RingNode(f"{site}-{zone}-{i}", weight, site, zone)
        for site, zones in spec.items()
        for zone, weights in zones.items()
        for i, weight in enumerate(weights)
    ]


def per_site(ring: Ring, nodes: Iterable[str]) -> collections.Counter[str]:
    return collections.Counter(ring.site_of(n) for n in nodes)


THREE_SITES = cluster(
    {
        "a": {"z": [4, 3, 2, 1]},
        "b": {"z": [2, 2, 1, 1]},
        "c": {"z": [5, 3, 3, 1]},
    }
)


# -- the embedded server's flat use -------------------------------------------


def test_pick_is_deterministic_and_distinct() -> None:
    ring = Ring(RingNode(f"n{i}") for i in range(8))
    again = Ring(RingNode(f"n{i}") for i in reversed(range(8)))
    for i in range(200):
        picked = ring.pick(sid(i), 6)
        assert picked == ring.pick(sid(i), 6) == again.pick(sid(i), 6)
        assert len(set(picked)) == 6


def test_not_enough_nodes() -> None:
    ring = Ring(RingNode(f"n{i}") for i in range(3))
    with pytest.raises(NotEnoughNodes):
        ring.pick(b"x", 4)
    with pytest.raises(NotEnoughNodes):
        ring.pick(b"x", 3, unavailable=frozenset({"n0"}))


def test_exclude() -> None:
    ring = Ring(RingNode(f"n{i}") for i in range(6))
    for i in range(50):
        assert "n2" not in ring.pick(sid(i), 5, exclude=["n2"])


def test_weights_shape_the_share() -> None:
    ring = Ring([RingNode("heavy", 3.0), RingNode("a"), RingNode("b"), RingNode("c")])
    wins = collections.Counter(ring.pick(sid(i), 1)[0] for i in range(6000))
    assert wins["heavy"] / 6000 == pytest.approx(0.5, abs=0.03)
    assert ring.shares(1) == pytest.approx({"heavy": 0.5, "a": 1 / 6, "b": 1 / 6, "c": 1 / 6})


def test_duplicate_or_bad_nodes_rejected() -> None:
    with pytest.raises(ValueError):
        Ring([RingNode("a"), RingNode("a")])
    for weight in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError):
            Ring([RingNode("a", weight)])


def test_bad_counts_rejected() -> None:
    ring = Ring(RingNode(f"n{i}") for i in range(8))
    assert ring.pick(b"x", 0) == []
    with pytest.raises(ValueError):
        ring.pick(b"x", -1)
    with pytest.raises(ValueError):
        ring.pick(b"x", 6, k=0)
    with pytest.raises(ValueError):
        ring.pick(b"x", 6, k=7)


# -- failure domains -------------------------------------------------------------


@pytest.mark.parametrize("k", [4, None])
def test_three_sites_take_two_fragments_each(k: int | None) -> None:
    ring = Ring(THREE_SITES)
    for i in range(2000):
        picked = ring.pick(sid(i), 6, k=k)
        assert len(set(picked)) == 6
        counts = per_site(ring, picked)
        assert counts == {"a": 2, "b": 2, "c": 2}
        for lost in "abc":
            assert 6 - counts[lost] >= 4


def test_two_sites_split_three_and_three() -> None:
    ring = Ring(cluster({"a": {"z": [5, 4, 1, 1]}, "b": {"z": [1, 1, 1, 1, 1]}}))
    for i in range(1000):
        assert per_site(ring, ring.pick(sid(i), 6, k=4)) == {"a": 3, "b": 3}


def test_zones_within_a_site() -> None:
    nodes = cluster({"s": {"z1": [3, 1, 1], "z2": [1, 1], "z3": [2, 2, 2, 2]}})
    ring = Ring(nodes)
    zone_of = {n.node_id: n.zone for n in nodes}
    for i in range(1000):
        zones = collections.Counter(zone_of[n] for n in ring.pick(sid(i), 6, k=4))
        assert zones == {"z1": 2, "z2": 2, "z3": 2}
    # Three sites of two zones each: one fragment per zone without k; with k
    # a zone may take both of its site's fragments (losing it loses 2 <= m).
    nodes = cluster({s: {"x": [1, 1], "y": [3, 3]} for s in "abc"})
    ring = Ring(nodes)
    place = {n.node_id: (n.site, n.zone) for n in nodes}
    doubled = 0
    for i in range(2000):
        assert collections.Counter(place[n] for n in ring.pick(sid(i), 6)) == {
            (s, z): 1 for s in "abc" for z in "xy"
        }
        picked = ring.pick(sid(i), 6, k=4)
        loosened = collections.Counter(place[n] for n in picked)
        assert max(loosened.values()) <= 2 and per_site(ring, picked) == {"a": 2, "b": 2, "c": 2}
        doubled += max(loosened.values()) == 2
    assert doubled > 0


def test_four_sites_follow_weight_under_the_cap() -> None:
    ring = Ring(cluster({"a": {"z": [10, 10]}, "b": {"z": [1, 1]}, "c": {"z": [1, 1]}, "d": {"z": [1, 1]}}))
    site_shares = collections.Counter()
    for node, share in ring.shares(6, k=4).items():
        site_shares[ring.site_of(node)] += share
    assert site_shares == pytest.approx({"a": 2.0, "b": 4 / 3, "c": 4 / 3, "d": 4 / 3})
    for i in range(2000):
        counts = per_site(ring, ring.pick(sid(i), 6, k=4))
        assert counts["a"] == 2
        assert all(counts[s] in (1, 2) for s in "bcd")


def test_k_lets_weights_decide_while_one_site_loss_leaves_k() -> None:
    ring = Ring(cluster({"a": {"z": [8, 8, 8, 8]}, "b": {"z": [1, 1, 1, 1]}, "c": {"z": [1, 1, 1, 1]}}))
    even = collections.Counter()
    for i in range(1000):
        tight = per_site(ring, ring.pick(sid(i), 8))
        loose = per_site(ring, ring.pick(sid(i), 8, k=4))
        assert max(tight.values()) <= 3  # ceil(8 / 3)
        assert max(loose.values()) <= 4 and all(8 - loose[s] >= 4 for s in "abc")
        even[loose["a"]] += 1
    assert even == {4: 1000}  # the heavy site takes all it may


def test_caps_relax_when_a_site_is_small() -> None:
    # Site c has one node, so a and b must hold five: the cap rises to three,
    # and within it the sites share by weight (c: 6/7 of a fragment).
    ring = Ring(cluster({"a": {"z": [1, 1, 1]}, "b": {"z": [1, 1, 1]}, "c": {"z": [1]}}))
    assert ring.shares(6, k=4)["c-z-0"] == pytest.approx(6 / 7)
    for i in range(500):
        counts = per_site(ring, ring.pick(sid(i), 6, k=4))
        assert counts["c"] <= 1 and counts["a"] in (2, 3) and counts["b"] in (2, 3)


def test_no_node_twice_in_uneven_trees() -> None:
    ring = Ring(cluster({"a": {"x": [5], "y": [1, 1]}, "b": {"x": [3, 1]}, "c": {"x": [1], "y": [9]}}))
    for i in range(1000):
        for count, k in ((3, None), (6, 4), (7, None), (7, 5)):
            assert len(set(ring.pick(sid(i), count, k=k))) == count


# -- weights -------------------------------------------------------------------------


def test_shares_follow_weight() -> None:
    flat = Ring(RingNode(f"n{w}", float(w)) for w in range(1, 9))
    shares = flat.shares(3)
    assert shares == pytest.approx({f"n{w}": 3 * w / 36 for w in range(1, 9)})
    # Three sites for 4 + 2: each site holds 2, split by weight within it.
    ring = Ring(THREE_SITES)
    expected = {}
    for site in "abc":
        members = [n for n in THREE_SITES if n.site == site]
        total = sum(n.weight for n in members)
        expected.update({n.node_id: 2 * n.weight / total for n in members})
    assert ring.shares(6, k=4) == pytest.approx(expected)
    # A node never holds two fragments of a stripe: its share stops at 1.
    capped = Ring([RingNode("big", 10.0), RingNode("x"), RingNode("y"), RingNode("z")]).shares(2)
    assert capped == pytest.approx({"big": 1.0, "x": 1 / 3, "y": 1 / 3, "z": 1 / 3})


@pytest.mark.parametrize(
    ("nodes", "count", "k"),
    [
        ([RingNode(f"n{w}", float(w)) for w in range(1, 9)], 3, None),
        (THREE_SITES, 6, 4),
        (cluster({"a": {"x": [4, 1], "y": [2]}, "b": {"x": [1, 1, 1]}, "c": {"x": [3, 2]}, "d": {"x": [2]}}), 6, 4),
    ],
)
def test_loads_meet_the_shares(nodes: list[RingNode], count: int, k: int | None) -> None:
    ring = Ring(nodes)
    stripes = 20_000
    load = collections.Counter()
    for i in range(stripes):
        load.update(ring.pick(sid(i), count, k=k))
    for node, share in ring.shares(count, k=k).items():
        # Five standard deviations of the node's binomial count.
        tolerance = 5 * math.sqrt(share * max(1 - share, 1e-9) / stripes)
        assert load[node] / stripes == pytest.approx(share, abs=tolerance), node
    assert math.fsum(ring.shares(count, k=k).values()) == pytest.approx(count)


def test_data_fragments_spread_like_the_rest() -> None:
    ring = Ring(THREE_SITES)
    first = collections.Counter()
    every = collections.Counter()
    for i in range(12_000):
        picked = ring.pick(sid(i), 6, k=4)
        first.update(picked[:4])
        every.update(picked)
    for node, n in every.items():
        assert first[node] / n == pytest.approx(4 / 6, abs=0.04)


# -- movement ------------------------------------------------------------------------


def moved(before: Ring, after: Ring, count: int, k: int | None = None, stripes: int = 5000) -> float:
    """Fragments per stripe placed on a node the stripe did not use before."""
    total = 0
    for i in range(stripes):
        total += len(set(after.pick(sid(i), count, k=k)) - set(before.pick(sid(i), count, k=k)))
    return total / stripes


def test_adding_a_node_moves_only_its_share() -> None:
    before = Ring(RingNode(f"n{i}") for i in range(10))
    after = Ring(RingNode(f"n{i}") for i in range(11))
    assert moved(before, after, 1) == pytest.approx(1 / 11, abs=0.015)
    assert moved(before, after, 6) == pytest.approx(6 / 11, abs=0.04)
    # Three sites for 4 + 2: a site's new node takes its share and no more.
    grown = Ring([*THREE_SITES, RingNode("b-z-new", 1.5, "b", "z")])
    share = grown.shares(6, k=4)["b-z-new"]
    assert share == pytest.approx(2 * 1.5 / 7.5)
    assert moved(Ring(THREE_SITES), grown, 6, k=4) <= 1.1 * share


def test_removing_a_node_moves_only_what_it_held() -> None:
    nodes = [RingNode(f"n{i}") for i in range(10)]
    before = Ring(nodes)
    after = Ring(nodes[1:])
    for i in range(2000):
        old, new = before.pick(sid(i), 6), after.pick(sid(i), 6)
        if "n0" not in old:
            assert old == new
        else:
            assert len(set(new) - set(old)) == 1
    # With unequal weights the zone-mates' calibrated rates shift a little too.
    shrunk = Ring(n for n in THREE_SITES if n.node_id != "c-z-3")
    held = Ring(THREE_SITES).shares(6, k=4)["c-z-3"]
    assert moved(Ring(THREE_SITES), shrunk, 6, k=4) <= 1.15 * held


# -- node state ------------------------------------------------------------------------


def test_unavailable_nodes_are_replaced_in_place() -> None:
    ring = Ring(THREE_SITES)
    down = frozenset({"a-z-0"})
    replaced = 0
    for i in range(1000):
        normal = ring.pick(sid(i), 6, k=4)
        degraded = ring.pick(sid(i), 6, k=4, unavailable=down)
        assert "a-z-0" not in degraded and len(set(degraded)) == 6
        if "a-z-0" not in normal:
            assert degraded == normal
            continue
        replaced += 1
        position = normal.index("a-z-0")
        assert [n for j, n in enumerate(degraded) if j != position] == [
            n for j, n in enumerate(normal) if j != position
        ]
        assert ring.site_of(degraded[position]) == "a"  # the same site keeps its share
    assert replaced > 100


def test_substitutes_follow_the_fallback_order() -> None:
    ring = Ring(THREE_SITES)
    for i in range(300):
        normal = ring.pick(sid(i), 6, k=4)
        victim = normal[0]
        expected = next(
            n for n in ring.ranked(sid(i), count=6, k=4) if n not in normal and ring.site_of(n) == ring.site_of(victim)
        )
        assert ring.pick(sid(i), 6, k=4, exclude=[victim])[0] == expected


def test_a_lost_site_spreads_over_the_others() -> None:
    ring = Ring(THREE_SITES)
    down = frozenset(n.node_id for n in THREE_SITES if n.site == "c")
    for i in range(500):
        counts = per_site(ring, ring.pick(sid(i), 6, k=4, unavailable=down))
        assert counts == {"a": 3, "b": 3}
    with pytest.raises(NotEnoughNodes):
        ring.pick(sid(1), 6, unavailable=down | {"a-z-0", "a-z-1", "a-z-2"})


def test_ranked_lists_every_usable_node_best_first() -> None:
    ring = Ring(THREE_SITES)
    for i in range(200):
        ranked = ring.ranked(sid(i), count=6, k=4)
        assert ranked[:6] == ring.pick(sid(i), 6, k=4)
        assert sorted(ranked) == sorted(n.node_id for n in THREE_SITES)
        # Beyond the pick, the next nodes spread over sites again.
        assert len({ring.site_of(n) for n in ranked[6:9]}) == 3
        assert ring.ranked(sid(i))[0] == ring.pick(sid(i), 1)[0]
        assert "a-z-1" not in ring.ranked(sid(i), ["a-z-1"])


# -- read order ----------------------------------------------------------------------


def test_read_order_prefers_local_then_near_then_data() -> None:
    ring = Ring(THREE_SITES)
    locations = ["c-z-0", "a-z-0", "b-z-0", "a-z-1", "c-z-1", "b-z-1"]
    rtt = {"a-z-0": 0.0004, "a-z-1": 0.0002, "b-z-0": 0.030, "b-z-1": 0.010, "c-z-0": 0.050, "c-z-1": 0.050}
    # Site a first (by round trip, both within the first millisecond, so data
    # first), then b by round trip, then c: equally near, data before parity.
    assert ring.read_order(locations, 4, "a", rtt) == [1, 3, 5, 2, 0, 4]
    # With a finer step, a-z-1 (parity, 0.2 ms) beats a-z-0 (data, 0.4 ms).
    assert ring.read_order(locations, 4, "a", rtt, rtt_step=0.0001)[:2] == [3, 1]


def test_read_order_skips_empty_and_ranks_unknown_last() -> None:
    ring = Ring(THREE_SITES)
    locations = ["a-z-0", "", "retired-node", "c-z-0", "a-z-1", ""]
    order = ring.read_order(locations, 4, "a", {"c-z-0": 0.001})
    assert order == [0, 4, 3, 2]
    # The embedded server: one site, no round trips: data fragments first.
    flat = Ring(RingNode(f"d{i}") for i in range(6))
    assert flat.read_order([f"d{i}" for i in range(6)], 4, "", {}) == [0, 1, 2, 3, 4, 5]
    assert flat.read_order(["d5", "d4", "", "d3", "d2", "d1"], 2, "", {}) == [0, 1, 3, 4, 5]
