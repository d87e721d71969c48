"""Authenticated encryption of fragment pieces with a stream's data key.

AES-256-GCM. The nonce is derived from (fragment index, segment index) and the
associated data binds the stream id and both indexes, so a piece moved to another
position, segment or stream fails authentication instead of decrypting.
"""

from __future__ import annotations

import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from erasure.errors import PieceCorrupt
from erasure.unfilled import unfilled_bytearray

CIPHER_OVERHEAD = 16
"""Bytes sealing adds to a piece: the GCM tag."""

DATA_KEY_SIZE = 32

_POSITION = struct.Struct(">IQ")
_STREAM_ID_LEN = struct.Struct(">H")
_AAD_LABEL = b"objectd piece v1\x00"


class PieceCipher:
    """Seals and opens the fragment pieces of one stream under its data key.

    Invariant that makes the deterministic nonce safe: every stream (object
    body or multipart part) gets its own fresh random data key, and each
    (fragment index, segment index) pair of a stream is sealed exactly once.
    Rewriting a piece (repair rebuilding a fragment) must reproduce the same
    plaintext bit for bit, pyeclib header included, so it re-encrypts to the
    same ciphertext and reveals nothing new; anything else (new content, or a
    backend whose fragments differ from the original's) is a new stream with a
    new key.
    """

    __slots__ = ("_aead",)

    def __init__(self, data_key: bytes) -> None:
        if len(data_key) != DATA_KEY_SIZE:
            raise ValueError(f"data key must be {DATA_KEY_SIZE} bytes, got {len(data_key)}")
        self._aead = AESGCM(data_key)

    def seal(
        self,
        stream_id: bytes,
        frag_index: int,
        seg_index: int,
        plaintext: bytes | bytearray | memoryview,
    ) -> bytes:
        """Encrypt and authenticate one piece; returns ciphertext plus tag
        (``CIPHER_OVERHEAD`` bytes longer than the plaintext)."""
        nonce = _nonce(frag_index, seg_index)
        return self._aead.encrypt(nonce, plaintext, _aad(stream_id, nonce))

    def seal_into(
        self,
        stream_id: bytes,
        frag_index: int,
        seg_index: int,
        plaintext: bytes | bytearray | memoryview,
        out: bytearray | memoryview,
    ) -> None:
        """As :meth:`seal`, writing ciphertext and tag into ``out`` (exactly
        ``CIPHER_OVERHEAD`` bytes longer than the plaintext, not overlapping
        it): a frame's room, so the sealed piece is not copied again."""
        nonce = _nonce(frag_index, seg_index)
        self._aead.encrypt_into(nonce, plaintext, _aad(stream_id, nonce), out)

    def open(
        self,
        stream_id: bytes,
        frag_index: int,
        seg_index: int,
        sealed: bytes | bytearray | memoryview,
    ) -> bytearray:
        """Authenticate and decrypt one piece sealed by ``seal`` with the same
        stream id and indexes. Raises ``PieceCorrupt`` when authentication fails
        (damaged, swapped or foreign piece, or wrong key)."""
        nonce = _nonce(frag_index, seg_index)
        size = memoryview(sealed).nbytes - CIPHER_OVERHEAD
        if size < 0:
            raise PieceCorrupt(f"piece fragment {frag_index} segment {seg_index} is shorter than its tag")
        # Into a buffer not zeroed first (``decrypt`` zeroes its result): it is
        # written whole, and dropped unread when authentication fails.
        plain = unfilled_bytearray(size)
        try:
            self._aead.decrypt_into(nonce, sealed, _aad(stream_id, nonce), plain)
        except InvalidTag:
            raise PieceCorrupt(
                f"piece fragment {frag_index} segment {seg_index} failed authentication"
            ) from None
        return plain


def _nonce(frag_index: int, seg_index: int) -> bytes:
    if not 0 <= frag_index < 1 << 32 or not 0 <= seg_index < 1 << 64:
        raise ValueError(f"piece position ({frag_index}, {seg_index}) out of range")
    return _POSITION.pack(frag_index, seg_index)


def _aad(stream_id: bytes, nonce: bytes) -> bytes:
    # Length-prefixed so no two (stream id, position) pairs share an encoding.
    return b"".join((_AAD_LABEL, _STREAM_ID_LEN.pack(len(stream_id)), stream_id, nonce))
