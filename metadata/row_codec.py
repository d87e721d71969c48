"""Rows of the metadata tables and the values they hold, for both backends.

The SQLite and Postgres schemas have the same tables and columns, in the same
order; this module names the column lists the stores select and turns a row
(a tuple or an asyncpg Record, indexed alike) into its model value. Maps and
checksums are stored as compact JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from metadata.model import Bucket, ObjectVersion, Part, Upload, User

Row = Sequence[Any]

# Compact JSON with the text as is (no \u escapes): what every JSON column holds.
encode_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def dump_map(value: dict[str, str]) -> str | None:
    """A dict as compact JSON; empty dicts are stored as NULL."""
    return encode_json(value) if value else None


def load_map(text: str | None) -> dict[str, str]:
    """The dict :func:`dump_map` stored (empty for NULL)."""
    return json.loads(text) if text else {}


def dump_checksum(value: dict[str, str] | None) -> str | None:
    """A checksum record as JSON (NULL for none)."""
    return None if value is None else encode_json(value)


def load_checksum(text: str | None) -> dict[str, str] | None:
    """The checksum record :func:`dump_checksum` stored."""
    return None if text is None else json.loads(text)


def same_etag(a: str, b: str) -> bool:
    """ETags compare without their surrounding quotes."""
    return a.strip('"') == b.strip('"')


VERSION_COLUMNS = (
    "bucket, key, version_id, size, etag, last_modified, manifest, owner, headers, "
    "user_metadata, checksum, part_sizes, storage_class, is_delete_marker, "
    "null_version, seq, is_latest"
)


def listing_columns(empty_blob: str) -> str:
    """:data:`VERSION_COLUMNS` for listings, with the manifest replaced by
    ``empty_blob`` (the backend's literal for an empty byte string): a
    listing never shows it, and a small object's manifest holds its whole
    body, so reading it would multiply what a page reads."""
    return VERSION_COLUMNS.replace(" manifest,", f" {empty_blob} AS manifest,", 1)


V_KEY = 1
V_VERSION_ID = 2
V_MANIFEST = 6
V_SEQ = 15
V_IS_LATEST = 16


def version_of(r: Row) -> ObjectVersion:
    """An object version from a row of its column list (booleans may come as integers)."""
    return ObjectVersion(
        bucket=r[0],
        key=r[1],
        version_id=r[2],
        size=r[3],
        etag=r[4],
        last_modified=r[5],
        manifest=r[6],
        owner=r[7],
        headers=load_map(r[8]),
        user_metadata=load_map(r[9]),
        checksum=load_checksum(r[10]),
        part_sizes=tuple(json.loads(r[11])) if r[11] else (),
        storage_class=r[12],
        is_delete_marker=bool(r[13]),
        null_version=bool(r[14]),
        is_latest=bool(r[16]),
    )


UPLOAD_COLUMNS = (
    "upload_id, bucket, key, initiated, owner, headers, user_metadata, "
    "checksum_algorithm, checksum_type, storage_class"
)
U_ID = 0
U_KEY = 2
U_INITIATED = 3


def upload_of(r: Row) -> Upload:
    """A multipart upload from a row of its column list (booleans may come as integers)."""
    return Upload(
        upload_id=r[0],
        bucket=r[1],
        key=r[2],
        initiated=r[3],
        owner=r[4],
        headers=load_map(r[5]),
        user_metadata=load_map(r[6]),
        checksum_algorithm=r[7],
        checksum_type=r[8],
        storage_class=r[9],
    )


PART_COLUMNS = "upload_id, part_number, size, etag, last_modified, manifest, checksum"
JOINED_PART_COLUMNS = ", ".join(f"p.{c.strip()}" for c in PART_COLUMNS.split(","))


def part_of(r: Row) -> Part:
    """A part from a row of its column list (booleans may come as integers)."""
    return Part(
        upload_id=r[0],
        part_number=r[1],
        size=r[2],
        etag=r[3],
        last_modified=r[4],
        manifest=r[5],
        checksum=load_checksum(r[6]),
    )


USER_COLUMNS = "name, access_key, secret, created"


def user_of(r: Row) -> User:
    """A user from a row of its column list (booleans may come as integers)."""
    return User(name=r[0], access_key=r[1], secret=r[2], created=r[3])


BUCKET_COLUMNS = "name, owner, created, region, versioning"


def bucket_of(r: Row) -> Bucket:
    """A bucket from a row of its column list (booleans may come as integers)."""
    return Bucket(name=r[0], owner=r[1], created=r[2], region=r[3], versioning=r[4])
