"""Tests for s3api.sigv4: AWS's published examples, botocore-signed requests, failures."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
from collections.abc import Callable, Iterator
from unittest import mock
from urllib.parse import unquote, urlsplit

import botocore.auth
import botocore.session
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from s3api.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    InvalidArgument,
    InvalidRequest,
    NotImplemented,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
)
from s3api.sigv4 import (
    EMPTY_SHA256,
    AuthScheme,
    ChunkSignatureChain,
    PayloadMode,
    RequestParts,
    SigV4Authorization,
    SigV4Verifier,
    canonical_query_string,
    canonical_uri,
    derive_signing_key,
    detect_auth_scheme,
    parse_authorization,
    parse_payload_hash,
    parse_presigned,
)

UTC = dt.UTC
DOC_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_TIME = dt.datetime(2013, 5, 24, 0, 0, 0, tzinfo=UTC)
DOC_HOST = "examplebucket.s3.amazonaws.com"


def doc_authorization(signed_headers: str, signature: str) -> tuple[str, str]:
    return (
        "Authorization",
        (
            f"AWS4-HMAC-SHA256 Credential={DOC_ACCESS_KEY}/20130524/us-east-1/s3/aws4_request,"
            f"SignedHeaders={signed_headers},Signature={signature}"
        ),
    )


def verify_header_auth(parts: RequestParts, secret: str = DOC_SECRET, now: dt.datetime = DOC_TIME,
                       verifier: SigV4Verifier | None = None):
    auth = parse_authorization(parts.header("authorization") or "")
    return (verifier or SigV4Verifier()).verify(parts, auth, secret, now)


# --- AWS's published examples -------------------------------------------------

DOC_HEADER_EXAMPLES = [
    pytest.param(
        "GET", "/test.txt", [],
        [("Host", DOC_HOST), ("Range", "bytes=0-9"), ("x-amz-content-sha256", EMPTY_SHA256),
         ("x-amz-date", "20130524T000000Z")],
        "host;range;x-amz-content-sha256;x-amz-date",
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        id="get-object-range",
    ),
    pytest.param(
        "PUT", "/test%24file.text", [],
        [("Host", DOC_HOST), ("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-date", "20130524T000000Z"),
         ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
         ("x-amz-content-sha256", hashlib.sha256(b"Welcome to Amazon S3.").hexdigest())],
        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
        id="put-object",
    ),
    pytest.param(
        "GET", "/", [("lifecycle", "")],
        [("Host", DOC_HOST), ("x-amz-date", "20130524T000000Z"), ("x-amz-content-sha256", EMPTY_SHA256)],
        "host;x-amz-content-sha256;x-amz-date",
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
        id="get-bucket-lifecycle",
    ),
    pytest.param(
        "GET", "/", [("max-keys", "2"), ("prefix", "J")],
        [("Host", DOC_HOST), ("x-amz-date", "20130524T000000Z"), ("x-amz-content-sha256", EMPTY_SHA256)],
        "host;x-amz-content-sha256;x-amz-date",
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
        id="list-objects",
    ),
]


@pytest.mark.parametrize("method, path, query, headers, signed, signature", DOC_HEADER_EXAMPLES)
def test_aws_header_examples_verify(method, path, query, headers, signed, signature):
    parts = RequestParts.build(method, path, query, headers + [doc_authorization(signed, signature)])
    verified = verify_header_auth(parts)
    assert verified.access_key == DOC_ACCESS_KEY
    assert verified.region == "us-east-1"
    assert verified.request_time == DOC_TIME
    assert verified.payload_mode is PayloadMode.SHA256
    assert verified.payload_sha256 == parts.header("x-amz-content-sha256")
    assert verified.signing.seed_signature == signature
    assert verified.signing.scope == "20130524/us-east-1/s3/aws4_request"
    assert verified.signing.timestamp == "20130524T000000Z"
    assert verified.signing.signing_key == derive_signing_key(DOC_SECRET, "20130524", "us-east-1", "s3")


@pytest.mark.parametrize("method, path, query, headers, signed, signature", DOC_HEADER_EXAMPLES)
def test_aws_header_examples_reject_a_flipped_signature(method, path, query, headers, signed, signature):
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    parts = RequestParts.build(method, path, query, headers + [doc_authorization(signed, flipped)])
    with pytest.raises(SignatureDoesNotMatch) as caught:
        verify_header_auth(parts)
    assert caught.value.fields["SignatureProvided"] == flipped
    assert caught.value.fields["AWSAccessKeyId"] == DOC_ACCESS_KEY
    assert caught.value.fields["CanonicalRequest"].startswith(f"{method}\n")
    assert caught.value.fields["StringToSign"].startswith("AWS4-HMAC-SHA256\n20130524T000000Z\n")


def doc_presigned_parts(expires: str = "86400", signature: str | None = None) -> RequestParts:
    query = [
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", f"{DOC_ACCESS_KEY}/20130524/us-east-1/s3/aws4_request"),
        ("X-Amz-Date", "20130524T000000Z"),
        ("X-Amz-Expires", expires),
        ("X-Amz-SignedHeaders", "host"),
        ("X-Amz-Signature", signature or "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"),
    ]
    return RequestParts.build("GET", "/test.txt", query, [("Host", DOC_HOST)])


def test_aws_presigned_example_verifies():
    parts = doc_presigned_parts()
    verified = SigV4Verifier().verify(parts, parse_presigned(parts.query), DOC_SECRET, DOC_TIME)
    assert verified.presigned
    assert verified.payload_mode is PayloadMode.UNSIGNED
    assert verified.payload_sha256 is None
    assert verified.access_key == DOC_ACCESS_KEY


def test_aws_presigned_example_near_the_end_of_its_validity():
    parts = doc_presigned_parts()
    auth = parse_presigned(parts.query)
    SigV4Verifier().verify(parts, auth, DOC_SECRET, DOC_TIME + dt.timedelta(seconds=86400))
    with pytest.raises(AccessDenied) as caught:
        SigV4Verifier().verify(parts, auth, DOC_SECRET, DOC_TIME + dt.timedelta(seconds=86401))
    assert caught.value.message == "Request has expired"
    assert caught.value.fields["X-Amz-Expires"] == "86400"
    assert caught.value.fields["Expires"] == "2013-05-25T00:00:00Z"
    assert caught.value.fields["ServerTime"] == "2013-05-25T00:00:01Z"


def test_presigned_dated_in_the_future_is_not_yet_valid():
    parts = doc_presigned_parts()
    auth = parse_presigned(parts.query)
    SigV4Verifier().verify(parts, auth, DOC_SECRET, DOC_TIME - dt.timedelta(minutes=14))
    with pytest.raises(AccessDenied) as caught:
        SigV4Verifier().verify(parts, auth, DOC_SECRET, DOC_TIME - dt.timedelta(minutes=16))
    assert caught.value.message == "Request is not yet valid"
    assert caught.value.fields["X-Amz-Date"] == str(int(DOC_TIME.timestamp()) * 1000)


def test_presigned_signature_covers_expiry():
    parts = doc_presigned_parts(expires="86401")
    with pytest.raises(SignatureDoesNotMatch):
        SigV4Verifier().verify(parts, parse_presigned(parts.query), DOC_SECRET, DOC_TIME)


@pytest.mark.parametrize(
    "expires, message",
    [
        ("604801", "X-Amz-Expires must be less than a week (in seconds) that is 604800"),
        ("-1", "X-Amz-Expires must be non-negative"),
        ("soon", "X-Amz-Expires should be a number"),
    ],
)
def test_presigned_expiry_out_of_range(expires, message):
    with pytest.raises(AuthorizationQueryParametersError) as caught:
        parse_presigned(doc_presigned_parts(expires=expires).query)
    assert caught.value.message == message


def test_presigned_longest_expiry_is_accepted():
    assert parse_presigned(doc_presigned_parts(expires="604800").query).expires == 604800


@pytest.mark.parametrize(
    "drop", ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
             "X-Amz-Signature"]
)
def test_presigned_missing_parameter(drop):
    query = [(name, value) for name, value in doc_presigned_parts().query if name != drop]
    with pytest.raises(AuthorizationQueryParametersError):
        parse_presigned(query)


@pytest.mark.parametrize(
    "name, value, error",
    [
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA1", AuthorizationQueryParametersError),
        ("X-Amz-Algorithm", "AWS4-ECDSA-P256-SHA256", NotImplemented),
        ("X-Amz-Date", "2013-05-24T00:00:00Z", AuthorizationQueryParametersError),
        ("X-Amz-Date", "20131324T000000Z", AuthorizationQueryParametersError),
        ("X-Amz-Credential", "AKID/20130524/us-east-1/s3", AuthorizationQueryParametersError),
        ("X-Amz-Credential", "AKID/2013-05-24/us-east-1/s3/aws4_request", AuthorizationQueryParametersError),
    ],
)
def test_presigned_malformed_parameter(name, value, error):
    query = [(n, value if n == name else v) for n, v in doc_presigned_parts().query]
    with pytest.raises(error):
        parse_presigned(query)


def test_presigned_credential_date_must_match_x_amz_date():
    query = [
        (n, f"{DOC_ACCESS_KEY}/20130525/us-east-1/s3/aws4_request" if n == "X-Amz-Credential" else v)
        for n, v in doc_presigned_parts().query
    ]
    parts = RequestParts.build("GET", "/test.txt", query, [("Host", DOC_HOST)])
    with pytest.raises(AuthorizationQueryParametersError):
        SigV4Verifier().verify(parts, parse_presigned(parts.query), DOC_SECRET, DOC_TIME)


def test_presigned_wrong_region_when_the_server_pins_one():
    parts = doc_presigned_parts()
    with pytest.raises(AuthorizationQueryParametersError) as caught:
        SigV4Verifier(region="eu-west-1").verify(parts, parse_presigned(parts.query), DOC_SECRET, DOC_TIME)
    assert caught.value.fields["Region"] == "eu-west-1"


def test_presigned_with_unsigned_amz_header_is_denied():
    base = doc_presigned_parts()
    parts = RequestParts.build("GET", base.raw_path, base.query, [("Host", DOC_HOST), ("x-amz-meta-a", "b")])
    with pytest.raises(AccessDenied) as caught:
        SigV4Verifier().verify(parts, parse_presigned(parts.query), DOC_SECRET, DOC_TIME)
    assert caught.value.fields["HeadersNotSigned"] == "x-amz-meta-a"


# --- header-auth failure modes on the GET-with-Range example ---------------------

GET_RANGE = DOC_HEADER_EXAMPLES[0].values


def get_range_parts(replace: dict[str, str] | None = None, extra: list[tuple[str, str]] | None = None,
                    drop: str | None = None, path: str = "/test.txt",
                    signed: str = "host;range;x-amz-content-sha256;x-amz-date",
                    signature: str = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
                    ) -> RequestParts:
    replace = replace or {}
    headers = [(name, replace.get(name.lower(), value)) for name, value in GET_RANGE[3] if name.lower() != drop]
    return RequestParts.build("GET", path, [], headers + (extra or []) + [doc_authorization(signed, signature)])


def test_tampered_signed_header():
    with pytest.raises(SignatureDoesNotMatch):
        verify_header_auth(get_range_parts(replace={"range": "bytes=0-10"}))


def test_tampered_path_and_query():
    with pytest.raises(SignatureDoesNotMatch):
        verify_header_auth(get_range_parts(path="/test.txu"))
    parts = get_range_parts()
    with pytest.raises(SignatureDoesNotMatch):
        verify_header_auth(RequestParts.build("GET", parts.raw_path, [("versionId", "1")], parts.headers))


def test_tampered_method():
    parts = get_range_parts()
    with pytest.raises(SignatureDoesNotMatch):
        verify_header_auth(RequestParts.build("HEAD", parts.raw_path, parts.query, parts.headers))


def test_wrong_secret():
    with pytest.raises(SignatureDoesNotMatch):
        verify_header_auth(get_range_parts(), secret=DOC_SECRET + "x")


def test_wrong_signed_headers():
    with pytest.raises(SignatureDoesNotMatch):
        verify_header_auth(get_range_parts(signed="host;x-amz-content-sha256;x-amz-date", extra=[]))


def test_host_must_be_signed():
    with pytest.raises(AccessDenied) as caught:
        verify_header_auth(get_range_parts(signed="range;x-amz-content-sha256;x-amz-date"))
    assert caught.value.fields["HeadersNotSigned"] == "host"


def test_unsigned_amz_header_is_denied():
    with pytest.raises(AccessDenied) as caught:
        verify_header_auth(get_range_parts(extra=[("X-Amz-Meta-Color", "blue"), ("x-amz-acl", "private")]))
    assert caught.value.message == "There were headers present in the request which were not signed"
    assert caught.value.fields["HeadersNotSigned"] == "x-amz-acl, x-amz-meta-color"


def test_unsigned_ordinary_header_is_allowed():
    verify_header_auth(get_range_parts(extra=[("User-Agent", "curl/8"), ("Expect", "100-continue")]))


@pytest.mark.parametrize("minutes", [15, -15])
def test_clock_skew_within_fifteen_minutes(minutes):
    verify_header_auth(get_range_parts(), now=DOC_TIME + dt.timedelta(minutes=minutes))


@pytest.mark.parametrize("minutes", [16, -16])
def test_clock_skew_beyond_fifteen_minutes(minutes):
    with pytest.raises(RequestTimeTooSkewed) as caught:
        verify_header_auth(get_range_parts(), now=DOC_TIME + dt.timedelta(minutes=minutes))
    assert caught.value.fields["RequestTime"] == "20130524T000000Z"
    assert caught.value.fields["MaxAllowedSkewMilliseconds"] == "900000"
    assert caught.value.fields["ServerTime"] == (DOC_TIME + dt.timedelta(minutes=minutes)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def test_naive_now_is_utc():
    verify_header_auth(get_range_parts(), now=DOC_TIME.replace(tzinfo=None))


def test_missing_date_is_denied():
    with pytest.raises(AccessDenied) as caught:
        verify_header_auth(get_range_parts(drop="x-amz-date"))
    assert caught.value.message == "AWS authentication requires a valid Date or x-amz-date header"


def test_malformed_x_amz_date_is_denied():
    with pytest.raises(AccessDenied):
        verify_header_auth(get_range_parts(replace={"x-amz-date": "2013-05-24T00:00:00Z"}))


def test_date_header_alone_is_accepted_as_request_time():
    # Signed with the Date header instead of x-amz-date: the string to sign
    # carries the SigV4 form of that date.
    headers = [("Host", DOC_HOST), ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
               ("x-amz-content-sha256", EMPTY_SHA256)]
    signed = "date;host;x-amz-content-sha256"
    canonical = (
        f"GET\n/test.txt\n\ndate:Fri, 24 May 2013 00:00:00 GMT\nhost:{DOC_HOST}\n"
        f"x-amz-content-sha256:{EMPTY_SHA256}\n\n{signed}\n{EMPTY_SHA256}"
    )
    string_to_sign = (
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
        + hashlib.sha256(canonical.encode()).hexdigest()
    )
    key = derive_signing_key(DOC_SECRET, "20130524", "us-east-1", "s3")
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    parts = RequestParts.build("GET", "/test.txt", [], headers + [doc_authorization(signed, signature)])
    assert verify_header_auth(parts).request_time == DOC_TIME


def test_missing_content_sha256_is_invalid_request():
    with pytest.raises(InvalidRequest) as caught:
        verify_header_auth(get_range_parts(drop="x-amz-content-sha256"))
    assert caught.value.message == "Missing required header for this request: x-amz-content-sha256"


@pytest.mark.parametrize("value", ["abc", "UNSIGNED", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g"])
def test_malformed_content_sha256_is_invalid_argument(value):
    with pytest.raises(InvalidArgument) as caught:
        verify_header_auth(get_range_parts(replace={"x-amz-content-sha256": value}))
    assert caught.value.fields["ArgumentName"] == "x-amz-content-sha256"


@pytest.mark.parametrize(
    "credential, message_part",
    [
        (f"{DOC_ACCESS_KEY}/20130524/us-east-1/ec2/aws4_request", 'incorrect service "ec2"'),
        (f"{DOC_ACCESS_KEY}/20130524/us-east-1/s3/aws5_request", 'incorrect terminal "aws5_request"'),
        (f"{DOC_ACCESS_KEY}/20130525/us-east-1/s3/aws4_request", "Invalid credential date"),
    ],
)
def test_bad_credential_scope(credential, message_part):
    parts = get_range_parts()
    header = (parts.header("authorization") or "").replace(
        f"{DOC_ACCESS_KEY}/20130524/us-east-1/s3/aws4_request", credential
    )
    parts = RequestParts.build("GET", parts.raw_path, [], [h for h in parts.headers if h[0] != "authorization"]
                               + [("authorization", header)])
    with pytest.raises(AuthorizationHeaderMalformed) as caught:
        verify_header_auth(parts)
    assert message_part in caught.value.message


def test_region_pinned_by_server():
    with pytest.raises(AuthorizationHeaderMalformed) as caught:
        verify_header_auth(get_range_parts(), verifier=SigV4Verifier(region="eu-central-1"))
    assert caught.value.message.endswith("the region 'us-east-1' is wrong; expecting 'eu-central-1'")
    assert caught.value.fields["Region"] == "eu-central-1"
    verify_header_auth(get_range_parts(), verifier=SigV4Verifier(region="us-east-1"))


# --- parsing ---------------------------------------------------------------------


def test_parse_authorization_tolerates_spacing():
    auth = parse_authorization(
        "AWS4-HMAC-SHA256 Credential=AK/20240101/eu-west-3/s3/aws4_request ,  SignedHeaders=Host;X-Amz-Date,"
        "Signature=" + "0" * 64
    )
    assert auth.credential.access_key == "AK"
    assert auth.credential.region == "eu-west-3"
    assert auth.credential.scope == "20240101/eu-west-3/s3/aws4_request"
    assert auth.signed_headers == ("host", "x-amz-date")
    assert auth.signature == "0" * 64
    assert not auth.presigned


@pytest.mark.parametrize(
    "header, error",
    [
        ("AWS4-HMAC-SHA256 Credential=AK/20240101/eu-west-3/s3/aws4_request, SignedHeaders=host", AuthorizationHeaderMalformed),
        ("AWS4-HMAC-SHA256 Credential=AK/20240101/s3/aws4_request, SignedHeaders=host, Signature=00", AuthorizationHeaderMalformed),
        ("AWS4-HMAC-SHA256 Credential=/20240101/x/s3/aws4_request, SignedHeaders=host, Signature=00", AuthorizationHeaderMalformed),
        ("Bearer abc", InvalidArgument),
        ("AWS4-ECDSA-P256-SHA256 Credential=AK/20240101/s3/aws4_request, SignedHeaders=host, Signature=00", NotImplemented),
    ],
)
def test_parse_authorization_errors(header, error):
    with pytest.raises(error):
        parse_authorization(header)


@pytest.mark.parametrize(
    "value, mode",
    [
        ("UNSIGNED-PAYLOAD", PayloadMode.UNSIGNED),
        ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", PayloadMode.STREAMING_SIGNED),
        ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", PayloadMode.STREAMING_SIGNED_TRAILER),
        ("STREAMING-UNSIGNED-PAYLOAD-TRAILER", PayloadMode.STREAMING_UNSIGNED_TRAILER),
        ("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", PayloadMode.STREAMING_ECDSA),
        ("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER", PayloadMode.STREAMING_ECDSA_TRAILER),
    ],
)
def test_payload_modes(value, mode):
    assert parse_payload_hash(value) == (mode, None)
    assert mode.is_streaming == value.startswith("STREAMING-")
    assert mode.has_trailer == value.endswith("TRAILER")
    assert mode.signed_chunks == value.startswith("STREAMING-AWS4-HMAC")
    assert mode.is_supported == ("ECDSA" not in value)


def test_payload_hash_is_lower_cased():
    assert parse_payload_hash(EMPTY_SHA256.upper()) == (PayloadMode.SHA256, EMPTY_SHA256)


def test_detect_auth_scheme():
    assert detect_auth_scheme(RequestParts.build("GET", "/")) is AuthScheme.ANONYMOUS
    assert detect_auth_scheme(get_range_parts()) is AuthScheme.SIGV4_HEADER
    assert detect_auth_scheme(doc_presigned_parts()) is AuthScheme.SIGV4_QUERY
    assert detect_auth_scheme(
        RequestParts.build("GET", "/", [], [("Authorization", "AWS AK:c2ln")])
    ) is AuthScheme.SIGV2_HEADER
    assert detect_auth_scheme(
        RequestParts.build("GET", "/", [("AWSAccessKeyId", "AK"), ("Expires", "1"), ("Signature", "x")])
    ) is AuthScheme.SIGV2_QUERY
    both = RequestParts.build("GET", "/", doc_presigned_parts().query, get_range_parts().headers)
    with pytest.raises(InvalidArgument):
        detect_auth_scheme(both)


def test_canonical_uri_encodes_the_decoded_path_once():
    assert canonical_uri("/a%20b/c+d/%7Ee/%c3%bc//f") == "/a%20b/c%2Bd/~e/%C3%BC//f"
    assert canonical_uri("/test$file.text") == "/test%24file.text"
    assert canonical_uri("") == "/"
    assert canonical_uri("/%2F") == "/%2F"  # an encoded slash inside a key stays encoded


def test_canonical_query_string_sorts_encoded_pairs():
    query = [("prefix", "a b"), ("list-type", "2"), ("acl", ""), ("a", "z"), ("a", "y"), ("é", "/")]
    # Sorted by the *encoded* names: "%" sorts before letters.
    assert canonical_query_string(query) == "%C3%A9=%2F&a=y&a=z&acl=&list-type=2&prefix=a%20b"
    assert canonical_query_string([("X-Amz-Signature", "s"), ("x", "1")], exclude="X-Amz-Signature") == "x=1"


def test_signing_keys_are_cached_per_scope():
    verifier = SigV4Verifier()
    for _ in range(3):
        verify_header_auth(get_range_parts(), verifier=verifier)
    info = verifier.signing_key.cache_info()
    assert (info.misses, info.hits) == (1, 2)


def test_chunk_signature_chain_rejects_reordering():
    verified = verify_header_auth(get_range_parts())
    key = verified.signing.signing_key
    prefix = f"{verified.signing.timestamp}\n{verified.signing.scope}\n"

    def sign(previous: str, data: bytes) -> str:
        sts = f"AWS4-HMAC-SHA256-PAYLOAD\n{prefix}{previous}\n{EMPTY_SHA256}\n{hashlib.sha256(data).hexdigest()}"
        return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()

    first = sign(verified.signing.seed_signature, b"one")
    second = sign(first, b"two")
    chain = verified.chunk_signature_chain()
    chain.verify_chunk(hashlib.sha256(b"one").digest(), first)
    chain.verify_chunk(hashlib.sha256(b"two").digest(), second)
    swapped = verified.chunk_signature_chain()
    with pytest.raises(SignatureDoesNotMatch):
        swapped.verify_chunk(hashlib.sha256(b"two").digest(), second)
    with pytest.raises(SignatureDoesNotMatch):
        ChunkSignatureChain(verified.signing).verify_chunk(hashlib.sha256(b"one").digest(), first.upper())


# --- requests signed by botocore ---------------------------------------------------

SIGNING_TIME = dt.datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
ACCESS_KEY = "AKIDEXAMPLE0123"
SECRET = "s3cr3t/Key+with=odd%chars"


def fixed_clock(remove_tzinfo: bool = True) -> dt.datetime:
    return SIGNING_TIME.replace(tzinfo=None) if remove_tzinfo else SIGNING_TIME


class Captured(Exception):
    """Raised from botocore's before-send hook to stop at the wire."""

    def __init__(self, request) -> None:
        super().__init__("captured")
        self.request = request


