"""Object operations against a live server: PutObject, GetObject (ranges,
response-* overrides), HeadObject, DeleteObject, DeleteObjects, the headers an
object stores and returns, and objects at the sizes where the data path
changes shape (empty, inline, several erasure-coded segments).

Expected behaviour is AWS's, from the S3 API reference ("PutObject",
"GetObject", "HeadObject", "DeleteObject", "DeleteObjects") and RFC 9110 for
ranges.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import os
import time
import zlib

import pytest

from tests.e2e.conftest import expect_error, send


def _etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


def _headers(answer: dict) -> dict[str, str]:
    return answer["ResponseMetadata"]["HTTPHeaders"]


# --- put, get, head, delete ------------------------------------------------------


@pytest.mark.parametrize(
    "size",
    [
        0,
        1,
        32 * 1024,  # the largest body kept inline in metadata
        32 * 1024 + 1,  # the smallest erasure-coded body
        1024 * 1024,  # exactly one segment
        4 * 1024 * 1024 + 1,  # four segments and one byte
        3 * 1024 * 1024 + 12345,  # several segments and stripes, a short last one
    ],
)
def test_put_then_get_returns_the_same_bytes(s3, bucket: str, size: int) -> None:
    data = os.urandom(size)
    put = s3.put_object(Bucket=bucket, Key=f"obj-{size}", Body=data)
    assert put["ETag"] == _etag(data)
    got = s3.get_object(Bucket=bucket, Key=f"obj-{size}")
    assert got["Body"].read() == data
    assert got["ContentLength"] == size
    assert got["ETag"] == _etag(data)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert _headers(got)["accept-ranges"] == "bytes"


def test_empty_object_has_the_md5_of_nothing(s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    head = s3.head_object(Bucket=bucket, Key="empty")
    assert head["ContentLength"] == 0
    assert head["ETag"] == _etag(b"")
    assert s3.get_object(Bucket=bucket, Key="empty")["Body"].read() == b""
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("empty", 0)]


def test_overwrite_replaces_bytes_and_headers(s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"first" * 10000, ContentType="text/plain",
                  Metadata={"gen": "1"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"second", Metadata={"other": "2"})
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"second"
    assert got["Metadata"] == {"other": "2"}
    assert got["ContentType"] == "binary/octet-stream"
    assert len(s3.list_objects_v2(Bucket=bucket)["Contents"]) == 1


def test_last_modified_is_the_time_of_the_write(s3, bucket: str) -> None:
    before = time.time()
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    after = time.time()
    head = s3.head_object(Bucket=bucket, Key="k")
    stamp = head["LastModified"].timestamp()
    # Last-Modified has whole-second precision.
    assert int(before) - 1 <= stamp <= after + 1
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"][0]["LastModified"].timestamp()
    assert abs(listed - stamp) < 1.0


def test_stored_headers_come_back_on_get_and_head(s3, bucket: str) -> None:
    expires = datetime.datetime(2037, 1, 1, tzinfo=datetime.UTC)
    s3.put_object(
        Bucket=bucket,
        Key="doc.html",
        Body=b"<p>hello</p>",
        ContentType="text/html; charset=utf-8",
        ContentEncoding="gzip",
        ContentDisposition='attachment; filename="doc.html"',
        ContentLanguage="en-GB",
        CacheControl="max-age=3600, public",
        Expires=expires,
        Metadata={"Colour": "blue", "shape": "round square"},
    )
    for answer in (s3.get_object(Bucket=bucket, Key="doc.html"), s3.head_object(Bucket=bucket, Key="doc.html")):
        assert answer["ContentType"] == "text/html; charset=utf-8"
        # Over HTTPS boto3 adds aws-chunked, which frames the request only.
        assert answer["ContentEncoding"] == "gzip"
        assert answer["ContentDisposition"] == 'attachment; filename="doc.html"'
        assert answer["ContentLanguage"] == "en-GB"
        assert answer["CacheControl"] == "max-age=3600, public"
        assert _headers(answer)["expires"] == "Thu, 01 Jan 2037 00:00:00 GMT"
        # S3 stores user metadata names in lower case.
        assert answer["Metadata"] == {"colour": "blue", "shape": "round square"}


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
def test_content_encoded_bodies_are_stored_as_sent(s3, bucket: str, encoding: str) -> None:
    # Content-Encoding describes the object: S3 neither decodes nor re-encodes it.
    plain = b"compressible text " * 5000
    body = gzip.compress(plain) if encoding == "gzip" else zlib.compress(plain) if encoding == "deflate" else plain
    put = s3.put_object(Bucket=bucket, Key="page", Body=body, ContentEncoding=encoding)
    assert put["ETag"] == _etag(body)
    got = s3.get_object(Bucket=bucket, Key="page")
    assert got["ContentEncoding"] == encoding
    assert got["ContentLength"] == len(body)
    assert got["Body"].read() == body


def test_default_content_type_is_binary_octet_stream(http_server, http_bucket: str) -> None:
    response = send(http_server, "PUT", f"/{http_bucket}/untyped", body=b"abc")
    assert response.status == 200
    head = send(http_server, "HEAD", f"/{http_bucket}/untyped")
    assert head.headers["content-type"] == "binary/octet-stream"


def test_user_metadata_up_to_2_kb_is_accepted(http_s3, http_bucket: str) -> None:
    # AWS counts the UTF-8 bytes of every name (without x-amz-meta-) and value.
    metadata = {"a": "v" * 1000, "bb": "w" * 1045}
    assert sum(len(k) + len(v) for k, v in metadata.items()) == 2048
    http_s3.put_object(Bucket=http_bucket, Key="k", Body=b"x", Metadata=metadata)
    assert http_s3.head_object(Bucket=http_bucket, Key="k")["Metadata"] == metadata


def test_user_metadata_over_2_kb_is_metadata_too_large(http_s3, http_bucket: str) -> None:
    metadata = {"a": "v" * 1000, "bb": "w" * 1046}
    expect_error("MetadataTooLarge", 400, http_s3.put_object, Bucket=http_bucket, Key="k", Body=b"x",
                 Metadata=metadata)
    expect_error("MetadataTooLarge", 400, http_s3.create_multipart_upload, Bucket=http_bucket, Key="k",
                 Metadata=metadata)
    expect_error("NoSuchKey", 404, http_s3.get_object, Bucket=http_bucket, Key="k")


def test_get_missing_key_is_no_such_key(s3, bucket: str) -> None:
    error = expect_error("NoSuchKey", 404, s3.get_object, Bucket=bucket, Key="nothing/here")
    assert error["Error"]["Key"] == "nothing/here"
    expect_error("404", 404, s3.head_object, Bucket=bucket, Key="nothing/here")


def test_head_returns_headers_without_body(http_server, http_s3, http_bucket: str) -> None:
    data = os.urandom(5000)
    http_s3.put_object(Bucket=http_bucket, Key="k", Body=data)
    response = send(http_server, "HEAD", f"/{http_bucket}/k")
    assert response.status == 200
    assert response.body == b""
    assert response.headers["content-length"] == "5000"
    assert response.headers["etag"] == _etag(data)
    assert response.headers["last-modified"].endswith("GMT")


def test_delete_object_then_it_is_gone(s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=os.urandom(100_000))
    answer = s3.delete_object(Bucket=bucket, Key="k")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bucket, Key="k")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_delete_missing_key_succeeds(s3, bucket: str) -> None:
    answer = s3.delete_object(Bucket=bucket, Key="never-written")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_null_version_id_names_the_object(s3, bucket: str) -> None:
    # Objects written while versioning was never enabled have the version id "null".
    s3.put_object(Bucket=bucket, Key="k", Body=b"only version")
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"only version"
    assert s3.head_object(Bucket=bucket, Key="k", VersionId="null")["ContentLength"] == 12
    s3.delete_object(Bucket=bucket, Key="k", VersionId="null")
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bucket, Key="k")


def test_get_object_tagging_is_an_empty_tag_set(http_s3, http_bucket: str) -> None:
    http_s3.put_object(Bucket=http_bucket, Key="k", Body=b"x")
    assert http_s3.get_object_tagging(Bucket=http_bucket, Key="k")["TagSet"] == []


# --- DeleteObjects ------------------------------------------------------------------


def test_delete_objects_reports_every_key_deleted(s3, bucket: str) -> None:
    for key in ("a", "b", "c/d"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    answer = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "c/d"}, {"Key": "missing"}]}
    )
    # AWS reports keys that did not exist as deleted too.
    assert sorted(d["Key"] for d in answer["Deleted"]) == ["a", "c/d", "missing"]
    assert "Errors" not in answer
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["b"]


def test_delete_objects_quiet_lists_nothing_deleted(s3, bucket: str) -> None:
    for key in ("a", "b"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    answer = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "gone"}], "Quiet": True}
    )
    assert "Deleted" not in answer
    assert "Errors" not in answer
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_delete_objects_takes_at_most_1000_keys(http_s3, http_bucket: str) -> None:
    http_s3.put_object(Bucket=http_bucket, Key="k1", Body=b"x")
    objects = [{"Key": f"k{i}"} for i in range(1001)]
    expect_error("MalformedXML", 400, http_s3.delete_objects, Bucket=http_bucket, Delete={"Objects": objects})
    assert http_s3.head_object(Bucket=http_bucket, Key="k1")["ContentLength"] == 1
    answer = http_s3.delete_objects(Bucket=http_bucket, Delete={"Objects": objects[:1000]})
    assert len(answer["Deleted"]) == 1000


# --- ranges ---------------------------------------------------------------------------

_SIZE = 2 * 1024 * 1024 + 777  # crosses segment boundaries


@pytest.fixture
def ranged(s3, bucket: str) -> tuple[str, bytes]:
    data = os.urandom(_SIZE)
    s3.put_object(Bucket=bucket, Key="ranged", Body=data)
    return bucket, data


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=10-19", 10, 19),
        ("bytes=1048570-1048585", 1048570, 1048585),  # across a segment boundary
        ("bytes=2097000-", 2097000, _SIZE - 1),  # open-ended
        ("bytes=-100", _SIZE - 100, _SIZE - 1),  # suffix
        ("bytes=100-99999999", 100, _SIZE - 1),  # last byte past the end is clamped
        ("bytes=-99999999", 0, _SIZE - 1),  # suffix longer than the object
    ],
)
def test_range_read_is_partial_content(s3, ranged: tuple[str, bytes], header: str, first: int, last: int) -> None:
    bucket, data = ranged
    got = s3.get_object(Bucket=bucket, Key="ranged", Range=header)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == f"bytes {first}-{last}/{_SIZE}"
    assert got["ContentLength"] == last - first + 1
    assert got["Body"].read() == data[first : last + 1]
    assert got["ETag"] == _etag(data)


@pytest.mark.parametrize("header", [f"bytes={_SIZE}-", f"bytes={_SIZE + 10}-{_SIZE + 20}", "bytes=-0"])
def test_unsatisfiable_range_is_416(http_server, http_s3, http_bucket: str, header: str) -> None:
    data = os.urandom(_SIZE)
    http_s3.put_object(Bucket=http_bucket, Key="ranged", Body=data)
    error = expect_error("InvalidRange", 416, http_s3.get_object, Bucket=http_bucket, Key="ranged", Range=header)
    assert error["ResponseMetadata"]["HTTPHeaders"]["content-range"] == f"bytes */{_SIZE}"
    raw = send(http_server, "GET", f"/{http_bucket}/ranged", headers={"Range": header})
    assert raw.status == 416
    assert raw.error()["ActualObjectSize"] == str(_SIZE)


def test_range_on_empty_object_is_unsatisfiable(http_s3, http_bucket: str) -> None:
    http_s3.put_object(Bucket=http_bucket, Key="empty", Body=b"")
    expect_error("InvalidRange", 416, http_s3.get_object, Bucket=http_bucket, Key="empty", Range="bytes=0-")


def test_range_of_a_small_object(http_s3, http_bucket: str) -> None:
    http_s3.put_object(Bucket=http_bucket, Key="k", Body=b"0123456789")
    for header, expected in (("bytes=3-5", b"345"), ("bytes=-2", b"89"), ("bytes=9-", b"9")):
        got = http_s3.get_object(Bucket=http_bucket, Key="k", Range=header)
        assert got["Body"].read() == expected
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206


def test_head_with_range_answers_partial_headers(http_s3, http_bucket: str) -> None:
    http_s3.put_object(Bucket=http_bucket, Key="k", Body=b"0123456789")
    head = http_s3.head_object(Bucket=http_bucket, Key="k", Range="bytes=2-5")
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert head["ContentLength"] == 4
    assert head["ContentRange"] == "bytes 2-5/10"


def test_part_number_one_of_a_single_put_object_is_the_whole_object(http_s3, http_bucket: str) -> None:
    http_s3.put_object(Bucket=http_bucket, Key="k", Body=b"0123456789")
    got = http_s3.get_object(Bucket=http_bucket, Key="k", PartNumber=1)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == "bytes 0-9/10"
    assert got["Body"].read() == b"0123456789"
    expect_error("InvalidPartNumber", 416, http_s3.get_object, Bucket=http_bucket, Key="k", PartNumber=2)


def test_part_number_with_range_is_invalid_request(http_s3, http_bucket: str) -> None:
    http_s3.put_object(Bucket=http_bucket, Key="k", Body=b"0123456789")
    expect_error("InvalidRequest", 400, http_s3.get_object, Bucket=http_bucket, Key="k", PartNumber=1,
                 Range="bytes=0-1")


# --- response-* overrides -----------------------------------------------------------


def test_response_overrides_replace_stored_headers(s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"data", ContentType="text/plain", CacheControl="no-cache")
    got = s3.get_object(
        Bucket=bucket,
        Key="k",
        ResponseContentType="application/json",
        ResponseContentLanguage="fr",
        ResponseExpires=datetime.datetime(2030, 6, 1, tzinfo=datetime.UTC),
        ResponseCacheControl="max-age=60",
        ResponseContentDisposition="inline",
        ResponseContentEncoding="gzip",
    )
    assert got["Body"].read() == b"data"
    assert got["ContentType"] == "application/json"
    assert got["ContentLanguage"] == "fr"
    assert got["CacheControl"] == "max-age=60"
    assert got["ContentDisposition"] == "inline"
    assert got["ContentEncoding"] == "gzip"
    assert _headers(got)["expires"] == "Sat, 01 Jun 2030 00:00:00 GMT"
    # The stored headers are unchanged.
    head = s3.head_object(Bucket=bucket, Key="k")
    assert (head["ContentType"], head["CacheControl"]) == ("text/plain", "no-cache")


# --- keys --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "unicode/ключ/キー/🔑",
        "spaces and+plus=equals&amp",
        "a" * 1024,
        "é" * 512,  # 1024 bytes of UTF-8
        "trailing/",
        "?query#fragment",
        "tab\there",
        "line\nbreak\r\nkey",
    ],
)
def test_any_key_round_trips(s3, bucket: str, key: str) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key]
    s3.delete_object(Bucket=bucket, Key=key)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
