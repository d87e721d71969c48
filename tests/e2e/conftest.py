"""Fixtures for end-to-end tests: real `objectd serve` processes and real clients."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from tests.e2e.server_process import ROOT_ACCESS_KEY, ROOT_SECRET_KEY, ServerProcess


@dataclass(frozen=True)
class Credentials:
    """An access key pair of a user on a test server."""

    user: str
    access_key: str
    secret_key: str


def add_user(server: ServerProcess, name: str) -> Credentials:
    """Create a user with the real CLI against the server's data folder."""
    out = subprocess.run(
        [sys.executable, "-m", "objectd", "user", "--data-dir", str(server.data_dir), "add", name],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout
    access = re.search(r"access key:\s*(\S+)", out)
    secret = re.search(r"secret key:\s*(\S+)", out)
    assert access and secret, out
    return Credentials(name, access.group(1), secret.group(1))


def make_client(server: ServerProcess, access_key: str = ROOT_ACCESS_KEY, secret_key: str = ROOT_SECRET_KEY,
                **config: object):
    """A boto3 S3 client with default settings (plus any ``config`` overrides)."""
    return boto3.client(
        "s3",
        endpoint_url=server.url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        verify=server.cert if server.tls else None,
        config=Config(**config) if config else None,
    )


@pytest.fixture(scope="session")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("objectd-http")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("objectd-https"), tls=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="session", params=["http", "https"])
def server(request: pytest.FixtureRequest) -> ServerProcess:
    """Each test using this runs against the plain-HTTP and the HTTPS server:
    boto3 sends checksums in a header over HTTP and as aws-chunked trailers over HTTPS."""
    return request.getfixturevalue(f"{request.param}_server")


@pytest.fixture
def s3(server: ServerProcess):
    return make_client(server)


@pytest.fixture
def bucket(s3) -> Iterator[str]:
    """A fresh bucket, emptied and removed afterwards."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    yield name
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
            objs = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                    for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            if objs:
                s3.delete_objects(Bucket=name, Delete={"Objects": objs, "Quiet": True})
        for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=name):
            for u in page.get("Uploads", []):
                s3.abort_multipart_upload(Bucket=name, Key=u["Key"], UploadId=u["UploadId"])
        s3.delete_bucket(Bucket=name)
    except Exception:  # the test may have removed it already
        pass


@pytest.fixture(scope="session")
def alt_credentials(http_server: ServerProcess, https_server: ServerProcess) -> dict[str, Credentials]:
    """A second user on each server (for ownership tests)."""
    return {"http": add_user(http_server, "alt-user"), "https": add_user(https_server, "alt-user")}


@pytest.fixture
def alt_s3(server: ServerProcess, alt_credentials: dict[str, Credentials]):
    creds = alt_credentials["https" if server.tls else "http"]
    return make_client(server, creds.access_key, creds.secret_key)


def fresh_server(tmp_path: Path, **kwargs: object) -> ServerProcess:
    """A private server for tests that break things (faults, crashes)."""
    return ServerProcess(tmp_path / "objectd", **kwargs).start()  # type: ignore[arg-type]
