"""A gateway's view of one storage node: a remote :class:`FragmentStore`.

Requests go over the gateway's :class:`~objectd.node_connection.NodeConnections`
(keep-alive, mutual TLS with :func:`objectd.certs.client_context`), each
checked against the certificate name of the node it is meant for
(:func:`objectd.certs.node_server_name`): a process at the node's address
holding another node's certificate is refused. Fragment reads take the
connections' own buffered path; everything else goes through its aiohttp
session.

A fragment is written as one streamed PUT: :meth:`RemoteFragmentWriter.write`
feeds a small bounded queue that the request body drains, so a slow node slows
its writer instead of filling memory; :meth:`~RemoteFragmentWriter.commit` ends
the body and waits for the node's 201; :meth:`~RemoteFragmentWriter.abort`
cuts the request, and the node discards what it had.

Deliberately without ``write_sync``/``read_sync``: the data path's local-drive
fast paths must never run a network call on a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from yarl import URL

from objectd.certs import node_server_name
from objectd.fragment_store import FragmentCorrupt, FragmentNotFound, StoreOffline
from objectd.node_connection import NodeConnections
from objectd.node_protocol import (
    FRAGMENTS_PATH,
    HEALTH_PATH,
    INFO_PATH,
    MAX_READ,
    ErrorCode,
    NodeInfo,
    cache_header,
    error_code_of,
    fragment_path,
    parse_fragment_page,
    range_header,
)
from objectd.node_response import Answer, ResponseInvalid, parse_content_range

__all__ = ["NodeConnections", "NodeInfo", "NodeRequestFailed", "RemoteFragmentWriter", "RemoteNodeStore"]

WRITE_QUEUE_DEPTH = 2
"""Pieces a writer may hold before ``write`` waits for the node."""
_ERROR_BODY_LIMIT = 4096
_TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError, ConnectionError, ssl.SSLError)
"""Failures of the connection rather than answers of the node."""


class NodeRequestFailed(Exception):
    """The node answered, but not as the request needed (status and reason)."""

    def __init__(self, node_id: str, status: int, code: ErrorCode | None, message: str) -> None:
        super().__init__(f"node {node_id}: HTTP {status} {code.value if code else ''} {message}".strip())
        self.status = status
        self.code = code


def _base_url(address: str) -> str:
    if address.startswith("https://"):
        return address.rstrip("/")
    if "://" in address:
        raise ValueError(f"node address must be https:// or HOST:PORT, got {address!r}")
    return f"https://{address}"


class RemoteNodeStore:
    """A :class:`~objectd.fragment_store.FragmentStore` on a storage node.

    ``address``: ``https://HOST:PORT`` or ``HOST:PORT``. ``connections``:
    the gateway's, shared by all its nodes; they stay open on :meth:`close`
    unless ``owns_connections``. Timeouts, in seconds: establishing
    a connection (TCP and TLS), each wait for bytes of an answer, and each
    wait while writing (the node taking the next piece, or its final answer).
    """

    def __init__(self, node_id: str, address: str, connections: NodeConnections, *,
                 connect_timeout: float = 2.0, read_timeout: float = 10.0, write_timeout: float = 30.0,
                 owns_connections: bool = False) -> None:
        self.store_id = node_id
        self.node_id = node_id
        self.server_name = node_server_name(node_id)
        self.base_url = _base_url(address)
        url = URL(self.base_url)
        if url.host is None or url.port is None:
            raise ValueError(f"node address needs a host and a port, got {address!r}")
        self._host, self._port = url.host, url.port
        self._authority = url.raw_authority
        self.connections = connections
        self.session = connections.session
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.write_timeout = write_timeout
        self._owns_connections = owns_connections
        self._read = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout)

    def __repr__(self) -> str:
        return f"RemoteNodeStore({self.node_id!r}, {self.base_url!r})"

    async def close(self) -> None:
        """Close the connections if this store owns them."""
        if self._owns_connections:
            await self.connections.close()

    # -- helpers -----------------------------------------------------------

    def offline(self, exc: BaseException) -> StoreOffline:
        """The StoreOffline raised for a transport failure (connection, TLS, timeout)."""
        what = "timed out" if isinstance(exc, TimeoutError) else repr(exc)
        return StoreOffline(f"node {self.node_id} at {self.base_url}: {what}")

    async def _failure(self, response: aiohttp.ClientResponse) -> Exception:
        """The exception for an unexpected answer."""
        try:
            raw = await response.content.read(_ERROR_BODY_LIMIT)
        except _TRANSPORT_ERRORS:
            raw = b""
        return self._failure_of(response.status, raw)

    def _failure_of(self, status: int, raw: bytes | bytearray) -> Exception:
        """The exception for an unexpected answer of ``status`` whose body
        begins with ``raw`` (the node's error document, when it is one)."""
        try:
            doc: Any = json.loads(raw) if raw else None
        except ValueError:
            doc = None
        code = error_code_of(doc)
        message = str(doc.get("message", "")) if isinstance(doc, dict) else ""
        if code in (ErrorCode.OFFLINE, ErrorCode.DRAINING):
            return StoreOffline(f"node {self.node_id}: {message or code.value}")
        if status == 409 and code == ErrorCode.EXISTS:
            return FileExistsError(f"node {self.node_id}: {message}")
        return NodeRequestFailed(self.node_id, status, code, message)

    def _request(self, method: str, path: str,
                 **kwargs: Any) -> contextlib.AbstractAsyncContextManager[aiohttp.ClientResponse]:
        kwargs.setdefault("timeout", self._read)
        return self.session.request(method, self.base_url + path, server_hostname=self.server_name,
                                    **kwargs)

    # -- FragmentStore -----------------------------------------------------

    async def open_writer(self, fragment_id: str, *, cached: bool = True) -> RemoteFragmentWriter:
        """Start the PUT of a new fragment; returns once the node has accepted
        it (FileExistsError if it exists, StoreOffline if the node cannot
        take it, NodeRequestFailed for other refusals). ``cached=False`` asks
        the node not to keep it in its page cache (a parity fragment)."""
        writer = RemoteFragmentWriter(self, fragment_id, cached)
        await writer.start()
        return writer

    async def read(self, fragment_id: str, offset: int, length: int) -> bytes | bytearray:
        """``length`` bytes at ``offset`` (fewer at the end of the fragment),
        whole frames verified by the node: FragmentCorrupt when one is bad,
        FragmentNotFound when the node does not have it, StoreOffline when
        the node cannot be reached, answers too slowly or does not speak the
        node protocol, NodeRequestFailed when it answers other bytes than
        those asked for."""
        if offset < 0 or length < 0:
            raise ValueError(f"invalid range: offset {offset}, length {length}")
        if length > MAX_READ:
            raise ValueError(f"a read of {length} bytes exceeds {MAX_READ}")
        if length == 0:
            if not await self.exists(fragment_id):
                raise FragmentNotFound(fragment_id)
            return b""
        head = (f"GET {fragment_path(fragment_id)} HTTP/1.1\r\nHost: {self._authority}\r\n"
                f"Range: {range_header(offset, length)}\r\n\r\n").encode("ascii")
        try:
            answer = await self.connections.fetch(
                self._host, self._port, self.server_name, head, length,
                connect_timeout=self.connect_timeout, read_timeout=self.read_timeout)
        except (ResponseInvalid, OSError) as exc:
            # Not HTTP as a node speaks it (another service on its port), or a
            # connection, TLS or timeout failure: the node is not there.
            raise self.offline(exc) from exc
        return self._range_of(fragment_id, offset, length, answer)

    def _range_of(self, fragment_id: str, offset: int, length: int, answer: Answer) -> bytes | bytearray:
        """The bytes of a fragment read's answer, or what it means instead."""
        status = answer.head.status
        if status == 206:
            try:
                got = parse_content_range(answer.head.headers.get("content-range"))
            except ResponseInvalid as exc:
                raise NodeRequestFailed(self.node_id, status, None, str(exc)) from exc
            # Short only at the end of the fragment (the length was checked
            # against the range asked before any byte was kept).
            if got.first != offset or got.length != len(answer.body) or (
                    got.last != offset + length - 1 and got.last != got.size - 1):
                raise NodeRequestFailed(self.node_id, status, None,
                                        f"answered bytes {got.first}-{got.last}/{got.size} in "
                                        f"{len(answer.body)} bytes for {length} at {offset}")
            return answer.body
        if status == 404:
            raise FragmentNotFound(fragment_id)
        if status == 416:
            return b""
        if status == 422:
            raise FragmentCorrupt(f"node {self.node_id}: {answer.body[:_ERROR_BODY_LIMIT].decode(errors='replace')}")
        raise self._failure_of(status, answer.body)

    async def delete(self, fragment_id: str) -> None:
        """Delete a fragment on the node (missing is fine)."""
        try:
            async with self._request("DELETE", fragment_path(fragment_id)) as resp:
                if resp.status not in (200, 204, 404):
                    raise await self._failure(resp)
        except _TRANSPORT_ERRORS as exc:
            raise self.offline(exc) from exc

    async def exists(self, fragment_id: str) -> bool:
        """Whether the node holds a committed fragment of that id."""
        try:
            async with self._request("HEAD", fragment_path(fragment_id)) as resp:
                if resp.status == 200:
                    return True
                if resp.status == 404:
                    return False
                if resp.status == 503:
                    raise StoreOffline(f"node {self.node_id}: disk not available")
                raise NodeRequestFailed(self.node_id, resp.status, None, "")
        except _TRANSPORT_ERRORS as exc:
            raise self.offline(exc) from exc

    # -- node management ---------------------------------------------------

    async def _get_json(self, path: str, params: dict[str, str] | None = None) -> Any:
        try:
            async with self._request("GET", path, params=params) as resp:
                if resp.status != 200:
                    raise await self._failure(resp)
                return await resp.json()
        except _TRANSPORT_ERRORS as exc:
            raise self.offline(exc) from exc

    async def info(self) -> NodeInfo:
        """The node's identity, space, usage and state (``/v1/info``)."""
        doc = await self._get_json(INFO_PATH)
        info = NodeInfo.from_json(doc)
        if info.id != self.node_id:
            raise StoreOffline(f"node at {self.base_url} reports id {info.id!r}, not {self.node_id!r}")
        return info

    async def health(self) -> bool:
        """Whether the node answers its health check with 200."""
        try:
            async with self._request("GET", HEALTH_PATH) as resp:
                return resp.status == 200
        except _TRANSPORT_ERRORS as exc:
            raise self.offline(exc) from exc

    async def list_fragments(self, after: str = "", limit: int = 1000) -> list[str]:
        """Up to ``limit`` committed fragment ids greater than ``after``,
        sorted; fewer than ``limit`` means the listing is complete."""
        params = {"limit": str(limit)}
        if after:
            params["after"] = after
        return parse_fragment_page(await self._get_json(FRAGMENTS_PATH, params))


class RemoteFragmentWriter:
    """One fragment streaming to a node as the body of a single PUT."""

    def __init__(self, store: RemoteNodeStore, fragment_id: str, cached: bool = True) -> None:
        self._store = store
        self.fragment_id = fragment_id
        self._headers = {"Content-Type": "application/octet-stream", **cache_header(cached)}
        self._path = fragment_path(fragment_id)
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(WRITE_QUEUE_DEPTH)
        self._accepted = asyncio.Event()
        self._task: asyncio.Task[tuple[int, Any]] | None = None
        self._sent = 0
        self._closed = False

    async def _body(self) -> AsyncIterator[bytes]:
        # aiohttp pulls the body only after the node's "100 Continue".
        self._accepted.set()
        while True:
            item = await self._queue.get()
            if item is None:
                return
            yield item

    async def _exchange(self) -> tuple[int, Any]:
        store = self._store
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=store.connect_timeout,
                                        sock_read=store.write_timeout)
        async with store.session.put(
            store.base_url + self._path, data=self._body(), expect100=True,
            server_hostname=store.server_name, timeout=timeout, headers=self._headers,
        ) as resp:
            if resp.status == 201:
                return resp.status, await resp.json()
            raise await store._failure(resp)

    def _fail(self, exc: BaseException) -> BaseException:
        if isinstance(exc, _TRANSPORT_ERRORS):
            return self._store.offline(exc)
        return exc

    async def start(self) -> None:
        """Send the request head and wait until the node invites the body."""
        self._task = asyncio.ensure_future(self._exchange())
        accepted = asyncio.ensure_future(self._accepted.wait())
        try:
            done, _ = await asyncio.wait(
                {accepted, self._task}, timeout=self._store.connect_timeout + self._store.read_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        except BaseException:
            accepted.cancel()
            await self.abort()
            raise
        accepted.cancel()
        if self._task.done():
            exc = self._task.exception()
            self._closed = True
            if exc is None:
                raise NodeRequestFailed(self._store.node_id, 201, None, "answered before the body was sent")
            raise self._fail(exc) from exc
        if not done:
            await self.abort()
            raise StoreOffline(f"node {self._store.node_id}: timed out waiting to accept a fragment")

    async def _put(self, item: bytes | None) -> None:
        """Queue ``item`` for the body, or raise what ended the request."""
        assert self._task is not None
        if self._closed:
            raise ValueError("writer is closed")
        if not self._task.done() and not self._queue.full():
            self._queue.put_nowait(item)
            return
        put = asyncio.ensure_future(self._queue.put(item))
        try:
            done, _ = await asyncio.wait({put, self._task}, timeout=self._store.write_timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            put.cancel()
            raise
        if put in done:
            return
        put.cancel()
        if self._task.done():
            await self.abort()
            exc = self._task.exception() if not self._task.cancelled() else None
            if exc is None:
                raise StoreOffline(f"node {self._store.node_id}: request ended before the body")
            raise self._fail(exc) from exc
        await self.abort()
        raise StoreOffline(f"node {self._store.node_id}: timed out taking fragment bytes")

    async def write(self, data: bytes | memoryview) -> None:
        """Append bytes to the fragment (waits while the node is behind)."""
        piece = data if isinstance(data, bytes) else bytes(data)
        if piece:
            await self._put(piece)
            self._sent += len(piece)

    async def commit(self) -> None:
        """End the body and wait for the node to make the fragment durable.
        Raises (FileExistsError, StoreOffline, NodeRequestFailed) unless the
        node answered 201 for exactly the bytes sent."""
        await self._put(None)
        assert self._task is not None
        try:
            status, doc = await asyncio.wait_for(asyncio.shield(self._task), self._store.write_timeout)
        except TimeoutError as exc:
            if not self._task.done():
                await self.abort()
                raise StoreOffline(f"node {self._store.node_id}: timed out committing a fragment") from exc
            self._closed = True
            raise self._fail(exc) from exc
        except asyncio.CancelledError:
            await self.abort()
            raise
        except Exception as exc:
            self._closed = True
            raise self._fail(exc) from exc
        self._closed = True
        if not isinstance(doc, dict) or doc.get("size") != self._sent:
            raise NodeRequestFailed(self._store.node_id, status, None,
                                    f"stored {doc.get('size') if isinstance(doc, dict) else '?'} bytes "
                                    f"of {self._sent}")

    async def abort(self) -> None:
        """Cut the request: the node discards the fragment. Safe to repeat."""
        self._closed = True
        task = self._task
        if task is None or task.done():
            if task is not None and not task.cancelled():
                task.exception()  # retrieved: nothing to log later
            return
        task.cancel()
        await asyncio.wait({task})
        if not task.cancelled():
            task.exception()
