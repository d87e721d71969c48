"""Two gateways on one Postgres database racing each other (active-active).

One dev cluster (six storage nodes, two gateways) runs on a fresh database.
Each race fires one request through each gateway from threads released
together by one barrier, several races at a time, many rounds, with bodies
both inline (4 KiB, kept in metadata) and erasure-coded (300 KB, fragments
on the nodes). After every batch the outcome is checked through S3 *and* in
the database: exactly one of the outcomes S3 allows, never a blend of two.

After each test the metadata as a whole is checked once every request has
answered: no current version outside a bucket, one current version per key,
no intent left (an intent is a write in progress: every write clears its own
before it answers, by committing or by turning it into garbage), all garbage
collected, and the nodes holding exactly the fragments that committed
versions and parts reference: nothing leaked, nothing live deleted.

Clients make one attempt per request (no retries), so every answer checked
is the gateway's first.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import asyncpg
import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from objectd.fragment_store import fragment_id
from objectd.manifest import Manifest
from tests.e2e.conftest import remove_bucket, wait_until
from tests.e2e.postgres_instance import fetch_rows
from tests.e2e.server_process import ROOT_ACCESS_KEY, ROOT_SECRET_KEY, ServerProcess
from tests.postgres_dsn import create_database, drop_database

pytestmark = pytest.mark.timeout(240)

SMALL = 4 * 1024  # under the inline threshold: the body lives in the metadata row
LARGE = 300 * 1000  # erasure-coded: fragments on six nodes
SIZE_PAIRS = ((SMALL, SMALL), (LARGE, LARGE), (SMALL, LARGE))
MIN_PART_SIZE = SMALL  # so that two-part uploads stay small (the gateways' setting)
ROUNDS = 30  # rounds of each race
PARALLEL = 4  # races in flight at once (two requests each)
SETTLE_TIMEOUT = 60.0
FRAGMENT_NAME = re.compile(r"[0-9a-f]{32}\.\d\d")


# --- what a request answered ----------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one S3 call answered: its parsed response, or its S3 error code
    and HTTP status."""

    response: dict[str, Any] | None
    code: str = ""
    status: int = 0

    @property
    def ok(self) -> bool:
        """Whether the call succeeded."""
        return self.response is not None

    @property
    def error(self) -> tuple[str, int]:
        """(S3 error code, HTTP status) of a failed call."""
        return self.code, self.status


def outcome_of(call: Callable[[], dict[str, Any]]) -> Outcome:
    """Run ``call``; an S3 error answer is an outcome, anything else propagates."""
    try:
        return Outcome(call())
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return Outcome(None, str(error.get("Code", "")), int(exc.response["ResponseMetadata"]["HTTPStatusCode"]))


def race(calls: Sequence[Callable[[], dict[str, Any]]], timeout: float = 120.0) -> list[Outcome]:
    """Run every call on a thread of its own, all released by one barrier so
    the requests overlap; their outcomes in order. A failure other than an
    S3 error answer (an assertion, a timeout) is raised here."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[Outcome | None] = [None] * len(calls)
    failures: list[BaseException] = []

    def run(index: int, call: Callable[[], dict[str, Any]]) -> None:
        try:
            barrier.wait(timeout)
            outcomes[index] = outcome_of(call)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the caller's thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i, c), daemon=True) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if failures:
        raise failures[0]
    assert all(o is not None for o in outcomes), "a racing request never answered"
    return [o for o in outcomes if o is not None]


# --- the cluster ----------------------------------------------------------------------


@dataclass
class ActiveActive:
    """The dev cluster under test: its process, its database and one client
    per gateway (``gateway(n)`` alternates between them)."""

    server: ServerProcess
    dsn: str
    clients: list[Any]

    def gateway(self, n: int) -> Any:
        """The client of gateway ``n`` modulo the number of gateways."""
        return self.clients[n % len(self.clients)]

    def rows(self, sql: str, *params: object) -> list[asyncpg.Record]:
        """Rows of a query on the gateways' metadata database."""
        return fetch_rows(self.dsn, sql, *params)

    def node_fragments(self) -> set[tuple[str, str]]:
        """(node id, fragment file name) of every committed fragment file."""
        found = set()
        for folder in (self.server.data_dir / "nodes").iterdir():
            for path in (folder / "fragments").rglob("*"):
                if FRAGMENT_NAME.fullmatch(path.name):
                    found.add((folder.name, path.name))
        return found


