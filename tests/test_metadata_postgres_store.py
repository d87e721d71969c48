"""Postgres specifics of metadata/postgres_store.py and metadata/schema_postgres.py:
migrations, byte order, query plans, races between gateway processes (two
stores, two pools, one schema) and connection loss. The behaviour shared with
SQLite is in test_metadata_contract.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from metadata.errors import (
    BucketNotEmpty,
    BucketNotFound,
    ConditionFailed,
    MetadataUnavailable,
    SchemaTooNew,
    StoreUnavailable,
    UploadNotFound,
)
from metadata.model import Bucket, ObjectVersion, Part, Upload
from metadata.postgres_store import PostgresStore
from metadata.schema_postgres import MIGRATIONS, Migration, apply_migrations, migrate
from tests.postgres_dsn import fresh_schema
from tests.tcp_proxy import TcpProxy

WAIT = 20.0  # bound on any wait for the database; a hang fails the test
FAR_FUTURE = 1e12

_counter = 0


def obj(key: str, bucket: str = "b", **kw: Any) -> ObjectVersion:
    """A version with a unique id, etag and manifest."""
    global _counter
    _counter += 1
    return ObjectVersion(
        bucket=bucket,
        key=key,
        version_id=kw.pop("version_id", f"v{_counter:06}"),
        size=1,
        etag=kw.pop("etag", f"etag-{_counter}"),
        last_modified=float(_counter),
        manifest=kw.pop("manifest", f"m-{_counter}".encode()),
        **kw,
    )


def part(upload_id: str, number: int, manifest: bytes) -> Part:
    return Part(upload_id, number, 5, f"e{number}", 1.0, manifest)


async def outcome(awaitable: Awaitable[Any]) -> Any:
    """The awaitable's result, or the exception it raised."""
    try:
        return await awaitable
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        return exc


@pytest.fixture
async def pg() -> AsyncIterator[tuple[str, str]]:
    """(dsn, schema) of a fresh schema, dropped after the test."""
    async with fresh_schema("objectd_pgstore") as where:
        yield where


@asynccontextmanager
async def opened(store: PostgresStore) -> AsyncIterator[PostgresStore]:
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def store(pg: tuple[str, str]) -> AsyncIterator[PostgresStore]:
    dsn, schema = pg
    async with opened(PostgresStore(dsn, schema=schema)) as s:
        yield s


@pytest.fixture
async def two_stores(pg: tuple[str, str]) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two stores on one schema, each with its own pool: two gateway processes."""
    dsn, schema = pg
    async with opened(PostgresStore(dsn, schema=schema, max_pool=4)) as one:
        async with opened(PostgresStore(dsn, schema=schema, max_pool=4)) as two:
            yield one, two


@asynccontextmanager
async def direct(pg: tuple[str, str]) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection to the test schema, to look at the tables."""
    dsn, schema = pg
    conn = await asyncpg.connect(dsn, server_settings={"search_path": f'"{schema}"'})
    try:
        yield conn
    finally:
        await conn.close()


async def garbage(conn: asyncpg.Connection) -> list[bytes]:
    return [r[0] for r in await conn.fetch("SELECT manifest FROM garbage ORDER BY id")]


async def assert_tables_consistent(conn: asyncpg.Connection) -> None:
    """Invariants of the tables whatever ran: one latest version per key, and
    it is the newest; nothing in a bucket or upload that does not exist."""
    bad_latest = await conn.fetch(
        "SELECT bucket, key FROM versions GROUP BY bucket, key"
        " HAVING count(*) FILTER (WHERE is_latest) <> 1"
        " OR max(seq) <> max(seq) FILTER (WHERE is_latest)"
    )
    assert bad_latest == []
    orphans = await conn.fetchval(
        "SELECT (SELECT count(*) FROM versions v WHERE NOT EXISTS"
        "        (SELECT 1 FROM buckets b WHERE b.name = v.bucket))"
        " + (SELECT count(*) FROM uploads u WHERE NOT EXISTS"
        "        (SELECT 1 FROM buckets b WHERE b.name = u.bucket))"
        " + (SELECT count(*) FROM parts p WHERE NOT EXISTS"
        "        (SELECT 1 FROM uploads u WHERE u.upload_id = p.upload_id))"
    )
    assert orphans == 0


