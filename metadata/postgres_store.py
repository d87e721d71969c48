"""The Postgres backend of the metadata store (gateways sharing one database).

Several gateway processes run side by side on one database, each with its own
asyncpg pool. Every store call is one database transaction on one pooled
connection; asyncpg prepares and caches each statement per connection, so a
hot call costs its round trips and no parsing or planning.

Concurrency: writes run at READ COMMITTED and take explicit locks, always in
the same order, so concurrent writers queue instead of failing or retrying:

1. the object key, as a transaction-scoped advisory lock on a hash of
   (schema, bucket, key), taken together with BEGIN by every write that
   changes the key's versions (put, delete, complete). It exists even when
   the key has no row yet, which a row lock cannot cover (two
   ``If-None-Match: *`` puts of a new key);
2. the multipart upload's row (``FOR UPDATE`` to complete or abort it,
   ``FOR KEY SHARE`` to add a part, so parts of one upload go in parallel);
3. the bucket row: ``FOR KEY SHARE`` by writes that add rows to the bucket,
   ``FOR UPDATE`` by delete_bucket, which then checks emptiness.

At READ COMMITTED each statement reads the data committed when it starts, so
a write reads the key's current version only in a statement issued after it
holds the key's lock: it sees the previous writer's commit (Postgres releases
a transaction's locks only once its commit is visible). Reads of several
statements (listings) run in one REPEATABLE READ READ ONLY transaction, one
snapshot. This lock order admits no deadlock; should one (or a serialization
failure) happen anyway, the call is retried.

Connection failures (refused or lost connections, a server shutting down or
starting up, too many clients) become :class:`MetadataUnavailable`. A
connection that broke is discarded by the pool and the next call connects
again, so the store recovers by itself once the database answers. A write
whose connection broke before COMMIT was sent changed nothing; one that broke
during COMMIT may or may not have committed (all or nothing either way).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
from asyncpg import exceptions as pg

from metadata.errors import (
    BucketExists,
    BucketNotEmpty,
    BucketNotFound,
    ConditionFailed,
    KeyNotFound,
    MetadataUnavailable,
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
    V_KEY,
    V_SEQ,
    V_VERSION_ID,
    VERSION_COLUMNS,
    listing_columns,
    version_of,
)
from metadata.schema_postgres import apply_migrations, check_schema_name, quote_identifier

T = TypeVar("T")

_LISTING_COLUMNS = listing_columns("''::bytea")
Row = asyncpg.Record
Connection = asyncpg.Connection

VERSIONING_STATES = ("", "Enabled", "Suspended")

# Attempts of a write that hit a deadlock or serialization failure.
_WRITE_ATTEMPTS = 5
# Rounds of delete-then-insert when concurrent uploads of one part number
# keep inserting between our two statements.
_PART_ROUNDS = 20

# Errors that mean "the database cannot be reached right now".
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable; TimeoutError of a connect attempt
    pg.PostgresConnectionError,  # class 08, including a connection lost mid-call
    pg.OperatorInterventionError,  # class 57: shutting down, starting up, cancelled
    pg.InsufficientResourcesError,  # class 53: too many connections, disk full
    pg.ReadOnlySQLTransactionError,  # a standby or demoted server refusing writes
)
_RETRY = (pg.DeadlockDetectedError, pg.SerializationError)


def unavailable(exc: BaseException) -> MetadataUnavailable | None:
    """The MetadataUnavailable that ``exc`` amounts to, or None when it is
    not a connection failure."""
    if isinstance(exc, _UNAVAILABLE):
        return MetadataUnavailable(f"metadata database unavailable: {exc!r}")
    if isinstance(exc, pg.InterfaceError) and re.search(
        r"\bclos(ed|ing)\b|released back to the pool", str(exc)
    ):
        # "connection is closed", "pool is closing", or a connection the pool
        # took back when its link broke: the link is gone.
        return MetadataUnavailable(f"metadata database unavailable: {exc}")
    return None


def _range_clause(fetch: Fetch, params: list[Any]) -> str:
    """The key range of a walk's fetch, as SQL with its parameters appended."""
    params.append(fetch.start.key)
    sql = f" AND key {'>=' if fetch.start.inclusive else '>'} ${len(params)}"
    if fetch.end is not None:
        params.append(fetch.end)
        sql += f" AND key < ${len(params)}"
    return sql


def _group_seek_char(delimiter: str) -> str | None:
    """The character that replaces a common prefix's last one to seek past the
    group (:func:`metadata.listing.prefix_successor`: every group ends with the
    delimiter, so it is always the same), or None when the recursive walk does
    not apply: a delimiter ending in U+10FFFF carries, and a non-ASCII last
    character would depend on the database counting characters in UTF-8."""
    last = ord(delimiter[-1])
    return chr(last + 1) if last < 0x7F else None


