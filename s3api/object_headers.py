"""The headers an object stores and returns, and the write headers S3 validates.

On PUT (and CreateMultipartUpload, CopyObject with REPLACE) the standard
representation headers and ``x-amz-meta-*`` user metadata are kept; on GET and
HEAD they come back, possibly overridden by ``response-*`` query parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from s3api import errors
from s3api.errors import (
    AccessControlListNotSupported,
    InvalidArgument,
    InvalidRequest,
    InvalidStorageClass,
    MetadataTooLarge,
)
from s3api.service import Checksum, ObjectHeaders

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "MAX_USER_METADATA_BYTES",
    "checksum_headers",
    "headers_from_request",
    "metadata_replaced",
    "response_headers",
    "response_overrides",
    "validate_acl_headers",
    "validate_storage_class",
    "validate_write_headers",
]

# What S3 stores when a PUT carries no Content-Type.
DEFAULT_CONTENT_TYPE = "binary/octet-stream"
# AWS: user metadata is at most 2 KB, counting the UTF-8 bytes of names and values.
MAX_USER_METADATA_BYTES = 2048

_META_PREFIX = "x-amz-meta-"

# Stored header (lower case) -> the name it is sent back under.
_STANDARD = {
    "content-type": "Content-Type",
    "content-encoding": "Content-Encoding",
    "content-disposition": "Content-Disposition",
    "content-language": "Content-Language",
    "cache-control": "Cache-Control",
    "expires": "Expires",
}

# GET/HEAD query parameter -> the response header it replaces.
_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}

_OWNER_ONLY_ACLS = frozenset({"private", "bucket-owner-full-control"})
_GRANT_HEADERS = (
    "x-amz-grant-read",
    "x-amz-grant-write",
    "x-amz-grant-read-acp",
    "x-amz-grant-write-acp",
    "x-amz-grant-full-control",
)
_OBJECT_LOCK_HEADERS = (
    "x-amz-object-lock-mode",
    "x-amz-object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold",
)


def _strip_aws_chunked(value: str) -> str:
    # aws-chunked only frames the request body; S3 does not store it.
    codings = [c.strip() for c in value.split(",")]
    return ",".join(c for c in codings if c and c.lower() != "aws-chunked")


def headers_from_request(pairs: Iterable[tuple[str, str]]) -> ObjectHeaders:
    """The headers to store from a write request's header (name, value) pairs.

    Content-Type defaults to ``binary/octet-stream``; ``aws-chunked`` is
    removed from Content-Encoding; user metadata names are lower-cased, and
    repeated ones are joined with commas. Raises MetadataTooLarge past 2 KB of
    user metadata.
    """
    standard: dict[str, str] = {}
    user: dict[str, str] = {}
    for name, value in pairs:
        lower = name.lower()
        if lower in _STANDARD:
            if lower == "content-encoding":
                value = _strip_aws_chunked(value)
                if not value:
                    continue
            standard[lower] = value
        elif lower.startswith(_META_PREFIX) and len(lower) > len(_META_PREFIX):
            meta = lower[len(_META_PREFIX) :]
            user[meta] = f"{user[meta]},{value}" if meta in user else value
    standard.setdefault("content-type", DEFAULT_CONTENT_TYPE)
    size = sum(len(k.encode()) + len(v.encode("utf-8", "surrogateescape")) for k, v in user.items())
    if size > MAX_USER_METADATA_BYTES:
        raise MetadataTooLarge(Size=str(size), MaxSizeAllowed=str(MAX_USER_METADATA_BYTES))
    return ObjectHeaders(standard=standard, user=user)


def response_overrides(query: Mapping[str, str]) -> dict[str, str]:
    """The response headers ``response-*`` query parameters replace on GET/HEAD."""
    return {header: query[param] for param, header in _OVERRIDES.items() if param in query}


def response_headers(stored: ObjectHeaders, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The headers a GET/HEAD sends for ``stored``, with ``overrides`` applied."""
    out = {_STANDARD[name]: value for name, value in stored.standard.items() if name in _STANDARD}
    out.update(overrides or {})
    for name, value in stored.user.items():
        out[_META_PREFIX + name] = value
    return out


def checksum_headers(checksum: Checksum | None) -> dict[str, str]:
    """``x-amz-checksum-<alg>`` and ``x-amz-checksum-type`` for a stored checksum."""
    if checksum is None:
        return {}
    return {
        f"x-amz-checksum-{checksum.algorithm.lower()}": checksum.value,
        "x-amz-checksum-type": checksum.type,
    }


def validate_storage_class(value: str | None) -> None:
    """Raise InvalidStorageClass for any storage class but STANDARD (the only one here)."""
    if value is not None and value != "STANDARD":
        raise InvalidStorageClass(StorageClassRequested=value)


def validate_acl_headers(headers: Mapping[str, str]) -> None:
    """Accept only ACLs that give the owner full control, as AWS buckets with
    ACLs disabled do: ``x-amz-acl: private`` or ``bucket-owner-full-control``.
    """
    acl = headers.get("x-amz-acl")
    if acl is not None and acl.strip() not in _OWNER_ONLY_ACLS:
        raise AccessControlListNotSupported()
    if any(name in headers for name in _GRANT_HEADERS):
        raise AccessControlListNotSupported()


def validate_write_headers(headers: Mapping[str, str]) -> None:
    """Reject write headers that ask for what this server does not do.

    Server-side encryption AES256 is accepted (every object is encrypted at
    rest); KMS and customer keys are NotImplemented; an unknown algorithm is
    InvalidArgument. Object Lock headers get AWS's answer for a bucket without
    Object Lock; tagging and website redirects are NotImplemented.
    """
    validate_storage_class(headers.get("x-amz-storage-class"))
    validate_acl_headers(headers)
    sse = headers.get("x-amz-server-side-encryption")
    if sse is not None:
        if sse in ("aws:kms", "aws:kms:dsse"):
            raise errors.NotImplemented(Header="x-amz-server-side-encryption")
        if sse != "AES256":
            raise InvalidArgument(
                "The encryption method specified is not supported",
                ArgumentName="x-amz-server-side-encryption",
                ArgumentValue=sse,
            )
    for name in (
        "x-amz-server-side-encryption-customer-algorithm",
        "x-amz-server-side-encryption-aws-kms-key-id",
        "x-amz-tagging",
        "x-amz-website-redirect-location",
    ):
        if name in headers:
            raise errors.NotImplemented(Header=name)
    if any(name in headers for name in _OBJECT_LOCK_HEADERS):
        raise InvalidRequest("Bucket is missing Object Lock Configuration")


def metadata_replaced(headers: Mapping[str, str]) -> bool:
    """Whether a CopyObject replaces metadata (``x-amz-metadata-directive: REPLACE``)."""
    directive = headers.get("x-amz-metadata-directive")
    if directive is None or directive == "COPY":
        return False
    if directive == "REPLACE":
        return True
    raise InvalidArgument(
        "Unknown metadata directive.",
        ArgumentName="x-amz-metadata-directive",
        ArgumentValue=directive,
    )
