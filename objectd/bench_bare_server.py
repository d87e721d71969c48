"""The bare server: the ceiling of any aiohttp S3 front end on this machine.

It speaks just enough S3 for the benchmark's phases and does no storage work:
PUT bodies are read in full and dropped (only each key's size is kept), GETs
are served from one preallocated buffer (honouring Range, large bodies
streamed in 1 MiB writes), ListObjectsV2 pages are built from the keys seen
(with IsTruncated and a continuation token, cached until the next PUT or
DELETE) and everything else gets 200. The benchmark runs it in a subprocess
(``python -m objectd.bench_bare_server``) with the same aiohttp settings as
objectd's server, and prints each endpoint figure beside the bare one.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import os
import random
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from objectd.bench_s3_xml import render_list_page

WRITE_CHUNK = 1 << 20
READY_PREFIX = "bare server listening on port "
_ETAG = '"00000000000000000000000000000000"'


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte positions a single-range ``Range``
    header asks of a ``size``-byte body; None when it is absent, malformed or
    unsatisfiable (the body is then served whole)."""
    unit, _, spec = header.partition("=")
    if unit.strip() != "bytes" or "," in spec or "-" not in spec or size == 0:
        return None
    first_text, _, last_text = spec.strip().partition("-")
    try:
        if not first_text:
            length = int(last_text)
            return (max(size - length, 0), size - 1) if length > 0 else None
        first = int(first_text)
        last = int(last_text) if last_text else size - 1
    except ValueError:
        return None
    if first > last or first >= size:
        return None
    return first, min(last, size - 1)


class BareStore:
    """What the bare server remembers: the size of each key PUT, per bucket."""

    def __init__(self) -> None:
        self._sizes: dict[tuple[str, str], int] = {}
        self._sorted: dict[str, list[str]] = {}
        self._pages: dict[tuple[str, str, int, str | None], bytes] = {}

    def put(self, bucket: str, key: str, size: int) -> None:
        """Remember that ``key`` holds ``size`` bytes."""
        self._sizes[(bucket, key)] = size
        self._forget_listings(bucket)

    def delete(self, bucket: str, key: str) -> None:
        """Forget ``key``."""
        if self._sizes.pop((bucket, key), None) is not None:
            self._forget_listings(bucket)

    def size(self, bucket: str, key: str) -> int | None:
        """The size of ``key``, None if it was never PUT."""
        return self._sizes.get((bucket, key))

    def _forget_listings(self, bucket: str) -> None:
        self._sorted.pop(bucket, None)
        if self._pages:
            self._pages.clear()

    def list_page(self, bucket: str, prefix: str, max_keys: int, token: str | None) -> bytes:
        """A ListObjectsV2 page of the keys under ``prefix`` after ``token``
        (the last key of the previous page), cached until the keys change."""
        cache_key = (bucket, prefix, max_keys, token)
        page = self._pages.get(cache_key)
        if page is not None:
            return page
        keys = self._sorted.get(bucket)
        if keys is None:
            # Code-point order, which is UTF-8 byte order: S3's listing order.
            keys = sorted(k for b, k in self._sizes if b == bucket)
            self._sorted[bucket] = keys
        start = bisect.bisect_left(keys, prefix)
        if token:
            start = max(start, bisect.bisect_right(keys, token))
        chosen: list[str] = []
        index = start
        while index < len(keys) and len(chosen) < max_keys and keys[index].startswith(prefix):
            chosen.append(keys[index])
            index += 1
        more = index < len(keys) and keys[index].startswith(prefix)
        page = render_list_page(bucket, prefix, chosen, max_keys, token, chosen[-1] if more and chosen else None)
        self._pages[cache_key] = page
        return page


