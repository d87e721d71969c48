"""The data path's view of a stripe: segment in, k + m framed pieces out, and back.

Writing a segment: erasure-encode it, seal each fragment with the stream's data
key (when the stream is encrypted), frame each sealed fragment. Reading reverses
that, piece by piece: verify the frame, open the seal, and either slice the data
fragments (systematic backends, all data pieces good) or decode from any k good
pieces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from erasure.codec import ErasureCodec
from erasure.errors import NotEnoughFragments, PieceCorrupt
from erasure.framing import (
    DIGEST_SIZE,
    HEADER_SIZE,
    close_frame,
    frame_parts,
    frame_size_for,
    unframe,
)
from erasure.geometry import StripeGeometry
from erasure.isal_parity import IsalParity
from erasure.layout import StripeLayout
from erasure.piece_cipher import CIPHER_OVERHEAD, PieceCipher


@dataclass(frozen=True)
class SegmentResult:
    """A decoded segment and what reading it found.

    ``bad`` lists fragment indexes whose frame failed verification (checksum,
    header, size or authentication) and should be reported for repair;
    ``missing`` those not supplied; ``reconstructed`` is True when parity was
    needed to rebuild the segment.
    """

    parts: list[bytes | memoryview]
    """The segment's bytes, in order, as the pieces they were found in (the
    data fragments' blocks, uncopied, when no decoding was needed)."""
    bad: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    reconstructed: bool = False

    @property
    def data(self) -> bytes:
        """The segment's bytes as one object (joined: a copy when in parts)."""
        if len(self.parts) == 1 and type(self.parts[0]) is bytes:
            return self.parts[0]
        return b"".join(self.parts)


class _StripeStream:
    """What encoder and decoder share: one stream's layout, codec, key and ids."""

    def __init__(
        self,
        layout: StripeLayout,
        codec: ErasureCodec,
        stream_id: bytes,
        data_key: bytes | None,
    ) -> None:
        if codec.layout != layout:
            raise ValueError(f"codec is for {codec.layout}, not {layout}")
        self.layout = layout
        self.codec = codec
        self.stream_id = bytes(stream_id)
        self._cipher = None if data_key is None else PieceCipher(data_key)
        self.geometry = StripeGeometry(codec, encrypted=self._cipher is not None)

    @property
    def encrypted(self) -> bool:
        """True when this stream's pieces are sealed with a data key."""
        return self._cipher is not None

    def frame_size(self, segment_len: int) -> int:
        """Size of each of the k + m frames of a segment of ``segment_len`` bytes."""
        return self.geometry.frame_size(segment_len)


class StripeEncoder(_StripeStream):
    """Turns the segments of one stream into framed, sealed pieces.

    ``data_key`` None writes plain pieces (the frame's flags say so).
    """

    _full_encoder: IsalParity | None = None
    _full_encoder_probed = False
    _frames: bytearray | None = None

    def encode_segment(self, seg_index: int, data: bytes | bytearray | memoryview) -> list[bytes]:
        """The k + m frames of segment ``seg_index``, in fragment index order;
        frame i goes to fragment file i."""
        return [b"".join(parts) for parts in self.encode_segment_parts(seg_index, data)]

    def encode_segment_parts(
        self, seg_index: int, data: bytes | bytearray | memoryview
    ) -> list[Sequence[bytes | bytearray | memoryview]]:
        """As :meth:`encode_segment`, each frame as the buffers that, written
        back to back (``os.writev``), are its bytes: sealed frames are built
        in place in one buffer per stream, plain ones as (header, payload,
        digest), so no payload is copied once more.

        The buffers may be views into memory that the next call reuses: write
        the frames before encoding the next segment."""
        if not self._full_encoder_probed:
            self._full_encoder_probed = True
            self._full_encoder = self.codec.full_segment_encoder()
        full = self._full_encoder
        size = data.nbytes if isinstance(data, memoryview) else len(data)
        fragments: Sequence[bytes | memoryview]
        if full is not None and size == full.segment_len:
            fragments = full.encode(data)
        else:
            fragments = self.codec.encode(data)
        cipher = self._cipher
        if cipher is None:
            return [
                frame_parts(fragment, seg_index=seg_index, frag_index=frag_index, encrypted=False)
                for frag_index, fragment in enumerate(fragments)
            ]
        fragment_len = len(fragments[0])
        frame_len = frame_size_for(fragment_len + CIPHER_OVERHEAD)
        room = frame_len * len(fragments)
        frames = self._frames
        if frames is None or len(frames) != room:
            frames = self._frames = bytearray(room)
        view = memoryview(frames)
        out: list[Sequence[bytes | bytearray | memoryview]] = []
        for frag_index, fragment in enumerate(fragments):
            frame_view = view[frag_index * frame_len : (frag_index + 1) * frame_len]
            cipher.seal_into(
                self.stream_id, frag_index, seg_index, fragment,
                frame_view[HEADER_SIZE : frame_len - DIGEST_SIZE],
            )
            close_frame(frame_view, seg_index=seg_index, frag_index=frag_index, encrypted=True)
            out.append((frame_view,))
        return out


