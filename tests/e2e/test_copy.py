"""CopyObject against a live server: metadata directives, copy onto itself,
cross-bucket copies, copy-source conditions and copy-source errors.

Expected behaviour is AWS's, from the S3 API reference ("CopyObject"): the
default directive COPY keeps the source's headers and metadata, REPLACE takes
them from the request; copying an object onto itself without changing
anything is InvalidRequest; a failed ``x-amz-copy-source-if-*`` condition is
412 PreconditionFailed.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import uuid

import pytest

from tests.e2e.conftest import expect_error, send

_PAST = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
_FUTURE = datetime.datetime(2100, 1, 1, tzinfo=datetime.UTC)


def _etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


@pytest.fixture
def source(s3, bucket: str) -> tuple[str, bytes]:
    data = os.urandom(100_000)
    s3.put_object(Bucket=bucket, Key="source", Body=data, ContentType="image/png", CacheControl="no-store",
                  ContentDisposition="inline", Metadata={"camera": "x100"})
    return bucket, data


def test_copy_keeps_source_headers_by_default(s3, source: tuple[str, bytes]) -> None:
    bucket, data = source
    answer = s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "source"})
    result = answer["CopyObjectResult"]
    assert result["ETag"] == _etag(data)
    assert result["LastModified"]
    got = s3.get_object(Bucket=bucket, Key="copy")
    assert got["Body"].read() == data
    assert got["ETag"] == _etag(data)
    assert got["ContentType"] == "image/png"
    assert got["CacheControl"] == "no-store"
    assert got["ContentDisposition"] == "inline"
    assert got["Metadata"] == {"camera": "x100"}
    # The source is untouched.
    assert s3.get_object(Bucket=bucket, Key="source")["Body"].read() == data


def test_copy_with_replace_takes_headers_from_the_request(s3, source: tuple[str, bytes]) -> None:
    bucket, data = source
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "source"},
                   MetadataDirective="REPLACE", ContentType="text/plain", Metadata={"new": "yes"})
    head = s3.head_object(Bucket=bucket, Key="copy")
    assert head["ContentType"] == "text/plain"
    assert head["Metadata"] == {"new": "yes"}
    assert "CacheControl" not in head
    assert "ContentDisposition" not in head
    assert head["ETag"] == _etag(data)


def test_copy_explicit_copy_directive_ignores_request_metadata(http_s3, http_bucket: str) -> None:
    http_s3.put_object(Bucket=http_bucket, Key="source", Body=b"abc", Metadata={"old": "1"})
    http_s3.copy_object(Bucket=http_bucket, Key="copy", CopySource=f"{http_bucket}/source",
                        MetadataDirective="COPY", Metadata={"ignored": "1"})
    assert http_s3.head_object(Bucket=http_bucket, Key="copy")["Metadata"] == {"old": "1"}


def test_unknown_metadata_directive_is_invalid_argument(http_s3, http_bucket: str) -> None:
    http_s3.put_object(Bucket=http_bucket, Key="source", Body=b"abc")
    expect_error("InvalidArgument", 400, http_s3.copy_object, Bucket=http_bucket, Key="copy",
                 CopySource=f"{http_bucket}/source", MetadataDirective="MERGE")


def test_copy_onto_itself_needs_a_change(s3, source: tuple[str, bytes]) -> None:
    bucket, data = source
    expect_error("InvalidRequest", 400, s3.copy_object, Bucket=bucket, Key="source",
                 CopySource={"Bucket": bucket, "Key": "source"})
    s3.copy_object(Bucket=bucket, Key="source", CopySource={"Bucket": bucket, "Key": "source"},
                   MetadataDirective="REPLACE", ContentType="image/webp", Metadata={"edited": "true"})
    got = s3.get_object(Bucket=bucket, Key="source")
    assert got["Body"].read() == data
    assert got["ContentType"] == "image/webp"
    assert got["Metadata"] == {"edited": "true"}


def test_copy_across_buckets(s3, source: tuple[str, bytes]) -> None:
    bucket, data = source
    other = f"copy-target-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=other)
    try:
        s3.copy_object(Bucket=other, Key="moved/here", CopySource={"Bucket": bucket, "Key": "source"})
        got = s3.get_object(Bucket=other, Key="moved/here")
        assert got["Body"].read() == data
        assert got["Metadata"] == {"camera": "x100"}
    finally:
        s3.delete_object(Bucket=other, Key="moved/here")
        s3.delete_bucket(Bucket=other)


@pytest.mark.parametrize("key", ["with space+plus", "ünïcødé/ключ", "a//b/../c", "percent%2Fslash", "?q=1&x"])
def test_copy_source_keys_are_taken_exactly(http_s3, http_bucket: str, key: str) -> None:
    http_s3.put_object(Bucket=http_bucket, Key=key, Body=key.encode())
    http_s3.copy_object(Bucket=http_bucket, Key=key + ".copy", CopySource={"Bucket": http_bucket, "Key": key})
    assert http_s3.get_object(Bucket=http_bucket, Key=key + ".copy")["Body"].read() == key.encode()


def test_copy_of_a_multipart_object(http_s3, http_bucket: str) -> None:
    parts = [os.urandom(5 * 1024 * 1024), os.urandom(10)]
    upload_id = http_s3.create_multipart_upload(Bucket=http_bucket, Key="mp", ContentType="a/b")["UploadId"]
    done = [{"PartNumber": n, "ETag": http_s3.upload_part(Bucket=http_bucket, Key="mp", UploadId=upload_id,
                                                          PartNumber=n, Body=part)["ETag"]}
            for n, part in enumerate(parts, start=1)]
    http_s3.complete_multipart_upload(Bucket=http_bucket, Key="mp", UploadId=upload_id,
                                      MultipartUpload={"Parts": done})
    http_s3.copy_object(Bucket=http_bucket, Key="copy", CopySource=f"{http_bucket}/mp")
    got = http_s3.get_object(Bucket=http_bucket, Key="copy")
    assert got["Body"].read() == b"".join(parts)
    assert got["ContentType"] == "a/b"


def test_copy_from_missing_source(http_s3, http_bucket: str) -> None:
    expect_error("NoSuchKey", 404, http_s3.copy_object, Bucket=http_bucket, Key="copy",
                 CopySource=f"{http_bucket}/absent")
    expect_error("NoSuchBucket", 404, http_s3.copy_object, Bucket=http_bucket, Key="copy",
                 CopySource=f"absent-bucket-{uuid.uuid4().hex[:8]}/absent")
    expect_error("NoSuchKey", 404, http_s3.get_object, Bucket=http_bucket, Key="copy")


@pytest.mark.parametrize("value", ["no-slash-at-all", "/only-bucket/", "/"])
def test_malformed_copy_source_is_invalid_argument(http_server, http_bucket: str, value: str) -> None:
    response = send(http_server, "PUT", f"/{http_bucket}/copy", headers={"x-amz-copy-source": value})
    assert response.status == 400
    assert response.error_code == "InvalidArgument"


# --- copy-source conditions -------------------------------------------------------------


def test_copy_source_if_match(s3, source: tuple[str, bytes]) -> None:
    bucket, data = source
    copy_source = {"Bucket": bucket, "Key": "source"}
    s3.copy_object(Bucket=bucket, Key="ok", CopySource=copy_source, CopySourceIfMatch=_etag(data))
    expect_error("PreconditionFailed", 412, s3.copy_object, Bucket=bucket, Key="no", CopySource=copy_source,
                 CopySourceIfMatch='"0123456789abcdef0123456789abcdef"')
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bucket, Key="no")


def test_copy_source_if_none_match(http_s3, http_bucket: str) -> None:
    http_s3.put_object(Bucket=http_bucket, Key="source", Body=b"abc")
    copy_source = f"{http_bucket}/source"
    expect_error("PreconditionFailed", 412, http_s3.copy_object, Bucket=http_bucket, Key="no",
                 CopySource=copy_source, CopySourceIfNoneMatch=_etag(b"abc"))
    http_s3.copy_object(Bucket=http_bucket, Key="ok", CopySource=copy_source,
                        CopySourceIfNoneMatch='"0123456789abcdef0123456789abcdef"')


def test_copy_source_if_modified_since(http_s3, http_bucket: str) -> None:
    http_s3.put_object(Bucket=http_bucket, Key="source", Body=b"abc")
    copy_source = f"{http_bucket}/source"
    http_s3.copy_object(Bucket=http_bucket, Key="ok", CopySource=copy_source, CopySourceIfModifiedSince=_PAST)
    expect_error("PreconditionFailed", 412, http_s3.copy_object, Bucket=http_bucket, Key="no",
                 CopySource=copy_source, CopySourceIfModifiedSince=_FUTURE)


def test_copy_source_if_unmodified_since(http_s3, http_bucket: str) -> None:
    http_s3.put_object(Bucket=http_bucket, Key="source", Body=b"abc")
    copy_source = f"{http_bucket}/source"
    http_s3.copy_object(Bucket=http_bucket, Key="ok", CopySource=copy_source, CopySourceIfUnmodifiedSince=_FUTURE)
    expect_error("PreconditionFailed", 412, http_s3.copy_object, Bucket=http_bucket, Key="no",
                 CopySource=copy_source, CopySourceIfUnmodifiedSince=_PAST)


def test_copy_source_if_match_wins_over_unmodified_since(http_s3, http_bucket: str) -> None:
    # AWS: If-Match true and If-Unmodified-Since false still copies.
    http_s3.put_object(Bucket=http_bucket, Key="source", Body=b"abc")
    http_s3.copy_object(Bucket=http_bucket, Key="ok", CopySource=f"{http_bucket}/source",
                        CopySourceIfMatch=_etag(b"abc"), CopySourceIfUnmodifiedSince=_PAST)
    # AWS: If-None-Match false and If-Modified-Since true is 412.
    expect_error("PreconditionFailed", 412, http_s3.copy_object, Bucket=http_bucket, Key="no",
                 CopySource=f"{http_bucket}/source", CopySourceIfNoneMatch=_etag(b"abc"),
                 CopySourceIfModifiedSince=_PAST)
