"""Pooled mutual-TLS connections from a gateway to its storage nodes.

:class:`NodeConnections` is what a gateway holds for all its nodes: an
aiohttp session for the node API's small requests and fragment writes, and
its own keep-alive pool of :class:`NodeConnection` for fragment reads, the
gateway's hottest path. A read is one HTTP/1.1 GET whose answer an
:class:`asyncio.BufferedProtocol` receives through a
:class:`~objectd.node_response.ResponseReceiver`: the TLS layer decrypts the
body straight into the bytearray the data path then decodes from, where
aiohttp's client made a bytes object per TLS record and joined them (a sixth
of the cluster gateway's CPU per GiB read; see DESIGN-NOTES, *Speed*).

Timeouts: establishing a connection (TCP and TLS together), and each wait for
bytes of an answer (not the whole answer: a large range on a slow but live
link is not cut). A read that is cancelled or fails closes its connection;
only a connection whose answer was read whole goes back to the pool. At most
``limit_per_host`` reads run at once per node; more wait for one to end.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from typing import cast

import aiohttp

from objectd.node_response import Answer, ResponseInvalid, ResponseReceiver

READ_BUFSIZE = 1 << 20
"""aiohttp's read size for the session's answers (its 64 KiB default halves
the throughput of large ones)."""

IDLE_PER_NODE = 32
"""Idle read connections kept per node; more are closed once used."""


class ConnectionsClosed(ConnectionError):
    """The gateway's node connections were closed (it is stopping)."""


