"""Byte ranges: the GET/HEAD ``Range`` header, ``x-amz-copy-source-range`` and
``partNumber`` reads, resolved against an object's size.

S3 is lenient with ``Range`` (behaviour observed on AWS): a header it cannot
parse, one with several ranges, or one whose last byte precedes its first is
ignored and the whole object is served (200). Only a parsable range that starts
at or past the end of the object, or the suffix range ``bytes=-0``, is
unsatisfiable: 416 ``InvalidRange`` with ``Content-Range: bytes */size``. A
suffix range on an empty object is ignored too (200 with no bytes), while
``bytes=0-`` on an empty object is unsatisfiable.

``x-amz-copy-source-range`` is strict: it must read ``bytes=first-last`` and lie
within the source object, else ``InvalidArgument``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from s3api.errors import InvalidArgument, InvalidPartNumber, InvalidRange
from s3api.service import ByteRange

__all__ = [
    "MAX_PART_NUMBER",
    "content_range",
    "parse_copy_source_range",
    "parse_part_number",
    "parse_range",
    "part_range",
]

MAX_PART_NUMBER = 10000

_DIGITS = re.compile(r"[0-9]+")
_COPY_RANGE = re.compile(r"bytes=([0-9]+)-([0-9]+)")


def _unsatisfiable(header: str, size: int) -> InvalidRange:
    error = InvalidRange(RangeRequested=header, ActualObjectSize=str(size))
    error.headers["Content-Range"] = f"bytes */{size}"
    return error


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The byte range a GET/HEAD ``Range`` header selects, or None for the whole object.

    Raises InvalidRange (416, with ``Content-Range: bytes */size``) when the
    range is syntactically valid but cannot be satisfied.
    """
    if not header:
        return None
    unit, sep, spec = header.strip().partition("=")
    if not sep or unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_text, sep, last_text = spec.partition("-")
    if not sep:
        return None
    first_text, last_text = first_text.strip(), last_text.strip()
    for text in (first_text, last_text):
        if text and not _DIGITS.fullmatch(text):
            return None
    if not first_text:
        if not last_text:
            return None
        suffix = int(last_text)
        if suffix == 0:
            raise _unsatisfiable(header, size)
        if size == 0:
            return None
        return ByteRange(max(0, size - suffix), size - 1)
    first = int(first_text)
    if first >= size:
        raise _unsatisfiable(header, size)
    if not last_text:
        return ByteRange(first, size - 1)
    last = int(last_text)
    if last < first:
        return None
    return ByteRange(first, min(last, size - 1))


def content_range(byte_range: ByteRange, size: int) -> str:
    """The ``Content-Range`` header value of a 206 response."""
    return f"bytes {byte_range.first}-{byte_range.last}/{size}"


def parse_copy_source_range(header: str, size: int) -> ByteRange:
    """The source bytes ``x-amz-copy-source-range: bytes=first-last`` selects.

    Raises InvalidArgument for any other form, and (with AWS's message) for a
    range that does not lie within the ``size``-byte source object.
    """
    match = _COPY_RANGE.fullmatch(header.strip())
    if match is None or int(match[1]) > int(match[2]):
        raise InvalidArgument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last "
            "where first and last are the zero-based offsets of the first and last "
            "bytes to copy",
            ArgumentName="x-amz-copy-source-range",
            ArgumentValue=header,
        )
    first, last = int(match[1]), int(match[2])
    if last >= size:
        raise InvalidArgument(
            f"Range specified is not valid for source object of size: {size}",
            ArgumentName="x-amz-copy-source-range",
            ArgumentValue=header,
        )
    return ByteRange(first, last)


def parse_part_number(value: str, name: str = "partNumber") -> int:
    """A ``partNumber`` query value: an integer 1..10000, else InvalidArgument."""
    text = value.strip()
    if _DIGITS.fullmatch(text) and 1 <= int(text) <= MAX_PART_NUMBER:
        return int(text)
    raise InvalidArgument(
        "Part number must be an integer between 1 and 10000, inclusive",
        ArgumentName=name,
        ArgumentValue=value,
    )


def part_range(part_number: int, part_sizes: Sequence[int], size: int) -> ByteRange | None:
    """The bytes of part ``part_number`` of an object (GET/HEAD ``?partNumber=``).

    A single-PUT object (no ``part_sizes``) is one part. Returns None for the
    one part of an empty object (there are no bytes to name); raises
    InvalidPartNumber (416) for a part the object does not have.
    """
    sizes = part_sizes or (size,)
    if part_number > len(sizes):
        error = InvalidPartNumber(PartNumberRequested=str(part_number), ActualPartCount=str(len(sizes)))
        error.headers["Content-Range"] = f"bytes */{size}"
        raise error
    first = sum(sizes[: part_number - 1])
    length = sizes[part_number - 1]
    if length == 0:
        return None
    return ByteRange(first, first + length - 1)
