"""Sans-I/O decoder for ``Content-Encoding: aws-chunked`` request bodies.

Bytes in, events out (:class:`Data`, :class:`Trailers`, :class:`EndOfBody`),
in the style of h11: the caller feeds whatever the socket produced to
:meth:`AwsChunkedDecoder.receive_data` and calls
:meth:`AwsChunkedDecoder.end_of_input` when the request body ends.

The wire format (S3 "Transferring Payload in Multiple Chunks" and "Trailing
checksums")::

    <hex-size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n      (repeated)
    0[;chunk-signature=<sig>]\\r\\n                          (final chunk)
    <trailer-name>:<value>\\r\\n ... [x-amz-trailer-signature:<sig>\\r\\n]
    \\r\\n

Copies and buffering: payload bytes are handed out as slices (memoryviews)
of the buffers the caller passed in, never copied; only chunk-header and
trailer lines (a few dozen bytes) are buffered. A chunk's SHA-256 is updated
slice by slice as its bytes arrive, so no chunk is ever held whole. The
slices stay valid only as long as the caller keeps the buffer unchanged.

Signed chunks and data release: a chunk's data events are returned before
its signature can be checked (the signature covers the whole chunk). The
signature is verified as soon as the chunk's last byte arrives, before any
later event, so a bad chunk always raises ``SignatureDoesNotMatch`` before
:class:`EndOfBody`. This is safe because nothing a request writes becomes
visible before its metadata commit, which happens only after
:class:`EndOfBody`; consumers must not act on data before then.

Errors follow S3: malformed framing or a truncated body is
``IncompleteBody``, a decoded length that differs from
``x-amz-decoded-content-length`` is ``IncompleteBody``, a chunk smaller than
8 KiB that is not the last data chunk is ``InvalidChunkSizeError``, and a
malformed or unexpected trailer is ``MalformedTrailerError``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from s3api.auth_errors import InvalidChunkSizeError, MalformedTrailerError
from s3api.checksums import ChecksumAlgorithm
from s3api.errors import IncompleteBody, InvalidRequest, S3Error
from s3api.errors import NotImplemented as S3NotImplemented
from s3api.sigv4 import PayloadMode

__all__ = [
    "MAX_CHUNK_SIZE",
    "MIN_CHUNK_SIZE",
    "AwsChunkedDecoder",
    "ChunkVerifier",
    "Data",
    "EndOfBody",
    "Event",
    "Trailers",
    "parse_trailer_header",
]

MIN_CHUNK_SIZE = 8192  # S3: every chunk but the last data chunk is at least 8 KiB
MAX_CHUNK_SIZE = 5 * 1024**3  # larger than any single S3 PUT may be
MAX_LINE = 4096  # chunk headers and trailer lines are far shorter
TRAILER_SIGNATURE = "x-amz-trailer-signature"

_CHUNK_SIZE = re.compile(rb"[0-9a-fA-F]{1,16}")
_CHUNK_SIGNATURE = re.compile(rb"chunk-signature=([0-9a-f]{64})")
_TRAILER_NAME = re.compile(r"[a-z0-9-]+")
_TERMINATED = "The request body terminated unexpectedly"


@dataclass(frozen=True, slots=True)
class Data:
    """Decoded payload bytes (a slice of a buffer the caller passed in)."""

    data: memoryview | bytes


@dataclass(frozen=True, slots=True)
class Trailers:
    """The trailing headers (lower-case names), after their signature was verified."""

    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class EndOfBody:
    """The body ended well-formed, with every signature verified."""


Event = Data | Trailers | EndOfBody


class ChunkVerifier(Protocol):
    """Checks chained chunk and trailer signatures (see ``sigv4.ChunkSignatureChain``)."""

    def verify_chunk(self, chunk_sha256: bytes, signature: str) -> None:
        """Raise ``SignatureDoesNotMatch`` unless ``signature`` signs a chunk with this digest."""
        ...

    def verify_trailer(self, canonical_trailer: bytes, signature: str) -> None:
        """Raise ``SignatureDoesNotMatch`` unless ``signature`` signs this canonical trailer."""
        ...


def parse_trailer_header(value: str) -> frozenset[str]:
    """The trailer names an ``x-amz-trailer`` header announces.

    S3 accepts one flexible-checksum header name there; anything else gets its
    ``InvalidRequest``.
    """
    names = [name.strip().lower() for name in value.split(",") if name.strip()]
    for name in names:
        if ChecksumAlgorithm.from_header(name) is None:
            raise InvalidRequest("The value specified in the x-amz-trailer header is not supported")
    if len(set(names)) > 1:
        raise InvalidRequest(
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
        )
    return frozenset(names)


_HEADER, _DATA, _DATA_END, _TRAILER, _DONE, _FAILED = range(6)
_EMPTY_SHA256_DIGEST = hashlib.sha256(b"").digest()


class AwsChunkedDecoder:
    """Decodes one aws-chunked request body, verifying chunk signatures on the way.

    ``mode`` is the body's payload mode (a streaming one); ``chunk_verifier``
    is required for signed chunks and unused otherwise; ``expected_trailers``
    are the names ``x-amz-trailer`` announced; ``decoded_length`` is
    ``x-amz-decoded-content-length`` when the client sent it.
    ``min_chunk_size`` is S3's 8 KiB floor for every chunk but the last data
    chunk (0 turns the check off); ``max_chunk_size`` bounds a declared chunk
    size when no decoded length is known.
    """

    def __init__(
        self,
        mode: PayloadMode,
        chunk_verifier: ChunkVerifier | None,
        expected_trailers: Iterable[str] = (),
        decoded_length: int | None = None,
        *,
        min_chunk_size: int = MIN_CHUNK_SIZE,
        max_chunk_size: int = MAX_CHUNK_SIZE,
    ) -> None:
        if not mode.is_streaming:
            raise ValueError(f"{mode.value} is not an aws-chunked payload mode")
        if not mode.is_supported:
            raise S3NotImplemented(f"x-amz-content-sha256 {mode.value} is not implemented.")
        if mode.signed_chunks and chunk_verifier is None:
            raise ValueError("signed chunks need a chunk verifier")
        self.mode = mode
        self._verifier = chunk_verifier if mode.signed_chunks else None
        self._expected_trailers = frozenset(name.lower() for name in expected_trailers)
        self.decoded_length = decoded_length
        self._min_chunk_size = min_chunk_size
        self._max_chunk_size = max_chunk_size

        self._state = _HEADER
        self._line = bytearray()
        self._remaining = 0  # bytes left in the current chunk's data
        self._hasher: hashlib._Hash | None = None
        self._chunk_signature = ""
        self._chunk_number = 0
        self._previous_size: int | None = None
        self._trailers: dict[str, str] = {}
        self._trailer_signature: str | None = None
        self._skipped_blank = False
        self.decoded_bytes = 0

    @property
    def finished(self) -> bool:
        """True once :class:`EndOfBody` was produced."""
        return self._state == _DONE

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Decode the next bytes of the body; return the events they complete.

        Raises the S3 error for a malformed body or a bad signature; the
        decoder is unusable afterwards.
        """
        if self._state == _FAILED:
            raise IncompleteBody(_TERMINATED)
        view = memoryview(data)
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        searchable = data if isinstance(data, (bytes, bytearray)) else None
        events: list[Event] = []
        try:
            self._decode(view, searchable, events)
        except S3Error:
            self._state = _FAILED
            raise
        return events

    def end_of_input(self) -> None:
        """The body ended: raise ``IncompleteBody`` unless it was complete."""
        if self._state == _DONE:
            return
        announced_but_absent = (
            self._state == _TRAILER and self._skipped_blank and not self._trailers and not self._line
        )
        self._state = _FAILED
        if announced_but_absent:
            # "0\r\n\r\n" and nothing more: the trailers x-amz-trailer
            # announced never came.
            raise MalformedTrailerError()
        raise IncompleteBody(_TERMINATED)

    # -- decoding ------------------------------------------------------------

    def _decode(self, view: memoryview, searchable: bytes | bytearray | None, events: list[Event]) -> None:
        pos = 0
        end = len(view)
        while pos < end:
            state = self._state
            if state == _DATA:
                take = min(self._remaining, end - pos)
                piece = view[pos : pos + take]
                if self._hasher is not None:
                    self._hasher.update(piece)
                events.append(Data(piece))
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self._chunk_data_complete()
                    self._state = _DATA_END
            elif state == _DATA_END:
                take = min(2 - len(self._line), end - pos)
                self._line += view[pos : pos + take]
                pos += take
                if len(self._line) == 2:
                    if self._line != b"\r\n":
                        raise IncompleteBody(_TERMINATED)
                    self._line.clear()
                    self._state = _HEADER
            elif state in (_HEADER, _TRAILER):
                line, pos = self._read_line(view, searchable, pos, end)
                if line is None:
                    return
                if state == _HEADER:
                    self._chunk_header(line)
                else:
                    self._trailer_line(line, events)
            else:  # _DONE: bytes after the end of the encoding
                raise IncompleteBody(_TERMINATED)

    def _read_line(
        self, view: memoryview, searchable: bytes | bytearray | None, pos: int, end: int
    ) -> tuple[bytes | None, int]:
        """Consume up to and including CRLF; the line without it, or None if incomplete."""
        limit = min(end, pos + MAX_LINE + 2 - len(self._line))
        newline = _find_newline(view, searchable, pos, limit)
        if newline < 0:
            self._line += view[pos:limit]
            if len(self._line) > MAX_LINE + 1:
                raise IncompleteBody(_TERMINATED)
            return None, limit
        self._line += view[pos:newline]
        line = bytes(self._line)
        self._line.clear()
        if not line.endswith(b"\r"):
            raise IncompleteBody(_TERMINATED)
        return line[:-1], newline + 1

    def _chunk_header(self, line: bytes) -> None:
        size_text, _, extension = line.partition(b";")
        if not _CHUNK_SIZE.fullmatch(size_text):
            raise IncompleteBody(_TERMINATED)
        size = int(size_text, 16)
        self._chunk_number += 1
        if self._verifier is not None:
            match = _CHUNK_SIGNATURE.fullmatch(extension)
            if match is None:
                raise IncompleteBody(_TERMINATED)
            self._chunk_signature = match.group(1).decode("ascii")
        if size > 0 and self._previous_size is not None and self._previous_size < self._min_chunk_size:
            raise InvalidChunkSizeError(
                Chunk=str(self._chunk_number), BadChunkSize=str(self._previous_size)
            )
        if size > self._max_chunk_size:
            raise IncompleteBody(_TERMINATED)
        if self.decoded_length is not None and self.decoded_bytes + size > self.decoded_length:
            raise IncompleteBody()
        if size == 0:
            if self._verifier is not None:
                self._verifier.verify_chunk(_EMPTY_SHA256_DIGEST, self._chunk_signature)
            if self.decoded_length is not None and self.decoded_bytes != self.decoded_length:
                raise IncompleteBody()
            self._state = _TRAILER
            return
        self._previous_size = size
        self._remaining = size
        self.decoded_bytes += size
        self._hasher = hashlib.sha256() if self._verifier is not None else None
        self._state = _DATA

    def _chunk_data_complete(self) -> None:
        if self._verifier is not None:
            assert self._hasher is not None
            self._verifier.verify_chunk(self._hasher.digest(), self._chunk_signature)
            self._hasher = None

    def _trailer_line(self, line: bytes, events: list[Event]) -> None:
        if not line:
            if self._expected_trailers and not self._trailers and not self._skipped_blank:
                # Some signers put a blank line between the final chunk and
                # the trailers; it carries nothing, so allow one.
                self._skipped_blank = True
                return
            self._finish_trailers(events)
            return
        if not self.mode.has_trailer or self._trailer_signature is not None:
            raise MalformedTrailerError()
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            raise MalformedTrailerError() from None
        name, colon, value = text.partition(":")
        name = name.strip().lower()
        value = value.strip()
        if not colon or not _TRAILER_NAME.fullmatch(name) or not value:
            raise MalformedTrailerError()
        if name == TRAILER_SIGNATURE:
            if self._verifier is None:
                raise MalformedTrailerError()
            self._trailer_signature = value
            return
        if name not in self._expected_trailers or name in self._trailers:
            raise MalformedTrailerError()
        self._trailers[name] = value

    def _finish_trailers(self, events: list[Event]) -> None:
        if set(self._trailers) != self._expected_trailers:
            raise MalformedTrailerError()
        if self.mode.has_trailer and self._verifier is not None:
            if self._trailer_signature is None:
                raise MalformedTrailerError()
            canonical = "".join(f"{name}:{self._trailers[name]}\n" for name in sorted(self._trailers))
            self._verifier.verify_trailer(canonical.encode("ascii"), self._trailer_signature)
        if self.mode.has_trailer:
            events.append(Trailers(dict(self._trailers)))
        events.append(EndOfBody())
        self._state = _DONE


def _find_newline(view: memoryview, searchable: bytes | bytearray | None, start: int, end: int) -> int:
    """Index of the first ``\\n`` in ``view[start:end]``, or -1, copying little."""
    if searchable is not None:
        return searchable.find(b"\n", start, end)
    step = 128
    while start < end:
        stop = min(end, start + step)
        found = view[start:stop].tobytes().find(b"\n")
        if found >= 0:
            return start + found
        start = stop
        step *= 4
    return -1
