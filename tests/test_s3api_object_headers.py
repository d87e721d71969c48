"""Tests for s3api.object_headers: stored headers, overrides and write-header checks."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from s3api.errors import (
    AccessControlListNotSupported,
    InvalidArgument,
    InvalidRequest,
    InvalidStorageClass,
    MetadataTooLarge,
    NotImplemented,
)
from s3api.object_headers import (
    checksum_headers,
    headers_from_request,
    metadata_replaced,
    response_headers,
    response_overrides,
    validate_storage_class,
    validate_write_headers,
)
from s3api.service import Checksum, ObjectHeaders


def test_standard_headers_and_metadata_are_kept() -> None:
    stored = headers_from_request(
        [
            ("Content-Type", "text/plain"),
            ("Content-Disposition", "attachment"),
            ("Content-Language", "en"),
            ("Cache-Control", "no-cache"),
            ("Expires", "Thu, 01 Dec 1994 16:00:00 GMT"),
            ("X-Amz-Meta-Color", "Blue"),
            ("x-amz-meta-size", "10"),
            ("Authorization", "ignored"),
            ("Content-Length", "5"),
        ]
    )
    assert stored.standard == {
        "content-type": "text/plain",
        "content-disposition": "attachment",
        "content-language": "en",
        "cache-control": "no-cache",
        "expires": "Thu, 01 Dec 1994 16:00:00 GMT",
    }
    assert stored.user == {"color": "Blue", "size": "10"}


def test_content_type_defaults_to_binary_octet_stream() -> None:
    assert headers_from_request([]).standard == {"content-type": "binary/octet-stream"}


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("aws-chunked", None), ("aws-chunked,gzip", "gzip"), ("gzip, aws-chunked", "gzip"), ("gzip,br", "gzip,br")],
)
def test_aws_chunked_is_removed_from_content_encoding(sent: str, kept: str | None) -> None:
    stored = headers_from_request([("Content-Encoding", sent)])
    assert stored.standard.get("content-encoding") == kept


def test_repeated_metadata_is_joined() -> None:
    stored = headers_from_request([("x-amz-meta-a", "1"), ("X-Amz-Meta-A", "2")])
    assert stored.user == {"a": "1,2"}


def test_metadata_limit_is_2kb_of_names_and_values() -> None:
    headers_from_request([("x-amz-meta-k", "v" * 2047)])
    with pytest.raises(MetadataTooLarge) as caught:
        headers_from_request([("x-amz-meta-k", "v" * 2048)])
    assert caught.value.status == 400
    with pytest.raises(MetadataTooLarge):
        headers_from_request([("x-amz-meta-a", "v" * 1024), ("x-amz-meta-b", "é" * 512)])


def test_response_headers_with_overrides() -> None:
    stored = ObjectHeaders(standard={"content-type": "text/plain", "cache-control": "no-cache"}, user={"color": "blue"})
    overrides = response_overrides(
        {"response-content-type": "application/json", "response-expires": "soon", "versionId": "x"}
    )
    assert overrides == {"Content-Type": "application/json", "Expires": "soon"}
    assert response_headers(stored, overrides) == {
        "Content-Type": "application/json",
        "Cache-Control": "no-cache",
        "Expires": "soon",
        "x-amz-meta-color": "blue",
    }
    assert response_headers(stored)["Content-Type"] == "text/plain"


def test_checksum_headers() -> None:
    assert checksum_headers(None) == {}
    assert checksum_headers(Checksum("CRC32C", "AAAAAA==", "COMPOSITE")) == {
        "x-amz-checksum-crc32c": "AAAAAA==",
        "x-amz-checksum-type": "COMPOSITE",
    }


def test_storage_class() -> None:
    validate_storage_class(None)
    validate_storage_class("STANDARD")
    for value in ("GLACIER", "standard", "BOGUS"):
        with pytest.raises(InvalidStorageClass):
            validate_storage_class(value)


def test_write_headers_accepted() -> None:
    validate_write_headers(
        CIMultiDict(
            {
                "x-amz-server-side-encryption": "AES256",
                "x-amz-acl": "private",
                "x-amz-storage-class": "STANDARD",
            }
        )
    )
    validate_write_headers(CIMultiDict({"x-amz-acl": "bucket-owner-full-control"}))


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({"x-amz-acl": "public-read"}, AccessControlListNotSupported),
        ({"x-amz-grant-read": "id=x"}, AccessControlListNotSupported),
        ({"x-amz-server-side-encryption": "aws:kms"}, NotImplemented),
        ({"x-amz-server-side-encryption": "DES"}, InvalidArgument),
        ({"x-amz-server-side-encryption-customer-algorithm": "AES256"}, NotImplemented),
        ({"x-amz-tagging": "a=b"}, NotImplemented),
        ({"x-amz-website-redirect-location": "/x"}, NotImplemented),
        ({"x-amz-object-lock-mode": "GOVERNANCE"}, InvalidRequest),
        ({"x-amz-storage-class": "GLACIER"}, InvalidStorageClass),
    ],
)
def test_write_headers_rejected(headers: dict[str, str], error: type[Exception]) -> None:
    with pytest.raises(error):
        validate_write_headers(CIMultiDict(headers))


def test_metadata_directive() -> None:
    assert not metadata_replaced(CIMultiDict())
    assert not metadata_replaced(CIMultiDict({"x-amz-metadata-directive": "COPY"}))
    assert metadata_replaced(CIMultiDict({"x-amz-metadata-directive": "REPLACE"}))
    with pytest.raises(InvalidArgument) as caught:
        metadata_replaced(CIMultiDict({"x-amz-metadata-directive": "MOVE"}))
    assert caught.value.fields["ArgumentName"] == "x-amz-metadata-directive"