def _capture(request, **_: object) -> None:
    raise Captured(request)


def wire_parts(method: str, url: str, headers) -> RequestParts:
    """What a server receives for a request botocore prepared."""
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
def clients() -> Iterator[Callable[..., object]]:
    session = botocore.session.get_session()
    made = {}

    def make(endpoint: str = "https://s3.example.com", style: str = "path", region: str = "eu-west-3"):
        if (endpoint, style, region) not in made:
            client = session.create_client(
                "s3", region_name=region, endpoint_url=endpoint,
                aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET,
                config=Config(signature_version="s3v4", s3={"addressing_style": style},
                              retries={"max_attempts": 1}),
            )
            client.meta.events.register("before-send.s3", _capture)
            made[(endpoint, style, region)] = client
        return made[(endpoint, style, region)]

    with mock.patch("botocore.auth.get_current_datetime", fixed_clock), \
            mock.patch("botocore.crt.auth.get_current_datetime", fixed_clock):
        yield make


def send(client, operation: str, **params) -> tuple[RequestParts, object]:
    with pytest.raises(Captured) as caught:
        getattr(client, operation)(**params)
    request = caught.value.request
    return wire_parts(request.method, request.url, request.headers), request.body


AWKWARD_KEYS = [
    "plain.txt",
    "with space/and+plus",
    "percent%20literal%",
    "unicode/ü€/😀.bin",
    "double//slash///x",
    "~tilde~/under_score-dash.dot",
    "sub-delims!$&'()*,;=:@",
    "brackets[]{}<>|^`\"\\",
    "question?hash#",
    "/leading/slash",
    "trailing/",
    "ends with space ",
]