def gateway_client(url: str) -> Any:
    """A root boto3 client of one gateway: one attempt per request, bounded waits."""
    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=ROOT_ACCESS_KEY,
        aws_secret_access_key=ROOT_SECRET_KEY,
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=10,
                      read_timeout=60, max_pool_connections=4 * PARALLEL),
    )


@pytest.fixture(scope="module")
def aa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ActiveActive]:
    """The module's dev cluster with two gateways on a fresh database,
    dropped at the end."""
    dsn = create_database("objectd_races")
    try:
        server = ServerProcess(
            tmp_path_factory.mktemp("active-active"), command="dev-cluster", extra_args=["--gateways", "2"],
            env={"OBJECTD_METADATA_URL": dsn, "OBJECTD_PROBE_INTERVAL": "0.5",
                 "OBJECTD_MIN_PART_SIZE": str(MIN_PART_SIZE)},
        ).start()
        try:
            assert len(server.urls) == 2, server.log_text()
            yield ActiveActive(server, dsn, [gateway_client(url) for url in server.urls])
        finally:
            server.stop()
    finally:
        drop_database(dsn)


@pytest.fixture
def bucket(aa: ActiveActive) -> Iterator[str]:
    """A fresh bucket made through gateway 0, emptied and removed through gateway 1."""
    name = f"race-{uuid.uuid4().hex[:16]}"
    aa.gateway(0).create_bucket(Bucket=name)
    yield name
    remove_bucket(aa.gateway(1), name)


# --- checks ---------------------------------------------------------------------------


def md5_hex(data: bytes) -> str:
    """The ETag of a single-part body, unquoted."""
    return hashlib.md5(data).hexdigest()


def multipart_etag(parts: Sequence[bytes]) -> str:
    """The ETag S3 gives an object completed from ``parts``, unquoted."""
    joined = b"".join(hashlib.md5(part).digest() for part in parts)
    return f"{hashlib.md5(joined).hexdigest()}-{len(parts)}"


def unquoted(etag: str) -> str:
    """An ETag without its surrounding quotes."""
    return etag.strip('"')


def read_body(client: Any, bucket: str, key: str) -> bytes:
    """The whole body of an object."""
    return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())


def assert_reads_as(aa: ActiveActive, bucket: str, key: str, body: bytes, etag: str) -> None:
    """Through both gateways: GET returns ``body`` whole, HEAD gives ``etag`` and its size."""
    for n in range(2):
        got = read_body(aa.gateway(n), bucket, key)
        assert hashlib.sha256(got).hexdigest() == hashlib.sha256(body).hexdigest(), \
            f"gateway {n}: {bucket}/{key} read {len(got)} bytes, not the body committed"
        head = aa.gateway(n).head_object(Bucket=bucket, Key=key)
        assert (unquoted(head["ETag"]), head["ContentLength"]) == (etag, len(body)), f"gateway {n}: {head}"


def assert_absent(aa: ActiveActive, bucket: str, key: str) -> None:
    """Through both gateways: HEAD answers 404."""
    for n in range(2):
        answer = outcome_of(partial(aa.gateway(n).head_object, Bucket=bucket, Key=key))
        assert answer.error == ("404", 404), f"gateway {n}: {bucket}/{key}: {answer}"


def version_rows(aa: ActiveActive, bucket: str, key: str) -> list[asyncpg.Record]:
    """Every version row of a key."""
    return aa.rows(
        "SELECT etag, is_latest, is_delete_marker, size FROM versions WHERE bucket = $1 AND key = $2"
        " ORDER BY seq", bucket, key)


def assert_one_version(aa: ActiveActive, bucket: str, key: str, etag: str, size: int) -> None:
    """The database holds exactly one version of the key (an unversioned
    bucket keeps only the null version): current, not a delete marker, with
    ``etag`` and ``size``."""
    rows = version_rows(aa, bucket, key)
    assert [(r["etag"], r["is_latest"], r["is_delete_marker"], r["size"]) for r in rows] == [
        (etag, True, False, size)], f"{bucket}/{key}: {[dict(r) for r in rows]}"


