"""Hostile and broken input against a live server: malformed and malicious XML,
oversized and malformed headers, truncated bodies, clients that vanish
mid-upload, path-like and over-long keys.

What AWS does for each case comes from the S3 API reference ("Error
responses", "Creating object key names", "PutObject"); whatever the input,
the server must answer with an S3 error, store nothing, lose nothing, and
never touch a file outside its drive folders (DESIGN: invariant 5 and
"Node fragment ids are validated strictly").
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct
import uuid
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import (
    data_files,
    expect_error,
    fragment_files,
    logged_status,
    open_socket,
    read_head,
    request_head,
    request_target,
    send,
    sign_v4,
    wait_until,
)

MiB = 1024 * 1024


def _md5_header(body: bytes) -> dict[str, str]:
    return {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()}


def _outside_fragments(server) -> set[str]:  # type: ignore[no-untyped-def]
    """Files of the data folder that no request may create or change: all but
    fragments and the metadata database."""
    return {
        name for name in data_files(server)
        if not name.startswith("metadata.db") and "/fragments/" not in name and "/tmp/" not in name
    }


def _around(server) -> set[str]:  # type: ignore[no-untyped-def]
    """Everything next to the data folder (where an escaping path would land)."""
    parent = server.data_dir.parent
    return {str(path.relative_to(parent)) for path in parent.rglob("*")
            if server.data_dir not in path.parents and path != server.data_dir}


@pytest.fixture
def untouched(server) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Checks that a test changed no file outside the drive folders' fragments."""
    inside, around = _outside_fragments(server), _around(server)
    yield
    assert _outside_fragments(server) == inside
    assert _around(server) == around
    assert not [p for p in server.data_dir.parent.rglob("passwd")]


# --- malformed and malicious XML -----------------------------------------------------------

_MALFORMED = [
    b"not xml at all",
    b"<Unclosed><Element>",
    b"<?xml version='1.0'?>",
    b"\xff\xfe<\x00b\x00a\x00d\x00",
    b"<a>\xc3\x28</a>",  # invalid UTF-8
]

_DOCTYPES = [
    # billion laughs
    (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
     b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><Delete><Object><Key>&lol3;</Key></Object></Delete>'),
    # external entity
    (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
     b"<Delete><Object><Key>&xxe;</Key></Object></Delete>"),
    # a bare DOCTYPE
    b'<!DOCTYPE Delete SYSTEM "http://127.0.0.1:1/evil.dtd"><Delete><Object><Key>k</Key></Object></Delete>',
    # a DOCTYPE hidden behind a UTF-16 encoding declaration
    ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE d [<!ENTITY e "x">]><Delete><Object><Key>&e;</Key>'
     "</Object></Delete>").encode("utf-16"),
]


def _complete_body(part: str, etag: str) -> list[bytes]:
    return [
        b"",
        b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>",
        b"<CompleteMultipartUpload></CompleteMultipartUpload>",
        b"<SomethingElse><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></SomethingElse>",
        (f"<CompleteMultipartUpload><Part><PartNumber>one</PartNumber><ETag>{etag}</ETag></Part>"
         "</CompleteMultipartUpload>").encode(),
        f"<CompleteMultipartUpload><Part><ETag>{etag}</ETag></Part></CompleteMultipartUpload>".encode(),
        f"<CompleteMultipartUpload><Part><PartNumber>{part}</PartNumber></Part></CompleteMultipartUpload>".encode(),
    ]


def test_malformed_complete_multipart_upload(server, s3, bucket: str, untouched: None) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"part")["ETag"]
    doctype = (b'<?xml version="1.0"?><!DOCTYPE c [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
               b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&e;</ETag></Part>"
               b"</CompleteMultipartUpload>")
    for body in [*_MALFORMED, *_complete_body("1", etag), doctype]:
        response = send(server, "POST", f"/{bucket}/k", query=[("uploadId", upload_id)], body=body)
        assert response.status == 400, body
        assert response.error_code == "MalformedXML", body
        assert b"root:" not in response.body
    # The upload is untouched and still completes.
    assert len(s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"]) == 1
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bucket, Key="k")
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})


