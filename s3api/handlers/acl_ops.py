"""The ``?acl`` sub-resource of buckets and objects.

Reads answer the owner's FULL_CONTROL (the only ACL here, which keeps tools
like s3cmd and rclone happy); writes accept only ACLs that grant nothing more.
"""

from __future__ import annotations

from aiohttp import web

from s3api.acl_policy import check_owner_only_grants
from s3api.handlers.object_ops import open_object, version_headers
from s3api.object_headers import validate_acl_headers
from s3api.web_context import Handler, S3Call, xml_response
from s3api.xml_codec import parse_access_control_policy, render_access_control_policy

__all__ = ["OPERATIONS"]


async def _accept_acl(call: S3Call, owner: str) -> None:
    """Check a PutBucketAcl / PutObjectAcl request: canned header or policy body."""
    validate_acl_headers(call.headers)
    document = await call.read_document(64 * 1024)
    if document.strip():
        check_owner_only_grants(parse_access_control_policy(document), owner)


async def get_bucket_acl(call: S3Call) -> web.StreamResponse:
    """GetBucketAcl: the owner has FULL_CONTROL."""
    info = await call.service.get_bucket(call.principal, call.bucket)
    return xml_response(render_access_control_policy(info.owner))


async def put_bucket_acl(call: S3Call) -> web.StreamResponse:
    """PutBucketAcl: accepted when it keeps owner-only access."""
    info = await call.service.get_bucket(call.principal, call.bucket)
    await _accept_acl(call, info.owner)
    return web.Response()


async def get_object_acl(call: S3Call) -> web.StreamResponse:
    """GetObjectAcl: the bucket owner has FULL_CONTROL."""
    reader = await open_object(call)
    owner = reader.info.owner or call.principal.user
    return xml_response(render_access_control_policy(owner), headers=version_headers(reader.info))


async def put_object_acl(call: S3Call) -> web.StreamResponse:
    """PutObjectAcl: accepted when it keeps owner-only access."""
    reader = await open_object(call)
    await _accept_acl(call, reader.info.owner or call.principal.user)
    return web.Response(headers=version_headers(reader.info))


OPERATIONS: dict[str, Handler] = {
    "GetBucketAcl": get_bucket_acl,
    "PutBucketAcl": put_bucket_acl,
    "GetObjectAcl": get_object_acl,
    "PutObjectAcl": put_object_acl,
}
