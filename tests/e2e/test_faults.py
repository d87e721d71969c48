"""Damaged and missing fragments on a live server (DESIGN invariant 4).

Up to m = 2 lost or corrupt fragments of a stream read back exactly, through
reconstruction; m + 1 give a clear error, never wrong bytes. Writes need
``write_quorum`` (k + 1 = 5) writable drives. Fragment files are found through
the object's manifest in the server's metadata database.
"""

from __future__ import annotations

import http.client
import itertools
import os
import random
import re
import shutil
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from erasure.codec import ErasureCodec
from erasure.geometry import StripeGeometry
from objectd.manifest import Manifest, StreamRef
from tests.e2e.conftest import (
    bounded_client,
    committed_fragment_paths,
    drive_folder,
    drive_temp_files,
    fragment_path,
    fresh_server,
    object_manifest,
    wait_until,
)
from tests.e2e.server_process import ServerProcess

pytestmark = pytest.mark.timeout(180)

MiB = 1 << 20
SINGLE_SIZE = 3 * MiB + 512 * 1024  # four segments, the last one half full
PART_SIZES = (5 * MiB, 2 * MiB + 300 * 1024)


def body_of(size: int, seed: int) -> bytes:
    """Reproducible incompressible bytes."""
    return random.Random(seed).randbytes(size)


# --- damage ------------------------------------------------------------------


def frame_middle(ref: StreamRef, segment: int) -> int:
    """The offset of the middle of segment ``segment``'s frame in any fragment file of ``ref``."""
    geometry = StripeGeometry(ErasureCodec(ref.layout), encrypted=ref.wrapped_key is not None)
    length = ref.layout.segment_length(ref.size, segment)
    return geometry.frame_offset(segment) + geometry.frame_size(length) // 2


def delete(path: Path, ref: StreamRef) -> None:
    """The fragment file is gone."""
    path.unlink()


def flip(path: Path, ref: StreamRef) -> None:
    """16 bytes in the middle of segment 1's piece are inverted."""
    data = bytearray(path.read_bytes())
    at = frame_middle(ref, 1)
    data[at : at + 16] = bytes(b ^ 0xFF for b in data[at : at + 16])
    path.write_bytes(data)


