"""Cluster map: YAML parsing, validation, weights, node state."""

from __future__ import annotations

import collections

import pytest

from placement.cluster_map import (
    TIB,
    ClusterMap,
    ClusterMapError,
    NodeSpec,
    NodeState,
    NodeStatus,
    SiteSpec,
    parse_size,
    round_trips,
    unavailable_nodes,
)
from placement.ring import RingNode

EXAMPLE = """
sites:
  - name: home
    zones: [rack-a, rack-b]
  - name: office
  - cloud
nodes:
  - id: h1
    address: 10.0.0.11:7480
    site: home
    zone: rack-a
    capacity: 4TiB
  - id: h2
    address: 10.0.0.12:7480
    site: home
    zone: rack-b
    capacity: 2TiB
  - id: o1
    address: office.example:7480
    site: office
    weight: 3
  - id: o2
    address: "[2001:db8::2]:7480"
    site: office
    zone: shelf
  - id: c1
    address: s3-node.cloud.example:443
    site: cloud
    capacity: 8000000000000
    weight: 0.5
"""


def test_example_map() -> None:
    cmap = ClusterMap.from_yaml_text(EXAMPLE)
    assert [s.name for s in cmap.sites] == ["home", "office", "cloud"]
    assert cmap.sites[0] == SiteSpec("home", ("rack-a", "rack-b"))
    assert cmap.node("h1") == NodeSpec("h1", "10.0.0.11:7480", "home", "rack-a", None, 4 * TIB)
    assert cmap.node("o2").zone == "shelf"  # office declares no zones: any name goes
    assert cmap.node("c1").zone == "default"
    assert cmap.ring_nodes() == [
        RingNode("h1", 4.0, "home", "rack-a"),
        RingNode("h2", 2.0, "home", "rack-b"),
        RingNode("o1", 3.0, "office", "default"),
        RingNode("o2", 1.0, "office", "shelf"),
        RingNode("c1", 0.5, "cloud", "default"),
    ]
    with pytest.raises(KeyError):
        cmap.node("nope")


