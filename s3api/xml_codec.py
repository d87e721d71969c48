"""S3's XML documents: request bodies in, response documents out.

Parsing is hardened against hostile input: bodies past a size bound are
MaxMessageLengthExceeded; anything with a DOCTYPE or ENTITY declaration, not
UTF-8, or not well formed is MalformedXML. The document's own encoding
declaration is overridden, so a declared UTF-16 cannot smuggle a DOCTYPE past
the byte check. Elements may carry the S3 namespace or none.

Rendering follows the element names and order of the S3 API reference, in the
namespace ``http://s3.amazonaws.com/doc/2006-03-01/`` (``<Error>`` has none).
Listings requested with ``encoding-type=url`` URL-encode keys, prefixes,
delimiters and markers as S3 does.
"""

from __future__ import annotations

import re
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from s3api.errors import MalformedXML, MaxMessageLengthExceeded
from s3api.service import (
    BucketInfo,
    Checksum,
    CompletedPart,
    ListPage,
    ObjectInfo,
    PartListPage,
    UploadListPage,
    VersionListPage,
)
from s3api.timestamps import iso8601

__all__ = [
    "CONFIG_BODY_LIMIT",
    "LIST_BODY_LIMIT",
    "MAX_DELETE_OBJECTS",
    "S3_NAMESPACE",
    "DeleteFailure",
    "Grant",
    "DeleteRequest",
    "DeletedEntry",
    "ObjectIdentifier",
    "parse_complete_multipart_upload",
    "parse_create_bucket_configuration",
    "parse_delete",
    "parse_access_control_policy",
    "parse_versioning_configuration",
    "render_access_control_policy",
    "render_complete_multipart_upload",
    "render_copy_object_result",
    "render_copy_part_result",
    "render_delete_result",
    "render_error",
    "render_initiate_multipart_upload",
    "render_list_buckets",
    "render_list_multipart_uploads",
    "render_list_objects_v1",
    "render_list_objects_v2",
    "render_list_parts",
    "render_list_versions",
    "render_location_constraint",
    "render_tagging",
    "render_versioning_configuration",
    "url_encode",
]

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
# Small configuration documents (CreateBucketConfiguration, VersioningConfiguration).
CONFIG_BODY_LIMIT = 64 * 1024
# Delete (up to 1000 keys of up to 1024 bytes) and CompleteMultipartUpload
# (up to 10000 parts with checksums) documents.
LIST_BODY_LIMIT = 8 * 1024 * 1024
MAX_DELETE_OBJECTS = 1000

_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_FORBIDDEN = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
# Characters XML 1.0 text cannot hold raw; S3 writes them as character
# references. A raw CR would also be read back as LF.
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0d\x0e-\x1f]")
_CHECKSUM_ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")


# --- parsing ---------------------------------------------------------------


def _parse(body: bytes, limit: int) -> ET.Element:
    if len(body) > limit:
        raise MaxMessageLengthExceeded()
    if _FORBIDDEN.search(body):
        raise MalformedXML()
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedXML() from None
    parser = ET.XMLParser(encoding="utf-8")
    try:
        parser.feed(body)
        return parser.close()
    except ET.ParseError:
        raise MalformedXML() from None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def _child_text(element: ET.Element, name: str) -> str | None:
    found = _children(element, name)
    if not found:
        return None
    return found[0].text or ""


def parse_create_bucket_configuration(body: bytes) -> str | None:
    """The LocationConstraint of a CreateBucket body; None when there is none.

    An empty body is allowed (the default region).
    """
    if not body.strip():
        return None
    root = _parse(body, CONFIG_BODY_LIMIT)
    if _local(root.tag) != "CreateBucketConfiguration":
        raise MalformedXML()
    constraint = _child_text(root, "LocationConstraint")
    return constraint.strip() if constraint is not None else None


def parse_versioning_configuration(body: bytes) -> tuple[str | None, str | None]:
    """``(Status, MfaDelete)`` of a PutBucketVersioning body."""
    root = _parse(body, CONFIG_BODY_LIMIT)
    if _local(root.tag) != "VersioningConfiguration":
        raise MalformedXML()
    status = _child_text(root, "Status")
    mfa_delete = _child_text(root, "MfaDelete")
    if status is not None and status not in ("Enabled", "Suspended"):
        raise MalformedXML()
    return status, mfa_delete


@dataclass(frozen=True)
class Grant:
    """One grant of an ``AccessControlPolicy``: grantee type, its ID (or URI or
    email), and the permission."""

    grantee_type: str
    grantee: str
    permission: str


