"""The cluster's commands as an operator runs them: ``objectd db migrate``,
``objectd gateway --metadata-url``, and Ctrl-C on ``objectd dev-cluster``."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e.conftest import make_client
from tests.e2e.postgres_instance import fetch_rows
from tests.e2e.server_process import ROOT_ACCESS_KEY, ROOT_SECRET_KEY, ServerProcess
from tests.postgres_dsn import create_database, drop_database

CHILD_LINE = re.compile(r"dev cluster: (?:node \S+|gateway) pid (\d+) at")


def objectd(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run one ``objectd`` command to its end."""
    return subprocess.run([sys.executable, "-m", "objectd", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def database() -> Iterator[str]:
    url = create_database("objectd_cmd")
    yield url
    drop_database(url)


def test_db_migrate_is_idempotent_and_safe_when_run_together(database: str, tmp_path: Path) -> None:
    with ThreadPoolExecutor(3) as pool:
        runs = list(pool.map(lambda _: objectd("db", "migrate", "--metadata-url", database), range(3)))
    for run in runs:
        assert run.returncode == 0, run.stderr
        assert "metadata schema up to date" in run.stdout
    again = objectd("db", "migrate", "--metadata-url", database)
    assert again.returncode == 0, again.stderr
    versions = [r["version"] for r in fetch_rows(database, "SELECT version FROM schema_version ORDER BY version")]
    assert versions == sorted(set(versions)) and versions[0] == 1
    assert fetch_rows(database, "SELECT to_regclass('versions') IS NOT NULL AS made")[0]["made"]
    # A SQLite file works the same way.
    sqlite = tmp_path / "meta.db"
    assert objectd("db", "migrate", "--metadata-url", str(sqlite)).returncode == 0
    assert sqlite.exists()


def test_db_migrate_names_a_database_it_cannot_reach_without_its_password() -> None:
    run = objectd("db", "migrate", "--metadata-url", "postgresql://objectd:s3cret@127.0.0.1:1/nowhere",
                  timeout=60)
    assert run.returncode == 1
    assert "127.0.0.1:1/nowhere" in run.stderr and "s3cret" not in run.stderr + run.stdout


def test_gateway_takes_its_database_from_the_command_line(database: str, tmp_path: Path) -> None:
    # A dev cluster on SQLite, then a second gateway on the same nodes whose
    # --metadata-url points at Postgres: what it writes lands in Postgres.
    cluster = ServerProcess(tmp_path / "cluster", command="dev-cluster").start()
    gateway: subprocess.Popen[str] | None = None
    try:
        env = dict(os.environ, OBJECTD_ROOT_ACCESS_KEY=ROOT_ACCESS_KEY, OBJECTD_ROOT_SECRET_KEY=ROOT_SECRET_KEY,
                   PYTHONUNBUFFERED="1")
        gateway = subprocess.Popen(
            [sys.executable, "-m", "objectd", "gateway", "--config", str(tmp_path / "cluster" / "gateway.yaml"),
             "--metadata-url", database, "--address", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        assert gateway.stdout is not None
        lines: list[str] = []
        url = ""
        deadline = time.monotonic() + 60
        for line in gateway.stdout:
            lines.append(line)
            match = re.search(r"serving S3 at (\S+)", line)
            if match:
                url = match.group(1)
                break
            assert time.monotonic() < deadline, "".join(lines)
        assert url, "".join(lines)
        threading.Thread(target=gateway.stdout.read, daemon=True).start()
        second = ServerProcess(tmp_path / "cluster", command="dev-cluster", url=url)
        s3 = make_client(second, retries={"total_max_attempts": 1, "mode": "standard"})
        s3.create_bucket(Bucket="on-postgres")
        s3.put_object(Bucket="on-postgres", Key="k", Body=b"x" * 100_000)
        assert s3.get_object(Bucket="on-postgres", Key="k")["Body"].read() == b"x" * 100_000
        rows = fetch_rows(database, "SELECT key FROM versions WHERE bucket = 'on-postgres'")
        assert [r["key"] for r in rows] == ["k"]
        # The first gateway, on SQLite, knows nothing of it.
        first = make_client(cluster, retries={"total_max_attempts": 1, "mode": "standard"})
        assert "on-postgres" not in [b["Name"] for b in first.list_buckets()["Buckets"]]
        s3.delete_object(Bucket="on-postgres", Key="k")
        s3.delete_bucket(Bucket="on-postgres")
    finally:
        if gateway is not None:
            gateway.terminate()
            gateway.wait(30)
        cluster.stop()


def test_ctrl_c_on_dev_cluster_stops_every_process_it_started(tmp_path: Path) -> None:
    cluster = ServerProcess(tmp_path / "cluster", command="dev-cluster", extra_args=["--gateways", "2"]).start()
    try:
        children = [int(m.group(1)) for line in cluster.output if (m := CHILD_LINE.search(line))]
        assert len(children) == 6 + 2 and len(cluster.urls) == 2
        assert all(alive(pid) for pid in children)
        assert cluster.proc is not None
        # Only the dev-cluster process gets the signal, as Ctrl-C in a shell
        # whose job control put the children elsewhere would deliver it.
        os.kill(cluster.proc.pid, signal.SIGINT)
        assert cluster.proc.wait(60) == 0
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in children if alive(pid)]
    finally:
        cluster.stop()
