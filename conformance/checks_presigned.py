"""Presigned URLs ("Sharing objects with presigned URLs", "Authenticating
Requests: Using Query Parameters"): a URL grants its one request until it
expires; an expired URL is 403 AccessDenied, a changed one 403
SignatureDoesNotMatch, and X-Amz-Expires above 604800 (7 days) is 400
AuthorizationQueryParametersError."""

from __future__ import annotations

import datetime
import urllib.parse
from typing import Any

from conformance import raw_http
from conformance.context import CheckContext, s3_client
from conformance.expect import expect_equal
from conformance.payload import random_bytes
from conformance.registry import check
from conformance.sigv4 import object_path, presign_url


def _presigners(ctx: CheckContext) -> list[tuple[str, Any]]:
    """boto3 as configured by default (query SigV2 for S3 presigning) and with SigV4."""
    return [("default", ctx.s3), ("s3v4", s3_client(ctx.endpoint, ctx.endpoint.root, signature_version="s3v4"))]


def _with_query(url: str, name: str, change: Any) -> str:
    """``url`` with query parameter ``name``'s value replaced by ``change(value)``."""
    parts = urllib.parse.urlsplit(url)
    pairs = [(k, change(v) if k == name else v) for k, v in urllib.parse.parse_qsl(parts.query)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)))


@check("Presigned URL", "GET URL (boto3, default and SigV4) returns the object")
def _presigned_get(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    data = random_bytes(50_000, 30)
    ctx.s3.put_object(Bucket=bucket, Key="dir/file ü.bin", Body=data)
    for label, client in _presigners(ctx):
        url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "dir/file ü.bin"},
                                            ExpiresIn=300)
        response = raw_http.send_url(ctx.endpoint, "GET", url)
        expect_equal((response.status, response.body == data), (200, True), f"{label}: GET status, bytes equal")


@check("Presigned URL", "PUT URL (boto3, default and SigV4) stores the body")
def _presigned_put(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    for label, client in _presigners(ctx):
        data = random_bytes(40_000, len(label))
        url = client.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": label}, ExpiresIn=300)
        response = raw_http.send_url(ctx.endpoint, "PUT", url, body=data)
        expect_equal(response.status, 200, f"{label}: PUT status ({response.describe()})")
        expect_equal(ctx.s3.get_object(Bucket=bucket, Key=label)["Body"].read() == data, True,
                     f"{label}: stored bytes equal")


@check("Presigned URL", "expired URL: 403 AccessDenied")
def _presigned_expired(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    ctx.s3.put_object(Bucket=bucket, Key="k", Body=b"secret")
    signed_at = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=2)
    url = presign_url(ctx.endpoint, ctx.endpoint.root, "GET", object_path(bucket, "k"), 60, signed_at)
    response = raw_http.send_url(ctx.endpoint, "GET", url)
    expect_equal((response.status, response.error_code), (403, "AccessDenied"), "response")
    fresh = presign_url(ctx.endpoint, ctx.endpoint.root, "GET", object_path(bucket, "k"), 60)
    expect_equal(raw_http.send_url(ctx.endpoint, "GET", fresh).body, b"secret", "the same URL signed now")


@check("Presigned URL", "tampered signature, key or expiry: 403 SignatureDoesNotMatch")
def _presigned_tampered(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    ctx.s3.put_object(Bucket=bucket, Key="k", Body=b"secret")
    ctx.s3.put_object(Bucket=bucket, Key="other", Body=b"other")
    for label, client in _presigners(ctx):
        url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=300)
        v4 = "X-Amz-Signature=" in url
        signature, expiry = ("X-Amz-Signature", "X-Amz-Expires") if v4 else ("Signature", "Expires")
        for changed_part, changed in (
            ("signature", _with_query(url, signature, lambda v: ("A" if v[0] != "A" else "B") + v[1:])),
            ("key", url.replace(f"/{bucket}/k?", f"/{bucket}/other?")),
            ("expiry", _with_query(url, expiry, lambda v: str(int(v) + 1))),
        ):
            response = raw_http.send_url(ctx.endpoint, "GET", changed)
            expect_equal((response.status, response.error_code), (403, "SignatureDoesNotMatch"),
                         f"{label}: changed {changed_part}")


@check("Presigned URL", "X-Amz-Expires over 7 days: 400 AuthorizationQueryParametersError")
def _presigned_too_long(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    ctx.s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = presign_url(ctx.endpoint, ctx.endpoint.root, "GET", object_path(bucket, "k"), 604801)
    response = raw_http.send_url(ctx.endpoint, "GET", url)
    expect_equal((response.status, response.error_code), (400, "AuthorizationQueryParametersError"), "response")
