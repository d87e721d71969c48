"""S3 flexible checksums: streaming computers, header values, multipart forms.

S3 accepts CRC32, CRC32C, CRC64NVME, SHA1, SHA256 and, more recently,
SHA512, MD5, XXHASH64, XXHASH3 and XXHASH128 checksums
(``x-amz-checksum-<algorithm>`` headers or aws-chunked trailers, base64 of the
big-endian digest) besides the classic Content-MD5. The per-byte work runs in
C (zlib, awscrt, hashlib, xxhash); this module only wires it up and speaks the
header formats and the two multipart forms:

* COMPOSITE: the checksum of the concatenated part digests, suffixed ``-N``;
* FULL_OBJECT (CRC algorithms only): the CRC of the whole object, obtained by
  combining the per-part CRCs with their lengths, never by re-reading data.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import xxhash
from awscrt import checksums as crt_checksums  # type: ignore[import-untyped]

from s3api.errors import BadDigest, InvalidDigest, InvalidRequest

__all__ = [
    "ChecksumAlgorithm",
    "ChecksumType",
    "CrcChecksum",
    "HashChecksum",
    "PartChecksum",
    "StreamingChecksum",
    "checksum_mismatch",
    "combine_full_object_crc",
    "composite_checksum",
    "find_checksum_header",
    "multipart_etag",
    "new_checksum",
    "new_md5",
    "parse_checksum_value",
    "parse_content_md5",
]

Buffer = bytes | bytearray | memoryview


class ChecksumAlgorithm(enum.Enum):
    """A flexible-checksum algorithm S3 accepts; the value is its AWS name."""

    CRC32 = "CRC32"
    CRC32C = "CRC32C"
    CRC64NVME = "CRC64NVME"
    SHA1 = "SHA1"
    SHA256 = "SHA256"
    SHA512 = "SHA512"
    MD5 = "MD5"
    XXHASH64 = "XXHASH64"
    XXHASH3 = "XXHASH3"
    XXHASH128 = "XXHASH128"

    @property
    def header(self) -> str:
        """The request/response header (and trailer) carrying this checksum."""
        return "x-amz-checksum-" + self.value.lower()

    @property
    def digest_size(self) -> int:
        """Length in bytes of the raw digest."""
        return _DIGEST_SIZES[self]

    @property
    def is_crc(self) -> bool:
        """CRCs can be combined, so they support the FULL_OBJECT multipart type."""
        return self in (ChecksumAlgorithm.CRC32, ChecksumAlgorithm.CRC32C, ChecksumAlgorithm.CRC64NVME)

    @classmethod
    def from_name(cls, name: str) -> ChecksumAlgorithm:
        """The algorithm named by ``x-amz-checksum-algorithm`` / ``x-amz-sdk-checksum-algorithm``.

        Names are case-insensitive, as in AWS SDKs; an unknown one is the
        ``InvalidRequest`` S3 answers.
        """
        try:
            return cls(name.strip().upper())
        except ValueError:
            raise InvalidRequest(
                "Checksum algorithm provided is unsupported. Please try again with any of "
                "the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256, SHA512, MD5, XXHASH64, "
                "XXHASH3, XXHASH128]"
            ) from None

    @classmethod
    def from_header(cls, header: str) -> ChecksumAlgorithm | None:
        """The algorithm whose header (or trailer) name is ``header``, else None."""
        return _BY_HEADER.get(header.strip().lower())


_DIGEST_SIZES = {
    ChecksumAlgorithm.CRC32: 4,
    ChecksumAlgorithm.CRC32C: 4,
    ChecksumAlgorithm.CRC64NVME: 8,
    ChecksumAlgorithm.SHA1: 20,
    ChecksumAlgorithm.SHA256: 32,
    ChecksumAlgorithm.SHA512: 64,
    ChecksumAlgorithm.MD5: 16,
    ChecksumAlgorithm.XXHASH64: 8,
    ChecksumAlgorithm.XXHASH3: 8,
    ChecksumAlgorithm.XXHASH128: 16,
}
_BY_HEADER = {algorithm.header: algorithm for algorithm in ChecksumAlgorithm}


class ChecksumType(enum.Enum):
    """How a multipart object's checksum is formed (``x-amz-checksum-type``)."""

    COMPOSITE = "COMPOSITE"
    FULL_OBJECT = "FULL_OBJECT"

    @classmethod
    def parse(cls, value: str) -> ChecksumType:
        """Parse the header value; anything else is AWS's ``InvalidRequest``."""
        try:
            return cls(value.strip().upper())
        except ValueError:
            raise InvalidRequest("Value for x-amz-checksum-type header is invalid.") from None


