"""objectd.node_server: a real node (mutual TLS on a loopback port) driven by
the gateway's RemoteNodeStore, raw TLS requests and killed clients."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from erasure.framing import HEADER_SIZE
from objectd.certs import client_context, node_server_name, server_context
from objectd.drive_store import LocalDriveStore
from objectd.fragment_store import FragmentCorrupt, FragmentNotFound, StoreOffline, fragment_id
from objectd.node_client import NodeConnections, NodeRequestFailed, RemoteNodeStore
from objectd.node_protocol import CACHE_HEADER
from objectd.node_server import NodeConfig, NodeServer, NodeStartError, open_node
from objectd.node_store import NodeStore
from tests.node_harness import (
    ClusterCerts,
    NodeThread,
    fragment_frames,
    make_certs,
    raw_request,
    tls_socket,
    tree,
    wait_until,
)
from tests.page_cache import cached_pages

STREAM = "0123456789abcdef0123456789abcdef"
FID = fragment_id(STREAM, 1)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> ClusterCerts:
    return make_certs(tmp_path_factory.mktemp("certs"))


def start_node(certs: ClusterCerts, folder: Path, node_id: str = "node-a", **kwargs: object) -> NodeThread:
    store = NodeStore.open(folder, node_id=node_id, site="site-1", zone="zone-1")
    return NodeThread(store, certs.node_context(node_id), **kwargs).start()  # type: ignore[arg-type]


@pytest.fixture
def node(certs: ClusterCerts, tmp_path: Path) -> Iterator[NodeThread]:
    running = start_node(certs, tmp_path / "node-a")
    yield running
    running.stop()


@pytest.fixture
async def session(certs: ClusterCerts) -> AsyncIterator[NodeConnections]:
    pool = NodeConnections(certs.gateway_context())
    yield pool
    await pool.close()


@pytest.fixture
def remote(node: NodeThread, session: NodeConnections) -> RemoteNodeStore:
    return RemoteNodeStore("node-a", node.url, session, connect_timeout=5, read_timeout=20, write_timeout=20)


async def write_fragment(store: RemoteNodeStore, fid: str, frames: list[bytes]) -> None:
    writer = await store.open_writer(fid)
    for frame in frames:
        await writer.write(frame)
    await writer.commit()


def no_temporary_files(node: NodeThread) -> bool:
    return not any((node.data_dir / "tmp").iterdir())


def committed(node: NodeThread) -> list[str]:
    return sorted(p.name for p in (node.data_dir / "fragments").rglob("*") if p.is_file())


# --- the FragmentStore contract over the network -------------------------------


async def test_write_read_ranges_exists_delete(node: NodeThread, remote: RemoteNodeStore) -> None:
    frames = fragment_frames(STREAM, 1, 5 * 4096 + 333)
    full = len(frames[0])
    assert not await remote.exists(FID)
    await write_fragment(remote, FID, frames)
    assert await remote.exists(FID)
    whole = b"".join(frames)
    assert await remote.read(FID, 0, len(whole)) == whole
    assert await remote.read(FID, 2 * full, 2 * full) == frames[2] + frames[3]
    assert await remote.read(FID, 5 * full, 10 * full) == frames[5]  # fewer at the end
    assert await remote.read(FID, 7, 100) == whole[7:107]  # unaligned: served as is
    assert await remote.read(FID, len(whole), 10) == b""
    assert await remote.read(FID, 0, 0) == b""
    assert committed(node) == [FID] and no_temporary_files(node)
    await remote.delete(FID)
    assert not await remote.exists(FID)
    await remote.delete(FID)  # missing is fine
    with pytest.raises(FragmentNotFound):
        await remote.read(FID, 0, 10)
    with pytest.raises(FragmentNotFound):
        await remote.read(FID, 0, 0)


async def test_remote_store_has_no_local_fast_paths(remote: RemoteNodeStore) -> None:
    writer = await remote.open_writer(FID)
    try:
        assert not hasattr(remote, "read_sync") and not hasattr(writer, "write_sync")
    finally:
        await writer.abort()


async def test_a_fragment_is_never_replaced(certs: ClusterCerts, node: NodeThread,
                                            remote: RemoteNodeStore) -> None:
    original = fragment_frames(STREAM, 1, 4096)
    await write_fragment(remote, FID, original)
    with pytest.raises(FileExistsError):
        await remote.open_writer(FID)
    answer = raw_request(node.port, certs.gateway_context(), "node-a", "PUT", f"/v1/fragments/{FID}",
                         body=b"other bytes")
    assert answer.status == 409
    assert await remote.read(FID, 0, 1 << 20) == original[0]
    assert no_temporary_files(node)


async def test_a_fragment_put_uncached_leaves_the_node_page_cache(node: NodeThread,
                                                                  remote: RemoteNodeStore) -> None:
    parity = fragment_id(STREAM, 5)
    frames = fragment_frames(STREAM, 5, 16 << 20)  # 4 MiB of fragment: several write-back steps
    writer = await remote.open_writer(parity, cached=False)
    for frame in frames:
        await writer.write(frame)
    await writer.commit()
    data = fragment_id(STREAM, 0)
    await write_fragment(remote, data, fragment_frames(STREAM, 0, 16 << 20))
    stored = LocalDriveStore(node.data_dir)
    cached, pages = cached_pages(stored.path_of(parity))
    assert pages > 3 * 256 and cached <= pages // 20
    cached, pages = cached_pages(stored.path_of(data))
    assert cached >= pages - pages // 20
    whole = b"".join(frames)
    assert await remote.read(parity, 0, len(whole)) == whole


def test_an_unknown_cache_hint_is_ignored(certs: ClusterCerts, node: NodeThread) -> None:
    answer = raw_request(node.port, certs.gateway_context(), "node-a", "PUT", f"/v1/fragments/{FID}",
                         {CACHE_HEADER: "sometimes", "Expect": "100-continue"}, body=b"abc")
    assert answer.status == 201
    assert committed(node) == [FID] and no_temporary_files(node)
    cached, pages = cached_pages(LocalDriveStore(node.data_dir).path_of(FID))
    assert cached == pages == 1


async def test_two_writers_of_one_fragment(node: NodeThread, remote: RemoteNodeStore) -> None:
    frames = fragment_frames(STREAM, 1, 4096)
    first = await remote.open_writer(FID)
    await first.write(frames[0])
    with pytest.raises(NodeRequestFailed) as refused:
        await remote.open_writer(FID)
    assert refused.value.status == 409
    await first.commit()
    assert await remote.read(FID, 0, 1 << 20) == frames[0]


async def test_a_corrupt_frame_is_reported_not_served(node: NodeThread, remote: RemoteNodeStore) -> None:
    frames = fragment_frames(STREAM, 1, 3 * 4096)
    full = len(frames[0])
    await write_fragment(remote, FID, frames)
    path = next((node.data_dir / "fragments").rglob(FID))
    damaged = bytearray(path.read_bytes())
    damaged[full + HEADER_SIZE + 10] ^= 0x01  # one bit of segment 1's payload
    path.write_bytes(bytes(damaged))
    with pytest.raises(FragmentCorrupt):
        await remote.read(FID, full, full)
    with pytest.raises(FragmentCorrupt):
        await remote.read(FID, 0, 3 * full)
    assert await remote.read(FID, 0, full) == frames[0]
    assert await remote.read(FID, 2 * full, full) == frames[2]


async def test_list_pages_and_info(node: NodeThread, remote: RemoteNodeStore) -> None:
    ids = sorted(fragment_id(f"{i:02x}" + STREAM[2:], i % 6) for i in range(0, 250, 50))
    for fid in ids:
        await write_fragment(remote, fid, fragment_frames(STREAM, 0, 100))
    assert await remote.list_fragments(limit=2) == ids[:2]
    assert await remote.list_fragments(after=ids[1], limit=2) == ids[2:4]
    assert await remote.list_fragments(after=ids[3], limit=2) == ids[4:]
    assert await remote.list_fragments() == ids
    info = await remote.info()
    assert (info.id, info.site, info.zone, info.state) == ("node-a", "site-1", "zone-1", "up")
    assert info.fragments == len(ids)
    assert info.used_bytes == len(ids) * len(fragment_frames(STREAM, 0, 100)[0])
    assert 0 < info.free_bytes <= info.capacity_bytes
    assert info.version
    assert await remote.health()


async def test_a_draining_node_takes_no_new_fragments(certs: ClusterCerts, tmp_path: Path,
                                                      session: NodeConnections) -> None:
    folder = tmp_path / "drain"
    plain = start_node(certs, folder)
    store = RemoteNodeStore("node-a", plain.url, session)
    kept = fragment_frames(STREAM, 1, 4096)
    await write_fragment(store, FID, kept)
    plain.stop()
    draining = start_node(certs, folder, draining=True)
    try:
        store = RemoteNodeStore("node-a", draining.url, session)
        assert (await store.info()).state == "draining"
        with pytest.raises(StoreOffline):
            await store.open_writer(fragment_id(STREAM, 2))
        assert await store.read(FID, 0, 1 << 20) == kept[0]
        await store.delete(FID)
        assert not await store.exists(FID)
    finally:
        draining.stop()


async def test_a_node_whose_disk_is_gone_answers_offline(node: NodeThread, remote: RemoteNodeStore) -> None:
    frames = fragment_frames(STREAM, 1, 4096)
    await write_fragment(remote, FID, frames)
    moved = {name: node.data_dir / f"unmounted-{name}" for name in ("objectd-drive.id", "fragments", "tmp")}
    for name, away in moved.items():  # what an unmounted disk leaves: an empty mount point
        (node.data_dir / name).rename(away)
    other = fragment_id(STREAM, 2)
    calls = (lambda: remote.read(FID, 0, 100), lambda: remote.exists(other), remote.info,
             remote.list_fragments, lambda: remote.open_writer(other), lambda: remote.delete(FID))
    for call in calls:
        with pytest.raises(StoreOffline):
            await call()
    assert not await remote.health()
    for name, away in moved.items():
        away.rename(node.data_dir / name)
    assert await remote.health()
    assert await remote.read(FID, 0, 1 << 20) == frames[0]


# --- who may talk to a node ---------------------------------------------------------


async def test_gateway_refuses_a_node_whose_certificate_names_another_id(
        node: NodeThread, session: NodeConnections) -> None:
    impostor = RemoteNodeStore("node-b", node.url, session)  # node-a answers at that address
    with pytest.raises(StoreOffline, match="node-b.node.objectd"):
        await impostor.info()
    with pytest.raises(StoreOffline):
        await impostor.read(FID, 0, 10)
    with pytest.raises(StoreOffline):
        await impostor.open_writer(FID)
    assert committed(node) == [] and no_temporary_files(node)


async def test_nothing_listening_is_offline(session: NodeConnections) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = RemoteNodeStore("node-a", f"127.0.0.1:{port}", session, connect_timeout=2)
    with pytest.raises(StoreOffline):
        await store.read(FID, 0, 10)
    with pytest.raises(StoreOffline):
        await store.open_writer(FID)


def attempt_put(port: int, context: ssl.SSLContext) -> bytes:
    """Try a PUT over TLS with ``context``; whatever came back (empty when refused)."""
    try:
        sock = tls_socket(port, context, node_server_name("node-a"))
    except (ssl.SSLError, OSError):
        return b""
    with sock:
        try:
            body = b"x" * 100
            sock.sendall(f"PUT /v1/fragments/{FID} HTTP/1.1\r\nHost: n\r\nContent-Length: 100\r\n\r\n".encode()
                         + body)
            return sock.recv(4096)
        except (ssl.SSLError, OSError):
            return b""


def test_clients_without_a_cluster_certificate_get_nothing(certs: ClusterCerts, node: NodeThread) -> None:
    before = tree(node.data_dir)
    anonymous = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    anonymous.load_verify_locations(certs.ca / "ca.crt")
    rogue = client_context(certs.ca, certs.rogue_gateway.cert, certs.rogue_gateway.key)
    posing_node = client_context(certs.ca, certs.nodes["node-b"].cert, certs.nodes["node-b"].key)
    for context in (anonymous, rogue, posing_node):
        assert attempt_put(node.port, context) == b""
    assert tree(node.data_dir) == before
    assert attempt_put(node.port, certs.gateway_context()).startswith(b"HTTP/1.1 201")


def test_plain_http_on_the_tls_port_gets_nothing(node: NodeThread) -> None:
    before = tree(node.data_dir)
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as sock:
        sock.sendall(f"PUT /v1/fragments/{FID} HTTP/1.1\r\nHost: n\r\nContent-Length: 3\r\n\r\nabc".encode())
        received = b""
        try:
            while chunk := sock.recv(4096):
                received += chunk
        except OSError:
            pass
    assert not received.startswith(b"HTTP/")
    assert tree(node.data_dir) == before


def test_a_node_refuses_to_serve_without_required_client_certificates(certs: ClusterCerts,
                                                                      tmp_path: Path) -> None:
    lax = server_context(certs.ca, certs.nodes["node-a"].cert, certs.nodes["node-a"].key)
    lax.verify_mode = ssl.CERT_OPTIONAL
    store = NodeStore.open(tmp_path / "n", node_id="node-a")
    try:
        with pytest.raises(ValueError):
            NodeServer(store, lax)
    finally:
        store.close()


HOSTILE_TARGETS = [
    "/v1/fragments/../../x",
    "/v1/fragments/%2e%2e%2fx",
    "/v1/fragments/..%2F..%2Fetc%2Fpasswd",
    "/v1/fragments/%2E%2E/%2E%2E/outside/victim",
    "/v1/fragments/..",
    f"/v1/fragments/{STREAM}.01%00",
    f"/v1/fragments/{STREAM}.01%2F..%2F..%2F..%2Foutside%2Fvictim",
    f"/v1/fragments/{STREAM.upper()}.01",
    f"/v1/fragments/{STREAM}.1",
    "/v1/fragments/" + "a" * 5000,
    "/v1/fragments/" + "%2e%2e%2f" * 300 + "x",
    "/v1/fragments?after=../../x",
    "/v1/fragments?after=%2e%2e%2f&limit=5",
    "/v1/fragments?limit=-1",
]


@pytest.mark.parametrize("method", ["PUT", "GET", "HEAD", "DELETE"])
def test_hostile_fragment_ids_touch_nothing(certs: ClusterCerts, node: NodeThread, tmp_path: Path,
                                            method: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_bytes(b"precious")
    (tmp_path / "x").write_bytes(b"precious too")
    before = tree(tmp_path)
    context = certs.gateway_context()
    for target in HOSTILE_TARGETS:
        body = b"overwrite" if method == "PUT" else None
        headers = {"Range": "bytes=0-10"} if method == "GET" else {}
        answer = raw_request(node.port, context, "node-a", method, target, headers, body)
        expected = {405} if "?" in target and method != "GET" else {400, 404}
        assert answer.status in expected, (method, target, answer)
    assert tree(tmp_path) == before


# --- uploads cut short -----------------------------------------------------------


async def test_an_aborted_writer_leaves_nothing(node: NodeThread, remote: RemoteNodeStore) -> None:
    writer = await remote.open_writer(FID)
    for frame in fragment_frames(STREAM, 1, 8 * 4096):
        await writer.write(frame)
    await writer.abort()
    await writer.abort()
    assert await asyncio.to_thread(wait_until, lambda: no_temporary_files(node))
    assert committed(node) == []
    assert not await remote.exists(FID)
    # The id is free again once the cut upload is gone.
    second = fragment_frames(STREAM, 1, 4096)
    await write_fragment(remote, FID, second)
    assert await remote.read(FID, 0, 1 << 20) == second[0]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_cut_short_commits_nothing(certs: ClusterCerts, node: NodeThread, framing: str) -> None:
    sock = tls_socket(node.port, certs.gateway_context(), node_server_name("node-a"))
    with sock:
        if framing == "content-length":
            head = f"PUT /v1/fragments/{FID} HTTP/1.1\r\nHost: n\r\nContent-Length: 100000\r\n\r\n"
            body = b"y" * 50_000
        else:
            head = f"PUT /v1/fragments/{FID} HTTP/1.1\r\nHost: n\r\nTransfer-Encoding: chunked\r\n\r\n"
            body = b"c350\r\n" + b"y" * 50_000 + b"\r\n"  # one whole chunk, no terminator
        sock.sendall(head.encode() + body)
        assert wait_until(lambda: not no_temporary_files(node))  # the write was under way
    assert wait_until(lambda: no_temporary_files(node))
    assert committed(node) == []


def test_a_killed_client_leaves_nothing(certs: ClusterCerts, node: NodeThread) -> None:
    script = textwrap.dedent(f"""
        import socket, ssl, sys, time
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations({str(certs.ca / 'ca.crt')!r})
        context.load_cert_chain({str(certs.gateway.cert)!r}, {str(certs.gateway.key)!r})
        sock = context.wrap_socket(socket.create_connection(("127.0.0.1", {node.port})),
                                   server_hostname={node_server_name('node-a')!r})
        sock.sendall(b"PUT /v1/fragments/{FID} HTTP/1.1\\r\\nHost: n\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n")
        sock.sendall(b"1000\\r\\n" + b"z" * 4096 + b"\\r\\n")
        print("sent", flush=True)
        time.sleep(600)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "sent"
        assert wait_until(lambda: not no_temporary_files(node))
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    assert wait_until(lambda: no_temporary_files(node))
    assert committed(node) == []


