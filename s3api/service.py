"""The object-service interface: everything s3api needs from the storage side.

s3api speaks HTTP and S3; it knows nothing of disks, erasure coding or SQL. It
calls an :class:`ObjectService` and a :class:`CredentialStore`, which the
daemon (``objectd``) implements. Service methods raise the S3 errors of
:mod:`s3api.errors` (``NoSuchBucket``, ``NoSuchKey``, ``InvalidPart`` …).

Request bodies reach the service as a :class:`RequestBody`: an async stream of
decoded payload bytes (aws-chunked framing already removed) whose
:meth:`RequestBody.finish` verifies every digest the client sent
(Content-MD5, x-amz-content-sha256, flexible checksums) and returns the MD5
and checksums. The service must call ``finish()`` after the last chunk and
before it commits anything, so a body that fails verification changes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    user: str
    access_key: str


@dataclass(frozen=True)
class Secret:
    """What a credential store returns for an access key."""

    user: str
    secret_key: str


class CredentialStore(Protocol):
    """Looks up the secret behind an access key (for signature checks)."""

    async def lookup(self, access_key: str) -> Secret | None:
        """The secret and owning user of ``access_key``, or None if unknown."""
        ...


@dataclass(frozen=True)
class BucketInfo:
    """A bucket as the S3 layer sees it."""

    name: str
    owner: str
    created: float  # epoch seconds
    region: str
    versioning: str = ""  # "", "Enabled" or "Suspended"


@dataclass(frozen=True)
class ObjectHeaders:
    """The stored headers a client set on PUT and gets back on GET/HEAD.

    ``standard`` maps lower-case header names among content-type,
    content-encoding, content-disposition, content-language, cache-control and
    expires to their values; ``user`` maps x-amz-meta-* names (without the
    prefix, lower case) to values.
    """

    standard: dict[str, str] = field(default_factory=dict)
    user: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Checksum:
    """A flexible checksum: algorithm (CRC32, CRC32C, CRC64NVME, SHA1, SHA256),
    its base64 value (multipart composite values end in ``-N``) and its type
    (FULL_OBJECT or COMPOSITE)."""

    algorithm: str
    value: str
    type: str = "FULL_OBJECT"


@dataclass(frozen=True)
class BodyDigest:
    """What a fully read and verified request body hashed to."""

    size: int
    md5: bytes
    checksum: Checksum | None = None


class RequestBody(Protocol):
    """A request body being received: decoded payload bytes and their verdict."""

    def chunks(self) -> AsyncIterator[memoryview | bytes]:
        """The payload bytes, in order, as they arrive. Iterate once."""
        ...

    def chunks_unhashed(
        self,
    ) -> tuple[AsyncIterator[memoryview | bytes], Callable[[bytes | bytearray | memoryview], None]]:
        """The payload as :meth:`chunks` yields it, but not yet hashed, and
        the function that hashes it.

        The consumer passes every byte it took to that function exactly once,
        in order, from one thread at a time (any thread), before
        :meth:`finish`, and does not change a buffer it passed (it may be
        hashed later); it saves a thread hand-off when the consumer works on
        the bytes off the event loop anyway. Use either this or
        :meth:`chunks`, once.
        """
        ...

    async def finish(self) -> BodyDigest:
        """Verify every digest the client sent; raise the S3 error if one fails.

        Called after the last chunk and before any commit.
        """
        ...


@dataclass(frozen=True)
class ObjectInfo:
    """A committed object version as GET/HEAD/List return it."""

    bucket: str
    key: str
    version_id: str  # "null" for objects written while versioning is off
    size: int
    etag: str  # quoted, e.g. '"9b2cf535f27731c974343645a3985328"'
    last_modified: float  # epoch seconds
    headers: ObjectHeaders = field(default_factory=ObjectHeaders)
    checksum: Checksum | None = None
    part_sizes: tuple[int, ...] = ()  # one entry per part for multipart objects
    storage_class: str = "STANDARD"
    is_delete_marker: bool = False
    owner: str = ""
    is_latest: bool = True  # False for noncurrent versions in ListObjectVersions

    @property
    def parts_count(self) -> int | None:
        """How many parts a multipart object has; None for a single PUT."""
        return len(self.part_sizes) if self.part_sizes else None


@dataclass(frozen=True)
class WriteCondition:
    """Conditional write (PutObject / CompleteMultipartUpload).

    ``if_none_match_star``: fail with PreconditionFailed if the key exists.
    ``if_match``: fail unless the current ETag equals this quoted ETag
    (NoSuchKey when the key does not exist, as AWS answers).
    """

    if_none_match_star: bool = False
    if_match: str | None = None


@dataclass(frozen=True)
class ListPage:
    """One page of a listing, in UTF-8 byte order of keys.

    ``next_marker`` is the last key or common prefix the page covers: the
    place the next page starts after.
    """

    objects: list[ObjectInfo]
    common_prefixes: list[str]
    is_truncated: bool
    next_marker: str | None


@dataclass(frozen=True)
class VersionListPage:
    """One page of ListObjectVersions."""

    versions: list[ObjectInfo]  # delete markers have is_delete_marker=True
    common_prefixes: list[str]
    is_truncated: bool
    next_key_marker: str | None
    next_version_id_marker: str | None


@dataclass(frozen=True)
class UploadInfo:
    """A multipart upload in progress."""

    bucket: str
    key: str
    upload_id: str
    initiated: float
    owner: str
    headers: ObjectHeaders = field(default_factory=ObjectHeaders)
    checksum_algorithm: str | None = None
    checksum_type: str | None = None  # COMPOSITE or FULL_OBJECT
    storage_class: str = "STANDARD"


@dataclass(frozen=True)
class PartInfo:
    """An uploaded part."""

    part_number: int
    size: int
    etag: str  # quoted
    last_modified: float
    checksum: Checksum | None = None


@dataclass(frozen=True)
class CompletedPart:
    """A part as the client names it in CompleteMultipartUpload."""

    part_number: int
    etag: str
    checksums: dict[str, str] = field(default_factory=dict)  # algorithm -> b64


@dataclass(frozen=True)
class UploadListPage:
    """One page of ListMultipartUploads."""

    uploads: list[UploadInfo]
    common_prefixes: list[str]
    is_truncated: bool
    next_key_marker: str | None
    next_upload_id_marker: str | None


@dataclass(frozen=True)
class PartListPage:
    """One page of ListParts."""

    upload: UploadInfo
    parts: list[PartInfo]
    is_truncated: bool
    next_part_number_marker: int | None


@dataclass(frozen=True)
class ByteRange:
    """An inclusive byte range already resolved against the object size."""

    first: int
    last: int

    @property
    def length(self) -> int:
        """Number of bytes in the range."""
        return self.last - self.first + 1


class ObjectReader(Protocol):
    """A committed object version opened for reading.

    Holds what it needs to read the version it was opened on, so a concurrent
    overwrite does not change the bytes a GET returns.
    """

    info: ObjectInfo

    def read(self, byte_range: ByteRange | None) -> AsyncIterator[bytes | memoryview]:
        """Stream the object's bytes (or a range of them) as they are ready."""
        ...


