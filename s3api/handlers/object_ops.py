"""Object operations: PutObject, GetObject, HeadObject, DeleteObject, CopyObject,
and the (empty) tag set clients routinely read.
"""

from __future__ import annotations

from aiohttp import web

from s3api.checksums import ChecksumAlgorithm
from s3api.conditions import ReadConditions, evaluate_copy_source, evaluate_read, write_condition
from s3api.errors import InvalidArgument, InvalidRequest, MethodNotAllowed, NoSuchKey
from s3api.object_headers import (
    checksum_headers,
    headers_from_request,
    metadata_replaced,
    response_headers,
    response_overrides,
    validate_write_headers,
)
from s3api.ranges import content_range, parse_part_number, parse_range, part_range
from s3api.routing import CopySource, parse_copy_source
from s3api.service import ByteRange, ObjectInfo, ObjectReader
from s3api.timestamps import http_date
from s3api.web_body_writer import VectoredBodyWriter
from s3api.web_context import STREAMING_RESPONSE, Handler, S3Call, xml_response
from s3api.xml_codec import render_copy_object_result, render_tagging

__all__ = ["OPERATIONS", "open_copy_source", "open_object", "version_headers", "write_response_headers"]

_SELF_COPY = (
    "This copy request is illegal because it is trying to copy an object to itself without "
    "changing the object's metadata, storage class, website redirect location or encryption "
    "attributes."
)


def version_headers(info: ObjectInfo) -> dict[str, str]:
    """``x-amz-version-id``, omitted for the null version (as AWS does on
    buckets that were never versioned)."""
    return {"x-amz-version-id": info.version_id} if info.version_id and info.version_id != "null" else {}


def write_response_headers(call: S3Call, info: ObjectInfo) -> dict[str, str]:
    """The headers a successful write answers with: ETag, version, checksum, SSE echo."""
    headers = {"ETag": info.etag, **version_headers(info), **checksum_headers(info.checksum)}
    if call.headers.get("x-amz-server-side-encryption") == "AES256":
        headers["x-amz-server-side-encryption"] = "AES256"
    return headers


def _version_id(call: S3Call) -> str | None:
    version_id = call.query.get("versionId")
    if version_id is not None and version_id == "":
        raise InvalidArgument(
            "Version id cannot be the empty string", ArgumentName="versionId", ArgumentValue=""
        )
    return version_id


async def _open(call: S3Call, bucket: str, key: str, version_id: str | None) -> ObjectReader:
    """Open a version for reading; a delete marker reads as AWS answers it."""
    reader = await call.service.open_object(call.principal, bucket, key, version_id)
    info = reader.info
    if info.is_delete_marker:
        error: NoSuchKey | MethodNotAllowed = (
            MethodNotAllowed(Method="GET", ResourceType="DeleteMarker")
            if version_id is not None
            else NoSuchKey(Key=key)
        )
        error.headers["x-amz-delete-marker"] = "true"
        error.headers.update(version_headers(info))
        raise error
    return reader


# --- writes -----------------------------------------------------------------


async def put_object(call: S3Call) -> web.StreamResponse:
    """PutObject: store the body with its headers; 200 with the ETag."""
    validate_write_headers(call.headers)
    headers = headers_from_request(call.headers.items())
    condition = write_condition(call.headers)
    body = call.body(call.config.max_put_size)
    info = await call.service.put_object(call.principal, call.bucket, call.key, headers, body, condition)
    return web.Response(headers=write_response_headers(call, info))


async def open_copy_source(call: S3Call, source: CopySource) -> tuple[ObjectReader, str | None]:
    """Open the object ``x-amz-copy-source`` names and check the copy-source conditions.

    Returns the reader and the source version id to echo
    (``x-amz-copy-source-version-id``), None for a null version.
    """
    reader = await _open(call, source.bucket, source.key, source.version_id)
    info = reader.info
    evaluate_copy_source(ReadConditions.copy_source_from_headers(call.headers), info.etag, info.last_modified)
    echoed = info.version_id if info.version_id and info.version_id != "null" else None
    return reader, echoed


async def copy_object(call: S3Call) -> web.StreamResponse:
    """CopyObject: a new version of the destination from the source's bytes."""
    validate_write_headers(call.headers)
    replace = metadata_replaced(call.headers)
    source = parse_copy_source(call.headers["x-amz-copy-source"])
    changes = replace or any(
        name in call.headers
        for name in ("x-amz-storage-class", "x-amz-server-side-encryption", "x-amz-website-redirect-location")
    )
    same_object = (source.bucket, source.key, source.version_id) == (call.bucket, call.key, None)
    if same_object and not changes:
        raise InvalidRequest(_SELF_COPY)
    reader, source_version = await open_copy_source(call, source)
    headers = headers_from_request(call.headers.items()) if replace else reader.info.headers
    condition = write_condition(call.headers)
    # AWS: x-amz-checksum-algorithm picks the copy's checksum; without it the
    # source's algorithm is kept.
    algorithm_name = call.headers.get("x-amz-checksum-algorithm")
    algorithm = ChecksumAlgorithm.from_name(algorithm_name).value if algorithm_name is not None else None
    info = await call.service.copy_object(
        call.principal, reader, call.bucket, call.key, headers, condition, checksum_algorithm=algorithm
    )
    answer = version_headers(info)
    if source_version is not None:
        answer["x-amz-copy-source-version-id"] = source_version
    if call.headers.get("x-amz-server-side-encryption") == "AES256":
        answer["x-amz-server-side-encryption"] = "AES256"
    document = render_copy_object_result(info.etag, info.last_modified, info.checksum)
    return xml_response(document, headers=answer)