def test_malformed_delete_objects(server, s3, bucket: str, untouched: None) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"keep me")
    bodies = [
        *_MALFORMED,
        *_DOCTYPES,
        b"",
        b"<Delete></Delete>",  # no objects
        b"<Delete><Object><VersionId>null</VersionId></Object></Delete>",  # no key
        b"<NotDelete><Object><Key>k</Key></Object></NotDelete>",
        b"<Delete>" + b"<Object><Key>k</Key></Object>" * 1001 + b"</Delete>",
    ]
    for body in bodies:
        response = send(server, "POST", f"/{bucket}", query=[("delete", "")], body=body,
                        headers=_md5_header(body))
        assert response.status == 400, body[:80]
        assert response.error_code == "MalformedXML", body[:80]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"keep me"


def test_delete_objects_without_integrity_header_is_refused(http_server, http_s3, http_bucket: str) -> None:
    http_s3.put_object(Bucket=http_bucket, Key="k", Body=b"keep me")
    body = b"<Delete><Object><Key>k</Key></Object></Delete>"
    response = send(http_server, "POST", f"/{http_bucket}", query=[("delete", "")], body=body)
    assert response.status == 400
    assert response.error_code == "InvalidRequest"
    wrong = send(http_server, "POST", f"/{http_bucket}", query=[("delete", "")], body=body,
                 headers=_md5_header(b"other"))
    assert wrong.status == 400
    assert wrong.error_code == "BadDigest"
    assert http_s3.get_object(Bucket=http_bucket, Key="k")["Body"].read() == b"keep me"


def test_malformed_create_bucket(server, s3, untouched: None) -> None:
    name = f"hostile-{uuid.uuid4().hex[:12]}"
    bodies = [
        *_MALFORMED,
        b"<CreateBucketConfiguration><LocationConstraint>",
        b"<NotAConfiguration><LocationConstraint>eu-west-1</LocationConstraint></NotAConfiguration>",
        (b'<!DOCTYPE c [<!ENTITY e SYSTEM "file:///etc/passwd">]><CreateBucketConfiguration>'
         b"<LocationConstraint>&e;</LocationConstraint></CreateBucketConfiguration>"),
    ]
    for body in bodies:
        response = send(server, "PUT", f"/{name}", body=body)
        assert response.status == 400, body
        assert response.error_code == "MalformedXML", body
    expect_error("404", 404, s3.head_bucket, Bucket=name)


# --- headers --------------------------------------------------------------------------------


def test_oversized_user_metadata_is_metadata_too_large(server, s3, bucket: str, untouched: None) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    one_big = {"x-amz-meta-big": "v" * 4000}
    many = {f"x-amz-meta-h{i:03d}": "v" * 40 for i in range(60)}
    for headers in (one_big, many):
        response = send(server, "PUT", f"/{bucket}/k", body=b"new", headers=headers)
        assert response.status == 400
        assert response.error_code == "MetadataTooLarge"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"old"


def test_header_larger_than_the_server_reads_is_refused(server, s3, bucket: str, untouched: None) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    response = send(server, "PUT", f"/{bucket}/k", body=b"new", headers={"x-amz-meta-huge": "v" * 20000})
    assert response.status == 400
    # S3 caps the header section at 8 KB and says so in an S3 error.
    assert response.error_code == "RequestHeaderSectionTooLarge"
    assert response.headers["x-amz-request-id"]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"old"
    assert s3.head_object(Bucket=bucket, Key="k")["Metadata"] == {}


def test_body_over_5_gib_is_refused_before_it_is_sent(server, s3, bucket: str, untouched: None) -> None:
    path = f"/{bucket}/huge"
    signed = sign_v4(server, "PUT", path, payload_hash="UNSIGNED-PAYLOAD")
    headers = {**signed.headers, "Content-Length": str(5 * 1024**3 + 1), "Expect": "100-continue"}
    with open_socket(server) as sock:
        sock.sendall(request_head(server, "PUT", request_target(path), headers))
        status, response_headers = read_head(sock)
        body = sock.recv(4096)
    assert status == 400
    assert b"<Code>EntityTooLarge</Code>" in body
    assert response_headers["x-amz-request-id"]
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bucket, Key="huge")


@pytest.mark.parametrize(
    "header",
    ["bytes=abc-def", "bytes=5-2", "items=0-1", "bytes=0-1,3-4", "bytes", "bytes=", "bytes=--1", "bytes=1-2-3"],
)
def test_range_forms_that_do_not_parse_are_ignored(http_server, http_s3, http_bucket: str, header: str) -> None:
    # AWS, as RFC 9110 allows: a Range header it cannot use is ignored (200, whole object).
    http_s3.put_object(Bucket=http_bucket, Key="k", Body=b"0123456789")
    response = send(http_server, "GET", f"/{http_bucket}/k", headers={"Range": header})
    assert response.status == 200
    assert response.body == b"0123456789"
    assert "content-range" not in response.headers


