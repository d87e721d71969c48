"""Bucket operations: create, head, delete, location, versioning, the listings,
DeleteObjects, and the configuration sub-resources clients routinely ask for.

Buckets here have no policy, CORS, lifecycle, tagging or default-encryption
configuration; reading those sub-resources gets the answer AWS gives for a
bucket without them.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from s3api import errors
from s3api.errors import (
    IllegalLocationConstraintException,
    InvalidArgument,
    InvalidLocationConstraint,
    InvalidRequest,
    NoSuchBucketPolicy,
    NoSuchCORSConfiguration,
    NoSuchLifecycleConfiguration,
    NoSuchTagSet,
    S3Error,
)
from s3api.list_params import (
    decode_continuation_token,
    encode_continuation_token,
    page_size,
    url_encoded,
)
from s3api.names import validate_key, validate_new_bucket_name
from s3api.object_headers import validate_acl_headers
from s3api.service import ObjectInfo
from s3api.web_context import Handler, S3Call, xml_response
from s3api.xml_codec import (
    CONFIG_BODY_LIMIT,
    LIST_BODY_LIMIT,
    DeletedEntry,
    DeleteFailure,
    ObjectIdentifier,
    parse_create_bucket_configuration,
    parse_delete,
    render_delete_result,
    render_list_multipart_uploads,
    render_list_objects_v1,
    render_list_objects_v2,
    render_list_versions,
    render_location_constraint,
    render_bucket_encryption,
    render_versioning_configuration,
)

__all__ = ["OPERATIONS"]


def _empty(status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, headers=headers)


# --- the bucket itself -------------------------------------------------------


def _bucket_region(call: S3Call, constraint: str | None) -> str:
    """The region of a new bucket, per AWS's LocationConstraint rules."""
    if constraint == "us-east-1":
        # AWS: us-east-1 is the default and may not be named explicitly.
        raise InvalidLocationConstraint(LocationConstraint=constraint)
    configured = call.config.region
    if configured is None:
        return constraint or call.auth.region or call.config.default_region
    if constraint and constraint != configured:
        raise IllegalLocationConstraintException(
            f"The {constraint} location constraint is incompatible for the region specific "
            "endpoint this request was sent to."
        )
    return configured


async def create_bucket(call: S3Call) -> web.StreamResponse:
    """CreateBucket: 200 with ``Location: /bucket``."""
    validate_new_bucket_name(call.bucket)
    validate_acl_headers(call.headers)
    if call.headers.get("x-amz-bucket-object-lock-enabled", "").lower() == "true":
        raise errors.NotImplemented(Header="x-amz-bucket-object-lock-enabled")
    ownership = call.headers.get("x-amz-object-ownership")
    if ownership is not None and ownership != "BucketOwnerEnforced":
        raise errors.NotImplemented(Header="x-amz-object-ownership")
    document = await call.read_document(CONFIG_BODY_LIMIT)
    region = _bucket_region(call, parse_create_bucket_configuration(document))
    await call.service.create_bucket(call.principal, call.bucket, region)
    return _empty(headers={"Location": f"/{call.bucket}"})


async def head_bucket(call: S3Call) -> web.StreamResponse:
    """HeadBucket: 200 with the bucket's region."""
    info = await call.service.get_bucket(call.principal, call.bucket)
    return _empty(headers={"x-amz-bucket-region": info.region})


async def delete_bucket(call: S3Call) -> web.StreamResponse:
    """DeleteBucket: 204."""
    await call.service.delete_bucket(call.principal, call.bucket)
    return _empty(204)


async def get_bucket_location(call: S3Call) -> web.StreamResponse:
    """GetBucketLocation."""
    info = await call.service.get_bucket(call.principal, call.bucket)
    return xml_response(render_location_constraint(info.region))


async def get_bucket_versioning(call: S3Call) -> web.StreamResponse:
    """GetBucketVersioning."""
    info = await call.service.get_bucket(call.principal, call.bucket)
    return xml_response(render_versioning_configuration(info.versioning))


# --- listings ---------------------------------------------------------------


async def list_objects(call: S3Call) -> web.StreamResponse:
    """ListObjects (v1): paged by Marker."""
    query = call.query
    max_keys = page_size(query, "max-keys")
    encode = url_encoded(query)
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    marker = query.get("marker", "")
    page = await call.service.list_objects(call.principal, call.bucket, prefix, delimiter, marker, max_keys)
    document = render_list_objects_v1(
        call.bucket,
        page,
        prefix=prefix,
        delimiter=delimiter,
        marker=marker,
        max_keys=max_keys,
        owner=call.principal.user,
        url_encoded=encode,
    )
    return xml_response(document)


async def list_objects_v2(call: S3Call) -> web.StreamResponse:
    """ListObjectsV2: paged by opaque continuation tokens."""
    query = call.query
    max_keys = page_size(query, "max-keys")
    encode = url_encoded(query)
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    start_after = query.get("start-after", "")
    token = query.get("continuation-token")
    if token is not None and token == "":
        raise InvalidArgument(
            "The continuation token provided is incorrect", ArgumentName="continuation-token", ArgumentValue=""
        )
    start = decode_continuation_token(token) if token is not None else start_after
    fetch_owner = query.get("fetch-owner", "").lower() == "true"
    page = await call.service.list_objects(call.principal, call.bucket, prefix, delimiter, start, max_keys)
    next_token = (
        encode_continuation_token(page.next_marker) if page.is_truncated and page.next_marker else None
    )
    document = render_list_objects_v2(
        call.bucket,
        page,
        prefix=prefix,
        delimiter=delimiter,
        max_keys=max_keys,
        start_after=start_after or None,
        continuation_token=token,
        next_continuation_token=next_token,
        owner=call.principal.user if fetch_owner else None,
        url_encoded=encode,
    )
    return xml_response(document)


