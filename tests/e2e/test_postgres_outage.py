"""Postgres restarts while gateways are serving.

A dev cluster (six storage nodes, two gateways) runs on a private Postgres
server that the test really stops and starts (see postgres_instance.py).
While the database is down every request that needs it (writes, reads of
metadata, listings, and the users table behind authentication) answers 503
with the S3 error code ServiceUnavailable or SlowDown, promptly: clients have
one attempt and a bounded read timeout, so a hang fails the test. Nothing a
failed request began is left behind. Once the database is back, the same
gateway processes, never restarted, serve everything again by themselves,
and what was stored before reads back exactly.

A gateway that is started while the database is down refuses to start: it
exits with status 1 and names the unreachable database, rather than serving
requests it cannot answer; started again once the database is up, it serves.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from objectd.fragment_store import fragment_id
from objectd.manifest import Manifest
from tests.e2e.conftest import Credentials, add_user, wait_until
from tests.e2e.postgres_instance import PostgresInstance, fetch_rows
from tests.e2e.server_process import ROOT_ACCESS_KEY, ROOT_SECRET_KEY, ServerProcess

pytestmark = pytest.mark.timeout(180)

SMALL = 4 * 1024  # inline: the body itself lives in the metadata row
LARGE = 300 * 1000  # erasure-coded: fragments on the nodes, the manifest in metadata
READ_TIMEOUT = 30  # seconds a client waits for an answer: longer means a hang
RECOVERY_TIMEOUT = 60.0
SETTLE_TIMEOUT = 60.0
UNAVAILABLE_CODES = ("ServiceUnavailable", "SlowDown")
READY_PATH = "/_objectd/health/ready"
LIVE_PATH = "/_objectd/health/live"
FRAGMENT_NAME = re.compile(r"[0-9a-f]{32}\.\d\d")
GATEWAY_PID = re.compile(r"dev cluster: gateway pid (\d+) at (\S+)")


@dataclass
class Deployment:
    """Two gateways on a private Postgres: the server, the cluster process,
    a root client per gateway and a second user that never made a request
    before the outage (so no gateway has its key cached)."""

    postgres: PostgresInstance
    server: ServerProcess
    clients: list[Any]
    other_user: Credentials

    def rows(self, sql: str, *params: object) -> list[Any]:
        """Rows of a query on the gateways' metadata database."""
        return fetch_rows(self.postgres.dsn, sql, *params)

    def client_as(self, n: int, user: Credentials) -> Any:
        """A client of gateway ``n`` signing as ``user``."""
        return gateway_client(self.server.urls[n], user.access_key, user.secret_key)

    def gateway_pids(self) -> dict[str, int]:
        """Each gateway's URL and process id, as the dev cluster announced them."""
        return {m.group(2): int(m.group(1)) for m in GATEWAY_PID.finditer(self.server.log_text())}


def gateway_client(url: str, access_key: str = ROOT_ACCESS_KEY, secret_key: str = ROOT_SECRET_KEY) -> Any:
    """A boto3 client of one gateway: one attempt per request, so a 503 is
    seen as answered, and a bounded wait, so a hang fails."""
    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=10,
                      read_timeout=READ_TIMEOUT),
    )


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The module's private Postgres and its two-gateway dev cluster."""
    postgres = PostgresInstance.create()
    try:
        postgres.start()
        server = ServerProcess(
            tmp_path_factory.mktemp("outage"), command="dev-cluster", extra_args=["--gateways", "2"],
            env={"OBJECTD_METADATA_URL": postgres.dsn, "OBJECTD_PROBE_INTERVAL": "0.5"},
        ).start()
        try:
            assert len(server.urls) == 2, server.log_text()
            yield Deployment(postgres, server, [gateway_client(url) for url in server.urls],
                             add_user(server, "outage-user"))
        finally:
            server.stop()
    finally:
        postgres.cleanup()


@pytest.fixture
def database_back(deployment: Deployment) -> Iterator[None]:
    """Whatever a test does to the database, it runs again afterwards."""
    yield
    if not deployment.postgres.running:
        deployment.postgres.start()


@dataclass(frozen=True)
class Answer:
    """An S3 answer reduced to what the test checks: HTTP status, S3 error
    code (empty on success), and the parsed response on success."""

    status: int
    code: str
    response: dict[str, Any] | None


def answer_of(call: Callable[[], dict[str, Any]]) -> Answer:
    """Run ``call``; an S3 error answer is returned, anything else (a timeout) raised."""
    try:
        response = call()
    except ClientError as exc:
        meta = exc.response["ResponseMetadata"]
        assert meta.get("HTTPHeaders", {}).get("x-amz-request-id"), exc.response
        return Answer(int(meta["HTTPStatusCode"]), str(exc.response.get("Error", {}).get("Code", "")), None)
    return Answer(int(response["ResponseMetadata"]["HTTPStatusCode"]), "", response)