def _walk_groups_sql(fetch: Fetch, params: list[Any], prefix: str, delimiter: str,
                     seek_char: str, visits: int) -> str:
    """One statement that makes up to ``visits`` steps of a delimiter walk
    from ``fetch``'s position, returning the first current version found at
    each step, in key order. A step from key K moves past K's common prefix
    when K has one (to ``prefix_successor`` of it), else to the keys after K:
    exactly what :meth:`ListingWalk.feed` does, so the rows can be handed to
    :meth:`ListingWalk.feed_first` one by one. Every step is one probe of
    the ``versions_current`` index."""
    first = f"key {'>=' if fetch.start.inclusive else '>'} ${len(params) + 1}"
    params.append(fetch.start.key)
    end = ""
    if fetch.end is not None:
        params.append(fetch.end)
        end = f" AND key < ${len(params)}"
    params.extend((prefix, delimiter, seek_char, visits))
    p_prefix, p_delim, p_seek, p_visits = (f"${len(params) - i}" for i in (3, 2, 1, 0))
    # pos: where the delimiter starts in the key after the prefix (0: none).
    # The seek bound for the next step: the group with its last character
    # replaced by the next one, or '' (no bound beyond key > K).
    return f"""
        WITH RECURSIVE walk (key, seq, step) AS (
            (SELECT key, seq, 1 FROM versions
              WHERE bucket = $1 AND {first}{end} AND is_latest AND NOT is_delete_marker
              ORDER BY key LIMIT 1)
            UNION ALL
            SELECT nxt.key, nxt.seq, w.step + 1 FROM walk w
            CROSS JOIN LATERAL (
                SELECT v.key, v.seq FROM versions v
                 WHERE v.bucket = $1 AND v.is_latest AND NOT v.is_delete_marker{end.replace("key", "v.key")}
                   AND v.key > w.key
                   AND v.key >= CASE
                       WHEN strpos(substr(w.key, char_length({p_prefix}::text) + 1), {p_delim}::text) > 0
                       THEN left(w.key, char_length({p_prefix}::text)
                                 + strpos(substr(w.key, char_length({p_prefix}::text) + 1), {p_delim}::text)
                                 + char_length({p_delim}::text) - 2) || {p_seek}::text
                       ELSE ''::text END COLLATE "C"
                 ORDER BY v.key LIMIT 1
            ) nxt
            WHERE w.step < {p_visits}::int
        )
        SELECT {_LISTING_COLUMNS} FROM versions
         WHERE seq IN (SELECT seq FROM walk) ORDER BY key"""


def _version_query(version_id: str | None, first: int) -> tuple[str, tuple[Any, ...]]:
    """The SQL (after a WHERE on bucket and key) that picks one version of a
    key; its parameters are numbered from ``first``."""
    if version_id is None:
        return " ORDER BY seq DESC LIMIT 1", ()
    if version_id == "null":
        return (
            " AND (null_version OR version_id = 'null') ORDER BY seq DESC LIMIT 1",
            (),
        )
    return f" AND version_id = ${first}", (version_id,)


# ---------------------------------------------------------------------------
# statements

# After the key's lock: the bucket's versioning and the key's newest version.
# FOR KEY SHARE keeps the bucket from being deleted until this write ends;
# set_versioning may still commit meanwhile, which orders it after this write.
_CURRENT_SQL = (
    "SELECT b.versioning, v.etag, v.is_delete_marker FROM buckets AS b"
    " LEFT JOIN (SELECT etag, is_delete_marker FROM versions"
    "  WHERE bucket = $1 AND key = $2 ORDER BY seq DESC LIMIT 1) AS v ON true"
    " WHERE b.name = $1 FOR KEY SHARE OF b"
)

# One statement commits a version: the replaced null version goes to garbage,
# the previous latest is demoted (the two touch different rows), the write's
# intent is forgotten. All parts read the snapshot taken after the key's lock.
_COMMIT_VERSION_SQL = """
WITH replaced AS (
    DELETE FROM versions
    WHERE $14::boolean AND bucket = $1 AND key = $2 AND null_version
    RETURNING manifest
), demoted AS (
    UPDATE versions SET is_latest = false
    WHERE bucket = $1 AND key = $2 AND is_latest AND NOT ($14::boolean AND null_version)
), trashed AS (
    INSERT INTO garbage (manifest, due)
    SELECT manifest, $16 FROM replaced WHERE octet_length(manifest) > 0
), intent_done AS (
    DELETE FROM intents WHERE stream_id = $17
)
INSERT INTO versions (bucket, key, version_id, is_latest, size, etag,
    last_modified, owner, headers, user_metadata, checksum, part_sizes,
    storage_class, is_delete_marker, null_version, manifest)
VALUES ($1, $2, $3, true, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
"""

