"""The gateway's view of its storage nodes: state and round-trip time.

A prober asks every node for its info document every ``interval`` seconds.
A node that answers is *up* (or *draining*, if it says so) and its round-trip
time feeds a moving average; a node that does not answer within the timeout is
*down*. The data path also reports failures as they happen (a refused
connection, a timeout), so a node that dies between probes is avoided at
once rather than on the next probe. The ring takes these states as input:
down and draining nodes receive no new fragments, down nodes are read last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import aiohttp

from objectd.fragment_store import StoreOffline
from placement.cluster_map import NodeState
from placement.ring import Ring

log = logging.getLogger("objectd.nodes")

# Errors that mean the node itself did not answer (refused, reset, timed out:
# RemoteNodeStore raises StoreOffline for all of them), as opposed to an
# answer that was an error (a missing or corrupt fragment).
UNREACHABLE: tuple[type[BaseException], ...] = (
    StoreOffline, TimeoutError, ConnectionError, aiohttp.ClientConnectionError,
)

RTT_SMOOTHING = 0.3
UNKNOWN_RTT = 1.0  # seconds: a node never measured sorts after measured ones


@dataclass
class NodeRecord:
    """What the gateway knows of one node."""

    state: NodeState = NodeState.DOWN
    rtt: float = UNKNOWN_RTT
    last_seen: float = 0.0
    reason: str = "not probed yet"


Probe = Callable[[str], Awaitable[str]]
"""Ask one node for its state ("up" or "draining"); raises when it does not answer."""


class NodeHealth:
    """Probes nodes, keeps their state and round-trip time, and answers the
    data path's two questions: where not to write, and in what order to read."""

    def __init__(self, ring: Ring, node_ids: Iterable[str], probe: Probe, *,
                 local_site: str = "", interval: float = 2.0, timeout: float = 2.0) -> None:
        self.ring = ring
        self.records: dict[str, NodeRecord] = {node_id: NodeRecord() for node_id in node_ids}
        self._probe = probe
        self.local_site = local_site
        self.interval = interval
        self.timeout = timeout
        self._task: asyncio.Task[None] | None = None

    # -- what the data path asks ---------------------------------------------

    def unavailable(self) -> frozenset[str]:
        """Nodes that must not receive new fragments: down or draining."""
        return frozenset(n for n, r in self.records.items() if r.state is not NodeState.UP)

    def down(self) -> frozenset[str]:
        """Nodes that did not answer their last probe or failed since."""
        return frozenset(n for n, r in self.records.items() if r.state is NodeState.DOWN)

    def rtts(self) -> Mapping[str, float]:
        """Smoothed round-trip time of each node, in seconds."""
        return {n: r.rtt for n, r in self.records.items()}

    def read_order(self, locations: Sequence[str], k: int) -> list[int]:
        """Fragment indexes best first (the ring's proximity order), nodes
        known to be down moved to the end: they are tried only when nothing
        else is left."""
        order = self.ring.read_order(locations, k, self.local_site, self.rtts())
        down = self.down()
        near = [i for i in order if locations[i] not in down]
        return near + [i for i in order if locations[i] in down]

    def report_failure(self, node_id: str, error: BaseException) -> None:
        """The data path saw a request to ``node_id`` fail. A node that could
        not be reached or timed out is down until a probe answers again; an
        error the node answered with (a missing or corrupt fragment) says
        nothing about the node, so it changes nothing."""
        if not isinstance(error, UNREACHABLE):
            return
        record = self.records.get(node_id)
        if record is not None and record.state is not NodeState.DOWN:
            log.warning("node marked down", extra={"node": node_id, "reason": repr(error)})
            record.state, record.reason = NodeState.DOWN, repr(error)

    # -- probing -------------------------------------------------------------

    async def probe_once(self) -> None:
        """Probe every node concurrently and record the outcome."""
        await asyncio.gather(*(self._probe_node(node_id) for node_id in self.records))

    async def _probe_node(self, node_id: str) -> None:
        record = self.records[node_id]
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                reported = await self._probe(node_id)
        except Exception as exc:  # any failure to answer means down
            if record.state is not NodeState.DOWN:
                log.warning("node down", extra={"node": node_id, "reason": repr(exc)})
            record.state, record.reason = NodeState.DOWN, repr(exc)
            return
        rtt = time.monotonic() - started
        state = NodeState.DRAINING if reported == "draining" else NodeState.UP
        if record.state is not state:
            log.info("node state", extra={"node": node_id, "state": state.value})
        record.rtt = rtt if record.last_seen == 0.0 else (1 - RTT_SMOOTHING) * record.rtt + RTT_SMOOTHING * rtt
        record.state, record.last_seen, record.reason = state, time.time(), ""

    def start(self) -> None:
        """Probe in the background every ``interval`` seconds."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.probe_once()
            except Exception:  # keep probing whatever one round did
                log.exception("node probe round failed")

    async def stop(self) -> None:
        """Stop probing."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