def http_status(url: str) -> int:
    """The status of a plain GET (the health endpoints need no signature)."""
    try:
        with urllib.request.urlopen(url, timeout=READ_TIMEOUT) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def sha256(data: bytes) -> str:
    """The hex SHA-256 of ``data`` (bodies are compared by digest)."""
    return hashlib.sha256(data).hexdigest()


def read_body(client: Any, bucket: str, key: str) -> bytes:
    """The whole body of an object."""
    return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())


def store_objects(deployment: Deployment, bucket: str, prefix: str) -> dict[str, bytes]:
    """One inline and one erasure-coded object through each gateway; their bodies by key."""
    bodies: dict[str, bytes] = {}
    for n, client in enumerate(deployment.clients):
        for size in (SMALL, LARGE):
            key = f"{prefix}/{n}-{size}"
            bodies[key] = os.urandom(size)
            client.put_object(Bucket=bucket, Key=key, Body=bodies[key])
    return bodies


def assert_serves(deployment: Deployment, bucket: str, bodies: dict[str, bytes]) -> None:
    """Through every gateway: each object reads back exactly, HEAD gives its
    ETag, the listing is exactly ``bodies``' keys, the bucket is listed."""
    for n, client in enumerate(deployment.clients):
        for key, body in bodies.items():
            assert sha256(read_body(client, bucket, key)) == sha256(body), f"gateway {n}: {key}"
            head = client.head_object(Bucket=bucket, Key=key)
            assert head["ETag"].strip('"') == hashlib.md5(body).hexdigest(), f"gateway {n}: {key}"
        listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
        assert sorted(o["Key"] for o in listed) == sorted(bodies), f"gateway {n}"
        assert bucket in [b["Name"] for b in client.list_buckets()["Buckets"]], f"gateway {n}"


def expect_unavailable(what: str, call: Callable[[], dict[str, Any]]) -> None:
    """``call`` answers 503 ServiceUnavailable or SlowDown (its S3 XML code;
    a HEAD has no body, so only its status is checked)."""
    answer = answer_of(call)
    assert answer.status == 503, f"{what}: {answer}"
    if not what.startswith("HEAD"):
        assert answer.code in UNAVAILABLE_CODES, f"{what}: {answer}"


def assert_fragments_match_versions(deployment: Deployment) -> None:
    """Once garbage is collected and no write is running, the nodes hold
    exactly the fragment files that versions reference."""
    assert not deployment.rows("SELECT 1 FROM intents"), "an intent was left behind"
    assert not deployment.rows("SELECT 1 FROM uploads"), "an upload was left behind"
    assert wait_until(lambda: not deployment.rows("SELECT 1 FROM garbage LIMIT 1"), SETTLE_TIMEOUT), \
        "garbage was not collected"
    state: dict[str, set[tuple[str, str]]] = {}

    def matches() -> bool:
        expected = set()
        for row in deployment.rows("SELECT manifest FROM versions"):
            for ref in Manifest.decode(bytes(row["manifest"])).streams():
                expected |= {(node, fragment_id(ref.stream_id, i)) for i, node in enumerate(ref.locations) if node}
        found = set()
        for folder in (deployment.server.data_dir / "nodes").iterdir():
            found |= {(folder.name, p.name) for p in (folder / "fragments").rglob("*")
                      if FRAGMENT_NAME.fullmatch(p.name)}
        state.update(expected=expected, found=found)
        return expected == found

    assert wait_until(matches, SETTLE_TIMEOUT), (
        f"unreferenced fragment files: {sorted(state['found'] - state['expected'])[:4]}, "
        f"referenced but missing: {sorted(state['expected'] - state['found'])[:4]}")


