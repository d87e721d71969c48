"""Conditional requests: If-Match, If-None-Match, If-Modified-Since,
If-Unmodified-Since on reads, their ``x-amz-copy-source-if-*`` twins on copies,
and If-Match / If-None-Match on writes.

Reads follow RFC 9110's order, which is what S3 documents: If-Match decides
before If-Unmodified-Since (a matching ETag with a failed date still serves the
object), and If-None-Match decides before If-Modified-Since (a matching ETag
with a newer object still answers 304). A failed If-Match or
If-Unmodified-Since is 412 PreconditionFailed; a held If-None-Match or
If-Modified-Since is 304 Not Modified. For copy sources every failure is 412.

Dates compare at whole-second precision, as ``Last-Modified`` is sent; a date
that does not parse is ignored. ETags compare without their quotes and without
a weak ``W/`` prefix; ``*`` matches any existing object.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from s3api import errors
from s3api.errors import NotModified, PreconditionFailed
from s3api.service import WriteCondition
from s3api.timestamps import http_date, parse_http_date

__all__ = [
    "ReadConditions",
    "etag_matches",
    "evaluate_copy_source",
    "evaluate_read",
    "quote_etag",
    "write_condition",
]

_COPY_PREFIX = "x-amz-copy-source-"


@dataclass(frozen=True)
class ReadConditions:
    """The conditional headers of a GET/HEAD (or a copy's source), parsed.

    Dates are epoch seconds; None means the header is absent (or unparsable).
    """

    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: float | None = None
    if_unmodified_since: float | None = None
    header_prefix: str = ""

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> ReadConditions:
        """The GET/HEAD conditions of a case-insensitive header mapping."""
        return cls._parse(headers, "")

    @classmethod
    def copy_source_from_headers(cls, headers: Mapping[str, str]) -> ReadConditions:
        """The ``x-amz-copy-source-if-*`` conditions of a copy request."""
        return cls._parse(headers, _COPY_PREFIX)

    @classmethod
    def _parse(cls, headers: Mapping[str, str], prefix: str) -> ReadConditions:
        def date(name: str) -> float | None:
            value = headers.get(prefix + name)
            return parse_http_date(value) if value is not None else None

        return cls(
            if_match=headers.get(prefix + "If-Match"),
            if_none_match=headers.get(prefix + "If-None-Match"),
            if_modified_since=date("If-Modified-Since"),
            if_unmodified_since=date("If-Unmodified-Since"),
            header_prefix=prefix,
        )

    @property
    def present(self) -> bool:
        """Whether any condition was given."""
        return not (
            self.if_match is None
            and self.if_none_match is None
            and self.if_modified_since is None
            and self.if_unmodified_since is None
        )


def _bare(tag: str) -> str:
    tag = tag.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    return tag.strip('"')


def quote_etag(tag: str) -> str:
    """``tag`` in the quoted form S3 stores and sends: ``"abc"`` for ``abc``."""
    return f'"{_bare(tag)}"'


def etag_matches(header: str, etag: str) -> bool:
    """Whether an If-Match / If-None-Match value (a list or ``*``) names ``etag``."""
    wanted = _bare(etag)
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or (candidate and _bare(candidate) == wanted):
            return True
    return False


def _modified_since(last_modified: float, since: float) -> bool:
    return math.floor(last_modified) > since


def evaluate_read(conditions: ReadConditions, etag: str, last_modified: float) -> None:
    """Raise PreconditionFailed (412) or NotModified (304) if a GET/HEAD condition says so.

    NotModified carries the ``ETag`` and ``Last-Modified`` headers a 304 sends.
    """
    if conditions.if_match is not None:
        if not etag_matches(conditions.if_match, etag):
            raise PreconditionFailed(Condition="If-Match")
    elif conditions.if_unmodified_since is not None and _modified_since(
        last_modified, conditions.if_unmodified_since
    ):
        raise PreconditionFailed(Condition="If-Unmodified-Since")
    not_modified = False
    if conditions.if_none_match is not None:
        not_modified = etag_matches(conditions.if_none_match, etag)
    elif conditions.if_modified_since is not None:
        not_modified = not _modified_since(last_modified, conditions.if_modified_since)
    if not_modified:
        error = NotModified()
        error.headers["ETag"] = etag
        error.headers["Last-Modified"] = http_date(last_modified)
        raise error


def evaluate_copy_source(conditions: ReadConditions, etag: str, last_modified: float) -> None:
    """Raise PreconditionFailed (412) if an ``x-amz-copy-source-if-*`` condition fails."""
    prefix = conditions.header_prefix
    if conditions.if_match is not None:
        if not etag_matches(conditions.if_match, etag):
            raise PreconditionFailed(Condition=prefix + "If-Match")
    elif conditions.if_unmodified_since is not None and _modified_since(
        last_modified, conditions.if_unmodified_since
    ):
        raise PreconditionFailed(Condition=prefix + "If-Unmodified-Since")
    if conditions.if_none_match is not None:
        if etag_matches(conditions.if_none_match, etag):
            raise PreconditionFailed(Condition=prefix + "If-None-Match")
    elif conditions.if_modified_since is not None and not _modified_since(
        last_modified, conditions.if_modified_since
    ):
        raise PreconditionFailed(Condition=prefix + "If-Modified-Since")


def write_condition(headers: Mapping[str, str]) -> WriteCondition | None:
    """The If-None-Match / If-Match condition of a PutObject or CompleteMultipartUpload.

    S3 accepts only ``If-None-Match: *`` (create only) on writes; any other
    If-None-Match value is NotImplemented (501), as AWS answers.
    """
    if_none_match = headers.get("If-None-Match")
    if_match = headers.get("If-Match")
    if if_none_match is None and if_match is None:
        return None
    if if_none_match is not None and if_none_match.strip() != "*":
        raise errors.NotImplemented(Header="If-None-Match")
    return WriteCondition(
        if_none_match_star=if_none_match is not None,
        if_match=quote_etag(if_match) if if_match is not None else None,
    )
