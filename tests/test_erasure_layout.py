"""Tests for erasure.layout: validation and segment arithmetic."""

from __future__ import annotations

import dataclasses

import pytest

from erasure.layout import MAX_FRAGMENTS, StripeLayout


def test_defaults_are_four_plus_two_with_one_mebibyte_segments() -> None:
    layout = StripeLayout()
    assert (layout.k, layout.m, layout.segment_size, layout.backend) == (
        4,
        2,
        1 << 20,
        "isa_l_rs_vand",
    )
    assert layout.fragment_count == 6


@pytest.mark.parametrize(
    "kwargs",
    [
        {"k": 0},
        {"k": -1},
        {"m": 0},
        {"k": MAX_FRAGMENTS, "m": 1},
        {"segment_size": 0},
        {"backend": ""},
    ],
)
def test_invalid_layouts_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        StripeLayout(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [{"k": 4.0}, {"m": True}, {"segment_size": "1"}])
def test_non_integer_parameters_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(TypeError):
        StripeLayout(**kwargs)  # type: ignore[arg-type]


def test_largest_stripe_is_accepted() -> None:
    assert StripeLayout(k=MAX_FRAGMENTS - 1, m=1).fragment_count == MAX_FRAGMENTS


def test_layout_is_immutable_and_comparable() -> None:
    layout = StripeLayout(k=2, m=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        layout.k = 3  # type: ignore[misc]
    assert layout == StripeLayout(k=2, m=1)
    assert layout != StripeLayout(k=2, m=2)


@pytest.mark.parametrize(
    ("object_size", "count"),
    [(0, 0), (1, 1), (99, 1), (100, 1), (101, 2), (300, 3), (301, 4)],
)
def test_segment_count(object_size: int, count: int) -> None:
    assert StripeLayout(segment_size=100).segment_count(object_size) == count


def test_segment_count_refuses_negative_size() -> None:
    with pytest.raises(ValueError):
        StripeLayout().segment_count(-1)


def test_segment_lengths_add_up_to_the_object() -> None:
    layout = StripeLayout(segment_size=100)
    for object_size in (1, 99, 100, 101, 250, 300):
        lengths = [
            layout.segment_length(object_size, i) for i in range(layout.segment_count(object_size))
        ]
        assert sum(lengths) == object_size
        assert all(length == 100 for length in lengths[:-1])
        assert 1 <= lengths[-1] <= 100


@pytest.mark.parametrize(("object_size", "seg_index"), [(0, 0), (100, 1), (101, 2), (50, -1)])
def test_segment_length_out_of_range(object_size: int, seg_index: int) -> None:
    with pytest.raises(IndexError):
        StripeLayout(segment_size=100).segment_length(object_size, seg_index)


def test_segment_start() -> None:
    layout = StripeLayout(segment_size=100)
    assert [layout.segment_start(i) for i in range(3)] == [0, 100, 200]
    with pytest.raises(ValueError):
        layout.segment_start(-1)


@pytest.mark.parametrize(
    ("object_size", "first", "last", "expected"),
    [
        (1000, 0, 0, range(0, 1)),
        (1000, 0, 99, range(0, 1)),
        (1000, 99, 100, range(0, 2)),
        (1000, 100, 100, range(1, 2)),
        (1000, 150, 420, range(1, 5)),
        (1000, 999, 999, range(9, 10)),
        (1001, 1000, 1000, range(10, 11)),
        (1001, 0, 1000, range(0, 11)),
    ],
)
def test_segments_for_range_edges(object_size: int, first: int, last: int, expected: range) -> None:
    assert StripeLayout(segment_size=100).segments_for_range(object_size, first, last) == expected


def test_segments_for_range_matches_byte_by_byte_mapping() -> None:
    layout = StripeLayout(segment_size=7)
    for object_size in range(1, 30):
        for first in range(object_size):
            for last in range(first, object_size):
                expected = sorted({b // 7 for b in range(first, last + 1)})
                assert list(layout.segments_for_range(object_size, first, last)) == expected


@pytest.mark.parametrize(
    ("object_size", "first", "last"),
    [(0, 0, 0), (100, 0, 100), (100, 5, 4), (100, -1, 3), (100, 100, 100)],
)
def test_segments_for_range_refuses_ranges_outside_the_object(
    object_size: int, first: int, last: int
) -> None:
    with pytest.raises(ValueError):
        StripeLayout(segment_size=10).segments_for_range(object_size, first, last)
