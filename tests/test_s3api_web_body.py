"""Tests for s3api.web_body: request bodies read from a real aiohttp server on
loopback (raw sockets where the test needs to misbehave like a client can)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import threading
import zlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from aiohttp import web

from s3api.body_checks import body_spec
from s3api.errors import BadDigest, EntityTooLarge, IncompleteBody, S3Error
from s3api.md5_lanes import LaneHasher
from s3api.sigv4 import PayloadMode
from tests.lane_kernels import needs_md5_lanes
from tests.loopback_server import LoopbackServer
from s3api.web_body import AiohttpRequestBody

Outcome = dict[str, Any]


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


@pytest.fixture
async def server() -> AsyncIterator[tuple[LoopbackServer, list[Outcome], Callable[..., None]]]:
    """A server whose handler reads the body as configured and records the
    outcome; ``settings["done"]`` resolves when the first request was handled."""
    outcomes: list[Outcome] = []
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    settings: dict[str, Any] = {
        "mode": PayloadMode.UNSIGNED,
        "max_size": 10**9,
        "offload": 64 * 1024,
        "read": True,
        "done": done,
    }
    executor = ThreadPoolExecutor(max_workers=2)

    async def handler(request: web.Request) -> web.StreamResponse:
        outcome: Outcome = {}
        outcomes.append(outcome)
        try:
            spec = body_spec(request.headers, settings["mode"], None, max_size=settings["max_size"])
            body = AiohttpRequestBody(
                request,
                spec,
                executor=executor,
                chunk_verifier=None,
                max_size=settings["max_size"],
                read_size=256 * 1024,
                offload_threshold=settings["offload"],
                idle_timeout=30.0,
            )
            if settings["read"]:
                received = bytearray()
                sizes: list[int] = []
                if settings.get("unhashed"):
                    chunks, digest_update = body.chunks_unhashed()
                    hashed = settings["unhashed"] == "all"
                else:
                    chunks, digest_update, hashed = body.chunks(), None, False
                async for data in chunks:
                    received += data
                    sizes.append(len(data))
                    if hashed and digest_update is not None:
                        await asyncio.get_running_loop().run_in_executor(executor, digest_update, data)
                outcome["data"] = bytes(received)
                outcome["sizes"] = sizes
                try:
                    outcome["digest"] = await body.finish()
                except RuntimeError as error:
                    outcome["runtime_error"] = error
        except S3Error as error:
            outcome["error"] = error
            body_error = web.Response(status=error.status, text=error.code)
            body_error.force_close()
            return body_error
        finally:
            if not done.done():
                done.set_result(None)
        return web.Response(text="ok")

    async def _defer(request: web.Request) -> None:
        return None

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler, expect_handler=_defer)
    test_server = LoopbackServer(app)
    await test_server.start()

    def configure(**kw: Any) -> None:
        settings.update(kw)

    configure.settings = settings  # type: ignore[attr-defined]

    yield test_server, outcomes, configure
    await test_server.close()
    executor.shutdown()


async def exchange(test_server: LoopbackServer, head: str, body: bytes = b"", *, close_write: bool = False) -> bytes:
    """Send a raw request; return everything the server answers until it closes."""
    reader, writer = await asyncio.open_connection(test_server.host, test_server.port)
    writer.write(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
    await writer.drain()
    if close_write:
        writer.write_eof()
    answer = await reader.read()
    writer.close()
    return answer


async def put_through(handler: Callable[[web.Request], Any], data: bytes) -> None:
    """PUT ``data`` with a Content-Length to a loopback server running ``handler``."""
    app = web.Application()
    app.router.add_put("/{tail:.*}", handler)
    loopback = LoopbackServer(app)
    await loopback.start()
    try:
        await exchange(loopback, request_head({"Content-Length": str(len(data))}), data)
    finally:
        await loopback.close()


def request_head(headers: dict[str, str]) -> str:
    lines = ["PUT /b/k HTTP/1.1", "Host: localhost", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return "\n".join(lines) + "\n"


async def test_content_length_body(server: Any) -> None:
    test_server, outcomes, _ = server
    data = bytes(range(256)) * 4096  # 1 MiB, hashed on the worker thread
    answer = await exchange(test_server, request_head({"Content-Length": str(len(data))}), data)
    assert answer.startswith(b"HTTP/1.1 200")
    outcome = outcomes[0]
    assert outcome["data"] == data
    assert outcome["digest"].size == len(data)
    assert outcome["digest"].md5 == hashlib.md5(data).digest()


async def test_large_body_arrives_in_read_size_pieces(server: Any) -> None:
    test_server, outcomes, _ = server
    data = os.urandom(4 * 256 * 1024 + 5)
    await exchange(test_server, request_head({"Content-Length": str(len(data))}), data)
    assert outcomes[0]["data"] == data
    # Joined from whatever aiohttp received into whole read_size pieces.
    assert outcomes[0]["sizes"] == [256 * 1024] * 4 + [5]
    assert outcomes[0]["digest"].md5 == hashlib.md5(data).digest()


async def test_chunked_body_arrives_in_read_size_pieces(server: Any) -> None:
    test_server, outcomes, _ = server
    data = os.urandom(600 * 1024)
    framed = b"".join(
        b"%x\r\n" % len(data[i : i + 70_000]) + data[i : i + 70_000] + b"\r\n"
        for i in range(0, len(data), 70_000)
    ) + b"0\r\n\r\n"
    await exchange(test_server, request_head({"Transfer-Encoding": "chunked"}), framed)
    assert outcomes[0]["data"] == data
    assert outcomes[0]["sizes"] == [256 * 1024, 256 * 1024, 600 * 1024 - 512 * 1024]


@pytest.mark.parametrize("unhashed", [None, "all"])
async def test_chunk_end_parsed_after_its_data_was_read_does_not_end_the_body(
    server: Any, unhashed: str | None
) -> None:
    """A chunk exactly read_size long, its CRLF arriving later together with
    the rest and the terminator: aiohttp then knows the body is complete while
    the rest is still buffered, and none of it may be lost."""
    test_server, outcomes, configure = server
    configure(unhashed=unhashed)
    first, rest = os.urandom(256 * 1024), os.urandom(1000)
    reader, writer = await asyncio.open_connection(test_server.host, test_server.port)
    head = request_head({"Transfer-Encoding": "chunked"}).replace("\n", "\r\n").encode() + b"\r\n"
    writer.write(head + b"%x\r\n" % len(first) + first)
    await writer.drain()
    await asyncio.sleep(0.2)  # the server takes the chunk's data before the rest arrives
    writer.write(b"\r\n" + b"%x\r\n" % len(rest) + rest + b"\r\n0\r\n\r\n")
    await writer.drain()
    answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200")
    assert outcomes[0]["data"] == first + rest
    assert outcomes[0]["digest"].md5 == hashlib.md5(first + rest).digest()


async def test_unhashed_chunks_are_hashed_by_the_consumer(server: Any) -> None:
    test_server, outcomes, configure = server
    configure(unhashed="all")
    data = os.urandom(3 * 256 * 1024 + 11)
    await exchange(test_server, request_head({
        "Content-Length": str(len(data)),
        "Content-MD5": base64.b64encode(hashlib.md5(data).digest()).decode(),
    }), data)
    assert outcomes[0]["data"] == data
    assert outcomes[0]["digest"].md5 == hashlib.md5(data).digest()


async def test_a_consumer_that_skips_hashing_is_caught(server: Any) -> None:
    test_server, outcomes, configure = server
    configure(unhashed="none")
    data = os.urandom(300 * 1024)
    await exchange(test_server, request_head({"Content-Length": str(len(data))}), data)
    assert isinstance(outcomes[0]["runtime_error"], RuntimeError)
    assert "digest" not in outcomes[0]


async def test_bytes_the_consumer_never_took_are_hashed_by_finish(server: Any) -> None:
    received: list[Any] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        spec = body_spec(request.headers, PayloadMode.UNSIGNED, None, max_size=10**9)
        with ThreadPoolExecutor(max_workers=1) as executor:
            body = AiohttpRequestBody(
                request, spec, executor=executor, chunk_verifier=None, max_size=10**9,
                read_size=64 * 1024, offload_threshold=64 * 1024, idle_timeout=30.0,
            )
            chunks, digest_update = body.chunks_unhashed()
            first = await chunks.__anext__()
            digest_update(first)
            await chunks.aclose()  # the consumer stops early
            received.append(await body.finish())
        return web.Response(text="ok")

    data = os.urandom(500 * 1024)
    await put_through(handler, data)
    assert received[0].md5 == hashlib.md5(data).digest()
    assert received[0].size == len(data)


async def test_small_pieces_are_hashed_inline_and_in_order(server: Any) -> None:
    test_server, outcomes, configure = server
    configure(offload=10**9)
    data = b"".join(i.to_bytes(4, "big") for i in range(100000))
    await exchange(test_server, request_head({"Content-Length": str(len(data))}), data)
    assert outcomes[0]["data"] == data
    assert outcomes[0]["digest"].md5 == hashlib.md5(data).digest()


async def test_truncated_body_is_incomplete(server: Any) -> None:
    test_server, outcomes, configure = server
    await exchange(test_server, request_head({"Content-Length": "1000"}), b"x" * 500, close_write=True)
    # The handler learns of the lost connection after the socket closed.
    await asyncio.wait_for(configure.settings["done"], 30)
    assert isinstance(outcomes[0]["error"], IncompleteBody)
    assert "digest" not in outcomes[0]


async def test_chunked_transfer_without_length(server: Any) -> None:
    test_server, outcomes, _ = server
    framed = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    answer = await exchange(test_server, request_head({"Transfer-Encoding": "chunked"}), framed)
    assert answer.startswith(b"HTTP/1.1 200")
    assert outcomes[0]["data"] == b"hello world"


async def test_chunked_transfer_past_the_limit(server: Any) -> None:
    test_server, outcomes, configure = server
    configure(max_size=8)
    framed = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    await exchange(test_server, request_head({"Transfer-Encoding": "chunked"}), framed)
    assert isinstance(outcomes[0]["error"], EntityTooLarge)


async def test_aws_chunked_with_trailing_checksum(server: Any) -> None:
    test_server, outcomes, configure = server
    configure(mode=PayloadMode.STREAMING_UNSIGNED_TRAILER)
    data = b"a" * 9000 + b"tail"
    framed = (
        b"%x\r\n" % 9000 + data[:9000] + b"\r\n" + b"4\r\ntail\r\n0\r\n"
        + f"x-amz-checksum-crc32:{crc32_b64(data)}\r\n\r\n".encode()
    )
    headers = {
        "Content-Length": str(len(framed)),
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
        "x-amz-trailer": "x-amz-checksum-crc32",
    }
    answer = await exchange(test_server, request_head(headers), framed)
    assert answer.startswith(b"HTTP/1.1 200")
    assert outcomes[0]["data"] == data
    assert outcomes[0]["digest"].checksum.value == crc32_b64(data)


async def test_aws_chunked_with_wrong_trailing_checksum(server: Any) -> None:
    test_server, outcomes, configure = server
    configure(mode=PayloadMode.STREAMING_UNSIGNED_TRAILER)
    framed = b"4\r\ndata\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    headers = {
        "Content-Length": str(len(framed)),
        "x-amz-decoded-content-length": "4",
        "x-amz-trailer": "x-amz-checksum-crc32",
    }
    await exchange(test_server, request_head(headers), framed)
    assert isinstance(outcomes[0]["error"], BadDigest)


async def test_100_continue_is_sent_when_the_body_is_first_read(server: Any) -> None:
    test_server, outcomes, _ = server
    reader, writer = await asyncio.open_connection(test_server.host, test_server.port)
    head = request_head({"Content-Length": "5", "Expect": "100-continue"})
    writer.write(head.replace("\n", "\r\n").encode() + b"\r\n")
    await writer.drain()
    interim = await reader.readuntil(b"\r\n\r\n")
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"hello")
    await writer.drain()
    answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200")
    assert outcomes[0]["data"] == b"hello"


async def test_no_100_continue_when_the_body_is_never_read(server: Any) -> None:
    test_server, outcomes, configure = server
    configure(read=False)
    reader, writer = await asyncio.open_connection(test_server.host, test_server.port)
    head = request_head({"Content-Length": "5", "Expect": "100-continue"})
    writer.write(head.replace("\n", "\r\n").encode() + b"\r\n")
    await writer.drain()
    # The first thing back is the final response, not an interim 100.
    status_and_headers = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    assert status_and_headers.startswith(b"HTTP/1.1 200")


@needs_md5_lanes
async def test_lane_md5_waiting_at_the_end_is_settled_off_the_loop() -> None:
    flushed_on: list[str] = []

    class RecordingHasher(LaneHasher):
        def _flush(self, lane, **kwargs):  # type: ignore[no-untyped-def]
            if lane.pending_bytes or lane.busy:  # a flush that hashes or waits
                flushed_on.append(threading.current_thread().name)
            super()._flush(lane, **kwargs)

    hasher = RecordingHasher()
    other = hasher.md5()
    other.update(b"another upload, hashing but with nothing waiting")
    flushed_on.clear()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="body-worker")
    received: list[Any] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        spec = body_spec(request.headers, PayloadMode.UNSIGNED, None, max_size=10**9)
        body = AiohttpRequestBody(
            request, spec, executor=executor, chunk_verifier=None, max_size=10**9,
            read_size=256 * 1024, offload_threshold=64 * 1024, idle_timeout=30.0, md5_lanes=hasher,
        )
        chunks, digest_update = body.chunks_unhashed()
        async for data in chunks:
            digest_update(data)  # deferred: the other upload has nothing waiting
        received.append(await body.finish())
        return web.Response(text="ok")

    data = os.urandom(2 * 1024 * 1024)
    try:
        await put_through(handler, data)
    finally:
        executor.shutdown()
    assert received[0].md5 == hashlib.md5(data).digest()
    assert flushed_on and all(name.startswith("body-worker") for name in flushed_on)