async def list_object_versions(call: S3Call) -> web.StreamResponse:
    """ListObjectVersions."""
    query = call.query
    max_keys = page_size(query, "max-keys")
    encode = url_encoded(query)
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    key_marker = query.get("key-marker", "")
    version_id_marker = query.get("version-id-marker", "")
    if version_id_marker and not key_marker:
        raise InvalidArgument(
            "A version-id marker cannot be specified without a key marker.",
            ArgumentName="version-id-marker",
            ArgumentValue=version_id_marker,
        )
    page = await call.service.list_object_versions(
        call.principal, call.bucket, prefix, delimiter, key_marker, version_id_marker, max_keys
    )
    document = render_list_versions(
        call.bucket,
        page,
        prefix=prefix,
        delimiter=delimiter,
        key_marker=key_marker,
        version_id_marker=version_id_marker,
        max_keys=max_keys,
        owner=call.principal.user,
        url_encoded=encode,
    )
    return xml_response(document)


async def list_multipart_uploads(call: S3Call) -> web.StreamResponse:
    """ListMultipartUploads."""
    query = call.query
    max_uploads = page_size(query, "max-uploads")
    encode = url_encoded(query)
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    key_marker = query.get("key-marker", "")
    upload_id_marker = query.get("upload-id-marker", "")
    page = await call.service.list_multipart_uploads(
        call.principal, call.bucket, prefix, delimiter, key_marker, upload_id_marker, max_uploads
    )
    document = render_list_multipart_uploads(
        call.bucket,
        page,
        prefix=prefix,
        delimiter=delimiter,
        key_marker=key_marker,
        upload_id_marker=upload_id_marker,
        max_uploads=max_uploads,
        url_encoded=encode,
    )
    return xml_response(document)


# --- DeleteObjects ----------------------------------------------------------


def _deleted_entry(target: ObjectIdentifier, info: ObjectInfo | None) -> DeletedEntry:
    """The ``<Deleted>`` entry for one key, from what ``delete_object`` returned."""
    if target.version_id is not None:
        marker = info is not None and info.is_delete_marker
        return DeletedEntry(target.key, target.version_id, marker, target.version_id if marker else None)
    if info is not None and info.is_delete_marker:
        return DeletedEntry(target.key, None, True, info.version_id)
    return DeletedEntry(target.key)


async def delete_objects(call: S3Call) -> web.StreamResponse:
    """DeleteObjects: up to 1000 keys; per-key failures are listed, not raised."""
    if "Content-MD5" not in call.headers and not any(
        name.lower().startswith("x-amz-checksum-") or name.lower() == "x-amz-trailer" for name in call.headers
    ):
        # AWS requires an integrity check on this operation's body.
        raise InvalidRequest("Missing required header for this request: Content-MD5")
    document = await call.read_document(LIST_BODY_LIMIT)
    request = parse_delete(document)
    await call.service.get_bucket(call.principal, call.bucket)
    gate = asyncio.Semaphore(call.config.delete_concurrency)

    async def delete_one(target: ObjectIdentifier) -> DeletedEntry | DeleteFailure:
        async with gate:
            try:
                validate_key(target.key)
                info = await call.service.delete_object(
                    call.principal, call.bucket, target.key, target.version_id
                )
            except S3Error as error:
                return DeleteFailure(target.key, error.code, error.message, target.version_id)
            return _deleted_entry(target, info)

    results = await asyncio.gather(*(delete_one(target) for target in request.objects))
    deleted = [result for result in results if isinstance(result, DeletedEntry)]
    failures = [result for result in results if isinstance(result, DeleteFailure)]
    return xml_response(render_delete_result(deleted, failures, request.quiet))


# --- configuration sub-resources --------------------------------------------


def _absent(error: type[S3Error]) -> Handler:
    async def handler(call: S3Call) -> web.StreamResponse:
        await call.service.get_bucket(call.principal, call.bucket)
        raise error(BucketName=call.bucket)

    handler.__doc__ = f"Answers {error.code}: buckets here have no such configuration."
    return handler


async def get_bucket_encryption(call: S3Call) -> web.StreamResponse:
    """GetBucketEncryption: the SSE-S3 default every bucket has (AWS's answer
    since 2023, and true here: all data is encrypted at rest)."""
    await call.service.get_bucket(call.principal, call.bucket)
    return xml_response(render_bucket_encryption())


async def put_bucket_versioning(call: S3Call) -> web.StreamResponse:
    """PutBucketVersioning: not offered yet."""
    await call.service.get_bucket(call.principal, call.bucket)
    raise errors.NotImplemented("Bucket versioning cannot be changed on this server.")


OPERATIONS: dict[str, Handler] = {
    "CreateBucket": create_bucket,
    "HeadBucket": head_bucket,
    "DeleteBucket": delete_bucket,
    "GetBucketLocation": get_bucket_location,
    "GetBucketVersioning": get_bucket_versioning,
    "PutBucketVersioning": put_bucket_versioning,
    "ListObjects": list_objects,
    "ListObjectsV2": list_objects_v2,
    "ListObjectVersions": list_object_versions,
    "ListMultipartUploads": list_multipart_uploads,
    "DeleteObjects": delete_objects,
    "GetBucketTagging": _absent(NoSuchTagSet),
    "GetBucketCors": _absent(NoSuchCORSConfiguration),
    "GetBucketLifecycleConfiguration": _absent(NoSuchLifecycleConfiguration),
    "GetBucketPolicy": _absent(NoSuchBucketPolicy),
    "GetBucketEncryption": get_bucket_encryption,
}
