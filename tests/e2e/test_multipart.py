"""Multipart uploads against a live server: CreateMultipartUpload, UploadPart,
UploadPartCopy, CompleteMultipartUpload, AbortMultipartUpload, ListParts and
ListMultipartUploads, GET by partNumber, and boto3's managed transfers.

Expected behaviour is AWS's, from the S3 API reference and "Uploading and
copying objects using multipart upload": parts are numbered 1 to 10,000,
every part but the last is at least 5 MiB, and the object's ETag is the MD5
of the concatenated binary part MD5s followed by ``-<part count>``.
"""

from __future__ import annotations

import hashlib
import os

import pytest
from boto3.s3.transfer import TransferConfig

from tests.e2e.conftest import expect_error, send

MiB = 1024 * 1024


def multipart_etag(parts: list[bytes]) -> str:
    """The ETag S3 gives an object completed from ``parts``."""
    joined = b"".join(hashlib.md5(part).digest() for part in parts)
    return f'"{hashlib.md5(joined).hexdigest()}-{len(parts)}"'


def _upload(client, bucket: str, key: str, parts: list[bytes], **create: object) -> tuple[str, list[dict]]:
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    done = []
    for number, data in enumerate(parts, start=1):
        answer = client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data)
        assert answer["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
        done.append({"PartNumber": number, "ETag": answer["ETag"]})
    return upload_id, done


def _complete(client, bucket: str, key: str, upload_id: str, parts: list[dict], **kwargs: object) -> dict:
    return client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}, **kwargs
    )


# --- the whole cycle -------------------------------------------------------------------


def test_complete_joins_parts_with_multipart_etag(s3, bucket: str) -> None:
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB + 17), os.urandom(1000)]
    upload_id, done = _upload(s3, bucket, "big/object", parts, ContentType="video/mp4",
                              Metadata={"origin": "camera"})
    answer = _complete(s3, bucket, "big/object", upload_id, done)
    assert answer["ETag"] == multipart_etag(parts)
    assert answer["Bucket"] == bucket
    assert answer["Key"] == "big/object"
    assert answer["Location"].endswith(f"/{bucket}/big/object")
    got = s3.get_object(Bucket=bucket, Key="big/object")
    assert got["Body"].read() == b"".join(parts)
    assert got["ETag"] == multipart_etag(parts)
    assert got["ContentType"] == "video/mp4"
    assert got["Metadata"] == {"origin": "camera"}
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [
        ("big/object", sum(map(len, parts)), multipart_etag(parts))]
    # Completed: the upload is gone.
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    expect_error("NoSuchUpload", 404, s3.list_parts, Bucket=bucket, Key="big/object", UploadId=upload_id)


def test_get_by_part_number(s3, bucket: str) -> None:
    parts = [os.urandom(5 * MiB), os.urandom(123)]
    upload_id, done = _upload(s3, bucket, "k", parts)
    _complete(s3, bucket, "k", upload_id, done)
    size = sum(map(len, parts))
    first = s3.get_object(Bucket=bucket, Key="k", PartNumber=1)
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert first["PartsCount"] == 2
    assert first["ContentRange"] == f"bytes 0-{5 * MiB - 1}/{size}"
    assert first["Body"].read() == parts[0]
    second = s3.head_object(Bucket=bucket, Key="k", PartNumber=2)
    assert second["ContentLength"] == 123
    assert second["ContentRange"] == f"bytes {5 * MiB}-{size - 1}/{size}"
    assert second["PartsCount"] == 2
    expect_error("InvalidPartNumber", 416, s3.get_object, Bucket=bucket, Key="k", PartNumber=3)


