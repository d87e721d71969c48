"""A storage node's answer to one request, received into buffers (no I/O).

The gateway reads fragment ranges of up to a few MiB many times a second, and
most of a read's cost in the gateway was moving bytes: TLS records decrypted
into fresh objects, then gathered and joined into the answer. A
:class:`ResponseReceiver` is fed the way an :class:`asyncio.BufferedProtocol`
is fed (:meth:`~ResponseReceiver.get_buffer`, then
:meth:`~ResponseReceiver.buffer_updated`), and hands out the answer's own body
buffer once the head is known, so the TLS layer decrypts each body byte
straight into the bytearray the data path keeps. That bytearray is not zeroed
first (:func:`~erasure.unfilled.unfilled_bytearray`): an answer is handed out
only once every byte of its body has arrived.

Only what a node sends is accepted: HTTP/1.x with a Content-Length (nodes
never answer chunked), a head under :data:`MAX_HEAD`, a body no longer than the
caller allows. Anything else is :class:`ResponseInvalid`, and the connection it
came on is not reused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from erasure.unfilled import unfilled_bytearray

MAX_HEAD = 16 << 10
"""Largest head accepted (status line and headers)."""

ERROR_BODY_LIMIT = 64 << 10
"""Bytes of an answer other than the one asked for (an error document) kept."""

_STATUS_LINE = re.compile(rb"\AHTTP/1\.([01]) ([1-5][0-9][0-9])(?: [^\r\n]*)?\Z")
_HEADER_NAME = re.compile(rb"\A[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_DIGITS = re.compile(r"\A[0-9]{1,19}\Z")
_CONTENT_RANGE = re.compile(r"\Abytes ([0-9]{1,19})-([0-9]{1,19})/([0-9]{1,19})\Z")


class ResponseInvalid(Exception):
    """Bytes that are not an answer this client accepts from a node."""


@dataclass(frozen=True)
class ResponseHead:
    """The status line and headers of an answer."""

    status: int
    headers: Mapping[str, str]
    """Header values by lower-cased name (a repeated header's values joined by ``, ``)."""
    content_length: int
    keep_alive: bool
    """Whether the connection may carry another request after this answer."""


def parse_response_head(raw: bytes | bytearray | memoryview) -> ResponseHead:
    """Parse a head (up to and without the blank line ending it);
    ResponseInvalid unless it is an HTTP/1.x final answer with a single
    Content-Length and no Transfer-Encoding."""
    lines = bytes(raw).split(b"\r\n")
    match = _STATUS_LINE.match(lines[0])
    if match is None:
        raise ResponseInvalid(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    minor, status = int(match.group(1)), int(match.group(2))
    if status < 200:
        raise ResponseInvalid(f"unexpected interim answer {status}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not _HEADER_NAME.match(name):
            raise ResponseInvalid(f"malformed header line {line[:80]!r}")
        text = value.strip(b" \t").decode("latin-1")
        key = name.decode("ascii").lower()
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    if "transfer-encoding" in headers:
        raise ResponseInvalid("a node answers with a Content-Length, not a transfer coding")
    raw_length = headers.get("content-length")
    if raw_length is None:
        if status not in (204, 304):
            raise ResponseInvalid(f"answer {status} without a Content-Length")
        length = 0
    elif not _DIGITS.match(raw_length):
        raise ResponseInvalid(f"bad Content-Length {raw_length!r}")
    else:
        length = int(raw_length)
    tokens = {token.strip().lower() for token in headers.get("connection", "").split(",")}
    keep_alive = "close" not in tokens if minor == 1 else "keep-alive" in tokens
    return ResponseHead(status, headers, length, keep_alive)


@dataclass(frozen=True)
class ContentRange:
    """A ``Content-Range: bytes FIRST-LAST/SIZE`` header's values."""

    first: int
    last: int
    size: int

    @property
    def length(self) -> int:
        """How many bytes the range holds."""
        return self.last - self.first + 1


def parse_content_range(value: str | None) -> ContentRange:
    """The range a partial answer says it holds; ResponseInvalid when the
    header is missing or not a satisfied single byte range."""
    match = _CONTENT_RANGE.match(value or "")
    if match is None:
        raise ResponseInvalid(f"bad Content-Range {value!r}")
    first, last, size = (int(group) for group in match.groups())
    if last < first or last >= size:
        raise ResponseInvalid(f"impossible Content-Range {value!r}")
    return ContentRange(first, last, size)


@dataclass(frozen=True)
class Answer:
    """A whole answer: its head and its body (possibly cut at
    :data:`ERROR_BODY_LIMIT` when it is not the expected answer)."""

    head: ResponseHead
    body: bytearray
    reusable: bool
    """Whether the connection is clean for another request."""


class ResponseReceiver:
    """Receives one answer: the head into a scratch buffer, then the body
    into a bytearray of its own.

    A 2xx answer whose Content-Length exceeds ``body_limit`` (the bytes
    asked for) is refused with ResponseInvalid before any body byte is kept,
    so a node cannot make the gateway allocate what it did not ask for. Of
    other answers (error documents) at most :data:`ERROR_BODY_LIMIT` bytes
    are kept; the connection of a longer one is not reused.
    """

    def __init__(self, body_limit: int = ERROR_BODY_LIMIT) -> None:
        self._body_limit = body_limit
        self._head_buf = unfilled_bytearray(MAX_HEAD)
        self._head_view = memoryview(self._head_buf)
        self._head_len = 0
        self._head: ResponseHead | None = None
        self._body = bytearray()
        self._body_view = memoryview(self._body)
        self._received = 0
        self._keep = 0  # body bytes kept
        self._reusable = True
        self.answer: Answer | None = None
        """The answer once complete."""

    @property
    def started(self) -> bool:
        """Whether any byte of the answer has arrived."""
        return self._head_len > 0

    def get_buffer(self) -> memoryview:
        """Where the next bytes go: free head space, or the body's remainder."""
        if self.answer is not None:
            raise RuntimeError("the answer is complete")
        if self._head is None:
            return self._head_view[self._head_len:]
        return self._body_view[self._received:]

    def buffer_updated(self, nbytes: int) -> bool:
        """``nbytes`` were written at the start of the last buffer; True once
        the answer is complete (then :attr:`answer` holds it)."""
        if self._head is None:
            start = max(self._head_len - 3, 0)
            self._head_len += nbytes
            end = self._head_buf.find(b"\r\n\r\n", start, self._head_len)
            if end < 0:
                if self._head_len >= MAX_HEAD:
                    raise ResponseInvalid(f"answer head longer than {MAX_HEAD} bytes")
                return False
            self._start_body(parse_response_head(self._head_view[:end]))
            extra = self._head_view[end + 4:self._head_len]
            if extra.nbytes > self._keep:
                if self._reusable:
                    raise ResponseInvalid("more bytes than the answer's Content-Length")
                extra = extra[:self._keep]  # the rest of a cut error document
            self._body_view[:extra.nbytes] = extra
            self._received = extra.nbytes
        else:
            self._received += nbytes
        if self._received < self._keep:
            return False
        head = self._head
        assert head is not None
        self.answer = Answer(head, self._body, self._reusable)
        return True

    def _start_body(self, head: ResponseHead) -> None:
        self._head = head
        keep = head.content_length
        if 200 <= head.status < 300:
            if keep > self._body_limit:
                raise ResponseInvalid(
                    f"answer of {keep} bytes where at most {self._body_limit} were asked")
        else:
            keep = min(keep, ERROR_BODY_LIMIT)
        self._keep = keep
        self._reusable = head.keep_alive and keep == head.content_length
        self._body = unfilled_bytearray(keep)
        self._body_view = memoryview(self._body)
