"""Errors the metadata store raises; the daemon maps them to S3 errors."""

from __future__ import annotations


class MetadataError(Exception):
    """Base of metadata store errors."""


class BucketExists(MetadataError):
    """A bucket of that name exists; ``owner`` says whose it is."""

    def __init__(self, owner: str) -> None:
        super().__init__(f"bucket exists, owned by {owner}")
        self.owner = owner


class BucketNotFound(MetadataError):
    """The bucket does not exist (or was deleted concurrently)."""


class BucketNotEmpty(MetadataError):
    """The bucket still holds object versions or multipart uploads."""


class UploadNotFound(MetadataError):
    """The multipart upload does not exist (never did, completed, or aborted)."""


class KeyNotFound(MetadataError):
    """The key (or version) does not exist."""


class ConditionFailed(MetadataError):
    """A conditional write's condition did not hold at commit time."""


class UserExists(MetadataError):
    """A user of that name exists."""


class UserNotFound(MetadataError):
    """No user of that name."""


class StoreUnavailable(MetadataError):
    """The database cannot be reached or answered with a transient failure."""


class MetadataUnavailable(StoreUnavailable):
    """The metadata database cannot be reached right now (refused, lost or
    shut-down connections, too many clients). Transient: the store reconnects
    by itself once the database answers again."""


class SchemaTooNew(MetadataError):
    """The database was written by a newer release: its schema version is
    beyond the migrations this code knows, so it is not opened."""