class _Hash(Protocol):
    """The part of the hashlib interface that hashlib and xxhash objects share."""

    def update(self, data: Buffer, /) -> None: ...
    def digest(self) -> bytes: ...
    def hexdigest(self) -> str: ...


class StreamingChecksum(Protocol):
    """A running checksum: feed bytes as they arrive, read the digest at the end."""

    def update(self, data: Buffer) -> None:
        """Account for ``data`` (any buffer; never copied)."""
        ...

    def digest(self) -> bytes:
        """The digest of everything fed so far (big-endian for CRCs)."""
        ...

    def b64(self) -> str:
        """The digest in base64, the form S3 headers carry."""
        ...


class CrcChecksum:
    """A streaming CRC (CRC32, CRC32C or CRC64NVME) computed by zlib / awscrt."""

    __slots__ = ("_function", "_size", "length", "value")

    def __init__(self, function: Callable[[Buffer, int], int], size: int) -> None:
        self._function = function
        self._size = size
        self.value = 0
        self.length = 0

    def update(self, data: Buffer) -> None:
        """Extend the CRC with ``data``."""
        self.value = self._function(data, self.value)
        self.length += len(data) if not isinstance(data, memoryview) else data.nbytes

    def digest(self) -> bytes:
        """The CRC as ``size`` big-endian bytes (S3's encoding)."""
        return self.value.to_bytes(self._size, "big")

    def b64(self) -> str:
        """The CRC in base64."""
        return base64.b64encode(self.digest()).decode("ascii")


class HashChecksum:
    """A streaming digest with the hashlib interface (SHA-1/256/512, MD5, xxHash)."""

    __slots__ = ("_hash",)

    def __init__(self, name: str) -> None:
        self._hash = _HASH_FACTORIES[name]()

    def update(self, data: Buffer) -> None:
        """Extend the hash with ``data``."""
        self._hash.update(data)

    def digest(self) -> bytes:
        """The raw digest."""
        return self._hash.digest()

    def hexdigest(self) -> str:
        """The digest in lowercase hex (the form of an ETag)."""
        return self._hash.hexdigest()

    def b64(self) -> str:
        """The digest in base64."""
        return base64.b64encode(self._hash.digest()).decode("ascii")


def _crc32(data: Buffer, previous: int) -> int:
    return zlib.crc32(data, previous)


_CRC_FUNCTIONS: dict[ChecksumAlgorithm, Callable[[Buffer, int], int]] = {
    ChecksumAlgorithm.CRC32: _crc32,
    ChecksumAlgorithm.CRC32C: crt_checksums.crc32c,
    ChecksumAlgorithm.CRC64NVME: crt_checksums.crc64nvme,
}
_CRC_COMBINE: dict[ChecksumAlgorithm, Callable[[int, int, int], int]] = {
    ChecksumAlgorithm.CRC32: crt_checksums.combine_crc32,
    ChecksumAlgorithm.CRC32C: crt_checksums.combine_crc32c,
    ChecksumAlgorithm.CRC64NVME: crt_checksums.combine_crc64nvme,
}
_HASH_FACTORIES: dict[str, Callable[[], _Hash]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
    "md5": hashlib.md5,
    # xxhash digests are the canonical (big-endian) byte forms S3 uses.
    "xxhash64": xxhash.xxh64,
    "xxhash3": xxhash.xxh3_64,
    "xxhash128": xxhash.xxh3_128,
}
_HASH_NAMES = {
    algorithm: algorithm.value.lower() for algorithm in ChecksumAlgorithm if algorithm.value.lower() in _HASH_FACTORIES
}


def new_checksum(algorithm: ChecksumAlgorithm) -> CrcChecksum | HashChecksum:
    """A fresh streaming checksum for ``algorithm``."""
    if algorithm.is_crc:
        return CrcChecksum(_CRC_FUNCTIONS[algorithm], algorithm.digest_size)
    return HashChecksum(_HASH_NAMES[algorithm])


