"""On-disk frame of one fragment piece, and its verification.

A fragment file holds one frame per segment of its stream, back to back. Layout
of a frame (all integers big-endian)::

    offset  size  field
    0       2     magic b"OD"
    2       1     format version (1)
    3       1     flags: bit 0 set when the payload is encrypted
    4       4     payload length
    8       8     segment index
    16      2     fragment index
    18      2     reserved, zero
    20      n     payload (sealed or plain fragment)
    20+n    8     xxh3_64 of bytes 0 .. 20+n

The header has a fixed size, so a frame's size depends only on its payload's
size, and every frame of a stream but the last has the same size: frame offsets
are arithmetic. The digest covers the payload as stored (ciphertext when
encrypted), so a storage node verifies frames without any key.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import xxhash

from erasure.errors import PieceCorrupt

MAGIC = b"OD"
VERSION = 1
FLAG_ENCRYPTED = 0x01
_KNOWN_FLAGS = FLAG_ENCRYPTED

_HEADER = struct.Struct(">2sBBIQHH")
HEADER_SIZE = _HEADER.size
DIGEST_SIZE = 8
FRAME_OVERHEAD = HEADER_SIZE + DIGEST_SIZE
"""Bytes a frame adds to its payload."""

MAX_PAYLOAD = (1 << 32) - 1
MAX_FRAG_INDEX = (1 << 16) - 1


@dataclass(frozen=True)
class FrameHeader:
    """The decoded fixed header of one frame."""

    encrypted: bool
    payload_len: int
    seg_index: int
    frag_index: int

    @property
    def frame_size(self) -> int:
        """Total size of the frame this header starts."""
        return self.payload_len + FRAME_OVERHEAD


def frame_size_for(payload_len: int) -> int:
    """Size of the frame that wraps a payload of ``payload_len`` bytes."""
    return payload_len + FRAME_OVERHEAD


FrameParts = tuple[bytes, "bytes | bytearray | memoryview", bytes]
"""A frame as its three pieces (header, payload, digest), for vectored writes."""


def _pack_header(payload_len: int, seg_index: int, frag_index: int, encrypted: bool) -> bytes:
    """A frame's fixed header; refuses values the format cannot hold."""
    if payload_len > MAX_PAYLOAD:
        raise ValueError(f"payload of {payload_len} bytes exceeds the frame limit")
    if not 0 <= frag_index <= MAX_FRAG_INDEX:
        raise ValueError(f"fragment index {frag_index} out of range")
    if seg_index < 0:
        raise ValueError(f"segment index must be non-negative, got {seg_index}")
    return _HEADER.pack(
        MAGIC, VERSION, FLAG_ENCRYPTED if encrypted else 0, payload_len, seg_index, frag_index, 0
    )


def frame_parts(
    payload: bytes | bytearray | memoryview,
    *,
    seg_index: int,
    frag_index: int,
    encrypted: bool,
) -> FrameParts:
    """The frame around ``payload`` as (header, payload, digest), without
    copying the payload: written back to back (``os.writev``) they are
    exactly :func:`frame`'s bytes."""
    payload_len = len(payload) if not isinstance(payload, memoryview) else payload.nbytes
    header = _pack_header(payload_len, seg_index, frag_index, encrypted)
    digest = xxhash.xxh3_64(header)
    digest.update(payload)
    return header, payload, digest.digest()


def close_frame(
    buf: bytearray | memoryview,
    *,
    seg_index: int,
    frag_index: int,
    encrypted: bool,
) -> None:
    """Complete a frame whose payload was written in place.

    ``buf`` is exactly one frame's room (``frame_size_for(payload_len)``
    bytes) with the payload already at ``HEADER_SIZE``; the header and digest
    are written around it, so the frame is :func:`frame`'s bytes without the
    payload ever being copied."""
    view = memoryview(buf).cast("B")
    payload_len = view.nbytes - FRAME_OVERHEAD
    if payload_len < 0:
        raise ValueError(f"frame room of {view.nbytes} bytes holds no payload")
    view[:HEADER_SIZE] = _pack_header(payload_len, seg_index, frag_index, encrypted)
    body_end = HEADER_SIZE + payload_len
    view[body_end:] = xxhash.xxh3_64_digest(view[:body_end])