class StripeDecoder(_StripeStream):
    """Verifies, opens and decodes the framed pieces of one stream."""

    def open_piece(
        self,
        seg_index: int,
        frag_index: int,
        segment_len: int,
        piece: bytes | bytearray | memoryview,
    ) -> bytes | bytearray | memoryview:
        """Verify one frame and return the pyeclib fragment it carries.

        Raises ``PieceCorrupt`` when the frame is damaged, belongs elsewhere
        (another segment, fragment or stream), or has the wrong size for a
        segment of ``segment_len`` bytes.
        """
        payload = unframe(
            piece, seg_index=seg_index, frag_index=frag_index, encrypted=self.encrypted
        )
        fragment = (
            payload
            if self._cipher is None
            else self._cipher.open(self.stream_id, frag_index, seg_index, payload)
        )
        expected = self.codec.fragment_size(segment_len)
        if len(fragment) != expected:
            raise PieceCorrupt(
                f"fragment {frag_index} of segment {seg_index} is {len(fragment)} bytes, "
                f"expected {expected}"
            )
        return fragment

    def open_data_piece(
        self,
        seg_index: int,
        frag_index: int,
        segment_len: int,
        piece: bytes | bytearray | memoryview,
    ) -> memoryview:
        """Verify and open one data fragment's frame and return the segment
        bytes it carries: bytes ``codec.data_extent(segment_len, frag_index)``
        of the segment, without header or padding. For small ranged reads on a
        systematic backend; raises ``ValueError`` otherwise, ``PieceCorrupt``
        when the piece is bad."""
        _, length = self.codec.data_extent(segment_len, frag_index)
        fragment = memoryview(self.open_piece(seg_index, frag_index, segment_len, piece))
        start = self.codec.header_size
        return fragment[start : start + length]

    def decode_segment(
        self,
        seg_index: int,
        segment_len: int,
        frames: Mapping[int, bytes | bytearray | memoryview],
    ) -> SegmentResult:
        """Rebuild segment ``seg_index`` (``segment_len`` bytes) from the frames
        read for it, keyed by fragment index.

        Every supplied frame is verified; bad ones are left out and listed.
        With all k data fragments good on a systematic backend the segment is
        sliced out of them and parity is not touched. Raises
        ``NotEnoughFragments`` when fewer than k frames are good: a segment is
        either returned exactly or not at all.
        """
        total = self.layout.fragment_count
        good: dict[int, bytes | memoryview] = {}
        bad: list[int] = []
        for frag_index, piece in sorted(frames.items()):
            if not 0 <= frag_index < total:
                raise ValueError(f"fragment index {frag_index} outside 0..{total - 1}")
            try:
                good[frag_index] = self.open_piece(seg_index, frag_index, segment_len, piece)
            except PieceCorrupt:
                bad.append(frag_index)
        missing = [i for i in range(total) if i not in frames]
        if len(good) < self.layout.k:
            raise NotEnoughFragments(
                self.layout.k, good=good, bad=bad, missing=missing, seg_index=seg_index
            )
        k = self.layout.k
        if self.codec.is_systematic and all(i in good for i in range(k)):
            header = self.codec.header_size
            parts = []
            for i in range(k):
                _, length = self.codec.data_extent(segment_len, i)
                parts.append(memoryview(good[i])[header : header + length])
            return SegmentResult(parts=parts, bad=bad, missing=missing)
        try:
            data = self.codec.decode(good, segment_len)
        except NotEnoughFragments:
            raise NotEnoughFragments(
                k, good=good, bad=bad, missing=missing, seg_index=seg_index
            ) from None
        return SegmentResult(parts=[data], bad=bad, missing=missing, reconstructed=True)
