"""StreamWriter and StreamReader over real drive folders and real pyeclib:
round trips, ranges, and reads that survive lost or damaged fragments."""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from erasure.codec import ErasureCodec
from erasure.layout import StripeLayout
from objectd.drive_store import LocalDriveStore
from objectd.fragment_store import fragment_id
from objectd.manifest import StreamRef
from objectd.stream_reader import StreamReader, StreamUnreadable
from objectd.stream_writer import StreamWriter, WriteQuorumLost
from tests.page_cache import evict

LAYOUT = StripeLayout(k=4, m=2, segment_size=64 * 1024)
MASTER = bytes(range(32))


@pytest.fixture
def drives(tmp_path: Path) -> dict[str, LocalDriveStore]:
    stores = [LocalDriveStore.initialize(tmp_path / f"drive-{i}") for i in range(6)]
    return {s.store_id: s for s in stores}


@pytest.fixture(scope="module")
def codec() -> ErasureCodec:
    return ErasureCodec(LAYOUT)


async def write_stream(drives, codec, data: bytes, chunk: int = 10_000, key=MASTER, quorum=5) -> StreamRef:
    writer = StreamWriter(drives, list(drives), codec, key, quorum)
    await writer.open()
    for i in range(0, len(data), chunk):
        await writer.write(data[i : i + chunk])
    return await writer.finish()


async def read_all(drives, codec, ref: StreamRef, first: int = 0, last: int | None = None, key=MASTER) -> bytes:
    last = ref.size - 1 if last is None else last
    reader = StreamReader(drives, ref, codec, key, batch_bytes=3 * LAYOUT.segment_size)
    return b"".join([bytes(p) async for p in reader.read(first, last)])


@pytest.mark.parametrize("size", [1, 4095, 64 * 1024, 64 * 1024 + 1, 5 * 64 * 1024 + 333])
@pytest.mark.parametrize("key", [MASTER, None])
async def test_round_trip(drives, codec, size, key):
    data = os.urandom(size)
    ref = await write_stream(drives, codec, data, key=key)
    assert ref.size == size
    assert all(ref.locations)
    assert await read_all(drives, codec, ref, key=key) == data


async def test_fragments_are_encrypted_at_rest(drives, codec):
    data = b"secret-pattern-" * 20_000
    ref = await write_stream(drives, codec, data)
    for index, location in enumerate(ref.locations):
        raw = drives[location].path_of(fragment_id(ref.stream_id, index)).read_bytes()
        assert b"secret-pattern-" not in raw


async def test_large_chunks_and_tiny_chunks_agree(drives, codec):
    data = os.urandom(3 * 64 * 1024 + 17)
    a = await write_stream(drives, codec, data, chunk=7777)
    b = await write_stream(drives, codec, data, chunk=len(data))
    assert await read_all(drives, codec, a) == await read_all(drives, codec, b) == data


async def test_ranges(drives, codec):
    size = 7 * 64 * 1024 + 1000
    data = os.urandom(size)
    ref = await write_stream(drives, codec, data)
    seg = LAYOUT.segment_size
    cases = [(0, 0), (size - 1, size - 1), (0, size - 1), (seg - 1, seg), (seg, 2 * seg - 1),
             (100, 200), (16 * 1024 - 1, 16 * 1024), (3 * seg + 5, 6 * seg + 7), (size - 1000, size - 1)]
    for first, last in cases:
        assert await read_all(drives, codec, ref, first, last) == data[first : last + 1], (first, last)


def _fragment_path(drives, ref: StreamRef, index: int) -> Path:
    return drives[ref.locations[index]].path_of(fragment_id(ref.stream_id, index))


@pytest.mark.parametrize("lost", [c for n in (1, 2) for c in itertools.combinations(range(6), n)])
async def test_reads_survive_up_to_m_lost_fragments(drives, codec, lost):
    data = os.urandom(3 * 64 * 1024 + 99)
    ref = await write_stream(drives, codec, data)
    for index in lost:
        _fragment_path(drives, ref, index).unlink()
    assert await read_all(drives, codec, ref) == data
    assert await read_all(drives, codec, ref, 70_000, 70_100) == data[70_000:70_101]