def test_ranges_across_part_boundaries(http_s3, http_bucket: str) -> None:
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(4321)]
    upload_id, done = _upload(http_s3, http_bucket, "k", parts)
    _complete(http_s3, http_bucket, "k", upload_id, done)
    data = b"".join(parts)
    for first, last in ((5 * MiB - 10, 5 * MiB + 9), (5 * MiB - 1, 10 * MiB), (0, len(data) - 1),
                        (10 * MiB - 3, len(data) - 1)):
        got = http_s3.get_object(Bucket=http_bucket, Key="k", Range=f"bytes={first}-{last}")
        assert got["Body"].read() == data[first : last + 1]
        assert got["ContentRange"] == f"bytes {first}-{last}/{len(data)}"


def test_zero_byte_parts(http_s3, http_bucket: str) -> None:
    # A single empty part makes an empty object.
    upload_id, done = _upload(http_s3, http_bucket, "empty", [b""])
    answer = _complete(http_s3, http_bucket, "empty", upload_id, done)
    assert answer["ETag"] == multipart_etag([b""])
    got = http_s3.get_object(Bucket=http_bucket, Key="empty")
    assert got["Body"].read() == b"" and got["ContentLength"] == 0
    # An empty last part after a full one.
    parts = [os.urandom(5 * MiB), b""]
    upload_id, done = _upload(http_s3, http_bucket, "tail", parts)
    assert _complete(http_s3, http_bucket, "tail", upload_id, done)["ETag"] == multipart_etag(parts)
    assert http_s3.get_object(Bucket=http_bucket, Key="tail")["Body"].read() == parts[0]


def test_reuploading_a_part_replaces_it(http_s3, http_bucket: str) -> None:
    upload_id, done = _upload(http_s3, http_bucket, "k", [b"old part"])
    new = http_s3.upload_part(Bucket=http_bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"new part")
    listed = http_s3.list_parts(Bucket=http_bucket, Key="k", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed] == [(1, new["ETag"], 8)]
    # The replaced part's ETag no longer completes.
    expect_error("InvalidPart", 400, _complete, http_s3, http_bucket, "k", upload_id, done)
    _complete(http_s3, http_bucket, "k", upload_id, [{"PartNumber": 1, "ETag": new["ETag"]}])
    assert http_s3.get_object(Bucket=http_bucket, Key="k")["Body"].read() == b"new part"


def test_complete_may_leave_parts_out(http_s3, http_bucket: str) -> None:
    parts = [os.urandom(5 * MiB), b"unused", b"last"]
    upload_id, done = _upload(http_s3, http_bucket, "k", parts)
    answer = _complete(http_s3, http_bucket, "k", upload_id, [done[0], done[2]])
    assert answer["ETag"] == multipart_etag([parts[0], parts[2]])
    assert http_s3.get_object(Bucket=http_bucket, Key="k")["Body"].read() == parts[0] + parts[2]


# --- Complete's errors -------------------------------------------------------------------


def test_complete_with_unknown_part_or_etag_is_invalid_part(http_s3, http_bucket: str) -> None:
    upload_id, done = _upload(http_s3, http_bucket, "k", [b"only"])
    wrong_etag = [{"PartNumber": 1, "ETag": '"' + "0" * 32 + '"'}]
    expect_error("InvalidPart", 400, _complete, http_s3, http_bucket, "k", upload_id, wrong_etag)
    missing = done + [{"PartNumber": 2, "ETag": done[0]["ETag"]}]
    expect_error("InvalidPart", 400, _complete, http_s3, http_bucket, "k", upload_id, missing)
    expect_error("404", 404, http_s3.head_object, Bucket=http_bucket, Key="k")
    # The upload survives failed completions.
    assert len(http_s3.list_parts(Bucket=http_bucket, Key="k", UploadId=upload_id)["Parts"]) == 1


def test_complete_with_parts_out_of_order_is_invalid_part_order(http_s3, http_bucket: str) -> None:
    upload_id, done = _upload(http_s3, http_bucket, "k", [os.urandom(5 * MiB), b"b"])
    expect_error("InvalidPartOrder", 400, _complete, http_s3, http_bucket, "k", upload_id, [done[1], done[0]])
    expect_error("InvalidPartOrder", 400, _complete, http_s3, http_bucket, "k", upload_id, [done[0], done[0]])
    _complete(http_s3, http_bucket, "k", upload_id, done)