def truncate(path: Path, ref: StreamRef) -> None:
    """The file lost its second half."""
    os.truncate(path, path.stat().st_size // 2)


def zeros(path: Path, ref: StreamRef) -> None:
    """Same size, every byte zero."""
    path.write_bytes(bytes(path.stat().st_size))


Damage = Callable[[Path, StreamRef], None]
DAMAGES: dict[str, Damage] = {"delete": delete, "flip": flip, "truncate": truncate, "zeros": zeros}


@contextmanager
def damaged(server: ServerProcess, ref: StreamRef, indices: tuple[int, ...], damage: Damage) -> Iterator[None]:
    """Damage fragments ``indices`` of a stream, restoring them afterwards."""
    paths = [fragment_path(server, ref.locations[i], ref.stream_id, i) for i in indices]
    saved = {path: path.read_bytes() for path in paths}
    try:
        for path in paths:
            damage(path, ref)
        yield
    finally:
        for path, data in saved.items():
            path.write_bytes(data)


# --- reading with a client that shows exactly what arrived ----------------------


@dataclass(frozen=True)
class Fetched:
    """A GET as the client saw it: status, declared length and the bytes that arrived."""

    status: int
    declared: int
    body: bytes

    @property
    def complete(self) -> bool:
        """Whether every byte the headers promised arrived."""
        return len(self.body) == self.declared


def fetch(s3: Any, bucket: str, key: str, first: int | None = None, last: int | None = None,
          part_number: int | None = None) -> Fetched:
    """GET through a presigned URL with http.client, keeping a body cut short."""
    params: dict[str, object] = {"Bucket": bucket, "Key": key}
    if part_number is not None:
        params["PartNumber"] = part_number
    url = urllib.parse.urlsplit(s3.generate_presigned_url("get_object", Params=params, ExpiresIn=600))
    headers = {"Range": f"bytes={first}-{last}"} if first is not None else {}
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        conn.request("GET", f"{url.path}?{url.query}", headers=headers)
        response = conn.getresponse()
        declared = int(response.getheader("Content-Length", "-1"))
        chunks = []
        try:
            while chunk := response.read(MiB):
                chunks.append(chunk)
        except (http.client.IncompleteRead, ConnectionError) as exc:
            if isinstance(exc, http.client.IncompleteRead):
                chunks.append(exc.partial)
        return Fetched(response.status, declared, b"".join(chunks))
    finally:
        conn.close()


def assert_reads_exactly(s3: Any, bucket: str, key: str, data: bytes, ranges: list[tuple[int, int]]) -> None:
    """A full GET and every ranged GET return exactly the right bytes."""
    got = fetch(s3, bucket, key)
    assert (got.status, got.complete) == (200, True), (got.status, got.declared, len(got.body))
    assert got.body == data
    for first, last in ranges:
        got = fetch(s3, bucket, key, first, last)
        assert (got.status, got.complete) == (206, True), (first, last, got.status, len(got.body))
        assert got.body == data[first : last + 1], (first, last)


def assert_never_wrong_bytes(got: Fetched, expected: bytes) -> None:
    """An unreadable read ends in an InternalError or a body cut short, never a
    complete response, and whatever arrived is the right bytes."""
    if got.status == 500:
        assert b"<Code>InternalError</Code>" in got.body, got.body
        return
    assert got.status in (200, 206), got.status
    assert not got.complete, "a complete response was served from unreadable data"
    assert got.body == expected[: len(got.body)], "the bytes that arrived are wrong"


# --- the object used by the read tests ---------------------------------------------


@dataclass(frozen=True)
class Stored:
    """A private server holding one single-stream object and one multipart object."""

    server: ServerProcess
    s3: Any
    bucket: str
    single: bytes
    multi: bytes

    def manifest(self, key: str) -> Manifest:
        """The current manifest of ``key``."""
        return object_manifest(self.server, self.bucket, key)


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stored]:
    """A private server for the module, holding the objects the read tests damage and restore."""
    server = ServerProcess(tmp_path_factory.mktemp("objectd-faults")).start()
    try:
        s3 = bounded_client(server)
        s3.create_bucket(Bucket="faults")
        single = body_of(SINGLE_SIZE, 1)
        s3.put_object(Bucket="faults", Key="single", Body=single)
        parts = [body_of(size, 10 + n) for n, size in enumerate(PART_SIZES)]
        upload = s3.create_multipart_upload(Bucket="faults", Key="multi")["UploadId"]
        etags = [
            s3.upload_part(Bucket="faults", Key="multi", UploadId=upload, PartNumber=n, Body=part)["ETag"]
            for n, part in enumerate(parts, 1)
        ]
        s3.complete_multipart_upload(
            Bucket="faults", Key="multi", UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
        )
        yield Stored(server, s3, "faults", single, b"".join(parts))
    finally:
        server.stop()


# Ranges of the single-stream object: 64 KiB inside segment 1 and inside its first
# data fragment (the read that touches one fragment only), across segments, the tail.
SINGLE_RANGES = [(MiB + 4096, MiB + 4096 + 64 * 1024 - 1), (900_000, 2_500_000), (SINGLE_SIZE - 1000, SINGLE_SIZE - 1)]


def test_objects_are_erasure_coded_streams(stored: Stored) -> None:
    for key, size in (("single", SINGLE_SIZE), ("multi", sum(PART_SIZES))):
        manifest = stored.manifest(key)
        assert manifest.size == size
        for ref in manifest.streams():
            assert len(ref.locations) == 6 and all(ref.locations)
            for index, location in enumerate(ref.locations):
                assert fragment_path(stored.server, location, ref.stream_id, index).is_file()
    assert len(stored.manifest("multi").streams()) == len(PART_SIZES)