def verify_v4(parts: RequestParts, now: dt.datetime = SIGNING_TIME + dt.timedelta(seconds=30)):
    scheme = detect_auth_scheme(parts)
    if scheme is AuthScheme.SIGV4_HEADER:
        auth: SigV4Authorization = parse_authorization(parts.header("authorization") or "")
    else:
        assert scheme is AuthScheme.SIGV4_QUERY
        auth = parse_presigned(parts.query)
    assert auth.credential.access_key == ACCESS_KEY
    return SigV4Verifier().verify(parts, auth, SECRET, now)


@pytest.mark.parametrize("key", AWKWARD_KEYS)
@pytest.mark.parametrize("style", ["path", "virtual"])
def test_botocore_get_object(clients, key, style):
    parts, _ = send(clients(style=style), "get_object", Bucket="bucket", Key=key, Range="bytes=1-2")
    verified = verify_v4(parts)
    assert verified.region == "eu-west-3"
    assert verified.payload_mode is PayloadMode.SHA256
    assert verified.payload_sha256 == EMPTY_SHA256


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_botocore_get_object_survives_other_path_encodings(clients, key):
    # The same request as another client might put it on the wire: every
    # byte percent-encoded in lower-case hex. S3 decodes the path before
    # canonicalizing, so the signature still holds.
    parts, _ = send(clients(), "get_object", Bucket="bucket", Key=key)
    reencoded = "/".join(
        "".join(f"%{byte:02x}" for byte in unquote(segment).encode()) for segment in parts.raw_path.split("/")
    )
    verify_v4(RequestParts.build(parts.method, reencoded, parts.query, parts.headers))


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_botocore_tampered_key_fails(clients, key):
    parts, _ = send(clients(), "get_object", Bucket="bucket", Key=key)
    tampered = RequestParts.build(parts.method, parts.raw_path + "x", parts.query, parts.headers)
    with pytest.raises(SignatureDoesNotMatch):
        verify_v4(tampered)


