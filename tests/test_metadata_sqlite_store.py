"""SQLite specifics of metadata/sqlite_store.py and metadata/schema_sqlite.py:
connection settings, migrations, reopening, group commit, query plans."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from metadata.errors import SchemaTooNew, StoreUnavailable
from metadata.model import Bucket, ObjectVersion, Upload, User
from metadata.schema_sqlite import (
    MIGRATIONS,
    Migration,
    apply_migrations,
    schema_version,
)
from metadata.sqlite_connection import ConnectionThread
from metadata.sqlite_group_commit import GroupCommitWriter
from metadata.sqlite_store import SqliteStore


def obj(key: str, vid: str, bucket: str = "b", manifest: bytes = b"m") -> ObjectVersion:
    return ObjectVersion(bucket, key, vid, 1, "etag", 1.0, manifest)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(str(tmp_path / "meta.db"))
    await s.open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def thread_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the connection threads that get a call, in order, from
    the moment the fixture is set up."""
    calls: list[str] = []
    submit = ConnectionThread.submit

    def counting_submit(self: ConnectionThread, fn: Any, **kw: Any) -> Any:
        calls.append(self.name)
        return submit(self, fn, **kw)

    monkeypatch.setattr(ConnectionThread, "submit", counting_submit)
    return calls


def tables(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall()


# --- connection settings ------------------------------------------------------


async def test_every_connection_is_wal_durable_with_foreign_keys(
    store: SqliteStore,
) -> None:
    settings = await store.settings()
    for role in ("writer", "reader"):
        assert settings[role]["journal_mode"] == "wal"
        assert settings[role]["synchronous"] == 2  # FULL
        assert settings[role]["foreign_keys"] == 1
        assert settings[role]["busy_timeout"] == 5000
        assert settings[role]["schema_version"] == len(MIGRATIONS)


async def test_wal_mode_is_recorded_in_the_file(
    store: SqliteStore, tmp_path: Path
) -> None:
    with sqlite3.connect(tmp_path / "meta.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_foreign_keys_hold_in_the_schema(
    store: SqliteStore, tmp_path: Path
) -> None:
    with sqlite3.connect(tmp_path / "meta.db") as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(
                "INSERT INTO versions (bucket, key, version_id, is_latest, size, etag,"
                " last_modified, owner, storage_class, is_delete_marker, null_version, manifest)"
                " VALUES ('nobucket', 'k', 'v', 1, 0, '', 0, '', 'STANDARD', 0, 1, x'')"
            )


async def test_lock_held_by_another_process_is_store_unavailable(
    tmp_path: Path,
) -> None:
    path = tmp_path / "meta.db"
    s = SqliteStore(str(path), busy_timeout=0.05)
    await s.open()
    try:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreUnavailable):
                await s.create_bucket(Bucket("b", "o", 1.0, "r"))
        finally:
            other.execute("ROLLBACK")
            other.close()
        await s.create_bucket(Bucket("b", "o", 1.0, "r"))  # the writer recovered
        assert await s.get_bucket("b") is not None
    finally:
        await s.close()


async def test_closed_store_refuses_calls(tmp_path: Path) -> None:
    s = SqliteStore(str(tmp_path / "meta.db"))
    await s.open()
    await s.close()
    await s.close()  # idempotent
    with pytest.raises(StoreUnavailable):
        await s.create_bucket(Bucket("b", "o", 1.0, "r"))
    with pytest.raises(StoreUnavailable):
        await s.get_bucket("b")


async def test_cancelled_listings_leave_no_snapshot_open(tmp_path: Path) -> None:
    s = SqliteStore(str(tmp_path / "meta.db"), readers=1)
    await s.open()
    try:
        await s.create_bucket(Bucket("b", "o", 1.0, "r"))
        await asyncio.gather(
            *(s.put_object(obj(f"d{i}/k", f"v{i}")) for i in range(20))
        )
        for steps in range(8):
            task = asyncio.create_task(s.list_objects("b", "", "/", "", 1000))
            for _ in range(steps):
                await asyncio.sleep(0)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            # the one reader must see a write committed after the cancellation
            await s.put_object(obj(f"new{steps}", f"n{steps}"))
            assert await s.get_object("b", f"new{steps}") is not None
            listing = await s.list_objects("b", "new", "", "", 100)
            assert len(listing.objects) == steps + 1
    finally:
        await s.close()


