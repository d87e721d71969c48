"""Tests for s3api.routing: request targets to S3 operations."""

from __future__ import annotations

import pytest

from s3api.errors import InvalidArgument, InvalidBucketName, InvalidURI, KeyTooLongError, MethodNotAllowed
from s3api.routing import CopySource, Operation, bucket_from_host, parse_copy_source, parse_target, route

BASES = ("localhost", "s3.example.com")


def op(method: str, target: str, host: str | None = "127.0.0.1:9000", copy_source: bool = False) -> Operation:
    return route(method, host, parse_target(target), BASES, copy_source)


def test_parse_target_decodes_path_and_query() -> None:
    target = parse_target("/b/a%20b%2Fc?prefix=x%2By+z&acl&max-keys=5&max-keys=6")
    assert target.path == "/b/a b/c"
    assert target.query == {"prefix": "x+y z", "acl": "", "max-keys": "5"}
    assert target.query_pairs == (("prefix", "x+y z"), ("acl", ""), ("max-keys", "5"), ("max-keys", "6"))
    assert target.raw_path == "/b/a%20b%2Fc"
    assert target.raw_query == "prefix=x%2By+z&acl&max-keys=5&max-keys=6"


def test_plus_in_path_is_literal() -> None:
    assert parse_target("/b/a+b").path == "/b/a+b"


def test_absolute_form_target() -> None:
    assert parse_target("http://host:9000/b/k?acl").path == "/b/k"
    assert parse_target("http://host:9000").path == "/"


@pytest.mark.parametrize("target", ["/b/%FF", "/b/k?prefix=%C3", "b/k"])
def test_undecodable_targets(target: str) -> None:
    with pytest.raises(InvalidURI):
        parse_target(target)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("/b/../x", "../x"),
        ("/b/a//b", "a//b"),
        ("/b/%252F", "%2F"),
        ("/b/./", "./"),
        ("/b//lead", "/lead"),
        ("/b/dir/", "dir/"),
        ("/b/%E2%82%AC", "€"),
        ("/b/a%3Fb", "a?b"),
    ],
)
def test_keys_are_exact(raw: str, key: str) -> None:
    operation = op("GET", raw)
    assert operation.name == "GetObject"
    assert (operation.bucket, operation.key) == ("b", key)
    assert operation.resource == f"/b/{key}"


def test_virtual_hosted_style() -> None:
    operation = op("GET", "/../x?versionId=3", host="my.bucket.s3.example.com:9000")
    assert (operation.bucket, operation.key, operation.virtual_hosted) == ("my.bucket", "../x", True)
    assert operation.query == {"versionId": "3"}
    assert op("GET", "/", host="bkt.localhost").name == "ListObjects"
    assert op("GET", "/", host="BKT.LOCALHOST:80").bucket == "bkt"


def test_base_domain_host_is_path_style() -> None:
    operation = op("GET", "/bkt/key", host="s3.example.com")
    assert (operation.bucket, operation.key, operation.virtual_hosted) == ("bkt", "key", False)
    assert op("GET", "/", host="localhost:9000").name == "ListBuckets"


def test_bucket_from_host() -> None:
    assert bucket_from_host("a.s3.example.com", BASES) == "a"
    assert bucket_from_host("s3.example.com", BASES) is None
    assert bucket_from_host("other.org", BASES) is None
    assert bucket_from_host("[::1]:9000", BASES) is None
    assert bucket_from_host("10.0.0.1:9000", BASES) is None
    assert bucket_from_host(None, BASES) is None
    assert bucket_from_host("a.localhost", ()) is None
    # the longest base wins: "x.s3.example.com" is bucket x, not bucket "x.s3"
    assert bucket_from_host("x.s3.example.com", ("example.com", "s3.example.com")) == "x"


def test_service_level() -> None:
    assert op("GET", "/").name == "ListBuckets"
    assert op("GET", "/?x-id=ListBuckets").name == "ListBuckets"
    with pytest.raises(MethodNotAllowed):
        op("PUT", "/")


@pytest.mark.parametrize(
    ("method", "target", "name"),
    [
        ("GET", "/b", "ListObjects"),
        ("GET", "/b/", "ListObjects"),
        ("GET", "/b?list-type=2&prefix=a", "ListObjectsV2"),
        ("GET", "/b?versions", "ListObjectVersions"),
        ("GET", "/b?uploads", "ListMultipartUploads"),
        ("GET", "/b?location", "GetBucketLocation"),
        ("GET", "/b?versioning", "GetBucketVersioning"),
        ("GET", "/b?acl", "GetBucketAcl"),
        ("GET", "/b?tagging", "GetBucketTagging"),
        ("GET", "/b?cors", "GetBucketCors"),
        ("GET", "/b?lifecycle", "GetBucketLifecycleConfiguration"),
        ("GET", "/b?policy", "GetBucketPolicy"),
        ("GET", "/b?encryption", "GetBucketEncryption"),
        ("GET", "/b?object-lock", "GetObjectLockConfiguration"),
        ("GET", "/b?analytics", "ListBucketAnalyticsConfigurations"),
        ("GET", "/b?analytics&id=x", "GetBucketAnalyticsConfiguration"),
        ("HEAD", "/b", "HeadBucket"),
        ("PUT", "/b", "CreateBucket"),
        ("PUT", "/b?versioning", "PutBucketVersioning"),
        ("PUT", "/b?policy", "PutBucketPolicy"),
        ("DELETE", "/b", "DeleteBucket"),
        ("DELETE", "/b?cors", "DeleteBucketCors"),
        ("POST", "/b?delete", "DeleteObjects"),
        ("POST", "/b", "PostObject"),
        ("GET", "/b?x-id=ListObjects&uploadId=u", "ListObjects"),
    ],
)
def test_bucket_operations(method: str, target: str, name: str) -> None:
    operation = op(method, target)
    assert (operation.name, operation.bucket, operation.key) == (name, "b", None)