async def wait_for_lock_wait(conn: asyncpg.Connection, application_name: str) -> int:
    """The pid of the store's backend once it waits for a lock."""

    async def poll() -> int:
        while True:
            pid = await conn.fetchval(
                "SELECT pid FROM pg_stat_activity"
                " WHERE application_name = $1 AND wait_event_type = 'Lock'",
                application_name,
            )
            if pid is not None:
                return int(pid)
            await asyncio.sleep(0.02)

    return await asyncio.wait_for(poll(), WAIT)


# --- migrations ---------------------------------------------------------------


def test_migrations_are_numbered_in_order() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))


async def test_reopen_keeps_data_and_migrates_once(pg: tuple[str, str]) -> None:
    dsn, schema = pg
    async with opened(PostgresStore(dsn, schema=schema)) as s:
        await s.create_bucket(Bucket("b", "o", 1.0, "r"))
    async with opened(PostgresStore(dsn, schema=schema)) as s:
        assert await s.get_bucket("b") == Bucket("b", "o", 1.0, "r")
        assert (await s.settings())["schema_version"] == len(MIGRATIONS)
    assert await migrate(dsn, schema=schema) == []
    async with direct(pg) as conn:
        rows = await conn.fetch("SELECT version FROM schema_version ORDER BY version")
        assert [r[0] for r in rows] == [m.version for m in MIGRATIONS]


async def test_concurrent_opens_of_a_fresh_schema_migrate_it_once(
    pg: tuple[str, str],
) -> None:
    dsn, schema = pg
    stores = [PostgresStore(dsn, schema=schema, max_pool=2) for _ in range(4)]
    results = await asyncio.wait_for(
        asyncio.gather(
            *(s.open() for s in stores),
            migrate(dsn, schema=schema),
            migrate(dsn, schema=schema),
        ),
        WAIT,
    )
    try:
        # Whoever came first migrated; the others found nothing to do.
        migrated_here = [v for versions in results[len(stores) :] for v in versions]
        assert migrated_here in ([], [1])
        async with direct(pg) as conn:
            rows = await conn.fetch("SELECT version FROM schema_version")
            assert [r[0] for r in rows] == [1]
        for n, s in enumerate(stores):
            await s.create_bucket(Bucket(f"b{n}", "o", 1.0, "r"))
        assert len(await stores[0].list_buckets(None)) == len(stores)
    finally:
        for s in stores:
            await s.close()


async def test_new_migrations_apply_on_top_and_newer_schemas_are_refused(
    pg: tuple[str, str],
) -> None:
    dsn, schema = pg
    extra = (
        *MIGRATIONS,
        Migration(len(MIGRATIONS) + 1, "extra", ("CREATE TABLE extra (x int)",)),
    )
    async with direct(pg) as conn:
        assert await apply_migrations(conn, schema) == [1]
        assert await apply_migrations(conn, schema, extra) == [len(extra)]
        assert await apply_migrations(conn, schema, extra) == []
        assert await conn.fetchval("SELECT to_regclass('extra') IS NOT NULL")
        with pytest.raises(SchemaTooNew):
            await apply_migrations(conn, schema)
    store = PostgresStore(dsn, schema=schema)
    with pytest.raises(SchemaTooNew):
        await store.open()
    with pytest.raises(MetadataUnavailable):  # a store that did not open is not open
        await store.get_bucket("b")


async def test_failed_migration_leaves_the_database_as_it_was(pg: tuple[str, str]) -> None:
    dsn, schema = pg
    broken = (*MIGRATIONS, Migration(2, "broken", ("CREATE TABLE t2 (x int)", "SELECT nope()")))
    async with direct(pg) as conn:
        with pytest.raises(asyncpg.UndefinedFunctionError):
            await apply_migrations(conn, schema, broken)
        # Nothing stayed, not even the new schema.
        assert not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema
        )
        assert await apply_migrations(conn, schema) == [1]


