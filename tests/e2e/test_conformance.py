"""The conformance suite (``conformance/``) against a fresh ``objectd serve``,
one test per check, and its command line.

Every check runs over HTTPS (where boto3 sends its default CRC32 checksums as
aws-chunked trailers); the real clients' checks run over plain HTTP too, as a
first local server is used (there boto3 sends checksums in headers and restic
signs every chunk). Every check also runs against a cluster: ``objectd
dev-cluster`` with six storage nodes and a gateway on Postgres.

In CI (``CI=true``) a client that is not installed fails its checks; elsewhere
they are skipped with the reason (``.ci/run`` installs the clients).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.catalog import all_checks
from conformance.endpoint import Credentials, Endpoint
from conformance.registry import Check
from conformance.runner import PASS, SKIP, run_check
from tests.e2e.conftest import add_user
from tests.e2e.server_process import ROOT_ACCESS_KEY, ROOT_SECRET_KEY, ServerProcess
from tests.postgres_dsn import create_database, drop_database

IN_CI = os.environ.get("CI") == "true"
REPOSITORY = Path(__file__).resolve().parents[2]


CLIENT_GROUPS = {"boto3", "aws cli", "rclone", "s3cmd", "restic"}


def _serve(tmp_path_factory: pytest.TempPathFactory, tls: bool) -> Iterator[ServerProcess]:
    started = ServerProcess(tmp_path_factory.mktemp("objectd-conformance"), tls=tls).start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def cluster_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A fresh HTTPS cluster of this module's own: six nodes in three sites
    and a gateway whose metadata is in Postgres."""
    url = create_database()
    started = ServerProcess(tmp_path_factory.mktemp("objectd-conformance-cluster"), tls=True,
                            command="dev-cluster", env={"OBJECTD_METADATA_URL": url}).start()
    yield started
    started.stop()
    drop_database(url)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A fresh HTTPS server of this module's own."""
    yield from _serve(tmp_path_factory, tls=True)


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A fresh plain-HTTP server of this module's own."""
    yield from _serve(tmp_path_factory, tls=False)


def _endpoint(server: ServerProcess) -> Endpoint:
    """The server as the suite sees it: root and a second user, its certificate trusted."""
    alt = add_user(server, "conformance-alt")
    return Endpoint(server.url, Credentials(ROOT_ACCESS_KEY, ROOT_SECRET_KEY),
                    Credentials(alt.access_key, alt.secret_key), ca_bundle=server.cert if server.tls else None)


@pytest.fixture(scope="module")
def https_endpoint(server: ServerProcess) -> Endpoint:
    """The HTTPS server as the suite's endpoint."""
    return _endpoint(server)


@pytest.fixture(scope="module")
def http_endpoint(http_server: ServerProcess) -> Endpoint:
    """The plain-HTTP server as the suite's endpoint."""
    return _endpoint(http_server)


@pytest.fixture(scope="module")
def cluster_endpoint(cluster_server: ServerProcess) -> Endpoint:
    """The cluster's gateway (HTTPS) as the suite's endpoint."""
    return _endpoint(cluster_server)


CHECKS = [
    pytest.param(transport, c, id=f"{transport}: {c.id}", marks=pytest.mark.timeout(c.time_limit + 60))
    for transport in ("https", "http", "cluster")
    for c in all_checks()
    if transport != "http" or c.group in CLIENT_GROUPS
]


@pytest.mark.parametrize(("transport", "check"), CHECKS)
def test_check(transport: str, check: Check, request: pytest.FixtureRequest) -> None:
    endpoint: Endpoint = request.getfixturevalue(f"{transport}_endpoint")
    outcome = run_check(check, endpoint, require_clients=IN_CI)
    if outcome.status == SKIP:
        pytest.skip(f"{check.id}: {outcome.detail}")
    assert outcome.status == PASS, f"{check.id}: {outcome.detail}"


def _command_line(server: ServerProcess, tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    report = tmp_path / "report.md"
    result = subprocess.run(
        [sys.executable, "-m", "conformance", "--endpoint", server.url, "--access-key", ROOT_ACCESS_KEY,
         "--ca-bundle", server.cert, "--report", str(report), *args],
        capture_output=True, text=True, timeout=120, cwd=REPOSITORY, check=False,
    )
    return result, report.read_text() if report.exists() else ""


@pytest.mark.timeout(180)
def test_command_line_prints_and_writes_the_table(server: ServerProcess, tmp_path: Path) -> None:
    result, report = _command_line(server, tmp_path, "--secret-key", ROOT_SECRET_KEY,
                                   "--only", "ListBuckets: *", "--only", "GetObject: Range*")
    assert result.returncode == 0, result.stdout + result.stderr
    selected = [c for c in all_checks() if c.group == "ListBuckets" or c.id.startswith("GetObject: Range")]
    assert len(selected) >= 4
    for check in selected:
        assert f"| {check.group} | {check.name} | pass |" in report
        assert check.name in result.stdout
    assert f"{len(selected)} passed" in result.stdout


@pytest.mark.timeout(180)
def test_command_line_fails_when_a_check_fails(server: ServerProcess, tmp_path: Path) -> None:
    result, report = _command_line(server, tmp_path, "--secret-key", "not-the-secret",
                                   "--only", "ListBuckets: *")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "| ListBuckets | lists the caller's buckets with names, dates and an owner | FAIL: " in report
    assert "SignatureDoesNotMatch" in report
