"""Tests for s3api.sigv2: AWS's published examples, botocore-signed requests, failures."""

from __future__ import annotations

import datetime as dt
from unittest import mock
from urllib.parse import quote, unquote, urlsplit

import botocore.auth
import botocore.session
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from s3api.errors import (
    AccessDenied,
    InvalidArgument,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
)
from s3api.sigv2 import SigV2Verifier, parse_authorization, parse_presigned
from s3api.sigv4 import AuthScheme, RequestParts, detect_auth_scheme

UTC = dt.UTC
DOC_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_HOST = "awsexamplebucket1.us-west-1.s3.amazonaws.com"


def doc_request(method: str, path: str, query: list[tuple[str, str]], headers: list[tuple[str, str]],
                signature: str) -> RequestParts:
    return RequestParts.build(
        method, path, query, [("Host", DOC_HOST), *headers, ("Authorization", f"AWS {DOC_ACCESS_KEY}:{signature}")]
    )


# "Signing and Authenticating REST Requests": virtual-hosted requests on awsexamplebucket1.
DOC_EXAMPLES = [
    pytest.param(
        doc_request("GET", "/photos/puppy.jpg", [], [("Date", "Tue, 27 Mar 2007 19:36:42 +0000")],
                    "qgk2+6Sv9/oM7G3qLEjTH1a1l1g="),
        dt.datetime(2007, 3, 27, 19, 36, 42, tzinfo=UTC), id="object-get",
    ),
    pytest.param(
        doc_request("PUT", "/photos/puppy.jpg", [],
                    [("Content-Type", "image/jpeg"), ("Content-Length", "94328"),
                     ("Date", "Tue, 27 Mar 2007 21:15:45 +0000")],
                    "iqRzw+ileNPu1fhspnRs8nOjjIA="),
        dt.datetime(2007, 3, 27, 21, 15, 45, tzinfo=UTC), id="object-put",
    ),
    pytest.param(
        doc_request("GET", "/", [("prefix", "photos"), ("max-keys", "50"), ("marker", "puppy")],
                    [("User-Agent", "Mozilla/5.0"), ("Date", "Tue, 27 Mar 2007 19:42:41 +0000")],
                    "m0WP8eCtspQl5Ahe6L1SozdX9YA="),
        dt.datetime(2007, 3, 27, 19, 42, 41, tzinfo=UTC), id="list",
    ),
    pytest.param(
        doc_request("GET", "/", [("acl", "")], [("Date", "Tue, 27 Mar 2007 19:44:46 +0000")],
                    "82ZHiFIjc+WbcwFKGUVEQspPn+0="),
        dt.datetime(2007, 3, 27, 19, 44, 46, tzinfo=UTC), id="fetch-acl",
    ),
]


def verify_header(parts: RequestParts, now: dt.datetime, secret: str = DOC_SECRET, host_bucket: str | None = None):
    auth = parse_authorization(parts.header("authorization") or "")
    return SigV2Verifier().verify(parts, auth, secret, now, host_bucket=host_bucket)


@pytest.mark.parametrize("parts, now", DOC_EXAMPLES)
def test_aws_examples_verify(parts, now):
    assert detect_auth_scheme(parts) is AuthScheme.SIGV2_HEADER
    verified = verify_header(parts, now + dt.timedelta(minutes=3), host_bucket="awsexamplebucket1")
    assert verified.access_key == DOC_ACCESS_KEY
    assert verified.request_time == now
    assert not verified.presigned


@pytest.mark.parametrize("parts, now", DOC_EXAMPLES)
def test_aws_examples_need_the_host_bucket(parts, now):
    with pytest.raises(SignatureDoesNotMatch) as caught:
        verify_header(parts, now)
    assert caught.value.fields["AWSAccessKeyId"] == DOC_ACCESS_KEY
    assert caught.value.fields["StringToSign"].startswith(parts.method + "\n")


@pytest.mark.parametrize("parts, now", DOC_EXAMPLES)
def test_aws_examples_reject_wrong_secret(parts, now):
    with pytest.raises(SignatureDoesNotMatch):
        verify_header(parts, now, secret=DOC_SECRET[:-1], host_bucket="awsexamplebucket1")


def test_aws_example_tampered_sub_resource():
    parts, now = DOC_EXAMPLES[0].values
    tampered = RequestParts.build(parts.method, parts.raw_path, [("versionId", "2")], parts.headers)
    with pytest.raises(SignatureDoesNotMatch):
        verify_header(tampered, now, host_bucket="awsexamplebucket1")
    # Ordinary query parameters are not signed in SigV2, sub-resources are.
    verify_header(RequestParts.build(parts.method, parts.raw_path, [("foo", "bar")], parts.headers), now,
                  host_bucket="awsexamplebucket1")