def test_garbage_authorization_header(http_server, http_bucket: str) -> None:
    for value, code in (
        ("AWS4-HMAC-SHA256 garbage", "AuthorizationHeaderMalformed"),
        ("AWS4-HMAC-SHA256 Credential=x, SignedHeaders=host, Signature=0", "AuthorizationHeaderMalformed"),
        ("Bearer abc", "InvalidArgument"),
    ):
        response = send(http_server, "GET", f"/{http_bucket}", sign=False, headers={"Authorization": value})
        assert response.status == 400, value
        assert response.error_code == code, value


def test_unknown_method_is_method_not_allowed(http_server, http_bucket: str) -> None:
    response = send(http_server, "PATCH", f"/{http_bucket}/k", body=b"x")
    assert response.status == 405
    assert response.error_code == "MethodNotAllowed"


def test_path_that_is_not_utf8_is_invalid_uri(http_server, http_bucket: str) -> None:
    signed = sign_v4(http_server, "GET", f"/{http_bucket}/x", payload_hash=hashlib.sha256(b"").hexdigest())
    with open_socket(http_server) as sock:
        sock.sendall(request_head(http_server, "GET", f"/{http_bucket}/%FF%FE", signed.headers))
        status, headers = read_head(sock)
        body = sock.recv(4096)
    assert status == 400
    assert b"<Code>InvalidURI</Code>" in body
    assert headers["x-amz-request-id"]


# --- bodies that end early ------------------------------------------------------------------


def _partial_put(server, path: str, declared: int, sent: bytes, vanish: bool,  # type: ignore[no-untyped-def]
                 query: list[tuple[str, str]] | None = None) -> None:
    """Announce ``declared`` body bytes, send ``sent``, then close (``vanish``:
    reset the connection instead of closing it)."""
    signed = sign_v4(server, "PUT", path, query=query, payload_hash="UNSIGNED-PAYLOAD")
    headers = {**signed.headers, "Content-Length": str(declared)}
    sock = open_socket(server)
    try:
        sock.sendall(request_head(server, "PUT", request_target(path, query), headers))
        sock.sendall(sent)
        if vanish:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        sock.close()


def _settled(server, before: set[str]) -> bool:  # type: ignore[no-untyped-def]
    """Whether every fragment file written since ``before`` is gone again."""
    return wait_until(lambda: fragment_files(server) <= before)


@pytest.mark.parametrize("vanish", [False, True], ids=["closed", "reset"])
def test_body_shorter_than_content_length_stores_nothing(server, s3, bucket: str, vanish: bool,
                                                          untouched: None) -> None:
    old = os.urandom(100_000)
    s3.put_object(Bucket=bucket, Key="k", Body=old)
    before, mark = fragment_files(server), len(server.log_text())
    _partial_put(server, f"/{bucket}/k", 3 * MiB, os.urandom(2 * MiB), vanish)
    _partial_put(server, f"/{bucket}/new", 3 * MiB, os.urandom(MiB + 5), vanish)
    # Once the server is done with both requests, and refused them, nothing they sent remains.
    assert logged_status(server, "PutObject", bucket, "k", since=mark) == 400
    assert logged_status(server, "PutObject", bucket, "new", since=mark) == 400
    assert _settled(server, before)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == old
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]
    # The server is still serving.
    s3.put_object(Bucket=bucket, Key="after", Body=b"fine")
    assert s3.get_object(Bucket=bucket, Key="after")["Body"].read() == b"fine"


@pytest.mark.parametrize("vanish", [False, True], ids=["closed", "reset"])
def test_part_upload_cut_short_stores_nothing(server, s3, bucket: str, vanish: bool, untouched: None) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    before, mark = fragment_files(server), len(server.log_text())
    _partial_put(server, f"/{bucket}/mp", 5 * MiB, os.urandom(3 * MiB), vanish,
                 query=[("partNumber", "1"), ("uploadId", upload_id)])
    assert logged_status(server, "UploadPart", bucket, "mp", since=mark) == 400
    assert _settled(server, before)
    assert "Parts" not in s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)
    s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"retry")
    assert len(s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)["Parts"]) == 1


