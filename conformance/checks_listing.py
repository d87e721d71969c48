"""Listing: ListObjectsV2, ListObjects (v1) and ListObjectVersions; prefixes,
delimiters, pagination and key order (S3 API Reference, "Organizing objects
using prefixes")."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from conformance.context import CheckContext
from conformance.expect import expect, expect_equal
from conformance.registry import check

TREE = ["a/1", "a/2", "a/b/3", "a/b/4", "b/5", "c", "d-1", "d-2", "e/f/g/6"]


def _fill(ctx: CheckContext, keys: list[str]) -> str:
    bucket = ctx.bucket()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: ctx.s3.put_object(Bucket=bucket, Key=key, Body=key.encode()), keys))
    return bucket


def _pages_v2(ctx: CheckContext, **params: Any) -> list[dict[str, Any]]:
    """Every page of a ListObjectsV2 walk driven by hand with ContinuationToken."""
    pages, token = [], None
    while True:
        page = ctx.s3.list_objects_v2(**params, **({"ContinuationToken": token} if token else {}))
        pages.append(page)
        if not page["IsTruncated"]:
            return pages
        token = page.get("NextContinuationToken")
        expect(token, "IsTruncated without NextContinuationToken")
        expect(len(pages) < 100, "listing does not end")


def _entries(pages: list[dict[str, Any]]) -> list[str]:
    return [o["Key"] for p in pages for o in p.get("Contents", [])] + \
           [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]


@check("ListObjectsV2", "empty bucket: KeyCount 0, not truncated")
def _list_empty(ctx: CheckContext) -> None:
    page = ctx.s3.list_objects_v2(Bucket=ctx.bucket())
    expect_equal((page["KeyCount"], page["IsTruncated"], page.get("Contents", [])), (0, False, []), "listing")


@check("ListObjectsV2", "every key in order with size and ETag")
def _list_all(ctx: CheckContext) -> None:
    bucket = _fill(ctx, TREE)
    page = ctx.s3.list_objects_v2(Bucket=bucket)
    expect_equal([o["Key"] for o in page["Contents"]], sorted(TREE), "keys")
    expect_equal(page["KeyCount"], len(TREE), "KeyCount")
    expect(all(o["Size"] == len(o["Key"]) and o["ETag"].startswith('"') for o in page["Contents"]), "Size/ETag")


@check("ListObjectsV2", "Prefix selects keys starting with it")
def _list_prefix(ctx: CheckContext) -> None:
    bucket = _fill(ctx, TREE)
    page = ctx.s3.list_objects_v2(Bucket=bucket, Prefix="a/b")
    expect_equal([o["Key"] for o in page["Contents"]], ["a/b/3", "a/b/4"], "keys")
    expect_equal(page["Prefix"], "a/b", "Prefix echoed")


@check("ListObjectsV2", "Delimiter rolls keys up into CommonPrefixes")
def _list_delimiter(ctx: CheckContext) -> None:
    bucket = _fill(ctx, TREE)
    page = ctx.s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    expect_equal([o["Key"] for o in page.get("Contents", [])], ["c", "d-1", "d-2"], "keys")
    expect_equal([c["Prefix"] for c in page["CommonPrefixes"]], ["a/", "b/", "e/"], "CommonPrefixes")
    expect_equal(page["KeyCount"], 6, "KeyCount counts keys and prefixes")
    nested = ctx.s3.list_objects_v2(Bucket=bucket, Delimiter="/", Prefix="a/")
    expect_equal([o["Key"] for o in nested["Contents"]], ["a/1", "a/2"], "keys under a/")
    expect_equal([c["Prefix"] for c in nested["CommonPrefixes"]], ["a/b/"], "CommonPrefixes under a/")


@check("ListObjectsV2", "a delimiter other than '/' and a prefix ending mid-name")
def _list_other_delimiter(ctx: CheckContext) -> None:
    bucket = _fill(ctx, TREE)
    page = ctx.s3.list_objects_v2(Bucket=bucket, Delimiter="-")
    expect_equal([c["Prefix"] for c in page["CommonPrefixes"]], ["d-"], "CommonPrefixes for '-'")
    partial = ctx.s3.list_objects_v2(Bucket=bucket, Delimiter="/", Prefix="e/f")
    expect_equal([c["Prefix"] for c in partial["CommonPrefixes"]], ["e/f/"], "CommonPrefixes for prefix e/f")


@check("ListObjectsV2", "MaxKeys pages with ContinuationToken cover every key once")
def _list_pages(ctx: CheckContext) -> None:
    bucket = _fill(ctx, TREE)
    pages = _pages_v2(ctx, Bucket=bucket, MaxKeys=2)
    expect_equal([len(p.get("Contents", [])) for p in pages], [2, 2, 2, 2, 1], "page sizes")
    expect_equal(_entries(pages), sorted(TREE), "keys over all pages")


@check("ListObjectsV2", "pagination with a delimiter counts each CommonPrefix once")
def _list_pages_delimiter(ctx: CheckContext) -> None:
    bucket = _fill(ctx, TREE)
    pages = _pages_v2(ctx, Bucket=bucket, MaxKeys=2, Delimiter="/")
    expect(all(p["KeyCount"] <= 2 for p in pages), f"KeyCounts {[p['KeyCount'] for p in pages]} above MaxKeys")
    expect_equal(sorted(_entries(pages)), ["a/", "b/", "c", "d-1", "d-2", "e/"], "keys and prefixes over all pages")


@check("ListObjectsV2", "StartAfter begins after the given key")
def _list_start_after(ctx: CheckContext) -> None:
    bucket = _fill(ctx, TREE)
    page = ctx.s3.list_objects_v2(Bucket=bucket, StartAfter="b/5")
    expect_equal([o["Key"] for o in page["Contents"]], ["c", "d-1", "d-2", "e/f/g/6"], "keys")


@check("ListObjectsV2", "keys list in UTF-8 byte order")
def _list_byte_order(ctx: CheckContext) -> None:
    keys = ["Z", "a", "é", "z", "ä", "日", "😀", "~", "A", "0", "-", "_", "\u00ff", "\uffff"]
    bucket = _fill(ctx, keys)
    listed = [o["Key"] for o in ctx.s3.list_objects_v2(Bucket=bucket)["Contents"]]
    expect_equal(listed, sorted(keys, key=lambda k: k.encode()), "order")


@check("ListObjectsV2", "EncodingType=url percent-encodes keys and prefixes")
def _list_encoding_url(ctx: CheckContext) -> None:
    bucket = _fill(ctx, ["café/x", "plain"])
    # Given explicitly, botocore leaves the encoded names as the server sent them.
    page = ctx.s3.list_objects_v2(Bucket=bucket, EncodingType="url", Delimiter="/")
    expect_equal(page.get("EncodingType"), "url", "EncodingType")
    expect_equal([o["Key"] for o in page["Contents"]], ["plain"], "keys")
    expect_equal([c["Prefix"] for c in page["CommonPrefixes"]], ["caf%C3%A9/"], "CommonPrefixes")


@check("ListObjects", "v1 pages with Marker; NextMarker with a delimiter")
def _list_v1_pages(ctx: CheckContext) -> None:
    bucket = _fill(ctx, TREE)
    keys, marker = [], ""
    for _ in range(20):
        page = ctx.s3.list_objects(Bucket=bucket, MaxKeys=3, Marker=marker)
        keys += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        marker = page.get("NextMarker") or page["Contents"][-1]["Key"]
    expect_equal(keys, sorted(TREE), "keys over all pages")
    page = ctx.s3.list_objects(Bucket=bucket, MaxKeys=2, Delimiter="/")
    expect_equal((page["IsTruncated"], page.get("NextMarker")), (True, "b/"), "truncated page with delimiter")
    rest = ctx.s3.list_objects(Bucket=bucket, Delimiter="/", Marker=page["NextMarker"])
    expect_equal([o["Key"] for o in rest.get("Contents", [])] + [c["Prefix"] for c in rest.get("CommonPrefixes", [])],
                 ["c", "d-1", "d-2", "e/"], "entries after NextMarker")


@check("ListObjectVersions", "an unversioned bucket lists each key once, version id null")
def _list_versions(ctx: CheckContext) -> None:
    bucket = _fill(ctx, ["x", "y"])
    ctx.s3.put_object(Bucket=bucket, Key="x", Body=b"again")
    versions = ctx.s3.list_object_versions(Bucket=bucket).get("Versions", [])
    expect_equal([(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions],
                 [("x", "null", True), ("y", "null", True)], "versions")
