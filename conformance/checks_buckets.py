"""Bucket operations: CreateBucket, HeadBucket, DeleteBucket, ListBuckets,
GetBucketLocation, GetBucketVersioning, GetBucketAcl (S3 API Reference)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from conformance.context import CheckContext, new_bucket_name
from conformance.expect import expect, expect_equal, expect_error
from conformance.registry import check


@check("CreateBucket", "creates a bucket; Location names it")
def _create_bucket(ctx: CheckContext) -> None:
    name = new_bucket_name()
    response = ctx.s3.create_bucket(Bucket=name, **ctx.create_bucket_arguments())
    ctx.on_close(lambda: ctx.s3.delete_bucket(Bucket=name))
    expect_equal(response["ResponseMetadata"]["HTTPStatusCode"], 200, "status")
    expect(response.get("Location", "").rstrip("/").endswith(name), f"Location {response.get('Location')!r}")
    ctx.s3.head_bucket(Bucket=name)


@check("CreateBucket", "your own existing bucket: 409 BucketAlreadyOwnedByYou (200 in us-east-1)")
def _create_own_bucket_again(ctx: CheckContext) -> None:
    name = ctx.bucket()
    if ctx.endpoint.region == "us-east-1":
        # AWS: "For legacy compatibility, if you re-create an existing bucket that you
        # already own in the North Virginia Region, Amazon S3 returns 200 OK".
        try:
            ctx.s3.create_bucket(Bucket=name)
        except ClientError as error:
            got = (error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"])
            expect_equal(got, ("BucketAlreadyOwnedByYou", 409), "error")
        return
    expect_error("BucketAlreadyOwnedByYou", 409, ctx.s3.create_bucket, Bucket=name, **ctx.create_bucket_arguments())


@check("CreateBucket", "invalid names: 400 InvalidBucketName")
def _create_bucket_invalid_name(ctx: CheckContext) -> None:
    for name in ("ab", "Upper-Case-" + new_bucket_name(), "under_score-" + new_bucket_name(), "ends-with-dash-",
                 "192.168.5.4", "two..dots-" + new_bucket_name()):
        expect_error("InvalidBucketName", 400, ctx.s3.create_bucket, Bucket=name, **ctx.create_bucket_arguments())


@check("HeadBucket", "existing bucket: 200; missing bucket: 404")
def _head_bucket(ctx: CheckContext) -> None:
    name = ctx.bucket()
    expect_equal(ctx.s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"], 200, "status")
    expect_error("404", 404, ctx.s3.head_bucket, Bucket=new_bucket_name("missing"))


@check("DeleteBucket", "empty bucket: 204, then gone")
def _delete_bucket(ctx: CheckContext) -> None:
    name = new_bucket_name()
    ctx.s3.create_bucket(Bucket=name, **ctx.create_bucket_arguments())
    expect_equal(ctx.s3.delete_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"], 204, "status")
    expect_error("404", 404, ctx.s3.head_bucket, Bucket=name)


@check("DeleteBucket", "bucket with objects: 409 BucketNotEmpty")
def _delete_bucket_not_empty(ctx: CheckContext) -> None:
    name = ctx.bucket()
    ctx.s3.put_object(Bucket=name, Key="k", Body=b"x")
    expect_error("BucketNotEmpty", 409, ctx.s3.delete_bucket, Bucket=name)
    expect_equal(ctx.s3.get_object(Bucket=name, Key="k")["Body"].read(), b"x", "object after refused delete")


@check("DeleteBucket", "bucket with an upload in progress: 409 BucketNotEmpty")
def _delete_bucket_with_upload(ctx: CheckContext) -> None:
    name = ctx.bucket()
    ctx.s3.create_multipart_upload(Bucket=name, Key="k")
    expect_error("BucketNotEmpty", 409, ctx.s3.delete_bucket, Bucket=name)


@check("DeleteBucket", "missing bucket: 404 NoSuchBucket")
def _delete_missing_bucket(ctx: CheckContext) -> None:
    expect_error("NoSuchBucket", 404, ctx.s3.delete_bucket, Bucket=new_bucket_name("missing"))


@check("ListBuckets", "lists the caller's buckets with names, dates and an owner")
def _list_buckets(ctx: CheckContext) -> None:
    names = {ctx.bucket(), ctx.bucket()}
    response = ctx.s3.list_buckets()
    listed = {b["Name"]: b for b in response["Buckets"]}
    expect(names <= set(listed), f"missing from ListBuckets: {sorted(names - set(listed))}")
    expect(all("CreationDate" in listed[n] for n in names), "CreationDate missing")
    expect(response.get("Owner", {}).get("ID"), "Owner/ID missing")


@check("GetBucketLocation", "reports the bucket's region (null for us-east-1)")
def _get_bucket_location(ctx: CheckContext) -> None:
    name = ctx.bucket()
    location = ctx.s3.get_bucket_location(Bucket=name).get("LocationConstraint")
    expected = None if ctx.endpoint.region == "us-east-1" else ctx.endpoint.region
    expect_equal(location or None, expected, "LocationConstraint")


@check("GetBucketVersioning", "a new bucket has never been versioned (no Status)")
def _get_bucket_versioning(ctx: CheckContext) -> None:
    response = ctx.s3.get_bucket_versioning(Bucket=ctx.bucket())
    expect("Status" not in response, f"Status {response.get('Status')!r} on a new bucket")


@check("GetBucketAcl", "the owner holds FULL_CONTROL")
def _get_bucket_acl(ctx: CheckContext) -> None:
    response = ctx.s3.get_bucket_acl(Bucket=ctx.bucket())
    owner = response["Owner"]["ID"]
    grants = [(g["Grantee"].get("ID"), g["Permission"]) for g in response["Grants"]]
    expect((owner, "FULL_CONTROL") in grants, f"grants {grants} lack the owner's FULL_CONTROL")


@check("ListObjectsV2", "missing bucket: 404 NoSuchBucket")
def _list_missing_bucket(ctx: CheckContext) -> None:
    expect_error("NoSuchBucket", 404, ctx.s3.list_objects_v2, Bucket=new_bucket_name("missing"))