async def test_misnumbered_migrations_and_bad_schema_names_are_rejected(
    pg: tuple[str, str],
) -> None:
    dsn, schema = pg
    async with direct(pg) as conn:
        with pytest.raises(ValueError):
            await apply_migrations(conn, schema, (Migration(2, "gap", ()),))
    for name in ("bad-name", "1abc", "", 'q"uote', "x" * 64):
        with pytest.raises(ValueError):
            PostgresStore(dsn, schema=name)


# --- keys and byte order ----------------------------------------------------------

KEY_COLUMNS = {
    "users": ("access_key", "name"),
    "buckets": ("name", "owner"),
    "versions": ("bucket", "key", "version_id"),
    "uploads": ("upload_id", "bucket", "key"),
    "parts": ("upload_id",),
    "intents": ("stream_id",),
}


async def test_key_columns_and_their_indexes_compare_bytes(
    store: PostgresStore, pg: tuple[str, str]
) -> None:
    async with direct(pg) as conn:
        for table, columns in KEY_COLUMNS.items():
            for column in columns:
                collation = await conn.fetchval(
                    "SELECT collation_name FROM information_schema.columns"
                    " WHERE table_schema = $1 AND table_name = $2 AND column_name = $3",
                    pg[1],
                    table,
                    column,
                )
                assert collation == "C", (table, column)
        # Every text column of every index is C-collated, so the listing
        # queries (which compare in the columns' collation) can use them.
        rows = await conn.fetch(
            "SELECT i.indexrelid::regclass::text, c.collname"
            " FROM pg_index AS i"
            " JOIN pg_class AS t ON t.oid = i.indrelid"
            " JOIN pg_namespace AS n ON n.oid = t.relnamespace"
            " CROSS JOIN LATERAL unnest(i.indcollation::oid[]) AS ic (coll)"
            " JOIN pg_collation AS c ON c.oid = ic.coll"
            " WHERE n.nspname = $1",
            pg[1],
        )
        assert rows and {r[1] for r in rows} == {"C"}


def utf8(s: str) -> bytes:
    return s.encode("utf-8")


ORDER_KEYS = [
    "a", "A", "á", "Á", "a\u0301", "ä", "b", "B", "e\u0301", "é", "E", "ß", "ss",
    "Z", "z", "日本", "\U0001f600", "\uffff", "\u00ff", "~", " ", "0", "a b", "ab",
    "a/b", "\x01", "\x7f", "\u0100", "\ue000", "\U00010000",
]  # fmt: skip


async def test_keys_list_in_utf8_byte_order_with_case_and_accents(
    store: PostgresStore,
) -> None:
    await store.create_bucket(Bucket("b", "o", 1.0, "r"))
    written = {k: obj(k) for k in ORDER_KEYS}
    await asyncio.gather(*(store.put_object(v) for v in written.values()))
    listing = await store.list_objects("b", "", "", "", 1000)
    listed = [o.key for o in listing.objects]
    assert listed == sorted(ORDER_KEYS, key=utf8)
    assert listed != sorted(ORDER_KEYS, key=str.casefold)
    # Keys differing only in case or in composition are different keys.
    for key in ("a", "A", "é", "e\u0301", "á", "a\u0301"):
        got = await store.get_object("b", key)
        assert got is not None and got.version_id == written[key].version_id
    # Range and prefix bounds compare bytes too.
    under_a = await store.list_objects("b", "a", "", "", 1000)
    assert [o.key for o in under_a.objects] == sorted(
        (k for k in ORDER_KEYS if k.startswith("a")), key=utf8
    )
    after_z = await store.list_objects("b", "", "", "Z", 1000)
    assert [o.key for o in after_z.objects] == sorted(
        (k for k in ORDER_KEYS if utf8(k) > utf8("Z")), key=utf8
    )
    grouped = await store.list_objects("b", "", "\u0301", "", 1000)
    assert grouped.common_prefixes == ["a\u0301", "e\u0301"]


