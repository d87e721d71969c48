"""Integrity checks against a live server: flexible checksums (CRC32, CRC32C,
CRC64NVME, SHA1, SHA256) on PutObject and UploadPart, sent by boto3 in a
header (HTTP) or an aws-chunked trailer (HTTPS); Content-MD5; checksums
returned by GET/HEAD with ChecksumMode=ENABLED; multipart COMPOSITE and
FULL_OBJECT checksums; boto3's default transfers.

Expected behaviour is AWS's, from "Checking object integrity in Amazon S3"
and the S3 API reference: a checksum or Content-MD5 that does not match the
body is BadDigest, a Content-MD5 that is not base64 of 16 bytes is
InvalidDigest, and nothing is stored in either case; a COMPOSITE checksum is
the checksum of the concatenated part checksums followed by ``-<parts>``; a
FULL_OBJECT checksum is the CRC of the whole object.
"""

from __future__ import annotations

import base64
import hashlib
import os
import zlib
from collections.abc import Callable

import pytest
from awscrt import checksums as crt

from tests.e2e.conftest import expect_error, make_client, send

MiB = 1024 * 1024


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


DIGESTS: dict[str, Callable[[bytes], bytes]] = {
    "CRC32": lambda data: zlib.crc32(data).to_bytes(4, "big"),
    "CRC32C": lambda data: crt.crc32c(data).to_bytes(4, "big"),
    "CRC64NVME": lambda data: crt.crc64nvme(data).to_bytes(8, "big"),
    "SHA1": lambda data: hashlib.sha1(data).digest(),
    "SHA256": lambda data: hashlib.sha256(data).digest(),
}


def checksum(algorithm: str, data: bytes) -> str:
    """The base64 checksum S3 reports for ``data``."""
    return _b64(DIGESTS[algorithm](data))


def composite(algorithm: str, parts: list[bytes]) -> str:
    """A multipart COMPOSITE checksum: over the parts' raw checksums, then ``-N``."""
    joined = b"".join(DIGESTS[algorithm](part) for part in parts)
    return f"{_b64(DIGESTS[algorithm](joined))}-{len(parts)}"


ALGORITHMS = list(DIGESTS)


# --- single PUT ----------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_put_object_with_each_algorithm(s3, bucket: str, algorithm: str) -> None:
    data = os.urandom(100_000)
    expected = checksum(algorithm, data)
    put = s3.put_object(Bucket=bucket, Key="k", Body=data, ChecksumAlgorithm=algorithm)
    assert put[f"Checksum{algorithm}"] == expected
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got[f"Checksum{algorithm}"] == expected
    assert got["ChecksumType"] == "FULL_OBJECT"
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == expected
    # Without ChecksumMode the checksum is not sent.
    plain = s3.head_object(Bucket=bucket, Key="k")
    assert f"Checksum{algorithm}" not in plain


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_wrong_checksum_value_is_bad_digest(s3, bucket: str, algorithm: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"original")
    wrong = checksum(algorithm, b"something else")
    expect_error("BadDigest", 400, s3.put_object, Bucket=bucket, Key="k", Body=os.urandom(50_000),
                 **{f"Checksum{algorithm}": wrong})
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"original"


def test_malformed_checksum_value_is_invalid_request(http_server, http_bucket: str) -> None:
    for value in ("not base64!", _b64(b"\x00" * 5)):
        response = send(http_server, "PUT", f"/{http_bucket}/k", body=b"data",
                        headers={"x-amz-checksum-crc32": value})
        assert response.status == 400, value
        assert response.error_code == "InvalidRequest"


