"""The MetadataStore contract: every backend must pass these tests.

Backends are the ``store`` fixture's parameters; a new backend adds one entry
to BACKENDS. Listings are checked against brute-force references computed
here from the data the test wrote.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from metadata.errors import (
    BucketExists,
    BucketNotEmpty,
    BucketNotFound,
    ConditionFailed,
    KeyNotFound,
    UploadNotFound,
    UserExists,
    UserNotFound,
)
from metadata.model import Bucket, Intent, ObjectVersion, Part, Upload, User
from metadata.postgres_store import PostgresStore
from metadata.sqlite_store import SqliteStore
from metadata.store import MetadataStore
from tests.postgres_dsn import fresh_schema

GRACE = 60.0


@asynccontextmanager
async def opened(store: MetadataStore) -> AsyncIterator[MetadataStore]:
    """``store``, open for the test and closed after it."""
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def postgres_backend(_: Path) -> AsyncIterator[MetadataStore]:
    """A Postgres store in a fresh schema, dropped after the test (skipped,
    or failed under CI=true, when no server answers)."""
    async with fresh_schema("objectd_contract") as (dsn, schema):
        async with opened(PostgresStore(dsn, garbage_grace=GRACE, schema=schema)) as store:
            yield store


# Each backend: a function of the test's tmp_path giving the open store for
# the duration of a test.
BACKENDS: dict[str, Callable[[Path], AbstractAsyncContextManager[MetadataStore]]] = {
    "sqlite": lambda tmp: opened(SqliteStore(str(tmp / "meta.db"), garbage_grace=GRACE)),
    # The embedded server's configuration: bucket rows served from memory.
    "sqlite-sole-writer": lambda tmp: opened(
        SqliteStore(str(tmp / "meta.db"), garbage_grace=GRACE, sole_writer=True)
    ),
    "postgres": postgres_backend,
}


@pytest.fixture(params=sorted(BACKENDS))
async def store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[MetadataStore]:
    async with BACKENDS[request.param](tmp_path) as backend:
        yield backend


def utf8(s: str) -> bytes:
    return s.encode("utf-8")


_counter = 0


def version(
    key: str,
    bucket: str = "b",
    *,
    vid: str | None = None,
    manifest: bytes | None = None,
    **kw: object,
) -> ObjectVersion:
    """A version with unique id and manifest unless given."""
    global _counter
    _counter += 1
    return ObjectVersion(
        bucket=bucket,
        key=key,
        version_id=vid or f"v{_counter:06}",
        size=kw.pop("size", 3),  # type: ignore[arg-type]
        etag=kw.pop("etag", f"etag{_counter}"),  # type: ignore[arg-type]
        last_modified=kw.pop("last_modified", 1000.0 + _counter),  # type: ignore[arg-type]
        manifest=manifest if manifest is not None else f"m-{_counter}".encode(),
        **kw,  # type: ignore[arg-type]
    )


def marker(key: str, bucket: str = "b") -> ObjectVersion:
    return version(key, bucket, manifest=b"", is_delete_marker=True, etag="", size=0)


async def make_bucket(
    store: MetadataStore, name: str = "b", versioning: str = ""
) -> None:
    await store.create_bucket(Bucket(name, "owner", 1.0, "us-east-1", versioning))


async def garbage_manifests(store: MetadataStore) -> list[bytes]:
    return [
        g.manifest for g in await store.due_garbage(time.time() + GRACE + 3600, 100_000)
    ]


async def outcome(awaitable: object) -> object:
    """The awaitable's result, or the exception it raised."""
    try:
        return await awaitable  # type: ignore[misc]
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        return exc


# --- users -------------------------------------------------------------------


async def test_users(store: MetadataStore) -> None:
    alice1 = User("alice", "AK1", b"secret-1", 1.5)
    alice2 = User("alice", "AK0", b"secret-2", 2.5)
    bob = User("bob", "AK2", b"\x00\xffbin", 3.5)
    for user in (bob, alice1, alice2):
        await store.add_user(user)
    assert await store.user_by_access_key("AK1") == alice1
    assert await store.user_by_access_key("AK2") == bob
    assert await store.user_by_access_key("nope") is None
    assert await store.list_users() == [alice2, alice1, bob]
    with pytest.raises(UserExists):
        await store.add_user(User("carol", "AK1", b"x", 4.0))
    assert await store.user_by_access_key("AK1") == alice1

    await store.remove_access_key("AK1")
    assert await store.user_by_access_key("AK1") is None
    with pytest.raises(UserNotFound):
        await store.remove_access_key("AK1")
    await store.remove_user("alice")
    assert await store.list_users() == [bob]
    with pytest.raises(UserNotFound):
        await store.remove_user("alice")


# --- buckets -----------------------------------------------------------------


async def test_buckets(store: MetadataStore) -> None:
    b2 = Bucket("zeta", "u1", 2.0, "eu-west-1")
    b1 = Bucket("alpha", "u2", 1.0, "us-east-1", "Enabled")
    b3 = Bucket("mid", "u1", 3.0, "us-east-1")
    for b in (b2, b1, b3):
        await store.create_bucket(b)
    assert await store.get_bucket("alpha") == b1
    assert await store.get_bucket("missing") is None
    assert await store.list_buckets(None) == [b1, b3, b2]
    assert await store.list_buckets("u1") == [b3, b2]
    assert await store.list_buckets("nobody") == []
    with pytest.raises(BucketExists) as info:
        await store.create_bucket(Bucket("alpha", "u1", 9.0, "us-east-1"))
    assert info.value.owner == "u2"

    await store.set_versioning("zeta", "Enabled")
    assert (await store.get_bucket("zeta")).versioning == "Enabled"  # type: ignore[union-attr]
    await store.set_versioning("zeta", "Suspended")
    assert (await store.get_bucket("zeta")).versioning == "Suspended"  # type: ignore[union-attr]
    with pytest.raises(BucketNotFound):
        await store.set_versioning("missing", "Enabled")
    with pytest.raises(ValueError):
        await store.set_versioning("zeta", "enabled")

    await store.delete_bucket("mid")
    assert await store.get_bucket("mid") is None
    with pytest.raises(BucketNotFound):
        await store.delete_bucket("mid")