def test_small_part_that_is_not_last_is_entity_too_small(http_s3, http_bucket: str) -> None:
    parts = [os.urandom(5 * MiB - 1), b"last"]
    upload_id, done = _upload(http_s3, http_bucket, "k", parts)
    expect_error("EntityTooSmall", 400, _complete, http_s3, http_bucket, "k", upload_id, done)
    expect_error("404", 404, http_s3.head_object, Bucket=http_bucket, Key="k")
    # Exactly 5 MiB is enough.
    http_s3.upload_part(Bucket=http_bucket, Key="k", UploadId=upload_id, PartNumber=1,
                        Body=parts[0] + b"x")
    listed = http_s3.list_parts(Bucket=http_bucket, Key="k", UploadId=upload_id)["Parts"]
    fixed = [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in listed]
    assert _complete(http_s3, http_bucket, "k", upload_id, fixed)["ETag"] == multipart_etag(
        [parts[0] + b"x", b"last"])


def test_complete_with_no_parts_is_malformed(http_s3, http_bucket: str) -> None:
    upload_id = http_s3.create_multipart_upload(Bucket=http_bucket, Key="k")["UploadId"]
    expect_error("MalformedXML", 400, _complete, http_s3, http_bucket, "k", upload_id, [])


# --- part numbers ------------------------------------------------------------------------


def test_part_number_10000_is_the_last_allowed(http_server, http_s3, http_bucket: str) -> None:
    upload_id = http_s3.create_multipart_upload(Bucket=http_bucket, Key="k")["UploadId"]
    part = http_s3.upload_part(Bucket=http_bucket, Key="k", UploadId=upload_id, PartNumber=10000, Body=b"end")
    for number in ("10001", "0", "-1", "one"):
        response = send(http_server, "PUT", f"/{http_bucket}/k",
                        query=[("partNumber", number), ("uploadId", upload_id)], body=b"x")
        assert response.status == 400, number
        assert response.error_code == "InvalidArgument"
    listed = http_s3.list_parts(Bucket=http_bucket, Key="k", UploadId=upload_id)["Parts"]
    assert [p["PartNumber"] for p in listed] == [10000]
    answer = _complete(http_s3, http_bucket, "k", upload_id, [{"PartNumber": 10000, "ETag": part["ETag"]}])
    assert answer["ETag"] == multipart_etag([b"end"])


# --- abort ------------------------------------------------------------------------------


def test_abort_then_the_upload_is_gone(s3, bucket: str) -> None:
    upload_id, done = _upload(s3, bucket, "k", [b"part one", b"part two"])
    answer = s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error("NoSuchUpload", 404, s3.list_parts, Bucket=bucket, Key="k", UploadId=upload_id)
    expect_error("NoSuchUpload", 404, s3.upload_part, Bucket=bucket, Key="k", UploadId=upload_id,
                 PartNumber=3, Body=b"late")
    expect_error("NoSuchUpload", 404, _complete, s3, bucket, "k", upload_id, done)
    expect_error("NoSuchUpload", 404, s3.abort_multipart_upload, Bucket=bucket, Key="k", UploadId=upload_id)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bucket, Key="k")


def test_upload_id_of_another_key_is_no_such_upload(http_s3, http_bucket: str) -> None:
    upload_id = http_s3.create_multipart_upload(Bucket=http_bucket, Key="a")["UploadId"]
    error = expect_error("NoSuchUpload", 404, http_s3.upload_part, Bucket=http_bucket, Key="b",
                         UploadId=upload_id, PartNumber=1, Body=b"x")
    assert error["Error"]["UploadId"] == upload_id
    expect_error("NoSuchUpload", 404, http_s3.list_parts, Bucket=http_bucket, Key="k", UploadId="made-up-id")


