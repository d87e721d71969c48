"""Request routing: from method, Host and request target to an S3 operation.

Pure: no framework objects. The request target is decoded here, from the raw
bytes the client sent, so object keys stay exact: ``..``, ``.``, ``//`` and
``%2F`` are never normalized away (HTTP frameworks clean paths; S3 must not).

Buckets are named in the path (``/bucket/key``) or, for a Host under one of the
configured base domains, in the Host (``bucket.s3.example.com``). The operation
is chosen by method and sub-resource query parameter with AWS's names; a
sub-resource that does not apply to the method is MethodNotAllowed, and query
parameters that are not sub-resources (``x-id``, ``response-*`` …) are ignored.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from s3api.errors import InvalidArgument, InvalidURI, MethodNotAllowed
from s3api.names import check_bucket_name, validate_key

__all__ = ["CopySource", "Operation", "Target", "bucket_from_host", "parse_copy_source", "parse_target", "route"]


@dataclass(frozen=True)
class Target:
    """A request target split and percent-decoded.

    ``path`` is the decoded path; ``query`` holds the first value of each
    decoded query parameter (a parameter without ``=`` has the value ``""``);
    ``query_pairs`` keeps every pair in order. ``raw_path`` and ``raw_query``
    are as sent (signature checks need them).
    """

    path: str
    query: Mapping[str, str]
    query_pairs: tuple[tuple[str, str], ...]
    raw_path: str
    raw_query: str


@dataclass(frozen=True)
class Operation:
    """What a request asks for: an AWS operation name and its bucket and key."""

    name: str
    bucket: str | None = None
    key: str | None = None
    query: Mapping[str, str] = field(default_factory=dict)
    virtual_hosted: bool = False

    @property
    def resource(self) -> str:
        """The resource path S3 names in errors: ``/``, ``/bucket`` or ``/bucket/key``."""
        if self.bucket is None:
            return "/"
        if self.key is None:
            return f"/{self.bucket}"
        return f"/{self.bucket}/{self.key}"


def _decode(raw: str, plus_is_space: bool) -> str:
    if plus_is_space:
        raw = raw.replace("+", " ")
    try:
        return urllib.parse.unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidURI() from None


def parse_target(raw_target: str) -> Target:
    """Split and decode an HTTP request target (origin or absolute form).

    Raises InvalidURI when the path or query is not UTF-8 once decoded.
    """
    target = raw_target
    if target.startswith(("http://", "https://")):
        after_scheme = target.index("//") + 2
        slash = target.find("/", after_scheme)
        target = target[slash:] if slash >= 0 else "/"
    raw_path, _, raw_query = target.partition("?")
    raw_path, _, _ = raw_path.partition("#")
    if not raw_path.startswith("/"):
        raise InvalidURI()
    pairs: list[tuple[str, str]] = []
    for item in raw_query.split("&") if raw_query else ():
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((_decode(name, True), _decode(value, True)))
    query: dict[str, str] = {}
    for name, value in pairs:
        query.setdefault(name, value)
    return Target(
        path=_decode(raw_path, False),
        query=query,
        query_pairs=tuple(pairs),
        raw_path=raw_path,
        raw_query=raw_query,
    )


def _host_name(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("["):  # IPv6 literal, never a bucket
        return ""
    return host.rpartition(":")[0] if ":" in host else host


def bucket_from_host(host: str | None, base_domains: Sequence[str]) -> str | None:
    """The bucket a virtual-hosted Host names, or None for path-style requests."""
    if not host or not base_domains:
        return None
    name = _host_name(host)
    for base in sorted((b.lower().rstrip(".") for b in base_domains), key=len, reverse=True):
        if name.endswith("." + base):
            return name[: -len(base) - 1]
        if name == base:
            return None
    return None


# Sub-resource query parameter -> operation, per level and method, in the order
# they are tried. Operations this server does not implement are still named so
# the adapter can answer NotImplemented for them.
_Table = Mapping[str, Sequence[tuple[str, str]]]

_BUCKET: _Table = {
    "GET": (
        ("uploads", "ListMultipartUploads"),
        ("versions", "ListObjectVersions"),
        ("location", "GetBucketLocation"),
        ("versioning", "GetBucketVersioning"),
        ("acl", "GetBucketAcl"),
        ("tagging", "GetBucketTagging"),
        ("cors", "GetBucketCors"),
        ("lifecycle", "GetBucketLifecycleConfiguration"),
        ("policy", "GetBucketPolicy"),
        ("policyStatus", "GetBucketPolicyStatus"),
        ("encryption", "GetBucketEncryption"),
        ("website", "GetBucketWebsite"),
        ("replication", "GetBucketReplication"),
        ("object-lock", "GetObjectLockConfiguration"),
        ("logging", "GetBucketLogging"),
        ("notification", "GetBucketNotificationConfiguration"),
        ("requestPayment", "GetBucketRequestPayment"),
        ("accelerate", "GetBucketAccelerateConfiguration"),
        ("ownershipControls", "GetBucketOwnershipControls"),
        ("publicAccessBlock", "GetPublicAccessBlock"),
        ("analytics", "GetBucketAnalyticsConfiguration"),
        ("metrics", "GetBucketMetricsConfiguration"),
        ("inventory", "GetBucketInventoryConfiguration"),
        ("intelligent-tiering", "GetBucketIntelligentTieringConfiguration"),
        ("metadataTable", "GetBucketMetadataTableConfiguration"),
        ("session", "CreateSession"),
    ),
    "PUT": (
        ("versioning", "PutBucketVersioning"),
        ("acl", "PutBucketAcl"),
        ("tagging", "PutBucketTagging"),
        ("cors", "PutBucketCors"),
        ("lifecycle", "PutBucketLifecycleConfiguration"),
        ("policy", "PutBucketPolicy"),
        ("encryption", "PutBucketEncryption"),
        ("website", "PutBucketWebsite"),
        ("replication", "PutBucketReplication"),
        ("object-lock", "PutObjectLockConfiguration"),
        ("logging", "PutBucketLogging"),
        ("notification", "PutBucketNotificationConfiguration"),
        ("requestPayment", "PutBucketRequestPayment"),
        ("accelerate", "PutBucketAccelerateConfiguration"),
        ("ownershipControls", "PutBucketOwnershipControls"),
        ("publicAccessBlock", "PutPublicAccessBlock"),
        ("analytics", "PutBucketAnalyticsConfiguration"),
        ("metrics", "PutBucketMetricsConfiguration"),
        ("inventory", "PutBucketInventoryConfiguration"),
        ("intelligent-tiering", "PutBucketIntelligentTieringConfiguration"),
    ),
    "DELETE": (
        ("tagging", "DeleteBucketTagging"),
        ("cors", "DeleteBucketCors"),
        ("lifecycle", "DeleteBucketLifecycle"),
        ("policy", "DeleteBucketPolicy"),
        ("encryption", "DeleteBucketEncryption"),
        ("website", "DeleteBucketWebsite"),
        ("replication", "DeleteBucketReplication"),
        ("ownershipControls", "DeleteBucketOwnershipControls"),
        ("publicAccessBlock", "DeletePublicAccessBlock"),
        ("analytics", "DeleteBucketAnalyticsConfiguration"),
        ("metrics", "DeleteBucketMetricsConfiguration"),
        ("inventory", "DeleteBucketInventoryConfiguration"),
        ("intelligent-tiering", "DeleteBucketIntelligentTieringConfiguration"),
        ("metadataTable", "DeleteBucketMetadataTableConfiguration"),
    ),
    "POST": (
        ("delete", "DeleteObjects"),
        ("metadataTable", "CreateBucketMetadataTableConfiguration"),
    ),
    "HEAD": (),
}
_BUCKET_DEFAULT = {
    "GET": "ListObjects",
    "PUT": "CreateBucket",
    "DELETE": "DeleteBucket",
    "HEAD": "HeadBucket",
    "POST": "PostObject",
}
# Bucket configurations that come as a list when no id is given.
_LISTABLE = {
    "analytics": "ListBucketAnalyticsConfigurations",
    "metrics": "ListBucketMetricsConfigurations",
    "inventory": "ListBucketInventoryConfigurations",
    "intelligent-tiering": "ListBucketIntelligentTieringConfigurations",
}

_OBJECT: _Table = {
    "GET": (
        ("uploadId", "ListParts"),
        ("acl", "GetObjectAcl"),
        ("tagging", "GetObjectTagging"),
        ("attributes", "GetObjectAttributes"),
        ("retention", "GetObjectRetention"),
        ("legal-hold", "GetObjectLegalHold"),
        ("torrent", "GetObjectTorrent"),
    ),
    "PUT": (
        ("acl", "PutObjectAcl"),
        ("tagging", "PutObjectTagging"),
        ("retention", "PutObjectRetention"),
        ("legal-hold", "PutObjectLegalHold"),
        ("renameObject", "RenameObject"),
    ),
    "POST": (
        ("uploads", "CreateMultipartUpload"),
        ("uploadId", "CompleteMultipartUpload"),
        ("restore", "RestoreObject"),
        ("select", "SelectObjectContent"),
    ),
    "DELETE": (
        ("uploadId", "AbortMultipartUpload"),
        ("tagging", "DeleteObjectTagging"),
    ),
    "HEAD": (),
}
_OBJECT_DEFAULT = {
    "GET": "GetObject",
    "HEAD": "HeadObject",
    "PUT": "PutObject",
    "DELETE": "DeleteObject",
}


def _subresources(table: _Table) -> frozenset[str]:
    return frozenset(name for entries in table.values() for name, _ in entries)


_BUCKET_SUBRESOURCES = _subresources(_BUCKET)
_OBJECT_SUBRESOURCES = _subresources(_OBJECT) | {"partNumber"}


def _pick(table: _Table, known: frozenset[str], method: str, query: Mapping[str, str]) -> str | None:
    """The operation a sub-resource selects; None when there is no sub-resource."""
    for subresource, name in table.get(method, ()):
        if subresource in query:
            if subresource in _LISTABLE and method == "GET" and "id" not in query:
                return _LISTABLE[subresource]
            return name
    if any(name in query for name in known - {"partNumber"}):
        raise MethodNotAllowed()
    return None


def _bucket_operation(method: str, query: Mapping[str, str]) -> str:
    if method not in _BUCKET_DEFAULT:
        raise MethodNotAllowed()
    name = _pick(_BUCKET, _BUCKET_SUBRESOURCES, method, query)
    if name is not None:
        return name
    if method == "GET" and "list-type" in query:
        if query["list-type"] != "2":
            raise InvalidArgument(
                "Invalid List Type specified",
                ArgumentName="list-type",
                ArgumentValue=query["list-type"],
            )
        return "ListObjectsV2"
    return _BUCKET_DEFAULT[method]


def _object_operation(method: str, query: Mapping[str, str], copy_source: bool) -> str:
    if method not in _OBJECT_DEFAULT and method != "POST":
        raise MethodNotAllowed()
    if method == "PUT" and "uploadId" in query and "partNumber" in query:
        return "UploadPartCopy" if copy_source else "UploadPart"
    name = _pick(_OBJECT, _OBJECT_SUBRESOURCES, method, query)
    if name is not None:
        return name
    if method == "POST":
        raise MethodNotAllowed()
    if method == "PUT" and copy_source:
        return "CopyObject"
    return _OBJECT_DEFAULT[method]


def route(
    method: str,
    host: str | None,
    target: Target,
    base_domains: Sequence[str] = (),
    copy_source: bool = False,
) -> Operation:
    """The S3 operation a request asks for.

    ``copy_source`` tells whether the request carries ``x-amz-copy-source``
    (PUT then means CopyObject or UploadPartCopy). Raises MethodNotAllowed,
    InvalidBucketName (a name no bucket can have), KeyTooLongError or
    InvalidArgument (``list-type`` other than 2).
    """
    method = method.upper()
    vhost_bucket = bucket_from_host(host, base_domains)
    if vhost_bucket is not None:
        bucket: str | None = vhost_bucket
        key: str | None = target.path[1:] or None
    else:
        bucket_part, slash, rest = target.path[1:].partition("/")
        bucket = bucket_part or None
        key = rest if slash and rest else None
    if bucket is None:
        if method != "GET":
            raise MethodNotAllowed()
        return Operation("ListBuckets", query=target.query)
    check_bucket_name(bucket)
    if key is None:
        name = _bucket_operation(method, target.query)
    else:
        validate_key(key)
        name = _object_operation(method, target.query, copy_source)
    return Operation(name, bucket, key, target.query, vhost_bucket is not None)


@dataclass(frozen=True)
class CopySource:
    """The object an ``x-amz-copy-source`` header names."""

    bucket: str
    key: str
    version_id: str | None = None


def _copy_source_error(value: str) -> InvalidArgument:
    return InvalidArgument(
        "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        ArgumentName="x-amz-copy-source",
        ArgumentValue=value,
    )


def parse_copy_source(value: str) -> CopySource:
    """Parse ``x-amz-copy-source``: URL-encoded ``[/]bucket/key[?versionId=id]``.

    The key is decoded exactly (no normalization). Raises InvalidArgument for
    a value without both bucket and key, with an empty version id, or that is
    not UTF-8 once decoded.
    """
    raw, _, raw_query = value.strip().partition("?")
    version_id: str | None = None
    if raw_query:
        name, _, version = raw_query.partition("=")
        if name != "versionId" or not version:
            raise InvalidArgument(
                "Invalid version id specified", ArgumentName="x-amz-copy-source", ArgumentValue=value
            )
        version_id = urllib.parse.unquote(version)
    try:
        path = urllib.parse.unquote_to_bytes(raw.removeprefix("/")).decode("utf-8")
    except UnicodeDecodeError:
        raise _copy_source_error(value) from None
    bucket, slash, key = path.partition("/")
    if not bucket or not slash or not key:
        raise _copy_source_error(value)
    check_bucket_name(bucket)
    validate_key(key)
    return CopySource(bucket, key, version_id)
