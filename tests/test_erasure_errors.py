"""Tests for erasure.errors."""

from __future__ import annotations

from erasure.errors import ErasureError, KeyUnwrapError, NotEnoughFragments, PieceCorrupt


def test_all_errors_share_the_package_base() -> None:
    for cls in (PieceCorrupt, NotEnoughFragments, KeyUnwrapError):
        assert issubclass(cls, ErasureError)


def test_not_enough_fragments_names_good_bad_and_missing() -> None:
    error = NotEnoughFragments(4, good=[3, 1, 0], bad=[5, 2], missing=[4], seg_index=7)
    assert error.needed == 4
    assert (error.good, error.bad, error.missing, error.seg_index) == ([0, 1, 3], [2, 5], [4], 7)
    message = str(error)
    assert "segment 7" in message
    assert "[2, 5]" in message and "[4]" in message