# --- listings ---------------------------------------------------------------------------


def test_list_parts_in_pages(s3, bucket: str) -> None:
    parts = [f"part {n}".encode() * n for n in range(1, 6)]
    upload_id, done = _upload(s3, bucket, "k", parts)
    first = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id, MaxParts=2)
    assert [p["PartNumber"] for p in first["Parts"]] == [1, 2]
    assert first["IsTruncated"] is True
    assert first["NextPartNumberMarker"] == 2
    assert first["MaxParts"] == 2
    assert first["UploadId"] == upload_id
    assert first["Initiator"]["ID"] and first["Owner"]["ID"]
    assert first["StorageClass"] == "STANDARD"
    rest = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id, PartNumberMarker=2)
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in rest["Parts"]] == [
        (n, len(parts[n - 1]), done[n - 1]["ETag"]) for n in (3, 4, 5)]
    assert rest["IsTruncated"] is False
    assert rest["PartNumberMarker"] == 2
    paged = [p["PartNumber"] for page in s3.get_paginator("list_parts").paginate(
        Bucket=bucket, Key="k", UploadId=upload_id, PaginationConfig={"PageSize": 2}) for p in page["Parts"]]
    assert paged == [1, 2, 3, 4, 5]


def test_list_multipart_uploads_in_pages(s3, bucket: str) -> None:
    ids: dict[str, list[str]] = {}
    for key in ("a/1", "a/2", "b", "b", "c"):
        ids.setdefault(key, []).append(s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"])
    everything = s3.list_multipart_uploads(Bucket=bucket)
    listed = [(u["Key"], u["UploadId"]) for u in everything["Uploads"]]
    assert [key for key, _ in listed] == ["a/1", "a/2", "b", "b", "c"]
    assert sorted(upload for key, upload in listed if key == "b") == sorted(ids["b"])
    assert all(u["Initiator"]["ID"] and u["StorageClass"] == "STANDARD" for u in everything["Uploads"])
    first = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=3)
    assert [(u["Key"], u["UploadId"]) for u in first["Uploads"]] == listed[:3]
    assert first["IsTruncated"] is True
    assert first["NextKeyMarker"] == listed[2][0]
    assert first["NextUploadIdMarker"] == listed[2][1]
    rest = s3.list_multipart_uploads(Bucket=bucket, KeyMarker=first["NextKeyMarker"],
                                     UploadIdMarker=first["NextUploadIdMarker"])
    assert [(u["Key"], u["UploadId"]) for u in rest["Uploads"]] == listed[3:]
    assert rest["IsTruncated"] is False
    # AWS ignores upload-id-marker without key-marker.
    ignored = s3.list_multipart_uploads(Bucket=bucket, UploadIdMarker=listed[2][1])
    assert [(u["Key"], u["UploadId"]) for u in ignored["Uploads"]] == listed
    # A key marker alone starts after every upload of that key.
    after_b = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="b")
    assert [u["Key"] for u in after_b["Uploads"]] == ["c"]
    grouped = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["a/"]
    assert [u["Key"] for u in grouped["Uploads"]] == ["b", "b", "c"]
    prefixed = s3.list_multipart_uploads(Bucket=bucket, Prefix="a/")
    assert [u["Key"] for u in prefixed["Uploads"]] == ["a/1", "a/2"]
    paged = [(u["Key"], u["UploadId"]) for page in s3.get_paginator("list_multipart_uploads").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 2}) for u in page["Uploads"]]
    assert paged == listed


# --- UploadPartCopy -------------------------------------------------------------------------