async def test_listing_queries_are_ordered_index_range_scans(
    store: PostgresStore, pg: tuple[str, str]
) -> None:
    await store.create_bucket(Bucket("b", "o", 1.0, "r", "Enabled"))
    await asyncio.gather(*(store.put_object(obj(f"d{i % 3}/k{i}")) for i in range(60)))
    await store.put_object(obj("d0/k0", version_id="v-newer"))
    await store.create_upload(Upload("u1", "b", "d1/k", 1.0, "o"))
    await store.create_upload(Upload("u2", "b", "d1/k", 2.0, "o"))
    statements: list[str] = []
    await store.set_trace(statements.append)
    await store.list_objects("b", "d", "/", "c", 2)
    await store.list_objects("b", "d1/", "", "d1/k1", 3)
    await store.list_object_versions("b", "", "", "d0/k0", "v-newer", 2)
    await store.list_object_versions("b", "", "/", "", "", 2)
    await store.list_uploads("b", "d1/", "", "d1/k", "u1", 5)
    await store.set_trace(None)
    selects = [s for s in statements if s.lstrip().startswith("SELECT") and "LIMIT" in s]
    assert any("is_latest AND NOT is_delete_marker" in s for s in selects)
    assert any("FROM versions" in s and "seq DESC" in s for s in selects)
    assert any("FROM uploads" in s and "initiated" in s for s in selects)
    async with direct(pg) as conn:
        await conn.execute("ANALYZE")
        # With sequential scans and sorts priced out, a plan still holding
        # either means no index serves the query in order.
        await conn.execute("SET enable_seqscan = off; SET enable_sort = off;"
                           " SET enable_bitmapscan = off")
        for sql in selects:
            plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + sql))
            assert "Sort" not in plan and "Seq Scan" not in plan, (sql, plan)
            if "is_latest AND NOT is_delete_marker" in sql:
                assert "versions_current" in plan, (sql, plan)
            elif "FROM versions" in sql and "seq DESC" in sql:
                assert "versions_by_key" in plan, (sql, plan)
            elif "FROM uploads" in sql and "initiated" in sql:
                assert "uploads_by_key" in plan, (sql, plan)


async def test_a_delimiter_page_seeks_every_group_in_one_statement(
    store: PostgresStore, pg: tuple[str, str]
) -> None:
    # 300 groups of 4 keys, and plain keys between them.
    await store.create_bucket(Bucket("b", "o", 1.0, "r"))
    keys = [f"g{g:03d}/k{i}" for g in range(300) for i in range(4)] + [f"g{g:03d}" for g in range(0, 300, 7)]
    for start in range(0, len(keys), 100):
        await asyncio.gather(*(store.put_object(obj(k)) for k in keys[start:start + 100]))
    expected = sorted({k.split("/")[0] + "/" if "/" in k else k for k in keys})
    before_rows, before_statements = store.rows_read, store.read_statements
    seen: list[str] = []
    marker = ""
    while True:
        page = await store.list_objects("b", "", "/", marker, 100)
        seen += sorted([o.key for o in page.objects] + page.common_prefixes)
        if not page.is_truncated:
            break
        assert page.next_marker is not None
        marker = page.next_marker
    assert sorted(seen) == seen == expected
    pages = -(-len(expected) // 100)
    # One statement per page, reading one row per group or key listed (plus
    # the one beyond the page that says it is truncated, and the group the
    # marker ends in): no group is read key by key, and no page costs a
    # round trip per group.
    assert store.read_statements - before_statements == pages
    assert store.rows_read - before_rows <= len(expected) + 2 * pages
    statements: list[str] = []
    await store.set_trace(statements.append)
    await store.list_objects("b", "g1", "/", "g150/", 50)
    await store.set_trace(None)
    (walk,) = [s for s in statements if "WITH RECURSIVE" in s]
    async with direct(pg) as conn:
        await conn.execute("ANALYZE")
        await conn.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + walk))
        assert "versions_current" in plan and "Seq Scan on versions" not in plan, plan


# --- races between two gateways (two pools, one schema) ---------------------------

ROUNDS = 12


