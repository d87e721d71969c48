"""The cluster map: sites, zones and storage nodes, and the state of each node.

Operators describe the cluster in YAML; the caller reads the file and hands
the text to :meth:`ClusterMap.from_yaml_text`::

    sites:
      - name: home
        zones: [rack-a, rack-b]   # optional; when listed, nodes must use them
      - name: office
      - cloud                     # a bare name: a site without declared zones
    nodes:
      - id: n1
        address: 10.0.0.11:7480   # host:port, or https://host:port
        site: home
        zone: rack-a
        capacity: 4TiB            # bytes, or a number with B, KB..PB, KiB..PiB
      - id: n2
        address: 10.0.0.12:7480
        site: office
        weight: 2                 # explicit weight wins over capacity

A node's placement weight is its ``weight`` if given, else its capacity in
TiB, else 1. ``sites`` may be left out when every node is in the site
``default``; a node without a zone is in the zone ``default``.

Node state (up, down, draining) and round-trip times are not part of the map:
the gateway measures them and passes them to the ring per call
(:class:`NodeStatus`, :func:`unavailable_nodes`, :func:`round_trips`).
Pure parsing and validation, no I/O.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from placement.ring import Ring, RingNode

DEFAULT_SITE = "default"
DEFAULT_ZONE = "default"
TIB = 1 << 40

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*")
_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "pb": 10**15,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
    "tib": 1 << 40,
    "pib": 1 << 50,
}
_SITE_KEYS = {"name", "zones"}
_NODE_KEYS = {"id", "address", "site", "zone", "weight", "capacity"}


class ClusterMapError(ValueError):
    """A cluster map that cannot be used, with the reason."""


@dataclass(frozen=True)
class SiteSpec:
    """A site (a location that fails as a whole) and, optionally, the zones
    its nodes may use."""

    name: str
    zones: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeSpec:
    """A storage node as the map declares it. ``capacity`` is in bytes."""

    node_id: str
    address: str
    site: str = DEFAULT_SITE
    zone: str = DEFAULT_ZONE
    weight: float | None = None
    capacity: int | None = None

    @property
    def effective_weight(self) -> float:
        """The placement weight: ``weight``, else capacity in TiB, else 1."""
        if self.weight is not None:
            return float(self.weight)
        if self.capacity is not None:
            return self.capacity / TIB
        return 1.0


@dataclass(frozen=True)
class ClusterMap:
    """Sites and nodes, validated: unique names, known sites and zones,
    positive weights and capacities, well-formed and unique addresses."""

    sites: tuple[SiteSpec, ...]
    nodes: tuple[NodeSpec, ...]
    _by_id: dict[str, NodeSpec] = field(init=False, repr=False, compare=False)

    def __init__(self, sites: Iterable[SiteSpec], nodes: Iterable[NodeSpec]) -> None:
        object.__setattr__(self, "sites", tuple(sites))
        object.__setattr__(self, "nodes", tuple(nodes))
        object.__setattr__(self, "_by_id", {n.node_id: n for n in self.nodes})
        self._validate()

    @classmethod
    def from_yaml_text(cls, text: str) -> ClusterMap:
        """Parse and validate a cluster map written in YAML."""
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ClusterMapError(f"cluster map is not valid YAML: {exc}") from None
        if not isinstance(doc, dict):
            raise ClusterMapError("cluster map must be a mapping with 'nodes' (and usually 'sites')")
        unknown = set(doc) - {"sites", "nodes"}
        if unknown:
            raise ClusterMapError(f"cluster map has unknown keys: {', '.join(sorted(map(str, unknown)))}")
        raw_sites = doc.get("sites")
        if raw_sites is None:
            sites = [SiteSpec(DEFAULT_SITE)]
        elif isinstance(raw_sites, list):
            sites = [_parse_site(i, entry) for i, entry in enumerate(raw_sites)]
        else:
            raise ClusterMapError("'sites' must be a list")
        raw_nodes = doc.get("nodes")
        if not isinstance(raw_nodes, list) or not raw_nodes:
            raise ClusterMapError("'nodes' must be a non-empty list")
        return cls(sites, [_parse_node(i, entry) for i, entry in enumerate(raw_nodes)])

    def node(self, node_id: str) -> NodeSpec:
        """The node with this id (KeyError if the map has none)."""
        return self._by_id[node_id]

    def ring_nodes(self) -> list[RingNode]:
        """The nodes as placement targets, with their weights and domains."""
        return [RingNode(n.node_id, n.effective_weight, n.site, n.zone) for n in self.nodes]

    def ring(self) -> Ring:
        """A placement ring over every node of the map."""
        return Ring(self.ring_nodes())

    def _validate(self) -> None:
        if not self.nodes:
            raise ClusterMapError("a cluster map needs at least one node")
        zones_of: dict[str, tuple[str, ...]] = {}
        for site in self.sites:
            _check_name("site name", site.name)
            if site.name in zones_of:
                raise ClusterMapError(f"site {site.name!r} is listed twice")
            for zone in site.zones:
                _check_name(f"site {site.name!r}: zone name", zone)
            if len(set(site.zones)) != len(site.zones):
                raise ClusterMapError(f"site {site.name!r} lists a zone twice")
            zones_of[site.name] = site.zones
        addresses: dict[str, str] = {}
        seen: set[str] = set()
        for node in self.nodes:
            where = f"node {node.node_id!r}"
            _check_name("node id", node.node_id)
            if node.node_id in seen:
                raise ClusterMapError(f"{where} is listed twice")
            seen.add(node.node_id)
            _check_address(where, node.address)
            if node.address in addresses:
                raise ClusterMapError(f"{where} has the address of node {addresses[node.address]!r}: {node.address}")
            addresses[node.address] = node.node_id
            if node.site not in zones_of:
                known = ", ".join(sorted(zones_of)) or "none"
                raise ClusterMapError(f"{where} is in unknown site {node.site!r} (sites: {known})")
            _check_name(f"{where}: zone", node.zone)
            declared = zones_of[node.site]
            if declared and node.zone not in declared:
                raise ClusterMapError(
                    f"{where} is in zone {node.zone!r}, not one of site {node.site!r}'s zones: {', '.join(declared)}"
                )
            if node.weight is not None and not _positive(node.weight):
                raise ClusterMapError(f"{where}: weight must be a positive number, got {node.weight!r}")
            if node.capacity is not None and not (
                isinstance(node.capacity, int) and not isinstance(node.capacity, bool) and node.capacity > 0
            ):
                raise ClusterMapError(f"{where}: capacity must be a positive number of bytes, got {node.capacity!r}")


def _positive(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _check_name(what: str, name: object) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ClusterMapError(
            f"{what} must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit; got {name!r}"
        )


def _check_address(where: str, address: object) -> None:
    """``host:port``, ``[v6 address]:port``, or either after ``https://``."""
    if not isinstance(address, str):
        raise ClusterMapError(f"{where}: address must be host:port, got {address!r}")
    host, sep, port = address.removeprefix("https://").rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    valid = (
        sep == ":"
        and host
        and not any(c.isspace() for c in host)
        and port.isdigit()
        and 0 < int(port) < 65536
    )
    if not valid:
        raise ClusterMapError(f"{where}: address must be host:port, got {address!r}")