# --- reopening and migrations ------------------------------------------------------


async def test_reopen_keeps_data_and_migrates_once(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    s = SqliteStore(str(path))
    await s.open()
    await s.create_bucket(Bucket("b", "o", 1.0, "r", "Enabled"))
    await s.put_object(obj("k", "v1"))
    await s.add_user(User("u", "AK", b"s", 1.0))
    await s.create_upload(Upload("up", "b", "k", 2.0, "o"))
    await s.add_garbage([b"g"], 5.0)
    await s.close()
    schema = tables(path)

    s = SqliteStore(str(path))
    await s.open()
    try:
        assert (await s.get_bucket("b")).versioning == "Enabled"  # type: ignore[union-attr]
        assert (await s.get_object("b", "k")).version_id == "v1"  # type: ignore[union-attr]
        assert await s.user_by_access_key("AK") is not None
        assert await s.get_upload("up") is not None
        assert [g.manifest for g in await s.due_garbage(10.0, 10)] == [b"g"]
        # sequence numbers keep growing: a new version is the newest
        await s.put_object(obj("k", "v2"))
        assert (await s.get_object("b", "k")).version_id == "v2"  # type: ignore[union-attr]
    finally:
        await s.close()
    assert tables(path) == schema
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(1,)]


async def test_close_finishes_queued_writes(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    s = SqliteStore(str(path))
    await s.open()
    await s.create_bucket(Bucket("b", "o", 1.0, "r"))
    tasks = [
        asyncio.create_task(s.put_object(obj(f"k{i}", f"v{i}"))) for i in range(20)
    ]
    await asyncio.sleep(0)  # the puts are queued, not yet committed
    await s.close()
    assert all(t.done() and t.exception() is None for t in tasks)
    s = SqliteStore(str(path))
    await s.open()
    try:
        assert len((await s.list_objects("b", "", "", "", 100)).objects) == 20
    finally:
        await s.close()


def connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(str(path), isolation_level=None)


def test_apply_migrations_is_idempotent(tmp_path: Path) -> None:
    conn = connect(tmp_path / "m.db")
    try:
        assert schema_version(conn) == 0
        assert apply_migrations(conn) == [m.version for m in MIGRATIONS]
        schema = tables(tmp_path / "m.db")
        assert apply_migrations(conn) == []
        assert schema_version(conn) == len(MIGRATIONS)
        assert tables(tmp_path / "m.db") == schema
    finally:
        conn.close()


STEP_1 = Migration(1, "one", ("CREATE TABLE t1 (a INTEGER)",))
STEP_2 = Migration(
    2, "two", ("CREATE TABLE t2 (b INTEGER)", "CREATE INDEX t2_b ON t2 (b)")
)


def test_new_migrations_apply_on_top_of_old_ones(tmp_path: Path) -> None:
    conn = connect(tmp_path / "m.db")
    try:
        assert apply_migrations(conn, [STEP_1]) == [1]
        assert apply_migrations(conn, [STEP_1, STEP_2]) == [2]
        assert apply_migrations(conn, [STEP_1, STEP_2]) == []
        names = [n for _, n in tables(tmp_path / "m.db")]
        assert {"t1", "t2", "t2_b"} <= set(names)
    finally:
        conn.close()


def test_failed_migration_leaves_the_schema_as_it_was(tmp_path: Path) -> None:
    broken = Migration(
        2, "broken", ("CREATE TABLE t2 (b INTEGER)", "CREATE TABLE t1 (a)")
    )
    conn = connect(tmp_path / "m.db")
    try:
        apply_migrations(conn, [STEP_1])
        with pytest.raises(sqlite3.OperationalError):
            apply_migrations(conn, [STEP_1, broken])
        assert schema_version(conn) == 1
        assert "t2" not in [n for _, n in tables(tmp_path / "m.db")]
        assert not conn.in_transaction
    finally:
        conn.close()


def test_misnumbered_migrations_are_rejected(tmp_path: Path) -> None:
    conn = connect(tmp_path / "m.db")
    try:
        with pytest.raises(ValueError):
            apply_migrations(conn, [STEP_2])
        with pytest.raises(ValueError):
            apply_migrations(conn, [STEP_2, STEP_1])
    finally:
        conn.close()


async def test_database_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    conn = connect(path)
    future = Migration(len(MIGRATIONS) + 1, "future", ("CREATE TABLE future (x)",))
    apply_migrations(conn, [*MIGRATIONS, future])
    conn.close()
    s = SqliteStore(str(path))
    with pytest.raises(SchemaTooNew):
        await s.open()
    await s.close()


def test_migrations_are_numbered_in_order() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))


