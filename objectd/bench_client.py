"""The benchmark's S3 client: the handful of requests it makes, cheaply.

One aiohttp session whose pool is sized to the concurrency, requests signed by
:class:`~objectd.bench_signer.RequestSigner` (no body hashing), path-style
addressing. Bodies are sent from the caller's preallocated buffer: large ones
as 1 MiB memoryview slices (each written and drained before the next, so the
socket layer never holds a copy of the whole object), and response bodies are
read and dropped a buffered chunk at a time, never joined.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from objectd.bench_s3_xml import (
    ListPage,
    parse_delete_errors,
    parse_error_code,
    parse_list_page,
    render_delete_request,
)
from objectd.bench_signer import RequestSigner, canonical_query, encode_key_path

SEND_CHUNK = 1 << 20
READ_BUFFER = 1 << 20


class S3RequestError(Exception):
    """A request the endpoint refused or answered wrongly."""

    def __init__(self, what: str, status: int, body: bytes) -> None:
        code = parse_error_code(body)
        detail = f" {code}" if code else (f": {body[:200]!r}" if body else "")
        super().__init__(f"{what}: HTTP {status}{detail}")
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Endpoint:
    """Where requests go: the base URL's scheme, authority and path prefix."""

    scheme: str
    host: str
    base_path: str

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        """The endpoint of ``url`` (``http[s]://host[:port][/prefix]``)."""
        split = urlsplit(url)
        if split.scheme not in ("http", "https") or not split.hostname:
            raise ValueError(f"endpoint must be an http:// or https:// URL, not {url!r}")
        if split.query or split.fragment:
            raise ValueError(f"endpoint {url!r} must not carry a query or fragment")
        return cls(split.scheme, split.netloc.rpartition("@")[2], split.path.rstrip("/"))

    @property
    def url(self) -> str:
        """The endpoint as a URL."""
        return f"{self.scheme}://{self.host}{self.base_path}"


def open_session(pool_size: int, verify_tls: bool) -> aiohttp.ClientSession:
    """One client session with ``pool_size`` connections per host, no
    decompression and a large read buffer (fewer flow-control pauses)."""
    connector = aiohttp.TCPConnector(
        limit=pool_size * 2, limit_per_host=pool_size, ssl=verify_tls
    )
    return aiohttp.ClientSession(
        connector=connector,
        auto_decompress=False,
        read_bufsize=READ_BUFFER,
        skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=300),
    )


async def _slices(body: memoryview) -> AsyncIterator[memoryview]:
    for start in range(0, len(body), SEND_CHUNK):
        yield body[start : start + SEND_CHUNK]


