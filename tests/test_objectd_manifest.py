"""Manifest encoding round trips."""

from __future__ import annotations

import pytest

from erasure.layout import StripeLayout
from objectd.manifest import InlineData, Manifest, StreamRef


def test_round_trip_mixed_extents():
    m = Manifest(
        (
            StreamRef("ab" * 16, 10_000_000, StripeLayout(4, 2, 1 << 20), b"\x01" * 40,
                      ("drive-1", "", "drive-3", "drive-4", "drive-5", "drive-6")),
            InlineData("cd" * 16, 5, b"\x00sealed", None),
            StreamRef("ef" * 16, 7, StripeLayout(2, 1, 4096, "liberasurecode_rs_vand"), None, ("a", "b", "c")),
        )
    )
    back = Manifest.decode(m.encode())
    assert back == m
    assert back.size == 10_000_012
    assert [s.stream_id for s in back.streams()] == ["ab" * 16, "ef" * 16]


def test_join_keeps_order():
    a = Manifest((InlineData("01" * 16, 1, b"a", None),))
    b = Manifest((InlineData("02" * 16, 2, b"b", None),))
    assert [e.stream_id for e in Manifest.join([a, b]).extents] == ["01" * 16, "02" * 16]


def test_unknown_version_rejected():
    with pytest.raises(ValueError):
        Manifest.decode(b'{"v":99,"e":[]}')