# --- group commit -------------------------------------------------------------


def connect_with_tables(path: Path) -> sqlite3.Connection:
    conn = connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    conn.execute(
        "CREATE TABLE child (id INTEGER, parent INTEGER REFERENCES parent (id)"
        " DEFERRABLE INITIALLY DEFERRED)"
    )
    return conn


@pytest.fixture
async def writer(tmp_path: Path) -> AsyncIterator[tuple[GroupCommitWriter, Path]]:
    path = tmp_path / "w.db"
    conn = ConnectionThread("test-writer")
    await conn.open(lambda: connect_with_tables(path))
    w = GroupCommitWriter(conn)
    w.start()
    try:
        yield w, path
    finally:
        await w.close()
        await conn.close()


def committed(path: Path, table: str) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute(f"SELECT id FROM {table} ORDER BY id")]


def insert(table: str, value: int, *, then_fail: bool = False):  # type: ignore[no-untyped-def]
    """A job inserting ``value`` (in child rows, also as the parent it refers to)."""
    columns = "id, parent" if table == "child" else "id"
    values = (value, value) if table == "child" else (value,)

    def job(conn: sqlite3.Connection) -> int:
        marks = ", ".join("?" for _ in values)
        conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)
        if then_fail:
            raise LookupError(f"job {value} failed after writing")
        return value

    return job


async def outcome(awaitable):  # type: ignore[no-untyped-def]
    try:
        return await awaitable
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        return exc


async def test_concurrent_jobs_share_one_commit_and_fail_alone(
    writer: tuple[GroupCommitWriter, Path],
) -> None:
    w, path = writer
    commits = w.commits
    results = await asyncio.gather(
        *(
            outcome(w.submit(insert("parent", i, then_fail=i % 3 == 1)))
            for i in range(9)
        )
    )
    assert w.commits == commits + 1
    assert w.last_batch_size == 9
    for i, result in enumerate(results):
        if i % 3 == 1:
            assert (
                isinstance(result, LookupError)
                and str(result) == f"job {i} failed after writing"
            )
        else:
            assert result == i
    # the failed jobs' writes were rolled back, the others' kept
    assert committed(path, "parent") == [i for i in range(9) if i % 3 != 1]


async def test_a_lone_failing_job_is_rolled_back(
    writer: tuple[GroupCommitWriter, Path],
) -> None:
    w, path = writer
    with pytest.raises(LookupError):
        await w.submit(insert("parent", 1, then_fail=True))
    assert await w.submit(insert("parent", 2)) == 2
    assert committed(path, "parent") == [2]


async def test_a_failed_commit_fails_every_job_of_the_batch(
    writer: tuple[GroupCommitWriter, Path],
) -> None:
    w, path = writer
    # the deferred foreign key is checked only at COMMIT
    results = await asyncio.gather(
        outcome(w.submit(insert("parent", 1))),
        outcome(w.submit(insert("child", 7))),
        outcome(w.submit(insert("parent", 2))),
    )
    assert all(isinstance(r, sqlite3.IntegrityError) for r in results), results
    assert committed(path, "parent") == [] and committed(path, "child") == []
    assert await w.submit(insert("parent", 3)) == 3  # the writer goes on
    assert committed(path, "parent") == [3]


async def test_a_job_whose_caller_left_is_not_run(
    writer: tuple[GroupCommitWriter, Path],
) -> None:
    w, path = writer
    task = asyncio.create_task(w.submit(insert("parent", 1)))
    await asyncio.sleep(0)  # queued, and the writer not yet woken
    task.cancel()
    assert await w.submit(insert("parent", 2)) == 2
    assert task.cancelled()
    assert committed(path, "parent") == [2]