def new_md5() -> HashChecksum:
    """A fresh streaming MD5 (the ETag of a single-part object and Content-MD5)."""
    return HashChecksum("md5")


def _strict_b64decode(value: str) -> bytes | None:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def parse_checksum_value(algorithm: ChecksumAlgorithm, value: str) -> bytes:
    """Decode a base64 ``x-amz-checksum-*`` value into the raw digest.

    A value that is not base64 of exactly the algorithm's digest size gets the
    ``InvalidRequest`` "Value for x-amz-checksum-crc32 header is invalid." that
    S3 answers.
    """
    raw = _strict_b64decode(value)
    if raw is None or len(raw) != algorithm.digest_size:
        raise InvalidRequest(f"Value for {algorithm.header} header is invalid.")
    return raw


def parse_content_md5(value: str) -> bytes:
    """Decode a ``Content-MD5`` header (base64 of 16 bytes); else ``InvalidDigest``."""
    raw = _strict_b64decode(value)
    if raw is None or len(raw) != 16:
        raise InvalidDigest()
    return raw


def checksum_mismatch(algorithm: ChecksumAlgorithm) -> BadDigest:
    """The ``BadDigest`` S3 answers when a body does not match its checksum."""
    return BadDigest(f"The {algorithm.value} you specified did not match the calculated checksum.")


def find_checksum_header(headers: Iterable[tuple[str, str]]) -> tuple[ChecksumAlgorithm, bytes] | None:
    """The single ``x-amz-checksum-<algorithm>`` header among ``headers``, decoded.

    ``headers`` are (lower-case name, value) pairs. S3 allows one checksum
    per request; several get its ``InvalidRequest``. ``x-amz-checksum-type``
    and ``x-amz-checksum-algorithm`` are not checksum values and are skipped.
    """
    found: tuple[ChecksumAlgorithm, bytes] | None = None
    for name, value in headers:
        algorithm = ChecksumAlgorithm.from_header(name)
        if algorithm is None:
            continue
        if found is not None and found[0] is not algorithm:
            raise InvalidRequest(
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
            )
        found = (algorithm, parse_checksum_value(algorithm, value))
    return found


@dataclass(frozen=True)
class PartChecksum:
    """One part's raw checksum digest and its length in bytes."""

    digest: bytes
    length: int


def composite_checksum(algorithm: ChecksumAlgorithm, part_digests: Sequence[bytes]) -> str:
    """The COMPOSITE multipart checksum: ``b64(H(d1 || d2 || …))-N``.

    AWS forms it by hashing the concatenated raw part digests with the same
    algorithm, whatever the algorithm (CRCs included).
    """
    if not part_digests:
        raise ValueError("a multipart checksum needs at least one part")
    combined = new_checksum(algorithm)
    for digest in part_digests:
        if len(digest) != algorithm.digest_size:
            raise ValueError(f"{algorithm.value} part digest must be {algorithm.digest_size} bytes")
        combined.update(digest)
    return f"{combined.b64()}-{len(part_digests)}"


def combine_full_object_crc(algorithm: ChecksumAlgorithm, parts: Sequence[PartChecksum]) -> bytes:
    """The FULL_OBJECT CRC of a multipart object from its parts' CRCs and lengths.

    Equal to the CRC of the concatenated part data; the combination is
    awscrt's (GF(2) matrix method, O(log length) per part, no data access).
    """
    if not algorithm.is_crc:
        raise ValueError(f"{algorithm.value} has no FULL_OBJECT form")
    combine = _CRC_COMBINE[algorithm]
    value = 0
    for part in parts:
        if len(part.digest) != algorithm.digest_size:
            raise ValueError(f"{algorithm.value} part digest must be {algorithm.digest_size} bytes")
        value = combine(value, int.from_bytes(part.digest, "big"), part.length)
    return value.to_bytes(algorithm.digest_size, "big")


def multipart_etag(part_md5s: Sequence[bytes]) -> str:
    """The ETag S3 gives a multipart object: ``hex(MD5(md5_1 || … || md5_N))-N`` (unquoted)."""
    if not part_md5s:
        raise ValueError("a multipart ETag needs at least one part")
    combined = hashlib.md5()
    for digest in part_md5s:
        combined.update(digest)
    return f"{combined.hexdigest()}-{len(part_md5s)}"
