"""An aiohttp application served on a loopback port, for tests of the web
adapters that need a real server and real sockets."""

from __future__ import annotations

from aiohttp import web


class LoopbackServer:
    """An aiohttp app on 127.0.0.1 run as objectd runs it (handlers are not
    cancelled when a client goes away, so the body reader sees the loss)."""

    def __init__(self, app: web.Application) -> None:
        self.runner = web.AppRunner(app)
        self.host = "127.0.0.1"
        self.port = 0

    async def start(self) -> None:
        """Listen on an ephemeral port (``self.port``)."""
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, 0)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def close(self) -> None:
        """Stop listening and finish the handlers."""
        await self.runner.cleanup()
