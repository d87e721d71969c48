"""Flexible checksums ("Checking object integrity in Amazon S3"): CRC32,
CRC32C, CRC64NVME, SHA1 and SHA256 sent in an ``x-amz-checksum-*`` header or
in an aws-chunked trailer; a value that does not match the body is 400
BadDigest and stores nothing; GET and HEAD return the checksum with
``x-amz-checksum-mode: ENABLED``; a multipart COMPOSITE checksum is the
checksum of the parts' checksums followed by ``-<part count>``."""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Callable

from awscrt import checksums as crt

from conformance import raw_http
from conformance.context import CheckContext
from conformance.expect import expect, expect_equal, expect_error
from conformance.payload import MiB, random_bytes
from conformance.registry import check
from conformance.sigv4 import object_path, sign_headers

DIGESTS: dict[str, Callable[[bytes], bytes]] = {
    "CRC32": lambda data: zlib.crc32(data).to_bytes(4, "big"),
    "CRC32C": lambda data: crt.crc32c(data).to_bytes(4, "big"),
    "CRC64NVME": lambda data: crt.crc64nvme(data).to_bytes(8, "big"),
    "SHA1": lambda data: hashlib.sha1(data).digest(),
    "SHA256": lambda data: hashlib.sha256(data).digest(),
}


def checksum(algorithm: str, data: bytes) -> str:
    """The base64 value S3 reports for ``data`` under ``algorithm``."""
    return base64.b64encode(DIGESTS[algorithm](data)).decode()


def _trailer_put(ctx: CheckContext, bucket: str, key: str, data: bytes, algorithm: str,
                 value: str) -> raw_http.RawResponse:
    """PutObject with an unsigned aws-chunked body whose checksum comes in a trailer
    (STREAMING-UNSIGNED-PAYLOAD-TRAILER, as the AWS SDKs send it)."""
    name = f"x-amz-checksum-{algorithm.lower()}"
    chunk = 64 * 1024
    body = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + chunk]), data[i:i + chunk]) for i in range(0, len(data), chunk))
    body += b"0\r\n" + f"{name}:{value}\r\n\r\n".encode()
    path = object_path(bucket, key)
    headers = sign_headers(ctx.endpoint, ctx.endpoint.root, "PUT", path, {
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
        "x-amz-trailer": name,
        "content-length": str(len(body)),
    }, "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    headers.pop("content-length")
    return raw_http.send(ctx.endpoint, "PUT", path, headers, body)


@check("PutObject", "checksum headers (CRC32, CRC32C, CRC64NVME, SHA1, SHA256) stored and returned")
def _checksum_headers(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    data = random_bytes(100_000, 20)
    for algorithm in DIGESTS:
        value = checksum(algorithm, data)
        put = ctx.s3.put_object(Bucket=bucket, Key=algorithm, Body=data, **{f"Checksum{algorithm}": value})
        expect_equal(put.get(f"Checksum{algorithm}"), value, f"PutObject {algorithm}")
        got = ctx.s3.get_object(Bucket=bucket, Key=algorithm, ChecksumMode="ENABLED")
        expect_equal(got["Body"].read() == data, True, f"{algorithm} object bytes intact")
        expect_equal(got.get(f"Checksum{algorithm}"), value, f"GetObject {algorithm}")
        head = ctx.s3.head_object(Bucket=bucket, Key=algorithm, ChecksumMode="ENABLED")
        expect_equal(head.get(f"Checksum{algorithm}"), value, f"HeadObject {algorithm}")


@check("PutObject", "checksum header that does not match: 400 BadDigest, nothing stored")
def _checksum_header_mismatch(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    for algorithm in DIGESTS:
        expect_error("BadDigest", 400, ctx.s3.put_object, Bucket=bucket, Key=algorithm, Body=b"the body",
                     **{f"Checksum{algorithm}": checksum(algorithm, b"another body")})
    expect_equal(ctx.s3.list_objects_v2(Bucket=bucket)["KeyCount"], 0, "objects stored")


@check("PutObject", "checksum in an aws-chunked trailer (unsigned payload) stored and returned")
def _checksum_trailer(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    data = random_bytes(300_000, 21)
    for algorithm in ("CRC32", "CRC32C", "SHA256"):
        value = checksum(algorithm, data)
        response = _trailer_put(ctx, bucket, algorithm, data, algorithm, value)
        expect_equal(response.status, 200, f"{algorithm} trailer PUT ({response.body[:200]!r})")
        got = ctx.s3.get_object(Bucket=bucket, Key=algorithm, ChecksumMode="ENABLED")
        expect_equal(got["Body"].read() == data, True, f"{algorithm}: stored bytes are the decoded body")
        expect_equal(got.get(f"Checksum{algorithm}"), value, f"GetObject {algorithm}")


@check("PutObject", "trailer checksum that does not match: 400 BadDigest, nothing stored")
def _checksum_trailer_mismatch(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    response = _trailer_put(ctx, bucket, "k", b"the body" * 1000, "CRC32", checksum("CRC32", b"other"))
    expect_equal((response.status, response.error_code), (400, "BadDigest"), "response")
    expect_error("NoSuchKey", 404, ctx.s3.get_object, Bucket=bucket, Key="k")


@check("PutObject", "boto3's default checksum is stored and returned")
def _checksum_default(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    data = random_bytes(10_000, 22)
    put = ctx.s3.put_object(Bucket=bucket, Key="k", Body=data)
    sent = [a for a in DIGESTS if f"Checksum{a}" in put]
    expect(sent, "PutObject response carries no checksum (boto3 sends CRC32 by default)")
    got = ctx.s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    for algorithm in sent:
        expect_equal(got.get(f"Checksum{algorithm}"), checksum(algorithm, data), f"GetObject {algorithm}")


@check("CompleteMultipartUpload", "COMPOSITE CRC32 checksum: checksum of the part checksums, -N")
def _checksum_composite(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    parts = [random_bytes(5 * MiB, 23), random_bytes(777, 24)]
    upload_id = ctx.s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32")["UploadId"]
    done = []
    for number, data in enumerate(parts, 1):
        part = ctx.s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=number, Body=data,
                                  ChecksumCRC32=checksum("CRC32", data))
        expect_equal(part.get("ChecksumCRC32"), checksum("CRC32", data), f"part {number} checksum")
        done.append({"PartNumber": number, "ETag": part["ETag"], "ChecksumCRC32": part["ChecksumCRC32"]})
    result = ctx.s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                              MultipartUpload={"Parts": done})
    joined = b"".join(DIGESTS["CRC32"](p) for p in parts)
    expected = f"{base64.b64encode(DIGESTS['CRC32'](joined)).decode()}-{len(parts)}"
    expect_equal(result.get("ChecksumCRC32"), expected, "CompleteMultipartUpload ChecksumCRC32")
    head = ctx.s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    expect_equal(head.get("ChecksumCRC32"), expected, "HeadObject ChecksumCRC32")
