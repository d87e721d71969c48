"""``objectd node``: a storage node serving its fragments to gateways.

An aiohttp application over :class:`objectd.node_store.NodeStore`, speaking the
API of :mod:`objectd.node_protocol`, served over HTTPS only with a client
certificate from the cluster CA required in the handshake
(:func:`objectd.certs.server_context`). A connection without one, with one
from another CA, or in plain HTTP never reaches a handler.

Writes stream to a temporary file as the body arrives and are committed
(fsync, rename, fsync the folder) only once the whole body has arrived, as its
Content-Length or the chunked terminator says; a body cut short leaves nothing.
Reads verify the frames they return. Fragment ids are checked against
``FRAGMENT_ID`` before anything touches the disk. File work runs off the event
loop.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import importlib.metadata
import logging
import signal
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from aiohttp import web

from erasure.malloc_tuning import tune_malloc
from objectd.certs import cert_node_ids, server_context
from objectd.drive_store import DriveFragmentWriter
from objectd.fragment_store import FragmentCorrupt, FragmentNotFound, StoreOffline
from objectd.gc_tuning import tune_gc
from objectd.node_protocol import (
    CACHE_HEADER,
    FRAGMENTS_PATH,
    HEALTH_PATH,
    INFO_PATH,
    SIZE_HEADER,
    STATUS_OF,
    ErrorCode,
    NodeInfo,
    NodeState,
    RequestInvalid,
    content_range,
    error_document,
    parse_cache_header,
    parse_list_query,
    parse_range,
    valid_fragment_id,
)
from objectd.node_store import NodeDataInUse, NodeIdMismatch, NodeStore

log = logging.getLogger("objectd.node")

FLUSH_BYTES = 1 << 20
"""Body bytes gathered before one write to disk (one thread hop)."""
READ_BUFSIZE = 256 << 10
SHUTDOWN_TIMEOUT = 10.0
KEEPALIVE_TIMEOUT = 75.0
"""Idle connections close after this; gateways close theirs sooner (60 s)."""
_MAX_IOVEC = 512
_T = TypeVar("_T")


def _version() -> str:
    try:
        return importlib.metadata.version("objectd")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def error_response(code: ErrorCode, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """An error answer: the code's status and its JSON document."""
    return web.json_response(error_document(code, message), status=STATUS_OF[code], headers=headers)


def _peer_authenticated(request: web.Request) -> bool:
    """Whether the connection carries a verified client certificate. The TLS
    context already requires one; this keeps a misconfigured listener from
    serving anyone."""
    transport = request.transport
    return transport is not None and bool(transport.get_extra_info("peercert"))


