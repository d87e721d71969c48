"""Small bodies kept in metadata instead of fragments.

The bytes are sealed like one fragment piece (AES-256-GCM under a fresh data
key, bound to a stream id) and framed with an xxh3 checksum, so an inline
object is as protected at rest, and as checked on read, as an erasure-coded
one.
"""

from __future__ import annotations

from erasure.framing import frame, unframe
from erasure.key_wrap import new_data_key, unwrap_data_key, wrap_data_key
from erasure.piece_cipher import PieceCipher
from objectd.manifest import InlineData
from objectd.stream_writer import new_stream_id


def seal_inline(data: bytes, master_key: bytes | None) -> InlineData:
    """Seal ``data`` for storage in a manifest."""
    stream_id = new_stream_id()
    if master_key is None:
        return InlineData(stream_id, len(data), frame(data, seg_index=0, frag_index=0, encrypted=False), None)
    key = new_data_key()
    sealed = PieceCipher(key).seal(bytes.fromhex(stream_id), 0, 0, data)
    return InlineData(
        stream_id,
        len(data),
        frame(sealed, seg_index=0, frag_index=0, encrypted=True),
        wrap_data_key(master_key, key),
    )


def open_inline(inline: InlineData, master_key: bytes | None) -> bytes:
    """Verify and open inline data (raises erasure's PieceCorrupt when damaged)."""
    encrypted = inline.wrapped_key is not None
    payload = unframe(inline.sealed, seg_index=0, frag_index=0, encrypted=encrypted)
    if not encrypted:
        return bytes(payload)
    if master_key is None:
        raise ValueError(f"inline data {inline.stream_id} is encrypted and no master key is set")
    key = unwrap_data_key(master_key, inline.wrapped_key)
    return PieceCipher(key).open(bytes.fromhex(inline.stream_id), 0, 0, payload)
