"""The metadata store interface, which both backends (SQLite, Postgres) implement.

Every method is one transaction. Writes that replace or remove data (an object
overwrite, a delete, a part re-upload, completing or aborting an upload) move
the manifests of what they replace to the garbage list in the same
transaction, due after the store's grace period; the daemon's collector
deletes their fragments later (empty manifests, such as a delete marker's,
are not sent). Keys compare as UTF-8 bytes.

A ``version_id`` of ``"null"`` names the key's null version (S3's
``versionId=null``), whatever id it was stored under.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from metadata.model import (
    Bucket,
    Garbage,
    Intent,
    ObjectListing,
    ObjectVersion,
    Part,
    Upload,
    UploadListing,
    User,
    VersionListing,
)


class MetadataStore(Protocol):
    """Buckets, objects, versions, uploads, users, garbage and intents.

    ``rows_read`` counts the rows the store fetched from the database for
    reads; it lets tests check that listings skip common-prefix groups.
    """

    rows_read: int

    async def open(self) -> None:
        """Connect and apply schema migrations (idempotent)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...

    # users
    async def add_user(self, user: User) -> None:
        """Add a user or another access key of a user (UserExists on a taken access key)."""
        ...

    async def user_by_access_key(self, access_key: str) -> User | None:
        """The user owning an access key."""
        ...

    async def list_users(self) -> list[User]:
        """Every user access key, by user name then key."""
        ...

    async def remove_user(self, name: str) -> None:
        """Remove a user and all its keys (UserNotFound)."""
        ...

    async def remove_access_key(self, access_key: str) -> None:
        """Remove one access key (UserNotFound)."""
        ...

    # buckets
    async def create_bucket(self, bucket: Bucket) -> None:
        """Create a bucket (BucketExists with the current owner)."""
        ...

    async def get_bucket(self, name: str) -> Bucket | None:
        """A bucket by name."""
        ...

    async def list_buckets(self, owner: str | None) -> list[Bucket]:
        """Buckets of ``owner`` (all when None), by name."""
        ...

    async def delete_bucket(self, name: str) -> None:
        """Delete a bucket with no versions and no uploads (BucketNotEmpty,
        BucketNotFound). Atomic against concurrent writes into it."""
        ...

    async def set_versioning(self, name: str, state: str) -> None:
        """Set a bucket's versioning state (BucketNotFound)."""
        ...

    # objects
    async def put_object(
        self,
        version: ObjectVersion,
        *,
        if_none_match_star: bool = False,
        if_match: str | None = None,
        intent: str | None = None,
    ) -> None:
        """Commit ``version`` as the key's current version.

        Unless the bucket's versioning is "Enabled" at commit time the new
        version is the key's null version and replaces the previous null
        version (whose manifest goes to garbage); with "Enabled" earlier
        versions stay. A delete marker (S3 DELETE without a version id on a
        versioned bucket) is committed this way too. Conditions are checked in the same
        transaction (ConditionFailed; KeyNotFound for ``if_match`` on a
        missing key). ``intent`` (a stream id) is removed in the same
        transaction. BucketNotFound if the bucket is gone.
        """
        ...

    async def get_object(
        self, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectVersion | None:
        """The current version of a key (or the named version); the current
        version may be a delete marker."""
        ...

    async def delete_object(
        self, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectVersion | None:
        """Remove the key's current (or named) version; its manifest goes to
        garbage. Returns what was removed, or None. BucketNotFound.

        Without ``version_id`` this removes the newest row whatever it is:
        it is S3's DELETE on an unversioned bucket. When the removed version
        was the latest, the next newest becomes the latest."""
        ...

    async def list_objects(
        self, bucket: str, prefix: str, delimiter: str, start_after: str, max_keys: int
    ) -> ObjectListing:
        """Current versions of keys > ``start_after`` under ``prefix``.

        With a delimiter, keys sharing a prefix up to the first delimiter after
        ``prefix`` collapse into one common prefix, and the store skips past
        the whole group rather than reading every key in it. ``max_keys``
        counts objects and common prefixes together. Keys whose current
        version is a delete marker are not listed. A common prefix is listed
        only when it sorts after ``start_after`` (a page that ended on it
        continues with it as marker). ``next_marker`` is the last key or
        common prefix returned when truncated, else None. Listed versions
        carry an empty manifest (listings never need it).
        """
        ...

    async def list_object_versions(
        self,
        bucket: str,
        prefix: str,
        delimiter: str,
        key_marker: str,
        version_id_marker: str,
        max_keys: int,
    ) -> VersionListing:
        """All versions after the markers, newest first within each key.

        With ``version_id_marker``, the listing continues inside
        ``key_marker`` after that version, then with later keys; without it
        (or when that version no longer exists) it starts after
        ``key_marker``. Delete markers are included. Common prefixes as in
        list_objects. When truncated the next markers are the last version's
        key and id, or the last common prefix and None. Listed versions carry
        an empty manifest.
        """
        ...

    # multipart
    async def create_upload(self, upload: Upload) -> None:
        """Record a new multipart upload (BucketNotFound; ValueError if the
        upload id is taken)."""
        ...

    async def get_upload(self, upload_id: str) -> Upload | None:
        """An upload in progress."""
        ...

    async def put_part(self, part: Part, *, intent: str | None = None) -> None:
        """Record a part, replacing an earlier part of that number (whose
        manifest goes to garbage). UploadNotFound if the upload is gone; then
        the caller must treat the part's own data as garbage."""
        ...

    async def list_parts(
        self, upload_id: str, part_number_marker: int, max_parts: int
    ) -> tuple[list[Part], bool]:
        """Parts after the marker by number, and whether more follow
        (UploadNotFound)."""
        ...

    async def get_parts(self, upload_id: str, part_numbers: Sequence[int]) -> list[Part]:
        """The named parts that exist, by number."""
        ...

    async def complete_upload(
        self,
        upload_id: str,
        version: ObjectVersion,
        part_numbers: Sequence[int],
        *,
        if_none_match_star: bool = False,
        if_match: str | None = None,
    ) -> None:
        """Atomically: check the upload still exists (UploadNotFound), check
        conditions, commit ``version`` as for put_object, delete the upload
        and its parts, and send to garbage the manifests of parts not in
        ``part_numbers``. The parts in ``part_numbers`` are now referenced by
        ``version.manifest``."""
        ...

    async def abort_upload(self, upload_id: str) -> None:
        """Delete an upload; all its parts' manifests go to garbage (UploadNotFound)."""
        ...

    async def list_uploads(
        self,
        bucket: str,
        prefix: str,
        delimiter: str,
        key_marker: str,
        upload_id_marker: str,
        max_uploads: int,
    ) -> UploadListing:
        """Uploads in progress by key, then initiation time (then id).

        Markers as in list_object_versions, with ``upload_id_marker`` naming
        an upload of ``key_marker``.
        """
        ...

    # garbage and intents
    async def add_intent(self, intent: Intent) -> None:
        """Record a write about to put fragments on drives or nodes
        (ValueError if the stream id is already recorded)."""
        ...

    async def drop_intent(self, stream_id: str, *, to_garbage: bool) -> None:
        """Forget an intent; with ``to_garbage``, its manifest becomes garbage
        (the write failed and its fragments must go)."""
        ...

    async def expired_intents(self, now: float, limit: int) -> list[Intent]:
        """Intents past their expiry: writes that died."""
        ...

    async def add_garbage(self, manifests: Sequence[bytes], due: float) -> None:
        """Record manifests whose fragments are to be deleted after ``due``."""
        ...

    async def due_garbage(self, now: float, limit: int) -> list[Garbage]:
        """Garbage whose time has come, oldest first."""
        ...

    async def remove_garbage(self, ids: Sequence[int]) -> None:
        """Forget garbage whose fragments were deleted."""
        ...
