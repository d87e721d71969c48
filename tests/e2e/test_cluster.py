"""A cluster on loopback (``objectd dev-cluster``: six node processes in three
sites, mutual TLS, one gateway) surviving dead and restarted nodes.

The S3 suite itself runs against a cluster through the ``target`` fixture of
conftest.py; these tests break nodes, so each module gets a private cluster.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from metadata.sqlite_store import SqliteStore
from objectd.dev_cluster import NODE_READY, ClusterPlan, DevCluster
from objectd.manifest import Manifest
from tests.e2e.conftest import make_client, remove_bucket
from tests.e2e.server_process import ServerProcess

K, M = 4, 2
NODE_LINE = re.compile(r"dev cluster: node (\S+) pid (\d+) at (\S+)")


class Cluster:
    """A running dev cluster and the handles a test needs to break it."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.pids: dict[str, int] = {}
        self.urls: dict[str, str] = {}
        self.restarted: dict[str, subprocess.Popen[str]] = {}
        for line in server.output:
            match = NODE_LINE.search(line)
            if match:
                self.pids[match.group(1)] = int(match.group(2))
                self.urls[match.group(1)] = match.group(3)
        assert len(self.pids) == K + M, server.log_text()

    def node_states(self) -> dict[str, str]:
        """The gateway's view: node id -> up / down / draining."""
        with urllib.request.urlopen(f"{self.server.url}/_objectd/nodes", timeout=10) as response:
            return {node: record["state"] for node, record in json.load(response).items()}

    def wait_states(self, expected: dict[str, str], timeout: float = 30.0) -> None:
        """Wait until the gateway's probes see ``expected`` (bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = self.node_states()
            if all(states.get(n) == s for n, s in expected.items()):
                return
            time.sleep(0.2)
        raise AssertionError(f"node states {self.node_states()} never became {expected}")

    def pid(self, node_id: str) -> int:
        """The process id of a node as it runs now."""
        proc = self.restarted.get(node_id)
        return proc.pid if proc is not None else self.pids[node_id]

    def kill(self, node_id: str) -> None:
        """SIGKILL one node process."""
        proc = self.restarted.pop(node_id, None)
        if proc is not None:
            proc.kill()
            proc.wait(10)
            return
        os.kill(self.pids[node_id], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(self.pids[node_id], 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def restart(self, node_id: str) -> None:
        """Start a killed node again, as the dev cluster started it: same id,
        folder, certificate and address."""
        plan = ClusterPlan(data=self.server.data_dir)
        index = int(node_id.split("-")[1]) - 1
        address = self.urls[node_id].removeprefix("https://")
        args = DevCluster(plan, echo=False).node_args(node_id, index, address)
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        seen: list[str] = []
        for line in proc.stdout:
            seen.append(line)
            if NODE_READY.search(line):
                break
            assert time.monotonic() < deadline, "node did not restart:\n" + "".join(seen)
        else:
            raise AssertionError("restarted node exited:\n" + "".join(seen))
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        self.restarted[node_id] = proc

    def fragments(self, node_id: str) -> set[str]:
        """Names of the committed fragment files on a node's data folder."""
        base = self.server.data_dir / "nodes" / node_id / "fragments"
        return {p.name for p in base.rglob("*") if re.fullmatch(r"[0-9a-f]{32}\.\d\d", p.name)}

    def stop(self) -> None:
        """Stop restarted nodes, then the dev cluster (the rest of its group)."""
        for proc in self.restarted.values():
            proc.terminate()
            proc.wait(15)
        self.server.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    server = ServerProcess(tmp_path_factory.mktemp("cluster"), command="dev-cluster",
                           env={"OBJECTD_PROBE_INTERVAL": "0.3", "OBJECTD_NODE_READ_TIMEOUT": "1"}).start()
    try:
        running = Cluster(server)
    except BaseException:
        server.stop()
        raise
    yield running
    running.stop()


