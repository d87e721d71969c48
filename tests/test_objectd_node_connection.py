"""Tests for objectd.node_connection: the gateway's pooled fragment-read
connections, against fake nodes (real TLS servers with a real node
certificate), on uvloop (as objectd runs) and on asyncio."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import uvloop

from objectd.certs import node_server_name
from objectd.node_connection import IDLE_PER_NODE, ConnectionsClosed, NodeConnections
from objectd.node_response import Answer
from tests.node_harness import ClusterCerts, fake_node, make_certs

RUNNERS: dict[str, Callable[[Awaitable[Any]], Any]] = {"uvloop": uvloop.run, "asyncio": asyncio.run}
NAME = node_server_name("node-a")
REQUEST = b"GET /v1/fragments/x HTTP/1.1\r\nHost: node\r\nRange: bytes=0-9\r\n\r\n"
BODY = b"0123456789"


def partial(body: bytes = BODY, extra: bytes = b"") -> bytes:
    return (b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-%d/100\r\n%sContent-Length: %d\r\n\r\n"
            % (len(body) - 1, extra, len(body))) + body


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> ClusterCerts:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(params=sorted(RUNNERS))
def run(request: pytest.FixtureRequest) -> Callable[[Awaitable[Any]], Any]:
    return RUNNERS[request.param]


class Node:
    """Connections and requests a fake node saw."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        self.reader: asyncio.StreamReader | None = None


Script = Callable[[Node, int, int, asyncio.StreamWriter], Awaitable[bool]]
"""(node, connection number, request number on it, writer) -> keep serving."""


