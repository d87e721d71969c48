"""Tests for erasure.isal_parity: full segments encoded by ISA-L directly must
give pyeclib's fragments byte for byte, or not be used at all."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

from erasure.codec import ErasureCodec
from erasure.isal_parity import IsalParity
from erasure.layout import StripeLayout
from erasure.stripe import StripeDecoder, StripeEncoder


@pytest.fixture(scope="module")
def codec() -> Iterator[ErasureCodec]:
    instance = ErasureCodec(StripeLayout(k=4, m=2, segment_size=256 * 1024))
    yield instance
    instance.close()


def probe(codec: ErasureCodec, segment_len: int | None = None) -> IsalParity | None:
    size = segment_len or codec.layout.segment_size
    return IsalParity.probe(
        codec.layout.backend, codec.k, codec.m, size, codec.fragment_size(size),
        codec.header_size, codec._driver.encode,
    )


@pytest.mark.parametrize("backend", ["isa_l_rs_vand", "isa_l_rs_cauchy"])
@pytest.mark.parametrize(("k", "m"), [(4, 2), (2, 1), (8, 3), (10, 4)])
def test_fragments_equal_pyeclib_for_isa_l_backends(backend: str, k: int, m: int) -> None:
    codec = ErasureCodec(StripeLayout(k=k, m=m, segment_size=k * 4096, backend=backend))
    try:
        encoder = codec.full_segment_encoder()
        assert encoder is not None
        for _ in range(5):
            segment = os.urandom(codec.layout.segment_size)
            assert [bytes(f) for f in encoder.encode(segment)] == codec.encode(segment)
    finally:
        codec.close()


def test_other_backends_get_no_direct_encoder() -> None:
    codec = ErasureCodec(StripeLayout(k=4, m=2, segment_size=4096, backend="liberasurecode_rs_vand"))
    try:
        assert codec.full_segment_encoder() is None
    finally:
        codec.close()


def test_a_segment_that_does_not_split_evenly_gets_no_direct_encoder(codec: ErasureCodec) -> None:
    # 1000 bytes over k=4 is padded by pyeclib: the blocks are not slices of the segment.
    assert probe(codec, 1001) is None


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "slice"])
def test_any_buffer_encodes_the_same(codec: ErasureCodec, kind: str) -> None:
    encoder = codec.full_segment_encoder()
    assert encoder is not None
    segment = os.urandom(codec.layout.segment_size)
    source: bytes | bytearray | memoryview = {
        "bytes": segment,
        "bytearray": bytearray(segment),
        "memoryview": memoryview(segment),
        "slice": memoryview(b"xyz" + segment + b"!")[3:-1],
    }[kind]
    assert [bytes(f) for f in encoder.encode(source)] == codec.encode(segment)


def test_wrong_length_is_refused(codec: ErasureCodec) -> None:
    encoder = codec.full_segment_encoder()
    assert encoder is not None
    with pytest.raises(ValueError):
        encoder.encode(bytes(codec.layout.segment_size - 1))


def test_each_stream_gets_its_own_buffer(codec: ErasureCodec) -> None:
    first, second = codec.full_segment_encoder(), codec.full_segment_encoder()
    assert first is not None and second is not None
    a, b = os.urandom(codec.layout.segment_size), os.urandom(codec.layout.segment_size)
    from_first = first.encode(a)
    second.encode(b)
    assert [bytes(f) for f in from_first] == codec.encode(a)


def test_encoders_run_in_parallel_threads(codec: ErasureCodec) -> None:
    """Threads each with their own encoder agree with pyeclib (the GIL is
    released around the copies and the parity computation)."""
    errors: list[BaseException] = []

    def work() -> None:
        try:
            encoder = codec.full_segment_encoder()
            assert encoder is not None
            for _ in range(20):
                segment = os.urandom(codec.layout.segment_size)
                assert [bytes(f) for f in encoder.encode(segment)] == codec.encode(segment)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


@pytest.mark.parametrize("encrypted", [True, False])
def test_stripe_encoder_uses_it_for_full_segments_only(codec: ErasureCodec, encrypted: bool) -> None:
    key = os.urandom(32) if encrypted else None
    encoder = StripeEncoder(codec.layout, codec, b"stream", key)
    decoder = StripeDecoder(codec.layout, codec, b"stream", key)
    full = os.urandom(codec.layout.segment_size)
    short = os.urandom(codec.layout.segment_size - 7)
    frames_full = dict(enumerate(encoder.encode_segment(0, full)))
    assert encoder._full_encoder is not None
    frames_short = dict(enumerate(encoder.encode_segment(1, short)))
    assert decoder.decode_segment(0, len(full), frames_full).data == full
    assert decoder.decode_segment(1, len(short), frames_short).data == short
    # Parity alone (with two data fragments) rebuilds the segment: the direct
    # encoder's parity is pyeclib's.
    partial = {i: frames_full[i] for i in (0, 3, 4, 5)}
    assert decoder.decode_segment(0, len(full), partial).data == full


def test_streams_starting_together_all_get_the_direct_encoder() -> None:
    codec = ErasureCodec(StripeLayout(k=4, m=2, segment_size=256 * 1024))
    got: list[IsalParity | None] = []
    start = threading.Barrier(4)

    def first_segment() -> None:
        start.wait()
        got.append(codec.full_segment_encoder())

    threads = [threading.Thread(target=first_segment) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(got) == 4 and all(encoder is not None for encoder in got)
    finally:
        codec.close()