async def test_delete_bucket_refuses_versions_and_uploads(store: MetadataStore) -> None:
    await make_bucket(store, "b", "Enabled")
    await store.put_object(version("k"))
    await store.put_object(marker("k"))
    with pytest.raises(BucketNotEmpty):
        await store.delete_bucket("b")
    # a delete marker alone still keeps the bucket non-empty
    first = await store.list_object_versions("b", "", "", "", "", 10)
    await store.delete_object("b", "k", first.versions[1].version_id)
    with pytest.raises(BucketNotEmpty):
        await store.delete_bucket("b")
    await store.delete_object("b", "k", first.versions[0].version_id)

    await store.create_upload(Upload("up1", "b", "k", 1.0, "owner"))
    with pytest.raises(BucketNotEmpty):
        await store.delete_bucket("b")
    await store.abort_upload("up1")
    await store.delete_bucket("b")
    assert await store.get_bucket("b") is None


# --- objects -----------------------------------------------------------------


async def test_put_get_round_trip_keeps_every_field(store: MetadataStore) -> None:
    await make_bucket(store)
    key = "dir/ünïcödé \U0001f600 key"
    v = ObjectVersion(
        bucket="b",
        key=key,
        version_id="vid-1",
        size=123456789012,
        etag='"abc-3"',
        last_modified=1700000000.25,
        manifest=bytes(range(256)) * 4,
        owner="owner-1",
        headers={"content-type": "text/plain", "cache-control": "no-cache"},
        user_metadata={"colour": "blüe", "n": "1"},
        checksum={"algorithm": "CRC32C", "value": "AAAAAA==", "type": "COMPOSITE"},
        part_sizes=(5 << 20, 5 << 20, 7),
        storage_class="STANDARD_IA",
    )
    await store.put_object(v)
    got = await store.get_object("b", key)
    assert got == replace(v, null_version=True, is_latest=True)
    assert await store.get_object("b", key, "vid-1") == got
    assert await store.get_object("b", key, "other") is None
    assert await store.get_object("b", "missing") is None
    assert await store.get_object("other-bucket", key) is None


async def test_longest_key_is_stored_whole(store: MetadataStore) -> None:
    await make_bucket(store)
    key = "é" * 512  # 1024 UTF-8 bytes
    assert len(utf8(key)) == 1024
    await store.put_object(version(key))
    got = await store.get_object("b", key)
    assert got is not None and got.key == key
    listing = await store.list_objects("b", "é" * 511, "", "", 10)
    assert [o.key for o in listing.objects] == [key]


async def test_put_into_missing_bucket_fails(store: MetadataStore) -> None:
    with pytest.raises(BucketNotFound):
        await store.put_object(version("k", "nobucket"))
    with pytest.raises(BucketNotFound):
        await store.create_upload(Upload("u", "nobucket", "k", 1.0, "o"))
    with pytest.raises(BucketNotFound):
        await store.delete_object("nobucket", "k")


async def test_unversioned_overwrite_replaces_and_sends_old_data_to_garbage(
    store: MetadataStore,
) -> None:
    await make_bucket(store)
    old = version("k", manifest=b"old")
    new = version("k", manifest=b"new")
    await store.put_object(old)
    before = time.time()
    await store.put_object(new)
    after = time.time()
    assert (await store.get_object("b", "k")).version_id == new.version_id  # type: ignore[union-attr]
    assert await store.get_object("b", "k", old.version_id) is None
    listing = await store.list_object_versions("b", "", "", "", "", 10)
    assert [v.version_id for v in listing.versions] == [new.version_id]
    # due after the grace period, not before
    assert await store.due_garbage(before + GRACE - 1, 10) == []
    due = await store.due_garbage(after + GRACE + 1, 10)
    assert [g.manifest for g in due] == [b"old"]
    assert before + GRACE <= due[0].due <= after + GRACE


async def test_enabled_versioning_keeps_versions_and_flips_latest(
    store: MetadataStore,
) -> None:
    await make_bucket(store, versioning="Enabled")
    v1, v2, v3 = version("k"), version("k"), version("k")
    for v in (v1, v2, v3):
        await store.put_object(v)
    listing = await store.list_object_versions("b", "", "", "", "", 10)
    assert [(v.version_id, v.is_latest, v.null_version) for v in listing.versions] == [
        (v3.version_id, True, False),
        (v2.version_id, False, False),
        (v1.version_id, False, False),
    ]
    assert (await store.get_object("b", "k")).version_id == v3.version_id  # type: ignore[union-attr]
    got = await store.get_object("b", "k", v1.version_id)
    assert got is not None and not got.is_latest and got.manifest == v1.manifest
    assert await garbage_manifests(store) == []

    # removing the latest promotes the next newest
    removed = await store.delete_object("b", "k", v3.version_id)
    assert removed is not None and removed.version_id == v3.version_id
    assert await garbage_manifests(store) == [v3.manifest]
    current = await store.get_object("b", "k")
    assert (
        current is not None
        and current.version_id == v2.version_id
        and current.is_latest
    )
    # removing an older version leaves the latest alone
    await store.delete_object("b", "k", v1.version_id)
    listing = await store.list_object_versions("b", "", "", "", "", 10)
    assert [(v.version_id, v.is_latest) for v in listing.versions] == [
        (v2.version_id, True)
    ]
    assert await store.delete_object("b", "k", "no-such-version") is None


