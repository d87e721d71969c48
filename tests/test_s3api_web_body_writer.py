"""Tests for s3api.web_body_writer: response bodies from many pieces, sent by a
real aiohttp server on loopback, on uvloop (as objectd runs) and on asyncio."""

from __future__ import annotations

import asyncio
import os
import random
import socket
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
import uvloop
from aiohttp import web

from s3api import web_body_writer
from s3api.web_body_writer import VectoredBodyWriter
from tests.loopback_server import LoopbackServer

GATHER = 64 * 1024
Pieces = list[bytes | bytearray | memoryview]

RUNNERS: dict[str, Callable[[Awaitable[Any]], Any]] = {"uvloop": uvloop.run, "asyncio": asyncio.run}


def _pieces(total: int, seed: int = 7) -> Pieces:
    """Pieces of varied sizes and types, empty ones included, ``total`` bytes."""
    rng = random.Random(seed)
    data = os.urandom(total)
    out: Pieces = []
    at = 0
    while at < total:
        size = min(rng.choice([0, 1, 100, 4096, 10_000, 65_536, 300_000]), total - at)
        kind = rng.randrange(3)
        chunk = data[at : at + size]
        out.append(chunk if kind == 0 else bytearray(chunk) if kind == 1 else memoryview(data)[at : at + size])
        at += size
    return out


def _size(piece: bytes | bytearray | memoryview) -> int:
    return piece.nbytes if isinstance(piece, memoryview) else len(piece)