async def delete_object(call: S3Call) -> web.StreamResponse:
    """DeleteObject: 204, with the delete marker's headers when one was made or removed."""
    version_id = _version_id(call)
    info = await call.service.delete_object(call.principal, call.bucket, call.key, version_id)
    headers: dict[str, str] = {}
    if version_id is not None:
        headers["x-amz-version-id"] = version_id
        if info is not None and info.is_delete_marker:
            headers["x-amz-delete-marker"] = "true"
    elif info is not None and info.is_delete_marker:
        headers["x-amz-delete-marker"] = "true"
        headers["x-amz-version-id"] = info.version_id
    return web.Response(status=204, headers=headers)


# --- reads ------------------------------------------------------------------


def _selected_range(call: S3Call, info: ObjectInfo) -> tuple[ByteRange | None, bool]:
    """The bytes a GET/HEAD selects and whether the answer is partial (206)."""
    range_header = call.headers.get("Range")
    part_text = call.query.get("partNumber")
    if part_text is not None:
        if range_header:
            raise InvalidRequest("Cannot specify both Range header and partNumber query parameter")
        part_number = parse_part_number(part_text)
        selected = part_range(part_number, info.part_sizes, info.size)
        return selected, selected is not None
    selected = parse_range(range_header, info.size)
    return selected, selected is not None


def _read_headers(call: S3Call, info: ObjectInfo, selected: ByteRange | None, partial: bool) -> dict[str, str]:
    headers = response_headers(info.headers, response_overrides(call.query))
    headers.update(
        {
            "Accept-Ranges": "bytes",
            "ETag": info.etag,
            "Last-Modified": http_date(info.last_modified),
            "Content-Length": str(selected.length if selected is not None else info.size),
            **version_headers(info),
        }
    )
    if partial and selected is not None:
        headers["Content-Range"] = content_range(selected, info.size)
    if "partNumber" in call.query and info.parts_count is not None:
        headers["x-amz-mp-parts-count"] = str(info.parts_count)
    if info.storage_class != "STANDARD":
        headers["x-amz-storage-class"] = info.storage_class
    whole = selected is None or selected.length == info.size
    if call.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED" and whole:
        headers.update(checksum_headers(info.checksum))
    return headers


async def _read(call: S3Call, with_body: bool) -> web.StreamResponse:
    reader = await open_object(call)
    info = reader.info
    evaluate_read(ReadConditions.from_headers(call.headers), info.etag, info.last_modified)
    selected, partial = _selected_range(call, info)
    headers = _read_headers(call, info, selected, partial)
    response = web.StreamResponse(status=206 if partial else 200, headers=headers)
    length = selected.length if selected is not None else info.size
    response.content_length = length
    chunks = reader.read(selected).__aiter__() if with_body and length > 0 else None
    # The first piece is read before the status line goes out, so an object
    # that cannot be read at all gets a proper error response (InternalError)
    # rather than a 200 cut short.
    piece = await anext(chunks, None) if chunks is not None else None
    call.request[STREAMING_RESPONSE] = response
    writer = await response.prepare(call.request)
    if chunks is not None:
        if writer is None:
            raise RuntimeError("the response was ended before its body was sent")
        body = VectoredBodyWriter(call.request, writer, length)
        while piece is not None:
            await body.write(piece)  # refuses a piece past the Content-Length
            piece = await anext(chunks, None)
        await body.flush()
        if body.remaining:
            # Never end a response that promised more bytes than it carries:
            # raising drops the connection, which clients notice.
            raise RuntimeError(f"object reader returned {length - body.remaining} bytes, expected {length}")
    await response.write_eof()
    return response


async def get_object(call: S3Call) -> web.StreamResponse:
    """GetObject: the object's bytes (or a range or part of them), streamed."""
    return await _read(call, with_body=True)


async def head_object(call: S3Call) -> web.StreamResponse:
    """HeadObject: GetObject's headers without the body."""
    return await _read(call, with_body=False)


async def open_object(call: S3Call) -> ObjectReader:
    """Open the version of the request's object that ``?versionId`` names (or the current one)."""
    return await _open(call, call.bucket, call.key, _version_id(call))


async def get_object_tagging(call: S3Call) -> web.StreamResponse:
    """GetObjectTagging: objects here carry no tags, so the TagSet is empty."""
    reader = await open_object(call)
    return xml_response(render_tagging(), headers=version_headers(reader.info))


OPERATIONS: dict[str, Handler] = {
    "PutObject": put_object,
    "CopyObject": copy_object,
    "GetObject": get_object,
    "HeadObject": head_object,
    "DeleteObject": delete_object,
    "GetObjectTagging": get_object_tagging,
}