def blocking_job(
    started: threading.Event, release: threading.Event
) -> Callable[[sqlite3.Connection], str]:
    """A job that holds its connection's thread until ``release`` is set."""

    def job(conn: sqlite3.Connection) -> str:
        started.set()
        release.wait()
        return "released"

    return job


async def wait_for(event: threading.Event) -> None:
    # The bound only keeps a broken test from hanging; the test waits for the event.
    assert await asyncio.to_thread(event.wait, 60)


async def test_a_job_whose_batch_started_commits_without_its_caller(
    writer: tuple[GroupCommitWriter, Path],
) -> None:
    w, path = writer
    started, release = threading.Event(), threading.Event()
    seen: list[int] = []
    first = asyncio.create_task(w.submit(blocking_job(started, release)))
    # queued before the writer wakes, so both jobs form one batch
    second = asyncio.create_task(
        w.submit(insert("parent", 5), after_commit=seen.append)
    )
    await wait_for(started)
    second.cancel()
    release.set()
    assert await first == "released"
    assert w.last_batch_size == 2
    with pytest.raises(asyncio.CancelledError):
        await second
    assert committed(path, "parent") == [5]
    assert seen == [5]  # the in-memory follow-up ran although nobody waited


async def test_after_commit_runs_only_for_committed_jobs(
    writer: tuple[GroupCommitWriter, Path],
) -> None:
    w, _ = writer
    seen: list[int] = []
    # the child's deferred foreign key fails the batch's commit
    results = await asyncio.gather(
        outcome(w.submit(insert("parent", 1), after_commit=seen.append)),
        outcome(
            w.submit(insert("parent", 2, then_fail=True), after_commit=seen.append)
        ),
        outcome(w.submit(insert("child", 9), after_commit=seen.append)),
    )
    assert all(isinstance(r, Exception) for r in results), results
    assert seen == []
    assert await w.submit(insert("parent", 3), after_commit=seen.append) == 3
    assert seen == [3]


async def test_store_writes_are_group_committed(store: SqliteStore) -> None:
    await store.create_bucket(Bucket("b", "o", 1.0, "r"))
    commits = store.writer.commits
    await asyncio.gather(*(store.put_object(obj(f"k{i}", f"v{i}")) for i in range(50)))
    assert store.writer.commits == commits + 1
    assert store.writer.last_batch_size == 50


async def test_a_store_call_is_one_call_on_a_connection_thread(
    store: SqliteStore, thread_calls: list[str]
) -> None:
    await store.create_bucket(Bucket("b", "o", 1.0, "r", "Enabled"))
    await store.put_object(obj("d0/k", "v0"))
    await store.create_upload(Upload("u1", "b", "d0/k", 1.0, "o"))
    await asyncio.gather(
        *(store.put_object(obj(f"d{i}/k", f"v{i}")) for i in range(1, 6))
    )
    calls = thread_calls
    calls.clear()  # counted from here on
    statements: list[str] = []
    await store.set_trace(statements.append)
    checks = [
        lambda: store.list_objects("b", "", "/", "", 1000),
        lambda: store.list_object_versions("b", "", "/", "d0/k", "v0", 1000),
        lambda: store.list_uploads("b", "", "/", "", "", 1000),
        lambda: store.put_object(obj("d1/k", "v9")),
        lambda: store.delete_object("b", "d2/k"),
        lambda: store.complete_upload("u1", obj("d0/k", "v8"), []),
    ]
    for call in checks:
        calls.clear()
        statements.clear()
        await call()
        assert len(calls) == 1, calls
        assert len(statements) >= 3, statements  # several statements, one hop
    await store.set_trace(None)


async def test_sole_writer_cache_follows_a_write_whose_caller_left(
    tmp_path: Path,
) -> None:
    s = SqliteStore(str(tmp_path / "meta.db"), sole_writer=True)
    await s.open()
    try:
        started, release = threading.Event(), threading.Event()
        first = asyncio.create_task(s.writer.submit(blocking_job(started, release)))
        create = asyncio.create_task(s.create_bucket(Bucket("b", "o", 1.0, "r")))
        await wait_for(started)
        create.cancel()
        release.set()
        await first
        with pytest.raises(asyncio.CancelledError):
            await create
        assert s.writer.last_batch_size == 2
        assert await s.get_bucket("b") == Bucket("b", "o", 1.0, "r")
    finally:
        await s.close()
    with sqlite3.connect(tmp_path / "meta.db") as conn:
        assert conn.execute("SELECT name FROM buckets").fetchall() == [("b",)]


