"""Tests for s3api.ranges: Range, x-amz-copy-source-range and partNumber."""

from __future__ import annotations

import pytest

from s3api.errors import InvalidArgument, InvalidPartNumber, InvalidRange
from s3api.ranges import (
    content_range,
    parse_copy_source_range,
    parse_part_number,
    parse_range,
    part_range,
)
from s3api.service import ByteRange


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-9", 100, ByteRange(0, 9)),
        ("bytes=10-", 100, ByteRange(10, 99)),
        ("bytes=-10", 100, ByteRange(90, 99)),
        ("bytes=-1000", 100, ByteRange(0, 99)),
        ("bytes=90-1000", 100, ByteRange(90, 99)),
        ("bytes=99-99", 100, ByteRange(99, 99)),
        ("bytes=0-0", 1, ByteRange(0, 0)),
        ("bytes= 5 - 6 ", 100, ByteRange(5, 6)),
        ("Bytes=5-6", 100, ByteRange(5, 6)),
    ],
)
def test_satisfiable_ranges(header: str, size: int, expected: ByteRange) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "bytes=0-1,3-4",  # several ranges: S3 serves the whole object
        "bytes=abc-def",
        "bytes=0-x",
        "bytes=-",
        "bytes=5",
        "items=0-1",
        "0-1",
        "bytes=--1",
        "bytes=1-0",  # last before first: ignored
        "bytes=3-0",
        "bytes=+1-2",
    ],
)
def test_ignored_ranges_serve_whole_object(header: str | None) -> None:
    assert parse_range(header, 4) is None


@pytest.mark.parametrize(("header", "size"), [("bytes=100-200", 100), ("bytes=100-", 100), ("bytes=-0", 100), ("bytes=0-", 0), ("bytes=0-0", 0)])
def test_unsatisfiable_ranges(header: str, size: int) -> None:
    with pytest.raises(InvalidRange) as caught:
        parse_range(header, size)
    assert caught.value.status == 416
    assert caught.value.headers["Content-Range"] == f"bytes */{size}"
    assert caught.value.fields["RangeRequested"] == header
    assert caught.value.fields["ActualObjectSize"] == str(size)


def test_suffix_range_on_empty_object_is_ignored() -> None:
    assert parse_range("bytes=-5", 0) is None


def test_content_range() -> None:
    assert content_range(ByteRange(5, 9), 100) == "bytes 5-9/100"


def test_copy_source_range() -> None:
    assert parse_copy_source_range("bytes=0-4", 5) == ByteRange(0, 4)
    assert parse_copy_source_range("bytes=2-2", 5) == ByteRange(2, 2)


@pytest.mark.parametrize(
    "header", ["0-2", "bytes=0", "bytes=hello-world", "bytes=0-bar", "bytes=hello-", "bytes=0-2,3-5", "bytes=-3", "bytes=3-", "bytes=3-1"]
)
def test_improper_copy_source_range(header: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_copy_source_range(header, 100)
    assert caught.value.fields["ArgumentName"] == "x-amz-copy-source-range"
    assert "bytes=first-last" in caught.value.message


def test_copy_source_range_past_the_end() -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_copy_source_range("bytes=0-21", 5)
    assert caught.value.message == "Range specified is not valid for source object of size: 5"


@pytest.mark.parametrize("value", ["1", "10000", "42"])
def test_part_numbers(value: str) -> None:
    assert parse_part_number(value) == int(value)


@pytest.mark.parametrize("value", ["0", "10001", "-1", "x", "", "1.5"])
def test_bad_part_numbers(value: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_part_number(value)
    assert caught.value.fields == {"ArgumentName": "partNumber", "ArgumentValue": value}


def test_part_range_of_multipart_object() -> None:
    sizes = (5, 5, 3)
    assert part_range(1, sizes, 13) == ByteRange(0, 4)
    assert part_range(2, sizes, 13) == ByteRange(5, 9)
    assert part_range(3, sizes, 13) == ByteRange(10, 12)
    with pytest.raises(InvalidPartNumber) as caught:
        part_range(4, sizes, 13)
    assert caught.value.status == 416
    assert caught.value.fields["ActualPartCount"] == "3"


def test_part_range_of_single_put_object() -> None:
    assert part_range(1, (), 7) == ByteRange(0, 6)
    assert part_range(1, (), 0) is None
    with pytest.raises(InvalidPartNumber):
        part_range(2, (), 7)
