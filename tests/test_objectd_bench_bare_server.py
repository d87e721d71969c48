"""The bare aiohttp server the benchmark measures as a ceiling."""

from __future__ import annotations

import hashlib
import random

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from objectd.bench_bare_server import BareStore, bare_server_process, build_app, parse_range
from objectd.bench_s3_xml import parse_list_page


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-9", 100, (0, 9)),
        ("bytes=90-", 100, (90, 99)),
        ("bytes=-10", 100, (90, 99)),
        ("bytes=-500", 100, (0, 99)),
        ("bytes=50-1000", 100, (50, 99)),
        ("bytes=100-", 100, None),
        ("bytes=9-0", 100, None),
        ("bytes=0-1,5-6", 100, None),
        ("items=0-1", 100, None),
        ("bytes=a-b", 100, None),
        ("", 100, None),
        ("bytes=0-0", 0, None),
    ],
)
def test_parse_range(header: str, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


def _list_all(store: BareStore, bucket: str, prefix: str, page_size: int) -> tuple[list[str], int]:
    keys: list[str] = []
    token = None
    pages = 0
    while True:
        page = parse_list_page(store.list_page(bucket, prefix, page_size, token))
        pages += 1
        keys.extend(page.keys)
        assert len(page.keys) <= page_size
        if not page.is_truncated:
            return keys, pages
        assert page.next_token
        token = page.next_token


def test_store_lists_in_pages_in_key_order() -> None:
    store = BareStore()
    rng = random.Random(3)
    names = [f"p/{rng.randrange(10**6):06d}" for _ in range(250)] + ["p/\uff21", "p/\U0001f600", "p/z"]
    for name in names:
        store.put("b", name, 1)
    store.put("b", "q/outside", 1)
    store.put("other", "p/elsewhere", 1)
    keys, pages = _list_all(store, "b", "p/", 100)
    # S3 lists in UTF-8 byte order.
    expected = sorted(set(names), key=lambda k: k.encode())
    assert keys == expected
    assert pages == -(-len(expected) // 100)


def test_store_listing_follows_puts_and_deletes() -> None:
    store = BareStore()
    for i in range(5):
        store.put("b", f"k{i}", i)
    assert _list_all(store, "b", "", 2)[0] == [f"k{i}" for i in range(5)]
    store.put("b", "k9", 1)
    store.delete("b", "k0")
    assert _list_all(store, "b", "", 2)[0] == ["k1", "k2", "k3", "k4", "k9"]
    assert store.size("b", "k3") == 3 and store.size("b", "k0") is None


async def test_serves_s3_requests_in_process() -> None:
    server = TestServer(build_app(buffer_size=3 << 20))
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            base = f"http://{server.host}:{server.port}"
            size = (5 << 20) + 123  # larger than the buffer: served by cycling through it
            async with session.put(f"{base}/b", data=b"") as resp:
                assert resp.status == 200
            async with session.put(f"{base}/b/big", data=bytes(size)) as resp:
                assert resp.status == 200 and resp.headers["ETag"]
            async with session.get(f"{base}/b/big") as resp:
                assert resp.status == 200
                whole = await resp.read()
            assert len(whole) == size
            for first, last in [(0, 9), (size - 70000, size - 1), ((3 << 20) - 5, (3 << 20) + 65530)]:
                async with session.get(f"{base}/b/big", headers={"Range": f"bytes={first}-{last}"}) as resp:
                    assert resp.status == 206
                    assert resp.headers["Content-Range"] == f"bytes {first}-{last}/{size}"
                    part = await resp.read()
                assert hashlib.md5(part).digest() == hashlib.md5(whole[first : last + 1]).digest()
            async with session.get(f"{base}/b?list-type=2&prefix=b&max-keys=10") as resp:
                assert parse_list_page(await resp.read()).keys == ("big",)
            async with session.get(f"{base}/b/missing") as resp:
                assert resp.status == 404
            async with session.delete(f"{base}/b/big") as resp:
                assert resp.status == 204
            async with session.get(f"{base}/b/big") as resp:
                assert resp.status == 404
            async with session.post(f"{base}/b?delete", data=b"<Delete/>") as resp:
                assert resp.status == 200
    finally:
        await server.close()


async def test_subprocess_starts_answers_and_stops() -> None:
    async with bare_server_process() as bare:
        async with aiohttp.ClientSession() as session:
            async with session.put(f"{bare.url}/b/k", data=bytes(4096)) as resp:
                assert resp.status == 200
            async with session.get(f"{bare.url}/b/k") as resp:
                assert len(await resp.read()) == 4096
        process = bare.process
        assert process.returncode is None and bare.pid == process.pid
    assert process.returncode == 0