def test_botocore_list_objects_with_awkward_query(clients):
    parts, _ = send(clients(), "list_objects_v2", Bucket="bucket", Prefix="ü +/%~*", Delimiter="/",
                    StartAfter="a=b&c", MaxKeys=7)
    assert ("prefix", "ü +/%~*") in parts.query
    verify_v4(parts)
    tampered = RequestParts.build(parts.method, parts.raw_path,
                                  [(n, "other" if n == "prefix" else v) for n, v in parts.query], parts.headers)
    with pytest.raises(SignatureDoesNotMatch):
        verify_v4(tampered)


@pytest.mark.parametrize("endpoint", ["http://s3.example.com:9000", "https://s3.example.com"])
def test_botocore_put_object_bytes(clients, endpoint):
    body = b"hello, world\n" * 100
    parts, _ = send(clients(endpoint=endpoint), "put_object", Bucket="b", Key="k y", Body=body,
                       Metadata={"colour": "blue"}, ContentType="text/plain")
    verified = verify_v4(parts)
    if verified.payload_mode is PayloadMode.SHA256:
        assert verified.payload_sha256 == hashlib.sha256(body).hexdigest()
    else:
        assert verified.payload_mode.is_streaming or verified.payload_mode is PayloadMode.UNSIGNED


def test_botocore_put_object_stream_uses_unsigned_trailer(clients):
    parts, _ = send(clients(), "put_object", Bucket="b", Key="k", Body=io.BytesIO(b"x" * 1000))
    verified = verify_v4(parts)
    assert verified.payload_mode is PayloadMode.STREAMING_UNSIGNED_TRAILER
    assert parts.header("x-amz-trailer") == "x-amz-checksum-crc32"


