"""SIGKILL during writes, then a restart on the same data folder (DESIGN
invariants 1 and 3): a key holds its old object or its new one, never a torn
one; what a killed write left on the drives is referenced by its intent and
collected once the intent expires.

Requests are sent with http.client and signed by botocore's SigV4Auth
(UNSIGNED-PAYLOAD), so the test decides how much of a body the server gets
before the kill.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from objectd.manifest import Manifest
from tests.e2e.conftest import (
    bounded_client,
    drive_temp_files,
    fresh_server,
    manifest_fragment_paths,
    metadata_rows,
    object_manifest,
    open_signed_request,
    wait_until,
)
from tests.e2e.server_process import ServerProcess

pytestmark = pytest.mark.timeout(180)

MiB = 1 << 20
BUCKET = "crash"


def body_of(size: int, seed: int) -> bytes:
    """Reproducible incompressible bytes."""
    return random.Random(seed).randbytes(size)


def restart(server: ServerProcess) -> Any:
    """Start the killed server again on its data folder; a client of it."""
    server.start()
    return bounded_client(server)


def current_bytes(s3: Any, key: str) -> bytes | None:
    """The key's bytes, or None for NoSuchKey."""
    try:
        return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "NoSuchKey", exc.response
        return None


def expire_intents(server: ServerProcess) -> None:
    """Let the intent lifetime pass: the server is stopped and its intents'
    expiry moved into the past, as if the write had been dead for a day."""
    server.stop()
    conn = sqlite3.connect(server.data_dir / "metadata.db")
    try:
        with conn:
            conn.execute("UPDATE intents SET expires = 0")
    finally:
        conn.close()


