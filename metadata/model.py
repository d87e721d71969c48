"""The values the metadata store keeps: users, buckets, object versions,
multipart uploads and parts, garbage and write intents.

``manifest`` fields are opaque bytes to this package: the daemon encodes in
them where an object's fragments live (streams, layouts, wrapped keys,
placements). The store only keeps them and hands them back, and moves the
manifests of replaced or deleted data to the garbage list in the same
transaction that replaces or deletes it, so fragment clean-up can never lose
track of data nor delete data that is still referenced.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class User:
    """A user and one of its access keys; ``secret`` is stored as given
    (the daemon encrypts it under the master key before storing)."""

    name: str
    access_key: str
    secret: bytes
    created: float


@dataclass(frozen=True)
class Bucket:
    """A bucket row."""

    name: str
    owner: str
    created: float
    region: str
    versioning: str = ""  # "", "Enabled", "Suspended"


@dataclass(frozen=True)
class ObjectVersion:
    """One version of an object (or a delete marker).

    ``headers``: stored standard headers (lower-case names) and
    ``user_metadata``: x-amz-meta-* without prefix. ``checksum``: a dict with
    keys algorithm, value, type, or None. ``part_sizes``: one per part for
    multipart objects, empty for single PUTs.

    ``null_version`` and ``is_latest`` are decided by the store: on a write
    the bucket's versioning state at commit time says whether the version is
    the key's null version, and a committed version is always the latest.
    Reads report the stored values (``is_latest`` is S3's IsLatest).
    """

    bucket: str
    key: str
    version_id: str
    size: int
    etag: str
    last_modified: float
    manifest: bytes
    owner: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    user_metadata: dict[str, str] = field(default_factory=dict)
    checksum: dict[str, str] | None = None
    part_sizes: tuple[int, ...] = ()
    storage_class: str = "STANDARD"
    is_delete_marker: bool = False
    null_version: bool = True  # written while versioning was off/suspended
    is_latest: bool = True


@dataclass(frozen=True)
class Upload:
    """A multipart upload in progress."""

    upload_id: str
    bucket: str
    key: str
    initiated: float
    owner: str
    headers: dict[str, str] = field(default_factory=dict)
    user_metadata: dict[str, str] = field(default_factory=dict)
    checksum_algorithm: str | None = None
    checksum_type: str | None = None
    storage_class: str = "STANDARD"


@dataclass(frozen=True)
class Part:
    """One uploaded part of a multipart upload."""

    upload_id: str
    part_number: int
    size: int
    etag: str
    last_modified: float
    manifest: bytes
    checksum: dict[str, str] | None = None


@dataclass(frozen=True)
class Garbage:
    """Data no longer referenced: its manifest, and when it may be deleted."""

    id: int
    manifest: bytes
    due: float


@dataclass(frozen=True)
class Intent:
    """A write in progress: fragments may exist for ``manifest`` though no
    committed row references them yet. Removed when the write commits; an
    intent older than its ``expires`` belongs to a write that died."""

    stream_id: str
    manifest: bytes
    expires: float


@dataclass(frozen=True)
class ObjectListing:
    """A page of the current versions of keys, with delimiter grouping."""

    objects: list[ObjectVersion]
    common_prefixes: list[str]
    is_truncated: bool
    next_marker: str | None


@dataclass(frozen=True)
class VersionListing:
    """A page of all versions, newest first within each key."""

    versions: list[ObjectVersion]
    common_prefixes: list[str]
    is_truncated: bool
    next_key_marker: str | None
    next_version_id_marker: str | None


@dataclass(frozen=True)
class UploadListing:
    """A page of uploads in progress, by key then initiation time."""

    uploads: list[Upload]
    common_prefixes: list[str]
    is_truncated: bool
    next_key_marker: str | None
    next_upload_id_marker: str | None