def test_client_vanishing_mid_download_leaves_the_server_serving(server, s3, bucket: str) -> None:
    data = os.urandom(3 * MiB)
    s3.put_object(Bucket=bucket, Key="k", Body=data)
    signed = sign_v4(server, "GET", f"/{bucket}/k", payload_hash=hashlib.sha256(b"").hexdigest())
    for _ in range(3):
        sock = open_socket(server)
        sock.sendall(request_head(server, "GET", request_target(f"/{bucket}/k"), signed.headers))
        status, _ = read_head(sock)
        assert status == 200
        sock.recv(1000)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == data


def test_aws_chunked_body_without_its_final_chunk_stores_nothing(server, s3, bucket: str,
                                                                 untouched: None) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    data = os.urandom(200_000)
    body = b"%x\r\n%s\r\n" % (len(data), data)  # the terminating 0-size chunk never comes
    headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data))}
    before = fragment_files(server)
    response = send(server, "PUT", f"/{bucket}/k", headers=headers, body=body,
                    payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    assert response.status == 400
    assert response.error_code == "IncompleteBody"
    assert _settled(server, before)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"old"


def test_body_longer_than_decoded_length_is_refused(server, s3, bucket: str) -> None:
    data = os.urandom(20_000)
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data)
    headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data) - 1)}
    response = send(server, "PUT", f"/{bucket}/k", headers=headers, body=body,
                    payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    assert response.status == 400
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bucket, Key="k")


# --- keys -------------------------------------------------------------------------------------


_PATH_KEYS = [
    "../../etc/passwd",
    "../x",
    "..",
    ".",
    "./",
    "a/./b",
    "a/../b",
    "a//b",
    "//double-leading",
    "%2F",
    "%2e%2e%2fescape",
    "back\\slash\\..\\..\\x",
    "ünïcødé/日本語/🎉",
    "drives/drive-1/fragments/evil",
]


def test_path_like_keys_are_plain_names(server, s3, bucket: str, untouched: None) -> None:
    for key in _PATH_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode("utf-8"))
    for key in _PATH_KEYS:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode("utf-8"), key
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(_PATH_KEYS, key=lambda k: k.encode())
    for key in _PATH_KEYS:
        s3.delete_object(Bucket=bucket, Key=key)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_a_key_with_nul_is_invalid_and_stores_nothing(server, s3, bucket: str, untouched: None) -> None:
    # Neither metadata backend can keep NUL in a key byte for byte (Postgres
    # text cannot hold it), so such a key is refused up front, everywhere.
    expect_error("InvalidArgument", 400, s3.put_object, Bucket=bucket, Key="nul\x00byte", Body=b"x")
    expect_error("InvalidArgument", 400, s3.get_object, Bucket=bucket, Key="nul\x00byte")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_raw_dot_segments_are_not_normalized(server, s3, bucket: str, untouched: None) -> None:
    # Sent as is on the wire; the key is exactly what follows the bucket, decoded once.
    for raw, key in (("/../../etc/passwd", "../../etc/passwd"), ("/a/./b/../c", "a/./b/../c"),
                     ("/a%2Fb", "a/b"), ("/x%2F..%2F..", "x/../.."), ("/%2E%2E/%2e", "../.")):
        response = send(server, "PUT", f"/{bucket}/{key}", raw_target=f"/{bucket}{raw}", body=b"raw")
        assert response.status == 200, raw
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"raw"
    # A path that climbs out of the bucket still names a key in it.
    climbing = send(server, "GET", f"/{bucket}/../other/x", raw_target=f"/{bucket}/../other/x")
    assert climbing.status == 404
    assert climbing.error()["Key"] == "../other/x"


def test_key_of_1024_bytes_is_allowed_and_1025_is_too_long(server, s3, bucket: str, untouched: None) -> None:
    for key in ("k" * 1024, "é" * 512, "🎉" * 256):
        assert len(key.encode()) == 1024
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == 1
    for key in ("k" * 1025, "é" * 513, "🎉" * 256 + "k"):
        expect_error("KeyTooLongError", 400, s3.put_object, Bucket=bucket, Key=key, Body=b"x")
        expect_error("KeyTooLongError", 400, s3.create_multipart_upload, Bucket=bucket, Key=key)
        expect_error("KeyTooLongError", 400, s3.copy_object, Bucket=bucket, Key=key,
                     CopySource={"Bucket": bucket, "Key": "k" * 1024})
    assert len(s3.list_objects_v2(Bucket=bucket)["Contents"]) == 3
