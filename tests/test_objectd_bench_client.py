"""The benchmark's S3 client, against moto's S3 server."""

from __future__ import annotations

import hashlib
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import aiohttp
import pytest

from objectd.bench_client import SEND_CHUNK, BenchClient, Endpoint, S3RequestError, open_session
from objectd.bench_signer import RequestSigner


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    """moto's S3 server in a subprocess on a free port of 127.0.0.1, once it accepts connections."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError("moto server exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("moto server did not start")


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    process, url = start_moto()
    try:
        yield url
    finally:
        process.terminate()
        process.wait()


def test_endpoint_parsing() -> None:
    parsed = Endpoint.parse("https://user@s3.example.com:8443/prefix/")
    assert (parsed.scheme, parsed.host, parsed.base_path) == ("https", "s3.example.com:8443", "/prefix")
    assert parsed.url == "https://s3.example.com:8443/prefix"
    assert Endpoint.parse("http://127.0.0.1:9000").base_path == ""
    for bad in ["127.0.0.1:9000", "ftp://host", "http://host/?a=b", "http://"]:
        with pytest.raises(ValueError):
            Endpoint.parse(bad)


async def test_requests_against_moto(moto_url: str) -> None:
    body = memoryview(random.Random(5).randbytes(3 * SEND_CHUNK + 12345))
    async with open_session(8, verify_tls=True) as session:
        client = BenchClient(session, Endpoint.parse(moto_url), RequestSigner("AK", "SK", "us-east-1"))
        await client.create_bucket("bench-client", "us-east-1")

        # A body sent in slices, then one sent whole; moto's ETag is the MD5.
        etag = await client.put_object("bench-client", "big/object", body)
        assert etag.strip('"') == hashlib.md5(body).hexdigest()
        small = body[:4096]
        assert (await client.put_object("bench-client", "small/a b+c", small)).strip('"') == (
            hashlib.md5(small).hexdigest())

        digest = hashlib.md5()
        assert await client.get_object("bench-client", "big/object", sink=digest.update) == len(body)
        assert digest.digest() == hashlib.md5(body).digest()
        pieces: list[bytes] = []
        received = await client.get_object("bench-client", "big/object", (1000, 1000 + 65535), pieces.append)
        assert received == 65536 and b"".join(pieces) == body[1000 : 1000 + 65536]
        assert await client.get_object("bench-client", "small/a b+c") == 4096

        with pytest.raises(S3RequestError) as missing:
            await client.get_object("bench-client", "nope")
        assert missing.value.status == 404 and missing.value.code == "NoSuchKey"

        empty = memoryview(b"")
        names = [f"list/{i:04d}" for i in range(25)]
        for name in names:
            await client.put_object("bench-client", name, empty)
        listed: list[str] = []
        token = None
        pages = 0
        while True:
            page = await client.list_page("bench-client", "list/", 10, token)
            pages += 1
            listed.extend(page.keys)
            if not page.is_truncated:
                break
            token = page.next_token
        assert listed == names and pages == 3

        assert await client.delete_objects("bench-client", names[:20]) == []
        for name in names[20:]:
            await client.delete_object("bench-client", name)
        await client.delete_objects("bench-client", ["big/object", "small/a b+c"])
        assert (await client.list_page("bench-client", "", 1000, None)).keys == ()
        await client.delete_bucket("bench-client")
        with pytest.raises(S3RequestError) as gone:
            await client.list_page("bench-client", "", 1000, None)
        assert gone.value.code == "NoSuchBucket"


async def test_other_region_bucket(moto_url: str) -> None:
    async with open_session(2, verify_tls=False) as session:
        client = BenchClient(session, Endpoint.parse(moto_url), RequestSigner("AK", "SK", "eu-west-3"))
        await client.create_bucket("bench-eu", "eu-west-3")
        async with session.get(f"{moto_url}/bench-eu?location") as resp:
            assert b"eu-west-3" in await resp.read()
        await client.delete_bucket("bench-eu")


async def test_connection_refused_is_a_client_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with open_session(1, verify_tls=True) as session:
        client = BenchClient(session, Endpoint.parse(f"http://127.0.0.1:{port}"), RequestSigner("a", "b", "r"))
        with pytest.raises(aiohttp.ClientError):
            await client.create_bucket("x", "r")