@pytest.fixture
def crash_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A private server (with an empty bucket) that the test may kill."""
    server = fresh_server(tmp_path)
    try:
        bounded_client(server).create_bucket(Bucket=BUCKET)
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("old_exists", [True, False], ids=["overwrite", "new-key"])
def test_kill_during_large_put_never_tears_the_key(crash_server: ServerProcess, old_exists: bool) -> None:
    server = crash_server
    s3 = bounded_client(server)
    old = body_of(3 * MiB + 512 * 1024, 1)
    if old_exists:
        s3.put_object(Bucket=BUCKET, Key="big", Body=old)
    declared = 64 * MiB
    conn = open_signed_request(server, "PUT", f"/{BUCKET}/big", declared)
    piece = body_of(MiB, 2)
    for _ in range(16):  # a quarter of the body: the kill lands mid-body
        conn.send(piece)

    def writing() -> bool:
        temp = drive_temp_files(server)
        return len(temp) == 6 and all(p.stat().st_size >= 512 * 1024 for p in temp)

    assert wait_until(writing, timeout=30), drive_temp_files(server)
    server.kill()
    conn.close()
    left = drive_temp_files(server)
    stream_id = left[0].name.split(".")[0]

    s3 = restart(server)
    assert current_bytes(s3, "big") == (old if old_exists else None)
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert listed == (["big"] if old_exists else [])

    # The dead write is announced by its intent, which names every file it left.
    rows = metadata_rows(server, "SELECT stream_id, manifest, expires FROM intents")
    assert [r[0] for r in rows] == [stream_id]
    (ref,) = Manifest.decode(rows[0][1]).streams()
    assert rows[0][2] > time.time()  # not expired yet: nothing is collected
    for path in left:
        fid = path.name.rsplit(".", 1)[0]
        index = int(fid.split(".")[1])
        assert fid.split(".")[0] == ref.stream_id and ref.locations[index] == path.parent.parent.name

    # Once the intent has expired the collector removes the leftovers, and nothing live.
    live = manifest_fragment_paths(server, object_manifest(server, BUCKET, "big")) if old_exists else []
    expire_intents(server)
    s3 = restart(server)

    def collected() -> bool:
        return (drive_temp_files(server) == []
                and metadata_rows(server, "SELECT count(*) FROM intents") == [(0,)]
                and metadata_rows(server, "SELECT count(*) FROM garbage") == [(0,)])

    assert wait_until(collected, timeout=30), (drive_temp_files(server), server.log_text()[-2000:])
    assert all(path.is_file() for path in live)
    assert current_bytes(s3, "big") == (old if old_exists else None)


def test_acknowledged_put_survives_kill(crash_server: ServerProcess) -> None:
    server = crash_server
    s3 = bounded_client(server)
    data = body_of(3 * MiB + 512 * 1024, 3)
    s3.put_object(Bucket=BUCKET, Key="acked", Body=data)
    s3.put_object(Bucket=BUCKET, Key="small", Body=b"inline")
    server.kill()
    s3 = restart(server)
    assert current_bytes(s3, "acked") == data
    assert current_bytes(s3, "small") == b"inline"
    assert metadata_rows(server, "SELECT count(*) FROM intents") == [(0,)]


def _complete_xml(etags: list[str]) -> bytes:
    parts = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>" for n, e in enumerate(etags, 1))
    return f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>".encode()


@pytest.mark.parametrize("acknowledged", [False, True], ids=["in-flight", "acknowledged"])
def test_kill_during_multipart_complete(crash_server: ServerProcess, acknowledged: bool) -> None:
    server = crash_server
    s3 = bounded_client(server)
    old = body_of(3 * MiB + 512 * 1024, 4)
    s3.put_object(Bucket=BUCKET, Key="mp", Body=old)
    old_files = manifest_fragment_paths(server, object_manifest(server, BUCKET, "mp"))
    parts = [body_of(5 * MiB, 5), body_of(MiB + 3, 6)]
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="mp")["UploadId"]
    etags = [s3.upload_part(Bucket=BUCKET, Key="mp", UploadId=upload, PartNumber=n, Body=p)["ETag"]
             for n, p in enumerate(parts, 1)]

    document = _complete_xml(etags)
    conn = open_signed_request(server, "POST", f"/{BUCKET}/mp?uploadId={upload}", len(document))
    conn.send(document)
    if acknowledged:
        response = conn.getresponse()
        answer = response.read()
        assert response.status == 200 and b"<CompleteMultipartUploadResult" in answer, answer
    server.kill()
    conn.close()

    s3 = restart(server)
    now = current_bytes(s3, "mp")
    uploads = [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])]
    if acknowledged:
        assert now == b"".join(parts)
    assert now in (old, b"".join(parts)), "torn object after a crash"
    if now == old:
        # Not completed: the upload is intact and can still be completed.
        assert uploads == [upload]
        s3.complete_multipart_upload(Bucket=BUCKET, Key="mp", UploadId=upload, MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})
        assert current_bytes(s3, "mp") == b"".join(parts)
    else:
        assert uploads == []
    # The replaced object's fragments go; the new object's stay.
    assert wait_until(lambda: not any(p.exists() for p in old_files), timeout=30)
    assert all(p.is_file() for p in manifest_fragment_paths(server, object_manifest(server, BUCKET, "mp")))


@pytest.mark.parametrize("acknowledged", [False, True], ids=["in-flight", "acknowledged"])
def test_kill_during_delete(crash_server: ServerProcess, acknowledged: bool) -> None:
    server = crash_server
    s3 = bounded_client(server)
    old = body_of(3 * MiB + 512 * 1024, 7)
    s3.put_object(Bucket=BUCKET, Key="gone", Body=old)
    files = manifest_fragment_paths(server, object_manifest(server, BUCKET, "gone"))

    conn = open_signed_request(server, "DELETE", f"/{BUCKET}/gone", 0)
    if acknowledged:
        response = conn.getresponse()
        response.read()
        assert response.status == 204
    server.kill()
    conn.close()

    s3 = restart(server)
    now = current_bytes(s3, "gone")
    if acknowledged:
        assert now is None
    assert now in (old, None), "torn object after a crash"
    if now is None:
        assert wait_until(lambda: not any(p.exists() for p in files), timeout=30)
    else:
        assert all(p.is_file() for p in files)
