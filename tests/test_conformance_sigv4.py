"""conformance/sigv4.py against the worked examples of the S3 API Reference
("Authenticating Requests: Using Query Parameters" and "Signature
Calculations for the Authorization Header: Transferring Payload in a Single
Chunk"), which use these credentials, bucket and moment."""

from __future__ import annotations

import datetime
import hashlib
import urllib.parse

from conformance.endpoint import Credentials, Endpoint
from conformance.sigv4 import (
    host_header,
    object_path,
    presign_url,
    seed_of,
    sign_headers,
    signed_chunks,
    uri_encode,
)

EXAMPLE = Endpoint("https://examplebucket.s3.amazonaws.com",
                   Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"))
MOMENT = datetime.datetime(2013, 5, 24, tzinfo=datetime.UTC)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def test_presigned_url_matches_the_documented_example() -> None:
    url = presign_url(EXAMPLE, EXAMPLE.root, "GET", "/test.txt", 86400, MOMENT)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert url.startswith("https://examplebucket.s3.amazonaws.com/test.txt?")
    assert query["X-Amz-Credential"] == "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"
    assert query["X-Amz-Date"] == "20130524T000000Z"
    assert query["X-Amz-Expires"] == "86400"
    assert query["X-Amz-SignedHeaders"] == "host"
    assert query["X-Amz-Signature"] == "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"


def test_header_signature_matches_the_documented_get_object_example() -> None:
    signed = sign_headers(EXAMPLE, EXAMPLE.root, "GET", "/test.txt", {"Range": "bytes=0-9"}, EMPTY_SHA256,
                          when=MOMENT)
    assert signed["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )
    assert (signed["x-amz-date"], signed["range"]) == ("20130524T000000Z", "bytes=0-9")


def test_header_signature_matches_the_documented_get_bucket_lifecycle_example() -> None:
    signed = sign_headers(EXAMPLE, EXAMPLE.root, "GET", "/", {}, EMPTY_SHA256, query=[("lifecycle", "")],
                          when=MOMENT)
    assert signed["authorization"].endswith(
        "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")


def test_paths_are_encoded_once_keeping_slashes_in_keys() -> None:
    assert object_path("bucket", "a b/ü+&=%.txt") == "/bucket/a%20b/%C3%BC%2B%26%3D%25.txt"
    assert object_path("bucket") == "/bucket"
    assert uri_encode("~-_.") == "~-_."


def test_host_header_omits_the_default_port_only() -> None:
    assert host_header(Endpoint("http://127.0.0.1:80", EXAMPLE.root)) == "127.0.0.1"
    assert host_header(Endpoint("https://127.0.0.1:9443", EXAMPLE.root)) == "127.0.0.1:9443"


def test_chunk_signatures_match_the_documented_streaming_example() -> None:
    # "Signature Calculations for the Authorization Header: Transferring Payload
    # in Multiple Chunks": 66560 bytes of 'a' in 64 KiB chunks.
    endpoint = Endpoint("https://s3.amazonaws.com", EXAMPLE.root)
    headers = sign_headers(endpoint, EXAMPLE.root, "PUT", "/examplebucket/chunkObject.txt", {
        "x-amz-storage-class": "REDUCED_REDUNDANCY", "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": "66560", "content-length": "66824",
    }, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", when=MOMENT)
    seed = seed_of(headers, EXAMPLE.root.secret_key, "us-east-1")
    assert seed.seed == "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    body = signed_chunks(seed, b"a" * 66560, 65536)
    assert len(body) == 66824
    assert body.startswith(b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n")
    assert b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n" in body
    assert body.endswith(b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n")


def test_a_signed_trailer_follows_the_empty_chunk() -> None:
    seed = seed_of(sign_headers(EXAMPLE, EXAMPLE.root, "PUT", "/k", {}, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
                                when=MOMENT), EXAMPLE.root.secret_key, "us-east-1")
    body = signed_chunks(seed, b"abc", 2, ("x-amz-checksum-crc32", "NSRBwg=="))
    lines = body.split(b"\r\n")
    assert [line.split(b";")[0] for line in lines[0:6:2]] == [b"2", b"1", b"0"]
    assert lines[1] == b"ab" and lines[3] == b"c"
    assert lines[5] == b"x-amz-checksum-crc32:NSRBwg=="
    assert lines[6].startswith(b"x-amz-trailer-signature:") and len(lines[6]) == len(b"x-amz-trailer-signature:") + 64
    assert body.endswith(b"\r\n\r\n")
