"""Node health: probing, states, round trips, failures reported by the data
path, and the read order the data path gets from it."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from objectd.fragment_store import FragmentCorrupt, FragmentNotFound, StoreOffline
from objectd.node_health import NodeHealth
from placement.cluster_map import ClusterMap, NodeState

CLUSTER = """
sites: [east, west]
nodes:
  - {id: e1, address: 10.0.0.1:9100, site: east, zone: a}
  - {id: e2, address: 10.0.0.2:9100, site: east, zone: b}
  - {id: w1, address: 10.0.1.1:9100, site: west, zone: a}
  - {id: w2, address: 10.0.1.2:9100, site: west, zone: b}
"""


class Nodes:
    """Scripted answers to probes: a state, an exception, or a delay."""

    def __init__(self) -> None:
        self.answers: dict[str, str | BaseException] = {}
        self.delays: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    async def probe(self, node_id: str) -> str:
        self.calls[node_id] = self.calls.get(node_id, 0) + 1
        await asyncio.sleep(self.delays.get(node_id, 0.0))
        answer = self.answers.get(node_id, "up")
        if isinstance(answer, BaseException):
            raise answer
        return answer


def make_health(nodes: Nodes, *, local_site: str = "", timeout: float = 1.0, interval: float = 60.0) -> NodeHealth:
    cluster = ClusterMap.from_yaml_text(CLUSTER)
    return NodeHealth(cluster.ring(), [n.node_id for n in cluster.nodes], nodes.probe,
                      local_site=local_site, interval=interval, timeout=timeout)


def states(health: NodeHealth) -> dict[str, NodeState]:
    return {node_id: record.state for node_id, record in health.records.items()}


async def test_nodes_are_down_until_probed_then_take_the_state_they_report() -> None:
    nodes = Nodes()
    health = make_health(nodes)
    assert health.down() == {"e1", "e2", "w1", "w2"}
    nodes.answers["w2"] = "draining"
    await health.probe_once()
    assert states(health) == {"e1": NodeState.UP, "e2": NodeState.UP, "w1": NodeState.UP,
                              "w2": NodeState.DRAINING}
    # Draining nodes take no new fragments but still serve reads.
    assert health.unavailable() == {"w2"}
    assert health.down() == frozenset()


async def test_a_node_that_fails_or_does_not_answer_in_time_is_down() -> None:
    nodes = Nodes()
    health = make_health(nodes, timeout=0.05)
    nodes.answers["e1"] = StoreOffline("connection refused")
    nodes.delays["w1"] = 5.0
    await asyncio.wait_for(health.probe_once(), 3)
    assert health.down() == {"e1", "w1"}
    assert health.unavailable() == {"e1", "w1"}
    assert "connection refused" in health.records["e1"].reason
    nodes.answers.pop("e1")
    nodes.delays.pop("w1")
    await health.probe_once()
    assert health.down() == frozenset()


async def test_round_trips_are_measured_and_smoothed() -> None:
    nodes = Nodes()
    health = make_health(nodes)
    nodes.delays["w1"] = 0.05
    await health.probe_once()
    first = health.rtts()["w1"]
    assert first >= 0.05
    assert health.rtts()["e1"] < first
    nodes.delays["w1"] = 0.0
    await health.probe_once()
    # One fast answer moves the average toward it, not all the way.
    assert health.rtts()["e1"] < health.rtts()["w1"] < first


@pytest.mark.parametrize("error", [StoreOffline("reset"), TimeoutError(), ConnectionResetError(),
                                   aiohttp.ServerDisconnectedError()])
async def test_unreachable_errors_from_the_data_path_mark_a_node_down_until_it_answers(error: BaseException) -> None:
    nodes = Nodes()
    health = make_health(nodes)
    await health.probe_once()
    health.report_failure("e2", error)
    assert health.down() == {"e2"}
    assert "e2" in health.unavailable()
    await health.probe_once()
    assert health.down() == frozenset()


@pytest.mark.parametrize("error", [FragmentNotFound("x"), FragmentCorrupt("bad piece"), ValueError("range")])
async def test_errors_the_node_answered_with_change_nothing(error: BaseException) -> None:
    nodes = Nodes()
    health = make_health(nodes)
    await health.probe_once()
    health.report_failure("e2", error)
    health.report_failure("unknown-node", StoreOffline("nobody"))
    assert health.down() == frozenset()


async def test_read_order_prefers_the_local_site_and_puts_down_nodes_last() -> None:
    nodes = Nodes()
    health = make_health(nodes, local_site="west")
    await health.probe_once()
    locations = ["e1", "w1", "e2", "w2"]  # 2+2: fragments 0 and 1 are data
    order = health.read_order(locations, k=2)
    assert {locations[i] for i in order[:2]} == {"w1", "w2"}
    assert sorted(order) == [0, 1, 2, 3]
    health.report_failure("w1", StoreOffline("gone"))
    order = health.read_order(locations, k=2)
    assert locations[order[-1]] == "w1"
    assert locations[order[0]] == "w2"


async def test_read_order_leaves_out_fragments_that_were_never_written() -> None:
    nodes = Nodes()
    health = make_health(nodes)
    await health.probe_once()
    assert sorted(health.read_order(["e1", "", "w1", "w2"], k=2)) == [0, 2, 3]


async def test_background_probing_runs_until_stopped() -> None:
    nodes = Nodes()
    health = make_health(nodes, interval=0.01)
    nodes.answers["e1"] = StoreOffline("down")
    health.start()
    try:
        async def probed_a_few_times() -> None:
            while nodes.calls.get("e1", 0) < 3:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(probed_a_few_times(), 10)
        assert health.down() == {"e1"}
        nodes.answers.pop("e1")

        async def recovered() -> None:
            while health.down():
                await asyncio.sleep(0.01)

        await asyncio.wait_for(recovered(), 10)
    finally:
        await health.stop()
    calls = dict(nodes.calls)
    await asyncio.sleep(0.05)
    assert nodes.calls == calls  # stopped means no more probes
