"""Fixtures for end-to-end tests: real `objectd serve` processes and real clients."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import http.client
import re
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.e2e.server_process import ROOT_ACCESS_KEY, ROOT_SECRET_KEY, ServerProcess
from tests.postgres_dsn import create_database, drop_database


@dataclass(frozen=True)
class Credentials:
    """An access key pair of a user on a test server."""

    user: str
    access_key: str
    secret_key: str


def add_user(server: ServerProcess, name: str) -> Credentials:
    """Create a user with the real CLI against the server's data folder."""
    out = subprocess.run(
        [sys.executable, "-m", "objectd", "user", *server.admin_args, "add", name],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout
    access = re.search(r"access key:\s*(\S+)", out)
    secret = re.search(r"secret key:\s*(\S+)", out)
    assert access and secret, out
    return Credentials(name, access.group(1), secret.group(1))


def make_client(server: ServerProcess, access_key: str = ROOT_ACCESS_KEY, secret_key: str = ROOT_SECRET_KEY,
                region: str = "us-east-1", **config: object):
    """A boto3 S3 client with default settings (plus any ``config`` overrides),
    signing for ``region``."""
    return boto3.client(
        "s3",
        endpoint_url=server.url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        verify=server.cert if server.tls else None,
        config=Config(**config) if config else None,
    )


TARGETS = ("serve", "cluster")
"""Every S3 test runs against the embedded server (``objectd serve``: SQLite,
local drive folders) and against a cluster (``objectd dev-cluster``: six
storage nodes in three sites over mutual TLS, and a gateway on Postgres)."""


class Servers:
    """The session's shared servers, started on first use, stopped at the end."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self._factory = factory
        self._started: dict[tuple[str, bool], ServerProcess] = {}
        self._databases: list[str] = []

    def get(self, target: str, tls: bool) -> ServerProcess:
        """The (target, transport) server, started if need be."""
        key = (target, tls)
        if key not in self._started:
            folder = self._factory.mktemp(f"objectd-{target}-{'https' if tls else 'http'}")
            if target == "serve":
                server = ServerProcess(folder, tls=tls)
            else:
                url = create_database()
                self._databases.append(url)
                server = ServerProcess(folder, tls=tls, command="dev-cluster",
                                       env={"OBJECTD_METADATA_URL": url})
            self._started[key] = server.start()
        return self._started[key]

    def stop(self) -> None:
        """Stop every server, then drop the databases they used."""
        for server in self._started.values():
            server.stop()
        for url in self._databases:
            drop_database(url)


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    started = Servers(tmp_path_factory)
    yield started
    started.stop()


@pytest.fixture(scope="session", params=TARGETS)
def target(request: pytest.FixtureRequest) -> str:
    """Which kind of deployment the test talks to."""
    return str(request.param)


@pytest.fixture(scope="session")
def http_server(servers: Servers, target: str) -> ServerProcess:
    return servers.get(target, tls=False)


@pytest.fixture(scope="session")
def https_server(servers: Servers, target: str) -> ServerProcess:
    return servers.get(target, tls=True)


@pytest.fixture(scope="session", params=["http", "https"])
def server(request: pytest.FixtureRequest, servers: Servers, target: str) -> ServerProcess:
    """Each test using this runs against the plain-HTTP and the HTTPS server:
    boto3 sends checksums in a header over HTTP and as aws-chunked trailers over HTTPS."""
    return servers.get(target, tls=request.param == "https")


@pytest.fixture
def s3(server: ServerProcess):
    return make_client(server)


def remove_bucket(client, name: str) -> None:
    """Empty and delete a bucket, ignoring whatever a test already removed."""
    try:
        for page in client.get_paginator("list_object_versions").paginate(Bucket=name):
            objs = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                    for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            if objs:
                client.delete_objects(Bucket=name, Delete={"Objects": objs, "Quiet": True})
        for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=name):
            for u in page.get("Uploads", []):
                client.abort_multipart_upload(Bucket=name, Key=u["Key"], UploadId=u["UploadId"])
        client.delete_bucket(Bucket=name)
    except ClientError:  # the test may have removed it already
        return


@pytest.fixture
def bucket(s3) -> Iterator[str]:
    """A fresh bucket, emptied and removed afterwards."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    yield name
    remove_bucket(s3, name)


def expect_error(code: str, status: int, call, /, *args: object, **kwargs: object) -> dict:
    """Call a boto3 operation that must fail with S3 error ``code`` and HTTP ``status``;
    the parsed error response (every S3 response carries ``x-amz-request-id``)."""
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    response = caught.value.response
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == (code, status), response
    assert response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-request-id"), response
    return response


_ALT_USERS: dict[int, Credentials] = {}


def alt_user(server: ServerProcess) -> Credentials:
    """A second user on ``server`` (for ownership tests), created once."""
    if id(server) not in _ALT_USERS:
        _ALT_USERS[id(server)] = add_user(server, "alt-user")
    return _ALT_USERS[id(server)]


@pytest.fixture
def alt_s3(server: ServerProcess):
    creds = alt_user(server)
    return make_client(server, creds.access_key, creds.secret_key)


def fresh_server(tmp_path: Path, **kwargs: object) -> ServerProcess:
    """A private server for tests that break things (faults, crashes)."""
    return ServerProcess(tmp_path / "objectd", **kwargs).start()  # type: ignore[arg-type]


# --- transport-agnostic fixtures ----------------------------------------------
# Behaviour that cannot depend on HTTP versus HTTPS (naming rules, listing
# order, conditions) is checked once, on the plain-HTTP server.


@pytest.fixture
def http_s3(http_server: ServerProcess):
    """A default-config boto3 client of the plain-HTTP server."""
    return make_client(http_server)


@pytest.fixture
def http_bucket(http_s3) -> Iterator[str]:
    """A fresh bucket on the plain-HTTP server, emptied and removed afterwards."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    http_s3.create_bucket(Bucket=name)
    yield name
    remove_bucket(http_s3, name)


@pytest.fixture
def http_alt_s3(http_server: ServerProcess):
    """A client of the second user on the plain-HTTP server."""
    creds = alt_user(http_server)
    return make_client(http_server, creds.access_key, creds.secret_key)


# --- raw HTTP: requests boto3 will not send ------------------------------------


@dataclass(frozen=True)
class RawResponse:
    """An HTTP response as received: status, headers (lower-case names), body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def error(self) -> dict[str, str]:
        """The children of an ``<Error>`` document, by element name."""
        root = ET.fromstring(self.body)
        assert root.tag == "Error", self.body
        return {child.tag: child.text or "" for child in root}

    @property
    def error_code(self) -> str:
        """The ``<Code>`` of an ``<Error>`` document."""
        return self.error()["Code"]


def host_of(server: ServerProcess) -> str:
    """The ``host:port`` a client sends in ``Host``."""
    return urllib.parse.urlsplit(server.url).netloc


def ssl_context(server: ServerProcess) -> ssl.SSLContext | None:
    """A TLS context trusting the server's self-signed certificate (None for HTTP)."""
    if not server.tls:
        return None
    return ssl.create_default_context(cafile=server.cert)


def connection(server: ServerProcess, timeout: float = 60.0) -> http.client.HTTPConnection:
    """An http.client connection to the server (HTTPS for TLS servers)."""
    parts = urllib.parse.urlsplit(server.url)
    assert parts.hostname is not None
    if server.tls:
        return http.client.HTTPSConnection(parts.hostname, parts.port, context=ssl_context(server), timeout=timeout)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)


