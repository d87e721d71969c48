"""Multipart uploads: CreateMultipartUpload, UploadPart, UploadPartCopy,
CompleteMultipartUpload, AbortMultipartUpload, ListParts,
ListMultipartUploads (S3 API Reference; "Multipart upload limits": parts but
the last are at least 5 MiB; the ETag of the object is the MD5 of the parts'
binary MD5s followed by ``-<part count>``)."""

from __future__ import annotations

import hashlib

from conformance.context import CheckContext
from conformance.expect import expect, expect_equal, expect_error
from conformance.payload import MiB, random_bytes
from conformance.registry import check

PART = 5 * MiB


def multipart_etag(parts: list[bytes]) -> str:
    """The ETag S3 gives an object completed from ``parts``."""
    joined = b"".join(hashlib.md5(part).digest() for part in parts)
    return f'"{hashlib.md5(joined).hexdigest()}-{len(parts)}"'


def _upload(ctx: CheckContext, bucket: str, key: str, parts: list[bytes]) -> tuple[str, list[dict[str, object]]]:
    upload_id = ctx.s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    done = []
    for number, data in enumerate(parts, 1):
        etag = ctx.s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data)["ETag"]
        expect_equal(etag, f'"{hashlib.md5(data).hexdigest()}"', f"part {number} ETag")
        done.append({"PartNumber": number, "ETag": etag})
    return upload_id, done


@check("CompleteMultipartUpload", "joins the parts; ETag is MD5 of part MD5s and -N")
def _complete_upload(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    parts = [random_bytes(PART, 10), random_bytes(PART, 11), random_bytes(1234, 12)]
    upload_id, done = _upload(ctx, bucket, "big", parts)
    result = ctx.s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=upload_id,
                                              MultipartUpload={"Parts": done})
    expect_equal(result["ETag"], multipart_etag(parts), "completed ETag")
    got = ctx.s3.get_object(Bucket=bucket, Key="big")
    expect_equal(hashlib.sha256(got["Body"].read()).hexdigest(), hashlib.sha256(b"".join(parts)).hexdigest(),
                 "sha256 of GET")
    expect_equal(got["ETag"], multipart_etag(parts), "GET ETag")


