"""The SQLite backend of the metadata store (the embedded default).

One writer connection commits every write; a small pool of reader
connections serves reads concurrently (WAL lets readers run during a write).
Writes are group-committed: calls that arrive while the writer is busy run
together in one ``BEGIN IMMEDIATE … COMMIT``, each inside its own savepoint,
so a call that fails rolls back alone and one fsync makes the whole batch
durable. ``synchronous=FULL``: a call returns only after its commit is on disk.

Each connection is owned by one thread (:class:`ConnectionThread`) and every
store call reaches it as one synchronous function (a read with all its
queries, or a whole write batch), so a call costs one thread hop whatever the
number of statements it runs. Point reads (one row by its unique key: an
object's version, an upload, an access key, a bucket) are the exception: they
run on the event loop's own connection, which never waits for a lock, and go
to a reader thread only when the database is busy (see :meth:`SqliteStore._point_read`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from metadata.errors import (
    BucketExists,
    BucketNotEmpty,
    BucketNotFound,
    ConditionFailed,
    KeyNotFound,
    StoreUnavailable,
    UploadNotFound,
    UserExists,
    UserNotFound,
)
from metadata.listing import Fetch, ListingWalk
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
from metadata.row_codec import (
    BUCKET_COLUMNS,
    bucket_of,
    dump_checksum,
    dump_map,
    encode_json,
    JOINED_PART_COLUMNS,
    PART_COLUMNS,
    part_of,
    same_etag,
    U_ID,
    U_INITIATED,
    U_KEY,
    UPLOAD_COLUMNS,
    upload_of,
    USER_COLUMNS,
    user_of,
    V_IS_LATEST,
    V_KEY,
    V_MANIFEST,
    V_SEQ,
    V_VERSION_ID,
    VERSION_COLUMNS,
    listing_columns,
    version_of,
)
from metadata.schema_sqlite import apply_migrations
from metadata.sqlite_connection import ConnectionThread
from metadata.sqlite_group_commit import GroupCommitWriter, Job, is_busy, raise_translated

T = TypeVar("T")

_LISTING_COLUMNS = listing_columns("X''")
Row = tuple[Any, ...]

VERSIONING_STATES = ("", "Enabled", "Suspended")

def _rows(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> list[Row]:
    """Run one statement and return all its rows."""
    return cast(list[Row], conn.execute(sql, params).fetchall())


def _range_clause(fetch: Fetch, params: list[Any]) -> str:
    """The key range of a walk's fetch, as SQL with its parameters appended."""
    start = fetch.start
    sql = " AND key >= ?" if start.inclusive else " AND key > ?"
    params.append(start.key)
    if fetch.end is not None:
        sql += " AND key < ?"
        params.append(fetch.end)
    return sql


# ---------------------------------------------------------------------------
# reads


class _ReadSession:
    """The queries of one read call, run on a reader's thread; counts the
    rows it fetches (the store adds them up on the event loop)."""

    conn: sqlite3.Connection  # the reader's, set when the call starts on its thread

    def __init__(self) -> None:
        self.rows = 0

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one query and return all its rows."""
        rows = _rows(self.conn, sql, params)
        self.rows += len(rows)
        return rows


def _run_read(
    conn: sqlite3.Connection,
    read: Callable[[_ReadSession], T],
    session: _ReadSession,
    snapshot: bool,
) -> T:
    """Run ``read`` on a reader's thread; with ``snapshot``, inside one read
    transaction so that all its queries see the same committed state. The
    transaction always ends here, so the connection never keeps a snapshot
    (which would pin old WAL frames and hide later commits)."""
    session.conn = conn
    if not snapshot:
        return read(session)
    conn.execute("BEGIN")
    try:
        value = read(session)
    except BaseException:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the read's own error is the one to report
        raise
    conn.execute("COMMIT")
    return value


# ---------------------------------------------------------------------------
# the store


def _connect(path: str, *, writer: bool, busy_timeout: float) -> sqlite3.Connection:
    """A connection in autocommit mode with the store's pragmas (called on the
    thread that will own it)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # Wait this long for another process's lock before giving up.
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        if writer:
            rows = _rows(conn, "PRAGMA journal_mode = WAL")
            if rows[0][0].lower() != "wal":
                raise StoreUnavailable(
                    f"cannot use WAL journal on {path}: {rows[0][0]}"
                )
        # FULL: every commit is synced to disk before the call returns.
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        if not writer:
            conn.execute("PRAGMA query_only = ON")
    except BaseException:
        conn.close()
        raise
    return conn


