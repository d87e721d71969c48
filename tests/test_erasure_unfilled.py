"""Tests for erasure.unfilled."""

from __future__ import annotations

from erasure.unfilled import unfilled_bytearray


def test_unfilled_bytearrays_are_writable_bytearrays_of_their_size() -> None:
    for size in (0, 1, 4096, 1 << 20):
        buffer = unfilled_bytearray(size)
        assert type(buffer) is bytearray and len(buffer) == size
        buffer[:] = b"z" * size
        assert buffer.count(b"z") == size
        buffer += b"more"  # an ordinary bytearray: it can grow
        assert len(buffer) == size + 4


def test_each_call_is_a_new_buffer() -> None:
    first, second = unfilled_bytearray(64), unfilled_bytearray(64)
    first[:] = b"a" * 64
    second[:] = b"b" * 64
    assert first == b"a" * 64 and first is not second
