"""A TCP proxy for fault tests: forwards a local port to a target and can cut
the network between them on demand.

Point a client (a Postgres pool, a gateway's node client) at the proxy's
port instead of the real server. :meth:`TcpProxy.cut` aborts every open link
(both sockets are reset, as when a cable is pulled or a server dies) and, by
default, stops listening, so new connections are refused as by a host whose
server is down. :meth:`TcpProxy.restore` listens again on the same port and
the client can reconnect by itself. The proxy runs on the test's event loop;
bytes are forwarded as they come, unchanged.

    async with TcpProxy("127.0.0.1", 5432) as proxy:
        store = PostgresStore(f"postgresql://postgres@127.0.0.1:{proxy.port}/test")
        ...
        await proxy.cut()
        ...  # calls fail
        await proxy.restore()
        ...  # calls succeed again
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

CHUNK = 64 * 1024


class TcpProxy:
    """Forwards connections from ``host:port`` (port 0: any free port, see
    :attr:`port`) to ``target_host:target_port``."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        connect_timeout: float = 10.0,
    ) -> None:
        """Configure the proxy; :meth:`start` listens."""
        self.target_host = target_host
        self.target_port = target_port
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.accepted = 0  # connections accepted since start
        self._cuts = 0
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()

    @property
    def links(self) -> int:
        """Connections being forwarded now."""
        return len(self._links)

    @property
    def listening(self) -> bool:
        """Whether new connections are accepted."""
        return self._server is not None

    async def start(self) -> None:
        """Listen (on the port given, or a free one that :attr:`port` then names)."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self, *, refuse: bool = True) -> None:
        """Reset every open link; with ``refuse`` also stop listening, so new
        connections are refused until :meth:`restore`."""
        self._cuts += 1
        if refuse and self._server is not None:
            self._server.close()
            self._server = None
        links = list(self._links)
        for link in links:
            link.abort()
        for link in links:
            await link.finished()

    async def restore(self) -> None:
        """Accept connections again, on the same port."""
        await self.start()

    async def close(self) -> None:
        """Cut everything and stop listening (idempotent)."""
        await self.cut(refuse=True)

    async def __aenter__(self) -> TcpProxy:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _handle(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        self.accepted += 1
        cuts = self._cuts
        try:
            upstream_reader, upstream_writer = await asyncio.wait_for(
                asyncio.open_connection(self.target_host, self.target_port),
                self.connect_timeout,
            )
        except (OSError, asyncio.TimeoutError):
            _reset(client_writer)
            return
        if cuts != self._cuts:  # cut while this link was being set up
            _reset(client_writer)
            _reset(upstream_writer)
            return
        link = _Link(client_writer, upstream_writer)
        self._links.add(link)
        try:
            await link.run(client_reader, upstream_reader)
        finally:
            self._links.discard(link)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close a socket at once, discarding unsent data (a reset, not a goodbye)."""
    writer.transport.abort()


class _Link:
    """One forwarded connection: two pumps, one per direction."""

    def __init__(self, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter) -> None:
        self._writers = (client, upstream)
        self._tasks: list[asyncio.Task[None]] = []
        self._done = asyncio.Event()

    async def run(
        self, client_reader: asyncio.StreamReader, upstream_reader: asyncio.StreamReader
    ) -> None:
        client, upstream = self._writers
        self._tasks = [
            asyncio.create_task(self._pump(client_reader, upstream)),
            asyncio.create_task(self._pump(upstream_reader, client)),
        ]
        try:
            # Either side ending ends the link.
            await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.abort()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, OSError, ConnectionError):
                    await task
            self._done.set()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while chunk := await reader.read(CHUNK):
                writer.write(chunk)
                await writer.drain()

    def abort(self) -> None:
        """Reset both sockets and stop forwarding."""
        for task in self._tasks:
            task.cancel()
        for writer in self._writers:
            _reset(writer)

    async def finished(self) -> None:
        """Wait until the link has wound down."""
        await self._done.wait()