def parse_size(value: object) -> int:
    """Bytes from an integer or a string such as ``4TiB``, ``500 GB`` or
    ``1.5TB``. Units are B, KB, MB, GB, TB, PB (powers of 1000) and KiB, MiB,
    GiB, TiB, PiB (powers of 1024), in any case. ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        match = _SIZE.fullmatch(value)
        if match and match.group(2).lower() in _UNITS:
            return int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    raise ValueError(f"not a size: {value!r}")


def _parse_site(index: int, entry: object) -> SiteSpec:
    where = f"sites[{index}]"
    if isinstance(entry, str):
        return SiteSpec(entry)
    if not isinstance(entry, dict):
        raise ClusterMapError(f"{where} must be a site name or a mapping with 'name' and 'zones'")
    unknown = set(entry) - _SITE_KEYS
    if unknown:
        raise ClusterMapError(f"{where} has unknown keys: {', '.join(sorted(map(str, unknown)))}")
    name = entry.get("name")
    if not isinstance(name, str):
        raise ClusterMapError(f"{where} needs a 'name'")
    zones = entry.get("zones", [])
    if not isinstance(zones, list) or not all(isinstance(z, str) for z in zones):
        raise ClusterMapError(f"site {name!r}: 'zones' must be a list of names")
    return SiteSpec(name, tuple(zones))


def _parse_node(index: int, entry: object) -> NodeSpec:
    where = f"nodes[{index}]"
    if not isinstance(entry, dict):
        raise ClusterMapError(f"{where} must be a mapping with 'id' and 'address'")
    node_id = entry.get("id")
    if node_id is not None:
        where = f"node {node_id!r}"
    unknown = set(entry) - _NODE_KEYS
    if unknown:
        raise ClusterMapError(f"{where} has unknown keys: {', '.join(sorted(map(str, unknown)))}")
    if node_id is None:
        raise ClusterMapError(f"{where} needs an 'id'")
    if "address" not in entry:
        raise ClusterMapError(f"{where} needs an 'address'")
    raw: dict[str, Any] = dict(entry)
    capacity = raw.get("capacity")
    if capacity is not None:
        try:
            capacity = parse_size(capacity)
        except ValueError:
            raise ClusterMapError(f"{where}: capacity must be bytes or a size like 4TiB, got {capacity!r}") from None
    return NodeSpec(
        node_id=str(node_id) if isinstance(node_id, int) and not isinstance(node_id, bool) else node_id,
        address=raw["address"],
        site=raw.get("site", DEFAULT_SITE),
        zone=raw.get("zone", DEFAULT_ZONE),
        weight=raw.get("weight"),
        capacity=capacity,
    )


class NodeState(enum.Enum):
    """What the gateway last saw of a node. Only UP nodes take new fragments;
    a DRAINING node still serves reads while its data moves away."""

    UP = "up"
    DOWN = "down"
    DRAINING = "draining"


@dataclass(frozen=True)
class NodeStatus:
    """A node's state and its last measured round trip in seconds (None when
    not measured yet)."""

    state: NodeState = NodeState.UP
    rtt: float | None = None

    def __post_init__(self) -> None:
        if self.rtt is not None and not (math.isfinite(self.rtt) and self.rtt >= 0):
            raise ValueError(f"round trip must be a non-negative number of seconds, got {self.rtt!r}")


def unavailable_nodes(statuses: Mapping[str, NodeStatus]) -> frozenset[str]:
    """The nodes that must not take new fragments (down or draining), for
    :meth:`Ring.pick`'s ``unavailable``."""
    return frozenset(node_id for node_id, status in statuses.items() if status.state is not NodeState.UP)


def round_trips(statuses: Mapping[str, NodeStatus]) -> dict[str, float]:
    """Measured round trips by node, for :meth:`Ring.read_order`."""
    return {node_id: status.rtt for node_id, status in statuses.items() if status.rtt is not None}

