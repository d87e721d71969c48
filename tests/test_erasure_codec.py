"""Tests for erasure.codec: pyeclib round trips, exact fragment sizes, and the
systematic layout small ranged reads rely on."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest
from pyeclib.ec_iface import ECDriver

from erasure.codec import ErasureCodec
from erasure.errors import NotEnoughFragments, PieceCorrupt
from erasure.layout import StripeLayout

SEGMENT = 4096
SYSTEMATIC_BACKENDS = ["isa_l_rs_vand", "liberasurecode_rs_vand"]
SHAPES = [(4, 2), (2, 1), (8, 3)]
LENGTHS = [1, 2, 3, 5, 17, 63, 64, 65, 1000, 1023, SEGMENT - 1, SEGMENT]


@pytest.fixture(scope="module", params=[(b, k, m) for b in SYSTEMATIC_BACKENDS for k, m in SHAPES])
def codec(request: pytest.FixtureRequest) -> Iterator[ErasureCodec]:
    backend, k, m = request.param
    instance = ErasureCodec(StripeLayout(k=k, m=m, segment_size=SEGMENT, backend=backend))
    yield instance
    instance.close()


@pytest.fixture(scope="module")
def codec42() -> Iterator[ErasureCodec]:
    instance = ErasureCodec(StripeLayout(k=4, m=2, segment_size=SEGMENT))
    yield instance
    instance.close()


@pytest.mark.parametrize("length", LENGTHS)
def test_round_trip_from_all_fragments(codec: ErasureCodec, length: int) -> None:
    segment = os.urandom(length)
    fragments = codec.encode(segment)
    assert len(fragments) == codec.k + codec.m
    assert codec.decode(dict(enumerate(fragments)), length) == segment


def test_fragment_size_is_exact_for_every_length(codec: ErasureCodec) -> None:
    lengths = list(range(1, 300)) + list(range(SEGMENT - 70, SEGMENT + 1))
    for length in lengths:
        fragments = codec.encode(os.urandom(length))
        assert {len(f) for f in fragments} == {codec.fragment_size(length)}, length


def test_fragment_size_of_the_empty_segment_matches_the_backend(codec: ErasureCodec) -> None:
    # The codec itself never encodes an empty segment; compare with the driver.
    driver = ECDriver(k=codec.k, m=codec.m, ec_type=codec.layout.backend)
    assert {len(f) for f in driver.encode(b"")} == {codec.fragment_size(0)}


def test_fragment_size_refuses_lengths_beyond_the_segment(codec42: ErasureCodec) -> None:
    for length in (-1, SEGMENT + 1):
        with pytest.raises(ValueError):
            codec42.fragment_size(length)


@pytest.mark.parametrize("length", [0, SEGMENT + 1])
def test_encode_refuses_empty_and_oversized_segments(codec42: ErasureCodec, length: int) -> None:
    with pytest.raises(ValueError):
        codec42.encode(bytes(length))


def test_encode_accepts_memoryview_and_bytearray(codec42: ErasureCodec) -> None:
    segment = os.urandom(777)
    expected = codec42.encode(segment)
    assert codec42.encode(memoryview(segment)) == expected
    assert codec42.encode(bytearray(segment)) == expected


def test_decode_from_every_k_subset(codec42: ErasureCodec) -> None:
    segment = os.urandom(3001)
    fragments = codec42.encode(segment)
    for chosen in itertools.combinations(range(6), 4):
        subset = {i: fragments[i] for i in chosen}
        assert codec42.decode(subset, len(segment)) == segment, chosen


def test_decode_accepts_views_without_crashing(codec42: ErasureCodec) -> None:
    segment = os.urandom(999)
    fragments = codec42.encode(segment)
    subset: dict[int, bytes | bytearray | memoryview] = {
        1: memoryview(fragments[1]),
        2: bytearray(fragments[2]),
        4: fragments[4],
        5: memoryview(fragments[5]),
    }
    assert codec42.decode(subset, len(segment)) == segment


def test_decode_with_fewer_than_k_fragments(codec42: ErasureCodec) -> None:
    fragments = codec42.encode(os.urandom(500))
    with pytest.raises(NotEnoughFragments) as info:
        codec42.decode({0: fragments[0], 3: fragments[3], 5: fragments[5]}, 500)
    assert info.value.good == [0, 3, 5]
    assert info.value.missing == [1, 2, 4]


def test_decode_refuses_fragments_of_the_wrong_size(codec42: ErasureCodec) -> None:
    fragments = codec42.encode(os.urandom(500))
    subset = dict(enumerate(fragments))
    subset[2] = subset[2][:-1]
    with pytest.raises(PieceCorrupt):
        codec42.decode(subset, 500)
    with pytest.raises(PieceCorrupt):
        codec42.decode(dict(enumerate(fragments)), 400)


def test_unusable_backend_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        ErasureCodec(StripeLayout(backend="no_such_backend"))


def test_payload_offset_plus_block_is_the_fragment(codec: ErasureCodec) -> None:
    assert 0 < codec.header_size < codec.fragment_size(1)


def test_backends_are_systematic(codec: ErasureCodec) -> None:
    assert codec.is_systematic


@pytest.mark.parametrize("length", LENGTHS)
def test_data_fragments_carry_the_segment_at_their_extents(
    codec: ErasureCodec, length: int
) -> None:
    segment = os.urandom(length)
    fragments = codec.encode(segment)
    header = codec.header_size
    pieces = []
    expected_offset = 0
    for i in range(codec.k):
        offset, size = codec.data_extent(length, i)
        assert offset == expected_offset
        expected_offset += size
        piece = fragments[i][header : header + size]
        assert piece == segment[offset : offset + size]
        pieces.append(piece)
    assert b"".join(pieces) == segment


def test_data_extent_refuses_parity_fragments(codec42: ErasureCodec) -> None:
    for index in (-1, 4, 5):
        with pytest.raises(ValueError):
            codec42.data_extent(100, index)


def test_data_extent_refuses_non_systematic_codecs() -> None:
    codec = ErasureCodec(StripeLayout(k=4, m=2, segment_size=SEGMENT))
    codec.is_systematic = False
    with pytest.raises(ValueError):
        codec.data_extent(100, 0)
    codec.close()
