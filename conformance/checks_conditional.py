"""Conditional requests (S3 API Reference GetObject/HeadObject/PutObject/
CopyObject; RFC 9110 section 13): If-Match and If-Unmodified-Since fail with
412 PreconditionFailed, If-None-Match and If-Modified-Since with 304 Not
Modified; If-None-Match takes precedence over If-Modified-Since and If-Match
over If-Unmodified-Since; PutObject with ``If-None-Match: *`` writes only a
new key."""

from __future__ import annotations

import datetime

from conformance.context import CheckContext
from conformance.expect import expect_equal, expect_error
from conformance.registry import check

DAY = datetime.timedelta(days=1)


def _object(ctx: CheckContext) -> tuple[str, str, datetime.datetime]:
    bucket = ctx.bucket()
    ctx.s3.put_object(Bucket=bucket, Key="k", Body=b"conditional")
    head = ctx.s3.head_object(Bucket=bucket, Key="k")
    return bucket, head["ETag"], head["LastModified"]


@check("GetObject", "If-Match: 200 when it matches, 412 PreconditionFailed when not")
def _if_match(ctx: CheckContext) -> None:
    bucket, etag, _ = _object(ctx)
    expect_equal(ctx.s3.get_object(Bucket=bucket, Key="k", IfMatch=etag)["Body"].read(), b"conditional", "body")
    expect_error("PreconditionFailed", 412, ctx.s3.get_object, Bucket=bucket, Key="k", IfMatch='"0000"')


@check("GetObject", "If-None-Match: 304 when it matches, 200 when not")
def _if_none_match(ctx: CheckContext) -> None:
    bucket, etag, _ = _object(ctx)
    expect_error("304", 304, ctx.s3.get_object, Bucket=bucket, Key="k", IfNoneMatch=etag)
    expect_equal(ctx.s3.get_object(Bucket=bucket, Key="k", IfNoneMatch='"0000"')["Body"].read(), b"conditional",
                 "body")


@check("GetObject", "If-Modified-Since: 304 when not modified since, 200 otherwise")
def _if_modified_since(ctx: CheckContext) -> None:
    bucket, _, modified = _object(ctx)
    expect_error("304", 304, ctx.s3.get_object, Bucket=bucket, Key="k", IfModifiedSince=modified + DAY)
    ctx.s3.get_object(Bucket=bucket, Key="k", IfModifiedSince=modified - DAY)


@check("GetObject", "If-Unmodified-Since: 412 when modified since, 200 otherwise")
def _if_unmodified_since(ctx: CheckContext) -> None:
    bucket, _, modified = _object(ctx)
    expect_error("PreconditionFailed", 412, ctx.s3.get_object, Bucket=bucket, Key="k",
                 IfUnmodifiedSince=modified - DAY)
    ctx.s3.get_object(Bucket=bucket, Key="k", IfUnmodifiedSince=modified + DAY)


@check("GetObject", "If-None-Match decides before If-Modified-Since, If-Match before If-Unmodified-Since")
def _condition_precedence(ctx: CheckContext) -> None:
    bucket, etag, modified = _object(ctx)
    # If-None-Match is false (matches) and If-Modified-Since true: 304.
    expect_error("304", 304, ctx.s3.get_object, Bucket=bucket, Key="k", IfNoneMatch=etag,
                 IfModifiedSince=modified - DAY)
    # If-Match true and If-Unmodified-Since false: 200.
    ctx.s3.get_object(Bucket=bucket, Key="k", IfMatch=etag, IfUnmodifiedSince=modified - DAY)


@check("HeadObject", "If-None-Match: 304; If-Match mismatch: 412")
def _head_conditions(ctx: CheckContext) -> None:
    bucket, etag, _ = _object(ctx)
    expect_error("304", 304, ctx.s3.head_object, Bucket=bucket, Key="k", IfNoneMatch=etag)
    expect_error("412", 412, ctx.s3.head_object, Bucket=bucket, Key="k", IfMatch='"0000"')


@check("PutObject", "If-None-Match: * writes a new key; on an existing key 412 PreconditionFailed")
def _put_if_none_match(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    ctx.s3.put_object(Bucket=bucket, Key="k", Body=b"first", IfNoneMatch="*")
    expect_error("PreconditionFailed", 412, ctx.s3.put_object, Bucket=bucket, Key="k", Body=b"second",
                 IfNoneMatch="*")
    expect_equal(ctx.s3.get_object(Bucket=bucket, Key="k")["Body"].read(), b"first", "object kept")


@check("CopyObject", "x-amz-copy-source-if-match mismatch: 412 PreconditionFailed")
def _copy_if_match(ctx: CheckContext) -> None:
    bucket, etag, _ = _object(ctx)
    ctx.s3.copy_object(Bucket=bucket, Key="ok", CopySource={"Bucket": bucket, "Key": "k"}, CopySourceIfMatch=etag)
    expect_error("PreconditionFailed", 412, ctx.s3.copy_object, Bucket=bucket, Key="no",
                 CopySource={"Bucket": bucket, "Key": "k"}, CopySourceIfMatch='"0000"')
    expect_error("NoSuchKey", 404, ctx.s3.get_object, Bucket=bucket, Key="no")