class BareHandler:
    """The request handler of the bare server."""

    def __init__(self, store: BareStore, buffer: bytes) -> None:
        self._store = store
        self._buffer = memoryview(buffer)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one request (see the module docstring for what each does)."""
        bucket, _, key = request.path[1:].partition("/")
        if request.method == "PUT":
            received = 0
            read = request.content.readany
            while chunk := await read():
                received += len(chunk)
            if key:
                self._store.put(bucket, key, received)
            return web.Response(status=200, headers={"ETag": _ETAG})
        if request.method == "GET" and not key and "list-type" in request.query:
            query = request.query
            body = self._store.list_page(
                bucket, query.get("prefix", ""), int(query.get("max-keys", "1000")),
                query.get("continuation-token"),
            )
            return web.Response(body=body, content_type="application/xml")
        if request.method == "GET" and key:
            return await self._get(request, bucket, key)
        if request.method == "DELETE" and key:
            self._store.delete(bucket, key)
            return web.Response(status=204)
        await request.read()
        return web.Response(status=200)

    async def _get(self, request: web.Request, bucket: str, key: str) -> web.StreamResponse:
        size = self._store.size(bucket, key)
        if size is None:
            return web.Response(status=404, content_type="application/xml",
                                body=b"<Error><Code>NoSuchKey</Code></Error>")
        first, last, status = 0, size - 1, 200
        wanted = parse_range(request.headers.get("Range", ""), size)
        headers = {"ETag": _ETAG, "Accept-Ranges": "bytes"}
        if wanted is not None:
            first, last = wanted
            status = 206
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        length = last - first + 1 if size else 0
        if length <= WRITE_CHUNK:
            start = first % len(self._buffer)
            if start + length <= len(self._buffer):
                return web.Response(status=status, headers=headers, body=self._buffer[start : start + length])
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = length
        await response.prepare(request)
        offset = first
        remaining = length
        while remaining:
            # The body cycles through the buffer, so any size is served from it.
            start = offset % len(self._buffer)
            piece = min(remaining, WRITE_CHUNK, len(self._buffer) - start)
            await response.write(self._buffer[start : start + piece])
            offset += piece
            remaining -= piece
        await response.write_eof()
        return response


def build_app(buffer_size: int = 4 * WRITE_CHUNK) -> web.Application:
    """The bare server's application, serving bodies from ``buffer_size`` random bytes."""
    app = web.Application()
    handler = BareHandler(BareStore(), random.Random(0).randbytes(buffer_size))
    app.router.add_route("*", "/{tail:.*}", handler.handle)
    return app


@dataclass(frozen=True)
class RunningBareServer:
    """A bare server started in a subprocess."""

    process: asyncio.subprocess.Process
    port: int

    @property
    def pid(self) -> int:
        """Its process id (for its CPU time)."""
        return self.process.pid

    @property
    def url(self) -> str:
        """Its S3 endpoint."""
        return f"http://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def bare_server_process(timeout: float = 30.0) -> AsyncIterator[RunningBareServer]:
    """Run the bare server in a subprocess on an ephemeral port of 127.0.0.1
    for the duration of the context. It exits when its stdin closes, which
    is how it is stopped and why it never outlives the benchmark."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "objectd.bench_bare_server",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout)).decode()
        if not line.startswith(READY_PREFIX):
            raise RuntimeError(f"bare server did not start (said {line!r})")
        yield RunningBareServer(process, int(line[len(READY_PREFIX) :]))
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def serve(host: str, port: int) -> None:
    """Serve the bare server on ``host:port`` (0: any free port) until stdin
    closes, announcing the port on stdout."""
    runner = web.AppRunner(build_app(), access_log=None, handle_signals=False)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    site = web.SockSite(runner, sock, backlog=1024)
    await site.start()
    print(f"{READY_PREFIX}{sock.getsockname()[1]}", flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    stdin = sys.stdin.fileno()

    def on_stdin() -> None:
        try:
            data = os.read(stdin, 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(stdin)
            stop.set()

    try:
        loop.add_reader(stdin, on_stdin)
    except OSError:
        pass  # stdin is a file or /dev/null (which cannot be watched): stop by signal only
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    """``python -m objectd.bench_bare_server [--host H] [--port P]``."""
    parser = argparse.ArgumentParser(prog="objectd.bench_bare_server",
                                     description="The bare S3 server objectd bench measures as a ceiling.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
