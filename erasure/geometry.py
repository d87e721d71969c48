"""Where each segment's frame sits inside a fragment file.

A fragment file holds frame ``s`` of fragment ``f`` for every segment ``s`` of
the stream, in order. All frames but the last have the size of a full segment's
frame, so offsets are a multiplication; the last frame is shorter when the last
segment is.
"""

from __future__ import annotations

from erasure.codec import ErasureCodec
from erasure.framing import FRAME_OVERHEAD
from erasure.layout import StripeLayout
from erasure.piece_cipher import CIPHER_OVERHEAD


class StripeGeometry:
    """Frame sizes and offsets for streams of one layout, encrypted or not.

    Built from a codec because frame sizes follow from the exact fragment size
    the backend produces; the full segment's frame size is computed once.
    """

    __slots__ = ("_extra", "codec", "encrypted", "full_frame_size", "layout")

    def __init__(self, codec: ErasureCodec, *, encrypted: bool) -> None:
        self.layout: StripeLayout = codec.layout
        self.codec = codec
        self.encrypted = encrypted
        self._extra = FRAME_OVERHEAD + (CIPHER_OVERHEAD if encrypted else 0)
        self.full_frame_size: int = self.frame_size(self.layout.segment_size)
        """Size of every frame of a stream except possibly the last."""

    def frame_size(self, segment_len: int) -> int:
        """Size of each of the k + m frames of a segment of ``segment_len`` bytes."""
        return self.codec.fragment_size(segment_len) + self._extra

    def frame_offset(self, seg_index: int) -> int:
        """Offset in a fragment file of the frame of segment ``seg_index``."""
        if seg_index < 0:
            raise ValueError(f"segment index must be non-negative, got {seg_index}")
        return seg_index * self.full_frame_size

    def frame_span(self, object_size: int, segments: range) -> tuple[int, int]:
        """(offset, length) of the run of frames for ``segments`` (a contiguous,
        non-empty range such as ``segments_for_range`` returns) in any fragment
        file of a stream of ``object_size`` bytes."""
        count = self.layout.segment_count(object_size)
        if segments.step != 1 or not segments or segments.start < 0 or segments.stop > count:
            raise ValueError(f"segments {segments} not a non-empty run within 0..{count - 1}")
        start = self.frame_offset(segments.start)
        last = segments.stop - 1
        last_len = self.layout.segment_length(object_size, last)
        end = self.frame_offset(last) + self.frame_size(last_len)
        return start, end - start

    def fragment_file_size(self, object_size: int) -> int:
        """Size of each of the k + m fragment files of a stream of
        ``object_size`` bytes (0 for the empty stream)."""
        count = self.layout.segment_count(object_size)
        if count == 0:
            return 0
        return self.frame_span(object_size, range(count))[1]
