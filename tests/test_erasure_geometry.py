"""Tests for erasure.geometry: frame sizes and offsets within fragment files."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from erasure.codec import ErasureCodec
from erasure.framing import FRAME_OVERHEAD
from erasure.geometry import StripeGeometry
from erasure.layout import StripeLayout
from erasure.piece_cipher import CIPHER_OVERHEAD
from erasure.stripe import StripeEncoder

SEGMENT = 1000


@pytest.fixture(scope="module")
def codec() -> Iterator[ErasureCodec]:
    instance = ErasureCodec(StripeLayout(k=4, m=2, segment_size=SEGMENT))
    yield instance
    instance.close()


@pytest.mark.parametrize("encrypted", [True, False])
def test_frame_size_adds_framing_and_sealing_to_the_fragment(
    codec: ErasureCodec, encrypted: bool
) -> None:
    geometry = StripeGeometry(codec, encrypted=encrypted)
    extra = FRAME_OVERHEAD + (CIPHER_OVERHEAD if encrypted else 0)
    for length in (1, 37, SEGMENT):
        assert geometry.frame_size(length) == codec.fragment_size(length) + extra
    assert geometry.full_frame_size == geometry.frame_size(SEGMENT)


def test_frame_offsets_are_multiples_of_the_full_frame(codec: ErasureCodec) -> None:
    geometry = StripeGeometry(codec, encrypted=True)
    assert [geometry.frame_offset(i) for i in range(4)] == [
        i * geometry.full_frame_size for i in range(4)
    ]
    with pytest.raises(ValueError):
        geometry.frame_offset(-1)


@pytest.mark.parametrize("encrypted", [True, False])
@pytest.mark.parametrize("object_size", [1, 999, 1000, 1001, 3500, 4000])
def test_spans_match_the_frames_an_encoder_writes(
    codec: ErasureCodec, encrypted: bool, object_size: int
) -> None:
    layout = codec.layout
    key = os.urandom(32) if encrypted else None
    encoder = StripeEncoder(layout, codec, b"s", key)
    body = os.urandom(object_size)
    files: list[bytearray] = [bytearray() for _ in range(layout.fragment_count)]
    for seg in range(layout.segment_count(object_size)):
        start = layout.segment_start(seg)
        for index, piece in enumerate(encoder.encode_segment(seg, body[start : start + SEGMENT])):
            files[index] += piece
    geometry = StripeGeometry(codec, encrypted=encrypted)
    assert {len(f) for f in files} == {geometry.fragment_file_size(object_size)}
    count = layout.segment_count(object_size)
    for first in range(count):
        for last in range(first, count):
            offset, length = geometry.frame_span(object_size, range(first, last + 1))
            expected = [
                encoder.encode_segment(s, body[s * SEGMENT : (s + 1) * SEGMENT])[0]
                for s in range(first, last + 1)
            ]
            # Sealing is deterministic per position, so re-encoding reproduces the file bytes.
            assert bytes(files[0][offset : offset + length]) == b"".join(expected)


def test_empty_stream_has_empty_fragment_files(codec: ErasureCodec) -> None:
    assert StripeGeometry(codec, encrypted=True).fragment_file_size(0) == 0


@pytest.mark.parametrize("segments", [range(0, 0), range(0, 3), range(-1, 1), range(0, 2, 2)])
def test_frame_span_refuses_bad_runs(codec: ErasureCodec, segments: range) -> None:
    with pytest.raises(ValueError):
        StripeGeometry(codec, encrypted=False).frame_span(1500, segments)