class ObjectService(Protocol):
    """The storage side of the S3 API, implemented by the daemon.

    Ownership: methods that take ``principal`` enforce it (AccessDenied when the
    caller does not own the bucket); a ``principal`` of None means the caller
    has been authorized already.
    """

    # buckets
    async def list_buckets(self, principal: Principal) -> list[BucketInfo]:
        """The caller's buckets, by name."""
        ...

    async def create_bucket(self, principal: Principal, bucket: str, region: str) -> BucketInfo:
        """Create a bucket (BucketAlreadyOwnedByYou / BucketAlreadyExists)."""
        ...

    async def get_bucket(self, principal: Principal, bucket: str) -> BucketInfo:
        """A bucket the caller owns (NoSuchBucket / AccessDenied)."""
        ...

    async def delete_bucket(self, principal: Principal, bucket: str) -> None:
        """Delete an empty bucket (BucketNotEmpty when objects or uploads remain)."""
        ...

    # objects
    async def put_object(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        headers: ObjectHeaders,
        body: RequestBody,
        condition: WriteCondition | None = None,
    ) -> ObjectInfo:
        """Store a new object version; visible only once fully stored and verified."""
        ...

    async def open_object(
        self, principal: Principal, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectReader:
        """Open the current (or a given) version for HEAD/GET (NoSuchKey)."""
        ...

    async def delete_object(
        self, principal: Principal, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectInfo | None:
        """Delete a key; deleting a missing key succeeds (returns None)."""
        ...

    async def copy_object(
        self,
        principal: Principal,
        source: ObjectReader,
        bucket: str,
        key: str,
        headers: ObjectHeaders,
        condition: WriteCondition | None = None,
        checksum_algorithm: str | None = None,
    ) -> ObjectInfo:
        """Write ``source``'s bytes as a new version of bucket/key with ``headers``.

        The copy's checksum uses ``checksum_algorithm`` when given, else the
        source's algorithm (none if the source has no checksum), as AWS does.
        """
        ...

    async def list_objects(
        self,
        principal: Principal,
        bucket: str,
        prefix: str,
        delimiter: str,
        start_after: str,
        max_keys: int,
    ) -> ListPage:
        """Keys after ``start_after`` under ``prefix``, grouped by ``delimiter``."""
        ...

    async def list_object_versions(
        self,
        principal: Principal,
        bucket: str,
        prefix: str,
        delimiter: str,
        key_marker: str,
        version_id_marker: str,
        max_keys: int,
    ) -> VersionListPage:
        """Versions (newest first within a key) after the markers."""
        ...

    # multipart
    async def create_multipart_upload(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        headers: ObjectHeaders,
        checksum_algorithm: str | None,
        checksum_type: str | None,
    ) -> UploadInfo:
        """Start a multipart upload."""
        ...

    async def upload_part(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        body: RequestBody,
    ) -> PartInfo:
        """Store one part (replacing an earlier part of that number)."""
        ...

    async def upload_part_copy(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        source: ObjectReader,
        byte_range: ByteRange | None,
    ) -> PartInfo:
        """Store one part from (a range of) an existing object; its checksum
        uses the upload's algorithm, whatever the source's."""
        ...

    async def complete_multipart_upload(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        upload_id: str,
        parts: Sequence[CompletedPart],
        condition: WriteCondition | None = None,
        full_object_checksum: Checksum | None = None,
    ) -> ObjectInfo:
        """Join the named parts into one object version (InvalidPart,
        InvalidPartOrder, EntityTooSmall, NoSuchUpload)."""
        ...

    async def abort_multipart_upload(
        self, principal: Principal, bucket: str, key: str, upload_id: str
    ) -> None:
        """Drop an upload and its parts (NoSuchUpload)."""
        ...

    async def list_parts(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        upload_id: str,
        part_number_marker: int,
        max_parts: int,
    ) -> PartListPage:
        """Parts of an upload after ``part_number_marker``."""
        ...

    async def list_multipart_uploads(
        self,
        principal: Principal,
        bucket: str,
        prefix: str,
        delimiter: str,
        key_marker: str,
        upload_id_marker: str,
        max_uploads: int,
    ) -> UploadListPage:
        """Uploads in progress, by key then initiation."""
        ...
