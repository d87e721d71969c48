"""Fragments nothing references any more leave the drives; live ones stay.

The server runs with a garbage grace of 0 and a collector pass every 0.2 s
(see ServerProcess), so replaced data goes within moments; every wait below is
bounded and only its failure depends on time.
"""

from __future__ import annotations

import base64
import hashlib
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from objectd.collector import BATCH
from tests.e2e.conftest import (
    bounded_client,
    committed_fragment_paths,
    drive_folder,
    drive_temp_files,
    fresh_server,
    manifest_fragment_paths,
    metadata_rows,
    object_manifest,
    open_signed_request,
    part_manifests,
    wait_until,
)
from tests.e2e.server_process import ServerProcess

pytestmark = pytest.mark.timeout(120)

MiB = 1 << 20
LARGE = 3 * MiB + 512 * 1024


def body_of(size: int, seed: int) -> bytes:
    """Reproducible incompressible bytes."""
    return random.Random(seed).randbytes(size)


@dataclass(frozen=True)
class Collected:
    """A private server and a client of it."""

    server: ServerProcess
    s3: Any

    def files(self, bucket: str, key: str, version_id: str | None = None) -> list[Path]:
        """The fragment files of an object version."""
        paths = manifest_fragment_paths(self.server, object_manifest(self.server, bucket, key, version_id))
        assert paths and all(p.is_file() for p in paths)
        return paths

    def all_gone(self, paths: list[Path]) -> bool:
        """Wait (bounded) until none of ``paths`` exists."""
        return wait_until(lambda: not any(p.exists() for p in paths), timeout=20)

    def no_garbage_pending(self) -> bool:
        """Wait (bounded) until the garbage table is empty."""
        return wait_until(lambda: metadata_rows(self.server, "SELECT count(*) FROM garbage") == [(0,)], timeout=20)


@pytest.fixture(scope="module")
def gc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collected]:
    """A private server for the module (its drives are inspected file by file)."""
    server = ServerProcess(tmp_path_factory.mktemp("objectd-garbage")).start()
    try:
        s3 = bounded_client(server)
        s3.create_bucket(Bucket="garbage")
        yield Collected(server, s3)
    finally:
        server.stop()


def test_overwritten_object_fragments_are_deleted(gc: Collected) -> None:
    gc.s3.put_object(Bucket="garbage", Key="over", Body=body_of(LARGE, 1))
    old = gc.files("garbage", "over")
    new = body_of(LARGE + 5, 2)
    gc.s3.put_object(Bucket="garbage", Key="over", Body=new)
    assert gc.all_gone(old), [p for p in old if p.exists()]
    assert all(p.is_file() for p in gc.files("garbage", "over"))
    assert gc.s3.get_object(Bucket="garbage", Key="over")["Body"].read() == new


def test_deleted_object_fragments_are_deleted(gc: Collected) -> None:
    gc.s3.put_object(Bucket="garbage", Key="del", Body=body_of(LARGE, 3))
    files = gc.files("garbage", "del")
    gc.s3.delete_object(Bucket="garbage", Key="del")
    assert gc.all_gone(files)
    assert gc.no_garbage_pending()


def test_live_objects_are_not_collected(gc: Collected) -> None:
    kept = body_of(LARGE, 4)
    gc.s3.put_object(Bucket="garbage", Key="kept", Body=kept)
    kept_files = gc.files("garbage", "kept")
    # Collect something else and see it go: the collector has run since "kept" was written.
    gc.s3.put_object(Bucket="garbage", Key="marker", Body=body_of(LARGE, 6))
    marker = gc.files("garbage", "marker")
    gc.s3.delete_object(Bucket="garbage", Key="marker")
    assert gc.all_gone(marker)
    assert all(p.is_file() for p in kept_files)
    assert gc.s3.get_object(Bucket="garbage", Key="kept")["Body"].read() == kept


def test_aborted_upload_part_fragments_are_deleted(gc: Collected) -> None:
    upload = gc.s3.create_multipart_upload(Bucket="garbage", Key="aborted")["UploadId"]
    for n, size in enumerate((5 * MiB, MiB + 1), 1):
        gc.s3.upload_part(Bucket="garbage", Key="aborted", UploadId=upload, PartNumber=n, Body=body_of(size, 10 + n))
    files = [p for m in part_manifests(gc.server, upload).values() for p in manifest_fragment_paths(gc.server, m)]
    assert len(files) == 12 and all(p.is_file() for p in files)
    gc.s3.abort_multipart_upload(Bucket="garbage", Key="aborted", UploadId=upload)
    assert gc.all_gone(files)