def test_botocore_copy_delete_and_subresources(clients):
    client = clients()
    for operation, params in [
        ("copy_object", {"Bucket": "b", "Key": "dst ü", "CopySource": {"Bucket": "s", "Key": "a b+ü"}}),
        ("delete_objects", {"Bucket": "b", "Delete": {"Objects": [{"Key": "a"}, {"Key": "b c"}]}}),
        ("get_object_acl", {"Bucket": "b", "Key": "k"}),
        ("get_object", {"Bucket": "b", "Key": "k", "VersionId": "v+1/=", "ResponseContentType": "a/b; c=d"}),
        ("upload_part", {"Bucket": "b", "Key": "k", "UploadId": "u~1", "PartNumber": 3, "Body": b"part"}),
        ("list_buckets", {}),
        ("head_bucket", {"Bucket": "b"}),
    ]:
        parts, _ = send(client, operation, **params)
        verify_v4(parts)


def test_botocore_request_is_rejected_with_wrong_secret_and_skew(clients):
    parts, _ = send(clients(), "get_object", Bucket="b", Key="k")
    auth = parse_authorization(parts.header("authorization") or "")
    with pytest.raises(SignatureDoesNotMatch):
        SigV4Verifier().verify(parts, auth, SECRET + "!", SIGNING_TIME)
    with pytest.raises(RequestTimeTooSkewed):
        SigV4Verifier().verify(parts, auth, SECRET, SIGNING_TIME + dt.timedelta(minutes=20))


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_botocore_presigned_get(clients, key):
    url = clients().generate_presigned_url("get_object", Params={"Bucket": "b", "Key": key}, ExpiresIn=600)
    parts = wire_parts("GET", url, {"Host": "s3.example.com"})
    verified = verify_v4(parts)
    assert verified.presigned
    assert verified.payload_mode is PayloadMode.UNSIGNED
    with pytest.raises(AccessDenied):
        verify_v4(parts, now=SIGNING_TIME + dt.timedelta(seconds=601))
    wrong_method = RequestParts.build("DELETE", parts.raw_path, parts.query, parts.headers)
    with pytest.raises(SignatureDoesNotMatch):
        verify_v4(wrong_method)