@pytest.mark.parametrize("damage", DAMAGES)
def test_up_to_two_damaged_fragments_read_back_exactly(stored: Stored, damage: str) -> None:
    (ref,) = stored.manifest("single").streams()
    losses = [(i,) for i in range(6)] + list(itertools.combinations(range(6), 2))
    for indices in losses:
        with damaged(stored.server, ref, indices, DAMAGES[damage]):
            try:
                assert_reads_exactly(stored.s3, stored.bucket, "single", stored.single, SINGLE_RANGES)
            except AssertionError as exc:
                raise AssertionError(f"fragments {indices} damaged ({damage}): {exc}") from exc


@pytest.mark.parametrize("damage", DAMAGES)
def test_multipart_object_with_two_damaged_fragments_per_part(stored: Stored, damage: str) -> None:
    first, second = stored.manifest("multi").streams()
    boundary = PART_SIZES[0]
    ranges = [
        (boundary - 100_000, boundary + 100_000),  # across the parts
        (boundary + MiB + 4096, boundary + MiB + 4096 + 64 * 1024 - 1),  # 64 KiB inside a segment of part 2
    ]
    with damaged(stored.server, first, (0, 3), DAMAGES[damage]), \
            damaged(stored.server, second, (1, 5), DAMAGES[damage]):
        assert_reads_exactly(stored.s3, stored.bucket, "multi", stored.multi, ranges)
        got = fetch(stored.s3, stored.bucket, "multi", part_number=2)
        assert (got.status, got.complete) == (206, True)
        assert got.body == stored.multi[boundary:]


@pytest.mark.parametrize("damage", DAMAGES)
def test_three_damaged_fragments_are_an_error_never_wrong_bytes(stored: Stored, damage: str) -> None:
    (ref,) = stored.manifest("single").streams()
    seg1 = SINGLE_RANGES[0]
    pattern = re.compile(r"ERROR objectd\.service object unreadable bucket=faults key=single .*")

    def logged() -> list[str]:
        return pattern.findall(stored.server.log_text())

    earlier = len(logged())
    with damaged(stored.server, ref, (0, 2, 5), DAMAGES[damage]):
        assert_never_wrong_bytes(fetch(stored.s3, stored.bucket, "single"), stored.single)
        got = fetch(stored.s3, stored.bucket, "single", *seg1)
        assert_never_wrong_bytes(got, stored.single[seg1[0] : seg1[1] + 1])
        # Each failure is logged with the object and every store of the stream.
        assert wait_until(lambda: len(logged()) >= earlier + 2, timeout=10), stored.server.log_text()[-3000:]
        assert all(store in line for line in logged()[earlier:] for store in ref.locations), logged()[earlier:]
        if damage == "flip":
            # Only segment 1 was damaged: the others still read.
            got = fetch(stored.s3, stored.bucket, "single", 0, MiB - 1)
            assert (got.status, got.complete, got.body) == (206, True, stored.single[:MiB])
    assert_reads_exactly(stored.s3, stored.bucket, "single", stored.single, SINGLE_RANGES)


def test_unreadable_start_is_an_internal_error(stored: Stored) -> None:
    """Nothing was sent yet when the first bytes prove unreadable: the answer is
    an S3 InternalError (500), not a 200 whose body then breaks off."""
    (ref,) = stored.manifest("single").streams()
    with damaged(stored.server, ref, (0, 3, 4), delete):
        got = fetch(stored.s3, stored.bucket, "single")
        assert got.status == 500 and b"<Code>InternalError</Code>" in got.body, (got.status, got.body[:200])
        got = fetch(stored.s3, stored.bucket, "single", *SINGLE_RANGES[0])
        assert got.status == 500 and b"<Code>InternalError</Code>" in got.body, (got.status, got.body[:200])