def test_weight_comes_from_weight_then_capacity_then_one() -> None:
    assert NodeSpec("a", "h:1", weight=2.5, capacity=8 * TIB).effective_weight == 2.5
    assert NodeSpec("a", "h:1", capacity=TIB // 2).effective_weight == 0.5
    assert NodeSpec("a", "h:1").effective_weight == 1.0


def test_the_map_makes_a_ring_that_spreads_over_its_sites() -> None:
    cmap = ClusterMap.from_yaml_text(EXAMPLE)
    ring = cmap.ring()
    for i in range(200):
        sites = collections.Counter(cmap.node(n).site for n in ring.pick(i.to_bytes(8, "big"), 3))
        assert sites == {"home": 1, "office": 1, "cloud": 1}


def test_sites_may_be_left_out_for_a_single_site() -> None:
    cmap = ClusterMap.from_yaml_text("nodes:\n  - {id: n1, address: 'a:1'}\n  - {id: n2, address: 'b:1'}\n")
    assert cmap.sites == (SiteSpec("default"),)
    assert {n.site for n in cmap.nodes} == {"default"}
    assert ClusterMap.from_yaml_text("nodes: [{id: 7, address: 'a:1'}]").nodes[0].node_id == "7"


def test_addresses_may_carry_the_scheme() -> None:
    cmap = ClusterMap.from_yaml_text("nodes: [{id: a, address: 'https://127.0.0.1:9001'}]")
    assert cmap.node("a").address == "https://127.0.0.1:9001"
    with pytest.raises(ClusterMapError, match="host:port"):
        ClusterMap.from_yaml_text("nodes: [{id: a, address: 'https://127.0.0.1'}]")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must be a mapping"),
        ("[1, 2]", "must be a mapping"),
        ("nodes: [\n", "not valid YAML"),
        ("nodes: []", "non-empty list"),
        ("sites: home\nnodes: [{id: a, address: 'h:1'}]", "'sites' must be a list"),
        ("servers: []\nnodes: [{id: a, address: 'h:1'}]", "unknown keys: servers"),
        ("nodes: [{id: a, address: 'h:1'}, {id: a, address: 'h:2'}]", "listed twice"),
        ("nodes: [{id: a, address: 'h:1'}, {id: b, address: 'h:1'}]", "has the address of node 'a'"),
        ("nodes: [{id: a, address: 'h'}]", "host:port"),
        ("nodes: [{id: a, address: 'h:0'}]", "host:port"),
        ("nodes: [{id: a, address: 'h:65536'}]", "host:port"),
        ("nodes: [{id: a, address: 'my host:80'}]", "host:port"),
        ("nodes: [{id: a}]", "needs an 'address'"),
        ("nodes: [{address: 'h:1'}]", "needs an 'id'"),
        ("nodes: [{id: 'a b', address: 'h:1'}]", "node id must be"),
        ("nodes: [{id: a, address: 'h:1', wieght: 2}]", "unknown keys: wieght"),
        ("nodes: [{id: a, address: 'h:1', weight: 0}]", "weight must be a positive number"),
        ("nodes: [{id: a, address: 'h:1', weight: -2}]", "weight must be a positive number"),
        ("nodes: [{id: a, address: 'h:1', weight: .inf}]", "weight must be a positive number"),
        ("nodes: [{id: a, address: 'h:1', weight: heavy}]", "weight must be a positive number"),
        ("nodes: [{id: a, address: 'h:1', weight: true}]", "weight must be a positive number"),
        ("nodes: [{id: a, address: 'h:1', capacity: 0}]", "capacity must be a positive"),
        ("nodes: [{id: a, address: 'h:1', capacity: 4 bushels}]", "size like 4TiB"),
        ("sites: [a]\nnodes: [{id: x, address: 'h:1', site: b}]", "unknown site 'b' (sites: a)"),
        ("sites: [a]\nnodes: [{id: x, address: 'h:1'}]", "unknown site 'default'"),
        ("sites: [a, a]\nnodes: [{id: x, address: 'h:1', site: a}]", "site 'a' is listed twice"),
        ("sites: [{name: a, zones: [z]}]\nnodes: [{id: x, address: 'h:1', site: a, zone: y}]", "not one of site"),
        ("sites: [{name: a, zones: [z, z]}]\nnodes: [{id: x, address: 'h:1', site: a, zone: z}]", "zone twice"),
        ("sites: [{name: a, racks: [z]}]\nnodes: [{id: x, address: 'h:1', site: a}]", "unknown keys: racks"),
        ("sites: [{zones: [z]}]\nnodes: [{id: x, address: 'h:1'}]", "needs a 'name'"),
        ("sites: [{name: a, zones: z}]\nnodes: [{id: x, address: 'h:1', site: a}]", "list of names"),
        ("sites: [3]\nnodes: [{id: x, address: 'h:1'}]", "site name or a mapping"),
        ("nodes: [{id: x, address: 'h:1', zone: ''}]", "zone must be"),
    ],
)
def test_bad_maps_say_why(text: str, message: str) -> None:
    with pytest.raises(ClusterMapError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ClusterMap.from_yaml_text(text)


def test_maps_built_in_code_are_validated_too() -> None:
    with pytest.raises(ClusterMapError):
        ClusterMap([SiteSpec("a")], [])
    with pytest.raises(ClusterMapError):
        ClusterMap([SiteSpec("a")], [NodeSpec("x", "h:1", site="b")])
    cmap = ClusterMap([SiteSpec("a")], [NodeSpec("x", "h:1", site="a", weight=2)])
    assert cmap.ring_nodes() == [RingNode("x", 2.0, "a", "default")]


def test_sizes() -> None:
    assert parse_size(1234) == 1234
    assert parse_size("4TiB") == 4 * TIB
    assert parse_size("500 GB") == 500 * 10**9
    assert parse_size("1.5tb") == 1_500_000_000_000
    assert parse_size("2 KiB") == 2048
    assert parse_size("77") == 77
    for bad in ("", "TiB", "4 TiBs", "-1GB", True, None, 1.5):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_node_state_feeds_the_ring() -> None:
    statuses = {
        "a": NodeStatus(NodeState.UP, 0.002),
        "b": NodeStatus(NodeState.DOWN),
        "c": NodeStatus(NodeState.DRAINING, 0.010),
        "d": NodeStatus(),
    }
    assert unavailable_nodes(statuses) == frozenset({"b", "c"})
    assert round_trips(statuses) == {"a": 0.002, "c": 0.010}
    assert NodeState("draining") is NodeState.DRAINING
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            NodeStatus(NodeState.UP, bad)