def open_socket(server: ServerProcess, timeout: float = 30.0) -> socket.socket:
    """A connected socket to the server (TLS-wrapped for HTTPS servers)."""
    parts = urllib.parse.urlsplit(server.url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
    context = ssl_context(server)
    if context is not None:
        return context.wrap_socket(sock, server_hostname=parts.hostname)
    return sock


def read_response(sock: socket.socket, method: str = "GET") -> RawResponse:
    """Parse one final HTTP response from ``sock`` (interim 1xx responses skipped)."""
    response = http.client.HTTPResponse(sock, method=method)
    response.begin()
    body = response.read()
    headers = {name.lower(): value for name, value in response.getheaders()}
    return RawResponse(response.status, headers, body)


@dataclass(frozen=True)
class SignedHeaders:
    """The headers of a SigV4-signed request and what chunk signing needs."""

    headers: dict[str, str]
    signature: str
    signing_key: bytes
    amz_date: str
    scope: str


def _aws_quote(text: str, safe: str) -> str:
    return urllib.parse.quote(text, safe=safe)


def derive_signing_key(secret_key: str, date: str, region: str = "us-east-1") -> bytes:
    """SigV4's signing key: HMAC chain over date, region, service and terminator."""
    key = ("AWS4" + secret_key).encode()
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def sign_v4(
    server: ServerProcess,
    method: str,
    path: str,
    *,
    query: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    payload_hash: str,
    access_key: str = ROOT_ACCESS_KEY,
    secret_key: str = ROOT_SECRET_KEY,
    when: datetime.datetime | None = None,
    region: str = "us-east-1",
    canonical_uri: str | None = None,
) -> SignedHeaders:
    """Sign a request with SigV4 in the Authorization header, as S3 specifies it:
    the path URI-encoded once and not normalized (``canonical_uri`` overrides
    that encoding), every header given signed."""
    moment = when or datetime.datetime.now(datetime.UTC)
    amz_date = moment.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    all_headers = {"host": host_of(server), "x-amz-date": amz_date, "x-amz-content-sha256": payload_hash}
    all_headers.update({name.lower(): value for name, value in (headers or {}).items()})
    names = sorted(all_headers)
    canonical_headers = "".join(f"{name}:{' '.join(all_headers[name].split())}\n" for name in names)
    canonical_query = "&".join(
        f"{_aws_quote(k, '-_.~')}={_aws_quote(v, '-_.~')}" for k, v in sorted(query or [])
    )
    canonical_request = "\n".join(
        [method, canonical_uri or _aws_quote(path, "/-_.~"), canonical_query, canonical_headers, ";".join(names), payload_hash]
    )
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = derive_signing_key(secret_key, amz_date[:8], region)
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    all_headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return SignedHeaders(all_headers, signature, key, amz_date, scope)


def request_target(path: str, query: list[tuple[str, str]] | None = None) -> str:
    """The request target of ``path`` (URI-encoded) and ``query``."""
    target = _aws_quote(path, "/-_.~")
    if query:
        target += "?" + "&".join(f"{_aws_quote(k, '-_.~')}={_aws_quote(v, '-_.~')}" for k, v in query)
    return target


def send(
    server: ServerProcess,
    method: str,
    path: str,
    *,
    query: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    sign: bool = True,
    payload_hash: str | None = None,
    access_key: str = ROOT_ACCESS_KEY,
    secret_key: str = ROOT_SECRET_KEY,
    when: datetime.datetime | None = None,
    unsigned_headers: dict[str, str] | None = None,
    raw_target: str | None = None,
) -> RawResponse:
    """One request over a fresh connection, SigV4-signed unless ``sign`` is False.

    ``path`` is the decoded path (it is signed, and URI-encoded on the wire
    unless ``raw_target`` gives the request target to send as is);
    ``payload_hash`` defaults to the body's SHA-256; ``unsigned_headers`` are
    sent but left out of the signature; Content-Length is always sent.
    """
    sent = dict(headers or {})
    if sign:
        canonical = None
        if raw_target is not None:
            # What the client encoded stays encoded: each segment decoded once, then AWS-encoded.
            canonical = "/".join(urllib.parse.quote(urllib.parse.unquote_to_bytes(segment), safe="-_.~")
                                 for segment in raw_target.partition("?")[0].split("/"))
        signed = sign_v4(
            server, method, path, query=query, headers=sent,
            payload_hash=payload_hash or hashlib.sha256(body).hexdigest(),
            access_key=access_key, secret_key=secret_key, when=when, canonical_uri=canonical,
        )
        sent = signed.headers
    sent.update(unsigned_headers or {})
    conn = connection(server)
    try:
        target = raw_target if raw_target is not None else request_target(path, query)
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        sent.setdefault("host", host_of(server))
        for name, value in sent.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        data = response.read()
        return RawResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


def data_files(server: ServerProcess) -> set[str]:
    """Every file under the server's data folder, relative to it."""
    root = server.data_dir
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}


