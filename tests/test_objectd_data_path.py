"""DataPath over a real SQLite store and real drive folders: bodies stored
inline or as streams, the body digest fed every byte once before verify, and
the CPU thread pool."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest

from objectd.data_path import DataPath, DataPathSettings
from placement.ring import Ring, RingNode
from tests.local_data_path import LAYOUT, MASTER_KEY, local_data_path
from tests.page_cache import cached_pages


@pytest.fixture
async def parts(tmp_path):
    async with local_data_path(tmp_path) as (md, _, make):
        yield md, make


class _Digest:
    """Records what a body digest is fed, and from which threads."""

    def __init__(self) -> None:
        self.md5 = hashlib.md5()
        self.size = 0
        self.threads: set[str] = set()

    def __call__(self, data) -> None:
        self.md5.update(data)
        self.size += len(data)
        self.threads.add(threading.current_thread().name)


async def _read(data_path: DataPath, manifest, size: int) -> bytes:
    return b"".join([bytes(p) async for p in data_path.read(manifest, 0, size - 1)])


@pytest.mark.parametrize("size", [0, 1, 1024, 1025, 64 * 1024, 5 * 64 * 1024 + 17])
@pytest.mark.parametrize("chunk", [100, 64 * 1024, 10**9])
async def test_every_byte_reaches_the_digest_once_before_verify(parts, size, chunk):
    _, make = parts
    data_path = make()
    body = os.urandom(size)
    digest = _Digest()
    at_verify: list[int] = []

    async def chunks():
        for i in range(0, size, chunk):
            yield body[i : i + chunk]

    try:
        manifest = await data_path.store(chunks(), lambda: at_verify.append(digest.size), digest)
        assert at_verify == [size]
        assert digest.md5.digest() == hashlib.md5(body).digest()
        if size > 1024:  # streamed: hashed on the CPU threads, never on the loop
            assert digest.threads and all(t.startswith("objectd-cpu") for t in digest.threads)
        if size:
            assert await _read(data_path, manifest, size) == body
    finally:
        data_path.close()


async def test_a_rejected_body_leaves_no_fragments(parts):
    md, make = parts
    data_path = make()

    async def chunks():
        yield os.urandom(200_000)

    def reject() -> None:
        raise ValueError("bad digest")

    try:
        with pytest.raises(ValueError):
            await data_path.store(chunks(), reject, _Digest())
        assert [f for d in data_path.stores.values() for f in d.fragment_ids()] == []
    finally:
        data_path.close()


async def test_cpu_workers_sizes_the_pool(parts):
    _, make = parts
    default, three = make(), make(cpu_workers=3)
    try:
        assert default._cpu_pool._max_workers == len(os.sched_getaffinity(0))
        assert three._cpu_pool._max_workers == 3
    finally:
        default.close()
        three.close()
    with pytest.raises(RuntimeError):
        default._cpu_pool.submit(print)  # closed


class _ParityFirst:
    """A node view whose read order puts the parity fragments first, as a
    gateway does when its own site holds parity."""

    def unavailable(self) -> frozenset[str]:
        return frozenset()

    def read_order(self, locations, k: int) -> list[int]:
        return [4, 5, 0, 1, 2, 3]

    def report_failure(self, store_id: str, error: BaseException) -> None:
        pass


def _cache_by_index(data_path: DataPath) -> dict[int, tuple[int, int]]:
    found = {}
    for drive in data_path.stores.values():
        for fid in drive.fragment_ids():
            found[int(fid.rsplit(".", 1)[1])] = cached_pages(drive.path_of(fid))
    assert set(found) == set(range(LAYOUT.k + LAYOUT.m))
    return found


async def _store_12_mib(data_path: DataPath) -> tuple[object, bytes]:
    body = os.urandom(12 * 1024 * 1024 + 5)

    async def chunks():
        for i in range(0, len(body), 1 << 20):
            yield body[i : i + (1 << 20)]

    return await data_path.store(chunks(), lambda: None, _Digest()), body


async def test_fragments_that_gets_do_not_read_leave_the_page_cache(parts):
    # A GET reads the data fragments; parity is read only to repair, so its
    # pages are dropped once durable and the cache keeps what GETs will read.
    _, make = parts
    data_path = make()
    try:
        manifest, body = await _store_12_mib(data_path)
        for index, (cached, pages) in _cache_by_index(data_path).items():
            assert pages > 3 * 256  # several write-back steps
            if index < LAYOUT.k:
                assert cached >= pages - pages // 20, (index, cached, pages)
            else:
                assert cached <= pages // 20, (index, cached, pages)
        assert await _read(data_path, manifest, len(body)) == body
    finally:
        data_path.close()


async def test_the_fragments_kept_cached_follow_the_read_order(tmp_path):
    async with local_data_path(tmp_path) as (md, drives, _):
        data_path = DataPath(md, drives, Ring(RingNode(i) for i in drives),
                             DataPathSettings(layout=LAYOUT, inline_threshold=1024), MASTER_KEY,
                             nodes=_ParityFirst())
        try:
            manifest, body = await _store_12_mib(data_path)
            for index, (cached, pages) in _cache_by_index(data_path).items():
                if index in (4, 5, 0, 1):
                    assert cached >= pages - pages // 20, (index, cached, pages)
                else:
                    assert cached <= pages // 20, (index, cached, pages)
            assert await _read(data_path, manifest, len(body)) == body  # read 4, 5, 0, 1 and decoded
        finally:
            data_path.close()