@pytest.mark.parametrize("damaged", [(0,), (3,), (0, 5), (1, 2)])
async def test_reads_survive_corrupt_pieces(drives, codec, damaged):
    data = os.urandom(4 * 64 * 1024)
    ref = await write_stream(drives, codec, data)
    for index in damaged:
        path = _fragment_path(drives, ref, index)
        raw = bytearray(path.read_bytes())
        raw[len(raw) // 2] ^= 0xFF  # one flipped byte in the middle of a segment's piece
        path.write_bytes(bytes(raw))
    assert await read_all(drives, codec, ref) == data


async def test_truncated_fragment_is_read_around(drives, codec):
    data = os.urandom(4 * 64 * 1024)
    ref = await write_stream(drives, codec, data)
    path = _fragment_path(drives, ref, 1)
    path.write_bytes(path.read_bytes()[:1000])
    assert await read_all(drives, codec, ref) == data


async def test_missing_drive_folder_is_read_around(drives, codec):
    data = os.urandom(2 * 64 * 1024 + 5)
    ref = await write_stream(drives, codec, data)
    shutil.rmtree(drives[ref.locations[2]].root)
    assert await read_all(drives, codec, ref) == data


@pytest.mark.parametrize("lost", [(0, 1, 2), (3, 4, 5), (0, 4, 5)])
async def test_more_than_m_lost_is_an_error_never_wrong_bytes(drives, codec, lost):
    data = os.urandom(2 * 64 * 1024)
    ref = await write_stream(drives, codec, data)
    for index in lost:
        _fragment_path(drives, ref, index).unlink()
    with pytest.raises(StreamUnreadable):
        await read_all(drives, codec, ref)


async def test_m_plus_one_corrupt_is_an_error(drives, codec):
    data = os.urandom(64 * 1024)
    ref = await write_stream(drives, codec, data)
    for index in (0, 2, 4):
        path = _fragment_path(drives, ref, index)
        raw = bytearray(path.read_bytes())
        raw[100] ^= 1
        path.write_bytes(bytes(raw))
    with pytest.raises(StreamUnreadable):
        await read_all(drives, codec, ref)


async def test_write_survives_one_missing_drive_and_records_it(drives, codec):
    names = list(drives)
    shutil.rmtree(drives[names[3]].root)
    data = os.urandom(100_000)
    ref = await write_stream(drives, codec, data)
    assert ref.locations[3] == ""
    assert sum(1 for loc in ref.locations if loc) == 5
    assert await read_all(drives, codec, ref) == data


async def test_write_below_quorum_fails_and_leaves_nothing(drives, codec, tmp_path):
    names = list(drives)
    for name in names[:2]:
        shutil.rmtree(drives[name].root)
    writer = StreamWriter(drives, names, codec, MASTER, 5)
    with pytest.raises(WriteQuorumLost):
        await writer.open()
    await writer.abort()
    for name in names[2:]:
        assert drives[name].fragment_ids() == []
        assert list((drives[name].root / "tmp").iterdir()) == []


@pytest.mark.parametrize("read_first", [[0, 1, 2], [0, 1, 2, 3, 4], [0, 1, 2, 2], [0, 1, 2, 6], [-1, 0, 1, 2]])
def test_read_first_must_be_k_fragment_indexes(drives, codec, read_first):
    with pytest.raises(ValueError):
        StreamWriter(drives, list(drives), codec, MASTER, 5, read_first=read_first)


async def test_abort_removes_temporary_files(drives, codec):
    writer = StreamWriter(drives, list(drives), codec, MASTER, 5)
    await writer.open()
    await writer.write(os.urandom(200_000))
    await writer.abort()
    for store in drives.values():
        assert store.fragment_ids() == []
        assert list((store.root / "tmp").iterdir()) == []


async def test_wrong_master_key_cannot_read(drives, codec):
    data = os.urandom(100_000)
    ref = await write_stream(drives, codec, data)
    with pytest.raises(Exception):
        await read_all(drives, codec, ref, key=bytes(32))


async def test_digest_of_large_stream(drives, codec):
    data = os.urandom(20 * 64 * 1024 + 1)
    ref = await write_stream(drives, codec, data, chunk=65_537)
    got = await read_all(drives, codec, ref)
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


class _CountingDrive:
    """A drive that records which of its reads ran: from the kernel's caches
    (on the event loop) or blocking (on a thread)."""

    def __init__(self, drive: LocalDriveStore, log: list[tuple[str, str, int]]) -> None:
        self._drive = drive
        self._log = log
        self.store_id = drive.store_id

    def read_cached(self, fid: str, offset: int, length: int) -> bytearray | None:
        data = self._drive.read_cached(fid, offset, length)
        self._log.append(("cached" if data is not None else "refused", fid, length))
        return data

    def read_sync(self, fid: str, offset: int, length: int) -> bytes:
        self._log.append(("thread", fid, length))
        return self._drive.read_sync(fid, offset, length)

    async def read(self, fid: str, offset: int, length: int) -> bytes:
        return self.read_sync(fid, offset, length)


async def _read_logged(drives, codec, ref, first, last) -> tuple[bytes, list[tuple[str, str, int]]]:
    log: list[tuple[str, str, int]] = []
    counting = {name: _CountingDrive(d, log) for name, d in drives.items()}
    reader = StreamReader(counting, ref, codec, MASTER)
    data = b"".join([bytes(p) async for p in reader.read(first, last)])
    return data, log


async def test_small_cached_range_reads_one_piece_on_the_loop(drives, codec):
    data = os.urandom(4 * 64 * 1024)
    ref = await write_stream(drives, codec, data)
    for index in range(LAYOUT.k):
        _fragment_path(drives, ref, index).read_bytes()  # cached, as after a recent write
    got, log = await _read_logged(drives, codec, ref, 70_000, 70_099)
    assert got == data[70_000:70_100]
    # Segment 1, bytes 4,464..4,563 of it: inside data fragment 0 only.
    assert [(kind, fid) for kind, fid, _ in log] == [("cached", fragment_id(ref.stream_id, 0))]


async def test_small_range_across_a_segment_boundary_reads_one_piece_per_segment(drives, codec):
    data = os.urandom(4 * 64 * 1024)
    ref = await write_stream(drives, codec, data)
    seg = LAYOUT.segment_size
    got, log = await _read_logged(drives, codec, ref, seg - 50, seg + 49)
    assert got == data[seg - 50 : seg + 50]
    # The last data fragment's piece of segment 0, the first's of segment 1:
    # two pieces read, not all k of both segments.
    assert sorted(fid for _, fid, _ in log) == sorted(
        [fragment_id(ref.stream_id, LAYOUT.k - 1), fragment_id(ref.stream_id, 0)]
    )


async def test_uncached_range_is_read_on_a_thread(drives, codec):
    data = os.urandom(4 * 64 * 1024)
    ref = await write_stream(drives, codec, data)
    evict(_fragment_path(drives, ref, 0))
    got, log = await _read_logged(drives, codec, ref, 70_000, 70_099)
    assert got == data[70_000:70_100]
    fid = fragment_id(ref.stream_id, 0)
    assert [(kind, f) for kind, f, _ in log] == [("refused", fid), ("thread", fid)]


async def test_corrupt_cached_piece_is_read_around(drives, codec):
    data = os.urandom(4 * 64 * 1024)
    ref = await write_stream(drives, codec, data)
    path = _fragment_path(drives, ref, 0)
    raw = bytearray(path.read_bytes())
    frame = len(raw) // 4  # four segments, one frame each
    raw[frame + 100] ^= 0xFF  # inside segment 1's piece
    path.write_bytes(bytes(raw))
    got, log = await _read_logged(drives, codec, ref, 70_000, 70_099)
    assert got == data[70_000:70_100]
    # Verified on the loop, refused, re-read on a thread, then rebuilt from
    # the other fragments: never the damaged bytes.
    assert ("cached", fragment_id(ref.stream_id, 0), frame) in log
    assert any(kind == "thread" and fid != fragment_id(ref.stream_id, 0) for kind, fid, _ in log)


class _RecordingPool(ThreadPoolExecutor):
    """A thread pool that counts the jobs given to it."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.jobs = 0

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        self.jobs += 1
        return super().submit(fn, *args, **kwargs)


@pytest.mark.parametrize("chunk", [1, 10_000, 64 * 1024, 64 * 1024 + 3, 200_000])
async def test_every_segment_reaches_on_segment_in_order_on_the_pool(drives, codec, chunk):
    data = os.urandom(5 * 64 * 1024 + 777)
    if chunk == 1:
        pieces = [data[:100], data[100:]]  # one small piece, then all the rest at once
    else:
        pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    seen: list[bytes] = []
    threads: set[int] = set()

    def on_segment(segment) -> None:
        threads.add(threading.get_ident())
        seen.append(bytes(segment))

    pool = _RecordingPool()
    try:
        writer = StreamWriter(drives, list(drives), codec, MASTER, 5, on_segment=on_segment, executor=pool)
        await writer.open()
        for piece in pieces:
            await writer.write(piece)
        await writer.drain()
        # Every byte was handed over before the fragments become durable.
        assert b"".join(seen) == data
        assert all(len(s) == LAYOUT.segment_size for s in seen[:-1])
        ref = await writer.commit()
    finally:
        pool.shutdown()
    assert pool.jobs == len(seen) == 6
    assert threading.get_ident() not in threads
    assert await read_all(drives, codec, ref) == data


async def test_whole_segments_are_handed_over_without_copying(drives, codec):
    segments = [os.urandom(LAYOUT.segment_size) for _ in range(3)]
    seen: list[object] = []
    writer = StreamWriter(drives, list(drives), codec, MASTER, 5, on_segment=seen.append)
    await writer.open()
    for segment in segments:
        await writer.write(segment)
    # A longer bytes object is cut into views of itself, not copies.
    joined = b"".join(segments)
    await writer.write(joined)
    ref = await writer.finish()
    assert all(a is b for a, b in zip(seen[:3], segments))
    assert all(isinstance(v, memoryview) and v.obj is joined for v in seen[3:])
    assert await read_all(drives, codec, ref) == joined + joined


async def test_a_mutable_buffer_is_copied_before_it_is_queued(drives, codec):
    data = bytearray(os.urandom(2 * LAYOUT.segment_size))
    expected = bytes(data)
    writer = StreamWriter(drives, list(drives), codec, MASTER, 5)
    await writer.open()
    await writer.write(data)
    data[:] = bytes(len(data))  # the caller reuses its buffer at once
    ref = await writer.finish()
    assert await read_all(drives, codec, ref) == expected


async def test_commit_before_drain_is_refused(drives, codec):
    writer = StreamWriter(drives, list(drives), codec, MASTER, 5)
    await writer.open()
    await writer.write(b"x" * 100)
    with pytest.raises(RuntimeError):
        await writer.commit()
    await writer.abort()


class _ThreadNamingDrive(_CountingDrive):
    """A counting drive that also records the thread each read ran on."""

    def __init__(self, drive: LocalDriveStore, log: list[tuple[str, str, int]], threads: list[str]) -> None:
        super().__init__(drive, log)
        self._threads = threads

    def read_cached(self, fid: str, offset: int, length: int) -> bytearray | None:
        self._threads.append(threading.current_thread().name)
        return super().read_cached(fid, offset, length)

    def read_sync(self, fid: str, offset: int, length: int) -> bytes:
        self._threads.append(threading.current_thread().name)
        return super().read_sync(fid, offset, length)


async def _read_whole_logged(drives, codec, ref) -> tuple[bytes, list[tuple[str, str, int]], list[str]]:
    log: list[tuple[str, str, int]] = []
    threads: list[str] = []
    counting = {name: _ThreadNamingDrive(d, log, threads) for name, d in drives.items()}
    with ThreadPoolExecutor(1, thread_name_prefix="cpu") as pool:
        reader = StreamReader(counting, ref, codec, MASTER, batch_bytes=2 * LAYOUT.segment_size,
                              cpu_executor=pool)
        data = b"".join([bytes(p) async for p in reader.read(0, ref.size - 1)])
    return data, log, threads


async def test_cached_batches_are_read_and_decoded_on_the_cpu_threads(drives, codec):
    data = os.urandom(5 * LAYOUT.segment_size + 99)
    ref = await write_stream(drives, codec, data)
    for index in range(LAYOUT.k):
        _fragment_path(drives, ref, index).read_bytes()
    got, log, threads = await _read_whole_logged(drives, codec, ref)
    assert got == data
    # Three batches, k data fragments each, every read from the cache on a CPU thread.
    assert [kind for kind, _, _ in log] == ["cached"] * (3 * LAYOUT.k)
    assert all(name.startswith("cpu") for name in threads)
    assert {fid for _, fid, _ in log} == {fragment_id(ref.stream_id, i) for i in range(LAYOUT.k)}


async def test_uncached_batches_are_read_on_the_default_executor(drives, codec):
    data = os.urandom(2 * LAYOUT.segment_size)
    ref = await write_stream(drives, codec, data)
    evict(_fragment_path(drives, ref, 2))
    got, log, threads = await _read_whole_logged(drives, codec, ref)
    assert got == data
    kinds = [kind for kind, _, _ in log]
    assert "refused" in kinds and kinds.count("thread") == LAYOUT.k
    blocking = [name for (kind, _, _), name in zip(log, threads) if kind == "thread"]
    assert blocking and not any(name.startswith("cpu") for name in blocking)


async def test_a_bad_piece_in_a_cached_batch_is_read_around_and_reported(drives, codec, caplog):
    data = os.urandom(8 * LAYOUT.segment_size)
    ref = await write_stream(drives, codec, data)
    path = _fragment_path(drives, ref, 1)
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0xFF
    path.chmod(0o600)
    path.write_bytes(bytes(raw))
    with caplog.at_level("WARNING", logger="objectd.read"):
        got, log, _ = await _read_whole_logged(drives, codec, ref)
    assert got == data
    # Parity was fetched for the damaged fragment, and the damage was logged.
    assert any(fid == fragment_id(ref.stream_id, LAYOUT.k) for _, fid, _ in log)
    # Of the four batches only the first two (the second is read ahead while
    # the first is sent) tried the one-hop path; once it found damage the
    # others went to the general path directly.
    assert [kind for kind, _, _ in log].count("cached") == 2 * LAYOUT.k
    assert any("corrupt" in r.getMessage() or "unreadable" in r.getMessage() for r in caplog.records)


async def test_a_failed_drain_never_lets_commit_make_fragments_durable(drives, codec):
    writer = StreamWriter(drives, list(drives), codec, MASTER, 5)
    await writer.open()
    await writer.write(os.urandom(LAYOUT.segment_size))

    def broken(data) -> None:
        raise OSError(5, "I/O error")

    for fragment_writer in writer._writers[:2]:
        fragment_writer.write_sync = broken  # two of six drives fail: quorum 5 is lost
    with pytest.raises(WriteQuorumLost):
        for _ in range(4):  # the failure surfaces on a later write or on drain
            await writer.write(os.urandom(LAYOUT.segment_size))
        await writer.drain()
    with pytest.raises(WriteQuorumLost):
        await writer.drain()
    with pytest.raises(RuntimeError):
        await writer.commit()
    await writer.abort()
    assert all(list(d.fragment_ids()) == [] for d in drives.values())
