"""Weighted rendezvous placement: which nodes hold the fragments of a stripe.

Every (stripe, node) pair gets a score ``-weight / ln(u)`` where ``u`` is a
uniform hash of the pair in (0, 1); the ``count`` highest-scoring nodes win,
in score order. This is highest-random-weight hashing with weights: each node
wins in proportion to its weight, the same inputs always give the same
answer, and adding or removing a node only moves the stripes that node wins
or held. Pure computation, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import xxhash

_TWO_64 = float(1 << 64)


@dataclass(frozen=True)
class RingNode:
    """A placement target: a drive or storage node with a relative weight."""

    node_id: str
    weight: float = 1.0


class NotEnoughNodes(Exception):
    """Fewer usable nodes than a stripe needs."""


class Ring:
    """Picks distinct nodes for a stripe by weighted rendezvous hashing."""

    def __init__(self, nodes: Iterable[RingNode]) -> None:
        self.nodes: tuple[RingNode, ...] = tuple(nodes)
        ids = [n.node_id for n in self.nodes]
        if len(set(ids)) != len(ids):
            raise ValueError("node ids must be unique")
        if any(n.weight <= 0 for n in self.nodes):
            raise ValueError("node weights must be positive")
        self._seeds = [(n, xxhash.xxh3_64_intdigest(n.node_id.encode())) for n in self.nodes]

    def ranked(self, stripe_id: bytes, exclude: Sequence[str] = ()) -> list[str]:
        """Every node id (except ``exclude``), best first for ``stripe_id``."""
        scored = []
        for node, seed in self._seeds:
            if node.node_id in exclude:
                continue
            h = xxhash.xxh3_64_intdigest(stripe_id, seed=seed)
            u = (h + 0.5) / _TWO_64  # strictly inside (0, 1)
            scored.append((-node.weight / math.log(u), node.node_id))
        scored.sort(reverse=True)
        return [node_id for _, node_id in scored]

    def pick(self, stripe_id: bytes, count: int, exclude: Sequence[str] = ()) -> list[str]:
        """The ``count`` best distinct nodes for ``stripe_id`` (NotEnoughNodes)."""
        ranked = self.ranked(stripe_id, exclude)
        if len(ranked) < count:
            raise NotEnoughNodes(f"need {count} nodes, have {len(ranked)}")
        return ranked[:count]