async def test_racing_puts_of_one_key_last_commit_wins_whole(
    two_stores: tuple[PostgresStore, PostgresStore], pg: tuple[str, str]
) -> None:
    one, two = two_stores
    await one.create_bucket(Bucket("b", "o", 1.0, "r"))
    written: list[ObjectVersion] = []
    for _ in range(ROUNDS):
        batch = [obj("k") for _ in range(6)]
        written += batch
        results = await asyncio.gather(
            *(outcome((one, two)[n % 2].put_object(v)) for n, v in enumerate(batch))
        )
        assert results == [None] * len(batch)
    current = await two.get_object("b", "k")
    assert current is not None
    by_id = {v.version_id: v for v in written}
    # The winner's fields all come from one write.
    assert current == by_id[current.version_id]
    async with direct(pg) as conn:
        assert await conn.fetchval("SELECT count(*) FROM versions") == 1
        # Every replaced version went to garbage exactly once; none was lost.
        gone = await garbage(conn)
        assert sorted(gone + [current.manifest]) == sorted(v.manifest for v in written)
        await assert_tables_consistent(conn)


async def test_racing_puts_into_a_versioned_bucket_keep_every_version(
    two_stores: tuple[PostgresStore, PostgresStore], pg: tuple[str, str]
) -> None:
    one, two = two_stores
    await one.create_bucket(Bucket("b", "o", 1.0, "r", "Enabled"))
    written = [obj(f"k{n % 3}") for n in range(ROUNDS * 6)]
    await asyncio.gather(*((one, two)[n % 2].put_object(v) for n, v in enumerate(written)))
    listing = await one.list_object_versions("b", "", "", "", "", 1000)
    assert sorted(v.version_id for v in listing.versions) == sorted(
        v.version_id for v in written
    )
    async with direct(pg) as conn:
        assert await garbage(conn) == []
        await assert_tables_consistent(conn)


async def test_racing_puts_and_deletes_keep_one_latest_version(
    two_stores: tuple[PostgresStore, PostgresStore], pg: tuple[str, str]
) -> None:
    one, two = two_stores
    await one.create_bucket(Bucket("b", "o", 1.0, "r", "Enabled"))
    for v in (obj("k"), obj("k")):
        await one.put_object(v)
    for round_ in range(ROUNDS):
        ops = [
            one.put_object(obj("k")),
            two.delete_object("b", "k"),
            two.put_object(obj("k")),
            one.delete_object("b", "k"),
        ]
        if round_ % 2:
            ops.reverse()
        results = await asyncio.gather(*(outcome(op) for op in ops))
        assert not any(isinstance(r, Exception) for r in results), results
        async with direct(pg) as conn:
            await assert_tables_consistent(conn)


async def test_racing_conditional_puts_one_wins(
    two_stores: tuple[PostgresStore, PostgresStore],
) -> None:
    one, two = two_stores
    await one.create_bucket(Bucket("b", "o", 1.0, "r"))
    for round_ in range(ROUNDS):
        key = f"k{round_}"
        candidates = [obj(key) for _ in range(4)]
        results = await asyncio.gather(
            *(
                outcome((one, two)[n % 2].put_object(v, if_none_match_star=True))
                for n, v in enumerate(candidates)
            )
        )
        winners = [v for v, r in zip(candidates, results) if r is None]
        assert len(winners) == 1
        assert all(isinstance(r, ConditionFailed) for r in results if r is not None)
        current = await one.get_object("b", key)
        assert current is not None and current.version_id == winners[0].version_id