# Removes one version (picked by the tail), sends its manifest to garbage and,
# when it was the latest, promotes the next newest; returns the removed row.
_DELETE_VERSION_SQL = """
WITH gone AS (
    DELETE FROM versions WHERE seq = (
        SELECT seq FROM versions WHERE bucket = $1 AND key = $2{tail})
    RETURNING {columns}
), trashed AS (
    INSERT INTO garbage (manifest, due)
    SELECT manifest, $3 FROM gone WHERE octet_length(manifest) > 0
), promoted AS (
    UPDATE versions SET is_latest = true
    WHERE EXISTS (SELECT 1 FROM gone WHERE is_latest)
    AND seq = (SELECT seq FROM versions WHERE bucket = $1 AND key = $2
               AND seq NOT IN (SELECT seq FROM gone) ORDER BY seq DESC LIMIT 1)
)
SELECT {columns} FROM gone
"""

# Ends a locked upload: its parts go, those not in $2 to garbage, then the upload.
_END_UPLOAD_SQL = """
WITH gone AS (
    DELETE FROM parts WHERE upload_id = $1 RETURNING part_number, manifest
), trashed AS (
    INSERT INTO garbage (manifest, due)
    SELECT manifest, $3 FROM gone
    WHERE part_number <> ALL ($2::integer[]) AND octet_length(manifest) > 0
    ORDER BY part_number
)
DELETE FROM uploads WHERE upload_id = $1
"""

_REPLACE_PART_SQL = """
WITH gone AS (
    DELETE FROM parts WHERE upload_id = $1 AND part_number = $2 RETURNING manifest
)
INSERT INTO garbage (manifest, due)
SELECT manifest, $3 FROM gone WHERE octet_length(manifest) > 0
"""

_INSERT_PART_SQL = f"""
WITH intent_done AS (
    DELETE FROM intents WHERE stream_id = $8
)
INSERT INTO parts ({PART_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (upload_id, part_number) DO NOTHING RETURNING true
"""

_ADD_GARBAGE_SQL = (
    "INSERT INTO garbage (manifest, due)"
    " SELECT m, $2 FROM unnest($1::bytea[]) WITH ORDINALITY AS g (m, n) ORDER BY n"
)

_DROP_INTENT_SQL = """
WITH gone AS (
    DELETE FROM intents WHERE stream_id = $1 RETURNING manifest
)
INSERT INTO garbage (manifest, due)
SELECT manifest, $2 FROM gone WHERE $3::boolean AND octet_length(manifest) > 0
"""


# ---------------------------------------------------------------------------
# plumbing


class _Reads:
    """The queries of one read call on one connection; counts the rows it
    fetches (the store adds them up when the call ends)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.rows = 0
        self.statements = 0

    async def fetch(self, sql: str, *params: Any) -> list[Row]:
        """Run one query and return all its rows."""
        rows: list[Row] = await self.conn.fetch(sql, *params)
        self.rows += len(rows)
        self.statements += 1
        return rows


async def _keep_session(conn: Connection) -> None:
    """Pool reset hook: nothing to undo. The store sets no session state and
    takes only transaction-scoped locks, so a released connection needs no
    reset query (asyncpg still rolls back a transaction left open); this
    saves a round trip per call."""


@asynccontextmanager
async def _transaction(conn: Connection, lock_id: int | None) -> AsyncIterator[None]:
    """A READ COMMITTED transaction; with ``lock_id``, one that first takes
    that advisory lock. BEGIN and the lock go in one message (the simple
    query protocol allows several statements; the id is an integer we made),
    which saves a round trip on every object write."""
    begin = "BEGIN ISOLATION LEVEL READ COMMITTED"
    if lock_id is not None:
        begin += f"; SELECT pg_advisory_xact_lock({int(lock_id)})"
    try:
        await conn.execute(begin)
        yield
    except BaseException:
        # A broken link has ended the transaction already; the pool rolls
        # back whatever this could not.
        with contextlib.suppress(Exception):
            if conn.is_in_transaction():
                await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")


def _sql_literal(value: Any) -> str:
    """``value`` as an SQL literal (for traces of statements)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"'\\x{bytes(value).hex()}'::bytea"
    if isinstance(value, (list, tuple)):
        if not value:
            return "'{}'"
        return "ARRAY[" + ", ".join(_sql_literal(v) for v in value) + "]"
    return "'" + str(value).replace("'", "''") + "'"


def _bind(query: str, args: Sequence[Any]) -> str:
    """``query`` with its ``$n`` parameters replaced by literals of ``args``."""
    return re.sub(r"\$(\d+)", lambda m: _sql_literal(args[int(m.group(1)) - 1]), query)