def assert_upload_gone(aa: ActiveActive, upload_id: str) -> None:
    """No uploads or parts row of the upload is left."""
    assert not aa.rows("SELECT 1 FROM uploads WHERE upload_id = $1", upload_id), upload_id
    assert not aa.rows("SELECT 1 FROM parts WHERE upload_id = $1", upload_id), upload_id


def referenced_fragments(aa: ActiveActive) -> set[tuple[str, str]]:
    """(node id, fragment file name) of every fragment a version, part,
    intent or garbage row references."""
    rows = aa.rows("SELECT manifest FROM versions UNION ALL SELECT manifest FROM parts"
                   " UNION ALL SELECT manifest FROM intents UNION ALL SELECT manifest FROM garbage")
    expected = set()
    for row in rows:
        for ref in Manifest.decode(bytes(row["manifest"])).streams():
            for index, node in enumerate(ref.locations):
                if node:
                    expected.add((node, fragment_id(ref.stream_id, index)))
    return expected


def assert_metadata_settled(aa: ActiveActive) -> None:
    """The whole database once every request has answered (see the module
    docstring), and the nodes' fragment files matching it."""
    orphans = aa.rows("SELECT v.bucket, v.key FROM versions AS v LEFT JOIN buckets AS b ON b.name = v.bucket"
                      " WHERE v.is_latest AND b.name IS NULL")
    assert not orphans, f"current versions outside any bucket: {[tuple(r) for r in orphans]}"
    doubled = aa.rows("SELECT bucket, key, count(*) FROM versions WHERE is_latest GROUP BY bucket, key"
                      " HAVING count(*) > 1")
    assert not doubled, f"keys with several current versions: {[tuple(r) for r in doubled]}"
    headless = aa.rows("SELECT bucket, key FROM versions GROUP BY bucket, key HAVING NOT bool_or(is_latest)")
    assert not headless, f"keys with versions but no current one: {[tuple(r) for r in headless]}"
    intents = aa.rows("SELECT stream_id, expires FROM intents")
    assert not intents, f"intents left after every write answered: {[tuple(r) for r in intents]}"
    assert wait_until(lambda: not aa.rows("SELECT 1 FROM garbage LIMIT 1"), SETTLE_TIMEOUT), \
        f"garbage not collected: {len(aa.rows('SELECT id FROM garbage'))} rows"
    state: dict[str, set[tuple[str, str]]] = {}

    def fragments_match() -> bool:
        state["expected"] = referenced_fragments(aa)
        state["found"] = aa.node_fragments()
        return state["expected"] == state["found"]

    if not wait_until(fragments_match, SETTLE_TIMEOUT):
        leaked = sorted(state["found"] - state["expected"])
        lost = sorted(state["expected"] - state["found"])
        raise AssertionError(f"fragment files differ from the metadata: {len(leaked)} unreferenced "
                             f"(first {leaked[:4]}), {len(lost)} referenced but missing (first {lost[:4]})")


def batches() -> Iterator[list[int]]:
    """Round numbers, PARALLEL at a time."""
    for start in range(0, ROUNDS, PARALLEL):
        yield list(range(start, min(start + PARALLEL, ROUNDS)))


# --- a. two PUTs of one key -----------------------------------------------------------


def test_two_puts_of_one_key_leave_exactly_one_whole_body(aa: ActiveActive, bucket: str) -> None:
    """Both PUTs succeed; the key then reads as one of the two bodies, whole,
    through either gateway, and the database holds that one version."""
    for rounds in batches():
        races: list[tuple[str, tuple[bytes, bytes]]] = []
        calls: list[Callable[[], dict[str, Any]]] = []
        for r in rounds:
            key = f"same-key/{r}"
            if r % 2:  # the race also replaces an existing version
                aa.gateway(r).put_object(Bucket=bucket, Key=key, Body=os.urandom(SIZE_PAIRS[r % 3][1]))
            bodies = (os.urandom(SIZE_PAIRS[r % 3][0]), os.urandom(SIZE_PAIRS[r % 3][1]))
            races.append((key, bodies))
            calls += [partial(aa.gateway(side).put_object, Bucket=bucket, Key=key, Body=bodies[side])
                      for side in range(2)]
        outcomes = race(calls)
        for i, (key, bodies) in enumerate(races):
            for side in range(2):
                answer = outcomes[2 * i + side]
                assert answer.ok, f"{key}: PUT through gateway {side} failed: {answer}"
                assert unquoted(answer.response["ETag"]) == md5_hex(bodies[side])  # type: ignore[index]
            got = read_body(aa.gateway(i), bucket, key)
            winners = [b for b in bodies if hashlib.sha256(b).digest() == hashlib.sha256(got).digest()]
            assert winners, f"{key}: read {len(got)} bytes that are neither body"
            assert_reads_as(aa, bucket, key, winners[0], md5_hex(winners[0]))
            assert_one_version(aa, bucket, key, md5_hex(winners[0]), len(winners[0]))
    assert_metadata_settled(aa)


