"""Tests for erasure.piece_cipher: sealing, opening, and binding to position."""

from __future__ import annotations

import os

import pytest

from erasure.errors import PieceCorrupt
from erasure.piece_cipher import CIPHER_OVERHEAD, PieceCipher

STREAM = b"stream-0001"


@pytest.fixture
def cipher() -> PieceCipher:
    return PieceCipher(os.urandom(32))


@pytest.mark.parametrize("size", [0, 1, 80, 5000])
def test_round_trip(cipher: PieceCipher, size: int) -> None:
    plaintext = os.urandom(size)
    sealed = cipher.seal(STREAM, 2, 7, plaintext)
    assert len(sealed) == size + CIPHER_OVERHEAD
    assert cipher.open(STREAM, 2, 7, sealed) == plaintext


def test_ciphertext_does_not_reveal_plaintext(cipher: PieceCipher) -> None:
    plaintext = b"A" * 64
    assert plaintext[:16] not in cipher.seal(STREAM, 0, 0, plaintext)


def test_open_accepts_memoryview(cipher: PieceCipher) -> None:
    sealed = cipher.seal(STREAM, 1, 1, b"hello")
    assert cipher.open(STREAM, 1, 1, memoryview(b"xx" + sealed)[2:]) == b"hello"


@pytest.mark.parametrize(
    ("stream", "frag", "seg"),
    [(b"stream-0002", 2, 7), (STREAM, 3, 7), (STREAM, 2, 8), (STREAM + b"\x00", 2, 7), (b"", 2, 7)],
)
def test_pieces_from_another_position_fail(
    cipher: PieceCipher, stream: bytes, frag: int, seg: int
) -> None:
    sealed = cipher.seal(STREAM, 2, 7, b"piece contents")
    with pytest.raises(PieceCorrupt):
        cipher.open(stream, frag, seg, sealed)


def test_wrong_key_fails(cipher: PieceCipher) -> None:
    sealed = cipher.seal(STREAM, 0, 0, b"piece contents")
    with pytest.raises(PieceCorrupt):
        PieceCipher(os.urandom(32)).open(STREAM, 0, 0, sealed)


def test_any_bit_flip_fails(cipher: PieceCipher) -> None:
    sealed = cipher.seal(STREAM, 0, 0, b"0123456789")
    for position in range(len(sealed)):
        damaged = bytearray(sealed)
        damaged[position] ^= 0x80
        with pytest.raises(PieceCorrupt):
            cipher.open(STREAM, 0, 0, bytes(damaged))


def test_each_position_gets_its_own_keystream(cipher: PieceCipher) -> None:
    plaintext = bytes(32)
    sealed = {cipher.seal(STREAM, f, s, plaintext) for f in range(3) for s in range(3)}
    assert len(sealed) == 9


def test_invalid_keys_and_positions_are_refused(cipher: PieceCipher) -> None:
    with pytest.raises(ValueError):
        PieceCipher(os.urandom(16))
    with pytest.raises(ValueError):
        cipher.seal(STREAM, -1, 0, b"x")
    with pytest.raises(ValueError):
        cipher.seal(STREAM, 0, 1 << 64, b"x")


@pytest.mark.parametrize("size", [0, 1, 4096, 262_224])
def test_seal_into_writes_what_seal_returns(cipher: PieceCipher, size: int) -> None:
    plaintext = os.urandom(size)
    room = bytearray(8 + size + CIPHER_OVERHEAD + 8)
    cipher.seal_into(STREAM, 3, 7, plaintext, memoryview(room)[8:-8])
    assert bytes(room[8:-8]) == cipher.seal(STREAM, 3, 7, plaintext)
    assert room[:8] == bytes(8) and room[-8:] == bytes(8)  # nothing outside the room
    assert cipher.open(STREAM, 3, 7, bytes(room[8:-8])) == plaintext


def test_seal_into_needs_exactly_the_sealed_size(cipher: PieceCipher) -> None:
    with pytest.raises(ValueError):
        cipher.seal_into(STREAM, 0, 0, b"abc", bytearray(3 + CIPHER_OVERHEAD - 1))


def test_pieces_shorter_than_their_tag_fail(cipher: PieceCipher) -> None:
    for sealed in (b"", b"x" * (CIPHER_OVERHEAD - 1)):
        with pytest.raises(PieceCorrupt):
            cipher.open(STREAM, 0, 0, sealed)
    assert cipher.open(STREAM, 0, 0, cipher.seal(STREAM, 0, 0, b"")) == b""


def test_opened_pieces_are_exactly_the_plaintext_each_time(cipher: PieceCipher) -> None:
    # Opened into buffers that are not zeroed first: every byte must be written.
    plain = os.urandom(1 << 20)
    sealed = cipher.seal(STREAM, 1, 2, plain)
    for _ in range(8):
        opened = cipher.open(STREAM, 1, 2, sealed)
        assert type(opened) is bytearray and opened == plain