class PostgresStore:
    """The metadata store on Postgres (see the MetadataStore Protocol).

    ``dsn``: a libpq connection URI or keyword string. ``garbage_grace``:
    seconds between replacing data and its fragments becoming due for
    deletion. ``min_pool`` / ``max_pool``: bounds of the connection pool.
    ``schema``: a Postgres schema to keep the tables in (created when
    missing; the database's default search_path when None), so that several
    clusters or tests can share one database. ``connect_timeout``: seconds a
    connection attempt may take before the call fails with
    MetadataUnavailable. ``application_name`` is what the database reports
    for the store's connections. ``rows_read`` counts rows fetched for reads.
    """

    def __init__(
        self,
        dsn: str,
        *,
        garbage_grace: float = 60.0,
        min_pool: int = 1,
        max_pool: int = 10,
        schema: str | None = None,
        connect_timeout: float = 10.0,
        application_name: str = "objectd",
    ) -> None:
        """Configure the store; :meth:`open` connects."""
        if min_pool < 0 or max_pool < 1 or min_pool > max_pool:
            raise ValueError(f"bad pool bounds {min_pool}..{max_pool}")
        self.dsn = dsn
        self.schema = None if schema is None else check_schema_name(schema)
        self.garbage_grace = garbage_grace
        self.min_pool = min_pool
        self.max_pool = max_pool
        self.connect_timeout = connect_timeout
        self.application_name = application_name
        self.rows_read = 0
        self.read_statements = 0
        self._pool: asyncpg.Pool | None = None
        self._trace: Callable[[Any], None] | None = None
        self._writes: set[asyncio.Future[Any]] = set()
        self._lock_namespace = (self.schema or "").encode()

    # -- lifecycle ---------------------------------------------------------

    async def open(self) -> None:
        """Create the pool and apply schema migrations (idempotent, safe when
        several processes open at once). MetadataUnavailable when the
        database cannot be reached."""
        if self._pool is not None:
            return
        settings = {"application_name": self.application_name, "jit": "off"}
        if self.schema is not None:
            settings["search_path"] = quote_identifier(self.schema)
        pool: asyncpg.Pool | None = None
        try:
            pool = await asyncpg.create_pool(
                self.dsn,
                min_size=self.min_pool,
                max_size=self.max_pool,
                timeout=self.connect_timeout,
                server_settings=settings,
                reset=_keep_session,
            )
            async with pool.acquire() as conn:
                await apply_migrations(conn, self.schema)
        except BaseException as exc:
            if pool is not None:
                pool.terminate()
            translated = unavailable(exc)
            if translated is None:
                raise
            raise translated from exc
        self._pool = pool

    async def close(self) -> None:
        """Wait for calls in progress, then close every connection (idempotent)."""
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await pool.close()
            except Exception:  # noqa: BLE001 - a broken link needs no goodbye
                pool.terminate()

    async def settings(self) -> dict[str, Any]:
        """The effective connection settings, for diagnostics: server
        version, default isolation level, search path, current schema, the
        applied schema version and the pool's bounds and size."""

        async def read(reads: _Reads) -> dict[str, Any]:
            rows = await reads.fetch(
                "SELECT current_setting('server_version'),"
                " current_setting('default_transaction_isolation'),"
                " current_setting('search_path'), current_schema(),"
                " (SELECT max(version) FROM schema_version),"
                " current_setting('application_name')"
            )
            r = rows[0]
            return {
                "server_version": r[0],
                "default_transaction_isolation": r[1],
                "search_path": r[2],
                "schema": r[3],
                "schema_version": r[4],
                "application_name": r[5],
            }

        out = await self._reading(read)
        pool = self._pool
        out["pool"] = {
            "min": self.min_pool,
            "max": self.max_pool,
            "size": pool.get_size() if pool is not None else 0,
        }
        return out

    async def set_trace(self, callback: Callable[[str], None] | None) -> None:
        """Report every SQL statement the store runs from now on, with its
        values bound as literals, to ``callback``; None stops it. For
        debugging and for checking query plans."""
        if callback is None:
            self._trace = None
        else:
            self._trace = lambda record: callback(_bind(record.query, record.args or ()))
        # Statement reports are delivered by the event loop; let those of
        # calls already finished arrive first.
        await asyncio.sleep(0)

    # -- plumbing ----------------------------------------------------------

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        """A pooled connection for one call; connection failures, however
        they surface, leave as MetadataUnavailable. A broken connection is
        closed and the pool opens a new one for a later call."""
        pool = self._pool
        if pool is None:
            raise MetadataUnavailable("metadata store is not open")
        try:
            async with pool.acquire() as conn:
                trace = self._trace
                if trace is not None:
                    conn.add_query_logger(trace)
                try:
                    yield conn
                except BaseException as exc:
                    if unavailable(exc) is not None:
                        # Never hand this connection out again. When the link
                        # is already gone, the pool has taken it back.
                        with contextlib.suppress(pg.InterfaceError):
                            conn.terminate()
                    raise
                finally:
                    if trace is not None:
                        with contextlib.suppress(pg.InterfaceError):
                            conn.remove_query_logger(trace)
        except (pg.CharacterNotInRepertoireError, pg.UntranslatableCharacterError) as exc:
            # Postgres text cannot hold U+0000 (SQLite can).
            raise ValueError(f"text Postgres cannot store (a NUL character?): {exc}") from exc
        except Exception as exc:
            translated = unavailable(exc)
            if translated is None:
                raise
            raise translated from exc

    async def _reading(
        self, read: Callable[[_Reads], Awaitable[T]], *, snapshot: bool = False
    ) -> T:
        """Run ``read`` on a pooled connection; with ``snapshot``, all its
        queries see one committed state."""
        async with self._connection() as conn:
            reads = _Reads(conn)
            try:
                if not snapshot:
                    return await read(reads)
                async with conn.transaction(isolation="repeatable_read", readonly=True):
                    return await read(reads)
            finally:
                self.rows_read += reads.rows
                self.read_statements += reads.statements

    async def _read(self, sql: str, *params: Any) -> list[Row]:
        """The rows of one query (a single statement is its own snapshot)."""

        async def read(reads: _Reads) -> list[Row]:
            return await reads.fetch(sql, *params)

        return await self._reading(read)

    async def _write(
        self,
        job: Callable[[Connection], Awaitable[T]],
        *,
        transaction: bool = True,
        key: tuple[str, str] | None = None,
    ) -> T:
        """Run ``job`` in a READ COMMITTED transaction (or, for a single
        statement, without one), retrying on deadlock or serialization
        failure. ``key`` (bucket, key): the transaction first takes that
        object key's lock, so writers of one key run one after the other.

        A write runs to its end even when its caller is cancelled: it
        commits or rolls back whole, and never leaves a connection mid-
        transaction or the server a query to cancel. :meth:`close` waits
        for such writes."""
        task = asyncio.ensure_future(self._write_now(job, transaction, key))
        self._writes.add(task)
        task.add_done_callback(self._write_done)
        return await asyncio.shield(task)

    def _write_done(self, task: asyncio.Future[Any]) -> None:
        self._writes.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved here too: its caller may have left

    async def _write_now(
        self,
        job: Callable[[Connection], Awaitable[T]],
        transaction: bool,
        key: tuple[str, str] | None,
    ) -> T:
        lock_id = None if key is None else self._key_lock_id(*key)
        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            try:
                async with self._connection() as conn:
                    if not transaction:
                        return await job(conn)
                    async with _transaction(conn, lock_id):
                        return await job(conn)
            except _RETRY as exc:
                if attempt == _WRITE_ATTEMPTS:
                    raise MetadataUnavailable(
                        f"metadata write kept conflicting: {exc!r}"
                    ) from exc
                await asyncio.sleep(random.uniform(0, 0.01 * attempt))
        raise AssertionError("unreachable")

    async def _execute(self, sql: str, *params: Any) -> None:
        """One write statement, in its own transaction."""

        async def job(conn: Connection) -> None:
            await conn.execute(sql, *params)

        await self._write(job, transaction=False)

    async def _fetch_written(self, sql: str, *params: Any) -> list[Row]:
        """One write statement with RETURNING, in its own transaction."""

        async def job(conn: Connection) -> list[Row]:
            rows: list[Row] = await conn.fetch(sql, *params)
            return rows

        return await self._write(job, transaction=False)

    def _due(self) -> float:
        return time.time() + self.garbage_grace

    def _key_lock_id(self, bucket: str, key: str) -> int:
        """The advisory lock id of an object key (a signed 64-bit hash)."""
        digest = hashlib.blake2b(
            b"\0".join(
                (self._lock_namespace, bucket.encode(), key.encode("utf-8", "surrogatepass"))
            ),
            digest_size=8,
        ).digest()
        return int.from_bytes(digest, "big", signed=True)


    # -- users -------------------------------------------------------------

    async def add_user(self, user: User) -> None:
        """Add a user or another access key of a user (UserExists)."""
        rows = await self._fetch_written(
            f"INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT DO NOTHING RETURNING access_key",
            user.name,
            user.access_key,
            user.secret,
            user.created,
        )
        if not rows:
            raise UserExists(user.access_key)

    async def user_by_access_key(self, access_key: str) -> User | None:
        """The user owning an access key."""
        rows = await self._read(
            f"SELECT {USER_COLUMNS} FROM users WHERE access_key = $1", access_key
        )
        return user_of(rows[0]) if rows else None

    async def list_users(self) -> list[User]:
        """Every user access key, by user name then key."""
        rows = await self._read(f"SELECT {USER_COLUMNS} FROM users ORDER BY name, access_key")
        return [user_of(r) for r in rows]

    async def remove_user(self, name: str) -> None:
        """Remove a user and all its keys (UserNotFound)."""
        rows = await self._fetch_written(
            "DELETE FROM users WHERE name = $1 RETURNING access_key", name
        )
        if not rows:
            raise UserNotFound(name)

    async def remove_access_key(self, access_key: str) -> None:
        """Remove one access key (UserNotFound)."""
        rows = await self._fetch_written(
            "DELETE FROM users WHERE access_key = $1 RETURNING access_key", access_key
        )
        if not rows:
            raise UserNotFound(access_key)

    # -- buckets -----------------------------------------------------------

    async def create_bucket(self, bucket: Bucket) -> None:
        """Create a bucket (BucketExists with the current owner)."""
        if bucket.versioning not in VERSIONING_STATES:
            raise ValueError(f"bad versioning state {bucket.versioning!r}")

        async def job(conn: Connection) -> None:
            while True:
                created = await conn.fetchval(
                    f"INSERT INTO buckets ({BUCKET_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
                    " ON CONFLICT DO NOTHING RETURNING true",
                    bucket.name,
                    bucket.owner,
                    bucket.created,
                    bucket.region,
                    bucket.versioning,
                )
                if created:
                    return
                owner = await conn.fetchval(
                    "SELECT owner FROM buckets WHERE name = $1", bucket.name
                )
                if owner is not None:
                    raise BucketExists(owner)
                # The other bucket was deleted in between: try again.

        await self._write(job, transaction=False)

    async def get_bucket(self, name: str) -> Bucket | None:
        """A bucket by name."""
        rows = await self._read(f"SELECT {BUCKET_COLUMNS} FROM buckets WHERE name = $1", name)
        return bucket_of(rows[0]) if rows else None

    async def list_buckets(self, owner: str | None) -> list[Bucket]:
        """Buckets of ``owner`` (all when None), by name."""
        if owner is None:
            rows = await self._read(f"SELECT {BUCKET_COLUMNS} FROM buckets ORDER BY name")
        else:
            rows = await self._read(
                f"SELECT {BUCKET_COLUMNS} FROM buckets WHERE owner = $1 ORDER BY name", owner
            )
        return [bucket_of(r) for r in rows]

    async def delete_bucket(self, name: str) -> None:
        """Delete an empty bucket (BucketNotEmpty, BucketNotFound). The bucket
        row is locked first, so no write into it can start until this ends,
        and the emptiness check then sees every write that did."""

        async def job(conn: Connection) -> None:
            locked = await conn.fetchval(
                "SELECT true FROM buckets WHERE name = $1 FOR UPDATE", name
            )
            if not locked:
                raise BucketNotFound(name)
            row = await conn.fetchrow(
                "SELECT EXISTS (SELECT 1 FROM versions WHERE bucket = $1),"
                " EXISTS (SELECT 1 FROM uploads WHERE bucket = $1)",
                name,
            )
            if row[0] or row[1]:
                raise BucketNotEmpty(name)
            await conn.execute("DELETE FROM buckets WHERE name = $1", name)

        await self._write(job)

    async def set_versioning(self, name: str, state: str) -> None:
        """Set a bucket's versioning state (BucketNotFound)."""
        if state not in VERSIONING_STATES:
            raise ValueError(f"bad versioning state {state!r}")
        rows = await self._fetch_written(
            "UPDATE buckets SET versioning = $1 WHERE name = $2 RETURNING name", state, name
        )
        if not rows:
            raise BucketNotFound(name)

    # -- objects -----------------------------------------------------------

    async def _commit_version(
        self,
        conn: Connection,
        version: ObjectVersion,
        if_none_match_star: bool,
        if_match: str | None,
        intent: str | None,
    ) -> None:
        """Make ``version`` the key's latest, inside the caller's transaction,
        which holds the key's lock."""
        row = await conn.fetchrow(_CURRENT_SQL, version.bucket, version.key)
        if row is None:
            raise BucketNotFound(version.bucket)
        versioning, current_etag, current_is_marker = row
        # A delete marker as current version means the object does not exist.
        exists = current_etag is not None and not current_is_marker
        if if_none_match_star and exists:
            raise ConditionFailed(f"{version.key} exists")
        if if_match is not None:
            if not exists:
                raise KeyNotFound(version.key)
            if if_match != "*" and not same_etag(if_match, current_etag):
                raise ConditionFailed(f"{version.key} has another ETag")
        await conn.execute(
            _COMMIT_VERSION_SQL,
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
            version.is_delete_marker,
            versioning != "Enabled",
            version.manifest,
            self._due(),
            intent,
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

        async def job(conn: Connection) -> None:
            await self._commit_version(conn, version, if_none_match_star, if_match, intent)

        await self._write(job, key=(version.bucket, version.key))

    async def get_object(
        self, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectVersion | None:
        """The current version of a key (or the named version)."""
        tail, extra = _version_query(version_id, 3)
        rows = await self._read(
            f"SELECT {VERSION_COLUMNS} FROM versions WHERE bucket = $1 AND key = $2{tail}",
            bucket,
            key,
            *extra,
        )
        return version_of(rows[0]) if rows else None

    async def delete_object(
        self, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectVersion | None:
        """Remove the key's current (or named) version (see the Protocol)."""
        tail, extra = _version_query(version_id, 4)
        sql = _DELETE_VERSION_SQL.format(tail=tail, columns=VERSION_COLUMNS)

        async def job(conn: Connection) -> ObjectVersion | None:
            row = await conn.fetchrow(sql, bucket, key, self._due(), *extra)
            if row is not None:
                return version_of(row)
            if not await conn.fetchval("SELECT true FROM buckets WHERE name = $1", bucket):
                raise BucketNotFound(bucket)
            return None

        return await self._write(job, key=(bucket, key))

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

        # A delimiter listing seeks once per common prefix; one recursive
        # statement runs a page's seeks inside the database instead of one
        # round trip each (a page of 1,000 groups: 1,000 round trips).
        seek_past = _group_seek_char(delimiter) if delimiter else None

        async def read(reads: _Reads) -> None:
            while (fetch := walk.next_fetch()) is not None:
                params: list[Any] = [bucket]
                if seek_past is not None:
                    # One step per entry, one to see past the page, and one
                    # for the group a marker ends inside (listed already).
                    visits = max_keys + 2 - len(walk.entries) - len(walk.common_prefixes)
                    sql = _walk_groups_sql(fetch, params, prefix, delimiter, seek_past, visits)
                    rows = await reads.fetch(sql, *params)
                    for row in rows:
                        walk.feed_first(row)
                        if walk.done:
                            break
                    if len(rows) < visits and not walk.done:
                        walk.feed_first(None)  # the range holds no more keys
                    continue
                sql = (
                    f"SELECT {_LISTING_COLUMNS} FROM versions WHERE bucket = $1"
                    + _range_clause(fetch, params)
                    + " AND is_latest AND NOT is_delete_marker"
                    + f" ORDER BY key LIMIT ${len(params) + 1}"
                )
                params.append(fetch.limit)
                walk.feed(await reads.fetch(sql, *params))

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

        async def read(reads: _Reads) -> ListingWalk[Row]:
            resume: int | None = None
            if key_marker and version_id_marker:
                tail, extra = _version_query(version_id_marker, 3)
                rows = await reads.fetch(
                    f"SELECT seq FROM versions WHERE bucket = $1 AND key = $2{tail}",
                    bucket,
                    key_marker,
                    *extra,
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
                sql = f"SELECT {_LISTING_COLUMNS} FROM versions WHERE bucket = $1"
                sql += _range_clause(fetch, params)
                if fetch.start.after is not None:
                    # Versions of the start key no older than the marker were listed.
                    params += [fetch.start.key, fetch.start.after]
                    sql += f" AND NOT (key = ${len(params) - 1} AND seq >= ${len(params)})"
                params.append(fetch.limit)
                sql += f" ORDER BY key, seq DESC LIMIT ${len(params)}"
                walk.feed(await reads.fetch(sql, *params))
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
        """Record a new multipart upload (BucketNotFound; ValueError if the
        upload id is taken)."""

        async def job(conn: Connection) -> None:
            if not await conn.fetchval(
                "SELECT true FROM buckets WHERE name = $1 FOR KEY SHARE", upload.bucket
            ):
                raise BucketNotFound(upload.bucket)
            created = await conn.fetchval(
                f"INSERT INTO uploads ({UPLOAD_COLUMNS})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                " ON CONFLICT DO NOTHING RETURNING true",
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
            )
            if not created:
                raise ValueError(f"upload id {upload.upload_id!r} is taken")

        await self._write(job)

    async def get_upload(self, upload_id: str) -> Upload | None:
        """An upload in progress."""
        rows = await self._read(
            f"SELECT {UPLOAD_COLUMNS} FROM uploads WHERE upload_id = $1", upload_id
        )
        return upload_of(rows[0]) if rows else None

    async def put_part(self, part: Part, *, intent: str | None = None) -> None:
        """Record a part, replacing an earlier part of that number (UploadNotFound).

        The upload row is share-locked, so parts of one upload are written
        concurrently while completing or aborting it waits for them. Two
        uploads of one part number: the later commit wins, and the part it
        replaced goes to garbage."""

        async def job(conn: Connection) -> None:
            if not await conn.fetchval(
                "SELECT true FROM uploads WHERE upload_id = $1 FOR KEY SHARE", part.upload_id
            ):
                raise UploadNotFound(part.upload_id)
            due = self._due()
            for _ in range(_PART_ROUNDS):
                await conn.execute(_REPLACE_PART_SQL, part.upload_id, part.part_number, due)
                # A concurrent upload of this number may have committed since
                # the delete's snapshot: then nothing is inserted, and the
                # next round sends that part to garbage.
                if await conn.fetchval(
                    _INSERT_PART_SQL,
                    part.upload_id,
                    part.part_number,
                    part.size,
                    part.etag,
                    part.last_modified,
                    part.manifest,
                    dump_checksum(part.checksum),
                    intent,
                ):
                    return
            raise pg.SerializationError("part number kept being replaced concurrently")

        await self._write(job)

    async def list_parts(
        self, upload_id: str, part_number_marker: int, max_parts: int
    ) -> tuple[list[Part], bool]:
        """Parts after the marker by number, and whether more follow (UploadNotFound)."""
        # One statement, so the upload check and the parts share a snapshot;
        # the LEFT JOIN yields one all-NULL part row for an upload with none.
        rows = await self._read(
            f"SELECT {JOINED_PART_COLUMNS} FROM uploads AS u LEFT JOIN parts AS p"
            " ON p.upload_id = u.upload_id AND p.part_number > $1"
            " WHERE u.upload_id = $2 ORDER BY p.part_number LIMIT $3",
            part_number_marker,
            upload_id,
            max(0, max_parts) + 1,
        )
        if not rows:
            raise UploadNotFound(upload_id)
        parts = [part_of(r) for r in rows if r[0] is not None]
        if max_parts <= 0:
            return [], False
        return parts[:max_parts], len(parts) > max_parts

    async def get_parts(self, upload_id: str, part_numbers: Sequence[int]) -> list[Part]:
        """The named parts that exist, by number."""
        rows = await self._read(
            f"SELECT {PART_COLUMNS} FROM parts WHERE upload_id = $1"
            " AND part_number = ANY ($2::integer[]) ORDER BY part_number",
            upload_id,
            list(part_numbers),
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
        """Turn an upload into ``version`` atomically (see the Protocol). The
        upload row is locked first: a racing complete or abort of the same
        upload waits, then finds it gone."""
        kept = sorted(set(part_numbers))

        async def job(conn: Connection) -> None:
            row = await conn.fetchrow(
                "SELECT bucket, key FROM uploads WHERE upload_id = $1 FOR UPDATE", upload_id
            )
            if row is None:
                raise UploadNotFound(upload_id)
            if (row[0], row[1]) != (version.bucket, version.key):
                raise ValueError("the version's bucket and key differ from the upload's")
            await self._commit_version(conn, version, if_none_match_star, if_match, None)
            await conn.execute(_END_UPLOAD_SQL, upload_id, kept, self._due())

        await self._write(job, key=(version.bucket, version.key))

    async def abort_upload(self, upload_id: str) -> None:
        """Delete an upload; its parts' manifests go to garbage (UploadNotFound)."""

        async def job(conn: Connection) -> None:
            if not await conn.fetchval(
                "SELECT true FROM uploads WHERE upload_id = $1 FOR UPDATE", upload_id
            ):
                raise UploadNotFound(upload_id)
            await conn.execute(_END_UPLOAD_SQL, upload_id, [], self._due())

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

        async def read(reads: _Reads) -> ListingWalk[Row]:
            resume: tuple[float, str] | None = None
            if key_marker and upload_id_marker:
                rows = await reads.fetch(
                    "SELECT initiated, upload_id FROM uploads"
                    " WHERE upload_id = $1 AND bucket = $2 AND key = $3",
                    upload_id_marker,
                    bucket,
                    key_marker,
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
                sql = f"SELECT {UPLOAD_COLUMNS} FROM uploads WHERE bucket = $1"
                sql += _range_clause(fetch, params)
                if fetch.start.after is not None:
                    initiated, after_id = fetch.start.after  # type: ignore[misc]
                    params += [fetch.start.key, initiated, after_id]
                    n = len(params)
                    sql += (
                        f" AND NOT (key = ${n - 2}"
                        f" AND (initiated, upload_id) <= (${n - 1}, ${n}))"
                    )
                params.append(fetch.limit)
                sql += f" ORDER BY key, initiated, upload_id LIMIT ${len(params)}"
                walk.feed(await reads.fetch(sql, *params))
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
        rows = await self._fetch_written(
            "INSERT INTO intents (stream_id, manifest, expires) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING RETURNING stream_id",
            intent.stream_id,
            intent.manifest,
            intent.expires,
        )
        if not rows:
            raise ValueError(f"intent {intent.stream_id!r} is already recorded")

    async def drop_intent(self, stream_id: str, *, to_garbage: bool) -> None:
        """Forget an intent; with ``to_garbage`` its manifest becomes garbage."""
        await self._execute(_DROP_INTENT_SQL, stream_id, self._due(), to_garbage)

    async def expired_intents(self, now: float, limit: int) -> list[Intent]:
        """Intents past their expiry: writes that died."""
        rows = await self._read(
            "SELECT stream_id, manifest, expires FROM intents WHERE expires < $1"
            " ORDER BY expires LIMIT $2",
            now,
            limit,
        )
        return [Intent(stream_id=r[0], manifest=r[1], expires=r[2]) for r in rows]

    async def add_garbage(self, manifests: Sequence[bytes], due: float) -> None:
        """Record manifests whose fragments are to be deleted after ``due``."""
        if not manifests:
            return
        await self._execute(_ADD_GARBAGE_SQL, list(manifests), due)

    async def due_garbage(self, now: float, limit: int) -> list[Garbage]:
        """Garbage whose time has come, oldest first."""
        rows = await self._read(
            "SELECT id, manifest, due FROM garbage WHERE due <= $1 ORDER BY due, id LIMIT $2",
            now,
            limit,
        )
        return [Garbage(id=r[0], manifest=r[1], due=r[2]) for r in rows]

    async def remove_garbage(self, ids: Sequence[int]) -> None:
        """Forget garbage whose fragments were deleted."""
        if not ids:
            return
        await self._execute("DELETE FROM garbage WHERE id = ANY ($1::bigint[])", list(ids))