# --- b. CompleteMultipartUpload racing AbortMultipartUpload or a second Complete --------


@dataclass(frozen=True)
class PreparedUpload:
    """A multipart upload whose parts are all stored, ready to complete."""

    key: str
    upload_id: str
    parts: tuple[bytes, ...]
    listed: tuple[dict[str, Any], ...]  # the CompleteMultipartUpload part list

    @property
    def body(self) -> bytes:
        """What the completed object holds."""
        return b"".join(self.parts)


def prepare_upload(aa: ActiveActive, bucket: str, key: str, r: int) -> PreparedUpload:
    """An upload of two parts (inline and erasure-coded in turn), its parts
    sent through alternating gateways."""
    first, second = SIZE_PAIRS[r % 3] if r % 2 else SIZE_PAIRS[r % 3][::-1]
    parts = (os.urandom(first), os.urandom(second))
    upload_id = aa.gateway(r).create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    listed = []
    for number, data in enumerate(parts, start=1):
        answer = aa.gateway(r + number).upload_part(Bucket=bucket, Key=key, UploadId=upload_id,
                                                   PartNumber=number, Body=data)
        assert unquoted(answer["ETag"]) == md5_hex(data)
        listed.append({"PartNumber": number, "ETag": answer["ETag"]})
    return PreparedUpload(key, upload_id, parts, tuple(listed))


def complete_call(aa: ActiveActive, n: int, bucket: str, upload: PreparedUpload) -> Callable[[], dict[str, Any]]:
    """CompleteMultipartUpload of ``upload`` through gateway ``n``."""
    return partial(aa.gateway(n).complete_multipart_upload, Bucket=bucket, Key=upload.key,
                   UploadId=upload.upload_id, MultipartUpload={"Parts": list(upload.listed)})


def assert_no_uploads_listed(aa: ActiveActive, bucket: str) -> None:
    """ListMultipartUploads through both gateways shows nothing in progress."""
    for n in range(2):
        listed = aa.gateway(n).list_multipart_uploads(Bucket=bucket)
        assert not listed.get("Uploads"), f"gateway {n}: {listed.get('Uploads')}"


def test_complete_racing_abort_has_exactly_one_winner(aa: ActiveActive, bucket: str) -> None:
    """Either the object exists whole and the abort got NoSuchUpload, or the
    abort won, the complete got NoSuchUpload and no object exists; the
    upload's rows are gone either way."""
    completed: dict[str, bytes] = {}
    for rounds in batches():
        uploads = [prepare_upload(aa, bucket, f"complete-abort/{r}", r) for r in rounds]
        calls: list[Callable[[], dict[str, Any]]] = []
        for r, upload in zip(rounds, uploads):
            calls += [complete_call(aa, r, bucket, upload),
                      partial(aa.gateway(r + 1).abort_multipart_upload, Bucket=bucket, Key=upload.key,
                              UploadId=upload.upload_id)]
        outcomes = race(calls)
        for i, upload in enumerate(uploads):
            complete, abort = outcomes[2 * i], outcomes[2 * i + 1]
            if complete.ok:
                assert abort.error == ("NoSuchUpload", 404), f"{upload.key}: complete won, abort got {abort}"
                etag = multipart_etag(upload.parts)
                assert unquoted(complete.response["ETag"]) == etag  # type: ignore[index]
                assert_reads_as(aa, bucket, upload.key, upload.body, etag)
                assert_one_version(aa, bucket, upload.key, etag, len(upload.body))
                completed[upload.key] = upload.body
            else:
                assert complete.error == ("NoSuchUpload", 404), f"{upload.key}: complete got {complete}"
                assert abort.ok, f"{upload.key}: neither complete nor abort succeeded: {abort}"
                assert_absent(aa, bucket, upload.key)
                assert not version_rows(aa, bucket, upload.key)
            assert_upload_gone(aa, upload.upload_id)
        assert_no_uploads_listed(aa, bucket)
    assert_metadata_settled(aa)
    # Garbage collected since (the aborted parts): the completed objects still read back whole.
    for r, (key, body) in enumerate(completed.items()):
        assert read_body(aa.gateway(r), bucket, key) == body, key


