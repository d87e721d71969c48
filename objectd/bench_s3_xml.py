"""The few S3 XML documents the benchmark reads and writes (sans I/O).

ListObjectsV2 pages are read with patterns rather than a tree: a page is flat
(no delimiter is asked for, so no CommonPrefixes), each of its scalar
elements appears once, and parsing a thousand-key page must stay cheap next to
the server's work of producing it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, unescape

_KEY = re.compile(rb"<Key>(.*?)</Key>", re.DOTALL)
_TRUNCATED = re.compile(rb"<IsTruncated>\s*(true|false)\s*</IsTruncated>")
_NEXT_TOKEN = re.compile(rb"<NextContinuationToken>(.*?)</NextContinuationToken>", re.DOTALL)
_ERROR_CODE = re.compile(rb"<Code>(.*?)</Code>", re.DOTALL)
_ERROR_BLOCK = re.compile(rb"<Error>(.*?)</Error>", re.DOTALL)
# XML's predefined entities beyond the three saxutils handles by default.
_ENTITIES = {"&quot;": '"', "&apos;": "'"}
S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"


def _text(raw: bytes) -> str:
    text = raw.decode()
    return unescape(text, _ENTITIES) if "&" in text else text


@dataclass(frozen=True)
class ListPage:
    """One ListObjectsV2 page: its keys and where the next page starts."""

    keys: tuple[str, ...]
    is_truncated: bool
    next_token: str | None


def parse_list_page(body: bytes) -> ListPage:
    """The keys, truncation flag and continuation token of a ListObjectsV2 response."""
    truncated = _TRUNCATED.search(body)
    if truncated is None:
        raise ValueError("not a ListObjectsV2 response: no IsTruncated")
    token = _NEXT_TOKEN.search(body)
    return ListPage(
        keys=tuple(_text(raw) for raw in _KEY.findall(body)),
        is_truncated=truncated.group(1) == b"true",
        next_token=_text(token.group(1)) if token else None,
    )


def render_list_page(
    bucket: str,
    prefix: str,
    keys: Sequence[str],
    max_keys: int,
    continuation_token: str | None,
    next_token: str | None,
    size: int = 0,
) -> bytes:
    """A ListObjectsV2 response listing ``keys`` (each of ``size`` bytes),
    truncated when ``next_token`` is given."""
    head = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="{S3_NAMESPACE}">'
        f"<Name>{escape(bucket)}</Name><Prefix>{escape(prefix)}</Prefix>"
        f"<KeyCount>{len(keys)}</KeyCount><MaxKeys>{max_keys}</MaxKeys>"
        f"<IsTruncated>{'true' if next_token else 'false'}</IsTruncated>"
    )
    parts = [head]
    if continuation_token:
        parts.append(f"<ContinuationToken>{escape(continuation_token)}</ContinuationToken>")
    if next_token:
        parts.append(f"<NextContinuationToken>{escape(next_token)}</NextContinuationToken>")
    tail = (
        f"</Key><LastModified>2006-03-01T00:00:00.000Z</LastModified>"
        f'<ETag>"00000000000000000000000000000000"</ETag><Size>{size}</Size>'
        f"<StorageClass>STANDARD</StorageClass></Contents>"
    )
    parts.extend(f"<Contents><Key>{escape(key)}{tail}" for key in keys)
    parts.append("</ListBucketResult>")
    return "".join(parts).encode()


def render_delete_request(keys: Sequence[str]) -> bytes:
    """A quiet DeleteObjects request body for ``keys`` (at most 1000, S3's limit)."""
    if len(keys) > 1000:
        raise ValueError("DeleteObjects takes at most 1000 keys")
    objects = "".join(f"<Object><Key>{escape(key)}</Key></Object>" for key in keys)
    return f'<?xml version="1.0" encoding="UTF-8"?><Delete><Quiet>true</Quiet>{objects}</Delete>'.encode()


def parse_delete_errors(body: bytes) -> list[tuple[str, str]]:
    """The (key, error code) pairs a DeleteObjects response reports as failed."""
    errors = []
    for block in _ERROR_BLOCK.findall(body):
        key = _KEY.search(block)
        code = _ERROR_CODE.search(block)
        errors.append((_text(key.group(1)) if key else "", _text(code.group(1)) if code else ""))
    return errors


def parse_error_code(body: bytes) -> str | None:
    """The ``Code`` of an S3 error response, if the body is one."""
    code = _ERROR_CODE.search(body)
    return _text(code.group(1)) if code else None
