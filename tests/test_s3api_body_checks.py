"""Tests for s3api.body_checks: body headers to expectations, and digest checks."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib

import pytest
from multidict import CIMultiDict

from s3api.auth_errors import MalformedTrailerError
from s3api.body_checks import BodyDigester, BodySpec, body_spec
from s3api.checksums import ChecksumAlgorithm
from s3api.errors import (
    BadDigest,
    EntityTooLarge,
    IncompleteBody,
    InvalidArgument,
    InvalidDigest,
    InvalidRequest,
    MissingContentLength,
    XAmzContentSHA256Mismatch,
)
from s3api.md5_lanes import LaneHasher
from s3api.service import Checksum
from s3api.sigv4 import PayloadMode
from tests.lane_kernels import needs_md5_lanes

BODY = b"The quick brown fox jumps over the lazy dog" * 100
MD5_B64 = base64.b64encode(hashlib.md5(BODY).digest()).decode()
CRC32_B64 = base64.b64encode(zlib.crc32(BODY).to_bytes(4, "big")).decode()
SHA256_HEX = hashlib.sha256(BODY).hexdigest()


def spec(headers: dict[str, str], mode: PayloadMode = PayloadMode.UNSIGNED, sha: str | None = None, **kw: object) -> BodySpec:
    return body_spec(CIMultiDict(headers), mode, sha, max_size=kw.pop("max_size", 10**9), **kw)  # type: ignore[arg-type]


def digest_of(body_spec_: BodySpec, *pieces: bytes | memoryview, trailers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    digester = BodyDigester(body_spec_)
    for piece in pieces:
        digester.update(piece)
    return digester.finish(trailers)


def test_plain_body() -> None:
    s = spec({"Content-Length": str(len(BODY))})
    assert (s.wire_length, s.decoded_length, s.aws_chunked) == (len(BODY), len(BODY), False)
    result = digest_of(s, BODY[:10], memoryview(BODY)[10:])
    assert result.size == len(BODY)
    assert result.md5 == hashlib.md5(BODY).digest()
    assert result.checksum is None


def test_missing_length() -> None:
    with pytest.raises(MissingContentLength) as caught:
        spec({})
    assert caught.value.status == 411
    assert spec({"Transfer-Encoding": "chunked"}).wire_length is None
    assert spec({}, length_required=False).decoded_length == 0


def test_bad_length() -> None:
    with pytest.raises(InvalidArgument):
        spec({"Content-Length": "-4"})


def test_too_large() -> None:
    with pytest.raises(EntityTooLarge) as caught:
        spec({"Content-Length": "101"}, max_size=100)
    assert caught.value.fields == {"ProposedSize": "101", "MaxSizeAllowed": "100"}


def test_short_body_is_incomplete() -> None:
    s = spec({"Content-Length": str(len(BODY))})
    with pytest.raises(IncompleteBody):
        digest_of(s, BODY[:-1])


def test_content_md5() -> None:
    assert digest_of(spec({"Content-Length": str(len(BODY)), "Content-MD5": MD5_B64}), BODY).size == len(BODY)
    wrong = spec({"Content-Length": str(len(BODY) - 1), "Content-MD5": MD5_B64})
    with pytest.raises(BadDigest) as caught:
        digest_of(wrong, BODY[:-1])
    assert caught.value.message == "The Content-MD5 you specified did not match what we received."
    assert caught.value.fields["ExpectedDigest"] == MD5_B64
    with pytest.raises(InvalidDigest):
        spec({"Content-Length": "1", "Content-MD5": "short"})


def test_payload_sha256() -> None:
    s = spec({"Content-Length": str(len(BODY))}, PayloadMode.SHA256, SHA256_HEX)
    assert s.payload_sha256 == SHA256_HEX
    digest_of(s, BODY)
    bad = spec({"Content-Length": "3"}, PayloadMode.SHA256, SHA256_HEX)
    with pytest.raises(XAmzContentSHA256Mismatch) as caught:
        digest_of(bad, b"abc")
    assert caught.value.fields == {
        "ClientComputedContentSHA256": SHA256_HEX,
        "S3ComputedContentSHA256": hashlib.sha256(b"abc").hexdigest(),
    }


def test_checksum_header() -> None:
    s = spec({"Content-Length": str(len(BODY)), "x-amz-checksum-crc32": CRC32_B64, "x-amz-sdk-checksum-algorithm": "CRC32"})
    assert s.checksum_algorithm is ChecksumAlgorithm.CRC32
    assert digest_of(s, BODY).checksum == Checksum("CRC32", CRC32_B64)
    bad = spec({"Content-Length": "3", "x-amz-checksum-crc32": CRC32_B64})
    with pytest.raises(BadDigest) as caught:
        digest_of(bad, b"abc")
    assert caught.value.message == "The CRC32 you specified did not match the calculated checksum."


def test_checksum_headers_that_do_not_describe_the_body() -> None:
    s = spec({"Content-Length": "3", "x-amz-checksum-crc32": "AAAAAA=="}, checksum_headers_describe_body=False)
    assert s.checksum_algorithm is None
    assert digest_of(s, b"abc").checksum is None


def test_invalid_checksum_headers() -> None:
    with pytest.raises(InvalidRequest):
        spec({"Content-Length": "3", "x-amz-checksum-crc32": "not base64!"})
    with pytest.raises(InvalidRequest):
        spec({"Content-Length": "3", "x-amz-checksum-crc32": CRC32_B64, "x-amz-checksum-sha1": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="})
    with pytest.raises(InvalidRequest) as caught:
        spec({"Content-Length": "3", "x-amz-sdk-checksum-algorithm": "CRC32"})
    assert "no corresponding x-amz-checksum-*" in caught.value.message
    with pytest.raises(InvalidRequest):
        spec({"Content-Length": "3", "x-amz-sdk-checksum-algorithm": "ADLER"})


def test_trailer_checksum() -> None:
    headers = {
        "Content-Length": "9999",
        "x-amz-decoded-content-length": str(len(BODY)),
        "x-amz-trailer": "x-amz-checksum-crc32",
        "x-amz-sdk-checksum-algorithm": "CRC32",
    }
    s = spec(headers, PayloadMode.STREAMING_UNSIGNED_TRAILER)
    assert s.aws_chunked
    assert (s.wire_length, s.decoded_length) == (9999, len(BODY))
    assert s.trailer_names == frozenset({"x-amz-checksum-crc32"})
    assert s.checksum_value is None
    assert digest_of(s, BODY, trailers={"x-amz-checksum-crc32": CRC32_B64}).checksum == Checksum("CRC32", CRC32_B64)
    with pytest.raises(BadDigest):
        digest_of(s, BODY, trailers={"x-amz-checksum-crc32": "AAAAAA=="})
    with pytest.raises(MalformedTrailerError):
        digest_of(s, BODY, trailers={})


def test_trailer_and_header_for_different_algorithms() -> None:
    headers = {
        "Content-Length": "10",
        "x-amz-decoded-content-length": "3",
        "x-amz-trailer": "x-amz-checksum-crc32",
        "x-amz-checksum-sha256": base64.b64encode(hashlib.sha256(b"abc").digest()).decode(),
    }
    with pytest.raises(InvalidRequest):
        spec(headers, PayloadMode.STREAMING_UNSIGNED_TRAILER)


def test_streaming_needs_decoded_length() -> None:
    with pytest.raises(MissingContentLength):
        spec({"Content-Length": "100"}, PayloadMode.STREAMING_SIGNED)
    with pytest.raises(EntityTooLarge):
        spec({"Content-Length": "10", "x-amz-decoded-content-length": "101"}, PayloadMode.STREAMING_SIGNED, max_size=100)


@needs_md5_lanes
def test_a_large_body_takes_its_md5_from_the_lanes() -> None:
    hasher = LaneHasher()
    other = hasher.md5()
    other.update(b"another upload")  # hashing, nothing waiting: deferred bytes wait
    body = os.urandom(3 * 1024 * 1024 + 5)
    digester = BodyDigester(spec({"Content-Length": str(len(body))}), hasher)
    for start in range(0, len(body), 1 << 20):
        digester.update_later(body[start : start + (1 << 20)])
    assert digester.unsettled
    digester.settle()
    assert not digester.unsettled
    assert digester.finish().md5 == hashlib.md5(body).digest()


@needs_md5_lanes
def test_a_small_body_hashes_its_md5_at_once() -> None:
    hasher = LaneHasher()
    other = hasher.md5()
    other.update(b"another upload")
    digester = BodyDigester(spec({"Content-Length": str(len(BODY))}), hasher)
    digester.update_later(BODY)
    assert not digester.unsettled
    assert digester.finish().md5 == hashlib.md5(BODY).digest()


def test_update_later_without_lanes_is_update() -> None:
    digester = BodyDigester(spec({"Content-Length": str(len(BODY)), "Content-MD5": MD5_B64}))
    digester.update_later(BODY)
    assert not digester.unsettled
    digester.settle()
    assert digester.finish().md5 == hashlib.md5(BODY).digest()


@needs_md5_lanes
def test_a_failed_body_releases_its_md5_stream() -> None:
    hasher = LaneHasher()
    body = bytes(2 * 1024 * 1024)
    failed = BodyDigester(spec({"Content-Length": str(len(body))}), hasher)
    failed.update_later(body[:1024])
    kept = hasher.md5()
    kept.update(b"x")
    kept.defer(b"y" * 4096)
    assert kept.unhashed == 4096  # the failed body counts as hashing
    failed.close()
    kept.defer(b"z")
    assert kept.unhashed == 0


@needs_md5_lanes
def test_a_body_of_unknown_length_hashes_its_md5_at_once() -> None:
    hasher = LaneHasher()
    hasher.md5().update(b"another upload")
    digester = BodyDigester(spec({"Transfer-Encoding": "chunked"}, length_required=False), hasher)
    digester.update_later(bytes(2 * 1024 * 1024))
    assert not digester.unsettled
