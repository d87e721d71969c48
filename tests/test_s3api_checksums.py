"""Tests for s3api.checksums: known vectors, botocore agreement, header values, multipart forms."""

from __future__ import annotations

import base64
import hashlib
import random
import zlib

import pytest
from botocore import httpchecksum

from s3api.checksums import (
    ChecksumAlgorithm,
    ChecksumType,
    PartChecksum,
    checksum_mismatch,
    combine_full_object_crc,
    composite_checksum,
    find_checksum_header,
    multipart_etag,
    new_checksum,
    new_md5,
    parse_checksum_value,
    parse_content_md5,
)
from s3api.errors import BadDigest, InvalidDigest, InvalidRequest

CHECK = b"123456789"

KNOWN_CHECK_VALUES = {
    ChecksumAlgorithm.CRC32: 0xCBF43926,
    ChecksumAlgorithm.CRC32C: 0xE3069283,
    ChecksumAlgorithm.CRC64NVME: 0xAE8B14860A799888,
}
KNOWN_ABC_DIGESTS = {
    ChecksumAlgorithm.SHA1: "a9993e364706816aba3e25717850c26c9cd0d89d",
    ChecksumAlgorithm.SHA256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    ChecksumAlgorithm.SHA512: (
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
    ),
    ChecksumAlgorithm.MD5: "900150983cd24fb0d6963f7d28e17f72",
    ChecksumAlgorithm.XXHASH64: "44bc2cf5ad770999",
    ChecksumAlgorithm.XXHASH3: "78af5f94892f3950",
    ChecksumAlgorithm.XXHASH128: "06b05ab6733a618578af5f94892f3950",
}


@pytest.mark.parametrize("algorithm, value", KNOWN_CHECK_VALUES.items())
def test_crc_check_values(algorithm, value):
    checksum = new_checksum(algorithm)
    checksum.update(CHECK)
    assert checksum.digest() == value.to_bytes(algorithm.digest_size, "big")
    assert base64.b64decode(checksum.b64()) == checksum.digest()


@pytest.mark.parametrize("algorithm, hexdigest", KNOWN_ABC_DIGESTS.items())
def test_hash_known_digests(algorithm, hexdigest):
    checksum = new_checksum(algorithm)
    checksum.update(b"abc")
    assert checksum.digest().hex() == hexdigest
    assert len(checksum.digest()) == algorithm.digest_size


def test_md5_known_digest():
    md5 = new_md5()
    md5.update(b"abc")
    assert md5.hexdigest() == "900150983cd24fb0d6963f7d28e17f72"
    assert md5.b64() == "kAFQmDzST7DWlj99KOF/cg=="


def test_crc32_of_hello_matches_what_botocore_sends():
    checksum = new_checksum(ChecksumAlgorithm.CRC32)
    checksum.update(b"hello")
    assert checksum.b64() == "NhCmhg=="


BOTOCORE_CLASSES = {
    ChecksumAlgorithm.CRC32: httpchecksum.CrtCrc32Checksum,
    ChecksumAlgorithm.CRC32C: httpchecksum.CrtCrc32cChecksum,
    ChecksumAlgorithm.CRC64NVME: httpchecksum.CrtCrc64NvmeChecksum,
    ChecksumAlgorithm.SHA1: httpchecksum.Sha1Checksum,
    ChecksumAlgorithm.SHA256: httpchecksum.Sha256Checksum,
    ChecksumAlgorithm.SHA512: httpchecksum.Sha512Checksum,
    ChecksumAlgorithm.XXHASH64: httpchecksum.CrtXxhash64Checksum,
    ChecksumAlgorithm.XXHASH3: httpchecksum.CrtXxhash3Checksum,
    ChecksumAlgorithm.XXHASH128: httpchecksum.CrtXxhash128Checksum,
}


@pytest.mark.parametrize("algorithm", list(BOTOCORE_CLASSES))
def test_streaming_in_pieces_matches_botocore(algorithm):
    data = random.Random(1).randbytes(200_003)
    ours = new_checksum(algorithm)
    view = memoryview(data)
    rng = random.Random(2)
    pos = 0
    while pos < len(data):
        step = rng.randint(0, 40_000)
        ours.update(view[pos : pos + step])
        pos += step
    theirs = BOTOCORE_CLASSES[algorithm]()
    theirs.update(data)
    assert ours.b64() == theirs.b64digest()


def test_crc_tracks_length():
    checksum = new_checksum(ChecksumAlgorithm.CRC32C)
    checksum.update(b"abc")
    checksum.update(memoryview(b"defg"))
    assert checksum.length == 7


def test_algorithm_names_and_headers():
    assert ChecksumAlgorithm.CRC64NVME.header == "x-amz-checksum-crc64nvme"
    assert ChecksumAlgorithm.from_name("crc32c") is ChecksumAlgorithm.CRC32C
    assert ChecksumAlgorithm.from_name(" Sha256 ") is ChecksumAlgorithm.SHA256
    assert ChecksumAlgorithm.from_header("X-Amz-Checksum-SHA1") is ChecksumAlgorithm.SHA1
    assert ChecksumAlgorithm.from_header("x-amz-checksum-type") is None
    assert {a for a in ChecksumAlgorithm if a.is_crc} == {
        ChecksumAlgorithm.CRC32, ChecksumAlgorithm.CRC32C, ChecksumAlgorithm.CRC64NVME
    }
    assert ChecksumAlgorithm.from_name("xxhash128").header == "x-amz-checksum-xxhash128"
    with pytest.raises(InvalidRequest):
        ChecksumAlgorithm.from_name("MD4")


