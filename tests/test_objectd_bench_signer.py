"""The benchmark's SigV4 signer against AWS's published example and botocore."""

from __future__ import annotations

import datetime
from unittest import mock

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from objectd.bench_signer import (
    EMPTY_SHA256,
    UNSIGNED_PAYLOAD,
    RequestSigner,
    canonical_query,
    encode_key_path,
)

EXAMPLE_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
EXAMPLE_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_aws_published_get_object_example() -> None:
    # "Signature Calculations for the Authorization Header: Transferring
    # Payload in a Single Chunk", example GET Object with a Range header.
    signer = RequestSigner(EXAMPLE_ACCESS_KEY, EXAMPLE_SECRET_KEY, "us-east-1")
    headers = signer.sign(
        "GET",
        "examplebucket.s3.amazonaws.com",
        "/test.txt",
        headers={"Range": "bytes=0-9"},
        payload_hash=EMPTY_SHA256,
        amz_date="20130524T000000Z",
    )
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )
    assert headers["x-amz-date"] == "20130524T000000Z"
    assert headers["x-amz-content-sha256"] == EMPTY_SHA256


def _botocore_authorization(
    method: str, url: str, headers: dict[str, str], region: str, when: datetime.datetime
) -> str:
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=b"")
    request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    auth = S3SigV4Auth(Credentials(EXAMPLE_ACCESS_KEY, EXAMPLE_SECRET_KEY), "s3", region)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        auth.add_auth(request)
    assert request.headers["X-Amz-Content-SHA256"] == UNSIGNED_PAYLOAD
    return str(request.headers["Authorization"])


@pytest.mark.parametrize(
    ("method", "bucket", "key", "params", "headers", "region"),
    [
        ("PUT", "bench-1", "large/000001", [], {}, "us-east-1"),
        ("GET", "bench-1", "small/a b+c~d_é.txt", [], {"Range": "bytes=65536-131071"}, "us-east-1"),
        ("GET", "bench-1", "", [("list-type", "2"), ("max-keys", "1000"), ("prefix", "run/list/"),
                                ("continuation-token", "a/b c=d")], {}, "eu-west-3"),
        ("POST", "bench-2", "", [("delete", "")], {"Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="}, "us-west-2"),
        ("DELETE", "bench-2", "list/00000042", [], {}, "us-east-1"),
    ],
)
def test_matches_botocore(
    method: str, bucket: str, key: str, params: list[tuple[str, str]], headers: dict[str, str], region: str
) -> None:
    when = datetime.datetime(2024, 2, 29, 23, 59, 58, tzinfo=datetime.UTC)
    host = "127.0.0.1:9000"
    path = encode_key_path(bucket, key)
    query = canonical_query(params)
    url = f"http://{host}{path}" + (f"?{query}" if query else "")
    expected = _botocore_authorization(method, url, headers, region, when)
    signer = RequestSigner(EXAMPLE_ACCESS_KEY, EXAMPLE_SECRET_KEY, region)
    ours = signer.sign(method, host, path, query, headers, amz_date=when.strftime("%Y%m%dT%H%M%SZ"))
    assert ours["Authorization"] == expected


def test_date_and_signing_key_follow_the_clock() -> None:
    now = [datetime.datetime(2024, 3, 1, 23, 59, 59, tzinfo=datetime.UTC).timestamp()]
    signer = RequestSigner(EXAMPLE_ACCESS_KEY, EXAMPLE_SECRET_KEY, "us-east-1", clock=lambda: now[0])
    first = signer.sign("GET", "h", "/b/k")
    now[0] += 1
    second = signer.sign("GET", "h", "/b/k")
    assert first["x-amz-date"] == "20240301T235959Z"
    assert second["x-amz-date"] == "20240302T000000Z"
    assert "/20240301/us-east-1/s3/aws4_request" in first["Authorization"]
    assert "/20240302/us-east-1/s3/aws4_request" in second["Authorization"]
    # Each day's signature is the one a fresh signer computes for that date.
    fresh = RequestSigner(EXAMPLE_ACCESS_KEY, EXAMPLE_SECRET_KEY, "us-east-1")
    assert fresh.sign("GET", "h", "/b/k", amz_date="20240302T000000Z") == second


def test_path_and_query_encoding() -> None:
    assert encode_key_path("b") == "/b"
    assert encode_key_path("b", "dir/a b+é~") == "/b/dir/a%20b%2B%C3%A9~"
    assert canonical_query([("prefix", "a/b"), ("list-type", "2"), ("delete", "")]) == (
        "delete=&list-type=2&prefix=a%2Fb"
    )
