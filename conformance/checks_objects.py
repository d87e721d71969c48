"""Object operations: PutObject, GetObject, HeadObject, DeleteObject,
DeleteObjects, CopyObject, GetObjectTagging; metadata round trips and
unicode keys (S3 API Reference, "Working with object metadata", "Naming
Amazon S3 objects")."""

from __future__ import annotations

import base64
import datetime
import hashlib

from conformance.context import CheckContext, new_bucket_name
from conformance.expect import expect, expect_equal, expect_error
from conformance.payload import random_bytes
from conformance.registry import check


def _md5_etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


@check("PutObject", "stores the bytes; ETag is their MD5")
def _put_object(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    data = random_bytes(200_000, 1)
    put = ctx.s3.put_object(Bucket=bucket, Key="object", Body=data)
    expect_equal(put["ETag"], _md5_etag(data), "ETag")
    got = ctx.s3.get_object(Bucket=bucket, Key="object")
    expect_equal(hashlib.sha256(got["Body"].read()).hexdigest(), hashlib.sha256(data).hexdigest(), "sha256 of GET")
    expect_equal(got["ETag"], _md5_etag(data), "GET ETag")
    expect_equal(got["ContentLength"], len(data), "Content-Length")


@check("PutObject", "empty object")
def _put_empty_object(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    put = ctx.s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    expect_equal(put["ETag"], _md5_etag(b""), "ETag")
    got = ctx.s3.get_object(Bucket=bucket, Key="empty")
    expect_equal((got["ContentLength"], got["Body"].read()), (0, b""), "GET")


@check("PutObject", "overwriting a key replaces the object")
def _put_overwrite(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    ctx.s3.put_object(Bucket=bucket, Key="k", Body=b"first version")
    ctx.s3.put_object(Bucket=bucket, Key="k", Body=b"second")
    expect_equal(ctx.s3.get_object(Bucket=bucket, Key="k")["Body"].read(), b"second", "body")


@check("PutObject", "Content-MD5 of other bytes: 400 BadDigest, nothing stored")
def _put_bad_digest(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    expect_error("BadDigest", 400, ctx.s3.put_object, Bucket=bucket, Key="k", Body=b"data", ContentMD5=wrong)
    expect_error("NoSuchKey", 404, ctx.s3.get_object, Bucket=bucket, Key="k")


@check("PutObject", "Content-MD5 not base64 of 16 bytes: 400 InvalidDigest")
def _put_invalid_digest(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    expect_error("InvalidDigest", 400, ctx.s3.put_object, Bucket=bucket, Key="k", Body=b"data",
                 ContentMD5=base64.b64encode(b"short").decode())


@check("PutObject", "missing bucket: 404 NoSuchBucket")
def _put_missing_bucket(ctx: CheckContext) -> None:
    expect_error("NoSuchBucket", 404, ctx.s3.put_object, Bucket=new_bucket_name("missing"), Key="k", Body=b"x")


@check("PutObject", "key longer than 1024 bytes: 400 KeyTooLongError")
def _put_key_too_long(ctx: CheckContext) -> None:
    expect_error("KeyTooLongError", 400, ctx.s3.put_object, Bucket=ctx.bucket(), Key="k" * 1025, Body=b"x")


@check("GetObject", "missing key: 404 NoSuchKey")
def _get_missing_key(ctx: CheckContext) -> None:
    expect_error("NoSuchKey", 404, ctx.s3.get_object, Bucket=ctx.bucket(), Key="missing")


@check("GetObject", "response-* parameters override the response headers")
def _get_response_overrides(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    ctx.s3.put_object(Bucket=bucket, Key="k", Body=b"x", ContentType="text/plain")
    got = ctx.s3.get_object(
        Bucket=bucket, Key="k", ResponseContentType="application/json",
        ResponseContentDisposition='attachment; filename="a.json"', ResponseCacheControl="no-cache",
        ResponseContentLanguage="de", ResponseContentEncoding="identity",
        ResponseExpires=datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC),
    )
    expect_equal(
        (got["ContentType"], got["ContentDisposition"], got["CacheControl"], got["ContentLanguage"],
         got["ContentEncoding"]),
        ("application/json", 'attachment; filename="a.json"', "no-cache", "de", "identity"), "overridden headers")
    expires = got["ResponseMetadata"]["HTTPHeaders"].get("expires", "")
    expect("2030" in expires, f"Expires {expires!r}")


@check("HeadObject", "size, ETag, Last-Modified and Content-Type without a body")
def _head_object(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    data = random_bytes(5000, 2)
    ctx.s3.put_object(Bucket=bucket, Key="k", Body=data, ContentType="image/png")
    head = ctx.s3.head_object(Bucket=bucket, Key="k")
    expect_equal((head["ContentLength"], head["ETag"], head["ContentType"]), (len(data), _md5_etag(data), "image/png"),
                 "HEAD")
    expect(isinstance(head.get("LastModified"), datetime.datetime), "Last-Modified missing")


@check("HeadObject", "missing key: 404")
def _head_missing(ctx: CheckContext) -> None:
    expect_error("404", 404, ctx.s3.head_object, Bucket=ctx.bucket(), Key="missing")


@check("DeleteObject", "deletes: 204, then NoSuchKey")
def _delete_object(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    ctx.s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    expect_equal(ctx.s3.delete_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPStatusCode"], 204, "status")
    expect_error("NoSuchKey", 404, ctx.s3.get_object, Bucket=bucket, Key="k")


@check("DeleteObject", "missing key: 204 all the same")
def _delete_missing_object(ctx: CheckContext) -> None:
    response = ctx.s3.delete_object(Bucket=ctx.bucket(), Key="never-written")
    expect_equal(response["ResponseMetadata"]["HTTPStatusCode"], 204, "status")


@check("DeleteObjects", "deletes every listed key (missing ones too) and reports each")
def _delete_objects(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    keys = [f"k{i}" for i in range(5)]
    for key in keys:
        ctx.s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    response = ctx.s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys + ["missing"]]})
    expect_equal(sorted(d["Key"] for d in response.get("Deleted", [])), sorted(keys + ["missing"]), "Deleted")
    expect_equal(response.get("Errors", []), [], "Errors")
    expect_equal(ctx.s3.list_objects_v2(Bucket=bucket)["KeyCount"], 0, "KeyCount after delete")


@check("DeleteObjects", "Quiet mode reports no deleted keys")
def _delete_objects_quiet(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    ctx.s3.put_object(Bucket=bucket, Key="a", Body=b"x")
    response = ctx.s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}], "Quiet": True})
    expect_equal(response.get("Deleted", []), [], "Deleted in quiet mode")
    expect_equal(ctx.s3.list_objects_v2(Bucket=bucket)["KeyCount"], 0, "KeyCount after delete")


@check("CopyObject", "copies bytes and metadata (COPY directive)")
def _copy_object(ctx: CheckContext) -> None:
    bucket, other = ctx.bucket(), ctx.bucket()
    data = random_bytes(70_000, 3)
    ctx.s3.put_object(Bucket=bucket, Key="src", Body=data, ContentType="text/csv", Metadata={"colour": "blue"})
    copied = ctx.s3.copy_object(Bucket=other, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    expect_equal(copied["CopyObjectResult"]["ETag"], _md5_etag(data), "CopyObjectResult ETag")
    got = ctx.s3.get_object(Bucket=other, Key="dst")
    expect_equal(got["Body"].read() == data, True, "copied bytes equal the source")
    expect_equal((got["ContentType"], got["Metadata"]), ("text/csv", {"colour": "blue"}), "copied metadata")


@check("CopyObject", "REPLACE directive replaces metadata")
def _copy_object_replace(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    ctx.s3.put_object(Bucket=bucket, Key="src", Body=b"data", Metadata={"old": "1"})
    ctx.s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"},
                       MetadataDirective="REPLACE", Metadata={"new": "2"}, ContentType="text/plain")
    head = ctx.s3.head_object(Bucket=bucket, Key="src")
    expect_equal((head["Metadata"], head["ContentType"]), ({"new": "2"}, "text/plain"), "metadata after REPLACE")


@check("CopyObject", "onto itself without changes: 400 InvalidRequest")
def _copy_onto_itself(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    ctx.s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    expect_error("InvalidRequest", 400, ctx.s3.copy_object, Bucket=bucket, Key="k",
                 CopySource={"Bucket": bucket, "Key": "k"})


@check("CopyObject", "missing source: 404 NoSuchKey")
def _copy_missing_source(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    expect_error("NoSuchKey", 404, ctx.s3.copy_object, Bucket=bucket, Key="dst",
                 CopySource={"Bucket": bucket, "Key": "missing"})


@check("GetObjectTagging", "an object without tags has an empty TagSet")
def _get_object_tagging(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    ctx.s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    expect_equal(ctx.s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"], [], "TagSet")


@check("Object metadata", "x-amz-meta-* round trip through PUT, HEAD and GET")
def _user_metadata(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    metadata = {"colour": "blue", "with-dash": "a value with spaces", "number": "42"}
    ctx.s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata=metadata)
    expect_equal(ctx.s3.head_object(Bucket=bucket, Key="k")["Metadata"], metadata, "HEAD metadata")
    expect_equal(ctx.s3.get_object(Bucket=bucket, Key="k")["Metadata"], metadata, "GET metadata")


@check("Object metadata", "Content-Type, -Disposition, -Encoding, -Language, Cache-Control, Expires round trip")
def _standard_headers(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    expires = datetime.datetime(2031, 5, 6, 7, 8, 9, tzinfo=datetime.UTC)
    sent = {"ContentType": "application/x-thing", "ContentDisposition": 'inline; filename="x.bin"',
            "ContentEncoding": "identity", "ContentLanguage": "fr-CA", "CacheControl": "max-age=60"}
    ctx.s3.put_object(Bucket=bucket, Key="k", Body=b"x", Expires=expires, **sent)
    for response in (ctx.s3.head_object(Bucket=bucket, Key="k"), ctx.s3.get_object(Bucket=bucket, Key="k")):
        expect_equal({name: response.get(name) for name in sent}, sent, "headers")
        raw = response["ResponseMetadata"]["HTTPHeaders"].get("expires", "")
        expect_equal(raw, "Tue, 06 May 2031 07:08:09 GMT", "Expires")


UNICODE_KEYS = [
    "日本語/ファイル.txt",
    "ümlaut é/naïve café.txt",
    "emoji 😀/🎉.bin",
    "spaces and + plus & amp = eq ? q # hash % pct",
    "semi;colon,comma:colon@at!bang'quote(paren)[br]{cu}~tilde$dollar",
    "tab\tand newline\nkey",
    "dots/../and/./slashes//double",
]


@check("Object keys", "unicode and reserved characters round trip through PUT, GET, HEAD, List, Copy, Delete")
def _unicode_keys(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    for index, key in enumerate(UNICODE_KEYS):
        ctx.s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
        expect_equal(ctx.s3.get_object(Bucket=bucket, Key=key)["Body"].read(), key.encode(), f"GET {key!r}")
        expect_equal(ctx.s3.head_object(Bucket=bucket, Key=key)["ContentLength"], len(key.encode()), f"HEAD {key!r}")
        ctx.s3.copy_object(Bucket=bucket, Key=f"copy-{index}", CopySource={"Bucket": bucket, "Key": key})
        expect_equal(ctx.s3.get_object(Bucket=bucket, Key=f"copy-{index}")["Body"].read(), key.encode(),
                     f"copy of {key!r}")
    listed = [o["Key"] for o in ctx.s3.list_objects_v2(Bucket=bucket)["Contents"]]
    expected = sorted(UNICODE_KEYS + [f"copy-{i}" for i in range(len(UNICODE_KEYS))], key=lambda k: k.encode())
    expect_equal(listed, expected, "listed keys (UTF-8 byte order)")
    v1 = [o["Key"] for o in ctx.s3.list_objects(Bucket=bucket)["Contents"]]
    expect_equal(v1, expected, "ListObjects (v1) keys")
    for key in UNICODE_KEYS:
        ctx.s3.delete_object(Bucket=bucket, Key=key)
        expect_error("NoSuchKey", 404, ctx.s3.get_object, Bucket=bucket, Key=key)