def test_two_completes_of_one_upload_make_one_whole_object(aa: ActiveActive, bucket: str) -> None:
    """At least one complete succeeds; the other also succeeds with the same
    ETag (AWS answers a repeated complete) or gets NoSuchUpload. The object
    is whole, with one version row, and the upload's rows are gone."""
    bodies: dict[str, bytes] = {}
    for rounds in batches():
        uploads = [prepare_upload(aa, bucket, f"complete-twice/{r}", r) for r in rounds]
        calls: list[Callable[[], dict[str, Any]]] = []
        for r, upload in zip(rounds, uploads):
            calls += [complete_call(aa, r, bucket, upload), complete_call(aa, r + 1, bucket, upload)]
        outcomes = race(calls)
        for i, upload in enumerate(uploads):
            pair = outcomes[2 * i: 2 * i + 2]
            etag = multipart_etag(upload.parts)
            assert any(o.ok for o in pair), f"{upload.key}: no complete succeeded: {pair}"
            for answer in pair:
                if answer.ok:
                    assert unquoted(answer.response["ETag"]) == etag  # type: ignore[index]
                else:
                    assert answer.error == ("NoSuchUpload", 404), f"{upload.key}: {answer}"
            assert_reads_as(aa, bucket, upload.key, upload.body, etag)
            assert_one_version(aa, bucket, upload.key, etag, len(upload.body))
            assert_upload_gone(aa, upload.upload_id)
            bodies[upload.key] = upload.body
        assert_no_uploads_listed(aa, bucket)
    assert_metadata_settled(aa)
    # Garbage collected since: nothing a complete committed was collected.
    for r, (key, body) in enumerate(bodies.items()):
        assert read_body(aa.gateway(r), bucket, key) == body, key


# --- c. DeleteBucket racing a PUT into it ---------------------------------------------


def test_delete_bucket_racing_a_put_into_it(aa: ActiveActive) -> None:
    """Either the PUT won (the bucket stays and holds the object; the delete
    got BucketNotEmpty) or the delete won (the PUT got NoSuchBucket and the
    database has no rows left under that bucket name)."""
    kept: list[str] = []
    try:
        for rounds in batches():
            names = [f"race-del-{uuid.uuid4().hex[:12]}" for _ in rounds]
            bodies = [os.urandom(SIZE_PAIRS[r % 3][r % 2]) for r in rounds]
            calls: list[Callable[[], dict[str, Any]]] = []
            for r, name, body in zip(rounds, names, bodies):
                aa.gateway(r).create_bucket(Bucket=name)
                calls += [partial(aa.gateway(r).delete_bucket, Bucket=name),
                          partial(aa.gateway(r + 1).put_object, Bucket=name, Key="object", Body=body)]
            outcomes = race(calls)
            for i, (name, body) in enumerate(zip(names, bodies)):
                delete, put = outcomes[2 * i], outcomes[2 * i + 1]
                if put.ok:
                    kept.append(name)
                    assert delete.error == ("BucketNotEmpty", 409), f"{name}: PUT succeeded, delete got {delete}"
                    for n in range(2):
                        aa.gateway(n).head_bucket(Bucket=name)
                    assert_reads_as(aa, name, "object", body, md5_hex(body))
                    assert aa.rows("SELECT 1 FROM buckets WHERE name = $1", name)
                    assert_one_version(aa, name, "object", md5_hex(body), len(body))
                else:
                    assert put.error == ("NoSuchBucket", 404), f"{name}: PUT got {put}"
                    assert delete.ok, f"{name}: neither the PUT nor the delete succeeded: {delete}"
                    for n in range(2):
                        gone = outcome_of(partial(aa.gateway(n).head_bucket, Bucket=name))
                        assert gone.error == ("404", 404), f"gateway {n}: {name}: {gone}"
                    assert not aa.rows("SELECT 1 FROM buckets WHERE name = $1", name)
                    assert not aa.rows("SELECT 1 FROM versions WHERE bucket = $1", name)
                    assert not aa.rows("SELECT 1 FROM uploads WHERE bucket = $1", name)
        assert_metadata_settled(aa)
    finally:
        for name in kept:
            remove_bucket(aa.gateway(0), name)