# --- connection threads ---------------------------------------------------------


@pytest.fixture
async def thread(tmp_path: Path) -> AsyncIterator[ConnectionThread]:
    conn = ConnectionThread("test")
    await conn.open(lambda: connect_with_tables(tmp_path / "t.db"))
    try:
        yield conn
    finally:
        await conn.close()


async def test_connection_thread_runs_calls_in_order_off_the_loop(
    thread: ConnectionThread,
) -> None:
    order: list[int] = []
    names: set[str] = set()

    def step(n: int) -> Callable[[sqlite3.Connection], int]:
        def call(conn: sqlite3.Connection) -> int:
            names.add(threading.current_thread().name)
            conn.execute("INSERT INTO parent (id) VALUES (?)", (n,))
            order.append(n)
            return n

        return call

    assert await asyncio.gather(*(thread.run(step(n)) for n in range(10))) == list(
        range(10)
    )
    assert order == list(range(10))
    assert names == {"test"}


async def test_connection_thread_hands_exceptions_to_the_caller(
    thread: ConnectionThread,
) -> None:
    def bad(conn: sqlite3.Connection) -> None:
        conn.execute("SELECT * FROM missing")

    with pytest.raises(sqlite3.OperationalError, match="missing"):
        await thread.run(bad)
    assert await thread.run(lambda conn: conn.execute("SELECT 7").fetchone()[0]) == 7


async def test_connection_thread_finishes_a_call_whose_caller_left(
    thread: ConnectionThread, tmp_path: Path
) -> None:
    started, release = threading.Event(), threading.Event()
    finished: list[str] = []

    def slow_insert(conn: sqlite3.Connection) -> None:
        started.set()
        release.wait()
        conn.execute("INSERT INTO parent (id) VALUES (1)")

    future = thread.submit(slow_insert, after=lambda: finished.append("after"))
    await wait_for(started)
    future.cancel()
    release.set()
    await thread.run(lambda conn: None)  # runs once the cancelled call is over
    assert finished == ["after"]
    assert committed(tmp_path / "t.db", "parent") == [1]


