"""Signed streaming uploads ("Signature Calculations for the Authorization
Header: Transferring Payload in Multiple Chunks" and "... Including
Trailing Headers"): an aws-chunked body whose every chunk is signed, chained
from the header signature, optionally ending in a signed checksum trailer;
a chunk whose signature does not verify is 403 SignatureDoesNotMatch and
stores nothing."""

from __future__ import annotations

from conformance import raw_http
from conformance.checks_checksums import checksum
from conformance.context import CheckContext
from conformance.expect import expect_equal, expect_error
from conformance.payload import random_bytes
from conformance.registry import check
from conformance.sigv4 import object_path, seed_of, sign_headers, signed_chunks

CHUNK = 64 * 1024


def _streaming_put(ctx: CheckContext, bucket: str, key: str, data: bytes, trailer: tuple[str, str] | None = None,
                   corrupt: bool = False) -> raw_http.RawResponse:
    payload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" + ("-TRAILER" if trailer else "")
    headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data))}
    if trailer:
        headers["x-amz-trailer"] = trailer[0]
    # The encoded length is known before signing: frame once with a dummy seed to measure it.
    path = object_path(bucket, key)
    probe = sign_headers(ctx.endpoint, ctx.endpoint.root, "PUT", path, headers, payload)
    headers["content-length"] = str(len(signed_chunks(seed_of(probe, ctx.endpoint.root.secret_key,
                                                              ctx.endpoint.region), data, CHUNK, trailer)))
    signed = sign_headers(ctx.endpoint, ctx.endpoint.root, "PUT", path, headers, payload)
    body = signed_chunks(seed_of(signed, ctx.endpoint.root.secret_key, ctx.endpoint.region), data, CHUNK, trailer)
    if corrupt:
        # Flip one payload byte of the second chunk: its signature no longer verifies.
        at = body.index(b"\r\n", body.index(b"\r\n") + 2 + CHUNK + 2) + 2 + 10
        body = body[:at] + bytes([body[at] ^ 1]) + body[at + 1:]
    signed.pop("content-length")
    return raw_http.send(ctx.endpoint, "PUT", path, signed, body)


@check("PutObject", "aws-chunked with chunk signatures (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)")
def _streaming_signed(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    data = random_bytes(3 * CHUNK + 1000, 120)
    response = _streaming_put(ctx, bucket, "k", data)
    expect_equal(response.status, 200, f"status ({response.describe()})")
    expect_equal(ctx.s3.get_object(Bucket=bucket, Key="k")["Body"].read() == data, True, "stored bytes equal")


@check("PutObject", "aws-chunked with chunk signatures and a signed checksum trailer")
def _streaming_signed_trailer(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    data = random_bytes(2 * CHUNK + 77, 121)
    value = checksum("CRC32C", data)
    response = _streaming_put(ctx, bucket, "k", data, ("x-amz-checksum-crc32c", value))
    expect_equal(response.status, 200, f"status ({response.describe()})")
    got = ctx.s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    expect_equal(got["Body"].read() == data, True, "stored bytes equal")
    expect_equal(got.get("ChecksumCRC32C"), value, "GetObject ChecksumCRC32C")


@check("PutObject", "a chunk whose signature does not verify: 403 SignatureDoesNotMatch, nothing stored")
def _streaming_bad_chunk(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    response = _streaming_put(ctx, bucket, "k", random_bytes(3 * CHUNK, 122), corrupt=True)
    expect_equal((response.status, response.error_code), (403, "SignatureDoesNotMatch"), "response")
    expect_error("NoSuchKey", 404, ctx.s3.get_object, Bucket=bucket, Key="k")
