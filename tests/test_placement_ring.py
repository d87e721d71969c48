"""Ring: weighted rendezvous placement."""

from __future__ import annotations

import collections
import os

import pytest

from placement.ring import NotEnoughNodes, Ring, RingNode


def test_pick_is_deterministic_and_distinct():
    ring = Ring(RingNode(f"n{i}") for i in range(8))
    for _ in range(50):
        sid = os.urandom(16)
        picked = ring.pick(sid, 6)
        assert picked == ring.pick(sid, 6)
        assert len(set(picked)) == 6


def test_not_enough_nodes():
    ring = Ring(RingNode(f"n{i}") for i in range(3))
    with pytest.raises(NotEnoughNodes):
        ring.pick(b"x", 4)


def test_exclude():
    ring = Ring(RingNode(f"n{i}") for i in range(6))
    assert "n2" not in ring.pick(b"abc", 5, exclude=["n2"])


def test_weights_shape_the_share():
    ring = Ring([RingNode("heavy", 3.0), RingNode("a"), RingNode("b"), RingNode("c")])
    wins = collections.Counter(ring.pick(i.to_bytes(4, "big"), 1)[0] for i in range(6000))
    assert wins["heavy"] > 2 * wins["a"]


def test_adding_a_node_moves_only_its_share():
    before = Ring(RingNode(f"n{i}") for i in range(10))
    after = Ring(RingNode(f"n{i}") for i in range(11))
    moved = sum(
        1 for i in range(5000) if before.pick(i.to_bytes(4, "big"), 1) != after.pick(i.to_bytes(4, "big"), 1)
    )
    assert moved < 5000 * 2 / 11  # ideal is 1/11; allow twice that


def test_duplicate_or_bad_nodes_rejected():
    with pytest.raises(ValueError):
        Ring([RingNode("a"), RingNode("a")])
    with pytest.raises(ValueError):
        Ring([RingNode("a", 0)])