def fragment_files(server: ServerProcess) -> set[str]:
    """The fragment files (committed and temporary) on the server's drive folders."""
    return {name for name in data_files(server) if name.startswith("drives/") and "/objectd-drive.id" not in name}


def wait_until(condition, timeout: float = 20.0, interval: float = 0.1) -> bool:  # type: ignore[no-untyped-def]
    """Poll ``condition`` until it holds or ``timeout`` passes; its last verdict."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return bool(condition())
        time.sleep(interval)


# --- where a stored object's bytes live on disk (faults, crashes, garbage) -----
# The embedded server names each drive by its folder (DATA_DIR/drives/drive-N)
# and keeps fragment N of stream S at fragments/<S[:2]>/<S[2:4]>/<S>.<NN>.

from typing import Any

from objectd.manifest import Manifest


def bounded_client(server: ServerProcess) -> Any:
    """A boto3 client that fails fast (one attempt, bounded waits), for servers a test breaks."""
    return make_client(server, retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=10, read_timeout=60)


def metadata_rows(server: ServerProcess, sql: str, params: tuple[object, ...] = ()) -> list[tuple]:
    """Rows of a read-only query on the server's SQLite metadata (WAL lets
    another process read while the server runs)."""
    import sqlite3

    conn = sqlite3.connect(server.data_dir / "metadata.db", timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def object_manifest(server: ServerProcess, bucket: str, key: str, version_id: str | None = None) -> Manifest:
    """The decoded manifest of an object's current version (or of ``version_id``)."""
    if version_id is None:
        rows = metadata_rows(server, "SELECT manifest FROM versions WHERE bucket = ? AND key = ? AND is_latest = 1",
                             (bucket, key))
    else:
        rows = metadata_rows(server, "SELECT manifest FROM versions WHERE bucket = ? AND key = ? AND version_id = ?",
                             (bucket, key, version_id))
    assert len(rows) == 1, f"{bucket}/{key}: {len(rows)} version rows"
    return Manifest.decode(rows[0][0])


