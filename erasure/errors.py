"""Exceptions raised by the erasure package.

Every failure a reader can act on has its own class, so the data path can tell a
damaged piece (report it for repair, read another) from an unreadable segment
(fail the request, never return wrong bytes).
"""

from __future__ import annotations

from collections.abc import Iterable


class ErasureError(Exception):
    """Base class of every error raised by the erasure package."""


class PieceCorrupt(ErasureError):
    """A fragment piece failed verification: frame header, length, checksum or
    authentication tag. Its bytes must not be used."""


class NotEnoughFragments(ErasureError):
    """Fewer than k usable fragments were available to rebuild a segment.

    Carries which fragment indexes were present but bad and which were missing,
    so the caller can name them in its log line and repair queue.
    """

    def __init__(
        self,
        needed: int,
        good: Iterable[int],
        bad: Iterable[int],
        missing: Iterable[int],
        seg_index: int | None = None,
    ) -> None:
        self.needed = needed
        self.good = sorted(good)
        self.bad = sorted(bad)
        self.missing = sorted(missing)
        self.seg_index = seg_index
        where = "" if seg_index is None else f"segment {seg_index}: "
        super().__init__(
            f"{where}need {needed} fragments, have {len(self.good)} good "
            f"{self.good}; bad {self.bad}; missing {self.missing}"
        )


class KeyUnwrapError(ErasureError):
    """A wrapped data key could not be unwrapped: wrong master key or damaged
    wrapped key."""
