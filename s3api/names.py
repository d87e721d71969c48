"""Bucket and object key naming rules.

Bucket names follow AWS's rules for general purpose buckets. Object keys are
any UTF-8 string of 1 to 1024 bytes: ``../x``, ``a//b`` and ``%2F`` are valid
keys and are never normalized.
"""

from __future__ import annotations

import ipaddress
import re

from s3api.errors import InvalidArgument, InvalidBucketName, KeyTooLongError

__all__ = [
    "MAX_KEY_BYTES",
    "check_bucket_name",
    "validate_key",
    "validate_new_bucket_name",
]

MAX_KEY_BYTES = 1024

_NEW_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# Names that may exist elsewhere (legacy us-east-1 names allowed upper case and
# underscores, up to 255 characters); anything else cannot name a bucket at all.
_ANY_BUCKET = re.compile(r"[A-Za-z0-9._-]{1,255}")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def _invalid(name: str) -> InvalidBucketName:
    return InvalidBucketName(BucketName=name)


def validate_new_bucket_name(name: str) -> None:
    """Raise InvalidBucketName unless ``name`` may name a new bucket.

    3-63 characters of lower-case letters, digits, dots and hyphens, starting
    and ending with a letter or digit; no ``..``, ``.-`` or ``-.``; not an IPv4
    address; none of the prefixes and suffixes AWS reserves.
    """
    if not _NEW_BUCKET.fullmatch(name):
        raise _invalid(name)
    if ".." in name or ".-" in name or "-." in name:
        raise _invalid(name)
    if name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES):
        raise _invalid(name)
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return
    raise _invalid(name)


def check_bucket_name(name: str) -> None:
    """Raise InvalidBucketName if ``name`` cannot name any bucket.

    Used for operations on existing buckets: a name that merely breaks the
    rules for new buckets is left to the service (which answers NoSuchBucket).
    """
    if not _ANY_BUCKET.fullmatch(name):
        raise _invalid(name)


def validate_key(key: str) -> None:
    """Raise KeyTooLongError if ``key`` is longer than 1024 bytes of UTF-8,
    InvalidArgument if it holds NUL or is not valid UTF-8 (a lone surrogate
    from a bad percent-escape): neither metadata backend can store those
    exactly, and a key must round-trip byte for byte.

    The key is otherwise taken exactly as given: no normalization of ``.``,
    ``..`` or repeated slashes.
    """
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidArgument("Object key is not valid UTF-8", ArgumentName="key") from None
    if size > MAX_KEY_BYTES:
        raise KeyTooLongError(Size=str(size), MaxSizeAllowed=str(MAX_KEY_BYTES))
    if "\x00" in key:
        raise InvalidArgument("Object key must not contain NUL", ArgumentName="key")