@pytest.mark.parametrize("minutes", [16, -16])
def test_clock_skew(minutes):
    parts, now = DOC_EXAMPLES[0].values
    with pytest.raises(RequestTimeTooSkewed) as caught:
        verify_header(parts, now + dt.timedelta(minutes=minutes), host_bucket="awsexamplebucket1")
    assert caught.value.fields["RequestTime"] == "Tue, 27 Mar 2007 19:36:42 +0000"


def test_missing_date():
    parts, now = DOC_EXAMPLES[0].values
    undated = RequestParts.build(parts.method, parts.raw_path, [], [h for h in parts.headers if h[0] != "date"])
    with pytest.raises(AccessDenied):
        verify_header(undated, now, host_bucket="awsexamplebucket1")


def test_x_amz_date_empties_the_date_line():
    # With x-amz-date, the Date line of the string to sign is empty and
    # x-amz-date is signed among the amz headers: "DELETE\n\n\n\nx-amz-date:...".
    headers = [("User-Agent", "dotnet"), ("x-amz-date", "Tue, 27 Mar 2007 21:20:26 +0000")]
    parts = doc_request("DELETE", "/photos/puppy.jpg", [], headers, "Ri1hpB1zpS9pGqR7y8kuNFCl4sE=")
    verify_header(parts, dt.datetime(2007, 3, 27, 21, 20, 26, tzinfo=UTC), host_bucket="awsexamplebucket1")


def test_aws_query_string_example():
    query = [("AWSAccessKeyId", DOC_ACCESS_KEY), ("Expires", "1175139620"),
             ("Signature", "NpgCjnDzrM+WFzoENXmpNDUsSn8=")]
    parts = RequestParts.build("GET", "/photos/puppy.jpg", query, [("Host", "johnsmith.s3.amazonaws.com")])
    assert detect_auth_scheme(parts) is AuthScheme.SIGV2_QUERY
    auth = parse_presigned(parts.query)
    expires = dt.datetime.fromtimestamp(1175139620, UTC)
    verified = SigV2Verifier().verify(parts, auth, DOC_SECRET, expires, host_bucket="johnsmith")
    assert verified.presigned and verified.access_key == DOC_ACCESS_KEY
    with pytest.raises(AccessDenied) as caught:
        SigV2Verifier().verify(parts, auth, DOC_SECRET, expires + dt.timedelta(seconds=1), host_bucket="johnsmith")
    assert caught.value.message == "Request has expired"
    assert caught.value.fields["Expires"] == "2007-03-29T03:40:20Z"
    # A form decoder that turned '+' into ' ' does not break the signature.
    spaced = [(n, v.replace("+", " ")) for n, v in query]
    SigV2Verifier().verify(parts, parse_presigned(spaced), DOC_SECRET, expires, host_bucket="johnsmith")


@pytest.mark.parametrize(
    "header", ["AWS AKID", "AWS :sig", "AWS AKID:", "AWS4 AKID:sig", "AWSAKID:sig"]
)
def test_malformed_authorization(header):
    with pytest.raises(InvalidArgument):
        parse_authorization(header)


@pytest.mark.parametrize(
    "query",
    [
        [("AWSAccessKeyId", "A"), ("Signature", "s")],
        [("AWSAccessKeyId", "A"), ("Expires", "1")],
        [("Signature", "s"), ("Expires", "1")],
        [("AWSAccessKeyId", "A"), ("Signature", "s"), ("Expires", "tomorrow")],
    ],
)
def test_malformed_presigned(query):
    with pytest.raises(AccessDenied):
        parse_presigned(query)


# --- requests signed by botocore ----------------------------------------------------

SIGNING_TIME = dt.datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
ACCESS_KEY = "AKIDV2EXAMPLE"
SECRET = "v2/secret+key="


class Captured(Exception):
    """Raised from botocore's before-send hook to stop at the wire."""

    def __init__(self, request) -> None:
        super().__init__("captured")
        self.request = request


def _capture(request, **_: object) -> None:
    raise Captured(request)


def wire_parts(method: str, url: str, headers) -> RequestParts:
    split = urlsplit(url)
    query = [
        (unquote(name), unquote(value))
        for name, _, value in (item.partition("=") for item in split.query.split("&") if item)
    ]
    pairs = [(k, v.decode("utf-8") if isinstance(v, bytes) else str(v)) for k, v in headers.items()]
    if not any(k.lower() == "host" for k, _ in pairs):
        pairs.append(("Host", split.netloc))
    return RequestParts.build(method, split.path, query, pairs)