async def test_racing_complete_and_abort_of_an_upload_end_in_one_outcome(
    two_stores: tuple[PostgresStore, PostgresStore], pg: tuple[str, str]
) -> None:
    one, two = two_stores
    await one.create_bucket(Bucket("b", "o", 1.0, "r"))
    for round_ in range(ROUNDS):
        uid, key = f"u{round_}", f"k{round_}"
        await one.create_upload(Upload(uid, "b", key, 1.0, "o"))
        manifests = [f"{uid}-p{n}".encode() for n in (1, 2, 3)]
        for n, m in enumerate(manifests, 1):
            await (one, two)[n % 2].put_part(part(uid, n, m))
        final = obj(key, manifest=b"final-" + uid.encode())
        ops = [
            one.complete_upload(uid, final, [1, 3]),
            two.abort_upload(uid),
            two.complete_upload(uid, obj(key), [1, 2, 3]),
            one.abort_upload(uid),
        ]
        if round_ % 2:
            ops.reverse()
        results = await asyncio.gather(*(outcome(op) for op in ops))
        assert sum(r is None for r in results) == 1, results
        assert all(isinstance(r, UploadNotFound) for r in results if r is not None)
        current = await two.get_object("b", key)
        async with direct(pg) as conn:
            trash = set(await garbage(conn))
            assert await conn.fetchval("SELECT count(*) FROM parts WHERE upload_id = $1", uid) == 0
            await assert_tables_consistent(conn)
        assert await one.get_upload(uid) is None
        if current is None:  # an abort won: every part is garbage
            assert set(manifests) <= trash
        elif current.version_id == final.version_id:  # parts 1 and 3 are the object
            assert manifests[1] in trash and not trash & {manifests[0], manifests[2]}
        else:  # the complete of all three parts won
            assert not trash & set(manifests)


async def test_racing_part_and_abort_never_leave_a_part_unreferenced(
    two_stores: tuple[PostgresStore, PostgresStore], pg: tuple[str, str]
) -> None:
    one, two = two_stores
    await one.create_bucket(Bucket("b", "o", 1.0, "r"))
    for round_ in range(ROUNDS):
        uid = f"u{round_}"
        await one.create_upload(Upload(uid, "b", "k", 1.0, "o"))
        manifests = [f"{uid}-{n}".encode() for n in range(3)]
        ops: list[tuple[bytes | None, Awaitable[None]]] = [
            (manifests[0], one.put_part(part(uid, 1, manifests[0]))),
            (manifests[1], two.put_part(part(uid, 2, manifests[1]))),
            (None, two.abort_upload(uid)),
            (manifests[2], one.put_part(part(uid, 1, manifests[2]))),
        ]
        if round_ % 2:
            ops.reverse()
        results = await asyncio.gather(*(outcome(op) for _, op in ops))
        async with direct(pg) as conn:
            trash = set(await garbage(conn))
            await assert_tables_consistent(conn)
        for (manifest, _), result in zip(ops, results):
            if manifest is None:
                assert result is None  # the abort
                continue
            # Either the abort sent the part to garbage, or the part was
            # refused (and its writer must discard the data).
            assert (manifest in trash) == (result is None), (manifest, result)
            if result is not None:
                assert isinstance(result, UploadNotFound)


async def test_racing_uploads_of_one_part_number_lose_nothing(
    two_stores: tuple[PostgresStore, PostgresStore], pg: tuple[str, str]
) -> None:
    one, two = two_stores
    await one.create_bucket(Bucket("b", "o", 1.0, "r"))
    await one.create_upload(Upload("u", "b", "k", 1.0, "o"))
    written: list[bytes] = []
    for round_ in range(ROUNDS):
        batch = [f"r{round_}-{n}".encode() for n in range(4)]
        written += batch
        await asyncio.gather(
            *((one, two)[n % 2].put_part(part("u", 7, m)) for n, m in enumerate(batch))
        )
    parts, _ = await one.list_parts("u", 0, 10)
    assert len(parts) == 1
    async with direct(pg) as conn:
        assert sorted(await garbage(conn) + [parts[0].manifest]) == sorted(written)


async def test_racing_delete_bucket_and_puts_leave_no_object_in_a_deleted_bucket(
    two_stores: tuple[PostgresStore, PostgresStore], pg: tuple[str, str]
) -> None:
    one, two = two_stores
    for round_ in range(ROUNDS):
        name = f"race{round_}"
        await one.create_bucket(Bucket(name, "o", 1.0, "r"))
        ops = [
            one.put_object(obj("k", name)),
            two.delete_bucket(name),
            two.put_object(obj("j", name)),
            one.create_upload(Upload(f"u{round_}", name, "k", 1.0, "o")),
        ]
        if round_ % 2:
            ops.reverse()
        results = await asyncio.gather(*(outcome(op) for op in ops))
        bucket = await one.get_bucket(name)
        if bucket is None:
            assert results.count(None) == 1  # only the delete succeeded
            assert all(isinstance(r, BucketNotFound) for r in results if r is not None)
        else:
            assert sum(isinstance(r, BucketNotEmpty) for r in results) == 1
            assert sum(r is None for r in results) == 3
        async with direct(pg) as conn:
            left = await conn.fetchval(
                "SELECT count(*) FROM versions WHERE bucket = $1", name
            ) + await conn.fetchval("SELECT count(*) FROM uploads WHERE bucket = $1", name)
            assert (left == 0) == (bucket is None)
            await assert_tables_consistent(conn)