def test_a_sized_put_without_expect_commits_and_an_empty_one_does_not(certs: ClusterCerts,
                                                                       node: NodeThread) -> None:
    context = certs.gateway_context()
    answer = raw_request(node.port, context, "node-a", "PUT", f"/v1/fragments/{FID}", body=b"abc")
    assert answer.status == 201 and b'"size": 3' in answer.body
    empty = raw_request(node.port, context, "node-a", "PUT", f"/v1/fragments/{fragment_id(STREAM, 2)}",
                        body=b"")
    assert empty.status == 400
    assert committed(node) == [FID] and no_temporary_files(node)
    ranged = raw_request(node.port, context, "node-a", "GET", f"/v1/fragments/{FID}")
    assert ranged.status == 400  # a Range is required


# --- starting a node ------------------------------------------------------------------


def config(certs: ClusterCerts, folder: Path, cert_of: str = "node-a", **kwargs: object) -> NodeConfig:
    files = certs.nodes[cert_of]
    return NodeConfig(data_dir=folder, host="127.0.0.1", port=0, ca=certs.ca, cert=files.cert, key=files.key,
                      **kwargs)  # type: ignore[arg-type]


def test_open_node_takes_its_id_from_the_certificate_and_checks_it(certs: ClusterCerts, tmp_path: Path) -> None:
    server = open_node(config(certs, tmp_path / "n"))
    assert server.node_id == "node-a"
    with pytest.raises(NodeStartError, match="another process"):
        open_node(config(certs, tmp_path / "n"))
    server.store.close()
    with pytest.raises(NodeStartError, match="node-b"):
        open_node(config(certs, tmp_path / "n", cert_of="node-b"))
    with pytest.raises(NodeStartError):
        open_node(config(certs, tmp_path / "n", node_id="node-b"))
    with pytest.raises(NodeStartError, match="certificate"):
        open_node(config(certs, tmp_path / "m", node_id="node-c"))
    assert not (tmp_path / "m" / "fragments").exists() or not any((tmp_path / "m" / "fragments").iterdir())
