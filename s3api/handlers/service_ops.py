"""Service-level operations: ListBuckets."""

from __future__ import annotations

from aiohttp import web

from s3api.errors import InvalidArgument
from s3api.list_params import decode_continuation_token, encode_continuation_token
from s3api.web_context import Handler, S3Call, xml_response
from s3api.xml_codec import render_list_buckets

__all__ = ["OPERATIONS", "list_buckets"]

_MAX_BUCKETS = 10000


def _max_buckets(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip()
    if not (text.isdigit() and text.isascii()) or not 1 <= int(text) <= _MAX_BUCKETS:
        raise InvalidArgument(
            "Argument max-buckets must be an integer between 1 and 10000",
            ArgumentName="max-buckets",
            ArgumentValue=value,
        )
    return int(text)


async def list_buckets(call: S3Call) -> web.StreamResponse:
    """ListBuckets: the caller's buckets by name, optionally by prefix and in pages."""
    prefix = call.query.get("prefix")
    max_buckets = _max_buckets(call.query.get("max-buckets"))
    token = call.query.get("continuation-token")
    after = decode_continuation_token(token) if token else None
    buckets = await call.service.list_buckets(call.principal)
    selected = [
        bucket
        for bucket in buckets
        if (prefix is None or bucket.name.startswith(prefix)) and (after is None or bucket.name > after)
    ]
    next_token = None
    if max_buckets is not None and len(selected) > max_buckets:
        selected = selected[:max_buckets]
        next_token = encode_continuation_token(selected[-1].name)
    return xml_response(render_list_buckets(call.principal.user, selected, next_token, prefix))


OPERATIONS: dict[str, Handler] = {"ListBuckets": list_buckets}