async def test_a_write_whose_caller_left_still_ends_whole(pg: tuple[str, str]) -> None:
    dsn, schema = pg
    app = f"objectd-test-{uuid.uuid4().hex[:8]}"
    loop_errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, ctx: loop_errors.append(ctx))
    written: list[ObjectVersion] = []
    async with direct(pg) as admin:
        async with opened(
            PostgresStore(dsn, schema=schema, application_name=app, max_pool=2)
        ) as s:
            await s.create_bucket(Bucket("b", "o", 1.0, "r", "Enabled"))
            blocker = admin.transaction()
            await blocker.start()
            await admin.execute("SELECT 1 FROM buckets WHERE name = 'b' FOR UPDATE")
            for steps in range(4):
                v = obj("k")
                written.append(v)
                task = asyncio.create_task(s.put_object(v))
                for _ in range(steps):
                    await asyncio.sleep(0)
                if steps == 3:
                    await wait_for_lock_wait(admin, app)  # inside its transaction
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            await blocker.rollback()
        # Closing waited for the writes the callers left.
    async with opened(PostgresStore(dsn, schema=schema)) as s:
        listing = await s.list_object_versions("b", "", "", "", "", 10)
        # The first call was cancelled before it began and never ran; every
        # call that had begun committed, though its caller was gone.
        assert sorted(v.version_id for v in listing.versions) == sorted(
            v.version_id for v in written[1:]
        )
    async with direct(pg) as conn:
        await assert_tables_consistent(conn)
    assert loop_errors == []


# --- connection loss ------------------------------------------------------------


async def test_nothing_listening_is_metadata_unavailable() -> None:
    store = PostgresStore("postgresql://postgres@127.0.0.1:1/test", connect_timeout=5)
    with pytest.raises(MetadataUnavailable):
        await asyncio.wait_for(store.open(), WAIT)
    with pytest.raises(MetadataUnavailable):
        await store.get_bucket("b")
    # With no connection made up front, the first call finds out.
    lazy = PostgresStore("postgresql://postgres@127.0.0.1:1/test", min_pool=0)
    with pytest.raises(MetadataUnavailable):
        await asyncio.wait_for(lazy.open(), WAIT)


async def test_closed_store_refuses_calls(store: PostgresStore) -> None:
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(StoreUnavailable):
        await store.get_bucket("b")
    with pytest.raises(MetadataUnavailable):
        await store.create_bucket(Bucket("b", "o", 1.0, "r"))


async def test_cut_network_is_unavailable_and_the_pool_recovers_by_itself(
    pg: tuple[str, str],
) -> None:
    dsn, schema = pg
    host, port = _host_port(dsn)
    async with TcpProxy(host, port) as proxy:
        via_proxy = _with_host_port(dsn, "127.0.0.1", proxy.port)
        async with opened(
            PostgresStore(via_proxy, schema=schema, min_pool=2, max_pool=3, connect_timeout=5)
        ) as s:
            await s.create_bucket(Bucket("b", "o", 1.0, "r"))
            before = obj("before")
            await s.put_object(before)
            assert proxy.links >= 1

            await proxy.cut()
            calls: list[Callable[[], Awaitable[Any]]] = [
                lambda: s.get_object("b", "before"),
                lambda: s.put_object(obj("during")),
                lambda: s.list_objects("b", "", "/", "", 10),
                lambda: s.create_bucket(Bucket("c", "o", 1.0, "r")),
                lambda: s.complete_upload("nope", obj("x"), [1]),
                lambda: s.due_garbage(FAR_FUTURE, 10),
            ]
            for call in calls:
                with pytest.raises(MetadataUnavailable):
                    await asyncio.wait_for(call(), WAIT)

            accepted = proxy.accepted
            await proxy.restore()
            got = await asyncio.wait_for(s.get_object("b", "before"), WAIT)
            assert got == before
            assert await s.get_object("b", "during") is None
            await s.put_object(obj("after"))
            listing = await s.list_objects("b", "", "", "", 10)
            assert [o.key for o in listing.objects] == ["after", "before"]
            assert proxy.accepted > accepted  # it reconnected through the proxy


