"""Authentication against a live server: SigV4 in the header and presigned,
SigV2 in the header and presigned, wrong and unknown credentials, anonymous
requests, clock skew, x-amz-content-sha256, and aws-chunked uploads with
chunk signatures (Content-Length or HTTP chunked with Expect: 100-continue).

Expected behaviour is AWS's, from the S3 API reference ("Authenticating
Requests (AWS Signature Version 4)", "Signature Calculations for the
Authorization Header: Transferring Payload in Multiple Chunks", "Authenticating
Requests: Using Query Parameters", "Signing and Authenticating REST Requests"
for SigV2, and "Error responses").
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import hmac
import os
import sys
import types
import urllib.parse
from collections.abc import Iterator
from unittest import mock

import pytest
from botocore import UNSIGNED

from tests.e2e.conftest import (
    SignedHeaders,
    expect_error,
    http_chunked,
    make_client,
    open_socket,
    read_head,
    read_response,
    request_head,
    request_target,
    send,
    send_url,
    sign_v4,
)
from tests.e2e.server_process import ROOT_ACCESS_KEY, ROOT_SECRET_KEY

STREAMING = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@contextlib.contextmanager
def _clock(offset: datetime.timedelta) -> Iterator[None]:
    """botocore's signers (its own and, when awscrt is installed, the CRT ones)
    see a clock ``offset`` away from the real one."""

    def now(remove_tzinfo: bool = True) -> datetime.datetime:
        moment = _utc_now() + offset
        return moment.replace(tzinfo=None) if remove_tzinfo else moment

    with contextlib.ExitStack() as stack:
        for module in ("botocore.auth", "botocore.crt.auth"):
            if module in sys.modules:
                stack.enter_context(mock.patch(f"{module}.get_current_datetime", now))
        yield


def _flip(signature: str) -> str:
    """``signature`` with its last hex digit changed."""
    return signature[:-1] + ("0" if signature[-1] != "0" else "1")


# --- SigV4 -----------------------------------------------------------------------------


def test_sigv4_header_signed_requests(server, s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"hello")
    response = send(server, "GET", f"/{bucket}/k")
    assert response.status == 200
    assert response.body == b"hello"
    put = send(server, "PUT", f"/{bucket}/raw", body=b"signed body")
    assert put.status == 200
    assert s3.get_object(Bucket=bucket, Key="raw")["Body"].read() == b"signed body"


def test_wrong_secret_is_signature_does_not_match(server, bucket: str) -> None:
    client = make_client(server, ROOT_ACCESS_KEY, "not-the-secret", retries={"max_attempts": 1})
    error = expect_error("SignatureDoesNotMatch", 403, client.put_object, Bucket=bucket, Key="k", Body=b"x")
    assert error["Error"]["AWSAccessKeyId"] == ROOT_ACCESS_KEY
    assert error["Error"]["StringToSign"].startswith("AWS4-HMAC-SHA256\n")
    expect_error("SignatureDoesNotMatch", 403, client.list_buckets)
    expect_error("NoSuchKey", 404, make_client(server).get_object, Bucket=bucket, Key="k")


def test_unknown_access_key_is_invalid_access_key_id(server, bucket: str) -> None:
    client = make_client(server, "ODUNKNOWNACCESSKEY00", ROOT_SECRET_KEY, retries={"max_attempts": 1})
    error = expect_error("InvalidAccessKeyId", 403, client.list_objects_v2, Bucket=bucket)
    assert error["Error"]["AWSAccessKeyId"] == "ODUNKNOWNACCESSKEY00"
    expect_error("InvalidAccessKeyId", 403, client.list_buckets)


def test_anonymous_requests_are_access_denied(server, s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"private")
    anonymous = make_client(server, signature_version=UNSIGNED, retries={"max_attempts": 1})
    expect_error("AccessDenied", 403, anonymous.list_buckets)
    expect_error("AccessDenied", 403, anonymous.get_object, Bucket=bucket, Key="k")
    expect_error("AccessDenied", 403, anonymous.list_objects_v2, Bucket=bucket)
    expect_error("AccessDenied", 403, anonymous.put_object, Bucket=bucket, Key="new", Body=b"x")
    expect_error("AccessDenied", 403, anonymous.delete_object, Bucket=bucket, Key="k")
    raw = send(server, "GET", f"/{bucket}/k", sign=False)
    assert raw.status == 403 and raw.error_code == "AccessDenied"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]


def test_clock_skew_over_15_minutes_is_refused(http_server, http_bucket: str) -> None:
    client = make_client(http_server, retries={"max_attempts": 1})
    for offset in (datetime.timedelta(minutes=-20), datetime.timedelta(minutes=20)):
        with _clock(offset):
            error = expect_error("RequestTimeTooSkewed", 403, client.put_object, Bucket=http_bucket, Key="k",
                                 Body=b"x")
        assert error["Error"]["RequestTime"]
        assert error["Error"]["ServerTime"]
    expect_error("NoSuchKey", 404, client.get_object, Bucket=http_bucket, Key="k")
    # Within the window the request stands.
    with _clock(datetime.timedelta(minutes=-10)):
        client.put_object(Bucket=http_bucket, Key="k", Body=b"x")
    assert client.get_object(Bucket=http_bucket, Key="k")["Body"].read() == b"x"


def test_content_sha256_mismatch(server, s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"original")
    response = send(server, "PUT", f"/{bucket}/k", body=b"tampered",
                    payload_hash=hashlib.sha256(b"intended").hexdigest())
    assert response.status == 400
    assert response.error_code == "XAmzContentSHA256Mismatch"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"original"


def test_unsigned_amz_header_is_access_denied(http_server, http_bucket: str) -> None:
    response = send(http_server, "PUT", f"/{http_bucket}/k", body=b"x",
                    unsigned_headers={"x-amz-meta-sneaky": "1"})
    assert response.status == 403
    assert response.error_code == "AccessDenied"


# --- presigned SigV4 ----------------------------------------------------------------------


def test_presigned_get_and_put(server, bucket: str) -> None:
    s3 = make_client(server, signature_version="s3v4")
    data = os.urandom(70_000)
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "via/url"}, ExpiresIn=300)
    assert "X-Amz-Signature=" in put_url
    put = send_url(server, "PUT", put_url, body=data)
    assert put.status == 200, put.body
    assert put.headers["etag"] == f'"{hashlib.md5(data).hexdigest()}"'
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "via/url"}, ExpiresIn=300)
    got = send_url(server, "GET", get_url)
    assert got.status == 200
    assert got.body == data


@pytest.mark.parametrize("signature_version", ["s3v4", "s3"])
def test_presigned_urls_for_keys_that_need_encoding(server, bucket: str, signature_version: str) -> None:
    client = make_client(server, signature_version=signature_version)
    key = "dir one/ünï+code~*'()!$&=;:@,?#[]"
    put_url = client.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": key})
    assert send_url(server, "PUT", put_url, body=b"encoded").status == 200
    get_url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key})
    got = send_url(server, "GET", get_url)
    assert got.status == 200
    assert got.body == b"encoded"
    assert make_client(server).get_object(Bucket=bucket, Key=key)["Body"].read() == b"encoded"


def test_presigned_get_with_response_overrides(http_server, http_bucket: str) -> None:
    http_s3 = make_client(http_server, signature_version="s3v4")
    http_s3.put_object(Bucket=http_bucket, Key="k", Body=b"x")
    url = http_s3.generate_presigned_url("get_object", Params={
        "Bucket": http_bucket, "Key": "k", "ResponseContentDisposition": 'attachment; filename="a b.txt"'})
    got = send_url(http_server, "GET", url)
    assert got.status == 200
    assert got.headers["content-disposition"] == 'attachment; filename="a b.txt"'


def test_expired_presigned_url_is_access_denied(server, bucket: str) -> None:
    s3 = make_client(server, signature_version="s3v4")
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    params = {"Bucket": bucket, "Key": "k"}
    with _clock(datetime.timedelta(hours=-2)):
        expired = s3.generate_presigned_url("get_object", Params=params, ExpiresIn=3600)
    response = send_url(server, "GET", expired)
    assert response.status == 403
    assert response.error_code == "AccessDenied"
    assert "expired" in response.error()["Message"].lower()
    with _clock(datetime.timedelta(minutes=-30)):
        still_valid = s3.generate_presigned_url("get_object", Params=params, ExpiresIn=3600)
    assert send_url(server, "GET", still_valid).body == b"x"


def test_presigned_url_valid_for_more_than_seven_days_is_refused(server, bucket: str) -> None:
    client = make_client(server, signature_version="s3v4")
    client.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"},
                                        ExpiresIn=7 * 24 * 3600 + 1)
    response = send_url(server, "GET", url)
    assert response.status == 400
    assert response.error_code == "AuthorizationQueryParametersError"
    longest = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"},
                                            ExpiresIn=7 * 24 * 3600)
    assert send_url(server, "GET", longest).body == b"x"


def _replace_query(url: str, name: str, value: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = [(k, value if k == name else v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query, quote_via=urllib.parse.quote)))


def test_tampered_presigned_url_is_signature_does_not_match(server, bucket: str) -> None:
    s3 = make_client(server, signature_version="s3v4")
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=300)
    signature = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["X-Amz-Signature"][0]
    for tampered in (
        _replace_query(url, "X-Amz-Signature", _flip(signature)),
        _replace_query(url, "X-Amz-Expires", "600"),
        url.replace(f"/{bucket}/k?", f"/{bucket}/other?"),
    ):
        response = send_url(server, "GET", tampered)
        assert response.status == 403, tampered
        assert response.error_code == "SignatureDoesNotMatch"


def test_presigned_put_cannot_be_used_for_another_key(server, bucket: str) -> None:
    s3 = make_client(server, signature_version="s3v4")
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "allowed"}, ExpiresIn=300)
    response = send_url(server, "PUT", url.replace(f"/{bucket}/allowed?", f"/{bucket}/elsewhere?"), body=b"x")
    assert response.status == 403
    assert response.error_code == "SignatureDoesNotMatch"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


# --- SigV2 ------------------------------------------------------------------------------


def test_sigv2_header_signed_requests(server, bucket: str) -> None:
    client = make_client(server, signature_version="s3")
    data = os.urandom(40_000)
    key = "v2/ünï code+plus"
    client.put_object(Bucket=bucket, Key=key, Body=data, Metadata={"signed": "v2"}, ContentType="text/x-v2")
    got = client.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == data
    assert got["Metadata"] == {"signed": "v2"}
    assert [o["Key"] for o in client.list_objects(Bucket=bucket)["Contents"]] == [key]
    # Sub-resources are signed too.
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    part = client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"v2 part")
    client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert client.get_object(Bucket=bucket, Key=key, Range="bytes=3-6")["Body"].read() == b"part"
    client.delete_object(Bucket=bucket, Key=key)
    wrong = make_client(server, ROOT_ACCESS_KEY, "wrong-secret", signature_version="s3",
                        retries={"max_attempts": 1})
    expect_error("SignatureDoesNotMatch", 403, wrong.list_objects, Bucket=bucket)
    unknown = make_client(server, "ODUNKNOWNACCESSKEY00", ROOT_SECRET_KEY, signature_version="s3",
                          retries={"max_attempts": 1})
    expect_error("InvalidAccessKeyId", 403, unknown.list_objects, Bucket=bucket)


def test_sigv2_presigned_url(server, s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="shared file", Body=b"v2 presigned")
    client = make_client(server, signature_version="s3")
    url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared file"},
                                        ExpiresIn=300)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert set(query) == {"AWSAccessKeyId", "Signature", "Expires"}
    got = send_url(server, "GET", url)
    assert got.status == 200
    assert got.body == b"v2 presigned"
    tampered = _replace_query(url, "Expires", str(int(query["Expires"][0]) + 60))
    response = send_url(server, "GET", tampered)
    assert response.status == 403
    assert response.error_code == "SignatureDoesNotMatch"


def test_expired_sigv2_presigned_url_is_access_denied(server, s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    client = make_client(server, signature_version="s3")
    past = types.SimpleNamespace(time=lambda: datetime.datetime.now().timestamp() - 7200)
    with mock.patch("botocore.auth.time", past):
        url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=3600)
    response = send_url(server, "GET", url)
    assert response.status == 403
    assert response.error_code == "AccessDenied"


# --- aws-chunked uploads with chunk signatures ----------------------------------------------


def _chunk_signature(signed: SignedHeaders, previous: str, data: bytes) -> str:
    """The signature of one chunk, per "Transferring Payload in Multiple Chunks"."""
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256-PAYLOAD", signed.amz_date, signed.scope, previous, EMPTY_SHA256,
         hashlib.sha256(data).hexdigest()]
    )
    return hmac.new(signed.signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def _aws_chunked(signed: SignedHeaders, chunks: list[bytes], *, bad_signature: int | None = None,
                 bad_data: int | None = None) -> bytes:
    """``chunks`` (and the final empty chunk) framed and signed in a chain
    seeded by the request signature; optionally with one chunk's signature or
    data tampered with."""
    out = []
    previous = signed.signature
    for index, data in enumerate([*chunks, b""]):
        signature = _chunk_signature(signed, previous, data)
        previous = signature
        if index == bad_signature:
            signature = _flip(signature)
        if index == bad_data:
            data = bytes([data[0] ^ 1]) + data[1:]
        out.append(b"%x;chunk-signature=%s\r\n%s\r\n" % (len(data), signature.encode(), data))
    return b"".join(out)


def _streaming_headers(server, path: str, size: int, extra: dict[str, str] | None = None) -> SignedHeaders:
    headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(size)}
    headers.update(extra or {})
    return sign_v4(server, "PUT", path, headers=headers, payload_hash=STREAMING)


_CHUNKS = [os.urandom(64 * 1024), os.urandom(64 * 1024), os.urandom(1000)]


def test_chunk_signed_upload(server, s3, bucket: str) -> None:
    path = f"/{bucket}/chunked"
    signed = _streaming_headers(server, path, sum(map(len, _CHUNKS)), {"content-type": "text/plain"})
    response = send(server, "PUT", path, headers=signed.headers, body=_aws_chunked(signed, _CHUNKS), sign=False)
    assert response.status == 200, response.body
    data = b"".join(_CHUNKS)
    assert response.headers["etag"] == f'"{hashlib.md5(data).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="chunked")
    assert got["Body"].read() == data
    # aws-chunked frames the request only; it is not stored as a content coding.
    assert "ContentEncoding" not in got
    assert got["ContentType"] == "text/plain"


@pytest.mark.parametrize("tamper", [{"bad_signature": 1}, {"bad_signature": 3}, {"bad_data": 0}, {"bad_data": 2}])
def test_tampered_chunk_is_signature_does_not_match(server, s3, bucket: str, tamper: dict[str, int]) -> None:
    s3.put_object(Bucket=bucket, Key="chunked", Body=b"previous")
    path = f"/{bucket}/chunked"
    signed = _streaming_headers(server, path, sum(map(len, _CHUNKS)))
    response = send(server, "PUT", path, headers=signed.headers, sign=False,
                    body=_aws_chunked(signed, _CHUNKS, **tamper))
    assert response.status == 403
    assert response.error_code == "SignatureDoesNotMatch"
    assert s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == b"previous"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["chunked"]


def test_chunk_signed_upload_as_a_part(server, s3, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    path = f"/{bucket}/mp"
    query = [("partNumber", "1"), ("uploadId", upload_id)]
    headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(sum(map(len, _CHUNKS)))}
    signed = sign_v4(server, "PUT", path, query=query, headers=headers, payload_hash=STREAMING)
    response = send(server, "PUT", path, query=query, headers=signed.headers, sign=False,
                    body=_aws_chunked(signed, _CHUNKS))
    assert response.status == 200, response.body
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": response.headers["etag"]}]})
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"".join(_CHUNKS)


def test_chunked_transfer_with_expect_continue_and_no_content_length(server, s3, bucket: str) -> None:
    path = f"/{bucket}/streamed"
    signed = _streaming_headers(server, path, sum(map(len, _CHUNKS)))
    body = _aws_chunked(signed, _CHUNKS)
    headers = {**signed.headers, "Transfer-Encoding": "chunked", "Expect": "100-continue"}
    with open_socket(server) as sock:
        sock.sendall(request_head(server, "PUT", request_target(path), headers))
        status, _ = read_head(sock)
        # The server asks for the body only once the request is accepted.
        assert status == 100
        sock.sendall(http_chunked(body))
        response = read_response(sock, "PUT")
    assert response.status == 200, response.body
    assert s3.get_object(Bucket=bucket, Key="streamed")["Body"].read() == b"".join(_CHUNKS)


def test_expect_continue_refused_before_the_body_is_sent(server, s3, bucket: str) -> None:
    path = f"/{bucket}/refused"
    signed = sign_v4(server, "PUT", path, headers={"content-encoding": "aws-chunked",
                                                    "x-amz-decoded-content-length": "1000"},
                     payload_hash=STREAMING, secret_key="wrong-secret")
    headers = {**signed.headers, "Content-Length": "1100", "Expect": "100-continue"}
    with open_socket(server) as sock:
        sock.sendall(request_head(server, "PUT", request_target(path), headers))
        status, response_headers = read_head(sock)
        assert status == 403
        assert response_headers["x-amz-request-id"]
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bucket, Key="refused")
