"""The Postgres schema as ordered, versioned migrations, and their application.

The ``schema_version`` table records every applied step. Opening a store (or
:func:`migrate`) applies, in one transaction, the steps the database has not
seen yet: Postgres DDL is transactional, so a failure leaves the previous
version intact. The transaction first takes an advisory lock named after the
target schema, so gateways starting together migrate it once: the others wait,
then find nothing left to do. A database written by a newer release (a
version this code does not know) is refused rather than guessed at.

Keys and the other names that listings order by are ``text COLLATE "C"``:
Postgres compares C-collated UTF-8 text byte by byte, which is S3's listing
order, and the indexes carry the same collation so listings are index range
scans.

An optional Postgres *schema* (a namespace inside the database) holds the
tables; it lets several clusters, or tests, share one database.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from metadata.errors import SchemaTooNew

# The class half of the two-key advisory lock taken while migrating ("objd").
# Postgres keeps one-key and two-key advisory locks in separate spaces, so
# this never collides with the store's one-key row locks.
MIGRATION_LOCK_CLASS = 0x6F626A64

_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


@dataclass(frozen=True)
class Migration:
    """One schema step: ``version`` counts up from 1 without gaps."""

    version: int
    description: str
    statements: tuple[str, ...]


_V1 = (
    """CREATE TABLE users (
        access_key text COLLATE "C" PRIMARY KEY,
        name text COLLATE "C" NOT NULL,
        secret bytea NOT NULL,
        created double precision NOT NULL
    )""",
    "CREATE INDEX users_by_name ON users (name, access_key)",
    """CREATE TABLE buckets (
        name text COLLATE "C" PRIMARY KEY,
        owner text COLLATE "C" NOT NULL,
        created double precision NOT NULL,
        region text NOT NULL,
        versioning text NOT NULL DEFAULT ''
            CHECK (versioning IN ('', 'Enabled', 'Suspended'))
    )""",
    "CREATE INDEX buckets_by_owner ON buckets (owner, name)",
    # seq is the version's commit order for its key: writers of one key are
    # serialized and draw seq after taking the key's lock, so a key's newest
    # version is always its largest seq. Identity values are never reused.
    """CREATE TABLE versions (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        bucket text COLLATE "C" NOT NULL REFERENCES buckets (name),
        key text COLLATE "C" NOT NULL,
        version_id text COLLATE "C" NOT NULL,
        is_latest boolean NOT NULL,
        size bigint NOT NULL,
        etag text NOT NULL,
        last_modified double precision NOT NULL,
        owner text NOT NULL,
        headers text,
        user_metadata text,
        checksum text,
        part_sizes text,
        storage_class text NOT NULL,
        is_delete_marker boolean NOT NULL,
        null_version boolean NOT NULL,
        manifest bytea NOT NULL
    )""",
    "CREATE UNIQUE INDEX versions_by_id ON versions (bucket, key, version_id)",
    # ListObjectVersions order (key, newest first) is a plain index scan.
    "CREATE INDEX versions_by_key ON versions (bucket, key, seq DESC)",
    # ListObjects reads only the visible current versions: "latest version of
    # keys > X with prefix P" is a range scan of this partial index.
    """CREATE INDEX versions_current ON versions (bucket, key)
        WHERE is_latest AND NOT is_delete_marker""",
    """CREATE TABLE uploads (
        upload_id text COLLATE "C" PRIMARY KEY,
        bucket text COLLATE "C" NOT NULL REFERENCES buckets (name),
        key text COLLATE "C" NOT NULL,
        initiated double precision NOT NULL,
        owner text NOT NULL,
        headers text,
        user_metadata text,
        checksum_algorithm text,
        checksum_type text,
        storage_class text NOT NULL
    )""",
    "CREATE INDEX uploads_by_key ON uploads (bucket, key, initiated, upload_id)",
    """CREATE TABLE parts (
        upload_id text COLLATE "C" NOT NULL REFERENCES uploads (upload_id),
        part_number integer NOT NULL,
        size bigint NOT NULL,
        etag text NOT NULL,
        last_modified double precision NOT NULL,
        manifest bytea NOT NULL,
        checksum text,
        PRIMARY KEY (upload_id, part_number)
    )""",
    # An identity: an id handed to a collector is never reused for other data.
    """CREATE TABLE garbage (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        manifest bytea NOT NULL,
        due double precision NOT NULL
    )""",
    "CREATE INDEX garbage_by_due ON garbage (due, id)",
    """CREATE TABLE intents (
        stream_id text COLLATE "C" PRIMARY KEY,
        manifest bytea NOT NULL,
        expires double precision NOT NULL
    )""",
    "CREATE INDEX intents_by_expiry ON intents (expires)",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "users, buckets, versions, uploads, parts, garbage, intents", _V1),
)

_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version integer PRIMARY KEY,
    description text NOT NULL,
    applied double precision NOT NULL
)"""