def test_upload_part_copy_with_ranges(s3, bucket: str) -> None:
    source = os.urandom(6 * MiB + 100)
    s3.put_object(Bucket=bucket, Key="source", Body=source)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="joined")["UploadId"]
    first = s3.upload_part_copy(Bucket=bucket, Key="joined", UploadId=upload_id, PartNumber=1,
                                CopySource={"Bucket": bucket, "Key": "source"},
                                CopySourceRange=f"bytes=0-{5 * MiB - 1}")
    assert first["CopyPartResult"]["ETag"] == f'"{hashlib.md5(source[:5 * MiB]).hexdigest()}"'
    assert first["CopyPartResult"]["LastModified"]
    second = s3.upload_part_copy(Bucket=bucket, Key="joined", UploadId=upload_id, PartNumber=2,
                                 CopySource=f"{bucket}/source", CopySourceRange=f"bytes={6 * MiB}-{6 * MiB + 99}")
    third = s3.upload_part(Bucket=bucket, Key="joined", UploadId=upload_id, PartNumber=3, Body=b"!")
    parts = [{"PartNumber": 1, "ETag": first["CopyPartResult"]["ETag"]},
             {"PartNumber": 2, "ETag": second["CopyPartResult"]["ETag"]},
             {"PartNumber": 3, "ETag": third["ETag"]}]
    expect_error("EntityTooSmall", 400, _complete, s3, bucket, "joined", upload_id, parts)
    # Whole-object copy for part 2 instead.
    whole = s3.upload_part_copy(Bucket=bucket, Key="joined", UploadId=upload_id, PartNumber=2,
                                CopySource={"Bucket": bucket, "Key": "source"})
    parts[1]["ETag"] = whole["CopyPartResult"]["ETag"]
    answer = _complete(s3, bucket, "joined", upload_id, parts)
    expected = [source[:5 * MiB], source, b"!"]
    assert answer["ETag"] == multipart_etag(expected)
    assert s3.get_object(Bucket=bucket, Key="joined")["Body"].read() == b"".join(expected)


@pytest.mark.parametrize("header", ["bytes=0-100", "bytes=5-4", "bytes=0-", "bytes=-5", "0-1", "bytes=10-20,30-40"])
def test_upload_part_copy_with_bad_range_is_invalid_argument(http_s3, http_bucket: str, header: str) -> None:
    http_s3.put_object(Bucket=http_bucket, Key="source", Body=b"0123456789")
    upload_id = http_s3.create_multipart_upload(Bucket=http_bucket, Key="k")["UploadId"]
    expect_error("InvalidArgument", 400, http_s3.upload_part_copy, Bucket=http_bucket, Key="k",
                 UploadId=upload_id, PartNumber=1, CopySource=f"{http_bucket}/source", CopySourceRange=header)
    assert "Parts" not in http_s3.list_parts(Bucket=http_bucket, Key="k", UploadId=upload_id)


def test_upload_part_copy_from_missing_source(http_s3, http_bucket: str) -> None:
    upload_id = http_s3.create_multipart_upload(Bucket=http_bucket, Key="k")["UploadId"]
    expect_error("NoSuchKey", 404, http_s3.upload_part_copy, Bucket=http_bucket, Key="k",
                 UploadId=upload_id, PartNumber=1, CopySource=f"{http_bucket}/absent")


# --- managed transfers -------------------------------------------------------------------


def test_upload_file_and_download_file_in_parts(s3, bucket: str, tmp_path) -> None:
    source = tmp_path / "source.bin"
    data = os.urandom(20 * MiB)
    source.write_bytes(data)
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=4)
    s3.upload_file(str(source), bucket, "transfer/file.bin", Config=config)
    head = s3.head_object(Bucket=bucket, Key="transfer/file.bin")
    chunks = [data[i : i + 5 * MiB] for i in range(0, len(data), 5 * MiB)]
    assert head["ETag"] == multipart_etag(chunks)
    assert head["ContentLength"] == len(data)
    target = tmp_path / "target.bin"
    s3.download_file(bucket, "transfer/file.bin", str(target), Config=config)
    assert target.read_bytes() == data