def frame(
    payload: bytes | bytearray | memoryview,
    *,
    seg_index: int,
    frag_index: int,
    encrypted: bool,
) -> bytes:
    """Wrap ``payload`` in a frame: header, payload, xxh3_64 digest.

    The payload is copied once, into the returned frame.
    """
    return b"".join(frame_parts(payload, seg_index=seg_index, frag_index=frag_index, encrypted=encrypted))


def parse_header(buf: bytes | bytearray | memoryview) -> FrameHeader:
    """Decode and sanity-check the fixed header at the start of ``buf``.

    Checks magic, version, flags and reserved bits only; the digest is checked
    by ``unframe``. Raises ``PieceCorrupt`` when the header is malformed.
    """
    view = memoryview(buf).cast("B")
    if view.nbytes < HEADER_SIZE:
        raise PieceCorrupt(f"frame of {view.nbytes} bytes is shorter than its header")
    magic, version, flags, payload_len, seg_index, frag_index, reserved = _HEADER.unpack_from(view)
    if magic != MAGIC:
        raise PieceCorrupt(f"bad frame magic {bytes(magic)!r}")
    if version != VERSION:
        raise PieceCorrupt(f"unknown frame version {version}")
    if flags & ~_KNOWN_FLAGS or reserved:
        raise PieceCorrupt(f"unknown frame flags {flags:#x} or reserved bits {reserved:#x}")
    return FrameHeader(
        encrypted=bool(flags & FLAG_ENCRYPTED),
        payload_len=payload_len,
        seg_index=seg_index,
        frag_index=frag_index,
    )


def unframe(
    buf: bytes | bytearray | memoryview,
    *,
    seg_index: int | None = None,
    frag_index: int | None = None,
    encrypted: bool | None = None,
) -> memoryview:
    """Verify one whole frame and return a view of its payload (no copy).

    ``buf`` must be exactly one frame. When ``seg_index``, ``frag_index`` or
    ``encrypted`` are given the header must match them, which catches a frame
    read from the wrong offset or the wrong fragment file. Raises
    ``PieceCorrupt`` on any mismatch, bad length or bad digest.
    """
    view = memoryview(buf).cast("B")
    header = parse_header(view)
    if view.nbytes != header.frame_size:
        raise PieceCorrupt(f"frame is {view.nbytes} bytes, its header says {header.frame_size}")
    body_end = view.nbytes - DIGEST_SIZE
    if xxhash.xxh3_64_digest(view[:body_end]) != view[body_end:]:
        raise PieceCorrupt("frame digest mismatch")
    if seg_index is not None and header.seg_index != seg_index:
        raise PieceCorrupt(f"frame is for segment {header.seg_index}, expected {seg_index}")
    if frag_index is not None and header.frag_index != frag_index:
        raise PieceCorrupt(f"frame is for fragment {header.frag_index}, expected {frag_index}")
    if encrypted is not None and header.encrypted != encrypted:
        raise PieceCorrupt(
            f"frame is {'encrypted' if header.encrypted else 'plain'}, "
            f"expected {'encrypted' if encrypted else 'plain'}"
        )
    return view[HEADER_SIZE:body_end]


def verify_frames(
    buf: bytes | bytearray | memoryview,
    frame_size: int,
    *,
    first_seg_index: int | None = None,
    frag_index: int | None = None,
) -> list[int]:
    """Verify a run of consecutive frames, as a storage node does on write and
    on scrub; needs no key.

    ``buf`` is cut into ``frame_size`` chunks; the last chunk may be shorter
    (the final frame of a stream). When ``first_seg_index`` is given, chunk i
    must carry segment ``first_seg_index + i``. Returns the positions (0-based,
    within the run) of the chunks that are not valid frames; empty when all are.
    """
    if frame_size <= FRAME_OVERHEAD:
        raise ValueError(f"frame size {frame_size} leaves no room for a payload")
    view = memoryview(buf).cast("B")
    bad: list[int] = []
    for position, offset in enumerate(range(0, view.nbytes, frame_size)):
        chunk = view[offset : offset + frame_size]
        expected_seg = None if first_seg_index is None else first_seg_index + position
        try:
            unframe(chunk, seg_index=expected_seg, frag_index=frag_index)
        except PieceCorrupt:
            bad.append(position)
    return bad
