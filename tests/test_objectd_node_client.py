"""objectd.node_client against misbehaving nodes: silent, stalled, lying.

Each fake node is a real TLS server on loopback holding a real node
certificate, so only its behaviour differs from a node's."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from objectd.fragment_store import StoreOffline, fragment_id
from objectd.node_client import NodeRequestFailed, RemoteNodeStore, node_session
from tests.node_harness import ClusterCerts, make_certs

FID = fragment_id("0123456789abcdef0123456789abcdef", 0)

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> ClusterCerts:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
async def session(certs: ClusterCerts) -> AsyncIterator[aiohttp.ClientSession]:
    pool = node_session(certs.gateway_context())
    yield pool
    await pool.close()


@contextlib.asynccontextmanager
async def fake_node(certs: ClusterCerts, behaviour: Behaviour) -> AsyncIterator[str]:
    """A TLS server with node-a's certificate acting out ``behaviour``; its address."""
    tasks: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await behaviour(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=certs.node_context("node-a"))
    try:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    await asyncio.sleep(3600)


async def invite_then_stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(3600)  # never reads the body: the client's buffers fill up


async def accept_and_misreport(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    await writer.drain()
    await reader.readuntil(b"\r\n0\r\n\r\n")
    body = json.dumps({"id": FID, "size": 1}).encode()
    writer.write(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                 % (len(body), body))
    await writer.drain()
    await asyncio.sleep(3600)


async def test_a_silent_node_times_out_as_offline(certs: ClusterCerts, session: aiohttp.ClientSession) -> None:
    async with fake_node(certs, silent) as address:
        store = RemoteNodeStore("node-a", address, session, connect_timeout=2, read_timeout=0.5)
        async with asyncio.timeout(60):
            with pytest.raises(StoreOffline, match="timed out"):
                await store.read(FID, 0, 100)
            with pytest.raises(StoreOffline):
                await store.info()
            with pytest.raises(StoreOffline):
                await store.open_writer(FID)  # never invited to send the body


async def test_a_stalled_node_stops_the_writer_instead_of_filling_memory(
        certs: ClusterCerts, session: aiohttp.ClientSession) -> None:
    piece = b"p" * (1 << 20)
    async with fake_node(certs, invite_then_stall) as address:
        store = RemoteNodeStore("node-a", address, session, connect_timeout=2, read_timeout=5,
                                write_timeout=1)
        writer = await store.open_writer(FID)
        written = 0
        async with asyncio.timeout(120):
            with pytest.raises(StoreOffline):
                for _ in range(512):  # far more than any socket buffers hold
                    await writer.write(piece)
                    written += 1
        assert written < 512
        await writer.abort()


async def test_a_commit_the_node_misreports_fails(certs: ClusterCerts, session: aiohttp.ClientSession) -> None:
    async with fake_node(certs, accept_and_misreport) as address:
        store = RemoteNodeStore("node-a", address, session, connect_timeout=2, read_timeout=5,
                                write_timeout=10)
        writer = await store.open_writer(FID)
        await writer.write(b"twelve bytes")
        async with asyncio.timeout(60):
            with pytest.raises(NodeRequestFailed, match="stored 1 bytes of 12"):
                await writer.commit()
        with pytest.raises(ValueError):
            await writer.write(b"more")


def test_addresses(session: aiohttp.ClientSession) -> None:
    assert RemoteNodeStore("n1", "10.0.0.5:9100", session).base_url == "https://10.0.0.5:9100"
    assert RemoteNodeStore("n1", "https://[::1]:9100/", session).base_url == "https://[::1]:9100"
    assert RemoteNodeStore("n1", "h:1", session).server_name == "n1.node.objectd"
    with pytest.raises(ValueError):
        RemoteNodeStore("n1", "http://10.0.0.5:9100", session)
    with pytest.raises(ValueError):
        RemoteNodeStore("../n1", "10.0.0.5:9100", session)


async def test_invalid_requests_are_refused_before_sending(session: aiohttp.ClientSession) -> None:
    store = RemoteNodeStore("n1", "127.0.0.1:9", session)
    for call in (store.read("../x", 0, 1), store.delete("../x"), store.exists("../x"),
                 store.read(FID, -1, 5), store.read(FID, 0, 1 << 40)):
        with pytest.raises(ValueError):
            await call