def check_schema_name(name: str) -> str:
    """``name`` if it can name the store's Postgres schema (letters, digits
    and underscores, not starting with a digit, at most 63 bytes), else
    ValueError. Names are always quoted, so case is kept."""
    if not _SCHEMA_NAME.fullmatch(name):
        raise ValueError(f"bad Postgres schema name {name!r}")
    return name


def quote_identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


async def schema_version(conn: asyncpg.Connection) -> int:
    """The newest migration applied in the connection's current schema (0
    when none, or when the schema or its version table does not exist)."""
    table = await conn.fetchval("SELECT to_regclass('schema_version')")
    if table is None:
        return 0
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version"))


async def apply_migrations(
    conn: asyncpg.Connection,
    schema: str | None = None,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> list[int]:
    """Bring ``schema`` (the connection's current schema when None, created
    when missing) up to the last of ``migrations``; return the versions
    applied now (empty when already current).

    All steps run in one transaction under an advisory lock named after the
    schema: concurrent callers wait for each other, and either the schema
    reaches the last version or it stays as it was. SchemaTooNew when the
    database is ahead of this code.
    """
    expected = list(range(1, len(migrations) + 1))
    if [m.version for m in migrations] != expected:
        raise ValueError("migrations must be numbered 1, 2, 3, ... in order")
    async with conn.transaction():
        target = schema
        if target is None:
            target = await conn.fetchval("SELECT current_schema()")
            if target is None:
                raise ValueError("the connection's search_path names no existing schema")
        else:
            check_schema_name(target)
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))", MIGRATION_LOCK_CLASS, target
        )
        quoted = quote_identifier(target)
        if schema is not None:
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
        # Unqualified names below resolve to the target schema only.
        await conn.execute(f"SET LOCAL search_path TO {quoted}")
        await conn.execute(_VERSION_TABLE)
        current = int(
            await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
        )
        if current > len(migrations):
            raise SchemaTooNew(
                f"database schema version {current} is newer than this release "
                f"knows ({len(migrations)})"
            )
        applied: list[int] = []
        for migration in migrations[current:]:
            for statement in migration.statements:
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO schema_version (version, description, applied) VALUES ($1, $2, $3)",
                migration.version,
                migration.description,
                time.time(),
            )
            applied.append(migration.version)
    return applied


async def migrate(
    dsn: str,
    *,
    schema: str | None = None,
    migrations: Sequence[Migration] = MIGRATIONS,
    timeout: float = 10.0,
) -> list[int]:
    """Connect to ``dsn``, apply the migrations to ``schema`` (see
    :func:`apply_migrations`) and disconnect: for operators who migrate
    before starting gateways. Returns the versions applied now. Connection
    failures are raised as asyncpg reports them (OSError and the like)."""
    settings = {}
    if schema is not None:
        settings["search_path"] = quote_identifier(check_schema_name(schema))
    conn = await asyncpg.connect(dsn, timeout=timeout, server_settings=settings)
    try:
        return await apply_migrations(conn, schema, migrations)
    finally:
        await conn.close()