async def test_suspended_versioning_replaces_only_the_null_version(
    store: MetadataStore,
) -> None:
    await make_bucket(store)
    n1 = version("k", manifest=b"n1")
    await store.put_object(n1)  # null version, written while unversioned
    await store.set_versioning("b", "Enabled")
    e1 = version("k", manifest=b"e1")
    await store.put_object(e1)
    await store.set_versioning("b", "Suspended")
    n2 = version("k", manifest=b"n2")
    await store.put_object(n2)
    listing = await store.list_object_versions("b", "", "", "", "", 10)
    assert [(v.version_id, v.null_version, v.is_latest) for v in listing.versions] == [
        (n2.version_id, True, True),
        (e1.version_id, False, False),
    ]
    assert await garbage_manifests(store) == [b"n1"]
    # "null" names the null version
    got = await store.get_object("b", "k", "null")
    assert got is not None and got.version_id == n2.version_id
    # a delete marker in a suspended bucket replaces the null version too
    await store.put_object(marker("k"))
    listing = await store.list_object_versions("b", "", "", "", "", 10)
    assert [(v.is_delete_marker, v.null_version) for v in listing.versions] == [
        (True, True),
        (False, False),
    ]
    assert sorted(await garbage_manifests(store)) == [b"n1", b"n2"]
    removed = await store.delete_object("b", "k", "null")
    assert removed is not None and removed.is_delete_marker
    current = await store.get_object("b", "k")
    assert (
        current is not None
        and current.version_id == e1.version_id
        and current.is_latest
    )
    assert await store.get_object("b", "k", "null") is None


async def test_delete_markers_hide_keys_from_listing(store: MetadataStore) -> None:
    await make_bucket(store, versioning="Enabled")
    v = version("gone")
    await store.put_object(v)
    await store.put_object(version("kept"))
    dm = marker("gone")
    await store.put_object(dm)
    current = await store.get_object("b", "gone")
    assert current is not None and current.is_delete_marker and current.is_latest
    listing = await store.list_objects("b", "", "", "", 10)
    assert [o.key for o in listing.objects] == ["kept"]
    # a group made only of hidden keys is not a common prefix
    await store.put_object(version("d/x"))
    await store.put_object(marker("d/x"))
    listing = await store.list_objects("b", "", "/", "", 10)
    assert listing.common_prefixes == []
    # removing the marker brings the object back; a marker has no garbage
    await store.delete_object("b", "gone", dm.version_id)
    assert await garbage_manifests(store) == []
    assert [o.key for o in (await store.list_objects("b", "", "", "", 10)).objects] == [
        "gone",
        "kept",
    ]


async def test_delete_object_on_unversioned_bucket(store: MetadataStore) -> None:
    await make_bucket(store)
    v = version("k")
    await store.put_object(v)
    removed = await store.delete_object("b", "k")
    assert removed is not None and removed.version_id == v.version_id
    assert removed.manifest == v.manifest
    assert await store.get_object("b", "k") is None
    assert await garbage_manifests(store) == [v.manifest]
    assert await store.delete_object("b", "k") is None
    assert (await store.list_objects("b", "", "", "", 10)).objects == []


async def test_if_none_match_star(store: MetadataStore) -> None:
    await make_bucket(store, versioning="Enabled")
    first = version("k")
    await store.put_object(first, if_none_match_star=True)
    with pytest.raises(ConditionFailed):
        await store.put_object(version("k"), if_none_match_star=True)
    assert (await store.get_object("b", "k")).version_id == first.version_id  # type: ignore[union-attr]
    # a delete marker as current version means the key does not exist
    await store.put_object(marker("k"))
    again = version("k")
    await store.put_object(again, if_none_match_star=True)
    assert (await store.get_object("b", "k")).version_id == again.version_id  # type: ignore[union-attr]


async def test_if_match(store: MetadataStore) -> None:
    await make_bucket(store)
    with pytest.raises(KeyNotFound):
        await store.put_object(version("k"), if_match='"x"')
    first = version("k", etag="abc")
    await store.put_object(first)
    with pytest.raises(ConditionFailed):
        await store.put_object(version("k", manifest=b"loser"), if_match='"other"')
    assert await garbage_manifests(store) == []  # the failed write changed nothing
    second = version("k", etag="def")
    await store.put_object(second, if_match='"abc"')  # quotes do not matter
    third = version("k")
    await store.put_object(third, if_match="def")
    current = await store.get_object("b", "k")
    assert current is not None and current.version_id == third.version_id


async def test_put_object_removes_its_intent(store: MetadataStore) -> None:
    await make_bucket(store)
    await store.add_intent(Intent("s1", b"frags", 10.0))
    await store.add_intent(Intent("s2", b"frags2", 10.0))
    await store.put_object(version("k"), intent="s1")
    assert [i.stream_id for i in await store.expired_intents(100.0, 10)] == ["s2"]
    # a failed write keeps its intent
    with pytest.raises(ConditionFailed):
        await store.put_object(version("k"), if_none_match_star=True, intent="s2")
    assert [i.stream_id for i in await store.expired_intents(100.0, 10)] == ["s2"]


# --- multipart ---------------------------------------------------------------


def part(upload_id: str, number: int, manifest: bytes, **kw: object) -> Part:
    return Part(
        upload_id=upload_id,
        part_number=number,
        size=kw.pop("size", 5),  # type: ignore[arg-type]
        etag=kw.pop("etag", f"e{number}"),  # type: ignore[arg-type]
        last_modified=kw.pop("last_modified", 7.0),  # type: ignore[arg-type]
        manifest=manifest,
        **kw,  # type: ignore[arg-type]
    )