@pytest.mark.parametrize(
    ("method", "target", "copy_source", "name"),
    [
        ("GET", "/b/k", False, "GetObject"),
        ("GET", "/b/k?partNumber=2", False, "GetObject"),
        ("GET", "/b/k?versionId=v&response-content-type=x", False, "GetObject"),
        ("HEAD", "/b/k", False, "HeadObject"),
        ("PUT", "/b/k", False, "PutObject"),
        ("PUT", "/b/k?x-id=PutObject", False, "PutObject"),
        ("PUT", "/b/k", True, "CopyObject"),
        ("DELETE", "/b/k", False, "DeleteObject"),
        ("DELETE", "/b/k?versionId=v", False, "DeleteObject"),
        ("POST", "/b/k?uploads", False, "CreateMultipartUpload"),
        ("PUT", "/b/k?partNumber=1&uploadId=u", False, "UploadPart"),
        ("PUT", "/b/k?uploadId=u&partNumber=1", True, "UploadPartCopy"),
        ("POST", "/b/k?uploadId=u", False, "CompleteMultipartUpload"),
        ("DELETE", "/b/k?uploadId=u", False, "AbortMultipartUpload"),
        ("GET", "/b/k?uploadId=u&max-parts=2", False, "ListParts"),
        ("GET", "/b/k?acl", False, "GetObjectAcl"),
        ("PUT", "/b/k?acl", False, "PutObjectAcl"),
        ("GET", "/b/k?tagging", False, "GetObjectTagging"),
        ("PUT", "/b/k?tagging", False, "PutObjectTagging"),
        ("DELETE", "/b/k?tagging", False, "DeleteObjectTagging"),
        ("GET", "/b/k?retention", False, "GetObjectRetention"),
        ("PUT", "/b/k?legal-hold", False, "PutObjectLegalHold"),
        ("GET", "/b/k?torrent", False, "GetObjectTorrent"),
        ("POST", "/b/k?restore", False, "RestoreObject"),
        ("POST", "/b/k?select&select-type=2", False, "SelectObjectContent"),
        ("GET", "/b/k?attributes", False, "GetObjectAttributes"),
        ("GET", "/b/k?policy", False, "GetObject"),
    ],
)
def test_object_operations(method: str, target: str, copy_source: bool, name: str) -> None:
    operation = op(method, target, copy_source=copy_source)
    assert (operation.name, operation.bucket, operation.key) == (name, "b", "k")


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("POST", "/b?acl"),
        ("GET", "/b?delete"),
        ("HEAD", "/b?acl"),
        ("PATCH", "/b"),
        ("POST", "/b/k"),
        ("POST", "/b/k?acl"),
        ("GET", "/b/k?uploads"),
        ("OPTIONS", "/b/k"),
    ],
)
def test_method_not_allowed(method: str, target: str) -> None:
    with pytest.raises(MethodNotAllowed) as caught:
        op(method, target)
    assert caught.value.status == 405


def test_list_type_other_than_2() -> None:
    with pytest.raises(InvalidArgument):
        op("GET", "/b?list-type=3")


def test_names_are_checked() -> None:
    with pytest.raises(InvalidBucketName):
        op("GET", "/b%20c/k")
    with pytest.raises(KeyTooLongError):
        op("PUT", "/b/" + "k" * 1025)
    assert op("PUT", "/b/" + "k" * 1024).name == "PutObject"


def test_method_is_case_insensitive() -> None:
    assert op("get", "/b/k").name == "GetObject"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bucket/key", CopySource("bucket", "key")),
        ("/bucket/key", CopySource("bucket", "key")),
        ("bucket/a%20b/c%3Fd", CopySource("bucket", "a b/c?d")),
        ("bucket/..%2Fx//y", CopySource("bucket", "../x//y")),
        ("bucket/k%252F", CopySource("bucket", "k%2F")),
        ("bucket/key?versionId=3%2Fx", CopySource("bucket", "key", "3/x")),
        ("bucket/a+b", CopySource("bucket", "a+b")),
    ],
)
def test_parse_copy_source(header: str, expected: CopySource) -> None:
    assert parse_copy_source(header) == expected


@pytest.mark.parametrize("header", ["bucket", "bucket/", "/bucket", "/", "", "bucket/key?versionId=", "bucket/key?foo=1", "b/%FF"])
def test_bad_copy_source(header: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_copy_source(header)
    assert caught.value.fields["ArgumentName"] == "x-amz-copy-source"


def test_copy_source_names_are_checked() -> None:
    with pytest.raises(InvalidBucketName):
        parse_copy_source("bad%20bucket/key")
    with pytest.raises(KeyTooLongError):
        parse_copy_source("bucket/" + "k" * 1025)
