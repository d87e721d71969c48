"""Tests for objectd.node_response: a node's answers as bytes, no socket."""

from __future__ import annotations

import os

import pytest

from objectd.node_response import (
    ERROR_BODY_LIMIT,
    MAX_HEAD,
    Answer,
    ResponseInvalid,
    ResponseReceiver,
    parse_content_range,
    parse_response_head,
)


def feed(receiver: ResponseReceiver, data: bytes, step: int) -> Answer | None:
    """Give ``data`` to ``receiver`` as a buffered protocol would, at most
    ``step`` bytes per buffer; the answer once complete (with bytes left
    over an error)."""
    at = 0
    while at < len(data):
        buffer = receiver.get_buffer()
        n = min(len(buffer), step, len(data) - at)
        assert n > 0
        buffer[:n] = data[at : at + n]
        at += n
        if receiver.buffer_updated(n):
            assert at == len(data), f"{len(data) - at} bytes after a complete answer"
            return receiver.answer
    return None


def partial(body: bytes, offset: int = 0, size: int = 1 << 30, extra: str = "") -> bytes:
    return (f"HTTP/1.1 206 Partial Content\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Range: bytes {offset}-{offset + len(body) - 1}/{size}\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


@pytest.mark.parametrize("step", [1, 3, 100, 4096, 16 << 10, 1 << 30])
def test_an_answer_arrives_whole_in_any_pieces(step: int) -> None:
    body = os.urandom(70_001)
    answer = feed(ResponseReceiver(len(body)), partial(body, 10), step)
    assert answer is not None
    assert answer.head.status == 206
    assert bytes(answer.body) == body
    assert answer.reusable
    assert parse_content_range(answer.head.headers["content-range"]).first == 10


def test_the_body_is_its_own_bytearray_of_exactly_its_length() -> None:
    body = b"x" * 5000
    answer = feed(ResponseReceiver(8000), partial(body), 1 << 20)
    assert answer is not None
    assert type(answer.body) is bytearray and len(answer.body) == 5000


def test_an_empty_body_completes_with_the_head() -> None:
    receiver = ResponseReceiver()
    assert not receiver.started
    answer = feed(receiver, b"HTTP/1.1 204 No Content\r\n\r\n", 5)
    assert receiver.started
    assert answer is not None and answer.body == b"" and answer.reusable
    with pytest.raises(RuntimeError):
        receiver.get_buffer()


def test_an_answer_longer_than_asked_is_refused_before_its_body() -> None:
    receiver = ResponseReceiver(100)
    with pytest.raises(ResponseInvalid, match="at most 100"):
        feed(receiver, partial(b"y" * 101)[:200], 1 << 20)


def test_bytes_past_the_content_length_are_refused() -> None:
    with pytest.raises(ResponseInvalid, match="more bytes"):
        feed(ResponseReceiver(10), partial(b"0123456789") + b"HTTP/1.1 200 OK\r\n", 1 << 20)


def test_a_long_error_document_is_cut_and_its_connection_not_reused() -> None:
    doc = b"e" * (ERROR_BODY_LIMIT + 5000)
    raw = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: %d\r\n\r\n" % len(doc) + doc
    receiver = ResponseReceiver(10)
    answer = None
    at = 0
    while answer is None:  # the receiver stops asking once it has kept its limit
        buffer = receiver.get_buffer()
        n = min(len(buffer), 7000, len(raw) - at)
        buffer[:n] = raw[at : at + n]
        at += n
        if receiver.buffer_updated(n):
            answer = receiver.answer
    assert answer is not None
    assert answer.head.status == 500 and len(answer.body) == ERROR_BODY_LIMIT
    assert not answer.reusable


def test_a_short_error_document_is_kept_whole() -> None:
    doc = b'{"error": "not-found", "message": "no such fragment"}'
    raw = b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(doc)
    answer = feed(ResponseReceiver(1 << 20), raw + doc, 9)
    assert answer is not None and answer.body == doc and answer.reusable


def test_a_head_without_end_is_refused_at_the_limit() -> None:
    raw = b"HTTP/1.1 206 Partial Content\r\n" + b"X-Filler: " + b"f" * MAX_HEAD
    with pytest.raises(ResponseInvalid, match="longer than"):
        feed(ResponseReceiver(10), raw, 1 << 20)


def test_heads() -> None:
    head = parse_response_head(b"HTTP/1.1 206 Partial Content\r\nContent-Length: 3\r\nX-A: 1\r\nx-a: 2")
    assert (head.status, head.content_length, head.keep_alive) == (206, 3, True)
    assert head.headers["x-a"] == "1, 2"
    assert not parse_response_head(b"HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0").keep_alive
    assert not parse_response_head(b"HTTP/1.0 200 OK\r\nContent-Length: 0").keep_alive
    assert parse_response_head(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0").keep_alive
    assert parse_response_head(b"HTTP/1.1 304 Not Modified").content_length == 0


@pytest.mark.parametrize("raw", [
    b"HTTP/2 200 OK\r\nContent-Length: 0",
    b"HTTP/1.1 20 OK\r\nContent-Length: 0",
    b"HTTP/1.1 100 Continue",
    b"ICY 200 OK\r\nContent-Length: 0",
    b"HTTP/1.1 200 OK",  # no length: would need reading until close
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1",
    b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999",
    b"HTTP/1.1 200 OK\r\n Folded: header\r\nContent-Length: 0",
    b"HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 0",
    b"HTTP/1.1 200 OK\r\nNoColon\r\nContent-Length: 0",
])
def test_heads_a_node_never_sends_are_refused(raw: bytes) -> None:
    with pytest.raises(ResponseInvalid):
        parse_response_head(raw)


def test_content_ranges() -> None:
    got = parse_content_range("bytes 100-199/1000")
    assert (got.first, got.last, got.size, got.length) == (100, 199, 1000, 100)
    for bad in (None, "", "bytes */1000", "bytes 5-4/1000", "bytes 0-1000/1000", "bytes=0-1/2",
                "bytes 0-1/*", "items 0-1/2"):
        with pytest.raises(ResponseInvalid):
            parse_content_range(bad)