def test_checksum_type():
    assert ChecksumType.parse("full_object") is ChecksumType.FULL_OBJECT
    assert ChecksumType.parse("COMPOSITE") is ChecksumType.COMPOSITE
    with pytest.raises(InvalidRequest):
        ChecksumType.parse("PARTIAL")


@pytest.mark.parametrize("algorithm", list(ChecksumAlgorithm))
def test_parse_checksum_value(algorithm):
    raw = bytes(range(algorithm.digest_size))
    assert parse_checksum_value(algorithm, base64.b64encode(raw).decode()) == raw
    for bad in (
        base64.b64encode(raw + b"x").decode(),
        base64.b64encode(raw[:-1]).decode(),
        "not base64!",
        "",
    ):
        with pytest.raises(InvalidRequest) as caught:
            parse_checksum_value(algorithm, bad)
        assert caught.value.message == f"Value for {algorithm.header} header is invalid."


def test_parse_content_md5():
    digest = hashlib.md5(b"x").digest()
    assert parse_content_md5(base64.b64encode(digest).decode()) == digest
    for bad in ("", "abc", base64.b64encode(digest[:15]).decode(), digest.hex()):
        with pytest.raises(InvalidDigest):
            parse_content_md5(bad)


def test_find_checksum_header():
    crc = base64.b64encode(b"\x00\x01\x02\x03").decode()
    headers = [("x-amz-checksum-type", "COMPOSITE"), ("x-amz-checksum-crc32", crc), ("x-amz-meta-a", "b")]
    assert find_checksum_header(headers) == (ChecksumAlgorithm.CRC32, b"\x00\x01\x02\x03")
    assert find_checksum_header([("content-md5", "x")]) is None
    with pytest.raises(InvalidRequest):
        find_checksum_header(headers + [("x-amz-checksum-sha1", base64.b64encode(b"\x00" * 20).decode())])
    with pytest.raises(InvalidRequest):
        find_checksum_header([("x-amz-checksum-crc32c", "AAAA")])


def test_checksum_mismatch_message():
    error = checksum_mismatch(ChecksumAlgorithm.CRC32C)
    assert isinstance(error, BadDigest)
    assert error.message == "The CRC32C you specified did not match the calculated checksum."


def random_parts(seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(rng.choice([0, 1, 7, 4096, 100_000])) for _ in range(rng.randint(1, 6))]


@pytest.mark.parametrize("algorithm", [a for a in ChecksumAlgorithm if a.is_crc])
@pytest.mark.parametrize("seed", range(5))
def test_full_object_crc_equals_crc_of_concatenation(algorithm, seed):
    parts = random_parts(seed)
    part_checksums = []
    for data in parts:
        checksum = new_checksum(algorithm)
        checksum.update(data)
        part_checksums.append(PartChecksum(checksum.digest(), len(data)))
    whole = new_checksum(algorithm)
    whole.update(b"".join(parts))
    assert combine_full_object_crc(algorithm, part_checksums) == whole.digest()


def test_full_object_crc32_against_zlib():
    parts = [b"hello ", b"", b"multipart ", b"world"]
    combined = combine_full_object_crc(
        ChecksumAlgorithm.CRC32, [PartChecksum(zlib.crc32(p).to_bytes(4, "big"), len(p)) for p in parts]
    )
    assert int.from_bytes(combined, "big") == zlib.crc32(b"".join(parts))


def test_full_object_rejects_sha():
    with pytest.raises(ValueError):
        combine_full_object_crc(ChecksumAlgorithm.SHA256, [PartChecksum(b"\x00" * 32, 1)])


@pytest.mark.parametrize("algorithm", list(ChecksumAlgorithm))
def test_composite_checksum(algorithm):
    parts = random_parts(11)
    digests = []
    for data in parts:
        checksum = new_checksum(algorithm)
        checksum.update(data)
        digests.append(checksum.digest())
    value, _, count = composite_checksum(algorithm, digests).rpartition("-")
    assert count == str(len(parts))
    outer = new_checksum(algorithm)
    outer.update(b"".join(digests))
    assert value == outer.b64()
    assert len(base64.b64decode(value)) == algorithm.digest_size


def test_composite_sha256_by_hand():
    d1, d2 = hashlib.sha256(b"part one").digest(), hashlib.sha256(b"part two").digest()
    expected = base64.b64encode(hashlib.sha256(d1 + d2).digest()).decode() + "-2"
    assert composite_checksum(ChecksumAlgorithm.SHA256, [d1, d2]) == expected
    with pytest.raises(ValueError):
        composite_checksum(ChecksumAlgorithm.SHA256, [])
    with pytest.raises(ValueError):
        composite_checksum(ChecksumAlgorithm.SHA256, [b"short"])


def test_multipart_etag():
    md5s = [hashlib.md5(b"a" * 5).digest(), hashlib.md5(b"b").digest(), hashlib.md5(b"").digest()]
    assert multipart_etag(md5s) == hashlib.md5(b"".join(md5s)).hexdigest() + "-3"
    with pytest.raises(ValueError):
        multipart_etag([])
