"""Tests for erasure.framing: frame layout, verification and runs of frames."""

from __future__ import annotations

import os

import pytest
import xxhash

from erasure.errors import PieceCorrupt
from erasure.framing import (
    DIGEST_SIZE,
    FRAME_OVERHEAD,
    HEADER_SIZE,
    close_frame,
    frame,
    frame_size_for,
    parse_header,
    unframe,
    verify_frames,
)


def make(
    payload: bytes | memoryview, seg_index: int = 3, frag_index: int = 1, encrypted: bool = True
) -> bytes:
    return frame(payload, seg_index=seg_index, frag_index=frag_index, encrypted=encrypted)


@pytest.mark.parametrize("size", [0, 1, 15, 4096])
@pytest.mark.parametrize("encrypted", [True, False])
def test_round_trip(size: int, encrypted: bool) -> None:
    payload = os.urandom(size)
    framed = make(payload, seg_index=2**40 + 5, frag_index=31, encrypted=encrypted)
    assert len(framed) == size + FRAME_OVERHEAD == frame_size_for(size)
    view = unframe(framed, seg_index=2**40 + 5, frag_index=31, encrypted=encrypted)
    assert isinstance(view, memoryview)
    assert view == payload
    header = parse_header(framed)
    assert (header.encrypted, header.payload_len, header.seg_index, header.frag_index) == (
        encrypted,
        size,
        2**40 + 5,
        31,
    )
    assert header.frame_size == len(framed)


def test_frame_starts_with_magic_and_ends_with_xxh3_of_the_rest() -> None:
    framed = make(b"payload bytes")
    assert framed[:2] == b"OD"
    assert framed[-DIGEST_SIZE:] == xxhash.xxh3_64_digest(framed[:-DIGEST_SIZE])
    assert framed[HEADER_SIZE:-DIGEST_SIZE] == b"payload bytes"


def test_encrypted_flag_is_bit_zero_of_the_flags_byte() -> None:
    assert make(b"x", encrypted=True)[3] & 1 == 1
    assert make(b"x", encrypted=False)[3] & 1 == 0


def test_frame_accepts_memoryview_payload() -> None:
    payload = os.urandom(100)
    assert make(memoryview(payload)[10:60]) == make(payload[10:60])


def test_unframe_does_not_copy_the_payload() -> None:
    buf = bytearray(make(b"abcdef"))
    view = unframe(buf)
    buf[HEADER_SIZE] = ord("z")
    assert bytes(view) == b"zbcdef"


def test_every_single_byte_flip_is_detected() -> None:
    framed = make(os.urandom(40))
    for position in range(len(framed)):
        damaged = bytearray(framed)
        damaged[position] ^= 0x01
        with pytest.raises(PieceCorrupt):
            unframe(damaged)


@pytest.mark.parametrize("cut", [1, DIGEST_SIZE, 20, 100])
def test_truncated_frames_are_detected(cut: int) -> None:
    framed = make(os.urandom(100))
    with pytest.raises(PieceCorrupt):
        unframe(framed[:-cut])


def test_extended_frames_are_detected() -> None:
    with pytest.raises(PieceCorrupt):
        unframe(make(b"abc") + b"\x00")


def test_short_buffers_are_detected() -> None:
    for size in range(HEADER_SIZE):
        with pytest.raises(PieceCorrupt):
            parse_header(make(b"")[:size])


@pytest.mark.parametrize("expectation", [{"seg_index": 4}, {"frag_index": 0}, {"encrypted": False}])
def test_frames_for_another_position_are_refused(expectation: dict[str, object]) -> None:
    framed = make(b"abc", seg_index=3, frag_index=1, encrypted=True)
    with pytest.raises(PieceCorrupt):
        unframe(framed, **expectation)  # type: ignore[arg-type]


def test_frame_refuses_out_of_range_positions() -> None:
    with pytest.raises(ValueError):
        make(b"x", seg_index=-1)
    with pytest.raises(ValueError):
        make(b"x", frag_index=1 << 16)


def run_of_frames(count: int, payload_size: int, last_size: int) -> tuple[list[bytes], int]:
    frames = [make(os.urandom(payload_size), seg_index=i, frag_index=2) for i in range(count - 1)]
    frames.append(make(os.urandom(last_size), seg_index=count - 1, frag_index=2))
    return frames, frame_size_for(payload_size)


def test_verify_frames_accepts_a_clean_run_with_short_last_frame() -> None:
    frames, size = run_of_frames(4, 64, 10)
    assert verify_frames(b"".join(frames), size, first_seg_index=0, frag_index=2) == []


def test_verify_frames_accepts_a_run_from_the_middle() -> None:
    frames, size = run_of_frames(5, 64, 64)
    assert verify_frames(b"".join(frames[2:4]), size, first_seg_index=2) == []


def test_verify_frames_finds_damaged_frames() -> None:
    frames, size = run_of_frames(4, 64, 30)
    buf = bytearray(b"".join(frames))
    buf[size + HEADER_SIZE + 5] ^= 0xFF  # payload of frame 1
    buf[3 * size] ^= 0xFF  # magic of frame 3
    assert verify_frames(buf, size) == [1, 3]


def test_verify_frames_finds_a_truncated_last_frame() -> None:
    frames, size = run_of_frames(3, 64, 64)
    assert verify_frames(b"".join(frames)[:-1], size) == [2]


def test_verify_frames_finds_frames_out_of_order() -> None:
    frames, size = run_of_frames(3, 64, 64)
    swapped = b"".join([frames[0], frames[2], frames[1]])
    assert verify_frames(swapped, size) == []
    assert verify_frames(swapped, size, first_seg_index=0) == [1, 2]


def test_verify_frames_finds_frames_of_another_fragment() -> None:
    frames, size = run_of_frames(2, 64, 64)
    assert verify_frames(b"".join(frames), size, frag_index=3) == [0, 1]


def test_verify_frames_refuses_impossible_frame_sizes() -> None:
    with pytest.raises(ValueError):
        verify_frames(b"", FRAME_OVERHEAD)


def test_frame_parts_join_to_the_frame():
    from erasure.framing import frame, frame_parts

    payload = bytes(range(256)) * 40
    parts = frame_parts(payload, seg_index=7, frag_index=3, encrypted=True)
    assert parts[1] is payload  # not copied
    assert b"".join(parts) == frame(payload, seg_index=7, frag_index=3, encrypted=True)


@pytest.mark.parametrize("size", [0, 1, 1000, 262_240])
@pytest.mark.parametrize("encrypted", [True, False])
def test_close_frame_builds_the_same_frame_in_place(size: int, encrypted: bool) -> None:
    payload = os.urandom(size)
    room = bytearray(frame_size_for(size))
    room[HEADER_SIZE : HEADER_SIZE + size] = payload
    close_frame(memoryview(room), seg_index=9, frag_index=4, encrypted=encrypted)
    assert bytes(room) == frame(payload, seg_index=9, frag_index=4, encrypted=encrypted)
    assert unframe(room, seg_index=9, frag_index=4, encrypted=encrypted) == payload


def test_close_frame_refuses_bad_rooms_and_positions() -> None:
    with pytest.raises(ValueError):
        close_frame(bytearray(FRAME_OVERHEAD - 1), seg_index=0, frag_index=0, encrypted=False)
    with pytest.raises(ValueError):
        close_frame(bytearray(FRAME_OVERHEAD), seg_index=-1, frag_index=0, encrypted=False)
    with pytest.raises(ValueError):
        close_frame(bytearray(FRAME_OVERHEAD), seg_index=0, frag_index=1 << 16, encrypted=False)