@pytest.fixture
def s3(cluster: Cluster):
    return make_client(cluster.server, retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture
def bucket(s3) -> Iterator[str]:
    name = f"cluster-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    yield name
    remove_bucket(s3, name)


def _body(size: int, seed: int) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


def _read(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def _locations(cluster: Cluster, bucket: str, key: str) -> list[tuple[str, ...]]:
    """Where the metadata says each stream of ``key`` has its fragments
    ("" for a fragment that could not be written)."""

    async def run() -> list[tuple[str, ...]]:
        store = SqliteStore(str(cluster.server.data_dir / "metadata.db"), garbage_grace=0)
        await store.open()
        try:
            version = await store.get_object(bucket, key)
        finally:
            await store.close()
        assert version is not None
        return [ref.locations for ref in Manifest.decode(version.manifest).streams()]

    return asyncio.run(run())


ALL_UP = {f"node-{i}": "up" for i in range(1, K + M + 1)}


def test_every_node_is_up_and_holds_one_fragment_of_each_stream(cluster: Cluster, s3, bucket: str) -> None:
    cluster.wait_states(ALL_UP)
    before = {n: cluster.fragments(n) for n in ALL_UP}
    s3.put_object(Bucket=bucket, Key="spread", Body=_body(3 * 1024 * 1024 + 5, 1))
    new = {n: cluster.fragments(n) - before[n] for n in ALL_UP}
    # 4+2 over six nodes: one fragment per node, never two on one node, all
    # of one stream (deletions by the collector never add names).
    assert all(len(names) == 1 for names in new.values()), new
    assert len({name.split(".")[0] for names in new.values() for name in names}) == 1


def test_objects_read_back_exactly_with_m_nodes_dead(cluster: Cluster, s3, bucket: str) -> None:
    cluster.wait_states(ALL_UP)
    bodies = {f"obj-{size}": _body(size, size) for size in (40_000, 1024 * 1024, 3 * 1024 * 1024 + 7)}
    for key, data in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=data)
    dead = ["node-1", "node-4"]  # two nodes, in two different sites
    for node in dead:
        cluster.kill(node)
    try:
        for key, data in bodies.items():
            assert _read(s3, bucket, key) == data, key
        got = s3.get_object(Bucket=bucket, Key="obj-3145735", Range="bytes=1048570-2097200")["Body"].read()
        assert got == bodies["obj-3145735"][1048570:2097201]
        cluster.wait_states({node: "down" for node in dead})
        # Two of six nodes down leaves four: fewer than the write quorum (k+1).
        with pytest.raises(ClientError) as caught:
            s3.put_object(Bucket=bucket, Key="no-quorum", Body=_body(200_000, 9))
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        with pytest.raises(ClientError):
            s3.head_object(Bucket=bucket, Key="no-quorum")
    finally:
        for node in dead:
            cluster.restart(node)
    cluster.wait_states(ALL_UP)
    for key, data in bodies.items():
        assert _read(s3, bucket, key) == data, key


def test_a_write_with_one_node_dead_succeeds_and_a_restarted_node_rejoins(cluster: Cluster, s3, bucket: str) -> None:
    cluster.wait_states(ALL_UP)
    cluster.kill("node-2")
    try:
        cluster.wait_states({"node-2": "down"})
        data = _body(2 * 1024 * 1024 + 3, 2)
        s3.put_object(Bucket=bucket, Key="degraded", Body=data)
        assert _read(s3, bucket, "degraded") == data
        # The ring placed the stripe on the five live nodes; a node that is
        # down is never recorded as holding a fragment.
        (locations,) = _locations(cluster, bucket, "degraded")
        assert "node-2" not in locations and len(set(locations)) == K + M, locations
    finally:
        cluster.restart("node-2")
    cluster.wait_states(ALL_UP)
    before = cluster.fragments("node-2")
    s3.put_object(Bucket=bucket, Key="after-rejoin", Body=_body(500_000, 3))
    assert len(cluster.fragments("node-2") - before) == 1
    assert _read(s3, bucket, "degraded") == data


@pytest.mark.timeout(300)
def test_killing_a_node_during_a_put_reports_the_truth(cluster: Cluster, s3, bucket: str) -> None:
    cluster.wait_states(ALL_UP)
    data = _body(64 * 1024 * 1024, 4)
    outcome: dict[str, object] = {}

    def upload() -> None:
        try:
            s3.put_object(Bucket=bucket, Key="big", Body=data)
            outcome["ok"] = True
        except ClientError as exc:
            outcome["error"] = exc.response

    thread = threading.Thread(target=upload)
    thread.start()
    tmp = cluster.server.data_dir / "nodes" / "node-3" / "tmp"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(tmp.glob("*")) and thread.is_alive():
        time.sleep(0.01)
    cluster.kill("node-3")
    thread.join(240)
    assert not thread.is_alive()
    try:
        if outcome.get("ok"):
            assert hashlib.sha256(_read(s3, bucket, "big")).digest() == hashlib.sha256(data).digest()
        else:
            error = outcome["error"]
            assert error["ResponseMetadata"]["HTTPStatusCode"] in (500, 503), error  # type: ignore[index]
            with pytest.raises(ClientError):
                s3.head_object(Bucket=bucket, Key="big")
    finally:
        cluster.restart("node-3")
    cluster.wait_states(ALL_UP)


def test_a_stalled_node_does_not_stall_reads(cluster: Cluster, s3, bucket: str) -> None:
    """SIGSTOP freezes a node: it accepts connections and never answers. A GET
    must not wait on it: after the read timeout (1 s here) the gateway reads
    a parity fragment from another node and decodes."""
    cluster.wait_states(ALL_UP)
    data = _body(3 * 1024 * 1024 + 11, 6)
    s3.put_object(Bucket=bucket, Key="stalled", Body=data)
    (locations,) = _locations(cluster, bucket, "stalled")
    frozen = locations[0]  # holds data fragment 0: every read wants it first
    pid = cluster.pid(frozen)
    os.kill(pid, signal.SIGSTOP)
    try:
        assert _read(s3, bucket, "stalled") == data
        got = s3.get_object(Bucket=bucket, Key="stalled", Range="bytes=100-200")["Body"].read()
        assert got == data[100:201]
        cluster.wait_states({frozen: "down"})
        assert _read(s3, bucket, "stalled") == data
    finally:
        os.kill(pid, signal.SIGCONT)
    cluster.wait_states(ALL_UP)


def test_cluster_files_are_where_the_readme_says(cluster: Cluster) -> None:
    data = Path(cluster.server.data_dir)
    for name in ("cluster.yaml", "gateway.yaml", "master.key", "certs/ca.crt"):
        assert (data / name).exists(), name
    assert oct((data / "master.key").stat().st_mode & 0o777) == "0o600"