async def test_upload_parts_and_complete(store: MetadataStore) -> None:
    await make_bucket(store)
    up = Upload(
        "up-1",
        "b",
        "big",
        12.5,
        "owner",
        headers={"content-type": "video/mp4"},
        user_metadata={"a": "b"},
        checksum_algorithm="SHA256",
        checksum_type="COMPOSITE",
        storage_class="GLACIER_IR",
    )
    await store.create_upload(up)
    assert await store.get_upload("up-1") == up
    assert await store.get_upload("nope") is None
    with pytest.raises(ValueError):
        await store.create_upload(up)

    checksum = {"algorithm": "SHA256", "value": "xyz=", "type": "FULL_OBJECT"}
    p1 = part("up-1", 1, b"p1", checksum=checksum)
    await store.put_part(p1)
    await store.put_part(part("up-1", 2, b"p2-old"))
    await store.put_part(part("up-1", 3, b"p3"))
    await store.put_part(part("up-1", 2, b"p2", size=9))  # re-upload replaces
    assert await garbage_manifests(store) == [b"p2-old"]
    parts, truncated = await store.list_parts("up-1", 0, 10)
    assert [(p.part_number, p.manifest) for p in parts] == [
        (1, b"p1"),
        (2, b"p2"),
        (3, b"p3"),
    ]
    assert parts[0] == p1 and not truncated
    parts, truncated = await store.list_parts("up-1", 0, 2)
    assert [p.part_number for p in parts] == [1, 2] and truncated
    parts, truncated = await store.list_parts("up-1", 2, 2)
    assert [p.part_number for p in parts] == [3] and not truncated
    assert [p.part_number for p in await store.get_parts("up-1", [3, 1, 7])] == [1, 3]
    assert await store.get_parts("nope", [1]) == []

    final = version("big", manifest=b"final")
    await store.complete_upload("up-1", final, [1, 3])
    assert await store.get_upload("up-1") is None
    assert (await store.get_object("b", "big")).manifest == b"final"  # type: ignore[union-attr]
    # the part left out is garbage; the parts used are referenced by the object
    assert sorted(await garbage_manifests(store)) == [b"p2", b"p2-old"]
    with pytest.raises(UploadNotFound):
        await store.complete_upload("up-1", version("big"), [1])
    with pytest.raises(UploadNotFound):
        await store.list_parts("up-1", 0, 10)
    with pytest.raises(UploadNotFound):
        await store.put_part(part("up-1", 4, b"late"))


async def test_list_parts_of_an_upload_without_parts(store: MetadataStore) -> None:
    await make_bucket(store)
    await store.create_upload(Upload("u", "b", "k", 1.0, "o"))
    assert await store.list_parts("u", 0, 10) == ([], False)


async def test_complete_upload_replaces_the_previous_object(
    store: MetadataStore,
) -> None:
    await make_bucket(store)
    await store.put_object(version("k", manifest=b"before"))
    await store.create_upload(Upload("u", "b", "k", 1.0, "o"))
    await store.put_part(part("u", 1, b"p1"))
    with pytest.raises(ConditionFailed):
        await store.complete_upload("u", version("k"), [1], if_none_match_star=True)
    with pytest.raises(ConditionFailed):
        await store.complete_upload("u", version("k"), [1], if_match="nope")
    assert (
        await store.get_upload("u") is not None
    )  # a failed condition keeps the upload
    await store.complete_upload("u", version("k", manifest=b"after"), [1])
    assert (await store.get_object("b", "k")).manifest == b"after"  # type: ignore[union-attr]
    assert await garbage_manifests(store) == [b"before"]


async def test_abort_upload(store: MetadataStore) -> None:
    await make_bucket(store)
    await store.create_upload(Upload("u", "b", "k", 1.0, "o"))
    await store.put_part(part("u", 1, b"a"))
    await store.put_part(part("u", 2, b"b"))
    await store.abort_upload("u")
    assert sorted(await garbage_manifests(store)) == [b"a", b"b"]
    assert await store.get_upload("u") is None
    with pytest.raises(UploadNotFound):
        await store.abort_upload("u")


async def test_put_part_removes_its_intent_only_on_success(
    store: MetadataStore,
) -> None:
    await make_bucket(store)
    await store.create_upload(Upload("u", "b", "k", 1.0, "o"))
    await store.add_intent(Intent("s1", b"x", 5.0))
    await store.add_intent(Intent("s2", b"y", 6.0))
    await store.put_part(part("u", 1, b"p"), intent="s1")
    with pytest.raises(UploadNotFound):
        await store.put_part(part("gone", 1, b"q"), intent="s2")
    assert [i.stream_id for i in await store.expired_intents(100.0, 10)] == ["s2"]


# --- garbage and intents -------------------------------------------------------


async def test_intents(store: MetadataStore) -> None:
    await store.add_intent(Intent("late", b"m-late", 30.0))
    await store.add_intent(Intent("early", b"m-early", 10.0))
    await store.add_intent(Intent("mid", b"m-mid", 20.0))
    with pytest.raises(ValueError):
        await store.add_intent(Intent("mid", b"other", 1.0))
    assert await store.expired_intents(5.0, 10) == []
    assert await store.expired_intents(25.0, 10) == [
        Intent("early", b"m-early", 10.0),
        Intent("mid", b"m-mid", 20.0),
    ]
    assert [i.stream_id for i in await store.expired_intents(100.0, 1)] == ["early"]
    await store.drop_intent("early", to_garbage=False)
    await store.drop_intent("mid", to_garbage=True)
    await store.drop_intent("never-existed", to_garbage=True)
    assert [i.stream_id for i in await store.expired_intents(100.0, 10)] == ["late"]
    assert await garbage_manifests(store) == [b"m-mid"]


async def test_garbage(store: MetadataStore) -> None:
    await store.add_garbage([b"c1", b"c2"], 30.0)
    await store.add_garbage([b"a"], 10.0)
    await store.add_garbage([], 1.0)
    await store.add_garbage([b"b"], 20.0)
    assert await store.due_garbage(5.0, 10) == []
    due = await store.due_garbage(30.0, 10)
    assert [(g.manifest, g.due) for g in due] == [
        (b"a", 10.0),
        (b"b", 20.0),
        (b"c1", 30.0),
        (b"c2", 30.0),
    ]
    assert len({g.id for g in due}) == 4
    assert [g.manifest for g in await store.due_garbage(30.0, 2)] == [b"a", b"b"]
    await store.remove_garbage([due[0].id, due[2].id])
    await store.remove_garbage([])
    assert [g.manifest for g in await store.due_garbage(30.0, 10)] == [b"b", b"c2"]
    await store.add_garbage([b"d"], 1.0)
    ids = [g.id for g in await store.due_garbage(30.0, 10)]
    assert len(set(ids)) == 3 and due[0].id not in ids and due[2].id not in ids