async def test_write_cut_mid_transaction_is_unavailable_and_changes_nothing(
    pg: tuple[str, str],
) -> None:
    dsn, schema = pg
    app = f"objectd-test-{uuid.uuid4().hex[:8]}"
    host, port = _host_port(dsn)
    async with TcpProxy(host, port) as proxy, direct(pg) as admin:
        via_proxy = _with_host_port(dsn, "127.0.0.1", proxy.port)
        async with opened(
            PostgresStore(via_proxy, schema=schema, application_name=app, connect_timeout=5)
        ) as s:
            await s.create_bucket(Bucket("b", "o", 1.0, "r"))
            # Hold the bucket row so the put stops inside its transaction.
            blocker = admin.transaction()
            await blocker.start()
            await admin.execute("SELECT 1 FROM buckets WHERE name = 'b' FOR UPDATE")
            put = asyncio.create_task(s.put_object(obj("k")))
            await wait_for_lock_wait(admin, app)
            await proxy.cut()
            with pytest.raises(MetadataUnavailable):
                await asyncio.wait_for(put, WAIT)
            await blocker.rollback()
            await proxy.restore()
            assert await asyncio.wait_for(s.get_object("b", "k"), WAIT) is None
            await s.put_object(obj("k"))
            assert await s.get_object("b", "k") is not None


async def test_backend_terminated_mid_call_is_unavailable_then_recovers(
    pg: tuple[str, str],
) -> None:
    dsn, schema = pg
    app = f"objectd-test-{uuid.uuid4().hex[:8]}"
    async with direct(pg) as admin, opened(
        PostgresStore(dsn, schema=schema, application_name=app)
    ) as s:
        await s.create_bucket(Bucket("b", "o", 1.0, "r"))
        await s.create_upload(Upload("u", "b", "k", 1.0, "o"))
        blocker = admin.transaction()
        await blocker.start()
        await admin.execute("SELECT 1 FROM uploads WHERE upload_id = 'u' FOR UPDATE")
        abort = asyncio.create_task(s.abort_upload("u"))
        pid = await wait_for_lock_wait(admin, app)
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        with pytest.raises(MetadataUnavailable):
            await asyncio.wait_for(abort, WAIT)
        await blocker.rollback()
        assert await s.get_upload("u") is not None  # the abort did not happen
        await s.abort_upload("u")
        assert await s.get_upload("u") is None


def _host_port(dsn: str) -> tuple[str, int]:
    """Where the DSN's server listens."""
    parts = urlsplit(dsn)
    return parts.hostname or "127.0.0.1", parts.port or 5432


def _with_host_port(dsn: str, host: str, port: int) -> str:
    """The DSN with another server address (the proxy's)."""
    parts = urlsplit(dsn)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


# --- other -------------------------------------------------------------------------


async def test_settings_report_read_committed_and_the_schema(
    store: PostgresStore, pg: tuple[str, str]
) -> None:
    settings = await store.settings()
    assert settings["default_transaction_isolation"] == "read committed"
    assert settings["schema"] == pg[1]
    assert settings["schema_version"] == len(MIGRATIONS)
    assert settings["application_name"] == "objectd"
    assert settings["pool"]["max"] == 10


async def test_a_key_postgres_cannot_store_is_a_value_error(store: PostgresStore) -> None:
    await store.create_bucket(Bucket("b", "o", 1.0, "r"))
    with pytest.raises(ValueError):
        await store.put_object(obj("nul\x00key"))
    await store.put_object(obj("fine"))  # the connection is still good
    assert await store.get_object("b", "fine") is not None
