"""Bucket and object settings as a new bucket has them on S3: ACLs disabled
(Object Ownership "bucket owner enforced", the default since April 2023:
reading an ACL shows the owner's FULL_CONTROL, setting one that grants
anything else is 400 AccessControlListNotSupported), default SSE-S3
encryption (since January 2023), and no tags, CORS, lifecycle or policy
(404 with each configuration's own error code)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conformance.context import CheckContext
from conformance.expect import expect, expect_equal, expect_error
from conformance.registry import check


@check("GetObjectAcl", "the owner holds FULL_CONTROL")
def _get_object_acl(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    ctx.s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    response = ctx.s3.get_object_acl(Bucket=bucket, Key="k")
    grants = [(g["Grantee"].get("ID"), g["Permission"]) for g in response["Grants"]]
    expect((response["Owner"]["ID"], "FULL_CONTROL") in grants, f"grants {grants} lack the owner's FULL_CONTROL")


@check("PutObjectAcl", "bucket-owner-full-control: 200; public-read: 400 AccessControlListNotSupported")
def _put_object_acl(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    ctx.s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    ctx.s3.put_object_acl(Bucket=bucket, Key="k", ACL="bucket-owner-full-control")
    expect_error("AccessControlListNotSupported", 400, ctx.s3.put_object_acl, Bucket=bucket, Key="k",
                 ACL="public-read")
    expect_error("AccessControlListNotSupported", 400, ctx.s3.put_object, Bucket=bucket, Key="k2", Body=b"x",
                 ACL="public-read")


@check("PutBucketAcl", "public-read: 400 AccessControlListNotSupported")
def _put_bucket_acl(ctx: CheckContext) -> None:
    expect_error("AccessControlListNotSupported", 400, ctx.s3.put_bucket_acl, Bucket=ctx.bucket(), ACL="public-read")


@check("GetBucketEncryption", "a new bucket reports the default SSE-S3 (AES256) encryption")
def _get_bucket_encryption(ctx: CheckContext) -> None:
    rules = ctx.s3.get_bucket_encryption(Bucket=ctx.bucket())["ServerSideEncryptionConfiguration"]["Rules"]
    algorithms = [r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in rules]
    expect_equal(algorithms, ["AES256"], "default SSEAlgorithm")


def _absent(operation: str, code: str) -> Callable[[CheckContext], None]:
    def run(ctx: CheckContext) -> None:
        call: Callable[..., Any] = getattr(ctx.s3, operation)
        expect_error(code, 404, call, Bucket=ctx.bucket())

    return run


for _group, _operation, _code in (
    ("GetBucketTagging", "get_bucket_tagging", "NoSuchTagSet"),
    ("GetBucketCors", "get_bucket_cors", "NoSuchCORSConfiguration"),
    ("GetBucketLifecycleConfiguration", "get_bucket_lifecycle_configuration", "NoSuchLifecycleConfiguration"),
    ("GetBucketPolicy", "get_bucket_policy", "NoSuchBucketPolicy"),
):
    check(_group, f"a new bucket has none: 404 {_code}")(_absent(_operation, _code))