# --- concurrency ----------------------------------------------------------------


async def test_concurrent_completes_of_one_upload_one_wins(
    store: MetadataStore,
) -> None:
    await make_bucket(store)
    for round_ in range(5):
        uid = f"u{round_}"
        await store.create_upload(Upload(uid, "b", "k", 1.0, "o"))
        await store.put_part(part(uid, 1, f"p{round_}".encode()))
        results = await asyncio.gather(
            *(outcome(store.complete_upload(uid, version("k"), [1])) for _ in range(3))
        )
        assert sum(r is None for r in results) == 1
        assert all(isinstance(r, UploadNotFound) for r in results if r is not None)


async def test_part_racing_abort_is_never_left_unreferenced(
    store: MetadataStore,
) -> None:
    await make_bucket(store)
    for round_ in range(6):
        uid = f"u{round_}"
        await store.create_upload(Upload(uid, "b", "k", 1.0, "o"))
        manifest = f"part-{round_}".encode()
        put = outcome(store.put_part(part(uid, 1, manifest)))
        abort = outcome(store.abort_upload(uid))
        if round_ % 2:
            abort_result, put_result = await asyncio.gather(abort, put)
        else:
            put_result, abort_result = await asyncio.gather(put, abort)
        assert abort_result is None
        # either the abort sent the part to garbage, or the part was refused
        # (and its writer must discard the data)
        in_garbage = manifest in await garbage_manifests(store)
        assert in_garbage == (put_result is None)
        if put_result is not None:
            assert isinstance(put_result, UploadNotFound)


async def test_put_racing_delete_bucket_never_leaves_an_object_behind(
    store: MetadataStore,
) -> None:
    for round_ in range(6):
        name = f"race{round_}"
        await make_bucket(store, name)
        ops = [store.put_object(version("k", name)), store.delete_bucket(name)]
        if round_ % 2:
            ops.reverse()
        results = await asyncio.gather(*(outcome(op) for op in ops))
        bucket = await store.get_bucket(name)
        obj = await store.get_object(name, "k")
        if bucket is None:
            assert obj is None
            assert any(isinstance(r, BucketNotFound) for r in results)
        else:
            assert obj is not None
            assert any(isinstance(r, BucketNotEmpty) for r in results)
        # a re-created bucket of that name starts empty
        if bucket is None:
            await make_bucket(store, name)
            assert (
                await store.list_object_versions(name, "", "", "", "", 10)
            ).versions == []


async def test_conditional_puts_race_one_wins(store: MetadataStore) -> None:
    await make_bucket(store)
    candidates = [version("k") for _ in range(4)]
    results = await asyncio.gather(
        *(outcome(store.put_object(v, if_none_match_star=True)) for v in candidates)
    )
    winners = [v for v, r in zip(candidates, results) if r is None]
    assert len(winners) == 1
    assert all(isinstance(r, ConditionFailed) for r in results if r is not None)
    current = await store.get_object("b", "k")
    assert current is not None and current.version_id == winners[0].version_id


async def test_one_failing_call_does_not_affect_concurrent_calls(
    store: MetadataStore,
) -> None:
    await make_bucket(store)
    await make_bucket(store, "taken")
    await store.put_object(version("cond", etag="real"))
    ok_a, ok_b, ok_c = version("a"), version("b/c"), version("d")
    results = await asyncio.gather(
        outcome(store.put_object(ok_a)),
        outcome(store.put_object(version("cond"), if_match="wrong")),
        outcome(store.put_object(ok_b)),
        outcome(store.create_bucket(Bucket("taken", "x", 1.0, "r"))),
        outcome(store.put_object(version("x", "nobucket"))),
        outcome(store.abort_upload("nope")),
        outcome(store.put_object(ok_c)),
        outcome(store.add_user(User("u", "AK", b"s", 1.0))),
    )
    assert [type(r).__name__ for r in results] == [
        "NoneType",
        "ConditionFailed",
        "NoneType",
        "BucketExists",
        "BucketNotFound",
        "UploadNotFound",
        "NoneType",
        "NoneType",
    ]
    listing = await store.list_objects("b", "", "", "", 10)
    assert [o.version_id for o in listing.objects] == [
        ok_a.version_id,
        ok_b.version_id,
        (await store.get_object("b", "cond")).version_id,  # type: ignore[union-attr]
        ok_c.version_id,
    ]
    assert (await store.get_object("b", "cond")).etag == "real"  # type: ignore[union-attr]
    assert await store.user_by_access_key("AK") is not None


# --- listings -----------------------------------------------------------------

SEGMENTS = [
    "a",
    "b",
    "a0",
    "ab",
    "é",
    "\uffff",
    "\U00010000",
    "\ue000",
    "x y",
    "~",
    "\x7f",
    "日本",
    "-",
]
EDGE_KEYS = [
    "a",
    "a/",
    "a0",
    "a/b",
    "a//b",
    "a/b/",
    "ab",
    "\uffff",
    "\U00010000",
    "\ue000",
    "\uffff/x",
    "\U00010000/x",
    "é/é",
    "ééé",
    "b/",
    "b//",
]
PREFIXES = ["", "a", "a/", "é", "\uffff", "\U00010000", "b/", "x y/", "zz", "a//"]
DELIMITERS = ["", "/", "//", "é", "b", "\U00010000", "a/"]