def scripted(node: Node, script: Script) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def behaviour(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        node.connections += 1
        node.reader = reader
        number = node.connections
        on_this = 0
        while True:
            try:
                await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            node.requests += 1
            on_this += 1
            if not await script(node, number, on_this, writer):
                return
            await writer.drain()

    return behaviour


async def answer_all(node: Node, conn: int, request: int, writer: asyncio.StreamWriter) -> bool:
    writer.write(partial())
    return True


async def fetch(pool: NodeConnections, address: str, *, read_timeout: float = 10.0,
                name: str = NAME, limit: int = 1 << 20) -> Answer:
    host, _, port = address.rpartition(":")
    return await pool.fetch(host, int(port), name, REQUEST, limit,
                            connect_timeout=5.0, read_timeout=read_timeout)


def idle(pool: NodeConnections, address: str, name: str = NAME) -> int:
    host, _, port = address.rpartition(":")
    return pool.idle_count(host, int(port), name)


@contextlib.asynccontextmanager
async def serving(certs: ClusterCerts, script: Script,
                  **pool_options: Any) -> AsyncIterator[tuple[Node, str, NodeConnections]]:
    """A fake node acting out ``script`` and a gateway pool for it: (the
    node's record, its address, the pool), the pool closed at the end."""
    node = Node()
    async with fake_node(certs, scripted(node, script)) as address:
        pool = NodeConnections(certs.gateway_context(), **pool_options)
        try:
            yield node, address, pool
        finally:
            await pool.close()


def test_reads_reuse_one_pooled_connection(certs: ClusterCerts, run: Callable[..., Any]) -> None:
    async def main() -> None:
        async with serving(certs, answer_all) as (node, address, pool):
            for _ in range(3):
                answer = await fetch(pool, address)
                assert answer.head.status == 206 and answer.body == BODY
            assert (pool.opened, node.connections, node.requests) == (1, 1, 3)
            assert idle(pool, address) == 1
            answers = await asyncio.gather(*(fetch(pool, address) for _ in range(4)))
            assert all(a.body == BODY for a in answers)
            assert pool.opened == 4 and idle(pool, address) == 4

    run(main())


def test_a_reused_connection_the_node_dropped_is_replaced_once(certs: ClusterCerts, run: Callable[..., Any]) -> None:
    async def first_answers_once(node: Node, conn: int, request: int, writer: asyncio.StreamWriter) -> bool:
        if conn == 1 and request == 2:
            return False  # closes without answering, as a node dropping an idle connection
        writer.write(partial())
        return True

    async def main() -> None:
        async with serving(certs, first_answers_once) as (node, address, pool):
            assert (await fetch(pool, address)).body == BODY
            assert (await fetch(pool, address)).body == BODY
            assert (pool.opened, node.connections, node.requests) == (2, 2, 3)

    run(main())


def test_a_new_connection_that_fails_is_not_retried(certs: ClusterCerts, run: Callable[..., Any]) -> None:
    async def hang_up(node: Node, conn: int, request: int, writer: asyncio.StreamWriter) -> bool:
        return False

    async def main() -> None:
        async with serving(certs, hang_up) as (node, address, pool):
            async with asyncio.timeout(30):
                with pytest.raises(ConnectionError):
                    await fetch(pool, address)
            assert node.connections == 1 and idle(pool, address) == 0

    run(main())


def test_an_answer_cut_midway_is_not_retried(certs: ClusterCerts, run: Callable[..., Any]) -> None:
    async def cut_the_second(node: Node, conn: int, request: int, writer: asyncio.StreamWriter) -> bool:
        if request == 2:
            writer.write(partial()[:-4])
            await writer.drain()
            return False
        writer.write(partial())
        return True

    async def main() -> None:
        async with serving(certs, cut_the_second) as (node, address, pool):
            await fetch(pool, address)
            with pytest.raises(ConnectionError):
                await fetch(pool, address)
            assert (node.connections, node.requests) == (1, 2)
            assert idle(pool, address) == 0

    run(main())


def test_a_silent_node_times_out_and_its_connection_closes(certs: ClusterCerts, run: Callable[..., Any]) -> None:
    async def main() -> None:
        hung_up = asyncio.Event()

        async def silent(node: Node, conn: int, request: int, writer: asyncio.StreamWriter) -> bool:
            assert node.reader is not None
            with contextlib.suppress(ConnectionError):
                await node.reader.read()  # until the gateway closes
            hung_up.set()
            return False

        async with serving(certs, silent) as (_, address, pool):
            async with asyncio.timeout(30):
                with pytest.raises(TimeoutError):
                    await fetch(pool, address, read_timeout=0.3)
                await hung_up.wait()
            assert idle(pool, address) == 0

    run(main())


def test_a_slow_but_steady_answer_is_not_cut(certs: ClusterCerts, run: Callable[..., Any]) -> None:
    body = os.urandom(40_000)

    async def trickle(node: Node, conn: int, request: int, writer: asyncio.StreamWriter) -> bool:
        raw = (b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-%d/100000\r\nContent-Length: %d\r\n\r\n"
               % (len(body) - 1, len(body))) + body
        step = len(raw) // 12 + 1
        for at in range(0, len(raw), step):
            writer.write(raw[at : at + step])
            await writer.drain()
            await asyncio.sleep(0.15)  # 1.8 s in all, never 1 s without a byte
        return True

    async def main() -> None:
        async with serving(certs, trickle) as (node, address, pool):
            answer = await fetch(pool, address, read_timeout=1.0)
            assert bytes(answer.body) == body

    run(main())


def test_a_cancelled_read_closes_its_connection(certs: ClusterCerts, run: Callable[..., Any]) -> None:
    async def main() -> None:
        began = asyncio.Event()
        hung_up = asyncio.Event()

        async def half_then_stall(node: Node, conn: int, request: int, writer: asyncio.StreamWriter) -> bool:
            writer.write(partial(b"z" * 100_000)[:50_000])
            await writer.drain()
            began.set()
            assert node.reader is not None
            try:
                if await node.reader.read(100) == b"":
                    hung_up.set()
            except ConnectionError:
                hung_up.set()
            return False

        async with serving(certs, half_then_stall) as (_, address, pool):
            task = asyncio.ensure_future(fetch(pool, address))
            await asyncio.wait_for(began.wait(), 30)
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert idle(pool, address) == 0
            await asyncio.wait_for(hung_up.wait(), 30)  # the gateway closed it

    run(main())


def test_answers_that_end_the_connection_are_not_pooled(certs: ClusterCerts, run: Callable[..., Any]) -> None:
    async def close_after(node: Node, conn: int, request: int, writer: asyncio.StreamWriter) -> bool:
        writer.write(partial(extra=b"Connection: close\r\n"))
        return True

    async def main() -> None:
        async with serving(certs, close_after) as (node, address, pool):
            assert (await fetch(pool, address)).body == BODY
            assert idle(pool, address) == 0
            assert (await fetch(pool, address)).body == BODY
            assert pool.opened == 2

    run(main())


def test_bytes_nobody_asked_for_close_the_connection(certs: ClusterCerts, run: Callable[..., Any]) -> None:
    async def babble(node: Node, conn: int, request: int, writer: asyncio.StreamWriter) -> bool:
        writer.write(partial())
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.write(b"HTTP/1.1 206 Partial Content\r\n")  # an answer to no request
        return True

    async def main() -> None:
        async with serving(certs, babble) as (node, address, pool):
            assert (await fetch(pool, address)).body == BODY
            for _ in range(100):
                if idle(pool, address) == 0:
                    break
                await asyncio.sleep(0.05)
            assert idle(pool, address) == 0
            assert (await fetch(pool, address)).body == BODY
            assert pool.opened == 2

    run(main())


def test_a_node_holding_another_name_is_refused(certs: ClusterCerts, run: Callable[..., Any]) -> None:
    async def main() -> None:
        async with serving(certs, answer_all) as (node, address, pool):
            with pytest.raises(ssl.SSLCertVerificationError):
                await fetch(pool, address, name=node_server_name("node-b"))
            assert node.requests == 0

    run(main())


def test_closing_fails_reads_in_flight(certs: ClusterCerts, run: Callable[..., Any]) -> None:
    async def silent(node: Node, conn: int, request: int, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(3600)
        return False

    async def main() -> None:
        async with serving(certs, silent) as (node, address, pool):
            task = asyncio.ensure_future(fetch(pool, address))
            while node.requests == 0:
                await asyncio.sleep(0.02)
            await pool.close()
            with pytest.raises(ConnectionError):
                await asyncio.wait_for(task, 30)

    run(main())


def test_connections_idle_past_the_keepalive_are_not_reused(certs: ClusterCerts, run: Callable[..., Any]) -> None:
    async def main() -> None:
        async with serving(certs, answer_all, keepalive_timeout=0.2) as (node, address, pool):
            await fetch(pool, address)
            await asyncio.sleep(0.4)
            await fetch(pool, address)
            assert pool.opened == 2 and node.connections == 2

    run(main())


def test_large_answers_arrive_intact(certs: ClusterCerts, run: Callable[..., Any]) -> None:
    # Many TLS records into one unfilled buffer: every byte must be the node's.
    bodies = [os.urandom(3 << 20), os.urandom((1 << 20) + 12_345)]

    async def answer_big(node: Node, conn: int, request: int, writer: asyncio.StreamWriter) -> bool:
        writer.write(partial(bodies[(request - 1) % 2]))
        return True

    async def main() -> None:
        async with serving(certs, answer_big) as (node, address, pool):
            for i in range(4):
                answer = await fetch(pool, address, limit=4 << 20)
                assert answer.body == bodies[i % 2]

    run(main())


def test_closing_stops_a_read_on_a_reused_connection(certs: ClusterCerts, run: Callable[..., Any]) -> None:
    async def answer_then_stall(node: Node, conn: int, request: int, writer: asyncio.StreamWriter) -> bool:
        if request == 2:
            await asyncio.sleep(3600)
        writer.write(partial())
        return True

    async def main() -> None:
        async with serving(certs, answer_then_stall) as (node, address, pool):
            await fetch(pool, address)
            task = asyncio.ensure_future(fetch(pool, address))
            while node.requests < 2:
                await asyncio.sleep(0.02)
            await pool.close()
            with pytest.raises(ConnectionError):
                await asyncio.wait_for(task, 30)
            assert pool.opened == 1 and node.connections == 1  # not sent again elsewhere
            with pytest.raises(ConnectionsClosed):
                await fetch(pool, address)

    run(main())


def test_reads_per_node_are_limited(certs: ClusterCerts, run: Callable[..., Any]) -> None:
    async def main() -> None:
        async with serving(certs, answer_all, limit_per_host=3) as (node, address, pool):
            answers = await asyncio.gather(*(fetch(pool, address) for _ in range(12)))
            assert all(a.body == BODY for a in answers)
            assert pool.opened == 3 and node.connections == 3

    run(main())


def test_idle_connections_per_node_are_capped(certs: ClusterCerts, run: Callable[..., Any]) -> None:
    async def main() -> None:
        burst = IDLE_PER_NODE + 8
        async with serving(certs, answer_all, limit_per_host=burst) as (_, address, pool):
            await asyncio.gather(*(fetch(pool, address) for _ in range(burst)))
            assert pool.opened == burst
            assert idle(pool, address) == IDLE_PER_NODE

    run(main())
