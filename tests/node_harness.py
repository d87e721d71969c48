"""Real storage nodes for tests: certificates, fragment bytes, a node served
from a background thread on an ephemeral loopback port, raw TLS requests."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import os
import socket
import ssl
import threading
import time
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from erasure.codec import ErasureCodec
from erasure.layout import StripeLayout
from erasure.stripe import StripeEncoder
from objectd.certs import (
    CertFiles,
    client_context,
    create_ca,
    issue_gateway_cert,
    issue_node_cert,
    node_server_name,
    server_context,
)
from objectd.node_server import NodeServer
from objectd.node_store import NodeStore

SEGMENT = 4096

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass(frozen=True)
class ClusterCerts:
    """A cluster CA with two nodes and a gateway, and a rogue CA with its own."""

    ca: Path
    nodes: dict[str, CertFiles]
    gateway: CertFiles
    rogue_ca: Path
    rogue_gateway: CertFiles
    rogue_node: CertFiles

    def gateway_context(self) -> ssl.SSLContext:
        """The cluster gateway's client context."""
        return client_context(self.ca, self.gateway.cert, self.gateway.key)

    def node_context(self, node_id: str) -> ssl.SSLContext:
        """Node ``node_id``'s server context."""
        files = self.nodes[node_id]
        return server_context(self.ca, files.cert, files.key)


def make_certs(folder: Path) -> ClusterCerts:
    """Issue everything a node test needs under ``folder``."""
    ca = folder / "ca"
    create_ca(ca)
    nodes = {node_id: issue_node_cert(ca, node_id, ["127.0.0.1", "localhost"])
             for node_id in ("node-a", "node-b")}
    gateway = issue_gateway_cert(ca, "gw")
    rogue = folder / "rogue"
    create_ca(rogue, common_name="another cluster")
    return ClusterCerts(
        ca=ca, nodes=nodes, gateway=gateway, rogue_ca=rogue,
        rogue_gateway=issue_gateway_cert(rogue, "gw"),
        rogue_node=issue_node_cert(rogue, "node-a", ["127.0.0.1"]),
    )


def fragment_frames(stream_id: str, index: int, size: int, *, k: int = 4, m: int = 2,
                    encrypted: bool = True) -> list[bytes]:
    """The frames of fragment ``index`` of a real stream of ``size`` bytes,
    in segment order: what a gateway writes to a node."""
    codec = ErasureCodec(StripeLayout(k=k, m=m, segment_size=SEGMENT))
    try:
        key = os.urandom(32) if encrypted else None
        encoder = StripeEncoder(codec.layout, codec, bytes.fromhex(stream_id), key)
        body = hashlib.sha256(stream_id.encode()).digest() * (size // 32 + 1)
        return [encoder.encode_segment(seg, body[start : start + SEGMENT])[index]
                for seg, start in enumerate(range(0, size, SEGMENT))]
    finally:
        codec.close()


class NodeThread:
    """A :class:`NodeServer` on its own event loop in a background thread, so
    tests can talk to it from async code and blocking sockets alike."""

    def __init__(self, store: NodeStore, context: ssl.SSLContext, *, draining: bool = False) -> None:
        self.server = NodeServer(store, context, draining=draining)
        self.loop = asyncio.new_event_loop()
        self.url = ""
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    @property
    def port(self) -> int:
        """The port the node listens on."""
        return int(self.url.rpartition(":")[2])

    @property
    def data_dir(self) -> Path:
        """The node's data folder."""
        return self.server.store.root

    def _call(self, coro_factory: Callable[[], object], timeout: float = 30.0) -> object:
        future: Future[object] = asyncio.run_coroutine_threadsafe(coro_factory(), self.loop)  # type: ignore[arg-type]
        return future.result(timeout)

    def start(self) -> NodeThread:
        """Listen on an ephemeral loopback port."""
        self._thread.start()
        self.url = str(self._call(lambda: self.server.start("127.0.0.1", 0)))
        return self

    def stop(self) -> None:
        """Stop the server, let its connections' tasks end, stop the loop."""

        async def stop_all() -> None:
            await self.server.stop()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        try:
            self._call(stop_all)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()


def tls_socket(port: int, context: ssl.SSLContext, server_name: str, timeout: float = 10.0) -> ssl.SSLSocket:
    """A TLS connection to a node on loopback, handshake done."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return context.wrap_socket(sock, server_hostname=server_name)
    except BaseException:
        sock.close()
        raise


@dataclass(frozen=True)
class RawAnswer:
    """Status, headers and body of one raw request."""

    status: int
    headers: dict[str, str]
    body: bytes


def raw_request(port: int, context: ssl.SSLContext, node_id: str, method: str, target: str,
                headers: dict[str, str] | None = None, body: bytes | None = None) -> RawAnswer:
    """Send ``target`` exactly as given (no normalising) over mutual TLS."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=20)
    conn.sock = tls_socket(port, context, node_server_name(node_id))
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", node_server_name(node_id))
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        data = response.read()
        return RawAnswer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> content): a snapshot to
    prove a request changed nothing."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def wait_until(condition: Callable[[], bool], timeout: float = 20.0, interval: float = 0.05) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes; its last verdict."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return condition()
        time.sleep(interval)
    return True


@contextlib.asynccontextmanager
async def fake_node(certs: ClusterCerts, behaviour: Behaviour) -> AsyncIterator[str]:
    """A TLS server with node-a's certificate acting out ``behaviour`` on
    every connection (a real node's credentials, made-up behaviour); its
    ``HOST:PORT``."""
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
