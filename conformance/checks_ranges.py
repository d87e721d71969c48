"""Range requests on GetObject (RFC 9110 byte ranges as S3 serves them): 206
with Content-Range for a satisfiable range, the end clamped to the object,
416 InvalidRange when the first byte is past the end."""

from __future__ import annotations

from conformance.context import CheckContext
from conformance.expect import expect_equal, expect_error
from conformance.payload import MiB, random_bytes
from conformance.registry import check

SIZE = 100_000


def _ranged(ctx: CheckContext, bucket: str, header: str, data: bytes, start: int, end: int) -> None:
    got = ctx.s3.get_object(Bucket=bucket, Key="k", Range=header)
    body = got["Body"].read()
    expect_equal(got["ResponseMetadata"]["HTTPStatusCode"], 206, f"{header} status")
    expect_equal(got["ContentRange"], f"bytes {start}-{end}/{len(data)}", f"{header} Content-Range")
    expect_equal((len(body), body == data[start:end + 1]), (end - start + 1, True), f"{header} bytes")


@check("GetObject", "Range bytes=a-b, bytes=a-, bytes=-n: 206 with the exact bytes")
def _ranges(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    data = random_bytes(SIZE, 40)
    ctx.s3.put_object(Bucket=bucket, Key="k", Body=data)
    _ranged(ctx, bucket, "bytes=0-0", data, 0, 0)
    _ranged(ctx, bucket, "bytes=10-99", data, 10, 99)
    _ranged(ctx, bucket, f"bytes={SIZE - 100}-", data, SIZE - 100, SIZE - 1)
    _ranged(ctx, bucket, "bytes=-500", data, SIZE - 500, SIZE - 1)


@check("GetObject", "Range end past the object is clamped to its last byte")
def _range_clamped(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    data = random_bytes(SIZE, 41)
    ctx.s3.put_object(Bucket=bucket, Key="k", Body=data)
    _ranged(ctx, bucket, f"bytes=99000-{SIZE * 10}", data, 99000, SIZE - 1)
    _ranged(ctx, bucket, f"bytes=-{SIZE * 2}", data, 0, SIZE - 1)


@check("GetObject", "Range starting past the end: 416 InvalidRange")
def _range_unsatisfiable(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    ctx.s3.put_object(Bucket=bucket, Key="k", Body=b"0123456789")
    expect_error("InvalidRange", 416, ctx.s3.get_object, Bucket=bucket, Key="k", Range="bytes=10-20")


@check("GetObject", "Range across the parts of a multipart object")
def _range_multipart(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    parts = [random_bytes(5 * MiB, 42), random_bytes(300_000, 43)]
    upload_id = ctx.s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    done = [{"PartNumber": n, "ETag": ctx.s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=n,
                                                         Body=p)["ETag"]} for n, p in enumerate(parts, 1)]
    ctx.s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": done})
    data = b"".join(parts)
    start = 5 * MiB - 1000
    _ranged(ctx, bucket, f"bytes={start}-{start + 1999}", data, start, start + 1999)
