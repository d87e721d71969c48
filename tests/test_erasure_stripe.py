"""Tests for erasure.stripe: the composed encode/verify/decrypt/decode path."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator

import pytest

from erasure.codec import ErasureCodec
from erasure.errors import NotEnoughFragments, PieceCorrupt
from erasure.framing import HEADER_SIZE, parse_header
from erasure.layout import StripeLayout
from erasure.stripe import StripeDecoder, StripeEncoder

SEGMENT = 2048
STREAM = b"bucket/object#1"

Damage = Callable[[bytes], bytes]


def flip(position: int) -> Damage:
    def damage(piece: bytes) -> bytes:
        buf = bytearray(piece)
        buf[position] ^= 0x5A
        return bytes(buf)

    return damage


DAMAGES: dict[str, Damage] = {
    "payload": flip(HEADER_SIZE + 3),
    "header": flip(5),
    "checksum": flip(-2),
    "truncated": lambda piece: piece[:-1],
    "empty": lambda piece: b"",
}


@pytest.fixture(scope="module", params=[(4, 2), (2, 1), (8, 3)], ids=lambda p: f"{p[0]}+{p[1]}")
def codec(request: pytest.FixtureRequest) -> Iterator[ErasureCodec]:
    k, m = request.param
    instance = ErasureCodec(StripeLayout(k=k, m=m, segment_size=SEGMENT))
    yield instance
    instance.close()


@pytest.fixture(scope="module")
def codec42() -> Iterator[ErasureCodec]:
    instance = ErasureCodec(StripeLayout(k=4, m=2, segment_size=SEGMENT))
    yield instance
    instance.close()


def pair(codec: ErasureCodec, encrypted: bool = True) -> tuple[StripeEncoder, StripeDecoder]:
    key = os.urandom(32) if encrypted else None
    return (
        StripeEncoder(codec.layout, codec, STREAM, key),
        StripeDecoder(codec.layout, codec, STREAM, key),
    )


@pytest.mark.parametrize("encrypted", [True, False])
@pytest.mark.parametrize("length", [1, 2, 7, 333, 1001, SEGMENT - 1, SEGMENT])
def test_round_trip(codec: ErasureCodec, encrypted: bool, length: int) -> None:
    encoder, decoder = pair(codec, encrypted)
    segment = os.urandom(length)
    pieces = encoder.encode_segment(5, segment)
    assert len(pieces) == codec.k + codec.m
    assert {len(p) for p in pieces} == {encoder.frame_size(length)} == {decoder.frame_size(length)}
    assert {parse_header(p).encrypted for p in pieces} == {encrypted}
    result = decoder.decode_segment(5, length, dict(enumerate(pieces)))
    assert result.data == segment
    assert (result.bad, result.missing, result.reconstructed) == ([], [], False)


def test_encrypted_pieces_do_not_contain_the_data(codec42: ErasureCodec) -> None:
    encoder, _ = pair(codec42)
    segment = b"recognisable plaintext " * 80
    for piece in encoder.encode_segment(0, segment[:SEGMENT]):
        assert b"recognisable" not in piece


@pytest.mark.parametrize("encrypted", [True, False])
def test_every_loss_of_up_to_m_fragments_is_recovered(
    codec42: ErasureCodec, encrypted: bool
) -> None:
    encoder, decoder = pair(codec42, encrypted)
    segment = os.urandom(1999)
    pieces = dict(enumerate(encoder.encode_segment(0, segment)))
    for lost_count in range(codec42.m + 1):
        for lost in itertools.combinations(range(6), lost_count):
            frames = {i: p for i, p in pieces.items() if i not in lost}
            result = decoder.decode_segment(0, len(segment), frames)
            assert result.data == segment, lost
            assert result.missing == list(lost)
            assert result.reconstructed == any(i < codec42.k for i in lost)


@pytest.mark.parametrize("damage", DAMAGES, ids=str)
@pytest.mark.parametrize("encrypted", [True, False])
def test_damaged_pieces_are_reported_and_rebuilt(
    codec42: ErasureCodec, damage: str, encrypted: bool
) -> None:
    encoder, decoder = pair(codec42, encrypted)
    segment = os.urandom(1500)
    pieces = encoder.encode_segment(3, segment)
    for damaged in itertools.combinations(range(6), 2):
        frames = {i: (DAMAGES[damage](p) if i in damaged else p) for i, p in enumerate(pieces)}
        result = decoder.decode_segment(3, len(segment), frames)
        assert result.data == segment
        assert result.bad == list(damaged)


@pytest.mark.parametrize("encrypted", [True, False])
def test_more_than_m_bad_or_missing_is_an_error_never_wrong_bytes(
    codec42: ErasureCodec, encrypted: bool
) -> None:
    encoder, decoder = pair(codec42, encrypted)
    pieces = encoder.encode_segment(0, os.urandom(1000))
    for unusable in itertools.combinations(range(6), 3):
        for damaged_count in range(4):
            damaged = unusable[:damaged_count]
            frames = {
                i: (flip(HEADER_SIZE)(p) if i in damaged else p)
                for i, p in enumerate(pieces)
                if i not in unusable[damaged_count:]
            }
            with pytest.raises(NotEnoughFragments) as info:
                decoder.decode_segment(0, 1000, frames)
            assert info.value.bad == list(damaged)
            assert info.value.missing == list(unusable[damaged_count:])
            assert info.value.seg_index == 0


def test_data_fragments_alone_suffice(codec: ErasureCodec) -> None:
    encoder, decoder = pair(codec)
    segment = os.urandom(1234)
    pieces = encoder.encode_segment(1, segment)
    result = decoder.decode_segment(1, len(segment), dict(enumerate(pieces[: codec.k])))
    assert result.data == segment
    assert not result.reconstructed
    assert result.missing == list(range(codec.k, codec.k + codec.m))


def test_bad_parity_is_reported_but_not_needed(codec42: ErasureCodec) -> None:
    encoder, decoder = pair(codec42)
    segment = os.urandom(700)
    pieces = encoder.encode_segment(0, segment)
    frames = dict(enumerate(pieces))
    frames[4] = b"garbage"
    frames[5] = flip(HEADER_SIZE)(pieces[5])
    result = decoder.decode_segment(0, len(segment), frames)
    assert result.data == segment
    assert result.bad == [4, 5]
    assert not result.reconstructed


@pytest.mark.parametrize("encrypted", [True, False])
def test_piece_from_another_segment_is_rejected(codec42: ErasureCodec, encrypted: bool) -> None:
    encoder, decoder = pair(codec42, encrypted)
    seg0 = os.urandom(SEGMENT)
    seg1 = os.urandom(SEGMENT)
    pieces0 = encoder.encode_segment(0, seg0)
    pieces1 = encoder.encode_segment(1, seg1)
    frames = dict(enumerate(pieces0))
    frames[1] = pieces1[1]
    result = decoder.decode_segment(0, SEGMENT, frames)
    assert result.data == seg0
    assert result.bad == [1]


def test_piece_from_another_stream_is_rejected(codec42: ErasureCodec) -> None:
    key = os.urandom(32)
    encoder = StripeEncoder(codec42.layout, codec42, STREAM, key)
    other = StripeEncoder(codec42.layout, codec42, STREAM + b"-other", key)
    decoder = StripeDecoder(codec42.layout, codec42, STREAM, key)
    segment = os.urandom(SEGMENT)
    frames = dict(enumerate(encoder.encode_segment(0, segment)))
    frames[0] = other.encode_segment(0, os.urandom(SEGMENT))[0]
    frames[5] = other.encode_segment(0, os.urandom(SEGMENT))[5]
    result = decoder.decode_segment(0, SEGMENT, frames)
    assert result.data == segment
    assert result.bad == [0, 5]


def test_piece_at_another_fragment_index_is_rejected(codec42: ErasureCodec) -> None:
    encoder, decoder = pair(codec42)
    segment = os.urandom(900)
    pieces = encoder.encode_segment(0, segment)
    frames = dict(enumerate(pieces))
    frames[0], frames[1] = pieces[1], pieces[0]
    result = decoder.decode_segment(0, len(segment), frames)
    assert result.data == segment
    assert result.bad == [0, 1]


def test_plain_pieces_are_refused_by_an_encrypted_decoder(codec42: ErasureCodec) -> None:
    plain_encoder, _ = pair(codec42, encrypted=False)
    _, decoder = pair(codec42, encrypted=True)
    with pytest.raises(NotEnoughFragments):
        decoder.decode_segment(0, 100, dict(enumerate(plain_encoder.encode_segment(0, bytes(100)))))


def test_wrong_segment_length_marks_pieces_bad(codec42: ErasureCodec) -> None:
    encoder, decoder = pair(codec42, encrypted=False)
    pieces = encoder.encode_segment(0, os.urandom(1000))
    with pytest.raises(NotEnoughFragments):
        decoder.decode_segment(0, 1500, dict(enumerate(pieces)))


def test_frames_may_be_memoryviews(codec42: ErasureCodec) -> None:
    encoder, decoder = pair(codec42, encrypted=False)
    segment = os.urandom(1111)
    pieces = encoder.encode_segment(0, segment)
    frames = {i: memoryview(p) for i, p in enumerate(pieces) if i not in (0, 2)}
    assert decoder.decode_segment(0, len(segment), frames).data == segment


@pytest.mark.parametrize("encrypted", [True, False])
@pytest.mark.parametrize("length", [1, 5, 1001, SEGMENT])
def test_open_data_piece_returns_the_segment_bytes_it_carries(
    codec: ErasureCodec, encrypted: bool, length: int
) -> None:
    encoder, decoder = pair(codec, encrypted)
    segment = os.urandom(length)
    pieces = encoder.encode_segment(9, segment)
    for index in range(codec.k):
        offset, size = codec.data_extent(length, index)
        carried = decoder.open_data_piece(9, index, length, pieces[index])
        assert bytes(carried) == segment[offset : offset + size]


def test_open_data_piece_detects_damage_and_refuses_parity(codec42: ErasureCodec) -> None:
    encoder, decoder = pair(codec42)
    pieces = encoder.encode_segment(0, os.urandom(800))
    with pytest.raises(PieceCorrupt):
        decoder.open_data_piece(0, 1, 800, flip(HEADER_SIZE + 1)(pieces[1]))
    with pytest.raises(PieceCorrupt):
        decoder.open_data_piece(1, 1, 800, pieces[1])
    with pytest.raises(ValueError):
        decoder.open_data_piece(0, 4, 800, pieces[4])


def test_codec_must_match_layout(codec42: ErasureCodec) -> None:
    with pytest.raises(ValueError):
        StripeEncoder(StripeLayout(k=4, m=2, segment_size=SEGMENT * 2), codec42, STREAM, None)


def test_unknown_fragment_index_is_refused(codec42: ErasureCodec) -> None:
    encoder, decoder = pair(codec42)
    pieces = encoder.encode_segment(0, b"abc")
    with pytest.raises(ValueError):
        decoder.decode_segment(0, 3, {**dict(enumerate(pieces)), 6: pieces[0]})