def test_unreadable_segment_mid_body_cuts_the_connection(stored: Stored) -> None:
    """When the headers are already out, the server drops the connection: the
    client sees a short body (the right bytes, then nothing), never a complete
    wrong one."""
    size = 9 * MiB + 1000
    data = body_of(size, 3)
    stored.s3.put_object(Bucket=stored.bucket, Key="nine", Body=data)
    (ref,) = stored.manifest("nine").streams()
    last = ref.layout.segment_count(size) - 1

    def corrupt_last_segment(path: Path, ref: StreamRef) -> None:
        raw = bytearray(path.read_bytes())
        at = frame_middle(ref, last)
        raw[at : at + 8] = bytes(8)
        path.write_bytes(raw)

    with damaged(stored.server, ref, (0, 1, 4), corrupt_last_segment):
        got = fetch(stored.s3, stored.bucket, "nine")
        assert got.status == 200 and got.declared == size
        assert 0 < len(got.body) < size, len(got.body)
        assert got.body == data[: len(got.body)]
    assert_reads_exactly(stored.s3, stored.bucket, "nine", data, [(size - 5000, size - 1)])


# --- drives missing -----------------------------------------------------------------


def put_multipart(s3: Any, bucket: str, key: str, parts: list[bytes]) -> None:
    """Upload ``parts`` as a multipart object."""
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etags = [s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=n, Body=p)["ETag"]
             for n, p in enumerate(parts, 1)]
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})


def test_a_removed_drive_folder_still_reads_and_writes(tmp_path: Path) -> None:
    server = fresh_server(tmp_path)
    try:
        s3 = bounded_client(server)
        s3.create_bucket(Bucket="drives")
        single = body_of(SINGLE_SIZE, 4)
        parts = [body_of(5 * MiB, 5), body_of(MiB + 7, 6)]
        s3.put_object(Bucket="drives", Key="single", Body=single)
        put_multipart(s3, "drives", "multi", parts)

        shutil.rmtree(drive_folder(server, "drive-3"))

        assert_reads_exactly(s3, "drives", "single", single, SINGLE_RANGES)
        assert_reads_exactly(s3, "drives", "multi", b"".join(parts), [(5 * MiB - 10, 5 * MiB + 10)])
        # Writes still reach k + 1 = 5 drives: the write quorum.
        later = body_of(SINGLE_SIZE, 7)
        s3.put_object(Bucket="drives", Key="later", Body=later)
        put_multipart(s3, "drives", "later-multi", parts)
        assert_reads_exactly(s3, "drives", "later", later, SINGLE_RANGES)
        assert_reads_exactly(s3, "drives", "later-multi", b"".join(parts), [(0, 99)])
        for key in ("later", "later-multi"):
            for ref in object_manifest(server, "drives", key).streams():
                assert "drive-3" not in ref.locations and sum(1 for loc in ref.locations if loc) == 5, ref.locations
    finally:
        server.stop()


def test_three_drives_missing_a_write_fails_cleanly(tmp_path: Path) -> None:
    server = fresh_server(tmp_path)
    try:
        s3 = bounded_client(server)
        s3.create_bucket(Bucket="drives")
        s3.put_object(Bucket="drives", Key="kept", Body=b"small bodies live in metadata")
        upload = s3.create_multipart_upload(Bucket="drives", Key="multi")["UploadId"]
        before = committed_fragment_paths(server)
        for name in ("drive-2", "drive-4", "drive-5"):
            shutil.rmtree(drive_folder(server, name))

        with pytest.raises(ClientError) as caught:
            s3.put_object(Bucket="drives", Key="big", Body=body_of(SINGLE_SIZE, 8))
        error = caught.value.response
        assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (503, "ServiceUnavailable")
        with pytest.raises(ClientError) as caught:
            s3.upload_part(Bucket="drives", Key="multi", UploadId=upload, PartNumber=1, Body=body_of(5 * MiB, 9))
        assert caught.value.response["Error"]["Code"] == "ServiceUnavailable"

        # Nothing became visible and nothing was left on the remaining drives.
        with pytest.raises(ClientError) as caught:
            s3.head_object(Bucket="drives", Key="big")
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="drives").get("Contents", [])] == ["kept"]
        assert s3.list_parts(Bucket="drives", Key="multi", UploadId=upload).get("Parts", []) == []
        assert committed_fragment_paths(server) <= before
        assert drive_temp_files(server) == []
        assert s3.get_object(Bucket="drives", Key="kept")["Body"].read() == b"small bodies live in metadata"
    finally:
        server.stop()
