"""Authentication and access between users ("Access control in Amazon S3";
S3 error codes): an unknown key is 403 InvalidAccessKeyId, a wrong secret 403
SignatureDoesNotMatch, an anonymous request to a private bucket 403
AccessDenied; a second user is denied another user's bucket and cannot take
its name (409 BucketAlreadyExists)."""

from __future__ import annotations

from conformance import raw_http
from conformance.context import CheckContext, s3_client
from conformance.endpoint import Credentials
from conformance.expect import expect, expect_equal, expect_error
from conformance.registry import check
from conformance.sigv4 import object_path


@check("Authentication", "unknown access key: 403 InvalidAccessKeyId")
def _unknown_access_key(ctx: CheckContext) -> None:
    stranger = s3_client(ctx.endpoint, Credentials("AKIANOSUCHKEY0000000", ctx.endpoint.root.secret_key))
    expect_error("InvalidAccessKeyId", 403, stranger.list_buckets)


@check("Authentication", "wrong secret key: 403 SignatureDoesNotMatch")
def _wrong_secret(ctx: CheckContext) -> None:
    impostor = s3_client(ctx.endpoint, Credentials(ctx.endpoint.root.access_key, "not-the-secret-key-0123456789"))
    expect_error("SignatureDoesNotMatch", 403, impostor.list_buckets)


@check("Authentication", "anonymous request to a private bucket: 403 AccessDenied")
def _anonymous_denied(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    ctx.s3.put_object(Bucket=bucket, Key="k", Body=b"private")
    for target in (object_path(bucket, "k"), object_path(bucket)):
        response = raw_http.send(ctx.endpoint, "GET", target)
        expect_equal((response.status, response.error_code), (403, "AccessDenied"), f"anonymous GET {target}")


@check("Access between users", "ListBuckets does not show another user's buckets")
def _alt_list_buckets(ctx: CheckContext) -> None:
    mine = ctx.bucket()
    theirs = [b["Name"] for b in ctx.alt_s3.list_buckets()["Buckets"]]
    expect(mine not in theirs, "the second user sees the first user's bucket")


@check("Access between users", "another user's bucket and objects: 403 AccessDenied")
def _alt_denied(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    ctx.s3.put_object(Bucket=bucket, Key="k", Body=b"mine")
    alt = ctx.alt_s3
    expect_error("AccessDenied", 403, alt.get_object, Bucket=bucket, Key="k")
    expect_error("AccessDenied", 403, alt.put_object, Bucket=bucket, Key="k", Body=b"theirs")
    expect_error("AccessDenied", 403, alt.put_object, Bucket=bucket, Key="new", Body=b"theirs")
    expect_error("AccessDenied", 403, alt.list_objects_v2, Bucket=bucket)
    expect_error("AccessDenied", 403, alt.delete_object, Bucket=bucket, Key="k")
    expect_error("AccessDenied", 403, alt.delete_bucket, Bucket=bucket)
    expect_error("AccessDenied", 403, alt.copy_object, Bucket=bucket, Key="copy", CopySource={"Bucket": bucket,
                                                                                              "Key": "k"})
    expect_error("AccessDenied", 403, alt.create_multipart_upload, Bucket=bucket, Key="mp")
    expect_error("403", 403, alt.head_bucket, Bucket=bucket)
    expect_error("403", 403, alt.head_object, Bucket=bucket, Key="k")
    expect_equal(ctx.s3.get_object(Bucket=bucket, Key="k")["Body"].read(), b"mine", "object after the attempts")
    expect_equal([o["Key"] for o in ctx.s3.list_objects_v2(Bucket=bucket)["Contents"]], ["k"], "keys")


@check("Access between users", "copying from another user's bucket: 403 AccessDenied")
def _alt_copy_source_denied(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    ctx.s3.put_object(Bucket=bucket, Key="k", Body=b"mine")
    alt_bucket = f"{bucket}-alt"
    ctx.alt_s3.create_bucket(Bucket=alt_bucket, **ctx.create_bucket_arguments())
    ctx.on_close(lambda: ctx.alt_s3.delete_bucket(Bucket=alt_bucket))
    expect_error("AccessDenied", 403, ctx.alt_s3.copy_object, Bucket=alt_bucket, Key="stolen",
                 CopySource={"Bucket": bucket, "Key": "k"})


@check("Access between users", "creating another user's bucket name: 409 BucketAlreadyExists")
def _alt_bucket_exists(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    expect_error("BucketAlreadyExists", 409, ctx.alt_s3.create_bucket, Bucket=bucket, **ctx.create_bucket_arguments())