async def test_connection_thread_close_runs_queued_calls_then_refuses(
    thread: ConnectionThread, tmp_path: Path
) -> None:
    def insert_row(n: int) -> Callable[[sqlite3.Connection], None]:
        def call(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO parent (id) VALUES (?)", (n,))

        return call

    futures = [thread.submit(insert_row(n)) for n in range(5)]
    await thread.close()
    assert all(f.done() and f.exception() is None for f in futures)
    assert committed(tmp_path / "t.db", "parent") == list(range(5))
    with pytest.raises(StoreUnavailable):
        thread.submit(insert_row(9))
    await thread.close()  # idempotent


async def test_connection_thread_open_reports_a_failed_connect() -> None:
    def refuse() -> sqlite3.Connection:
        raise sqlite3.OperationalError("unable to open database file")

    conn = ConnectionThread("test")
    with pytest.raises(sqlite3.OperationalError, match="unable to open"):
        await conn.open(refuse)
    with pytest.raises(StoreUnavailable):
        conn.submit(lambda c: None)
    await conn.close()


# --- query plans --------------------------------------------------------------


async def test_listing_queries_are_index_range_scans(
    store: SqliteStore, tmp_path: Path
) -> None:
    await store.create_bucket(Bucket("b", "o", 1.0, "r", "Enabled"))
    await asyncio.gather(
        *(store.put_object(obj(f"d{i % 3}/k{i}", f"v{i}")) for i in range(30))
    )
    await store.put_object(obj("d0/k0", "v-newer"))
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
    selects = [
        s
        for s in statements
        if s.lstrip().upper().startswith("SELECT") and "LIMIT" in s
    ]
    assert any("is_latest = 1" in s for s in selects)
    assert any("FROM uploads" in s and "initiated" in s for s in selects)
    with sqlite3.connect(tmp_path / "meta.db") as conn:
        for sql in selects:
            plan = " | ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql))
            assert "TEMP B-TREE" not in plan, (sql, plan)
            assert "USING" in plan and "INDEX" in plan, (sql, plan)
            if "is_latest = 1" in sql:
                assert "versions_current" in plan, (sql, plan)
            elif "FROM versions" in sql:
                assert "versions_by_key" in plan, (sql, plan)
            elif "FROM uploads" in sql:
                assert "uploads_by_key" in plan, (sql, plan)


async def test_sole_writer_bucket_cache_follows_changes_and_reopens(tmp_path):
    from metadata.errors import BucketNotFound
    from metadata.model import Bucket

    path = str(tmp_path / "cached.db")
    store = SqliteStore(path, sole_writer=True)
    await store.open()
    try:
        await store.create_bucket(Bucket("alpha", "u1", 1.0, "us-east-1"))
        await store.create_bucket(Bucket("beta", "u2", 2.0, "eu-west-1"))
        before = store.rows_read
        assert (await store.get_bucket("alpha")).owner == "u1"
        assert store.rows_read == before  # served from memory
        await store.set_versioning("beta", "Enabled")
        assert (await store.get_bucket("beta")).versioning == "Enabled"
        await store.delete_bucket("alpha")
        assert await store.get_bucket("alpha") is None
        with pytest.raises(BucketNotFound):
            await store.set_versioning("alpha", "Enabled")
    finally:
        await store.close()
    again = SqliteStore(path, sole_writer=True)
    await again.open()
    try:
        assert await again.get_bucket("alpha") is None
        beta = await again.get_bucket("beta")
        assert (
            beta is not None
            and beta.versioning == "Enabled"
            and beta.region == "eu-west-1"
        )
    finally:
        await again.close()


# --- point reads on the event loop ---------------------------------------------


async def test_point_reads_need_no_connection_thread(
    store: SqliteStore, thread_calls: list[str]
) -> None:
    await store.create_bucket(Bucket("b", "o", 1.0, "r"))
    await store.put_object(obj("k", "v1"))
    await store.create_upload(Upload("u1", "b", "k", 1.0, "o"))
    await store.add_user(User("alice", "AKALICE", b"secret", 1.0))
    calls = thread_calls
    calls.clear()  # counted from here on
    got = await store.get_object("b", "k")
    assert got is not None and got.version_id == "v1"
    assert (await store.get_object("b", "k", "v1")) == got
    assert await store.get_object("b", "absent") is None
    upload = await store.get_upload("u1")
    assert upload is not None and upload.key == "k"
    user = await store.user_by_access_key("AKALICE")
    assert user is not None and user.name == "alice"
    bucket = await store.get_bucket("b")
    assert bucket is not None and bucket.owner == "o"
    assert calls == []
    # A commit is seen by the very next point read.
    await store.put_object(obj("k", "v2"))
    assert (await store.get_object("b", "k")).version_id == "v2"  # type: ignore[union-attr]
    assert store.point_reads_deferred == 0


class _BusyOnce(sqlite3.Connection):
    """A connection whose first statement finds the database locked, as a
    reader does while another process recovers the WAL."""

    refused = 0

    def execute(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:  # type: ignore[override]
        if _BusyOnce.refused == 0:
            _BusyOnce.refused += 1
            error = sqlite3.OperationalError("database is locked")
            error.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
            raise error
        return super().execute(*args, **kwargs)


async def test_a_busy_point_read_waits_on_a_reader_thread_not_the_loop(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch, thread_calls: list[str]
) -> None:
    await store.create_bucket(Bucket("b", "o", 1.0, "r"))
    await store.put_object(obj("k", "v1"))
    loop_conn = store._loop_conn
    assert loop_conn is not None
    busy = sqlite3.connect(store.path, isolation_level=None, factory=_BusyOnce)
    monkeypatch.setattr(store, "_loop_conn", busy)
    calls = thread_calls
    calls.clear()  # counted from here on
    try:
        got = await store.get_object("b", "k")
        assert got is not None and got.version_id == "v1"
        assert store.point_reads_deferred == 1
        assert len(calls) == 1 and calls[0].startswith("metadata-reader")
        calls.clear()
        assert (await store.get_object("b", "k")) == got  # on the loop again
        assert calls == []
    finally:
        busy.close()