def parse_access_control_policy(body: bytes) -> list[Grant]:
    """The grants of a PutBucketAcl / PutObjectAcl ``AccessControlPolicy`` body."""
    root = _parse(body, CONFIG_BODY_LIMIT)
    if _local(root.tag) != "AccessControlPolicy":
        raise MalformedXML()
    grants: list[Grant] = []
    for acl in _children(root, "AccessControlList"):
        for grant in _children(acl, "Grant"):
            grantees = _children(grant, "Grantee")
            permission = _child_text(grant, "Permission")
            if not grantees or permission is None:
                raise MalformedXML()
            grantee = grantees[0]
            kind = next((value for name, value in grantee.attrib.items() if _local(name) == "type"), "")
            identity = next(
                (
                    (text or "").strip()
                    for name in ("ID", "URI", "EmailAddress")
                    if (text := _child_text(grantee, name)) is not None
                ),
                "",
            )
            grants.append(Grant(kind, identity, permission.strip()))
    return grants


@dataclass(frozen=True)
class ObjectIdentifier:
    """One ``<Object>`` of a DeleteObjects request."""

    key: str
    version_id: str | None = None


@dataclass(frozen=True)
class DeleteRequest:
    """A parsed DeleteObjects body: the objects, in order, and Quiet mode."""

    objects: list[ObjectIdentifier]
    quiet: bool = False


def parse_delete(body: bytes) -> DeleteRequest:
    """Parse a ``<Delete>`` document: 1 to 1000 objects, else MalformedXML.

    Keys are taken exactly as written (no whitespace trimming).
    """
    root = _parse(body, LIST_BODY_LIMIT)
    if _local(root.tag) != "Delete":
        raise MalformedXML()
    objects: list[ObjectIdentifier] = []
    for element in _children(root, "Object"):
        key = _child_text(element, "Key")
        if not key:
            raise MalformedXML()
        version_id = _child_text(element, "VersionId")
        objects.append(ObjectIdentifier(key, version_id or None))
    if not objects or len(objects) > MAX_DELETE_OBJECTS:
        raise MalformedXML()
    quiet = (_child_text(root, "Quiet") or "").strip().lower() == "true"
    return DeleteRequest(objects, quiet)


def parse_complete_multipart_upload(body: bytes) -> list[CompletedPart]:
    """The parts of a ``<CompleteMultipartUpload>`` document, as written.

    Each part needs an integer PartNumber and an ETag (returned quoted);
    ``Checksum<ALG>`` elements are kept by algorithm. Order and existence are
    the service's to judge (InvalidPartOrder, InvalidPart).
    """
    if not body.strip():
        raise MalformedXML()
    root = _parse(body, LIST_BODY_LIMIT)
    if _local(root.tag) != "CompleteMultipartUpload":
        raise MalformedXML()
    parts: list[CompletedPart] = []
    for element in _children(root, "Part"):
        number_text = _child_text(element, "PartNumber")
        etag = _child_text(element, "ETag")
        if number_text is None or etag is None:
            raise MalformedXML()
        try:
            number = int(number_text.strip())
        except ValueError:
            raise MalformedXML() from None
        checksums = {}
        for algorithm in _CHECKSUM_ALGORITHMS:
            value = _child_text(element, "Checksum" + algorithm)
            if value is not None:
                checksums[algorithm] = value.strip()
        bare = etag.strip().strip('"')
        parts.append(CompletedPart(number, f'"{bare}"', checksums))
    if not parts:
        raise MalformedXML()
    return parts


# --- rendering -------------------------------------------------------------


def url_encode(value: str) -> str:
    """``value`` as S3 writes it under ``encoding-type=url``.

    Letters, digits and ``-_.*/`` stay; a space becomes ``+``; every other
    byte of the UTF-8 form is ``%XX`` (``~`` included).
    """
    return urllib.parse.quote_plus(value, safe="/*").replace("~", "%7E")


class _Element:
    """An element of a response document: what ElementTree's Element would
    be, without its cost. Responses are built per request (a listing has
    thousands of elements) and only ever serialized, so a plain node and a
    string join do."""

    __slots__ = ("tag", "attrib", "text", "children")

    def __init__(self, tag: str, attrib: Mapping[str, str] | None = None) -> None:
        self.tag = tag
        self.attrib = attrib
        self.text: str | None = None
        self.children: list[_Element | _Raw] = []

    def write(self, out: list[str]) -> None:
        """Append this element's XML to ``out``."""
        attrs = "".join(f' {k}="{_escape_attr(v)}"' for k, v in self.attrib.items()) if self.attrib else ""
        if not self.text and not self.children:
            out.append(f"<{self.tag}{attrs} />")
            return
        out.append(f"<{self.tag}{attrs}>")
        if self.text:
            out.append(_escape_text(self.text))
        for child in self.children:
            child.write(out)
        out.append(f"</{self.tag}>")