@check("GetObject", "PartNumber returns that part and x-amz-mp-parts-count")
def _get_part_number(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    parts = [random_bytes(PART, 13), random_bytes(4321, 14)]
    upload_id, done = _upload(ctx, bucket, "k", parts)
    ctx.s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": done})
    got = ctx.s3.get_object(Bucket=bucket, Key="k", PartNumber=2)
    expect_equal(got["ResponseMetadata"]["HTTPStatusCode"], 206, "status")
    expect_equal((got["Body"].read() == parts[1], got.get("PartsCount")), (True, 2), "part 2 bytes, PartsCount")
    head = ctx.s3.head_object(Bucket=bucket, Key="k", PartNumber=1)
    expect_equal((head["ContentLength"], head.get("PartsCount")), (PART, 2), "HEAD part 1")


@check("CompleteMultipartUpload", "a part under 5 MiB that is not the last: 400 EntityTooSmall")
def _complete_too_small(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    upload_id, done = _upload(ctx, bucket, "k", [b"small" * 100, b"last"])
    expect_error("EntityTooSmall", 400, ctx.s3.complete_multipart_upload, Bucket=bucket, Key="k",
                 UploadId=upload_id, MultipartUpload={"Parts": done})


@check("CompleteMultipartUpload", "an ETag that does not match the part: 400 InvalidPart")
def _complete_wrong_etag(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    upload_id, done = _upload(ctx, bucket, "k", [b"only part"])
    bad = [{"PartNumber": 1, "ETag": f'"{hashlib.md5(b"other").hexdigest()}"'}]
    expect_error("InvalidPart", 400, ctx.s3.complete_multipart_upload, Bucket=bucket, Key="k",
                 UploadId=upload_id, MultipartUpload={"Parts": bad})
    missing = [{"PartNumber": 2, "ETag": done[0]["ETag"]}]
    expect_error("InvalidPart", 400, ctx.s3.complete_multipart_upload, Bucket=bucket, Key="k",
                 UploadId=upload_id, MultipartUpload={"Parts": missing})


@check("CompleteMultipartUpload", "parts not in ascending order: 400 InvalidPartOrder")
def _complete_wrong_order(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    upload_id, done = _upload(ctx, bucket, "k", [random_bytes(PART, 15), b"last"])
    expect_error("InvalidPartOrder", 400, ctx.s3.complete_multipart_upload, Bucket=bucket, Key="k",
                 UploadId=upload_id, MultipartUpload={"Parts": list(reversed(done))})


@check("CompleteMultipartUpload", "unknown upload id: 404 NoSuchUpload")
def _complete_unknown_upload(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    expect_error("NoSuchUpload", 404, ctx.s3.complete_multipart_upload, Bucket=bucket, Key="k",
                 UploadId="no-such-upload-id", MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]})


@check("AbortMultipartUpload", "aborts: 204; the upload is then NoSuchUpload")
def _abort_upload(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    upload_id, _ = _upload(ctx, bucket, "k", [b"part"])
    response = ctx.s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)
    expect_equal(response["ResponseMetadata"]["HTTPStatusCode"], 204, "status")
    expect_error("NoSuchUpload", 404, ctx.s3.upload_part, Bucket=bucket, Key="k", UploadId=upload_id,
                 PartNumber=2, Body=b"late")
    expect_error("NoSuchUpload", 404, ctx.s3.list_parts, Bucket=bucket, Key="k", UploadId=upload_id)
    expect_error("NoSuchKey", 404, ctx.s3.get_object, Bucket=bucket, Key="k")


@check("ListParts", "lists uploaded parts with number, size and ETag; pages with MaxParts")
def _list_parts(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    data = [b"one", b"second part", b"third"]
    upload_id, done = _upload(ctx, bucket, "k", data)
    listed = ctx.s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"]
    expect_equal([(p["PartNumber"], p["Size"], p["ETag"]) for p in listed],
                 [(d["PartNumber"], len(b), d["ETag"]) for d, b in zip(done, data, strict=True)], "parts")
    first = ctx.s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id, MaxParts=2)
    expect_equal((len(first["Parts"]), first["IsTruncated"], first.get("NextPartNumberMarker")), (2, True, 2),
                 "first page")
    rest = ctx.s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id, PartNumberMarker=2)
    expect_equal([p["PartNumber"] for p in rest["Parts"]], [3], "second page")


@check("ListMultipartUploads", "lists uploads in progress, not completed or aborted ones")
def _list_uploads(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    first = ctx.s3.create_multipart_upload(Bucket=bucket, Key="a/one")["UploadId"]
    second = ctx.s3.create_multipart_upload(Bucket=bucket, Key="b/two")["UploadId"]
    gone = ctx.s3.create_multipart_upload(Bucket=bucket, Key="c")["UploadId"]
    ctx.s3.abort_multipart_upload(Bucket=bucket, Key="c", UploadId=gone)
    uploads = ctx.s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    expect_equal([(u["Key"], u["UploadId"]) for u in uploads], [("a/one", first), ("b/two", second)], "uploads")
    grouped = ctx.s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    expect_equal([c["Prefix"] for c in grouped.get("CommonPrefixes", [])], ["a/", "b/"], "CommonPrefixes")


@check("UploadPart", "part number outside 1..10000: 400 InvalidArgument")
def _upload_part_number_range(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    upload_id = ctx.s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    expect_error("InvalidArgument", 400, ctx.s3.upload_part, Bucket=bucket, Key="k", UploadId=upload_id,
                 PartNumber=10001, Body=b"x")


@check("UploadPartCopy", "copies a byte range of an object into a part")
def _upload_part_copy(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    source = random_bytes(PART + 1000, 16)
    ctx.s3.put_object(Bucket=bucket, Key="src", Body=source)
    upload_id = ctx.s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    first = ctx.s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=1,
                                    CopySource={"Bucket": bucket, "Key": "src"},
                                    CopySourceRange=f"bytes=0-{PART - 1}")["CopyPartResult"]["ETag"]
    second = ctx.s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=2,
                                     CopySource={"Bucket": bucket, "Key": "src"},
                                     CopySourceRange=f"bytes={PART}-{PART + 999}")["CopyPartResult"]["ETag"]
    ctx.s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=upload_id, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": second}]})
    got = ctx.s3.get_object(Bucket=bucket, Key="dst")["Body"].read()
    expect(got == source, f"copied object differs from the source ({len(got)} vs {len(source)} bytes)")