class BenchClient:
    """S3 requests of the benchmark against one endpoint."""

    def __init__(self, session: aiohttp.ClientSession, endpoint: Endpoint, signer: RequestSigner) -> None:
        self._session = session
        self._endpoint = endpoint
        self._signer = signer
        self._base = f"{endpoint.scheme}://{endpoint.host}"

    def _prepare(
        self, method: str, path: str, query: str, extra: dict[str, str] | None
    ) -> tuple[URL, dict[str, str]]:
        path = self._endpoint.base_path + path
        headers = self._signer.sign(method, self._endpoint.host, path, query, extra)
        headers["Host"] = self._endpoint.host
        if extra:
            headers.update(extra)
        url = URL(f"{self._base}{path}?{query}" if query else f"{self._base}{path}", encoded=True)
        return url, headers

    async def create_bucket(self, bucket: str, region: str) -> None:
        """Create ``bucket`` in ``region``."""
        body = b""
        if region != "us-east-1":
            # us-east-1 is the one region AWS wants no LocationConstraint for.
            body = (
                '<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                f"<LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>"
            ).encode()
        url, headers = self._prepare("PUT", encode_key_path(bucket), "", None)
        async with self._session.put(url, headers=headers, data=body) as resp:
            answer = await resp.read()
            if resp.status != 200:
                raise S3RequestError(f"create bucket {bucket}", resp.status, answer)

    async def delete_bucket(self, bucket: str) -> None:
        """Delete the (empty) ``bucket``."""
        url, headers = self._prepare("DELETE", encode_key_path(bucket), "", None)
        async with self._session.delete(url, headers=headers) as resp:
            answer = await resp.read()
            if resp.status not in (200, 204):
                raise S3RequestError(f"delete bucket {bucket}", resp.status, answer)

    async def put_object(self, bucket: str, key: str, body: memoryview) -> str:
        """Upload ``body`` as ``key``; its ETag (S3RequestError unless 200 with an ETag)."""
        url, headers = self._prepare("PUT", encode_key_path(bucket, key), "", None)
        data: object = body
        if len(body) > SEND_CHUNK:
            headers["Content-Length"] = str(len(body))
            data = _slices(body)
        async with self._session.put(url, headers=headers, data=data) as resp:
            answer = await resp.read()
            etag = resp.headers.get("ETag")
            if resp.status != 200:
                raise S3RequestError(f"PUT {key}", resp.status, answer)
            if not etag:
                raise S3RequestError(f"PUT {key} (no ETag in the response)", resp.status, answer)
            return etag

    async def get_object(
        self,
        bucket: str,
        key: str,
        byte_range: tuple[int, int] | None = None,
        sink: Callable[[bytes], object] | None = None,
    ) -> int:
        """Read ``key`` (or its inclusive ``byte_range``), handing each chunk to
        ``sink`` if given; the number of body bytes received."""
        extra = {"Range": f"bytes={byte_range[0]}-{byte_range[1]}"} if byte_range else None
        url, headers = self._prepare("GET", encode_key_path(bucket, key), "", extra)
        async with self._session.get(url, headers=headers) as resp:
            if resp.status != (206 if byte_range else 200):
                raise S3RequestError(f"GET {key} {extra or ''}".rstrip(), resp.status, await resp.read())
            received = 0
            read = resp.content.readany
            while chunk := await read():
                received += len(chunk)
                if sink is not None:
                    sink(chunk)
            return received

    async def list_page(self, bucket: str, prefix: str, max_keys: int, token: str | None) -> ListPage:
        """One ListObjectsV2 page of keys under ``prefix``."""
        params = [("list-type", "2"), ("max-keys", str(max_keys)), ("prefix", prefix)]
        if token is not None:
            params.append(("continuation-token", token))
        url, headers = self._prepare("GET", encode_key_path(bucket), canonical_query(params), None)
        async with self._session.get(url, headers=headers) as resp:
            answer = await resp.read()
            if resp.status != 200:
                raise S3RequestError(f"list {bucket}/{prefix}", resp.status, answer)
        return parse_list_page(answer)

    async def delete_objects(self, bucket: str, keys: list[str]) -> list[tuple[str, str]]:
        """Delete up to 1000 ``keys`` in one DeleteObjects request; the keys that failed."""
        body = render_delete_request(keys)
        # DeleteObjects requires a Content-MD5 (or a checksum) of its body.
        extra = {"Content-MD5": base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()}
        url, headers = self._prepare("POST", encode_key_path(bucket), canonical_query([("delete", "")]), extra)
        async with self._session.post(url, headers=headers, data=body) as resp:
            answer = await resp.read()
            if resp.status != 200:
                raise S3RequestError(f"delete objects in {bucket}", resp.status, answer)
        return parse_delete_errors(answer)

    async def delete_object(self, bucket: str, key: str) -> None:
        """Delete ``key``."""
        url, headers = self._prepare("DELETE", encode_key_path(bucket, key), "", None)
        async with self._session.delete(url, headers=headers) as resp:
            answer = await resp.read()
            if resp.status not in (200, 204):
                raise S3RequestError(f"DELETE {key}", resp.status, answer)
