"""Conditional requests against a live server: If-Match, If-None-Match,
If-Modified-Since and If-Unmodified-Since on GET and HEAD, and the
conditional writes (If-None-Match: * and If-Match) of PutObject and
CompleteMultipartUpload.

Expected behaviour is AWS's, from the S3 API reference ("GetObject",
"HeadObject", "PutObject", "CompleteMultipartUpload") and RFC 9110 section 13
that it follows: a failed If-Match or If-Unmodified-Since is 412, a held
If-None-Match or If-Modified-Since is 304; If-Match decides over
If-Unmodified-Since and If-None-Match over If-Modified-Since.
"""

from __future__ import annotations

import datetime
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import expect_error, send

_PAST = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
_FUTURE = datetime.datetime(2100, 1, 1, tzinfo=datetime.UTC)
_OTHER = '"0123456789abcdef0123456789abcdef"'


def _etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


@pytest.fixture
def stored(s3, bucket: str) -> tuple[str, bytes]:
    data = os.urandom(50_000)
    s3.put_object(Bucket=bucket, Key="k", Body=data)
    return bucket, data


# --- reads --------------------------------------------------------------------------


def test_if_match(s3, stored: tuple[str, bytes]) -> None:
    bucket, data = stored
    assert s3.get_object(Bucket=bucket, Key="k", IfMatch=_etag(data))["Body"].read() == data
    assert s3.get_object(Bucket=bucket, Key="k", IfMatch="*")["ContentLength"] == len(data)
    assert s3.get_object(Bucket=bucket, Key="k", IfMatch=f"{_OTHER}, {_etag(data)}")["ContentLength"] == len(data)
    error = expect_error("PreconditionFailed", 412, s3.get_object, Bucket=bucket, Key="k", IfMatch=_OTHER)
    assert error["Error"]["Condition"] == "If-Match"
    expect_error("412", 412, s3.head_object, Bucket=bucket, Key="k", IfMatch=_OTHER)


def test_if_none_match(s3, stored: tuple[str, bytes]) -> None:
    bucket, data = stored
    assert s3.get_object(Bucket=bucket, Key="k", IfNoneMatch=_OTHER)["Body"].read() == data
    expect_error("304", 304, s3.get_object, Bucket=bucket, Key="k", IfNoneMatch=_etag(data))
    expect_error("304", 304, s3.head_object, Bucket=bucket, Key="k", IfNoneMatch=_etag(data))
    expect_error("304", 304, s3.get_object, Bucket=bucket, Key="k", IfNoneMatch="*")


def test_if_modified_since(s3, stored: tuple[str, bytes]) -> None:
    bucket, data = stored
    assert s3.get_object(Bucket=bucket, Key="k", IfModifiedSince=_PAST)["Body"].read() == data
    expect_error("304", 304, s3.get_object, Bucket=bucket, Key="k", IfModifiedSince=_FUTURE)
    # Not modified since its own Last-Modified (whole seconds).
    last_modified = s3.head_object(Bucket=bucket, Key="k")["LastModified"]
    expect_error("304", 304, s3.head_object, Bucket=bucket, Key="k", IfModifiedSince=last_modified)
    earlier = last_modified - datetime.timedelta(seconds=1)
    assert s3.head_object(Bucket=bucket, Key="k", IfModifiedSince=earlier)["ContentLength"] == len(data)


def test_if_unmodified_since(s3, stored: tuple[str, bytes]) -> None:
    bucket, data = stored
    assert s3.get_object(Bucket=bucket, Key="k", IfUnmodifiedSince=_FUTURE)["Body"].read() == data
    last_modified = s3.head_object(Bucket=bucket, Key="k")["LastModified"]
    assert s3.head_object(Bucket=bucket, Key="k", IfUnmodifiedSince=last_modified)["ContentLength"] == len(data)
    error = expect_error("PreconditionFailed", 412, s3.get_object, Bucket=bucket, Key="k", IfUnmodifiedSince=_PAST)
    assert error["Error"]["Condition"] == "If-Unmodified-Since"


def test_if_match_decides_over_if_unmodified_since(http_s3, http_bucket: str) -> None:
    http_s3.put_object(Bucket=http_bucket, Key="k", Body=b"abc")
    got = http_s3.get_object(Bucket=http_bucket, Key="k", IfMatch=_etag(b"abc"), IfUnmodifiedSince=_PAST)
    assert got["Body"].read() == b"abc"


def test_if_none_match_decides_over_if_modified_since(http_s3, http_bucket: str) -> None:
    http_s3.put_object(Bucket=http_bucket, Key="k", Body=b"abc")
    expect_error("304", 304, http_s3.get_object, Bucket=http_bucket, Key="k", IfNoneMatch=_etag(b"abc"),
                 IfModifiedSince=_PAST)
    got = http_s3.get_object(Bucket=http_bucket, Key="k", IfNoneMatch=_OTHER, IfModifiedSince=_FUTURE)
    assert got["Body"].read() == b"abc"


