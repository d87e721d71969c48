"""The SQLite schema as ordered, versioned migrations, and their application.

The ``schema_version`` table records every applied step. Opening a database
applies, in one ``BEGIN IMMEDIATE`` transaction, the steps it has not seen
yet, so opening is idempotent, a crash mid-migration leaves the previous
version intact, and two processes opening the same file at once migrate it
once. A database written by a newer release (a version this code does not
know) is refused rather than guessed at.

Keys are ``TEXT COLLATE BINARY``: SQLite compares them with memcmp over their
UTF-8 bytes, which is S3's listing order.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass

from metadata.errors import SchemaTooNew


@dataclass(frozen=True)
class Migration:
    """One schema step: ``version`` counts up from 1 without gaps."""

    version: int
    description: str
    statements: tuple[str, ...]


_V1 = (
    """CREATE TABLE users (
        access_key TEXT COLLATE BINARY PRIMARY KEY,
        name TEXT COLLATE BINARY NOT NULL,
        secret BLOB NOT NULL,
        created REAL NOT NULL
    )""",
    "CREATE INDEX users_by_name ON users (name, access_key)",
    """CREATE TABLE buckets (
        name TEXT COLLATE BINARY PRIMARY KEY,
        owner TEXT COLLATE BINARY NOT NULL,
        created REAL NOT NULL,
        region TEXT NOT NULL,
        versioning TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX buckets_by_owner ON buckets (owner, name)",
    # seq is the version's commit order: AUTOINCREMENT never reuses a value,
    # so a key's newest version is always its largest seq.
    """CREATE TABLE versions (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        bucket TEXT COLLATE BINARY NOT NULL REFERENCES buckets (name),
        key TEXT COLLATE BINARY NOT NULL,
        version_id TEXT COLLATE BINARY NOT NULL,
        is_latest INTEGER NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        last_modified REAL NOT NULL,
        owner TEXT NOT NULL,
        headers TEXT,
        user_metadata TEXT,
        checksum TEXT,
        part_sizes TEXT,
        storage_class TEXT NOT NULL,
        is_delete_marker INTEGER NOT NULL,
        null_version INTEGER NOT NULL,
        manifest BLOB NOT NULL
    )""",
    "CREATE UNIQUE INDEX versions_by_id ON versions (bucket, key, version_id)",
    # ListObjectVersions order (key, newest first) is a plain index scan.
    "CREATE INDEX versions_by_key ON versions (bucket, key, seq DESC)",
    # ListObjects reads only the visible current versions: "latest version of
    # keys > X with prefix P" is a range scan of this partial index.
    """CREATE INDEX versions_current ON versions (bucket, key)
        WHERE is_latest = 1 AND is_delete_marker = 0""",
    """CREATE TABLE uploads (
        upload_id TEXT COLLATE BINARY PRIMARY KEY,
        bucket TEXT COLLATE BINARY NOT NULL REFERENCES buckets (name),
        key TEXT COLLATE BINARY NOT NULL,
        initiated REAL NOT NULL,
        owner TEXT NOT NULL,
        headers TEXT,
        user_metadata TEXT,
        checksum_algorithm TEXT,
        checksum_type TEXT,
        storage_class TEXT NOT NULL
    )""",
    "CREATE INDEX uploads_by_key ON uploads (bucket, key, initiated, upload_id)",
    """CREATE TABLE parts (
        upload_id TEXT COLLATE BINARY NOT NULL REFERENCES uploads (upload_id),
        part_number INTEGER NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        last_modified REAL NOT NULL,
        manifest BLOB NOT NULL,
        checksum TEXT,
        PRIMARY KEY (upload_id, part_number)
    ) WITHOUT ROWID""",
    # AUTOINCREMENT: an id handed to a collector is never reused for other data.
    """CREATE TABLE garbage (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        manifest BLOB NOT NULL,
        due REAL NOT NULL
    )""",
    "CREATE INDEX garbage_by_due ON garbage (due, id)",
    """CREATE TABLE intents (
        stream_id TEXT COLLATE BINARY PRIMARY KEY,
        manifest BLOB NOT NULL,
        expires REAL NOT NULL
    )""",
    "CREATE INDEX intents_by_expiry ON intents (expires)",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "users, buckets, versions, uploads, parts, garbage, intents", _V1),
)

_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied REAL NOT NULL
)"""


def schema_version(conn: sqlite3.Connection) -> int:
    """The newest migration applied to the database (0 for a new one)."""
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchall()
    if not rows:
        return 0
    return _current_version(conn)


def _current_version(conn: sqlite3.Connection) -> int:
    rows = conn.execute(
        "SELECT coalesce(max(version), 0) FROM schema_version"
    ).fetchall()
    return int(rows[0][0])


def apply_migrations(
    conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS
) -> list[int]:
    """Bring the schema up to the last of ``migrations``; return the versions
    applied now (empty when already current).

    ``conn`` must be in autocommit mode (``isolation_level=None``); the call
    blocks, so the store runs it on its writer's thread. All steps
    run in one transaction: either the database reaches the last version or
    it stays as it was. SchemaTooNew when the database is ahead of this code.
    """
    expected = list(range(1, len(migrations) + 1))
    if [m.version for m in migrations] != expected:
        raise ValueError("migrations must be numbered 1, 2, 3, ... in order")
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_VERSION_TABLE)
        current = _current_version(conn)
        if current > len(migrations):
            raise SchemaTooNew(
                f"database schema version {current} is newer than this release "
                f"knows ({len(migrations)})"
            )
        applied: list[int] = []
        for migration in migrations[current:]:
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, description, applied) VALUES (?, ?, ?)",
                (migration.version, migration.description, time.time()),
            )
            applied.append(migration.version)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return applied
