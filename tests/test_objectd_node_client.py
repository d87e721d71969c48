"""objectd.node_client against misbehaving nodes: silent, stalled, lying.

Each fake node is a real TLS server on loopback holding a real node
certificate, so only its behaviour differs from a node's."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import pytest

from objectd.fragment_store import FragmentCorrupt, FragmentNotFound, StoreOffline, fragment_id
from objectd.node_client import NodeConnections, NodeRequestFailed, RemoteNodeStore
from tests.node_harness import Behaviour, ClusterCerts, fake_node, make_certs

FID = fragment_id("0123456789abcdef0123456789abcdef", 0)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> ClusterCerts:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
async def session(certs: ClusterCerts) -> AsyncIterator[NodeConnections]:
    pool = NodeConnections(certs.gateway_context())
    yield pool
    await pool.close()


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


async def test_a_silent_node_times_out_as_offline(certs: ClusterCerts, session: NodeConnections) -> None:
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
        certs: ClusterCerts, session: NodeConnections) -> None:
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


async def test_a_commit_the_node_misreports_fails(certs: ClusterCerts, session: NodeConnections) -> None:
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


def test_addresses(session: NodeConnections) -> None:
    assert RemoteNodeStore("n1", "10.0.0.5:9100", session).base_url == "https://10.0.0.5:9100"
    assert RemoteNodeStore("n1", "https://[::1]:9100/", session).base_url == "https://[::1]:9100"
    assert RemoteNodeStore("n1", "h:1", session).server_name == "n1.node.objectd"
    with pytest.raises(ValueError):
        RemoteNodeStore("n1", "http://10.0.0.5:9100", session)
    with pytest.raises(ValueError):
        RemoteNodeStore("../n1", "10.0.0.5:9100", session)


async def test_invalid_requests_are_refused_before_sending(session: NodeConnections) -> None:
    store = RemoteNodeStore("n1", "127.0.0.1:9", session)
    for call in (store.read("../x", 0, 1), store.delete("../x"), store.exists("../x"),
                 store.read(FID, -1, 5), store.read(FID, 0, 1 << 40)):
        with pytest.raises(ValueError):
            await call


def answering(raw: bytes) -> Behaviour:
    """A node that answers every request with ``raw``."""

    async def behaviour(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            writer.write(raw)
            await writer.drain()

    return behaviour


def _answer(status: str, body: bytes, *headers: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 {status}\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


def _doc(code: str, message: str) -> bytes:
    return json.dumps({"error": code, "message": message}).encode()


async def test_a_read_returns_exactly_the_range_the_node_answers(certs: ClusterCerts,
                                                                 session: NodeConnections) -> None:
    body = bytes(range(256)) * 40
    raw = _answer("206 Partial Content", body, f"Content-Range: bytes 100-{100 + len(body) - 1}/{100 + len(body)}")
    async with fake_node(certs, answering(raw)) as address:
        store = RemoteNodeStore("node-a", address, session)
        for _ in range(3):
            assert await store.read(FID, 100, len(body)) == body
            assert await store.read(FID, 100, len(body) + 500) == body  # the end of the fragment
        assert session.opened == 1


@pytest.mark.parametrize("raw, error, match", [
    # Another range than asked, or a Content-Range that does not match the body.
    (_answer("206 Partial Content", b"x" * 10, "Content-Range: bytes 0-9/100"), NodeRequestFailed,
     "answered bytes 0-9"),
    (_answer("206 Partial Content", b"x" * 10, "Content-Range: bytes 100-119/1000"), NodeRequestFailed,
     "answered bytes 100-119/1000 in 10 bytes"),
    (_answer("206 Partial Content", b"x" * 10), NodeRequestFailed, "Content-Range"),
    # Short, but not at the end of the fragment.
    (_answer("206 Partial Content", b"x" * 50, "Content-Range: bytes 100-149/1000"), NodeRequestFailed,
     "answered bytes 100-149/1000 in 50 bytes for 100"),
    # More bytes than asked for: refused before they are kept.
    (_answer("206 Partial Content", b"x" * 101, "Content-Range: bytes 100-200/1000"), StoreOffline,
     "at most 100"),
    # Not HTTP as a node speaks it: something else answers at the node's address.
    (b"HTTP/1.1 206 Partial Content\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nxxxxx\r\n0\r\n\r\n",
     StoreOffline, "transfer coding"),
    (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", StoreOffline, "status line"),
    # A whole answer of the wrong kind.
    (_answer("200 OK", b"x" * 10), NodeRequestFailed, "HTTP 200"),
    (_answer("404 Not Found", _doc("not-found", "no such fragment")), FragmentNotFound, FID),
    (_answer("422 Unprocessable Entity", _doc("corrupt", "frame of segment 3")), FragmentCorrupt, "segment 3"),
    (_answer("503 Service Unavailable", _doc("offline", "disk gone")), StoreOffline, "disk gone"),
    (_answer("503 Service Unavailable", _doc("draining", "")), StoreOffline, "draining"),
    (_answer("400 Bad Request", _doc("bad-request", "nope")), NodeRequestFailed, "bad-request nope"),
    (_answer("500 Internal Server Error", b"<html>" * 20_000), NodeRequestFailed, "HTTP 500"),
])
async def test_answers_other_than_the_range_asked_are_refused(
        certs: ClusterCerts, session: NodeConnections, raw: bytes, error: type[Exception], match: str) -> None:
    async with fake_node(certs, answering(raw)) as address:
        store = RemoteNodeStore("node-a", address, session, read_timeout=10)
        async with asyncio.timeout(60):
            with pytest.raises(error, match=match):
                await store.read(FID, 100, 100)


async def test_a_range_past_the_end_reads_nothing(certs: ClusterCerts, session: NodeConnections) -> None:
    raw = _answer("416 Range Not Satisfiable", _doc("out-of-range", "the fragment has 50 bytes"),
                  "Content-Range: bytes */50")
    async with fake_node(certs, answering(raw)) as address:
        store = RemoteNodeStore("node-a", address, session)
        assert await store.read(FID, 100, 10) == b""


async def test_a_refused_connection_is_offline(session: NodeConnections) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = RemoteNodeStore("node-a", f"127.0.0.1:{port}", session, connect_timeout=2)
    with pytest.raises(StoreOffline, match="refused|Connect"):
        await store.read(FID, 0, 10)