def test_not_modified_has_no_body_and_names_the_etag(http_server, http_s3, http_bucket: str) -> None:
    http_s3.put_object(Bucket=http_bucket, Key="k", Body=b"abc")
    response = send(http_server, "GET", f"/{http_bucket}/k", headers={"If-None-Match": _etag(b"abc")})
    assert response.status == 304
    assert response.body == b""
    assert response.headers["etag"] == _etag(b"abc")
    assert response.headers["x-amz-request-id"]


def test_failed_precondition_is_an_error_document(http_server, http_s3, http_bucket: str) -> None:
    http_s3.put_object(Bucket=http_bucket, Key="k", Body=b"abc")
    response = send(http_server, "GET", f"/{http_bucket}/k", headers={"If-Match": _OTHER})
    assert response.status == 412
    fields = response.error()
    assert fields["Code"] == "PreconditionFailed"
    assert fields["Resource"] == f"/{http_bucket}/k"
    assert fields["RequestId"] == response.headers["x-amz-request-id"]


def test_conditions_on_a_missing_key_are_no_such_key(http_s3, http_bucket: str) -> None:
    expect_error("NoSuchKey", 404, http_s3.get_object, Bucket=http_bucket, Key="absent", IfMatch=_OTHER)


# --- writes ------------------------------------------------------------------------


def test_put_if_none_match_star_creates_only(s3, bucket: str) -> None:
    first = s3.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")
    assert first["ETag"] == _etag(b"first")
    error = expect_error("PreconditionFailed", 412, s3.put_object, Bucket=bucket, Key="once", Body=b"second",
                         IfNoneMatch="*")
    assert error["Error"]["Message"]
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"first"


def test_concurrent_creates_have_exactly_one_winner(s3, bucket: str) -> None:
    bodies = [f"writer {i}".encode() * 1000 for i in range(8)]

    def create(body: bytes) -> str:
        try:
            s3.put_object(Bucket=bucket, Key="race", Body=body, IfNoneMatch="*")
        except ClientError as error:
            return error.response["Error"]["Code"]
        return "created"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(create, bodies))
    assert outcomes.count("created") == 1
    # A loser is refused (412), or told to retry a conflicting write (409).
    assert set(outcomes) - {"created"} <= {"PreconditionFailed", "ConditionalRequestConflict"}
    assert s3.get_object(Bucket=bucket, Key="race")["Body"].read() == bodies[outcomes.index("created")]


def test_put_if_none_match_star_with_a_large_body(s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="once", Body=b"first")
    expect_error("PreconditionFailed", 412, s3.put_object, Bucket=bucket, Key="once", Body=os.urandom(300_000),
                 IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"first"


def test_put_if_match(s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"v1")
    expect_error("PreconditionFailed", 412, s3.put_object, Bucket=bucket, Key="k", Body=b"v2", IfMatch=_OTHER)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v1"
    s3.put_object(Bucket=bucket, Key="k", Body=b"v2", IfMatch=_etag(b"v1"))
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v2"
    # AWS: If-Match on a key that does not exist is 404 NoSuchKey.
    expect_error("NoSuchKey", 404, s3.put_object, Bucket=bucket, Key="absent", Body=b"x", IfMatch=_OTHER)
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bucket, Key="absent")


def _multipart(client, bucket: str, key: str, data: bytes) -> tuple[str, list[dict]]:
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etag = client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=data)["ETag"]
    return upload_id, [{"PartNumber": 1, "ETag": etag}]


def test_complete_if_none_match_star(s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"existing")
    upload_id, parts = _multipart(s3, bucket, "k", b"from upload")
    expect_error("PreconditionFailed", 412, s3.complete_multipart_upload, Bucket=bucket, Key="k",
                 UploadId=upload_id, MultipartUpload={"Parts": parts}, IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"existing"
    upload_id, parts = _multipart(s3, bucket, "fresh", b"from upload")
    s3.complete_multipart_upload(Bucket=bucket, Key="fresh", UploadId=upload_id,
                                 MultipartUpload={"Parts": parts}, IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key="fresh")["Body"].read() == b"from upload"


def test_complete_if_match(s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"existing")
    upload_id, parts = _multipart(s3, bucket, "k", b"from upload")
    expect_error("PreconditionFailed", 412, s3.complete_multipart_upload, Bucket=bucket, Key="k",
                 UploadId=upload_id, MultipartUpload={"Parts": parts}, IfMatch=_OTHER)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"existing"
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts},
                                 IfMatch=_etag(b"existing"))
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"from upload"
