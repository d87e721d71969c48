"""Placement ring benchmark: balance, movement and the cost of one pick.

Places many stripes of 4 + 2 fragments on twelve nodes of unequal weights in
three sites and reports, per node, the fragments it received against its
weighted share (:meth:`placement.ring.Ring.shares`); then adds a thirteenth
node and counts the fragments that would move, against the share the new
node should take (the least any placement could move); and times one pick.
The limits the ring is held to: every node within 5 % of its share, the
move within 1.1 times the minimum.

With three sites each holds two of the six fragments (losing one site leaves
four), so a node's weighted share is its weight's part of its site's two:
nodes of a light site hold more per unit of weight than those of a heavy one.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from placement.ring import Ring, RingNode

MAX_DEVIATION = 0.05
MAX_MOVEMENT_RATIO = 1.1

# Twelve nodes in three sites; weights differ within and between sites.
BENCH_NODES = (
    RingNode("a1", 4.0, "site-a"),
    RingNode("a2", 3.0, "site-a"),
    RingNode("a3", 2.0, "site-a"),
    RingNode("a4", 1.0, "site-a"),
    RingNode("b1", 2.0, "site-b"),
    RingNode("b2", 2.0, "site-b"),
    RingNode("b3", 1.0, "site-b"),
    RingNode("b4", 1.0, "site-b"),
    RingNode("c1", 5.0, "site-c"),
    RingNode("c2", 3.0, "site-c"),
    RingNode("c3", 3.0, "site-c"),
    RingNode("c4", 1.0, "site-c"),
)
# The thirteenth: an average node of the lightest site.
ADDED_NODE = RingNode("b5", 1.5, "site-b")


@dataclass(frozen=True)
class NodeLoad:
    """One node's fragments per stripe, measured and expected."""

    node_id: str
    site: str
    weight: float
    share: float  # expected fragments per stripe (its weighted share)
    load: float  # measured fragments per stripe

    @property
    def deviation(self) -> float:
        """Relative distance of the load from the share (0.01 is 1 %)."""
        return self.load / self.share - 1.0


@dataclass(frozen=True)
class RingBenchResult:
    """What :func:`run_ring_bench` measured."""

    stripes: int
    k: int
    m: int
    loads: tuple[NodeLoad, ...]
    added_node: RingNode
    added_share: float  # fragments per stripe the added node should take
    moved: float  # fragments per stripe that change node when it is added
    pick_microseconds: float

    @property
    def max_deviation(self) -> float:
        """The largest relative distance of any node from its share."""
        return max(abs(load.deviation) for load in self.loads)

    @property
    def movement_ratio(self) -> float:
        """Fragments moved over the minimum (the added node's share)."""
        return self.moved / self.added_share

    @property
    def within_limits(self) -> bool:
        """Balance within 5 % and movement within 1.1 times the minimum."""
        return self.max_deviation <= MAX_DEVIATION and self.movement_ratio <= MAX_MOVEMENT_RATIO


def stripe_ids(count: int) -> list[bytes]:
    """Fixed 16-byte stripe ids, so every run places the same stripes."""
    return [i.to_bytes(16, "big") for i in range(count)]


def node_loads(ring: Ring, ids: Sequence[bytes], k: int, m: int) -> tuple[NodeLoad, ...]:
    """Place every stripe and compare each node's fragments per stripe with
    its weighted share."""
    count = k + m
    tally: Counter[str] = Counter()
    for stripe_id in ids:
        tally.update(ring.pick(stripe_id, count, k=k))
    shares = ring.shares(count, k=k)
    return tuple(
        NodeLoad(node.node_id, node.site, node.weight, shares[node.node_id], tally[node.node_id] / len(ids))
        for node in ring.nodes
    )


def fragments_moved(before: Ring, after: Ring, ids: Sequence[bytes], k: int, m: int) -> float:
    """Fragments per stripe that ``after`` places on a node ``before`` did
    not use for that stripe (each one is a copy a rebalance would make)."""
    count = k + m
    moved = 0
    for stripe_id in ids:
        moved += len(set(after.pick(stripe_id, count, k=k)) - set(before.pick(stripe_id, count, k=k)))
    return moved / len(ids)


def pick_cost(
    ring: Ring, ids: Sequence[bytes], k: int, m: int, rounds: int = 3, clock: Callable[[], float] = time.perf_counter
) -> float:
    """The best of ``rounds`` average pick times over ``ids``, in microseconds."""
    count = k + m
    ring.pick(ids[0], count, k=k)  # plans are built on first use; do not time that
    best = float("inf")
    for _ in range(rounds):
        start = clock()
        for stripe_id in ids:
            ring.pick(stripe_id, count, k=k)
        best = min(best, clock() - start)
    return best / len(ids) * 1e6


def run_ring_bench(
    stripes: int = 100_000,
    k: int = 4,
    m: int = 2,
    timed: int = 20_000,
    clock: Callable[[], float] = time.perf_counter,
) -> RingBenchResult:
    """Run the benchmark over ``stripes`` stripes (``timed`` of them timed)."""
    if stripes <= 0 or timed <= 0:
        raise ValueError("the ring benchmark needs a positive number of stripes")
    ids = stripe_ids(stripes)
    before = Ring(BENCH_NODES)
    after = Ring((*BENCH_NODES, ADDED_NODE))
    return RingBenchResult(
        stripes=stripes,
        k=k,
        m=m,
        loads=node_loads(before, ids, k, m),
        added_node=ADDED_NODE,
        added_share=after.shares(k + m, k=k)[ADDED_NODE.node_id],
        moved=fragments_moved(before, after, ids, k, m),
        pick_microseconds=pick_cost(before, ids[:timed], k, m, clock=clock),
    )


def format_ring_bench(result: RingBenchResult) -> str:
    """The benchmark's report as text."""
    sites = len({load.site for load in result.loads})
    lines = [
        f"placement ring: {result.stripes} stripes of {result.k}+{result.m}"
        f" on {len(result.loads)} nodes in {sites} sites",
        f"{'node':<6} {'site':<8} {'weight':>6} {'share':>7} {'load':>7} {'deviation':>9}",
    ]
    for load in result.loads:
        lines.append(
            f"{load.node_id:<6} {load.site:<8} {load.weight:>6g} {load.share:>7.4f} {load.load:>7.4f}"
            f" {load.deviation:>+9.2%}"
        )
    added = result.added_node
    lines += [
        f"max deviation from weighted share: {result.max_deviation:.2%} (limit {MAX_DEVIATION:.0%})",
        f"adding {added.node_id} ({added.site}, weight {added.weight:g}): {result.moved:.4f} fragments per stripe"
        f" move, its share is {result.added_share:.4f}: {result.movement_ratio:.3f}x the minimum"
        f" (limit {MAX_MOVEMENT_RATIO}x)",
        f"one pick: {result.pick_microseconds:.1f} us",
        "within limits" if result.within_limits else "OUTSIDE LIMITS",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ring benchmark and print its report; exit status 1 when a
    limit is broken."""
    parser = argparse.ArgumentParser(
        prog="objectd bench --ring", description="Placement ring benchmark: balance, movement and the cost of one pick."
    )
    parser.add_argument("--stripes", type=int, default=100_000, help="stripes to place (default 100000)")
    args = parser.parse_args(argv)
    result = run_ring_bench(stripes=args.stripes, timed=min(args.stripes, 20_000))
    print(format_ring_bench(result))
    return 0 if result.within_limits else 1


if __name__ == "__main__":
    raise SystemExit(main())
