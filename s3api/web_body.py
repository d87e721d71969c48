"""The :class:`~s3api.service.RequestBody` of an aiohttp request.

Reads the request stream in pieces of up to ``read_size`` bytes (a large
body in pieces of exactly that size but the last, joined once from what
aiohttp received), removes aws-chunked framing (verifying chunk signatures on
the way), and feeds every decoded byte to a
:class:`~s3api.body_checks.BodyDigester`. Pieces of ``offload_threshold``
bytes or more are decoded and hashed on a worker thread (hashlib, zlib and
awscrt release the GIL), and the next piece is read and hashed while the
consumer handles the current one; one piece is in flight at a time, so order
is kept and memory stays at two pieces. A consumer that works on the bytes off
the loop anyway takes them unhashed (``chunks_unhashed``) and hashes them on
its own worker thread, saving a hand-off per piece.

``finish()`` drains what the consumer did not read, then checks length and
digests; a body that ended early (client gone, fewer bytes than announced)
is IncompleteBody there, so the service never commits it.

``Expect: 100-continue`` is answered only when the body is first read, i.e.
after authentication and whatever checks the service makes before reading,
so a request refused early never has its body sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor

from aiohttp import web

from s3api.aws_chunked import AwsChunkedDecoder, Data, Trailers
from s3api.body_checks import BodyDigester, BodySpec
from s3api.errors import EntityTooLarge, IncompleteBody, MaxMessageLengthExceeded, RequestTimeout, S3Error
from s3api.md5_lanes import LaneHasher
from s3api.service import BodyDigest
from s3api.sigv4 import ChunkSignatureChain

__all__ = ["CONTINUE_SENT", "AiohttpRequestBody", "expects_continue"]

# Request key set once "100 Continue" went out.
CONTINUE_SENT = web.RequestKey("s3api.continue_sent", bool)

Piece = list[bytes | memoryview]


def expects_continue(request: web.BaseRequest) -> bool:
    """Whether the client waits for ``100 Continue`` before sending its body."""
    return request.version >= (1, 1) and request.headers.get("Expect", "").lower() == "100-continue"


class AiohttpRequestBody:
    """A request body read from aiohttp, decoded and verified as it streams."""

    def __init__(
        self,
        request: web.BaseRequest,
        spec: BodySpec,
        *,
        executor: Executor,
        chunk_verifier: ChunkSignatureChain | None,
        max_size: int,
        read_size: int,
        offload_threshold: int,
        idle_timeout: float,
        md5_lanes: LaneHasher | None = None,
    ) -> None:
        self.spec = spec
        self._request = request
        self._executor = executor
        self._max_size = max_size
        self._read_size = read_size
        self._offload_threshold = offload_threshold
        self._idle_timeout = idle_timeout
        self._digester = BodyDigester(spec, md5_lanes)
        self._decoder = (
            AwsChunkedDecoder(spec.payload_mode, chunk_verifier, spec.trailer_names, spec.decoded_length)
            if spec.aws_chunked
            else None
        )
        self._trailers: dict[str, str] | None = None
        self._wire_bytes = 0
        self._ended = False
        self._error: S3Error | None = None
        self._pending: asyncio.Future[Piece | None] | None = None
        self._iterated = False
        self._digest: BodyDigest | None = None
        self._carry: memoryview | None = None
        self._consumer_hashes = False
        self._decoded = 0

    # -- reading ---------------------------------------------------------------

    async def _send_continue(self) -> None:
        request = self._request
        if expects_continue(request) and not request.get(CONTINUE_SENT):
            request[CONTINUE_SENT] = True
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            # The final response has not started yet.
            request.writer.output_size = 0

    async def _read_wire(self) -> bytes:
        if self._reads_ahead():
            return await self._read_wire_piece()
        content = self._request.content
        try:
            # What has arrived already needs no timer; b"" means nothing
            # buffered (or the end), which the waiting read below tells apart.
            buffered = content.read_nowait(self._read_size)
            if buffered:
                return buffered
            async with asyncio.timeout(self._idle_timeout):
                return await content.read(self._read_size)
        except TimeoutError:
            raise RequestTimeout() from None
        except Exception as error:
            # aiohttp reports a body cut short (connection lost, bad chunked
            # framing) with various exception types; to S3 they are all one.
            raise IncompleteBody() from error

    async def _read_wire_piece(self) -> bytes:
        """The next ``read_size`` bytes of a large body (fewer only at its
        end), joined once from the chunks aiohttp received: whole segments
        reach the data path without being copied again, and a worker thread
        gets one hand-off per piece instead of one per network read."""
        content = self._request.content
        parts: list[bytes | memoryview] = []
        size = 0
        want = self._read_size
        if self._carry is not None:
            parts.append(self._carry)
            size = self._carry.nbytes
            self._carry = None
        try:
            while size < want:
                async with asyncio.timeout(self._idle_timeout):
                    data, chunk_end = await content.readchunk()
                if not data:
                    if chunk_end:
                        # The end of an HTTP chunk whose bytes were read
                        # already, not of the body (aiohttp may know the body
                        # is complete while some of it is still buffered).
                        continue
                    break  # (b"", False): everything received has been read
                parts.append(data)
                size += len(data)
        except TimeoutError:
            raise RequestTimeout() from None
        except Exception as error:
            # aiohttp reports a body cut short (connection lost, bad chunked
            # framing) with various exception types; to S3 they are all one.
            raise IncompleteBody() from error
        if size > want:
            last = memoryview(parts[-1])
            keep = last.nbytes - (size - want)
            parts[-1] = last[:keep]
            self._carry = last[keep:]
        if len(parts) == 1 and type(parts[0]) is bytes:
            return parts[0]
        return b"".join(parts)

    def _process(self, raw: bytes) -> Piece:
        """Decode and hash one wire piece; runs on a worker thread for big pieces."""
        digester = None if self._consumer_hashes else self._digester
        if self._decoder is None:
            if digester is not None:
                digester.update(raw)
            self._decoded += len(raw)
            return [raw]
        out: Piece = []
        for event in self._decoder.receive_data(raw):
            if isinstance(event, Data):
                if digester is not None:
                    digester.update(event.data)
                self._decoded += len(event.data)
                out.append(event.data)
            elif isinstance(event, Trailers):
                self._trailers = event.headers
        return out

    async def _next_piece(self) -> Piece | None:
        """The next decoded, hashed payload piece; None once the body ended."""
        if self._error is not None:
            raise self._error
        if self._ended:
            return None
        try:
            raw = await self._read_wire()
            if not raw:
                self._ended = True
                if self._decoder is not None:
                    self._decoder.end_of_input()
                elif self.spec.wire_length is not None and self._wire_bytes != self.spec.wire_length:
                    raise IncompleteBody()
                return None
            self._wire_bytes += len(raw)
            if self._decoder is None and self._wire_bytes > self._max_size:
                raise EntityTooLarge(MaxSizeAllowed=str(self._max_size))
            if len(raw) >= self._offload_threshold and not (
                self._consumer_hashes and self._decoder is None
            ):
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self._executor, self._process, raw)
            return self._process(raw)
        except S3Error as error:
            self._error = error
            self._ended = True
            raise

    async def _take_next(self) -> Piece | None:
        """The piece read ahead, if one is, else the next piece read now."""
        pending, self._pending = self._pending, None
        if pending is None:
            return await self._next_piece()
        return await pending

    def _reads_ahead(self) -> bool:
        """Whether to read the next piece while the consumer handles one: not
        for a body known to be small, whose pieces are hashed on the loop
        anyway (a task per piece cost a 4 KiB PUT more than it overlapped)."""
        wire_length = self.spec.wire_length
        return wire_length is None or wire_length >= self._offload_threshold

    async def chunks(self) -> AsyncIterator[bytes | memoryview]:
        """The decoded payload, in order, as it arrives (iterate once)."""
        if self._iterated:
            raise RuntimeError("a request body can be iterated only once")
        self._iterated = True
        await self._send_continue()
        ahead = self._reads_ahead()
        while True:
            piece = await self._take_next()
            if piece is None:
                return
            if ahead:
                # Read and hash the next piece while the consumer handles this one.
                self._pending = asyncio.ensure_future(self._next_piece())
            for data in piece:
                yield data

    def chunks_unhashed(
        self,
    ) -> tuple[AsyncIterator[bytes | memoryview], Callable[[bytes | bytearray | memoryview], None]]:
        """The payload as :meth:`chunks` yields it, not yet hashed, and the
        function that hashes it: the consumer passes it every chunk's bytes,
        in order, from one thread at a time, before :meth:`finish`, and does
        not change them afterwards (their MD5 may be computed later)."""
        self._consumer_hashes = True
        return self.chunks(), self._digester.update_later

    async def _drain(self) -> None:
        await self._send_continue()
        while (piece := await self._take_next()) is not None:
            if self._consumer_hashes:
                # Never handed to the consumer, so hashed here (pieces never
                # change; finish() settles their MD5 off the loop).
                for data in piece:
                    self._digester.update_later(data)

    async def finish(self) -> BodyDigest:
        """Read what is left, then verify every digest the client sent.

        Raises IncompleteBody, XAmzContentSHA256Mismatch, BadDigest and the
        aws-chunked errors as S3 does.
        """
        if self._digest is None:
            await self._drain()
            if self._digester.unsettled:
                # The last MD5 batch, off the loop.
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(self._executor, self._digester.settle)
            if self._digester.size != self._decoded:
                raise RuntimeError(
                    f"{self._decoded} body bytes decoded but {self._digester.size} hashed"
                )
            self._digest = self._digester.finish(self._trailers)
        return self._digest

    async def read_all(self, limit: int) -> bytes:
        """The whole (small) body, verified: for XML request documents.

        Raises MaxMessageLengthExceeded past ``limit`` bytes.
        """
        if self.spec.decoded_length is not None and self.spec.decoded_length > limit:
            raise MaxMessageLengthExceeded()
        buffer = bytearray()
        async for data in self.chunks():
            buffer += data
            if len(buffer) > limit:
                raise MaxMessageLengthExceeded()
        await self.finish()
        return bytes(buffer)

    def close(self) -> None:
        """Stop reading ahead (the request is over); a body never finished
        releases its MD5 stream."""
        if self._digest is None:
            self._digester.close()
        pending, self._pending = self._pending, None
        if pending is None:
            return
        if pending.done():
            if not pending.cancelled():
                pending.exception()  # retrieved: no "never retrieved" warning
        else:
            pending.cancel()