class _Raw:
    """Markup already serialized (built directly for the many-times-repeated
    entries of listings)."""

    __slots__ = ("markup",)

    def __init__(self, markup: str) -> None:
        self.markup = markup

    def write(self, out: list[str]) -> None:
        """Append the markup to ``out``."""
        out.append(self.markup)


def _escape_text(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def _escape_attr(text: str) -> str:
    return _escape_text(text).replace('"', "&quot;").replace("\n", "&#10;")


def _root(tag: str, namespaced: bool = True) -> _Element:
    return _Element(tag, {"xmlns": S3_NAMESPACE} if namespaced else None)


def _add(
    parent: _Element, tag: str, text: str | int | bool | None = None, attrib: Mapping[str, str] | None = None
) -> _Element:
    child = _Element(tag, attrib)
    parent.children.append(child)
    if isinstance(text, bool):
        child.text = "true" if text else "false"
    elif text is not None:
        child.text = str(text)
    return child


def _control_reference(match: re.Match[bytes]) -> bytes:
    return b"&#%d;" % match[0][0]


def _serialize(root: _Element) -> bytes:
    out: list[str] = []
    root.write(out)
    # Surrogates cannot be encoded; keys never hold them (they are UTF-8).
    body = "".join(out).encode("utf-8")
    # Markup never holds control characters, so any found are in text.
    return _DECLARATION + _CONTROL.sub(_control_reference, body)


def _owner(parent: _Element, owner: str, tag: str = "Owner") -> None:
    element = _add(parent, tag)
    _add(element, "ID", owner)
    _add(element, "DisplayName", owner)


def _checksum_elements(parent: _Element, checksum: Checksum | None, with_type: bool) -> None:
    if checksum is None:
        return
    _add(parent, "Checksum" + checksum.algorithm.upper(), checksum.value)
    if with_type:
        _add(parent, "ChecksumType", checksum.type)


def render_error(
    code: str,
    message: str,
    resource: str | None,
    request_id: str,
    host_id: str | None = None,
    fields: Mapping[str, str] | None = None,
) -> bytes:
    """An ``<Error>`` document: Code, Message, per-code fields, Resource, RequestId, HostId."""
    root = _root("Error", namespaced=False)
    _add(root, "Code", code)
    _add(root, "Message", message)
    for name, value in (fields or {}).items():
        _add(root, name, value)
    if resource is not None:
        _add(root, "Resource", resource)
    _add(root, "RequestId", request_id)
    if host_id is not None:
        _add(root, "HostId", host_id)
    return _serialize(root)


def render_list_buckets(
    owner: str,
    buckets: Sequence[BucketInfo],
    continuation_token: str | None = None,
    prefix: str | None = None,
) -> bytes:
    """``ListAllMyBucketsResult`` with the Owner and each bucket's name, date and region."""
    root = _root("ListAllMyBucketsResult")
    _owner(root, owner)
    container = _add(root, "Buckets")
    for bucket in buckets:
        element = _add(container, "Bucket")
        _add(element, "Name", bucket.name)
        _add(element, "CreationDate", iso8601(bucket.created))
        _add(element, "BucketRegion", bucket.region)
    if continuation_token is not None:
        _add(root, "ContinuationToken", continuation_token)
    if prefix is not None:
        _add(root, "Prefix", prefix)
    return _serialize(root)


def _contents(parent: _Element, info: ObjectInfo, key: str, owner: str | None) -> None:
    parts = [
        "<Contents><Key>", _escape_text(key), "</Key><LastModified>", iso8601(info.last_modified),
        "</LastModified><ETag>", _escape_text(info.etag), "</ETag>",
    ]
    if info.checksum is not None:
        parts += ["<ChecksumAlgorithm>", _escape_text(info.checksum.algorithm.upper()),
                  "</ChecksumAlgorithm><ChecksumType>", _escape_text(info.checksum.type), "</ChecksumType>"]
    parts += ["<Size>", str(info.size), "</Size>"]
    if owner is not None:
        name = _escape_text(info.owner or owner)
        parts += ["<Owner><ID>", name, "</ID><DisplayName>", name, "</DisplayName></Owner>"]
    parts += ["<StorageClass>", _escape_text(info.storage_class), "</StorageClass></Contents>"]
    parent.children.append(_Raw("".join(parts)))


def _common_prefixes(parent: _Element, prefixes: Iterable[str], encode: bool) -> None:
    for prefix in prefixes:
        element = _add(parent, "CommonPrefixes")
        _add(element, "Prefix", url_encode(prefix) if encode else prefix)


def render_list_objects_v1(
    bucket: str,
    page: ListPage,
    *,
    prefix: str,
    delimiter: str,
    marker: str,
    max_keys: int,
    owner: str,
    url_encoded: bool = False,
) -> bytes:
    """``ListBucketResult`` of ListObjects (v1).

    NextMarker appears only when the listing is truncated and a delimiter was
    given, as AWS does (without one, clients continue after the last Key).
    """
    enc = url_encode if url_encoded else str
    root = _root("ListBucketResult")
    _add(root, "Name", bucket)
    _add(root, "Prefix", enc(prefix))
    _add(root, "Marker", enc(marker))
    if page.is_truncated and delimiter and page.next_marker is not None:
        _add(root, "NextMarker", enc(page.next_marker))
    _add(root, "MaxKeys", max_keys)
    if delimiter:
        _add(root, "Delimiter", enc(delimiter))
    if url_encoded:
        _add(root, "EncodingType", "url")
    _add(root, "IsTruncated", page.is_truncated)
    for info in page.objects:
        _contents(root, info, enc(info.key), owner)
    _common_prefixes(root, page.common_prefixes, url_encoded)
    return _serialize(root)


def render_list_objects_v2(
    bucket: str,
    page: ListPage,
    *,
    prefix: str,
    delimiter: str,
    max_keys: int,
    start_after: str | None,
    continuation_token: str | None,
    next_continuation_token: str | None,
    owner: str | None,
    url_encoded: bool = False,
) -> bytes:
    """``ListBucketResult`` of ListObjectsV2.

    ``owner`` is None unless ``fetch-owner=true`` was asked; continuation
    tokens are opaque and never URL-encoded.
    """
    enc = url_encode if url_encoded else str
    root = _root("ListBucketResult")
    _add(root, "Name", bucket)
    _add(root, "Prefix", enc(prefix))
    if continuation_token is not None:
        _add(root, "ContinuationToken", continuation_token)
    if next_continuation_token is not None:
        _add(root, "NextContinuationToken", next_continuation_token)
    if start_after:
        _add(root, "StartAfter", enc(start_after))
    _add(root, "KeyCount", len(page.objects) + len(page.common_prefixes))
    _add(root, "MaxKeys", max_keys)
    if delimiter:
        _add(root, "Delimiter", enc(delimiter))
    if url_encoded:
        _add(root, "EncodingType", "url")
    _add(root, "IsTruncated", page.is_truncated)
    for info in page.objects:
        _contents(root, info, enc(info.key), owner)
    _common_prefixes(root, page.common_prefixes, url_encoded)
    return _serialize(root)


def render_list_versions(
    bucket: str,
    page: VersionListPage,
    *,
    prefix: str,
    delimiter: str,
    key_marker: str,
    version_id_marker: str,
    max_keys: int,
    owner: str,
    url_encoded: bool = False,
) -> bytes:
    """``ListVersionsResult``: Version and DeleteMarker entries in listing order."""
    enc = url_encode if url_encoded else str
    root = _root("ListVersionsResult")
    _add(root, "Name", bucket)
    _add(root, "Prefix", enc(prefix))
    _add(root, "KeyMarker", enc(key_marker))
    _add(root, "VersionIdMarker", version_id_marker)
    if page.is_truncated:
        if page.next_key_marker is not None:
            _add(root, "NextKeyMarker", enc(page.next_key_marker))
        if page.next_version_id_marker is not None:
            _add(root, "NextVersionIdMarker", page.next_version_id_marker)
    _add(root, "MaxKeys", max_keys)
    if delimiter:
        _add(root, "Delimiter", enc(delimiter))
    if url_encoded:
        _add(root, "EncodingType", "url")
    _add(root, "IsTruncated", page.is_truncated)
    for info in page.versions:
        element = _add(root, "DeleteMarker" if info.is_delete_marker else "Version")
        _add(element, "Key", enc(info.key))
        _add(element, "VersionId", info.version_id)
        _add(element, "IsLatest", info.is_latest)
        _add(element, "LastModified", iso8601(info.last_modified))
        if not info.is_delete_marker:
            _add(element, "ETag", info.etag)
            if info.checksum is not None:
                _add(element, "ChecksumAlgorithm", info.checksum.algorithm.upper())
                _add(element, "ChecksumType", info.checksum.type)
            _add(element, "Size", info.size)
            _add(element, "StorageClass", info.storage_class)
        _owner(element, info.owner or owner)
    _common_prefixes(root, page.common_prefixes, url_encoded)
    return _serialize(root)


def render_location_constraint(region: str) -> bytes:
    """``LocationConstraint``; empty for us-east-1, as AWS answers."""
    root = _root("LocationConstraint")
    if region and region != "us-east-1":
        root.text = region
    return _serialize(root)


def render_bucket_encryption() -> bytes:
    """``ServerSideEncryptionConfiguration``: SSE-S3 (AES256) by default, which
    AWS reports for every bucket and which holds here (every fragment is
    encrypted with AES-256)."""
    root = _root("ServerSideEncryptionConfiguration")
    rule = _add(root, "Rule")
    default = _add(rule, "ApplyServerSideEncryptionByDefault")
    _add(default, "SSEAlgorithm", "AES256")
    _add(rule, "BucketKeyEnabled", False)
    return _serialize(root)


def render_versioning_configuration(status: str) -> bytes:
    """``VersioningConfiguration``; no Status element if versioning was never enabled."""
    root = _root("VersioningConfiguration")
    if status:
        _add(root, "Status", status)
    return _serialize(root)


def _copy_result(tag: str, etag: str, last_modified: float, checksum: Checksum | None) -> bytes:
    root = _root(tag)
    _add(root, "LastModified", iso8601(last_modified))
    _add(root, "ETag", etag)
    _checksum_elements(root, checksum, with_type=False)
    return _serialize(root)


def render_copy_object_result(etag: str, last_modified: float, checksum: Checksum | None = None) -> bytes:
    """``CopyObjectResult``: LastModified, ETag and the new object's checksum."""
    return _copy_result("CopyObjectResult", etag, last_modified, checksum)


def render_copy_part_result(etag: str, last_modified: float, checksum: Checksum | None = None) -> bytes:
    """``CopyPartResult`` of UploadPartCopy."""
    return _copy_result("CopyPartResult", etag, last_modified, checksum)


def render_initiate_multipart_upload(bucket: str, key: str, upload_id: str) -> bytes:
    """``InitiateMultipartUploadResult``: Bucket, Key, UploadId."""
    root = _root("InitiateMultipartUploadResult")
    _add(root, "Bucket", bucket)
    _add(root, "Key", key)
    _add(root, "UploadId", upload_id)
    return _serialize(root)


def render_complete_multipart_upload(
    location: str, bucket: str, key: str, etag: str, checksum: Checksum | None = None
) -> bytes:
    """``CompleteMultipartUploadResult``: Location, Bucket, Key, ETag, checksum and its type."""
    root = _root("CompleteMultipartUploadResult")
    _add(root, "Location", location)
    _add(root, "Bucket", bucket)
    _add(root, "Key", key)
    _add(root, "ETag", etag)
    _checksum_elements(root, checksum, with_type=True)
    return _serialize(root)


def render_list_parts(
    page: PartListPage,
    *,
    part_number_marker: int,
    max_parts: int,
    url_encoded: bool = False,
) -> bytes:
    """``ListPartsResult`` of an upload, in AWS's element order."""
    upload = page.upload
    root = _root("ListPartsResult")
    _add(root, "Bucket", upload.bucket)
    _add(root, "Key", url_encode(upload.key) if url_encoded else upload.key)
    _add(root, "UploadId", upload.upload_id)
    _owner(root, upload.owner, "Initiator")
    _owner(root, upload.owner)
    _add(root, "StorageClass", upload.storage_class)
    _add(root, "PartNumberMarker", part_number_marker)
    next_marker = page.next_part_number_marker
    if next_marker is None and page.parts:
        next_marker = page.parts[-1].part_number
    _add(root, "NextPartNumberMarker", next_marker if next_marker is not None else 0)
    _add(root, "MaxParts", max_parts)
    if url_encoded:
        _add(root, "EncodingType", "url")
    _add(root, "IsTruncated", page.is_truncated)
    if upload.checksum_algorithm:
        _add(root, "ChecksumAlgorithm", upload.checksum_algorithm.upper())
        if upload.checksum_type:
            _add(root, "ChecksumType", upload.checksum_type)
    for part in page.parts:
        element = _add(root, "Part")
        _add(element, "PartNumber", part.part_number)
        _add(element, "LastModified", iso8601(part.last_modified))
        _add(element, "ETag", part.etag)
        _add(element, "Size", part.size)
        _checksum_elements(element, part.checksum, with_type=False)
    return _serialize(root)


def render_list_multipart_uploads(
    bucket: str,
    page: UploadListPage,
    *,
    prefix: str,
    delimiter: str,
    key_marker: str,
    upload_id_marker: str,
    max_uploads: int,
    url_encoded: bool = False,
) -> bytes:
    """``ListMultipartUploadsResult``, in AWS's element order."""
    enc = url_encode if url_encoded else str
    root = _root("ListMultipartUploadsResult")
    _add(root, "Bucket", bucket)
    _add(root, "KeyMarker", enc(key_marker))
    _add(root, "UploadIdMarker", upload_id_marker)
    _add(root, "NextKeyMarker", enc(page.next_key_marker or ""))
    _add(root, "NextUploadIdMarker", page.next_upload_id_marker or "")
    if delimiter:
        _add(root, "Delimiter", enc(delimiter))
    _add(root, "Prefix", enc(prefix))
    _add(root, "MaxUploads", max_uploads)
    if url_encoded:
        _add(root, "EncodingType", "url")
    _add(root, "IsTruncated", page.is_truncated)
    for upload in page.uploads:
        element = _add(root, "Upload")
        _add(element, "Key", enc(upload.key))
        _add(element, "UploadId", upload.upload_id)
        _owner(element, upload.owner, "Initiator")
        _owner(element, upload.owner)
        _add(element, "StorageClass", upload.storage_class)
        _add(element, "Initiated", iso8601(upload.initiated))
        if upload.checksum_algorithm:
            _add(element, "ChecksumAlgorithm", upload.checksum_algorithm.upper())
            if upload.checksum_type:
                _add(element, "ChecksumType", upload.checksum_type)
    _common_prefixes(root, page.common_prefixes, url_encoded)
    return _serialize(root)


@dataclass(frozen=True)
class DeletedEntry:
    """One ``<Deleted>`` entry of a DeleteObjects result."""

    key: str
    version_id: str | None = None
    delete_marker: bool = False
    delete_marker_version_id: str | None = None


@dataclass(frozen=True)
class DeleteFailure:
    """One ``<Error>`` entry of a DeleteObjects result."""

    key: str
    code: str
    message: str
    version_id: str | None = None


def render_delete_result(
    deleted: Sequence[DeletedEntry], failures: Sequence[DeleteFailure], quiet: bool = False
) -> bytes:
    """``DeleteResult``; Quiet mode lists only the failures."""
    root = _root("DeleteResult")
    if not quiet:
        for entry in deleted:
            element = _add(root, "Deleted")
            _add(element, "Key", entry.key)
            if entry.version_id is not None:
                _add(element, "VersionId", entry.version_id)
            if entry.delete_marker:
                _add(element, "DeleteMarker", True)
                if entry.delete_marker_version_id is not None:
                    _add(element, "DeleteMarkerVersionId", entry.delete_marker_version_id)
    for failure in failures:
        element = _add(root, "Error")
        _add(element, "Key", failure.key)
        if failure.version_id is not None:
            _add(element, "VersionId", failure.version_id)
        _add(element, "Code", failure.code)
        _add(element, "Message", failure.message)
    return _serialize(root)


def render_access_control_policy(owner: str) -> bytes:
    """``AccessControlPolicy`` granting the owner FULL_CONTROL, the only ACL here."""
    root = _root("AccessControlPolicy")
    _owner(root, owner)
    grants = _add(root, "AccessControlList")
    grant = _add(grants, "Grant")
    grantee = _add(
        grant,
        "Grantee",
        attrib={"xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance", "xsi:type": "CanonicalUser"},
    )
    _add(grantee, "ID", owner)
    _add(grantee, "DisplayName", owner)
    _add(grant, "Permission", "FULL_CONTROL")
    return _serialize(root)


def render_tagging(tags: Mapping[str, str] | None = None) -> bytes:
    """``Tagging`` with its TagSet (empty for an object without tags)."""
    root = _root("Tagging")
    tag_set = _add(root, "TagSet")
    for key, value in (tags or {}).items():
        tag = _add(tag_set, "Tag")
        _add(tag, "Key", key)
        _add(tag, "Value", value)
    return _serialize(root)