@pytest.fixture(scope="module")
def client():
    session = botocore.session.get_session()
    s3 = session.create_client(
        "s3", region_name="us-east-1", endpoint_url="https://s3.example.com",
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET,
        config=Config(signature_version="s3", s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    s3.meta.events.register("before-send.s3", _capture)
    with mock.patch("time.time", return_value=SIGNING_TIME.timestamp()):
        yield s3


def send(client, operation: str, **params) -> RequestParts:
    with pytest.raises(Captured) as caught:
        getattr(client, operation)(**params)
    request = caught.value.request
    return wire_parts(request.method, request.url, request.headers)


KEYS = ["plain", "sp ace/plus+", "ü€😀", "double//slash", "~!$&'()*,;=:@", "%25literal%", "trailing/"]


@pytest.mark.parametrize("key", KEYS)
def test_botocore_signed_operations(client, key):
    for operation, params in [
        ("get_object", {"Bucket": "b", "Key": key, "VersionId": "v/1", "ResponseContentType": "a/b; c=d",
                        "Range": "bytes=0-1"}),
        ("put_object", {"Bucket": "b", "Key": key, "Body": b"body", "Metadata": {"m": "v  w"},
                        "ContentType": "text/plain", "ContentMD5": "kAFQmDzST7DWlj99KOF/cg=="}),
        ("get_object_acl", {"Bucket": "b", "Key": key}),
        ("upload_part", {"Bucket": "b", "Key": key, "UploadId": "u+1", "PartNumber": 2, "Body": b"p"}),
        ("delete_object", {"Bucket": "b", "Key": key}),
    ]:
        parts = send(client, operation, **params)
        assert detect_auth_scheme(parts) is AuthScheme.SIGV2_HEADER
        auth = parse_authorization(parts.header("authorization") or "")
        assert auth.access_key == ACCESS_KEY
        verified = SigV2Verifier().verify(parts, auth, SECRET, SIGNING_TIME)
        assert verified.request_time == SIGNING_TIME
        tampered = RequestParts.build(parts.method, parts.raw_path + "x", parts.query, parts.headers)
        with pytest.raises(SignatureDoesNotMatch):
            SigV2Verifier().verify(tampered, auth, SECRET, SIGNING_TIME)


@pytest.mark.parametrize(
    "operation, params",
    [("list_objects", {"Bucket": "bucket-one"}), ("head_bucket", {"Bucket": "bucket-one"}),
     ("get_bucket_location", {"Bucket": "bucket-one"})],
)
def test_botocore_signed_path_style_bucket_requests(client, operation, params):
    # botocore signs "/bucket" as the resource "/bucket/"; AWS accepts it.
    parts = send(client, operation, **params)
    auth = parse_authorization(parts.header("authorization") or "")
    SigV2Verifier().verify(parts, auth, SECRET, SIGNING_TIME)
    other = RequestParts.build(parts.method, "/bucket-two", parts.query, parts.headers)
    with pytest.raises(SignatureDoesNotMatch):
        SigV2Verifier().verify(other, auth, SECRET, SIGNING_TIME)


def test_botocore_signed_request_with_tampered_amz_header(client):
    parts = send(client, "put_object", Bucket="b", Key="k", Body=b"x", Metadata={"colour": "blue"})
    auth = parse_authorization(parts.header("authorization") or "")
    tampered = RequestParts.build(
        parts.method, parts.raw_path, parts.query,
        [(n, "red" if n == "x-amz-meta-colour" else v) for n, v in parts.headers],
    )
    with pytest.raises(SignatureDoesNotMatch):
        SigV2Verifier().verify(tampered, auth, SECRET, SIGNING_TIME)


@pytest.mark.parametrize("key", KEYS)
def test_botocore_presigned(client, key):
    url = client.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": key}, ExpiresIn=120)
    parts = wire_parts("GET", url, {"Host": "s3.example.com"})
    assert detect_auth_scheme(parts) is AuthScheme.SIGV2_QUERY
    auth = parse_presigned(parts.query)
    assert auth.expires == int(SIGNING_TIME.timestamp()) + 120
    SigV2Verifier().verify(parts, auth, SECRET, SIGNING_TIME)
    with pytest.raises(AccessDenied):
        SigV2Verifier().verify(parts, auth, SECRET, SIGNING_TIME + dt.timedelta(seconds=121))
    with pytest.raises(SignatureDoesNotMatch):
        SigV2Verifier().verify(RequestParts.build("PUT", parts.raw_path, parts.query, parts.headers), auth, SECRET,
                               SIGNING_TIME)


@pytest.mark.parametrize("key", KEYS)
def test_botocore_signer_virtual_hosted(key):
    path = "/" + quote(key, safe="/~")
    request = AWSRequest(method="GET", url=f"https://bucket.s3.example.com{path}?acl",
                         headers={"X-Amz-Meta-Two": "second", "x-amz-meta-one": "first"})
    request.auth_path = f"/bucket{path}"  # botocore appends the sub-resources itself
    with mock.patch("time.time", return_value=SIGNING_TIME.timestamp()):
        botocore.auth.HmacV1Auth(Credentials(ACCESS_KEY, SECRET)).add_auth(request)
    parts = wire_parts("GET", request.url, request.headers)
    auth = parse_authorization(parts.header("authorization") or "")
    SigV2Verifier().verify(parts, auth, SECRET, SIGNING_TIME, host_bucket="bucket")
    with pytest.raises(SignatureDoesNotMatch):
        SigV2Verifier().verify(parts, auth, SECRET, SIGNING_TIME, host_bucket="other")
