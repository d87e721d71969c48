"""Query parameters of the listing operations, validated as S3 does.

max-keys / max-uploads / max-parts default to 1000 and are capped at 1000; a
value that is not an integer, or is negative, is InvalidArgument.
``encoding-type`` may only be ``url``. ListObjectsV2 continuation tokens are
opaque to clients: here, URL-safe base64 of the key the next page starts
after.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from s3api.errors import InvalidArgument

__all__ = [
    "MAX_PAGE",
    "decode_continuation_token",
    "encode_continuation_token",
    "page_size",
    "part_number_marker",
    "url_encoded",
]

MAX_PAGE = 1000
_INT_MAX = 2**31 - 1


def page_size(query: Mapping[str, str], name: str, default: int = MAX_PAGE, cap: int = MAX_PAGE) -> int:
    """The page size parameter ``name`` (max-keys, max-uploads, max-parts), capped at ``cap``."""
    value = query.get(name)
    if value is None:
        return default
    text = value.strip()
    digits = text[1:] if text.startswith("-") else text
    if not digits.isdigit() or not digits.isascii() or int(text) > _INT_MAX:
        raise InvalidArgument(
            f"Provided {name} not an integer or within integer range",
            ArgumentName=name,
            ArgumentValue=value,
        )
    number = int(text)
    if number < 0:
        raise InvalidArgument(
            f"Argument {name} must be an integer between 0 and {_INT_MAX}",
            ArgumentName=name,
            ArgumentValue=value,
        )
    return min(number, cap)


def part_number_marker(query: Mapping[str, str]) -> int:
    """ListParts' ``part-number-marker`` (0 when absent)."""
    value = query.get("part-number-marker")
    if value is None or value == "":
        return 0
    text = value.strip()
    if not text.isdigit() or not text.isascii() or int(text) > _INT_MAX:
        raise InvalidArgument(
            "Provided part-number-marker not an integer or within integer range",
            ArgumentName="part-number-marker",
            ArgumentValue=value,
        )
    return int(text)


def url_encoded(query: Mapping[str, str]) -> bool:
    """Whether the listing asks for ``encoding-type=url``."""
    value = query.get("encoding-type")
    if value is None:
        return False
    if value.lower() != "url":
        raise InvalidArgument(
            "Invalid Encoding Method specified in Request",
            ArgumentName="encoding-type",
            ArgumentValue=value,
        )
    return True


def encode_continuation_token(marker: str) -> str:
    """The opaque NextContinuationToken for a page that ends at ``marker``."""
    return base64.urlsafe_b64encode(marker.encode("utf-8")).decode("ascii")


def decode_continuation_token(token: str) -> str:
    """The marker inside a continuation token; InvalidArgument if it is not one of ours."""
    try:
        marker = base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeError):
        marker = ""
    if not marker or encode_continuation_token(marker) != token:
        raise InvalidArgument(
            "The continuation token provided is incorrect",
            ArgumentName="continuation-token",
            ArgumentValue=token,
        )
    return marker
