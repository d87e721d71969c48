"""boto3 as applications use it, default configuration: put_object (CRC32
sent as an aws-chunked trailer over HTTPS, a header over HTTP), managed
multipart transfers with a TransferConfig, managed copies, paginators over
1,500 keys and batched delete_objects; bytes verified by SHA-256."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from boto3.s3.transfer import TransferConfig

from conformance.context import CheckContext
from conformance.expect import expect, expect_equal
from conformance.payload import MiB, random_bytes, sha256_file, write_random_file
from conformance.registry import check

GROUP = "boto3"
TRANSFER = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=4)


@check(GROUP, "put_object / get_object with the default checksum (trailer over HTTPS, header over HTTP)")
def _put_default(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    sent: list[dict[str, str]] = []

    def record(request: Any, **_: Any) -> None:
        sent.append({k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()})

    ctx.s3.meta.events.register("before-send.s3.PutObject", record)
    data = random_bytes(3 * MiB + 17, 50)
    put = ctx.s3.put_object(Bucket=bucket, Key="obj", Body=data)
    expect("ChecksumCRC32" in put, "PutObject response carries no ChecksumCRC32")
    headers = sent[-1]
    if ctx.endpoint.tls:
        expect_equal((headers.get("content-encoding"), headers.get("x-amz-trailer")),
                     ("aws-chunked", "x-amz-checksum-crc32"), "boto3 request encoding over HTTPS")
    else:
        expect("x-amz-checksum-crc32" in headers, "boto3 sent no x-amz-checksum-crc32 header over HTTP")
    got = ctx.s3.get_object(Bucket=bucket, Key="obj", ChecksumMode="ENABLED")
    expect_equal(hashlib.sha256(got["Body"].read()).hexdigest(), hashlib.sha256(data).hexdigest(), "sha256")
    expect_equal(got.get("ChecksumCRC32"), put["ChecksumCRC32"], "ChecksumCRC32 returned by GET")


@check(GROUP, "upload_file / download_file multipart with TransferConfig", time_limit=180)
def _transfer_multipart(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    source = write_random_file(ctx.workdir / "up.bin", 17 * MiB + 333, 51)
    ctx.s3.upload_file(str(source), bucket, "dir/big.bin", Config=TRANSFER)
    head = ctx.s3.head_object(Bucket=bucket, Key="dir/big.bin")
    expect(head["ETag"].endswith('-4"'), f"ETag {head['ETag']} is not a 4-part multipart ETag")
    target = ctx.workdir / "down.bin"
    ctx.s3.download_file(bucket, "dir/big.bin", str(target), Config=TRANSFER)
    expect_equal(sha256_file(target), sha256_file(source), "sha256 after the round trip")


@check(GROUP, "managed copy (multipart UploadPartCopy) and copy_object", time_limit=180)
def _transfer_copy(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    source = write_random_file(ctx.workdir / "src.bin", 11 * MiB + 5, 52)
    ctx.s3.upload_file(str(source), bucket, "src.bin", Config=TRANSFER)
    ctx.s3.copy({"Bucket": bucket, "Key": "src.bin"}, bucket, "managed-copy.bin", Config=TRANSFER)
    ctx.s3.copy_object(Bucket=bucket, Key="plain-copy.bin", CopySource={"Bucket": bucket, "Key": "src.bin"})
    for key in ("managed-copy.bin", "plain-copy.bin"):
        target = ctx.workdir / key
        ctx.s3.download_file(bucket, key, str(target), Config=TRANSFER)
        expect_equal(sha256_file(target), sha256_file(source), f"sha256 of {key}")


@check(GROUP, "paginators over 1,500 keys; delete_objects in batches of 1,000", time_limit=240)
def _paginators(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    keys = sorted(f"dir{i % 3}/key-{i:05d}" for i in range(1500))
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: ctx.s3.put_object(Bucket=bucket, Key=key, Body=key.encode()), keys))
    v2 = ctx.s3.get_paginator("list_objects_v2")
    pages = list(v2.paginate(Bucket=bucket))
    expect_equal([len(p.get("Contents", [])) for p in pages], [1000, 500], "default page sizes")
    expect_equal([o["Key"] for p in pages for o in p["Contents"]], keys, "ListObjectsV2 keys")
    small = [o["Key"] for p in v2.paginate(Bucket=bucket, PaginationConfig={"PageSize": 170}) for o in p["Contents"]]
    expect_equal(small, keys, "ListObjectsV2 keys, pages of 170")
    v1 = [o["Key"] for p in ctx.s3.get_paginator("list_objects").paginate(Bucket=bucket) for o in p["Contents"]]
    expect_equal(v1, keys, "ListObjects keys")
    prefixes = [c["Prefix"] for p in v2.paginate(Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 1})
                for c in p.get("CommonPrefixes", [])]
    expect_equal(prefixes, ["dir0/", "dir1/", "dir2/"], "CommonPrefixes, one per page")
    under = [o["Key"] for p in v2.paginate(Bucket=bucket, Prefix="dir1/") for o in p["Contents"]]
    expect_equal(under, [k for k in keys if k.startswith("dir1/")], "keys under dir1/")
    for start in range(0, len(keys), 1000):
        batch = keys[start:start + 1000]
        response = ctx.s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch]})
        expect_equal(len(response.get("Deleted", [])), len(batch), "Deleted entries")
    expect_equal(ctx.s3.list_objects_v2(Bucket=bucket)["KeyCount"], 0, "keys left")