def _trailer_upload(server, path: str, data: bytes, trailer_value: str,
                    name: str = "x-amz-checksum-crc32"):  # type: ignore[no-untyped-def]
    """An unsigned-payload aws-chunked upload carrying its checksum in a trailer."""
    body = b"%x\r\n%s\r\n0\r\n%s:%s\r\n\r\n" % (len(data), data, name.encode(), trailer_value.encode())
    headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
               "x-amz-trailer": name}
    return send(server, "PUT", path, headers=headers, body=body, payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")


def test_trailer_checksum(server, s3, bucket: str) -> None:
    data = os.urandom(20_000)
    good = _trailer_upload(server, f"/{bucket}/k", data, checksum("CRC32", data))
    assert good.status == 200, good.body
    assert good.headers["x-amz-checksum-crc32"] == checksum("CRC32", data)
    bad = _trailer_upload(server, f"/{bucket}/k", os.urandom(20_000), checksum("CRC32", b"other"))
    assert bad.status == 400
    assert bad.error_code == "BadDigest"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == data


def test_trailer_checksum_sha256(server, s3, bucket: str) -> None:
    data = os.urandom(10_000)
    response = _trailer_upload(server, f"/{bucket}/k", data, checksum("SHA256", data), "x-amz-checksum-sha256")
    assert response.status == 200, response.body
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == checksum("SHA256", data)


# --- Content-MD5 -------------------------------------------------------------------------


def test_content_md5(s3, bucket: str) -> None:
    data = os.urandom(60_000)
    good = _b64(hashlib.md5(data).digest())
    assert s3.put_object(Bucket=bucket, Key="k", Body=data, ContentMD5=good)["ETag"] == (
        f'"{hashlib.md5(data).hexdigest()}"')
    wrong = _b64(hashlib.md5(b"other").digest())
    expect_error("BadDigest", 400, s3.put_object, Bucket=bucket, Key="k", Body=os.urandom(60_000), ContentMD5=wrong)
    for malformed in ("not-base64!!", _b64(b"short"), _b64(os.urandom(20))):
        expect_error("InvalidDigest", 400, s3.put_object, Bucket=bucket, Key="k", Body=b"x", ContentMD5=malformed)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == data


def test_content_md5_on_upload_part(s3, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    expect_error("BadDigest", 400, s3.upload_part, Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1,
                 Body=b"part", ContentMD5=_b64(hashlib.md5(b"other").digest()))
    assert "Parts" not in s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)
    s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"part",
                   ContentMD5=_b64(hashlib.md5(b"part").digest()))


# --- multipart ---------------------------------------------------------------------------


def _multipart(client, bucket: str, key: str, algorithm: str, parts: list[bytes],
               checksum_type: str | None = None) -> tuple[str, list[dict]]:
    create = {"ChecksumAlgorithm": algorithm}
    if checksum_type:
        create["ChecksumType"] = checksum_type
    started = client.create_multipart_upload(Bucket=bucket, Key=key, **create)
    assert started["ChecksumAlgorithm"] == algorithm
    upload_id = started["UploadId"]
    done = []
    for number, data in enumerate(parts, start=1):
        answer = client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data,
                                    ChecksumAlgorithm=algorithm)
        assert answer[f"Checksum{algorithm}"] == checksum(algorithm, data)
        done.append({"PartNumber": number, "ETag": answer["ETag"], f"Checksum{algorithm}": answer[f"Checksum{algorithm}"]})
    return upload_id, done


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_multipart_composite_checksum(s3, bucket: str, algorithm: str) -> None:
    parts = [os.urandom(5 * MiB), os.urandom(1000)]
    upload_id, done = _multipart(s3, bucket, "k", algorithm, parts)
    listed = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)
    assert listed["ChecksumAlgorithm"] == algorithm
    assert [p[f"Checksum{algorithm}"] for p in listed["Parts"]] == [checksum(algorithm, p) for p in parts]
    answer = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                          MultipartUpload={"Parts": done})
    expected = composite(algorithm, parts)
    assert answer[f"Checksum{algorithm}"] == expected
    assert answer["ChecksumType"] == "COMPOSITE"
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == expected
    assert head["ChecksumType"] == "COMPOSITE"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"".join(parts)


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME"])
def test_multipart_full_object_checksum(s3, bucket: str, algorithm: str) -> None:
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB + 3), os.urandom(777)]
    upload_id, done = _multipart(s3, bucket, "k", algorithm, parts, "FULL_OBJECT")
    whole = checksum(algorithm, b"".join(parts))
    answer = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                          MultipartUpload={"Parts": done}, ChecksumType="FULL_OBJECT",
                                          **{f"Checksum{algorithm}": whole})
    assert answer[f"Checksum{algorithm}"] == whole
    assert answer["ChecksumType"] == "FULL_OBJECT"
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"] == whole
    assert got["ChecksumType"] == "FULL_OBJECT"
    assert got["Body"].read() == b"".join(parts)


def test_multipart_full_object_checksum_mismatch_is_bad_digest(http_s3, http_bucket: str) -> None:
    parts = [os.urandom(5 * MiB), b"tail"]
    upload_id, done = _multipart(http_s3, http_bucket, "k", "CRC32", parts, "FULL_OBJECT")
    expect_error("BadDigest", 400, http_s3.complete_multipart_upload, Bucket=http_bucket, Key="k",
                 UploadId=upload_id, MultipartUpload={"Parts": done}, ChecksumType="FULL_OBJECT",
                 ChecksumCRC32=checksum("CRC32", b"not the object"))
    expect_error("404", 404, http_s3.head_object, Bucket=http_bucket, Key="k")


def test_part_with_another_algorithm_is_refused(http_s3, http_bucket: str) -> None:
    upload_id = http_s3.create_multipart_upload(Bucket=http_bucket, Key="k", ChecksumAlgorithm="CRC32")["UploadId"]
    expect_error("InvalidRequest", 400, http_s3.upload_part, Bucket=http_bucket, Key="k", UploadId=upload_id,
                 PartNumber=1, Body=b"x", ChecksumAlgorithm="SHA256")
    assert "Parts" not in http_s3.list_parts(Bucket=http_bucket, Key="k", UploadId=upload_id)