def part_manifests(server: ServerProcess, upload_id: str) -> dict[int, Manifest]:
    """The decoded manifests of an upload's stored parts, by part number."""
    rows = metadata_rows(server, "SELECT part_number, manifest FROM parts WHERE upload_id = ?", (upload_id,))
    return {number: Manifest.decode(raw) for number, raw in rows}


def drive_folder(server: ServerProcess, store_id: str) -> Path:
    """The folder of drive ``store_id`` (which may have been removed)."""
    return server.data_dir / "drives" / store_id


def fragment_path(server: ServerProcess, store_id: str, stream_id: str, index: int) -> Path:
    """Where fragment ``index`` of ``stream_id`` lives on drive ``store_id``."""
    return (drive_folder(server, store_id) / "fragments" / stream_id[:2] / stream_id[2:4]
            / f"{stream_id}.{index:02d}")


def manifest_fragment_paths(server: ServerProcess, manifest: Manifest) -> list[Path]:
    """Every fragment file a manifest names (all its streams, all written indices)."""
    return [
        fragment_path(server, location, ref.stream_id, index)
        for ref in manifest.streams()
        for index, location in enumerate(ref.locations)
        if location
    ]


def drive_temp_files(server: ServerProcess) -> list[Path]:
    """Files in the drives' tmp/ folders: fragments being written (or left by a crash)."""
    return sorted(p for p in (server.data_dir / "drives").glob("*/tmp/*") if p.is_file())


def committed_fragment_paths(server: ServerProcess) -> set[Path]:
    """Every committed fragment file on every drive."""
    return {p for p in (server.data_dir / "drives").glob("*/fragments/*/*/*") if p.is_file()}


def open_signed_request(
    server: ServerProcess, method: str, target: str, content_length: int
) -> http.client.HTTPConnection:
    """Send the request line and headers of a request signed by botocore's
    SigV4Auth with UNSIGNED-PAYLOAD (plain HTTP); the caller sends the body at
    its own pace, which is how a test lands a crash or a hang-up mid-body."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    request = AWSRequest(
        method=method,
        url=server.url + target,
        headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD", "Content-Length": str(content_length)},
    )
    SigV4Auth(BotoCredentials(ROOT_ACCESS_KEY, ROOT_SECRET_KEY), "s3", "us-east-1").add_auth(request)
    url = urllib.parse.urlsplit(server.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=60)
    conn.putrequest(method, target, skip_accept_encoding=True)
    for name, value in request.headers.items():
        conn.putheader(name, value)
    conn.endheaders()
    return conn


def send_url(server: ServerProcess, method: str, url: str, *, body: bytes = b"",
             headers: dict[str, str] | None = None) -> RawResponse:
    """Send ``url`` (a presigned URL, say) exactly as given, without signing it."""
    parts = urllib.parse.urlsplit(url)
    conn = connection(server)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return RawResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


def read_head(sock: socket.socket) -> tuple[int, dict[str, str]]:
    """Read one response head (status line and headers) byte by byte, leaving
    whatever follows on the socket."""
    raw = b""
    while not raw.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        if not byte:
            raise ConnectionError(f"connection closed after {raw!r}")
        raw += byte
    status_line, *lines = raw.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers


def request_head(server: ServerProcess, method: str, target: str, headers: dict[str, str]) -> bytes:
    """The bytes of a request line and headers."""
    lines = [f"{method} {target} HTTP/1.1"]
    if not any(name.lower() == "host" for name in headers):
        lines.append(f"Host: {host_of(server)}")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def http_chunked(body: bytes, piece: int = 16 * 1024) -> bytes:
    """``body`` framed as HTTP/1.1 ``Transfer-Encoding: chunked``."""
    out = [b"%x\r\n%s\r\n" % (len(body[i : i + piece]), body[i : i + piece]) for i in range(0, len(body), piece)]
    return b"".join(out) + b"0\r\n\r\n"


def logged_status(server: ServerProcess, operation: str, bucket: str, key: str, since: int = 0,
                  timeout: float = 20.0) -> int | None:
    """The status the server's request log gives for an ``operation`` on
    ``bucket``/``key`` logged after the first ``since`` characters of its
    output, once that request has finished (None if it never does)."""
    pattern = re.compile(
        rf"operation={re.escape(operation)} bucket={re.escape(bucket)} key={re.escape(key)} .*status=(\d+)")
    found: list[int] = []

    def finished() -> bool:
        found[:] = [int(m.group(1)) for m in pattern.finditer(server.log_text()[since:])]
        return bool(found)

    wait_until(finished, timeout)
    return found[-1] if found else None