def test_replaced_and_unused_parts_are_deleted(gc: Collected) -> None:
    upload = gc.s3.create_multipart_upload(Bucket="garbage", Key="parts")["UploadId"]

    def upload_part(number: int, data: bytes) -> tuple[str, list[Path]]:
        etag = gc.s3.upload_part(Bucket="garbage", Key="parts", UploadId=upload, PartNumber=number, Body=data)["ETag"]
        return etag, manifest_fragment_paths(gc.server, part_manifests(gc.server, upload)[number])

    _, replaced = upload_part(1, body_of(5 * MiB, 20))
    part1 = body_of(5 * MiB, 21)
    etag1, kept1 = upload_part(1, part1)
    assert gc.all_gone(replaced)
    _, unused = upload_part(2, body_of(MiB, 22))
    part3 = body_of(MiB + 17, 23)
    etag3, kept3 = upload_part(3, part3)

    gc.s3.complete_multipart_upload(Bucket="garbage", Key="parts", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": etag1}, {"PartNumber": 3, "ETag": etag3}]})
    assert gc.all_gone(unused)
    assert all(p.is_file() for p in kept1 + kept3)
    assert gc.s3.get_object(Bucket="garbage", Key="parts")["Body"].read() == part1 + part3


def test_bad_content_md5_leaves_nothing_behind(gc: Collected) -> None:
    old = body_of(LARGE, 30)
    gc.s3.put_object(Bucket="garbage", Key="digest", Body=old)
    old_files = gc.files("garbage", "digest")
    before = committed_fragment_paths(gc.server)
    wrong = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
    with pytest.raises(ClientError) as caught:
        gc.s3.put_object(Bucket="garbage", Key="digest", Body=body_of(8 * MiB, 31), ContentMD5=wrong)
    error = caught.value.response
    assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (400, "BadDigest")

    assert committed_fragment_paths(gc.server) <= before
    assert drive_temp_files(gc.server) == []
    assert metadata_rows(gc.server, "SELECT count(*) FROM intents") == [(0,)]
    assert gc.no_garbage_pending()
    assert all(p.is_file() for p in old_files)
    assert gc.s3.get_object(Bucket="garbage", Key="digest")["Body"].read() == old


def test_client_hanging_up_mid_body_leaves_nothing_behind(gc: Collected) -> None:
    before = committed_fragment_paths(gc.server)
    conn = open_signed_request(gc.server, "PUT", "/garbage/hangup", 64 * MiB)
    piece = body_of(MiB, 40)
    for _ in range(8):
        conn.send(piece)
    assert wait_until(lambda: len(drive_temp_files(gc.server)) == 6, timeout=20)
    conn.close()

    def cleaned() -> bool:
        return (drive_temp_files(gc.server) == []
                and metadata_rows(gc.server, "SELECT count(*) FROM intents") == [(0,)])

    assert wait_until(cleaned, timeout=30), drive_temp_files(gc.server)
    assert gc.no_garbage_pending()
    assert committed_fragment_paths(gc.server) <= before
    with pytest.raises(ClientError) as caught:
        gc.s3.head_object(Bucket="garbage", Key="hangup")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_a_dead_drive_does_not_stop_collection_elsewhere(tmp_path: Path) -> None:
    """Garbage whose fragments sit partly on a removed drive cannot be fully
    deleted; more than a collector batch of it must not hold up the rest."""
    server = fresh_server(tmp_path)
    try:
        s3 = bounded_client(server)
        s3.create_bucket(Bucket="dead-drive")
        keys = [f"k{n:03d}" for n in range(BATCH + 5)]
        for key in keys:  # just above the inline threshold: erasure-coded, cheap to write
            s3.put_object(Bucket="dead-drive", Key=key, Body=body_of(40 * 1024, 50))
        stuck = [p for key in keys for p in manifest_fragment_paths(server, object_manifest(server, "dead-drive", key))]
        shutil.rmtree(drive_folder(server, "drive-3"))
        s3.delete_objects(Bucket="dead-drive", Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True})

        s3.put_object(Bucket="dead-drive", Key="later", Body=body_of(LARGE, 51))
        later = manifest_fragment_paths(server, object_manifest(server, "dead-drive", "later"))
        s3.delete_object(Bucket="dead-drive", Key="later")
        assert wait_until(lambda: not any(p.exists() for p in later), timeout=20)
        # What the healthy drives held of the stuck garbage is gone too.
        assert wait_until(lambda: not any(p.exists() for p in stuck), timeout=20)
    finally:
        server.stop()