@pytest.mark.parametrize(("algorithm", "checksum_type"), [("SHA256", "FULL_OBJECT"), ("CRC64NVME", "COMPOSITE")])
def test_unsupported_checksum_type_combinations(http_s3, http_bucket: str, algorithm: str,
                                                checksum_type: str) -> None:
    # AWS: FULL_OBJECT is for CRCs only; CRC64NVME has no COMPOSITE form.
    expect_error("InvalidRequest", 400, http_s3.create_multipart_upload, Bucket=http_bucket, Key="k",
                 ChecksumAlgorithm=algorithm, ChecksumType=checksum_type)


def test_wrong_part_checksum_is_bad_digest(s3, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="SHA256")["UploadId"]
    expect_error("BadDigest", 400, s3.upload_part, Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1,
                 Body=os.urandom(40_000), ChecksumSHA256=checksum("SHA256", b"other"))
    assert "Parts" not in s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)


# --- boto3 with no settings at all ----------------------------------------------------------


def test_default_client_transfers(server, bucket: str, tmp_path) -> None:
    client = make_client(server)  # boto3 defaults: checksums when supported, default transfer settings
    small = os.urandom(300_000)
    client.put_object(Bucket=bucket, Key="small", Body=small)
    assert client.get_object(Bucket=bucket, Key="small")["Body"].read() == small
    head = client.head_object(Bucket=bucket, Key="small", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == checksum("CRC32", small)
    large = os.urandom(18 * MiB)  # over the default 8 MiB multipart threshold
    source = tmp_path / "large.bin"
    source.write_bytes(large)
    client.upload_file(str(source), bucket, "large")
    target = tmp_path / "copy.bin"
    client.download_file(bucket, "large", str(target))
    assert target.read_bytes() == large
    with open(tmp_path / "fileobj.bin", "wb") as handle:
        client.download_fileobj(bucket, "small", handle)
    assert (tmp_path / "fileobj.bin").read_bytes() == small


# --- copies -------------------------------------------------------------------------------


def test_copy_keeps_the_source_checksum_algorithm(s3, bucket: str) -> None:
    data = os.urandom(70_000)
    s3.put_object(Bucket=bucket, Key="source", Body=data, ChecksumAlgorithm="CRC32C")
    answer = s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "source"})
    assert answer["CopyObjectResult"]["ChecksumCRC32C"] == checksum("CRC32C", data)
    head = s3.head_object(Bucket=bucket, Key="copy", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32C"] == checksum("CRC32C", data)


@pytest.mark.parametrize("algorithm", ["SHA256", "CRC64NVME"])
def test_copy_with_another_checksum_algorithm(s3, bucket: str, algorithm: str) -> None:
    # AWS: x-amz-checksum-algorithm on CopyObject picks the copy's algorithm.
    data = os.urandom(70_000)
    s3.put_object(Bucket=bucket, Key="source", Body=data, ChecksumAlgorithm="CRC32C")
    answer = s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "source"},
                            ChecksumAlgorithm=algorithm)
    assert answer["CopyObjectResult"][f"Checksum{algorithm}"] == checksum(algorithm, data)
    head = s3.head_object(Bucket=bucket, Key="copy", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == checksum(algorithm, data)
    assert "ChecksumCRC32C" not in head


def test_upload_part_copy_uses_the_uploads_algorithm(s3, bucket: str) -> None:
    # AWS: a copied part carries the checksum the multipart upload was created with.
    data = os.urandom(6 * MiB)
    s3.put_object(Bucket=bucket, Key="source", Body=data, ChecksumAlgorithm="SHA1")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32")["UploadId"]
    first = s3.upload_part_copy(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1,
                                CopySource={"Bucket": bucket, "Key": "source"},
                                CopySourceRange=f"bytes=0-{5 * MiB - 1}")["CopyPartResult"]
    assert first["ChecksumCRC32"] == checksum("CRC32", data[: 5 * MiB])
    second = s3.upload_part_copy(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=2,
                                 CopySource={"Bucket": bucket, "Key": "source"},
                                 CopySourceRange=f"bytes={5 * MiB}-{6 * MiB - 1}")["CopyPartResult"]
    parts = [{"PartNumber": n, "ETag": p["ETag"], "ChecksumCRC32": p["ChecksumCRC32"]}
             for n, p in ((1, first), (2, second))]
    answer = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                          MultipartUpload={"Parts": parts})
    assert answer["ChecksumCRC32"] == composite("CRC32", [data[: 5 * MiB], data[5 * MiB :]])