def random_keys(rng: random.Random, count: int) -> list[str]:
    keys = set(EDGE_KEYS)
    while len(keys) < count:
        parts = [rng.choice(SEGMENTS) for _ in range(rng.randint(1, 4))]
        seps = [rng.choice(["/", "/", "//", "", "é/"]) for _ in parts[1:]]
        key = parts[0] + "".join(s + p for s, p in zip(seps, parts[1:]))
        if rng.random() < 0.1:
            key += "/"
        keys.add(key)
    return sorted(keys, key=utf8)


def group_of(key: str, prefix: str, delimiter: str) -> str | None:
    if not delimiter:
        return None
    at = key.find(delimiter, len(prefix))
    return None if at < 0 else key[: at + len(delimiter)]


def reference_entries(
    rows: list[tuple[str, str]],
    prefix: str,
    delimiter: str,
    key_marker: str,
    skip: Callable[[tuple[str, str]], bool],
) -> list[tuple[str, object]]:
    """Brute force: ("row", row) and ("prefix", cp) entries after the marker.

    ``rows`` are (key, id) in listing order; ``skip`` says whether a row lies
    at or before the marker position. A common prefix is listed once, only
    if it sorts after ``key_marker``.
    """
    out: list[tuple[str, object]] = []
    seen: set[str] = set()
    for row in rows:
        key = row[0]
        if not key.startswith(prefix) or skip(row):
            continue
        cp = group_of(key, prefix, delimiter)
        if cp is not None:
            if utf8(cp) > utf8(key_marker) and cp not in seen:
                seen.add(cp)
                out.append(("prefix", cp))
            continue
        out.append(("row", row))
    return out


@dataclass
class VersionedData:
    """What the test wrote: per key, (version id, is delete marker), newest first."""

    versions: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)

    def latest_rows(self) -> list[tuple[str, str]]:
        return [
            (k, vs[0][0])
            for k, vs in sorted(self.versions.items(), key=lambda kv: utf8(kv[0]))
            if vs and not vs[0][1]
        ]

    def all_rows(self) -> list[tuple[str, str]]:
        return [
            (k, vid)
            for k, vs in sorted(self.versions.items(), key=lambda kv: utf8(kv[0]))
            for vid, _ in vs
        ]


async def build_versioned_bucket(
    store: MetadataStore, rng: random.Random, count: int
) -> VersionedData:
    """Null versions, newer versions, delete markers and removed versions."""
    data = VersionedData()
    await make_bucket(store)
    keys = random_keys(rng, count)

    async def put_all(items: list[ObjectVersion]) -> None:
        await asyncio.gather(*(store.put_object(v) for v in items))
        for v in items:
            data.versions.setdefault(v.key, []).insert(
                0, (v.version_id, v.is_delete_marker)
            )

    await put_all([version(k) for k in keys])
    await store.set_versioning("b", "Enabled")
    await put_all([version(k) for k in keys if rng.random() < 0.4])
    await put_all([marker(k) for k in keys if rng.random() < 0.15])
    await put_all([version(k) for k in keys if rng.random() < 0.1])
    # remove some latest versions, promoting older ones
    doomed = [k for k in keys if len(data.versions[k]) > 1 and rng.random() < 0.2]
    await asyncio.gather(
        *(store.delete_object("b", k, data.versions[k][0][0]) for k in doomed)
    )
    for k in doomed:
        data.versions[k].pop(0)
    return data


def at_or_before(marker: str) -> Callable[[tuple[str, str]], bool]:
    """Whether a row's key is at or before ``marker`` (S3's exclusive marker)."""
    return lambda row: utf8(row[0]) <= utf8(marker)


def split(entries: list[tuple[str, object]]) -> tuple[list[object], list[object]]:
    """Rows and common prefixes of a listing, each in listing order."""
    return [v for k, v in entries if k == "row"], [
        v for k, v in entries if k == "prefix"
    ]


def check_objects_page(
    listing: object, expected: list[tuple[str, object]], max_keys: int
) -> None:
    page = expected[:max_keys]
    assert [(o.key, o.version_id) for o in listing.objects] == [  # type: ignore[attr-defined]
        v for kind, v in page if kind == "row"
    ]
    assert listing.common_prefixes == [v for kind, v in page if kind == "prefix"]  # type: ignore[attr-defined]
    truncated = len(expected) > max_keys > 0
    assert listing.is_truncated == truncated  # type: ignore[attr-defined]
    if truncated:
        kind, last = page[-1]
        assert listing.next_marker == (last if kind == "prefix" else last[0])  # type: ignore[attr-defined,index]
    else:
        assert listing.next_marker is None  # type: ignore[attr-defined]


async def test_list_objects_pages_stitch_to_the_brute_force_listing(
    store: MetadataStore,
) -> None:
    rng = random.Random(7)
    data = await build_versioned_bucket(store, rng, 300)
    rows = data.latest_rows()
    keys = [k for k, _ in rows]
    # the data set must tell UTF-8 order from UTF-16 order
    assert sorted(keys, key=utf8) != sorted(keys, key=lambda k: k.encode("utf-16-be"))
    for prefix in PREFIXES:
        for delimiter in DELIMITERS:
            full = reference_entries(rows, prefix, delimiter, "", lambda r: False)
            for max_keys in (1, 4, 1000):
                if max_keys == 1 and len(full) > 60:
                    continue  # long single-entry walks are covered by max_keys 4
                stitched: list[tuple[str, object]] = []
                start_after = ""
                for _ in range(len(full) + 2):
                    listing = await store.list_objects(
                        "b", prefix, delimiter, start_after, max_keys
                    )
                    expected = reference_entries(
                        rows,
                        prefix,
                        delimiter,
                        start_after,
                        at_or_before(start_after),
                    )
                    check_objects_page(listing, expected, max_keys)
                    stitched += [
                        ("row", (o.key, o.version_id)) for o in listing.objects
                    ]
                    stitched += [("prefix", cp) for cp in listing.common_prefixes]
                    if not listing.is_truncated:
                        break
                    assert listing.next_marker is not None
                    start_after = listing.next_marker
                else:
                    pytest.fail("pagination did not end")
                assert split(stitched) == split(full)