@pytest.mark.parametrize("stop_mode", ["fast", "immediate"])
def test_requests_during_a_restart_get_503_and_the_gateways_recover_by_themselves(
        deployment: Deployment, database_back: None, stop_mode: str) -> None:
    """``fast``: Postgres shuts down cleanly, telling its clients; ``immediate``:
    it dies without a word and recovers from its log when started again."""
    bucket = f"outage-{stop_mode}"
    root = deployment.clients
    root[0].create_bucket(Bucket=bucket)
    before = store_objects(deployment, bucket, "before")
    assert_serves(deployment, bucket, before)
    pids = deployment.gateway_pids()
    assert len(pids) == 2

    deployment.postgres.stop(mode=stop_mode)
    for n, client in enumerate(root):
        old_small, old_large = f"before/{n}-{SMALL}", f"before/{n}-{LARGE}"
        during = f"during/{n}"
        expect_unavailable("PUT inline", partial(client.put_object, Bucket=bucket, Key=f"{during}-small",
                                                 Body=os.urandom(SMALL)))
        expect_unavailable("PUT erasure-coded", partial(client.put_object, Bucket=bucket, Key=f"{during}-large",
                                                        Body=os.urandom(LARGE)))
        expect_unavailable("GET inline", partial(client.get_object, Bucket=bucket, Key=old_small))
        expect_unavailable("GET erasure-coded", partial(client.get_object, Bucket=bucket, Key=old_large))
        expect_unavailable("HEAD", partial(client.head_object, Bucket=bucket, Key=old_small))
        expect_unavailable("ListObjectsV2", partial(client.list_objects_v2, Bucket=bucket))
        expect_unavailable("ListBuckets", client.list_buckets)
        expect_unavailable("DeleteObject", partial(client.delete_object, Bucket=bucket, Key=old_small))
        expect_unavailable("CreateMultipartUpload", partial(client.create_multipart_upload, Bucket=bucket,
                                                            Key=f"{during}-multipart"))
        expect_unavailable("ListBuckets as a user not seen before",
                           deployment.client_as(n, deployment.other_user).list_buckets)
        base = deployment.server.urls[n]
        assert http_status(base + READY_PATH) == 503, f"gateway {n} reports ready without its database"
        assert http_status(base + LIVE_PATH) == 200, f"gateway {n} is not live"

    deployment.postgres.start()

    def recovered(client: Any) -> bool:
        return answer_of(partial(client.list_objects_v2, Bucket=bucket)).status == 200

    for n, client in enumerate(root):
        assert wait_until(partial(recovered, client), RECOVERY_TIMEOUT, interval=0.25), \
            f"gateway {n} did not recover:\n{deployment.server.log_text()[-4000:]}"
    # The same processes, never restarted.
    assert deployment.gateway_pids() == pids
    for pid in pids.values():
        os.kill(pid, 0)
    for n in range(2):
        assert http_status(deployment.server.urls[n] + READY_PATH) == 200
        assert deployment.client_as(n, deployment.other_user).list_buckets()["Buckets"] == []
    # Nothing a failed request began exists.
    for n, client in enumerate(root):
        for key in (f"during/{n}-small", f"during/{n}-large"):
            assert answer_of(partial(client.head_object, Bucket=bucket, Key=key)).status == 404, key
        assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")
    assert not deployment.rows("SELECT key FROM versions WHERE key LIKE 'during/%'")
    assert_serves(deployment, bucket, before)
    after = store_objects(deployment, bucket, "after")
    assert_serves(deployment, bucket, before | after)
    assert_fragments_match_versions(deployment)


def test_a_gateway_started_while_postgres_is_down_exits_naming_the_database(
        deployment: Deployment, database_back: None) -> None:
    """It fails fast and cleanly (status 1, the reason on stderr, never
    "serving"), rather than serving requests it cannot answer; the same
    command serves once the database is back."""
    config = deployment.server.data_dir / "gateway.yaml"
    command = [sys.executable, "-m", "objectd", "gateway", "--config", str(config), "--address", "127.0.0.1:0",
               "--log-level", "INFO"]
    env = dict(os.environ, OBJECTD_ROOT_ACCESS_KEY=ROOT_ACCESS_KEY, OBJECTD_ROOT_SECRET_KEY=ROOT_SECRET_KEY,
               PYTHONUNBUFFERED="1")
    deployment.postgres.stop()
    refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    output = refused.stdout + refused.stderr
    assert refused.returncode == 1, output
    assert "gateway did not start" in refused.stderr and "metadata database unavailable" in refused.stderr, output
    assert "serving S3 at" not in output
    # The gateways already running keep answering, with 503.
    expect_unavailable("ListBuckets", deployment.clients[0].list_buckets)

    deployment.postgres.start()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = wait_for_url(proc, timeout=60.0)
        client = gateway_client(url)
        assert wait_until(lambda: answer_of(client.list_buckets).status == 200, RECOVERY_TIMEOUT)
    finally:
        proc.terminate()
        proc.wait(30)


def wait_for_url(proc: subprocess.Popen[str], timeout: float) -> str:
    """The URL a gateway process announces (``serving S3 at URL``); its
    output is then drained in the background."""
    assert proc.stdout is not None
    found: list[str] = []
    seen: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            match = re.search(r"serving S3 at (\S+)", line)
            if match and not ready.is_set():
                found.append(match.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    ready.wait(timeout)
    assert found, "gateway did not start with its database up:\n" + "".join(seen)
    return found[0]