class _CountingTransport:
    """A transport that records the bytes of each ``writelines`` call."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self.calls: list[int] = []

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def writelines(self, buffers: Pieces) -> None:
        self.calls.append(sum(map(_size, buffers)))
        self._transport.writelines(buffers)


async def _serve(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> LoopbackServer:
    app = web.Application()
    app.router.add_get("/", handler)
    server = LoopbackServer(app)
    await server.start()
    return server


async def _send(request: web.Request, pieces: Pieces, vectored: bool, seen: dict[str, Any]) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    response.content_length = sum(map(_size, pieces)) - seen.get("short", 0)
    writer = await response.prepare(request)
    assert writer is not None
    if vectored:
        assert request.transport is not None
        counting = _CountingTransport(request.transport)
        body = VectoredBodyWriter(SimpleNamespace(transport=counting), writer,  # type: ignore[arg-type]
                                  response.content_length or 0, gather=GATHER)
        for piece in pieces:
            await body.write(piece)
        await body.flush()
        seen["calls"] = counting.calls
    else:
        for piece in pieces:
            if _size(piece):
                await response.write(piece)
    await response.write_eof()
    seen["output_size"] = writer.output_size
    return response


@pytest.mark.parametrize("loop", sorted(RUNNERS))
def test_the_body_arrives_whole_in_few_writes_with_aiohttp_accounting(loop: str) -> None:
    pieces = _pieces(3 * 1024 * 1024 + 17)
    expected = b"".join(bytes(p) for p in pieces)

    async def scenario() -> None:
        seen: dict[str, dict[str, Any]] = {"vectored": {}, "plain": {}}
        vectored = True

        async def handler(request: web.Request) -> web.StreamResponse:
            return await _send(request, pieces, vectored, seen["vectored" if vectored else "plain"])

        server = await _serve(handler)
        try:
            async with aiohttp.ClientSession() as session:
                for vectored in (True, False):
                    async with session.get(f"http://127.0.0.1:{server.port}/") as resp:
                        assert resp.status == 200 and resp.content_length == len(expected)
                        assert await resp.read() == expected
        finally:
            await server.close()
        # Gathered to at least GATHER bytes per write (the last may be less),
        # every byte counted once, as aiohttp's own writes count them.
        calls = seen["vectored"]["calls"]
        assert sum(calls) == len(expected)
        assert all(n >= GATHER for n in calls[:-1]) and len(calls) <= len(expected) // GATHER + 1
        assert seen["vectored"]["output_size"] == seen["plain"]["output_size"]

    RUNNERS[loop](scenario())


@pytest.mark.parametrize("loop", sorted(RUNNERS))
def test_a_slow_reader_holds_the_sender_back(loop: str) -> None:
    total = 32 * 1024 * 1024
    piece = os.urandom(256 * 1024)

    async def scenario() -> None:
        buffered: list[int] = []

        async def handler(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse()
            response.content_length = total
            writer = await response.prepare(request)
            assert writer is not None and request.transport is not None
            body = VectoredBodyWriter(request, writer, total)
            for _ in range(total // len(piece)):
                await body.write(piece)
                buffered.append(request.transport.get_write_buffer_size())
            await body.flush()
            await response.write_eof()
            return response

        server = await _serve(handler)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            received = 0
            while chunk := await reader.read(256 * 1024):
                received += len(chunk)
                await asyncio.sleep(0.002)  # about 100 MiB/s at most
            writer.close()
        finally:
            await server.close()
        assert received > total
        # The server never held much more than one gathering of pieces.
        assert max(buffered) <= 3 * 1024 * 1024

    RUNNERS[loop](scenario())


@pytest.mark.parametrize("loop", sorted(RUNNERS))
def test_a_client_that_leaves_ends_the_sender(loop: str) -> None:
    piece = os.urandom(256 * 1024)

    async def scenario() -> None:
        outcome: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

        async def handler(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse()
            response.content_length = 1 << 30
            writer = await response.prepare(request)
            assert writer is not None
            body = VectoredBodyWriter(request, writer, 1 << 30)
            try:
                for _ in range((1 << 30) // len(piece)):
                    await body.write(piece)
                await body.flush()
            except BaseException as exc:  # what the handler sees is the point
                outcome.set_result(exc)
                raise
            outcome.set_result(None)
            return response

        server = await _serve(handler)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await reader.readexactly(4 * 1024 * 1024)
            writer.transport.abort()
            ended = await asyncio.wait_for(outcome, 20)
        finally:
            await server.close()
        assert isinstance(ended, (ConnectionError, asyncio.CancelledError)), ended

    RUNNERS[loop](scenario())


@pytest.mark.parametrize("loop", sorted(RUNNERS))
def test_a_body_longer_than_its_content_length_is_refused_before_it_is_sent(loop: str) -> None:
    # Bytes past Content-Length would be read as the next response on a
    # reused connection: the piece that overflows is refused, none of it sent.
    pieces: Pieces = [os.urandom(300_000), os.urandom(300_000), os.urandom(700_000)]

    async def scenario() -> None:
        seen: dict[str, Any] = {"short": 10}
        failure: list[BaseException] = []

        async def handler(request: web.Request) -> web.StreamResponse:
            try:
                return await _send(request, pieces, True, seen)
            except ValueError as exc:
                failure.append(exc)
                raise

        server = await _serve(handler)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(), 20)  # until the server drops the connection
            writer.close()
        finally:
            await server.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert b"Content-Length: 1299990" in head
        assert len(body) <= 1_299_990 and failure and "past its Content-Length" in str(failure[0])

    RUNNERS[loop](scenario())


def test_wide_memoryviews_are_sent_as_bytes() -> None:
    data = os.urandom(4096)
    wide = memoryview(data).cast("I")  # 1,024 items of 4 bytes

    async def scenario() -> None:
        seen: dict[str, dict[str, Any]] = {"vectored": {}, "plain": {}}

        async def handler(request: web.Request) -> web.StreamResponse:
            vectored = request.query.get("vectored") == "1"
            return await _send(request, [wide, data[:10]], vectored, seen["vectored" if vectored else "plain"])

        server = await _serve(handler)
        try:
            async with aiohttp.ClientSession() as session:
                for vectored in ("1", "0"):
                    async with session.get(f"http://127.0.0.1:{server.port}/?vectored={vectored}") as resp:
                        assert await resp.read() == data + data[:10]
        finally:
            await server.close()
        # Counted in bytes, as aiohttp counts them, not in 4-byte items.
        assert seen["vectored"]["output_size"] == seen["plain"]["output_size"]

    uvloop.run(scenario())


def test_where_asyncio_writelines_does_not_pause_pieces_are_written_one_by_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Python 3.12.0-3.12.8 and 3.13.0-3.13.1 (CVE-2024-12254): asyncio's own
    # transports then get plain writes, each of which pauses the protocol.
    monkeypatch.setattr(web_body_writer, "_ASYNCIO_WRITELINES_PAUSES", False)
    pieces = _pieces(2 * 1024 * 1024)
    expected = b"".join(bytes(p) for p in pieces)

    async def scenario() -> None:
        async def handler(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse()
            response.content_length = len(expected)
            writer = await response.prepare(request)
            assert writer is not None and request.transport is not None
            transport = request.transport
            assert not type(transport).__module__.startswith("uvloop")
            writes: list[int] = []
            original = transport.write
            transport.write = lambda data: (writes.append(len(data)), original(data))[1]  # type: ignore[method-assign]
            body = VectoredBodyWriter(request, writer, len(expected), gather=GATHER)
            for piece in pieces:
                await body.write(piece)
            await body.flush()
            assert len(writes) == sum(1 for p in pieces if _size(p))  # one write per piece
            await response.write_eof()
            return response

        server = await _serve(handler)
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{server.port}/") as resp:
                    assert await resp.read() == expected
        finally:
            await server.close()

    asyncio.run(scenario())
