"""A response body sent as many pieces in few system calls.

An object is read back as the blocks of its data fragments (a quarter of a
1 MiB segment each for 4+2), each a separate buffer so that nothing is joined.
Written one by one, every piece is one ``send`` on the socket, and on loopback
each ``send`` also runs the receiver's side of TCP and wakes it: per byte, the
kernel's work grows with the number of writes, not with the bytes. Handing the
transport a MiB of pieces at once (``writelines``: uvloop sends them with one
vectored write, copying nothing) cut a large GET's CPU by a sixth and raised
its rate by a fifth here (see DESIGN-NOTES, *Speed*).

aiohttp's own writer joins the pieces into one new buffer for ``writelines``
on Python before 3.12.9 (a copy of every byte), so the pieces go to the
transport directly and the writer's byte counts and flow control are kept as
aiohttp keeps them: ``output_size`` (what the access log reports),
``buffer_size``, and a ``drain()`` whenever more than its limit is buffered,
so a slow client holds the sender back instead of filling memory.
"""

from __future__ import annotations

import sys

from aiohttp import ClientConnectionResetError, web
from aiohttp.abc import AbstractStreamWriter

__all__ = ["PIECES_PER_SEND", "VectoredBodyWriter"]

PIECES_PER_SEND = 1 << 20
"""Bytes of pieces gathered before they go to the transport together."""

_DRAIN_ABOVE = 1 << 16  # aiohttp's own limit before it drains

# asyncio's writelines on 3.12.0-3.12.8 and 3.13.0-3.13.1 did not pause the
# protocol when its buffer filled (CVE-2024-12254), so drain() would never
# wait there; elsewhere it pauses (on 3.11 by joining, on uvloop by writev).
_ASYNCIO_WRITELINES_PAUSES = not ((3, 12) <= sys.version_info < (3, 12, 9)
                                  or (3, 13) <= sys.version_info < (3, 13, 2))


class VectoredBodyWriter:
    """Writes the body of a prepared response from many buffers, gathering
    them into vectored writes of about :data:`PIECES_PER_SEND` bytes.

    The caller must not change a buffer after handing it over (the transport
    may hold it until the peer has taken it), as with ``StreamResponse.write``.
    ``length`` is the Content-Length sent: a piece that would take the body
    past it is refused (ValueError) before anything of it is sent, since bytes
    beyond it would be read by the client as the start of the next response.
    """

    def __init__(self, request: web.BaseRequest, writer: AbstractStreamWriter, length: int,
                 gather: int = PIECES_PER_SEND) -> None:
        self._request = request
        self._writer = writer
        self._left = length
        self._gather = gather
        self._held: list[bytes | bytearray | memoryview] = []
        self._held_bytes = 0

    @property
    def remaining(self) -> int:
        """Bytes of the Content-Length not yet handed over (0 once the body is whole)."""
        return self._left

    async def write(self, piece: bytes | bytearray | memoryview) -> None:
        """Add ``piece`` to the body; sends what is gathered once it is enough."""
        if isinstance(piece, memoryview) and (piece.itemsize != 1 or piece.ndim != 1):
            piece = piece.cast("B")  # transports count len(), i.e. items
        size = len(piece)
        if size > self._left:
            raise ValueError(f"the body runs {size - self._left} bytes past its Content-Length")
        if not size:
            return
        self._left -= size
        self._held.append(piece)
        self._held_bytes += size
        if self._held_bytes >= self._gather:
            await self.flush()

    async def flush(self) -> None:
        """Send every piece gathered so far (the response head first, if it
        is still waiting), then wait while the transport holds too much."""
        if not self._held:
            return
        transport = self._request.transport
        if transport is None or transport.is_closing():
            raise ClientConnectionResetError("Cannot write to closing transport")
        pieces, size = self._held, self._held_bytes
        self._held, self._held_bytes = [], 0
        send_headers = getattr(self._writer, "send_headers", None)
        if send_headers is not None:
            send_headers()  # aiohttp keeps the head until the first body write
        if _ASYNCIO_WRITELINES_PAUSES or type(transport).__module__.startswith("uvloop"):
            transport.writelines(pieces)
        else:
            for piece in pieces:
                transport.write(piece)
        self._writer.output_size += size
        self._writer.buffer_size += size
        if self._writer.buffer_size > _DRAIN_ABOVE:
            self._writer.buffer_size = 0
            await self._writer.drain()
