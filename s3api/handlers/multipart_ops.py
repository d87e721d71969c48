"""Multipart upload operations: create, upload part (and part copy), complete,
abort, list parts.
"""

from __future__ import annotations

import urllib.parse

from aiohttp import web

from s3api.checksums import ChecksumAlgorithm, ChecksumType
from s3api.conditions import write_condition
from s3api.errors import InvalidArgument, InvalidRequest
from s3api.handlers.object_ops import open_copy_source, version_headers
from s3api.list_params import page_size, part_number_marker, url_encoded
from s3api.object_headers import checksum_headers, headers_from_request, validate_write_headers
from s3api.ranges import parse_copy_source_range, parse_part_number
from s3api.routing import parse_copy_source
from s3api.service import Checksum
from s3api.web_context import Handler, S3Call, xml_response
from s3api.xml_codec import (
    LIST_BODY_LIMIT,
    parse_complete_multipart_upload,
    render_complete_multipart_upload,
    render_copy_part_result,
    render_initiate_multipart_upload,
    render_list_parts,
)

__all__ = ["OPERATIONS"]


def _upload_id(call: S3Call) -> str:
    upload_id = call.query.get("uploadId", "")
    if not upload_id:
        raise InvalidArgument("This operation does not accept an empty upload id", ArgumentName="uploadId")
    return upload_id


def _sse_echo(call: S3Call) -> dict[str, str]:
    if call.headers.get("x-amz-server-side-encryption") == "AES256":
        return {"x-amz-server-side-encryption": "AES256"}
    return {}


async def create_multipart_upload(call: S3Call) -> web.StreamResponse:
    """CreateMultipartUpload: the upload id, and the checksum algorithm and type chosen."""
    validate_write_headers(call.headers)
    headers = headers_from_request(call.headers.items())
    algorithm_name = call.headers.get("x-amz-checksum-algorithm")
    type_name = call.headers.get("x-amz-checksum-type")
    algorithm = ChecksumAlgorithm.from_name(algorithm_name) if algorithm_name is not None else None
    checksum_type = ChecksumType.parse(type_name) if type_name is not None else None
    if checksum_type is not None and algorithm is None:
        raise InvalidRequest(
            "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
        )
    upload = await call.service.create_multipart_upload(
        call.principal,
        call.bucket,
        call.key,
        headers,
        algorithm.value if algorithm is not None else None,
        checksum_type.value if checksum_type is not None else None,
    )
    answer = _sse_echo(call)
    if upload.checksum_algorithm:
        answer["x-amz-checksum-algorithm"] = upload.checksum_algorithm
    if upload.checksum_type:
        answer["x-amz-checksum-type"] = upload.checksum_type
    document = render_initiate_multipart_upload(upload.bucket, upload.key, upload.upload_id)
    return xml_response(document, headers=answer)


async def upload_part(call: S3Call) -> web.StreamResponse:
    """UploadPart: 200 with the part's ETag (and checksum)."""
    part_number = parse_part_number(call.query["partNumber"])
    upload_id = _upload_id(call)
    body = call.body(call.config.max_part_size)
    part = await call.service.upload_part(call.principal, call.bucket, call.key, upload_id, part_number, body)
    answer = {"ETag": part.etag, **checksum_headers(part.checksum), **_sse_echo(call)}
    answer.pop("x-amz-checksum-type", None)  # a part's checksum has no type of its own
    return web.Response(headers=answer)


async def upload_part_copy(call: S3Call) -> web.StreamResponse:
    """UploadPartCopy: a part from (a range of) an existing object."""
    part_number = parse_part_number(call.query["partNumber"])
    upload_id = _upload_id(call)
    source = parse_copy_source(call.headers["x-amz-copy-source"])
    reader, source_version = await open_copy_source(call, source)
    range_header = call.headers.get("x-amz-copy-source-range")
    byte_range = parse_copy_source_range(range_header, reader.info.size) if range_header is not None else None
    part = await call.service.upload_part_copy(
        call.principal, call.bucket, call.key, upload_id, part_number, reader, byte_range
    )
    answer = _sse_echo(call)
    if source_version is not None:
        answer["x-amz-copy-source-version-id"] = source_version
    return xml_response(render_copy_part_result(part.etag, part.last_modified, part.checksum), headers=answer)


def _full_object_checksum(call: S3Call) -> Checksum | None:
    """The whole object's checksum a CompleteMultipartUpload may carry in its headers."""
    found = [
        (algorithm, call.headers[algorithm.header])
        for algorithm in ChecksumAlgorithm
        if algorithm.header in call.headers
    ]
    if not found:
        return None
    if len(found) > 1:
        raise InvalidRequest("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
    algorithm, value = found[0]
    type_name = call.headers.get("x-amz-checksum-type")
    if type_name is not None:
        checksum_type = ChecksumType.parse(type_name).value
    else:
        checksum_type = "COMPOSITE" if "-" in value else "FULL_OBJECT"
    return Checksum(algorithm.value, value.strip(), checksum_type)


def _location(call: S3Call) -> str:
    host = call.headers.get("Host", "")
    scheme = call.request.scheme
    path = urllib.parse.quote(call.key, safe="/")
    if call.operation.virtual_hosted:
        return f"{scheme}://{host}/{path}"
    return f"{scheme}://{host}/{call.bucket}/{path}"


async def complete_multipart_upload(call: S3Call) -> web.StreamResponse:
    """CompleteMultipartUpload: join the listed parts into the object."""
    upload_id = _upload_id(call)
    condition = write_condition(call.headers)
    full_object_checksum = _full_object_checksum(call)
    document = await call.read_document(LIST_BODY_LIMIT, checksum_headers_describe_body=False)
    parts = parse_complete_multipart_upload(document)
    info = await call.service.complete_multipart_upload(
        call.principal, call.bucket, call.key, upload_id, parts, condition, full_object_checksum
    )
    answer = {**version_headers(info), **_sse_echo(call)}
    document = render_complete_multipart_upload(_location(call), call.bucket, call.key, info.etag, info.checksum)
    return xml_response(document, headers=answer)


async def abort_multipart_upload(call: S3Call) -> web.StreamResponse:
    """AbortMultipartUpload: 204."""
    await call.service.abort_multipart_upload(call.principal, call.bucket, call.key, _upload_id(call))
    return web.Response(status=204)


async def list_parts(call: S3Call) -> web.StreamResponse:
    """ListParts, paged by part-number-marker."""
    upload_id = _upload_id(call)
    max_parts = page_size(call.query, "max-parts")
    marker = part_number_marker(call.query)
    encode = url_encoded(call.query)
    page = await call.service.list_parts(call.principal, call.bucket, call.key, upload_id, marker, max_parts)
    document = render_list_parts(page, part_number_marker=marker, max_parts=max_parts, url_encoded=encode)
    return xml_response(document)


OPERATIONS: dict[str, Handler] = {
    "CreateMultipartUpload": create_multipart_upload,
    "UploadPart": upload_part,
    "UploadPartCopy": upload_part_copy,
    "CompleteMultipartUpload": complete_multipart_upload,
    "AbortMultipartUpload": abort_multipart_upload,
    "ListParts": list_parts,
}
