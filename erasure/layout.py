"""Stripe layout: how an object is cut into segments and each segment into
k data + m parity fragments.

Pure arithmetic over object sizes and byte offsets; nothing here knows how large
an encoded fragment is (see ``erasure.geometry`` for that).
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_FRAGMENTS = 32
"""Upper bound on k + m. liberasurecode supports more, but a stripe spread over
more than 32 nodes buys nothing for the clusters this store targets."""


@dataclass(frozen=True)
class StripeLayout:
    """The erasure-coding parameters of one stream (object body or part).

    ``k`` data fragments and ``m`` parity fragments per segment; a segment is at
    most ``segment_size`` bytes of the stream; ``backend`` names the pyeclib
    ``ec_type``. Stored with the object's metadata so it can always be read back
    with the parameters it was written with.
    """

    k: int = 4
    m: int = 2
    segment_size: int = 1 << 20
    backend: str = "isa_l_rs_vand"

    def __post_init__(self) -> None:
        for name in ("k", "m", "segment_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int, got {value!r}")
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")
        # pyeclib refuses m == 0; a stripe without parity is not erasure coded.
        if self.m < 1:
            raise ValueError(f"m must be at least 1, got {self.m}")
        if self.k + self.m > MAX_FRAGMENTS:
            raise ValueError(f"k + m must be at most {MAX_FRAGMENTS}, got {self.k + self.m}")
        if self.segment_size < 1:
            raise ValueError(f"segment_size must be positive, got {self.segment_size}")
        if not isinstance(self.backend, str) or not self.backend:
            raise ValueError(f"backend must be a non-empty string, got {self.backend!r}")

    @property
    def fragment_count(self) -> int:
        """Fragments per segment: k + m."""
        return self.k + self.m

    def segment_count(self, object_size: int) -> int:
        """Number of segments of a stream of ``object_size`` bytes (0 for the
        empty stream, which has no fragments at all)."""
        _check_size(object_size)
        return -(-object_size // self.segment_size)

    def segment_start(self, seg_index: int) -> int:
        """Offset in the stream of the first byte of segment ``seg_index``."""
        if seg_index < 0:
            raise ValueError(f"segment index must be non-negative, got {seg_index}")
        return seg_index * self.segment_size

    def segment_length(self, object_size: int, seg_index: int) -> int:
        """Length in bytes of segment ``seg_index``: ``segment_size`` for all but
        the last segment, which holds the remainder."""
        count = self.segment_count(object_size)
        if not 0 <= seg_index < count:
            raise IndexError(f"segment {seg_index} out of range for {count} segments")
        return min(self.segment_size, object_size - seg_index * self.segment_size)

    def segments_for_range(self, object_size: int, first_byte: int, last_byte: int) -> range:
        """Indexes of the segments holding stream bytes ``first_byte`` through
        ``last_byte`` inclusive (HTTP Range semantics, already resolved against
        the object size)."""
        _check_size(object_size)
        if not 0 <= first_byte <= last_byte < object_size:
            raise ValueError(
                f"byte range {first_byte}-{last_byte} not within an object of {object_size} bytes"
            )
        return range(first_byte // self.segment_size, last_byte // self.segment_size + 1)


def _check_size(object_size: int) -> None:
    if object_size < 0:
        raise ValueError(f"object size must be non-negative, got {object_size}")