class SqliteStore:
    """The metadata store on one SQLite file (see the MetadataStore Protocol).

    ``garbage_grace``: seconds between replacing data and its fragments
    becoming due for deletion. ``readers``: size of the reader pool.
    ``busy_timeout``: seconds to wait for a lock held by another process
    before failing with StoreUnavailable. ``rows_read`` counts rows fetched
    for reads; ``writer`` exposes the group-commit writer's counters.
    """

    def __init__(
        self,
        path: str,
        *,
        garbage_grace: float = 60.0,
        readers: int = 3,
        busy_timeout: float = 5.0,
        sole_writer: bool = False,
    ) -> None:
        """``sole_writer``: this store is the only process that changes buckets
        in the database (the embedded server, which locks its data folder), so
        bucket rows may be served from memory: every request looks its bucket
        up, and this saves a database round trip on each."""
        self.path = path
        self._bucket_cache: dict[str, Bucket] | None = {} if sole_writer else None
        self.garbage_grace = garbage_grace
        self.busy_timeout = busy_timeout
        self._reader_count = max(1, readers)
        self._writer_conn: ConnectionThread | None = None
        self._readers: asyncio.Queue[ConnectionThread] | None = None
        self._reader_conns: list[ConnectionThread] = []
        self._loop_conn: sqlite3.Connection | None = None
        self._writer: GroupCommitWriter | None = None
        self.rows_read = 0
        self.point_reads_deferred = 0

    @property
    def writer(self) -> GroupCommitWriter:
        """The group-commit writer (available once open)."""
        if self._writer is None:
            raise StoreUnavailable("metadata store is not open")
        return self._writer

    # -- lifecycle ---------------------------------------------------------

    async def open(self) -> None:
        """Open the file (creating it), apply migrations, start the writer."""
        try:
            writer = ConnectionThread("metadata-writer")
            self._writer_conn = writer
            await writer.open(
                functools.partial(
                    _connect, self.path, writer=True, busy_timeout=self.busy_timeout
                )
            )
            await writer.run(apply_migrations)
            self._readers = asyncio.Queue()
            for n in range(self._reader_count):
                reader = ConnectionThread(f"metadata-reader-{n}")
                self._reader_conns.append(reader)
                await reader.open(
                    functools.partial(
                        _connect,
                        self.path,
                        writer=False,
                        busy_timeout=self.busy_timeout,
                    )
                )
                self._readers.put_nowait(reader)
            # Made on the event loop's thread, which alone uses it; it never
            # waits for a lock (busy_timeout 0): a busy database sends the
            # read to a reader thread instead of stalling the loop.
            self._loop_conn = _connect(self.path, writer=False, busy_timeout=0)
        except BaseException as exc:
            await self._close_connections()
            raise_translated(exc)
        self._writer = GroupCommitWriter(writer)
        self._writer.start()
        if self._bucket_cache is not None:
            rows = await self._read(f"SELECT {BUCKET_COLUMNS} FROM buckets", ())
            self._bucket_cache = {b.name: b for b in map(bucket_of, rows)}

    async def close(self) -> None:
        """Finish queued writes and close every connection (idempotent)."""
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        await self._close_connections()

    async def _close_connections(self) -> None:
        # A reader still running a call (its caller cancelled) finishes it first.
        for conn in self._reader_conns:
            await conn.close()
        self._reader_conns = []
        self._readers = None
        if self._loop_conn is not None:
            self._loop_conn.close()
            self._loop_conn = None
        if self._writer_conn is not None:
            await self._writer_conn.close()
            self._writer_conn = None

    async def settings(self) -> dict[str, Any]:
        """The effective connection settings, for diagnostics: journal mode,
        synchronous level (2 = FULL), foreign keys, busy timeout (ms), and the
        schema version."""

        def read(conn: sqlite3.Connection) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for pragma in (
                "journal_mode",
                "synchronous",
                "foreign_keys",
                "busy_timeout",
            ):
                rows = _rows(conn, f"PRAGMA {pragma}")
                out[pragma] = rows[0][0]
            rows = _rows(conn, "SELECT max(version) FROM schema_version")
            out["schema_version"] = rows[0][0]
            return out

        writer = await self.writer.submit(read)
        reader = await self._reading(lambda reads: read(reads.conn))
        return {"writer": writer, "reader": reader}

    async def set_trace(self, callback: Callable[[str], None] | None) -> None:
        """Report every SQL statement the store runs, with its values bound,
        to ``callback`` (called from the database threads); None stops it.
        For debugging and for checking query plans."""
        conns = [c for c in [self._writer_conn, *self._reader_conns] if c is not None]
        for conn in conns:
            # Queued behind the calls already waiting on that connection.
            await conn.run(lambda c: c.set_trace_callback(callback))

    # -- plumbing ----------------------------------------------------------

    async def _reading(
        self, read: Callable[[_ReadSession], T], *, snapshot: bool = False
    ) -> T:
        """Run ``read`` as one call on a pooled reader's thread; with
        ``snapshot``, all its queries see one committed state.

        The reader goes back to the pool when its call has finished, not when
        the caller stops waiting: a cancelled caller leaves no connection busy
        or inside a transaction (the call ends its own transaction)."""
        readers = self._readers
        if readers is None:
            raise StoreUnavailable("metadata store is not open")
        conn = await readers.get()
        session = _ReadSession()
        try:
            future = conn.submit(
                functools.partial(
                    _run_read, read=read, session=session, snapshot=snapshot
                ),
                after=functools.partial(readers.put_nowait, conn),
            )
        except BaseException:
            readers.put_nowait(conn)
            raise
        try:
            return await future
        except sqlite3.Error as exc:
            raise_translated(exc)
        finally:
            self.rows_read += session.rows

    async def _read(self, sql: str, params: Sequence[Any]) -> list[Row]:
        """The rows of one query (a single statement is its own snapshot)."""
        return await self._reading(lambda reads: reads.fetch(sql, params))

    async def _point_read(self, sql: str, params: Sequence[Any]) -> list[Row]:
        """The rows of a query that seeks one row by a unique key, run on the
        event loop's thread.

        Such a query costs a few microseconds (an index seek in pages the
        connection caches, or one local file read): less than handing it to a
        reader thread, whose reply must wait for the loop to release the GIL
        (under load that hand-off cost a 4 KiB GET 0.19 ms of the 0.67 ms of
        CPU it took in all). It never waits for a lock: when the database is busy (a
        checkpoint, another process's recovery) the query goes to a reader
        thread, which may wait. Only for single-row lookups: anything that
        can return many rows or read large ranges stays off the loop."""
        conn = self._loop_conn
        if conn is None:
            raise StoreUnavailable("metadata store is not open")
        try:
            rows = _rows(conn, sql, params)
        except sqlite3.Error as exc:
            if not is_busy(exc):
                raise_translated(exc)
            self.point_reads_deferred += 1
            return await self._read(sql, params)
        self.rows_read += len(rows)
        return rows

    async def _write(
        self, job: Job[T], *, after_commit: Callable[[T], None] | None = None
    ) -> T:
        return await self.writer.submit(job, after_commit=after_commit)

    def _to_garbage(self, conn: sqlite3.Connection, manifests: Sequence[bytes]) -> None:
        """Send replaced data to garbage, due after the grace period."""
        due = time.time() + self.garbage_grace
        rows = [(m, due) for m in manifests if m]
        if rows:
            conn.executemany("INSERT INTO garbage (manifest, due) VALUES (?, ?)", rows)

    # -- users -------------------------------------------------------------

    async def add_user(self, user: User) -> None:
        """Add a user or another access key of a user (UserExists)."""

        def job(conn: sqlite3.Connection) -> None:
            rows = _rows(
                conn,
                "INSERT INTO users (name, access_key, secret, created) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING RETURNING access_key",
                (user.name, user.access_key, user.secret, user.created),
            )
            if not rows:
                raise UserExists(user.access_key)

        await self._write(job)

    async def user_by_access_key(self, access_key: str) -> User | None:
        """The user owning an access key."""
        rows = await self._point_read(
            f"SELECT {USER_COLUMNS} FROM users WHERE access_key = ?", (access_key,)
        )
        return user_of(rows[0]) if rows else None

    async def list_users(self) -> list[User]:
        """Every user access key, by user name then key."""
        rows = await self._read(
            f"SELECT {USER_COLUMNS} FROM users ORDER BY name, access_key", ()
        )
        return [user_of(r) for r in rows]

    async def remove_user(self, name: str) -> None:
        """Remove a user and all its keys (UserNotFound)."""

        def job(conn: sqlite3.Connection) -> None:
            rows = _rows(
                conn, "DELETE FROM users WHERE name = ? RETURNING access_key", (name,)
            )
            if not rows:
                raise UserNotFound(name)

        await self._write(job)

    async def remove_access_key(self, access_key: str) -> None:
        """Remove one access key (UserNotFound)."""

        def job(conn: sqlite3.Connection) -> None:
            rows = _rows(
                conn,
                "DELETE FROM users WHERE access_key = ? RETURNING access_key",
                (access_key,),
            )
            if not rows:
                raise UserNotFound(access_key)

        await self._write(job)

    # -- buckets -----------------------------------------------------------

    async def create_bucket(self, bucket: Bucket) -> None:
        """Create a bucket (BucketExists with the current owner)."""
        if bucket.versioning not in VERSIONING_STATES:
            raise ValueError(f"bad versioning state {bucket.versioning!r}")

        def job(conn: sqlite3.Connection) -> None:
            rows = _rows(
                conn, "SELECT owner FROM buckets WHERE name = ?", (bucket.name,)
            )
            if rows:
                raise BucketExists(rows[0][0])
            conn.execute(
                f"INSERT INTO buckets ({BUCKET_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                (
                    bucket.name,
                    bucket.owner,
                    bucket.created,
                    bucket.region,
                    bucket.versioning,
                ),
            )

        def remember(_: None) -> None:
            if self._bucket_cache is not None:
                self._bucket_cache[bucket.name] = bucket

        await self._write(job, after_commit=remember)

    async def get_bucket(self, name: str) -> Bucket | None:
        """A bucket by name."""
        if self._bucket_cache is not None:
            return self._bucket_cache.get(name)
        rows = await self._point_read(
            f"SELECT {BUCKET_COLUMNS} FROM buckets WHERE name = ?", (name,)
        )
        return bucket_of(rows[0]) if rows else None

    async def list_buckets(self, owner: str | None) -> list[Bucket]:
        """Buckets of ``owner`` (all when None), by name."""
        if owner is None:
            rows = await self._read(
                f"SELECT {BUCKET_COLUMNS} FROM buckets ORDER BY name", ()
            )
        else:
            rows = await self._read(
                f"SELECT {BUCKET_COLUMNS} FROM buckets WHERE owner = ? ORDER BY name",
                (owner,),
            )
        return [bucket_of(r) for r in rows]

    async def delete_bucket(self, name: str) -> None:
        """Delete an empty bucket (BucketNotEmpty, BucketNotFound); the check
        and the delete share the write transaction, so no write can slip in."""

        def job(conn: sqlite3.Connection) -> None:
            rows = _rows(
                conn,
                "SELECT EXISTS (SELECT 1 FROM versions WHERE bucket = ?),"
                " EXISTS (SELECT 1 FROM uploads WHERE bucket = ?),"
                " EXISTS (SELECT 1 FROM buckets WHERE name = ?)",
                (name, name, name),
            )
            has_versions, has_uploads, exists = rows[0]
            if not exists:
                raise BucketNotFound(name)
            if has_versions or has_uploads:
                raise BucketNotEmpty(name)
            conn.execute("DELETE FROM buckets WHERE name = ?", (name,))

        def forget(_: None) -> None:
            if self._bucket_cache is not None:
                self._bucket_cache.pop(name, None)

        await self._write(job, after_commit=forget)

    async def set_versioning(self, name: str, state: str) -> None:
        """Set a bucket's versioning state (BucketNotFound)."""
        if state not in VERSIONING_STATES:
            raise ValueError(f"bad versioning state {state!r}")

        def job(conn: sqlite3.Connection) -> None:
            rows = _rows(
                conn,
                "UPDATE buckets SET versioning = ? WHERE name = ? RETURNING name",
                (state, name),
            )
            if not rows:
                raise BucketNotFound(name)

        def remember(_: None) -> None:
            cache = self._bucket_cache
            if cache is not None and name in cache:
                cache[name] = dataclasses.replace(cache[name], versioning=state)

        await self._write(job, after_commit=remember)

    # -- objects -----------------------------------------------------------

    def _commit_version(
        self,
        conn: sqlite3.Connection,
        version: ObjectVersion,
        if_none_match_star: bool,
        if_match: str | None,
    ) -> None:
        """Make ``version`` the key's latest, inside the caller's transaction."""
        rows = _rows(
            conn,
            "SELECT b.versioning, v.etag, v.is_delete_marker FROM buckets AS b"
            " LEFT JOIN (SELECT etag, is_delete_marker FROM versions"
            "  WHERE bucket = ? AND key = ? ORDER BY seq DESC LIMIT 1) AS v"
            " WHERE b.name = ?",
            (version.bucket, version.key, version.bucket),
        )
        if not rows:
            raise BucketNotFound(version.bucket)
        versioning, current_etag, current_is_marker = rows[0]
        # A delete marker as current version means the object does not exist.
        exists = current_etag is not None and not current_is_marker
        if if_none_match_star and exists:
            raise ConditionFailed(f"{version.key} exists")
        if if_match is not None:
            if not exists:
                raise KeyNotFound(version.key)
            if if_match != "*" and not same_etag(if_match, current_etag):
                raise ConditionFailed(f"{version.key} has another ETag")
        null = versioning != "Enabled"
        if null:
            removed = _rows(
                conn,
                "DELETE FROM versions WHERE bucket = ? AND key = ? AND null_version = 1"
                " RETURNING manifest",
                (version.bucket, version.key),
            )
            self._to_garbage(conn, [r[0] for r in removed])
        conn.execute(
            "UPDATE versions SET is_latest = 0 WHERE bucket = ? AND key = ? AND is_latest = 1",
            (version.bucket, version.key),
        )
        conn.execute(
            "INSERT INTO versions (bucket, key, version_id, is_latest, size, etag,"
            " last_modified, owner, headers, user_metadata, checksum, part_sizes,"
            " storage_class, is_delete_marker, null_version, manifest)"
            " VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                version.bucket,
                version.key,
                version.version_id,
                version.size,
                version.etag,
                version.last_modified,
                version.owner,
                dump_map(version.headers),
                dump_map(version.user_metadata),
                dump_checksum(version.checksum),
                encode_json(list(version.part_sizes)) if version.part_sizes else None,
                version.storage_class,
                int(version.is_delete_marker),
                int(null),
                version.manifest,
            ),
        )

    async def put_object(
        self,
        version: ObjectVersion,
        *,
        if_none_match_star: bool = False,
        if_match: str | None = None,
        intent: str | None = None,
    ) -> None:
        """Commit ``version`` as the key's current version (see the Protocol)."""

        def job(conn: sqlite3.Connection) -> None:
            self._commit_version(conn, version, if_none_match_star, if_match)
            if intent is not None:
                conn.execute("DELETE FROM intents WHERE stream_id = ?", (intent,))

        await self._write(job)

    @staticmethod
    def _version_query(version_id: str | None) -> tuple[str, tuple[Any, ...]]:
        """WHERE clause (after bucket and key) picking one version of a key."""
        if version_id is None:
            return " ORDER BY seq DESC LIMIT 1", ()
        if version_id == "null":
            return (
                " AND (null_version = 1 OR version_id = 'null') ORDER BY seq DESC LIMIT 1",
                (),
            )
        return " AND version_id = ?", (version_id,)

    async def get_object(
        self, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectVersion | None:
        """The current version of a key (or the named version)."""
        tail, extra = self._version_query(version_id)
        rows = await self._point_read(
            f"SELECT {VERSION_COLUMNS} FROM versions WHERE bucket = ? AND key = ?{tail}",
            (bucket, key, *extra),
        )
        return version_of(rows[0]) if rows else None

    async def delete_object(
        self, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectVersion | None:
        """Remove the key's current (or named) version (see the Protocol)."""
        tail, extra = self._version_query(version_id)

        def job(conn: sqlite3.Connection) -> ObjectVersion | None:
            exists = _rows(conn, "SELECT 1 FROM buckets WHERE name = ?", (bucket,))
            if not exists:
                raise BucketNotFound(bucket)
            rows = _rows(
                conn,
                f"SELECT {VERSION_COLUMNS} FROM versions WHERE bucket = ? AND key = ?{tail}",
                (bucket, key, *extra),
            )
            if not rows:
                return None
            row = rows[0]
            conn.execute("DELETE FROM versions WHERE seq = ?", (row[V_SEQ],))
            self._to_garbage(conn, [row[V_MANIFEST]])
            if row[V_IS_LATEST]:
                conn.execute(
                    "UPDATE versions SET is_latest = 1 WHERE seq = (SELECT seq FROM versions"
                    " WHERE bucket = ? AND key = ? ORDER BY seq DESC LIMIT 1)",
                    (bucket, key),
                )
            return version_of(row)

        return await self._write(job)

    async def list_objects(
        self, bucket: str, prefix: str, delimiter: str, start_after: str, max_keys: int
    ) -> ObjectListing:
        """Current versions of keys > ``start_after`` under ``prefix``, with
        common-prefix groups skipped by seeking (see metadata.listing)."""
        walk: ListingWalk[Row] = ListingWalk(
            prefix=prefix,
            delimiter=delimiter,
            marker=start_after,
            max_entries=max_keys,
            key_of=lambda r: r[V_KEY],
        )

        def read(reads: _ReadSession) -> None:
            while (fetch := walk.next_fetch()) is not None:
                params: list[Any] = [bucket]
                sql = (
                    f"SELECT {_LISTING_COLUMNS} FROM versions WHERE bucket = ?"
                    + _range_clause(fetch, params)
                    + " AND is_latest = 1 AND is_delete_marker = 0 ORDER BY key LIMIT ?"
                )
                params.append(fetch.limit)
                walk.feed(reads.fetch(sql, params))

        if not walk.done:
            await self._reading(read, snapshot=True)
        return ObjectListing(
            objects=[version_of(r) for r in walk.entries],
            common_prefixes=walk.common_prefixes,
            is_truncated=walk.is_truncated,
            next_marker=walk.last_key if walk.is_truncated else None,
        )

    async def list_object_versions(
        self,
        bucket: str,
        prefix: str,
        delimiter: str,
        key_marker: str,
        version_id_marker: str,
        max_keys: int,
    ) -> VersionListing:
        """All versions after the markers, newest first within each key."""

        def read(reads: _ReadSession) -> ListingWalk[Row]:
            resume: int | None = None
            if key_marker and version_id_marker:
                tail, extra = self._version_query(version_id_marker)
                rows = reads.fetch(
                    f"SELECT seq FROM versions WHERE bucket = ? AND key = ?{tail}",
                    (bucket, key_marker, *extra),
                )
                resume = rows[0][0] if rows else None
            walk: ListingWalk[Row] = ListingWalk(
                prefix=prefix,
                delimiter=delimiter,
                marker=key_marker,
                max_entries=max_keys,
                key_of=lambda r: r[V_KEY],
                tiebreak_of=lambda r: r[V_SEQ],
                resume_after=resume,
            )
            while (fetch := walk.next_fetch()) is not None:
                params: list[Any] = [bucket]
                sql = f"SELECT {_LISTING_COLUMNS} FROM versions WHERE bucket = ?"
                sql += _range_clause(fetch, params)
                if fetch.start.after is not None:
                    # Versions of the start key no older than the marker were listed.
                    sql += " AND NOT (key = ? AND seq >= ?)"
                    params += [fetch.start.key, fetch.start.after]
                sql += " ORDER BY key, seq DESC LIMIT ?"
                params.append(fetch.limit)
                walk.feed(reads.fetch(sql, params))
            return walk

        walk = await self._reading(read, snapshot=True)
        last = walk.last_row
        return VersionListing(
            versions=[version_of(r) for r in walk.entries],
            common_prefixes=walk.common_prefixes,
            is_truncated=walk.is_truncated,
            next_key_marker=walk.last_key if walk.is_truncated else None,
            next_version_id_marker=(
                last[V_VERSION_ID] if walk.is_truncated and last is not None else None
            ),
        )

    # -- multipart ---------------------------------------------------------

    async def create_upload(self, upload: Upload) -> None:
        """Record a new multipart upload (BucketNotFound)."""

        def job(conn: sqlite3.Connection) -> None:
            exists = _rows(
                conn, "SELECT 1 FROM buckets WHERE name = ?", (upload.bucket,)
            )
            if not exists:
                raise BucketNotFound(upload.bucket)
            rows = _rows(
                conn,
                f"INSERT INTO uploads ({UPLOAD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING RETURNING upload_id",
                (
                    upload.upload_id,
                    upload.bucket,
                    upload.key,
                    upload.initiated,
                    upload.owner,
                    dump_map(upload.headers),
                    dump_map(upload.user_metadata),
                    upload.checksum_algorithm,
                    upload.checksum_type,
                    upload.storage_class,
                ),
            )
            if not rows:
                raise ValueError(f"upload id {upload.upload_id!r} is taken")

        await self._write(job)

    async def get_upload(self, upload_id: str) -> Upload | None:
        """An upload in progress."""
        rows = await self._point_read(
            f"SELECT {UPLOAD_COLUMNS} FROM uploads WHERE upload_id = ?", (upload_id,)
        )
        return upload_of(rows[0]) if rows else None

    async def put_part(self, part: Part, *, intent: str | None = None) -> None:
        """Record a part, replacing an earlier part of that number (UploadNotFound)."""

        def job(conn: sqlite3.Connection) -> None:
            exists = _rows(
                conn, "SELECT 1 FROM uploads WHERE upload_id = ?", (part.upload_id,)
            )
            if not exists:
                raise UploadNotFound(part.upload_id)
            replaced = _rows(
                conn,
                "DELETE FROM parts WHERE upload_id = ? AND part_number = ? RETURNING manifest",
                (part.upload_id, part.part_number),
            )
            self._to_garbage(conn, [r[0] for r in replaced])
            conn.execute(
                f"INSERT INTO parts ({PART_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    part.upload_id,
                    part.part_number,
                    part.size,
                    part.etag,
                    part.last_modified,
                    part.manifest,
                    dump_checksum(part.checksum),
                ),
            )
            if intent is not None:
                conn.execute("DELETE FROM intents WHERE stream_id = ?", (intent,))

        await self._write(job)

    async def list_parts(
        self, upload_id: str, part_number_marker: int, max_parts: int
    ) -> tuple[list[Part], bool]:
        """Parts after the marker by number, and whether more follow (UploadNotFound)."""
        # One statement, so the upload check and the parts share a snapshot;
        # the LEFT JOIN yields one all-NULL part row for an upload with none.
        rows = await self._read(
            f"SELECT {JOINED_PART_COLUMNS} FROM uploads AS u LEFT JOIN parts AS p"
            " ON p.upload_id = u.upload_id AND p.part_number > ?"
            " WHERE u.upload_id = ? ORDER BY p.part_number LIMIT ?",
            (part_number_marker, upload_id, max(0, max_parts) + 1),
        )
        if not rows:
            raise UploadNotFound(upload_id)
        parts = [part_of(r) for r in rows if r[0] is not None]
        if max_parts <= 0:
            return [], False
        return parts[:max_parts], len(parts) > max_parts

    async def get_parts(
        self, upload_id: str, part_numbers: Sequence[int]
    ) -> list[Part]:
        """The named parts that exist, by number."""
        rows = await self._read(
            f"SELECT {PART_COLUMNS} FROM parts WHERE upload_id = ?"
            " AND part_number IN (SELECT value FROM json_each(?)) ORDER BY part_number",
            (upload_id, encode_json(list(part_numbers))),
        )
        return [part_of(r) for r in rows]

    async def complete_upload(
        self,
        upload_id: str,
        version: ObjectVersion,
        part_numbers: Sequence[int],
        *,
        if_none_match_star: bool = False,
        if_match: str | None = None,
    ) -> None:
        """Turn an upload into ``version`` atomically (see the Protocol)."""
        kept = set(part_numbers)

        def job(conn: sqlite3.Connection) -> None:
            rows = _rows(
                conn,
                "SELECT bucket, key FROM uploads WHERE upload_id = ?",
                (upload_id,),
            )
            if not rows:
                raise UploadNotFound(upload_id)
            if tuple(rows[0]) != (version.bucket, version.key):
                raise ValueError(
                    "the version's bucket and key differ from the upload's"
                )
            self._commit_version(conn, version, if_none_match_star, if_match)
            parts = _rows(
                conn,
                "DELETE FROM parts WHERE upload_id = ? RETURNING part_number, manifest",
                (upload_id,),
            )
            self._to_garbage(conn, [m for n, m in parts if n not in kept])
            conn.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))

        await self._write(job)

    async def abort_upload(self, upload_id: str) -> None:
        """Delete an upload; its parts' manifests go to garbage (UploadNotFound)."""

        def job(conn: sqlite3.Connection) -> None:
            parts = _rows(
                conn,
                "DELETE FROM parts WHERE upload_id = ? RETURNING manifest",
                (upload_id,),
            )
            rows = _rows(
                conn,
                "DELETE FROM uploads WHERE upload_id = ? RETURNING upload_id",
                (upload_id,),
            )
            if not rows:
                raise UploadNotFound(upload_id)
            self._to_garbage(conn, [r[0] for r in parts])

        await self._write(job)

    async def list_uploads(
        self,
        bucket: str,
        prefix: str,
        delimiter: str,
        key_marker: str,
        upload_id_marker: str,
        max_uploads: int,
    ) -> UploadListing:
        """Uploads in progress by key, then initiation time (then id)."""

        def read(reads: _ReadSession) -> ListingWalk[Row]:
            resume: tuple[float, str] | None = None
            if key_marker and upload_id_marker:
                rows = reads.fetch(
                    "SELECT initiated, upload_id FROM uploads"
                    " WHERE upload_id = ? AND bucket = ? AND key = ?",
                    (upload_id_marker, bucket, key_marker),
                )
                resume = (rows[0][0], rows[0][1]) if rows else None
            walk: ListingWalk[Row] = ListingWalk(
                prefix=prefix,
                delimiter=delimiter,
                marker=key_marker,
                max_entries=max_uploads,
                key_of=lambda r: r[U_KEY],
                tiebreak_of=lambda r: (r[U_INITIATED], r[U_ID]),
                resume_after=resume,
            )
            while (fetch := walk.next_fetch()) is not None:
                params: list[Any] = [bucket]
                sql = f"SELECT {UPLOAD_COLUMNS} FROM uploads WHERE bucket = ?"
                sql += _range_clause(fetch, params)
                if fetch.start.after is not None:
                    initiated, after_id = cast(tuple[float, str], fetch.start.after)
                    sql += " AND NOT (key = ? AND (initiated, upload_id) <= (?, ?))"
                    params += [fetch.start.key, initiated, after_id]
                sql += " ORDER BY key, initiated, upload_id LIMIT ?"
                params.append(fetch.limit)
                walk.feed(reads.fetch(sql, params))
            return walk

        walk = await self._reading(read, snapshot=True)
        last = walk.last_row
        return UploadListing(
            uploads=[upload_of(r) for r in walk.entries],
            common_prefixes=walk.common_prefixes,
            is_truncated=walk.is_truncated,
            next_key_marker=walk.last_key if walk.is_truncated else None,
            next_upload_id_marker=(
                last[U_ID] if walk.is_truncated and last is not None else None
            ),
        )

    # -- garbage and intents -----------------------------------------------

    async def add_intent(self, intent: Intent) -> None:
        """Record a write about to put fragments on drives or nodes."""

        def job(conn: sqlite3.Connection) -> None:
            rows = _rows(
                conn,
                "INSERT INTO intents (stream_id, manifest, expires) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING RETURNING stream_id",
                (intent.stream_id, intent.manifest, intent.expires),
            )
            if not rows:
                raise ValueError(f"intent {intent.stream_id!r} is already recorded")

        await self._write(job)

    async def drop_intent(self, stream_id: str, *, to_garbage: bool) -> None:
        """Forget an intent; with ``to_garbage`` its manifest becomes garbage."""

        def job(conn: sqlite3.Connection) -> None:
            rows = _rows(
                conn,
                "DELETE FROM intents WHERE stream_id = ? RETURNING manifest",
                (stream_id,),
            )
            if to_garbage:
                self._to_garbage(conn, [r[0] for r in rows])

        await self._write(job)

    async def expired_intents(self, now: float, limit: int) -> list[Intent]:
        """Intents past their expiry: writes that died."""
        rows = await self._read(
            "SELECT stream_id, manifest, expires FROM intents WHERE expires < ?"
            " ORDER BY expires LIMIT ?",
            (now, limit),
        )
        return [Intent(stream_id=r[0], manifest=r[1], expires=r[2]) for r in rows]

    async def add_garbage(self, manifests: Sequence[bytes], due: float) -> None:
        """Record manifests whose fragments are to be deleted after ``due``."""
        rows = [(m, due) for m in manifests]
        if not rows:
            return

        def job(conn: sqlite3.Connection) -> None:
            conn.executemany("INSERT INTO garbage (manifest, due) VALUES (?, ?)", rows)

        await self._write(job)

    async def due_garbage(self, now: float, limit: int) -> list[Garbage]:
        """Garbage whose time has come, oldest first."""
        rows = await self._read(
            "SELECT id, manifest, due FROM garbage WHERE due <= ? ORDER BY due, id LIMIT ?",
            (now, limit),
        )
        return [Garbage(id=r[0], manifest=r[1], due=r[2]) for r in rows]

    async def remove_garbage(self, ids: Sequence[int]) -> None:
        """Forget garbage whose fragments were deleted."""
        if not ids:
            return
        encoded = encode_json(list(ids))

        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                "DELETE FROM garbage WHERE id IN (SELECT value FROM json_each(?))",
                (encoded,),
            )

        await self._write(job)
