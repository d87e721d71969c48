"""The serve command itself: health endpoints, one server per data folder, restarts."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

from tests.e2e.conftest import make_client
from tests.e2e.server_process import ServerProcess


def test_health_endpoints(http_server):
    for path in ("/_objectd/health/live", "/_objectd/health/ready"):
        with urllib.request.urlopen(http_server.url + path, timeout=10) as resp:
            assert resp.status == 200
            assert json.loads(resp.read())["status"] == "ok"


def test_second_server_on_same_data_folder_is_refused(tmp_path):
    first = ServerProcess(tmp_path / "data").start()
    try:
        second = subprocess.run(
            [sys.executable, "-m", "objectd", "serve", str(tmp_path / "data"), "--address", "127.0.0.1:0"],
            capture_output=True, text=True, timeout=60,
        )
        assert second.returncode != 0
        assert "another objectd serve is running" in second.stderr
    finally:
        first.stop()


def test_data_and_credentials_survive_a_restart(tmp_path):
    server = ServerProcess(tmp_path / "data").start()
    try:
        s3 = make_client(server)
        s3.create_bucket(Bucket="kept-bucket")
        s3.put_object(Bucket="kept-bucket", Key="big", Body=b"z" * 3_000_000)
        s3.put_object(Bucket="kept-bucket", Key="small", Body=b"tiny")
    finally:
        server.stop()
    server.start()
    try:
        s3 = make_client(server)
        assert s3.get_object(Bucket="kept-bucket", Key="big")["Body"].read() == b"z" * 3_000_000
        assert s3.get_object(Bucket="kept-bucket", Key="small")["Body"].read() == b"tiny"
    finally:
        server.stop()


def test_generated_credentials_are_printed_and_work(tmp_path):
    server = ServerProcess(tmp_path / "data", env={"OBJECTD_ROOT_ACCESS_KEY": "", "OBJECTD_ROOT_SECRET_KEY": ""})
    server.start()
    try:
        text = server.log_text()
        access = text.split("access key:")[1].split()[0]
        secret = text.split("secret key:")[1].split()[0]
        s3 = make_client(server, access, secret)
        s3.create_bucket(Bucket="with-generated-keys")
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["with-generated-keys"]
    finally:
        server.stop()