async def test_list_objects_with_arbitrary_start_after(store: MetadataStore) -> None:
    rng = random.Random(11)
    data = await build_versioned_bucket(store, rng, 200)
    rows = data.latest_rows()
    keys = [k for k, _ in rows]
    candidates = (
        keys + [k[:n] for k in keys for n in (1, 2)] + ["", "a/", "b/", "\U0010ffff"]
    )
    for _ in range(150):
        prefix = rng.choice(PREFIXES)
        delimiter = rng.choice(DELIMITERS)
        start_after = rng.choice(candidates)
        max_keys = rng.choice([0, 1, 3, 10, 1000])
        listing = await store.list_objects(
            "b", prefix, delimiter, start_after, max_keys
        )
        expected = reference_entries(
            rows,
            prefix,
            delimiter,
            start_after,
            at_or_before(start_after),
        )
        check_objects_page(listing, expected, max_keys)


async def test_list_objects_max_keys_zero_is_empty_and_not_truncated(
    store: MetadataStore,
) -> None:
    await make_bucket(store)
    await store.put_object(version("k"))
    listing = await store.list_objects("b", "", "/", "", 0)
    assert (listing.objects, listing.common_prefixes, listing.is_truncated) == (
        [],
        [],
        False,
    )


async def test_list_objects_in_utf8_byte_order(store: MetadataStore) -> None:
    await make_bucket(store)
    keys = ["\U00010000", "\uffff", "\ue000", "a0", "a/", "a", "é", "z", "\x7f", "A"]
    await asyncio.gather(*(store.put_object(version(k)) for k in keys))
    listing = await store.list_objects("b", "", "", "", 100)
    listed = [o.key for o in listing.objects]
    assert listed == [
        "A",
        "a",
        "a/",
        "a0",
        "z",
        "\x7f",
        "é",
        "\ue000",
        "\uffff",
        "\U00010000",
    ]
    assert listed != sorted(keys, key=lambda k: k.encode("utf-16-be"))


async def test_list_object_versions_pages_match_brute_force(
    store: MetadataStore,
) -> None:
    rng = random.Random(5)
    data = await build_versioned_bucket(store, rng, 150)
    rows = data.all_rows()
    markers = {vid for vs in data.versions.values() for vid, m in vs if m}
    latest = {vs[0][0] for vs in data.versions.values()}
    index = {row: i for i, row in enumerate(rows)}

    def skip_for(key_marker: str, vid_marker: str) -> Callable[[tuple[str, str]], bool]:
        pos = index.get((key_marker, vid_marker)) if key_marker and vid_marker else None
        if pos is None:
            return lambda r: utf8(r[0]) <= utf8(key_marker)
        return lambda r: (
            utf8(r[0]) < utf8(key_marker) or (r[0] == key_marker and index[r] <= pos)
        )

    def check(
        listing: object, expected: list[tuple[str, object]], max_keys: int
    ) -> None:
        page = expected[:max_keys]
        assert [
            (v.key, v.version_id, v.is_delete_marker, v.is_latest)
            for v in listing.versions  # type: ignore[attr-defined]
        ] == [
            (r[0], r[1], r[1] in markers, r[1] in latest)  # type: ignore[index]
            for kind, r in page
            if kind == "row"
        ]
        assert listing.common_prefixes == [v for kind, v in page if kind == "prefix"]  # type: ignore[attr-defined]
        truncated = len(expected) > max_keys > 0
        assert listing.is_truncated == truncated  # type: ignore[attr-defined]
        if truncated:
            kind, last = page[-1]
            want = (last, None) if kind == "prefix" else last
            got = (listing.next_key_marker, listing.next_version_id_marker)  # type: ignore[attr-defined]
            assert got == want

    for prefix in ["", "a", "a/", "\uffff", "é"]:
        for delimiter in ["", "/", "é", "//"]:
            full = reference_entries(rows, prefix, delimiter, "", lambda r: False)
            for max_keys in (3, 1000):
                key_marker, vid_marker = "", ""
                stitched: list[tuple[str, object]] = []
                for _ in range(len(full) + 2):
                    listing = await store.list_object_versions(
                        "b", prefix, delimiter, key_marker, vid_marker, max_keys
                    )
                    expected = reference_entries(
                        rows,
                        prefix,
                        delimiter,
                        key_marker,
                        skip_for(key_marker, vid_marker),
                    )
                    check(listing, expected, max_keys)
                    stitched += [
                        ("row", (v.key, v.version_id)) for v in listing.versions
                    ]
                    stitched += [("prefix", cp) for cp in listing.common_prefixes]
                    if not listing.is_truncated:
                        break
                    key_marker = listing.next_key_marker or ""
                    vid_marker = listing.next_version_id_marker or ""
                else:
                    pytest.fail("pagination did not end")
                assert split(stitched) == split(full)

    # arbitrary markers, including version ids that do not exist
    all_keys = list(data.versions)
    for _ in range(100):
        key_marker = rng.choice(all_keys + ["", "a/", "\uffff"])
        vids = [vid for vid, _ in data.versions.get(key_marker, [])]
        vid_marker = rng.choice(vids + ["", "no-such-version"])
        prefix, delimiter = rng.choice(PREFIXES), rng.choice(DELIMITERS)
        max_keys = rng.choice([0, 1, 2, 7, 1000])
        listing = await store.list_object_versions(
            "b", prefix, delimiter, key_marker, vid_marker, max_keys
        )
        expected = reference_entries(
            rows, prefix, delimiter, key_marker, skip_for(key_marker, vid_marker)
        )
        check(listing, expected, max_keys)


