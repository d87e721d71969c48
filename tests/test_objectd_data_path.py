"""DataPath over a real SQLite store and real drive folders: bodies stored
inline or as streams, the body digest fed every byte once before verify, and
the CPU thread pool."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest

from objectd.data_path import DataPath
from tests.local_data_path import LAYOUT, local_data_path
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


async def test_parity_fragments_are_not_kept_in_the_page_cache(parts):
    # A GET reads the data fragments; parity is read only to repair, so its
    # pages are dropped once durable and the cache keeps what GETs will read.
    _, make = parts
    data_path = make()
    body = os.urandom(12 * 1024 * 1024 + 5)

    async def chunks():
        for i in range(0, len(body), 1 << 20):
            yield body[i : i + (1 << 20)]

    try:
        manifest = await data_path.store(chunks(), lambda: None, _Digest())
        seen = set()
        for drive in data_path.stores.values():
            for fid in drive.fragment_ids():
                index = int(fid.rsplit(".", 1)[1])
                cached, pages = cached_pages(drive.path_of(fid))
                assert pages > 3 * 256  # several write-back steps
                if index < LAYOUT.k:
                    assert cached == pages, (fid, cached, pages)
                else:
                    assert cached < pages // 2, (fid, cached, pages)
                seen.add(index)
        assert seen == set(range(LAYOUT.k + LAYOUT.m))
        assert await _read(data_path, manifest, len(body)) == body
    finally:
        data_path.close()