def test_botocore_presigned_put_with_params(clients):
    url = clients(style="virtual").generate_presigned_url(
        "put_object", Params={"Bucket": "bucket", "Key": "dir/a b", "ContentType": "text/plain"}, ExpiresIn=60
    )
    parts = wire_parts("PUT", url, {"Host": "bucket.s3.example.com", "Content-Type": "text/plain",
                                    "Content-Length": "3"})
    verify_v4(parts)


def _python_signed(method: str, url: str, headers: dict[str, str], body: bytes = b"",
                   presign: bool = False) -> RequestParts:
    """Sign with botocore's pure-Python signers (the CRT one is what clients pick by default)."""
    request = AWSRequest(method=method, url=url, headers=headers, data=body)
    credentials = Credentials(ACCESS_KEY, SECRET)
    signer = (botocore.auth.S3SigV4QueryAuth(credentials, "s3", "us-west-2", expires=300) if presign
              else botocore.auth.S3SigV4Auth(credentials, "s3", "us-west-2"))
    signer.add_auth(request)
    return wire_parts(method, request.url, request.headers)


@pytest.mark.parametrize("presign", [False, True])
def test_python_signer_with_client_side_encodings(clients, presign):
    # Some clients leave sub-delims like "!" or "'" unescaped and sign the
    # path exactly as they send it; that signature holds too.
    parts = _python_signed("GET", "https://b.s3.example.com/it's!fine*(x)", {"X-Amz-Meta-A": " spaced   out "},
                           presign=presign)
    assert parts.raw_path == "/it's!fine*(x)"
    verify_v4(parts)


def test_python_signer_signs_repeated_headers_and_body(clients):
    parts = _python_signed("PUT", "https://s3.example.com/b/k%20%2B", {"X-Amz-Meta-Note": "a\tb  c"}, b"data")
    assert parts.header("x-amz-content-sha256") == hashlib.sha256(b"data").hexdigest()
    verified = verify_v4(parts)
    assert verified.region == "us-west-2"
    assert verified.payload_sha256 == hashlib.sha256(b"data").hexdigest()