async def test_list_uploads_pages_match_brute_force(store: MetadataStore) -> None:
    rng = random.Random(3)
    await make_bucket(store)
    await make_bucket(store, "other")
    keys = random_keys(rng, 60)
    uploads: list[Upload] = []
    for n in range(150):
        key = rng.choice(keys)
        # few distinct times, so that ties fall back to the upload id
        uploads.append(
            Upload(
                f"u{rng.randrange(10**6):06}-{n}",
                "b",
                key,
                rng.choice([1.0, 2.0, 3.0]),
                "o",
            )
        )
    await asyncio.gather(*(store.create_upload(u) for u in uploads))
    await store.create_upload(Upload("elsewhere", "other", keys[0], 1.0, "o"))
    ordered = sorted(
        uploads, key=lambda u: (utf8(u.key), u.initiated, utf8(u.upload_id))
    )
    rows = [(u.key, u.upload_id) for u in ordered]
    index = {row: i for i, row in enumerate(rows)}
    by_id = {u.upload_id: u for u in uploads}

    def skip_for(key_marker: str, id_marker: str) -> Callable[[tuple[str, str]], bool]:
        pos = index.get((key_marker, id_marker)) if key_marker and id_marker else None
        if pos is None:
            return lambda r: utf8(r[0]) <= utf8(key_marker)
        return lambda r: (
            utf8(r[0]) < utf8(key_marker) or (r[0] == key_marker and index[r] <= pos)
        )

    def check(
        listing: object, expected: list[tuple[str, object]], max_uploads: int
    ) -> None:
        page = expected[:max_uploads]
        assert listing.uploads == [by_id[r[1]] for kind, r in page if kind == "row"]  # type: ignore[attr-defined,index]
        assert listing.common_prefixes == [v for kind, v in page if kind == "prefix"]  # type: ignore[attr-defined]
        truncated = len(expected) > max_uploads > 0
        assert listing.is_truncated == truncated  # type: ignore[attr-defined]
        if truncated:
            kind, last = page[-1]
            want = (last, None) if kind == "prefix" else last
            got = (listing.next_key_marker, listing.next_upload_id_marker)  # type: ignore[attr-defined]
            assert got == want

    for prefix in ["", "a", "é"]:
        for delimiter in ["", "/", "é"]:
            full = reference_entries(rows, prefix, delimiter, "", lambda r: False)
            for max_uploads in (2, 1000):
                key_marker, id_marker = "", ""
                stitched: list[tuple[str, object]] = []
                for _ in range(len(full) + 2):
                    listing = await store.list_uploads(
                        "b", prefix, delimiter, key_marker, id_marker, max_uploads
                    )
                    check(
                        listing,
                        reference_entries(
                            rows,
                            prefix,
                            delimiter,
                            key_marker,
                            skip_for(key_marker, id_marker),
                        ),
                        max_uploads,
                    )
                    stitched += [("row", (u.key, u.upload_id)) for u in listing.uploads]
                    stitched += [("prefix", cp) for cp in listing.common_prefixes]
                    if not listing.is_truncated:
                        break
                    key_marker = listing.next_key_marker or ""
                    id_marker = listing.next_upload_id_marker or ""
                else:
                    pytest.fail("pagination did not end")
                assert split(stitched) == split(full)

    for _ in range(60):
        key_marker = rng.choice(keys + [""])
        ids = [r[1] for r in rows if r[0] == key_marker]
        id_marker = rng.choice(ids + ["", "no-such-upload"])
        prefix, delimiter = rng.choice(PREFIXES), rng.choice(DELIMITERS)
        max_uploads = rng.choice([0, 1, 3, 1000])
        listing = await store.list_uploads(
            "b", prefix, delimiter, key_marker, id_marker, max_uploads
        )
        check(
            listing,
            reference_entries(
                rows, prefix, delimiter, key_marker, skip_for(key_marker, id_marker)
            ),
            max_uploads,
        )


async def test_delimiter_listing_reads_rows_per_group_not_per_key(
    store: MetadataStore,
) -> None:
    groups = 20

    async def fill(bucket: str, per_group: int) -> None:
        await make_bucket(store, bucket)
        items = [
            version(f"dir{g:02}/f{i:04}", bucket)
            for g in range(groups)
            for i in range(per_group)
        ]
        items += [version(f"top{t}", bucket) for t in range(3)]
        for start in range(0, len(items), 500):
            await asyncio.gather(
                *(store.put_object(v) for v in items[start : start + 500])
            )

    async def rows_read_by_listing(bucket: str) -> int:
        before = store.rows_read
        listing = await store.list_objects(bucket, "", "/", "", 1000)
        assert listing.common_prefixes == [f"dir{g:02}/" for g in range(groups)]
        assert [o.key for o in listing.objects] == ["top0", "top1", "top2"]
        assert not listing.is_truncated
        return store.rows_read - before

    await fill("small", 5)
    await fill("large", 100)
    small = await rows_read_by_listing("small")
    large = await rows_read_by_listing("large")
    # O(groups): the same rows whatever the group sizes, a few per group
    assert large == small
    assert large <= 4 * (groups + 3)
    # the same holds in the middle of a page sequence
    before = store.rows_read
    listing = await store.list_objects("large", "", "/", "dir05/f0050", 5)
    assert listing.common_prefixes == [f"dir{g:02}/" for g in range(6, 11)]
    assert listing.is_truncated and listing.next_marker == "dir10/"
    assert store.rows_read - before <= 4 * 6


async def test_listings_leave_out_manifests_and_keep_the_rest(store: MetadataStore) -> None:
    # A small object's manifest holds its whole body: listings never read it.
    await make_bucket(store, versioning="Enabled")
    written = version("k", manifest=b"body" * 2000)
    await store.put_object(written)
    (listed,) = (await store.list_objects("b", "", "", "", 10)).objects
    (grouped,) = (await store.list_objects("b", "", "/", "", 10)).objects
    (versioned,) = (await store.list_object_versions("b", "", "", "", "", 10)).versions
    got = await store.get_object("b", "k")
    assert got is not None and got.manifest == written.manifest
    for entry in (listed, grouped, versioned):
        assert entry.manifest == b""
        assert replace(entry, manifest=got.manifest) == got