# --- d. read-after-write across gateways ----------------------------------------------


def write_then_read_elsewhere(aa: ActiveActive, bucket: str, worker: int, count: int) -> dict[str, Any]:
    """``count`` times: PUT through one gateway, then at once HEAD, GET and
    ListObjectsV2 through the other see it; DELETE through the other, then a
    listing and a GET through the first no longer do."""
    for j in range(count):
        writer, reader = aa.gateway(worker + j), aa.gateway(worker + j + 1)
        key = f"raw/{worker}/{j}"
        body = os.urandom(LARGE if (worker + j) % 3 == 0 else SMALL)
        writer.put_object(Bucket=bucket, Key=key, Body=body)
        head = reader.head_object(Bucket=bucket, Key=key)
        assert (unquoted(head["ETag"]), head["ContentLength"]) == (md5_hex(body), len(body)), key
        assert read_body(reader, bucket, key) == body, key
        listed = reader.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])
        assert [(o["Key"], unquoted(o["ETag"]), o["Size"]) for o in listed] == [(key, md5_hex(body), len(body))]
        reader.delete_object(Bucket=bucket, Key=key)
        assert writer.list_objects_v2(Bucket=bucket, Prefix=key)["KeyCount"] == 0, key
        gone = outcome_of(partial(writer.get_object, Bucket=bucket, Key=key))
        assert gone.error == ("NoSuchKey", 404), f"{key}: {gone}"
    return {}


def test_read_after_write_and_delete_across_gateways(aa: ActiveActive, bucket: str) -> None:
    """What one gateway committed, the other serves at once (both read the
    one database; neither caches objects)."""
    workers = PARALLEL
    outcomes = race([partial(write_then_read_elsewhere, aa, bucket, w, 2 * ROUNDS // workers)
                     for w in range(workers)])
    assert all(o.ok for o in outcomes), outcomes
    assert aa.gateway(0).list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert not aa.rows("SELECT 1 FROM versions WHERE bucket = $1", bucket)
    assert_metadata_settled(aa)


# --- e. no lost update ----------------------------------------------------------------


def put_many(aa: ActiveActive, bucket: str, worker: int, count: int) -> dict[str, Any]:
    """``count`` PUTs of distinct keys, through alternating gateways; the
    ETag of each key."""
    etags: dict[str, Any] = {}
    for j in range(count):
        key = f"many/{worker:02d}/{j:02d}"
        body = os.urandom(LARGE if (worker + j) % 4 == 0 else SMALL)
        answer = aa.gateway(worker + j).put_object(Bucket=bucket, Key=key, Body=body)
        assert unquoted(answer["ETag"]) == md5_hex(body), key
        etags[key] = md5_hex(body)
    return etags


def test_concurrent_puts_of_distinct_keys_through_both_gateways_all_land(aa: ActiveActive, bucket: str) -> None:
    """Writers on both gateways at once lose nothing: every key is listed,
    with its ETag, through either gateway, and has its row in the database."""
    workers, per_worker = 8, 10
    outcomes = race([partial(put_many, aa, bucket, w, per_worker) for w in range(workers)])
    expected: dict[str, str] = {}
    for answer in outcomes:
        assert answer.ok, answer
        expected.update(answer.response or {})
    assert len(expected) == workers * per_worker
    for n in range(2):
        listed: dict[str, str] = {}
        pages = aa.gateway(n).get_paginator("list_objects_v2").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 25})
        for page in pages:
            for obj in page.get("Contents", []):
                assert obj["Key"] not in listed, f"gateway {n} listed {obj['Key']} twice"
                listed[obj["Key"]] = unquoted(obj["ETag"])
        assert listed == expected, f"gateway {n}: missing {sorted(set(expected) - set(listed))[:5]}"
    rows = aa.rows("SELECT key, etag FROM versions WHERE bucket = $1 AND is_latest", bucket)
    assert {r["key"]: r["etag"] for r in rows} == expected
    assert len(aa.rows("SELECT 1 FROM versions WHERE bucket = $1", bucket)) == len(expected)
    assert_metadata_settled(aa)