class NodeService:
    """The node's request handlers over one :class:`NodeStore`."""

    def __init__(self, store: NodeStore, *, draining: bool = False) -> None:
        self.store = store
        self.draining = draining
        self.version = _version()
        self._writing: set[str] = set()

    @property
    def state(self) -> NodeState:
        """``up``, or ``draining`` when the node takes no new fragments."""
        return NodeState.DRAINING if self.draining else NodeState.UP

    def app(self) -> web.Application:
        """The aiohttp application of the node API."""
        app = web.Application(middlewares=[self._guard])
        app.router.add_route("PUT", f"{FRAGMENTS_PATH}/{{fragment_id}}", self.put_fragment,
                             expect_handler=self._expect_put)
        app.router.add_route("GET", f"{FRAGMENTS_PATH}/{{fragment_id}}", self.get_fragment)
        app.router.add_route("HEAD", f"{FRAGMENTS_PATH}/{{fragment_id}}", self.head_fragment)
        app.router.add_route("DELETE", f"{FRAGMENTS_PATH}/{{fragment_id}}", self.delete_fragment)
        app.router.add_route("GET", FRAGMENTS_PATH, self.list_fragments)
        app.router.add_route("GET", INFO_PATH, self.info)
        app.router.add_route("GET", HEALTH_PATH, self.health)
        return app

    @web.middleware
    async def _guard(self, request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        """Only authenticated peers; every error answered as a JSON document."""
        if not _peer_authenticated(request):
            return error_response(ErrorCode.FORBIDDEN, "a client certificate is required")
        try:
            return await handler(request)
        except web.HTTPException as exc:
            code = ErrorCode.NOT_FOUND if exc.status == 404 else ErrorCode.BAD_REQUEST
            return web.json_response(error_document(code, exc.reason), status=exc.status)
        except Exception:
            log.exception("node request failed", extra={"method": request.method, "path": request.path})
            return error_response(ErrorCode.INTERNAL, "internal error")

    async def _run(self, func: Callable[..., _T], *args: object) -> _T:
        return await asyncio.get_running_loop().run_in_executor(None, func, *args)

    # -- writes ------------------------------------------------------------

    def _put_precheck_sync(self, fragment_id: str) -> tuple[bool, int]:
        """(exists, free bytes): one hop for the checks of a PUT
        (StoreOffline when the disk is gone)."""
        return self.store.size_of(fragment_id) is not None, self.store.space().free_bytes

    async def _refuse_put(self, request: web.Request, fragment_id: str) -> web.Response | None:
        """The answer refusing a PUT before its body is read, or None to accept it."""
        if not valid_fragment_id(fragment_id):
            return error_response(ErrorCode.INVALID_ID, "invalid fragment id")
        if self.draining:
            return error_response(ErrorCode.DRAINING, "the node is draining: it takes no new fragments")
        if fragment_id in self._writing:
            return error_response(ErrorCode.BUSY, "the fragment is being written")
        if not request.can_read_body:
            return error_response(ErrorCode.BAD_REQUEST, "a fragment needs a body")
        try:
            exists, free = await self._run(self._put_precheck_sync, fragment_id)
        except StoreOffline as exc:
            return error_response(ErrorCode.OFFLINE, str(exc))
        if exists:
            return error_response(ErrorCode.EXISTS, "the fragment exists; fragments are never replaced")
        if free <= 0 or (request.content_length is not None and request.content_length > free):
            return error_response(ErrorCode.FULL, "not enough free space")
        return None

    async def _expect_put(self, request: web.Request) -> web.StreamResponse | None:
        """``Expect: 100-continue``: refuse before the body is sent, or invite it."""
        if not _peer_authenticated(request):
            return error_response(ErrorCode.FORBIDDEN, "a client certificate is required")
        if request.headers.get("Expect", "").lower() != "100-continue":
            return web.json_response(error_document(ErrorCode.BAD_REQUEST, "unsupported Expect"),
                                     status=417)
        refusal = await self._refuse_put(request, request.match_info["fragment_id"])
        if refusal is not None:
            return refusal
        if request.version >= (1, 1):
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0
        return None

    async def put_fragment(self, request: web.Request) -> web.StreamResponse:
        """Stream a new fragment to disk; commit it once the body is complete."""
        fragment_id = request.match_info["fragment_id"]
        refusal = await self._refuse_put(request, fragment_id)
        if refusal is not None:
            return refusal
        # Checked again and taken with no await in between: one writer per id,
        # so two commits of one id never race (the rename would replace).
        if fragment_id in self._writing:
            return error_response(ErrorCode.BUSY, "the fragment is being written")
        cached = parse_cache_header(request.headers.get(CACHE_HEADER))
        self._writing.add(fragment_id)
        try:
            try:
                writer = await self._run(functools.partial(self.store.open_writer, fragment_id, cached=cached))
            except StoreOffline as exc:
                return error_response(ErrorCode.OFFLINE, str(exc))
            return await self._receive(request, fragment_id, writer)
        finally:
            self._writing.discard(fragment_id)

    async def _receive(self, request: web.Request, fragment_id: str,
                       writer: DriveFragmentWriter) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        size = 0
        pending: list[bytes] = []
        pending_bytes = 0
        try:
            while True:
                try:
                    chunk = await request.content.readany()
                except Exception as exc:  # the peer went away or broke the framing
                    await self._discard(writer)
                    log.info("fragment upload cut short, discarded",
                             extra={"fragment": fragment_id, "received": size + pending_bytes,
                                    "reason": repr(exc)})
                    return error_response(ErrorCode.BAD_REQUEST, "the body ended early")
                if chunk:
                    pending.append(chunk)
                    pending_bytes += len(chunk)
                if pending_bytes >= FLUSH_BYTES or (not chunk and pending):
                    batch: bytes | list[bytes] = pending if len(pending) <= _MAX_IOVEC else b"".join(pending)
                    await loop.run_in_executor(None, writer.write_sync, batch)
                    size += pending_bytes
                    pending, pending_bytes = [], 0
                if not chunk:
                    break
            if size == 0:
                await self._discard(writer)
                return error_response(ErrorCode.BAD_REQUEST, "empty fragment")
            await loop.run_in_executor(None, self.store.commit, writer, size)
        except FileExistsError:
            return error_response(ErrorCode.EXISTS, "the fragment exists; fragments are never replaced")
        except FileNotFoundError:
            # Its temporary file went: the fragment was deleted while being written.
            await self._discard(writer)
            return error_response(ErrorCode.BUSY, "the fragment was deleted while being written")
        except OSError as exc:
            await self._discard(writer)
            if exc.errno == errno.ENOSPC:
                return error_response(ErrorCode.FULL, "the disk is full")
            log.warning("fragment write failed", extra={"fragment": fragment_id, "reason": repr(exc)})
            return error_response(ErrorCode.OFFLINE, "the node's disk failed")
        except BaseException:
            await self._discard(writer)
            raise
        return web.json_response({"id": fragment_id, "size": size}, status=201)

    async def _discard(self, writer: DriveFragmentWriter) -> None:
        # Shielded: a cancelled upload still removes its temporary file.
        await asyncio.shield(asyncio.get_running_loop().run_in_executor(None, writer.abort_sync))

    # -- reads and the rest --------------------------------------------------

    async def get_fragment(self, request: web.Request) -> web.StreamResponse:
        """Bytes of a fragment (one range), its whole frames verified first."""
        fragment_id = request.match_info["fragment_id"]
        if not valid_fragment_id(fragment_id):
            return error_response(ErrorCode.INVALID_ID, "invalid fragment id")
        try:
            offset, length = parse_range(request.headers.get("Range"))
        except RequestInvalid as exc:
            return error_response(ErrorCode.BAD_REQUEST, str(exc))
        try:
            data, size = await self._run(self.store.read_verified, fragment_id, offset, length)
        except FragmentNotFound:
            return error_response(ErrorCode.NOT_FOUND, "no such fragment")
        except StoreOffline as exc:
            return error_response(ErrorCode.OFFLINE, str(exc))
        except FragmentCorrupt as exc:
            log.warning("fragment corrupt", extra={"fragment": fragment_id, "reason": str(exc)})
            return error_response(ErrorCode.CORRUPT, str(exc))
        except OSError as exc:
            log.warning("fragment read failed", extra={"fragment": fragment_id, "reason": repr(exc)})
            return error_response(ErrorCode.OFFLINE, "the node's disk failed")
        if not data:
            return error_response(ErrorCode.OUT_OF_RANGE, f"the fragment has {size} bytes",
                                  headers={"Content-Range": f"bytes */{size}"})
        response = web.StreamResponse(status=206, headers={
            "Content-Range": content_range(offset, len(data), size), SIZE_HEADER: str(size)})
        response.content_type = "application/octet-stream"
        response.content_length = len(data)
        writer = await response.prepare(request)
        if writer is not None:
            # The head goes out on its own: aiohttp would otherwise join it
            # and the body into one new buffer, a copy of every byte served.
            writer.send_headers()
        await response.write(data)
        await response.write_eof()
        return response

    async def head_fragment(self, request: web.Request) -> web.StreamResponse:
        """Whether a committed fragment exists, and its size."""
        fragment_id = request.match_info["fragment_id"]
        if not valid_fragment_id(fragment_id):
            return web.Response(status=400)
        try:
            size = await self._run(self.store.size_of, fragment_id)
        except StoreOffline:
            return web.Response(status=503)
        if size is None:
            return web.Response(status=404)
        return web.Response(status=200, headers={SIZE_HEADER: str(size)})

    async def delete_fragment(self, request: web.Request) -> web.StreamResponse:
        """Delete a fragment (committed or being written); missing is fine."""
        fragment_id = request.match_info["fragment_id"]
        if not valid_fragment_id(fragment_id):
            return error_response(ErrorCode.INVALID_ID, "invalid fragment id")
        try:
            await self._run(self.store.delete, fragment_id)
        except StoreOffline as exc:
            return error_response(ErrorCode.OFFLINE, str(exc))
        return web.Response(status=204)

    async def list_fragments(self, request: web.Request) -> web.StreamResponse:
        """A page of committed fragment ids after ``after``, sorted."""
        try:
            after, limit = parse_list_query(request.query)
        except RequestInvalid as exc:
            return error_response(ErrorCode.BAD_REQUEST, str(exc))
        try:
            ids = await self._run(self.store.list_page, after, limit)
        except StoreOffline as exc:
            return error_response(ErrorCode.OFFLINE, str(exc))
        return web.json_response({"fragments": ids})

    def info_now(self) -> NodeInfo:
        """The node's :class:`NodeInfo` (blocking: reads the file system's
        space); StoreOffline when its disk is gone."""
        self.store.require_online()
        space = self.store.space()
        usage = self.store.usage()
        identity = self.store.identity
        return NodeInfo(
            id=identity.node_id, site=identity.site, zone=identity.zone,
            capacity_bytes=space.capacity_bytes, free_bytes=space.free_bytes,
            used_bytes=usage.used_bytes, fragments=usage.fragments,
            state=self.state.value, version=self.version,
        )

    async def info(self, request: web.Request) -> web.StreamResponse:
        """The node's identity, space, usage and state."""
        try:
            info = await self._run(self.info_now)
        except StoreOffline as exc:
            return error_response(ErrorCode.OFFLINE, str(exc))
        return web.json_response(info.to_json())

    async def health(self, request: web.Request) -> web.StreamResponse:
        """200 when the node can serve its disk, 503 otherwise."""
        if not await self._run(self.store.is_online):
            return error_response(ErrorCode.OFFLINE, "the node's disk is not available")
        return web.json_response({"status": "ok", "id": self.store.node_id, "state": self.state.value})


class NodeServer:
    """A node service listening on one address with mutual TLS."""

    def __init__(self, store: NodeStore, ssl_context: ssl.SSLContext, *, draining: bool = False) -> None:
        if ssl_context.verify_mode != ssl.CERT_REQUIRED:
            raise ValueError("a node serves only clients with a certificate (CERT_REQUIRED)")
        self.store = store
        self.service = NodeService(store, draining=draining)
        self.ssl_context = ssl_context
        self.url = ""
        self._runner: web.AppRunner | None = None

    @property
    def node_id(self) -> str:
        """The node's id."""
        return self.store.node_id

    async def start(self, host: str, port: int) -> str:
        """Listen on ``host:port`` (0: any free port); return the node's URL."""
        self._runner = web.AppRunner(self.service.app(), access_log=None, handle_signals=False,
                                     read_bufsize=READ_BUFSIZE, shutdown_timeout=SHUTDOWN_TIMEOUT,
                                     keepalive_timeout=KEEPALIVE_TIMEOUT)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, ssl_context=self.ssl_context, reuse_address=True)
        await site.start()
        bound = self._runner.addresses[0][1] if self._runner.addresses else port
        url_host = f"[{host}]" if ":" in host else host
        self.url = f"https://{url_host}:{bound}"
        log.info("node listening", extra={"node": self.node_id, "url": self.url})
        return self.url

    async def stop(self) -> None:
        """Stop listening; uploads in flight are discarded. Releases the folder."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.store.close()


@dataclass(frozen=True)
class NodeConfig:
    """What ``objectd node`` is started with."""

    data_dir: Path
    host: str
    port: int
    ca: Path
    cert: Path
    key: Path
    node_id: str | None = None
    site: str | None = None
    zone: str | None = None
    capacity_bytes: int | None = None
    draining: bool = False


class NodeStartError(Exception):
    """The node cannot start with this configuration (the message says why)."""


def parse_address(address: str) -> tuple[str, int]:
    """(host, port) of ``HOST:PORT`` or ``[V6]:PORT``; ValueError otherwise."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host or int(port) > 65535:
        raise ValueError(f"address must be HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)


def open_node(config: NodeConfig) -> NodeServer:
    """Open the node's folder and TLS context and check they belong together.

    On the first start without ``node_id`` the node takes the id its
    certificate names. The certificate must name the node's id: a gateway
    would refuse the node otherwise, so it is refused here, at start.
    """
    node_id = config.node_id
    try:
        cert_ids = cert_node_ids(config.cert)
    except (OSError, ValueError) as exc:
        raise NodeStartError(f"cannot read the certificate {config.cert}: {exc}") from exc
    if node_id is None and NodeStore.stored_identity(config.data_dir) is None and len(cert_ids) == 1:
        node_id = cert_ids[0]
    try:
        context = server_context(config.ca, config.cert, config.key)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise NodeStartError(f"cannot load the TLS files: {exc}") from exc
    try:
        store = NodeStore.open(config.data_dir, node_id=node_id, site=config.site, zone=config.zone,
                               capacity_bytes=config.capacity_bytes)
    except (NodeIdMismatch, NodeDataInUse, ValueError, OSError) as exc:
        raise NodeStartError(str(exc)) from exc
    if store.node_id not in cert_ids:
        store.close()
        raise NodeStartError(f"the certificate {config.cert} is for {cert_ids or 'no node'}, "
                             f"not for node {store.node_id!r}")
    return NodeServer(store, context, draining=config.draining)


async def serve_node(server: NodeServer, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Start ``server``, call ``announce(url)``, serve until SIGTERM or SIGINT
    (then stop gracefully) or cancellation."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    # Fragment reads and bodies are buffers of MiBs: kept in the heap and
    # reused instead of a fresh mmap (and a page fault per 4 KiB) each time.
    tune_malloc()
    try:
        url = await server.start(host, port)
        tune_gc()
        announce(url)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        log.info("node stopping", extra={"node": server.node_id})
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await server.stop()