class NodeConnection(asyncio.BufferedProtocol):
    """One TLS connection to a node, carrying one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._receiver: ResponseReceiver | None = None
        self._waiter: asyncio.Future[Answer] | None = None
        self._last_progress = 0.0
        self._watchdog: asyncio.TimerHandle | None = None
        self._read_timeout = 0.0
        self._stray = bytearray(256)

    # -- asyncio.BufferedProtocol --------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # noqa: D102
        # uvloop's TLS transport is not an asyncio.Transport subclass.
        self.transport = cast(asyncio.Transport, transport)

    def get_buffer(self, sizehint: int) -> memoryview:  # noqa: D102
        # Always a memoryview: asyncio's TLS reader slices the buffer to fill
        # it in steps, and a slice of a bytearray would be a copy, leaving the
        # receiver's (unfilled) buffer unwritten.
        if self._receiver is None:
            return memoryview(self._stray)  # bytes nobody asked for: refused in buffer_updated
        return self._receiver.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:  # noqa: D102
        receiver = self._receiver
        if receiver is None:
            self._fail(ResponseInvalid("bytes from the node while no request was waiting"))
            return
        self._last_progress = self._loop.time()
        try:
            done = receiver.buffer_updated(nbytes)
        except ResponseInvalid as exc:
            self._fail(exc)
            return
        if done:
            assert receiver.answer is not None
            self._finish()
            if not receiver.answer.reusable:
                self.close()
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(receiver.answer)

    def eof_received(self) -> bool:  # noqa: D102
        self._fail(ConnectionResetError("the node closed the connection"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: D102
        self.closed = True
        self._fail(exc if exc is not None else ConnectionResetError("the connection was lost"))

    # -- requests --------------------------------------------------------------

    @property
    def usable(self) -> bool:
        """Whether this connection can take another request."""
        return not self.closed and self._receiver is None and self.transport is not None \
            and not self.transport.is_closing()

    async def request(self, head: bytes, receiver: ResponseReceiver, read_timeout: float) -> Answer:
        """Send a request ``head`` (no body) and receive its answer; raises
        TimeoutError when no byte arrives for ``read_timeout`` seconds,
        ConnectionError when the connection ends first, ResponseInvalid for
        an answer that is not HTTP as a node speaks it. On any failure or
        cancellation the connection is closed."""
        if not self.usable:
            raise ConnectionResetError("the connection is not usable")
        assert self.transport is not None
        self._receiver = receiver
        self._waiter = self._loop.create_future()
        self._read_timeout = read_timeout
        self._last_progress = self._loop.time()
        self._watchdog = self._loop.call_later(read_timeout, self._check_progress)
        waiter = self._waiter
        try:
            self.transport.write(head)
            return await waiter
        except BaseException:
            self._finish()
            self.close()
            if waiter.done() and not waiter.cancelled():
                waiter.exception()  # retrieved: a cancelled read's failure is not logged later
            raise
        finally:
            self._waiter = None

    def _check_progress(self) -> None:
        # One timer per read, moved on to the last byte's time plus the
        # timeout while bytes keep coming: cheaper than rescheduling a timer
        # for every TLS record.
        if self._receiver is None:
            return
        quiet = self._loop.time() - self._last_progress
        if quiet >= self._read_timeout:
            self._fail(TimeoutError(f"no answer for {self._read_timeout} s"))
            return
        self._watchdog = self._loop.call_later(self._read_timeout - quiet, self._check_progress)

    def _finish(self) -> None:
        self._receiver = None
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _fail(self, exc: BaseException) -> None:
        self._finish()
        self.close()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        """Abort the connection (any request on it fails)."""
        self.closed = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()


@dataclass
class _NodePool:
    slots: asyncio.Semaphore
    idle: list[NodeConnection] = field(default_factory=list)


class NodeConnections:
    """A gateway's connections to its nodes, all under one client TLS
    context (its certificate, the cluster CA).

    ``session``: the aiohttp session for requests other than fragment reads.
    Each kind uses at most ``limit_per_host`` connections per node. An idle
    connection is not reused after ``keepalive_timeout``, shorter than a
    node's own idle limit (75 s), so it is not reused just as the node drops
    it.
    """

    def __init__(self, ssl_context: ssl.SSLContext, *, limit_per_host: int = 64,
                 keepalive_timeout: float = 60.0) -> None:
        self.ssl_context = ssl_context
        self.keepalive_timeout = keepalive_timeout
        self.limit_per_host = limit_per_host
        self._closed = False
        connector = aiohttp.TCPConnector(ssl=ssl_context, limit=0, limit_per_host=limit_per_host,
                                         keepalive_timeout=keepalive_timeout)
        self.session = aiohttp.ClientSession(connector=connector, read_bufsize=READ_BUFSIZE)
        self._pools: dict[tuple[str, int, str], _NodePool] = {}
        self._busy: set[NodeConnection] = set()
        self.opened = 0
        """Read connections opened so far (for tests and statistics)."""

    async def close(self) -> None:
        """Close every connection (idle and busy) and the session; reads
        still running fail, and none start after."""
        self._closed = True
        for pool in self._pools.values():
            for conn in pool.idle:
                conn.close()
            pool.idle.clear()
        for conn in list(self._busy):
            conn.close()
        await self.session.close()

    def idle_count(self, host: str, port: int, server_name: str) -> int:
        """Idle read connections kept for one node."""
        pool = self._pools.get((host, port, server_name))
        return sum(conn.usable for conn in pool.idle) if pool else 0

    async def _connect(self, host: str, port: int, server_name: str, timeout: float) -> NodeConnection:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            _, conn = await loop.create_connection(
                lambda: NodeConnection(loop), host, port, ssl=self.ssl_context,
                server_hostname=server_name, ssl_handshake_timeout=timeout)
        self.opened += 1
        if self._closed:
            conn.close()
            raise ConnectionsClosed("the node connections are closed")
        return conn

    def _take_idle(self, pool: _NodePool) -> NodeConnection | None:
        deadline = asyncio.get_running_loop().time() - self.keepalive_timeout
        while pool.idle:
            conn = pool.idle.pop()
            if conn.usable and conn.idle_since >= deadline:
                return conn
            conn.close()
        return None

    async def fetch(self, host: str, port: int, server_name: str, head: bytes, body_limit: int, *,
                    connect_timeout: float, read_timeout: float) -> Answer:
        """Send the bodiless request ``head`` to the node at ``host:port``
        (whose certificate must name ``server_name``) and return its answer.

        A pooled connection the node closed while idle fails before any
        answer byte arrives; the request (a read: safe to repeat) is then
        sent once more on a new connection.
        """
        if self._closed:
            raise ConnectionsClosed("the node connections are closed")
        key = (host, port, server_name)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _NodePool(asyncio.Semaphore(self.limit_per_host))
        async with pool.slots:
            conn = self._take_idle(pool)
            reused = conn is not None
            if conn is None:
                conn = await self._connect(host, port, server_name, connect_timeout)
            while True:
                receiver = ResponseReceiver(body_limit)
                self._busy.add(conn)
                try:
                    answer = await conn.request(head, receiver, read_timeout)
                except (ConnectionError, ssl.SSLError):
                    if not reused or receiver.started or self._closed:
                        raise
                    reused = False
                    conn = await self._connect(host, port, server_name, connect_timeout)
                    continue
                finally:
                    self._busy.discard(conn)
                if conn.usable and not self._closed and len(pool.idle) < IDLE_PER_NODE:
                    conn.idle_since = asyncio.get_running_loop().time()
                    pool.idle.append(conn)
                else:
                    conn.close()
                return answer
