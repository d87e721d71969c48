"""``objectd bench`` end to end: options, and whole runs against moto's S3 server
with the bare server beside it."""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from objectd.bench import add_bench_arguments, parse_phases, parse_size, run_bench

TINY = ["--large-size", "1MiB", "--large-count", "3", "--small-count", "40", "--ranged-count", "30",
        "--list-keys", "120", "--list-page", "50", "--list-repeats", "2"]


@pytest.fixture(scope="module")
def moto() -> Iterator[tuple[str, int]]:
    """moto's S3 server in a subprocess: its URL and process id."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            assert process.poll() is None, "moto server exited"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait()


def _s3(url: str):  # type: ignore[no-untyped-def]
    return boto3.client("s3", endpoint_url=url, aws_access_key_id="AK", aws_secret_access_key="SK",
                        region_name="us-east-1")


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_bench_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize(
    ("text", "size"),
    [("4096", 4096), ("4KiB", 4 << 10), ("4k", 4 << 10), ("64MiB", 64 << 20), ("64M", 64 << 20),
     ("1MB", 10**6), ("2GiB", 2 << 30), (" 3 KB ", 3000)],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "MiB", "1.5MiB", "4 parsecs", "-1"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_size(text)


def test_parse_phases_keeps_the_canonical_order() -> None:
    assert parse_phases("list, small") == ["small", "list"]
    assert parse_phases("ranged,large,ranged") == ["large", "ranged"]
    for bad in ["", "small,huge", ","]:
        with pytest.raises(argparse.ArgumentTypeError):
            parse_phases(bad)


def test_defaults_follow_the_issue() -> None:
    args = _args("--endpoint", "http://127.0.0.1:9000")
    assert args.phases == ["large", "small", "ranged", "list"]
    assert (args.large_size, args.large_concurrency) == (64 << 20, 4)
    assert (args.small_size, args.small_count, args.small_concurrency) == (4 << 10, 2000, 32)
    assert (args.range_size, args.ranged_concurrency) == (64 << 10, 16)
    assert (args.list_keys, args.list_page) == (10_000, 1000)
    assert args.region == "us-east-1" and args.bucket is None and not args.bare
    with pytest.raises(SystemExit):
        _args("--endpoint", "http://x", "--small-count", "0")


def test_refuses_to_start_without_credentials_or_with_bad_options(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    assert run_bench(_args("--endpoint", "http://127.0.0.1:1")) == 2
    assert "credentials" in capsys.readouterr().err
    assert run_bench(_args("--endpoint", "127.0.0.1:9000", "--access-key", "a", "--secret-key", "b")) == 2
    assert "endpoint" in capsys.readouterr().err


def test_unreachable_endpoint_fails(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = _args("--endpoint", f"http://127.0.0.1:{port}", "--access-key", "a", "--secret-key", "b", *TINY)
    assert run_bench(args) == 1
    assert "failed" in capsys.readouterr().err


def test_unknown_server_pid(moto: tuple[str, int], capsys: pytest.CaptureFixture[str]) -> None:
    beyond = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
    args = _args("--endpoint", moto[0], "--access-key", "a", "--secret-key", "b", "--server-pid", str(beyond))
    assert run_bench(args) == 2
    assert "--server-pid" in capsys.readouterr().err


def test_whole_run_against_moto_and_the_bare_server(
    moto: tuple[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url, pid = moto
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AK")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "SK")
    before = {b["Name"] for b in _s3(url).list_buckets()["Buckets"]}
    report = tmp_path / "bench.json"
    args = _args("--endpoint", url, "--bare", "--server-pid", str(pid), "--json", str(report), *TINY)
    assert run_bench(args) == 0

    out, err = capsys.readouterr()
    assert "MD5" in out and "endpoint/bare" in out and "server CPU" in out
    assert "content of run-" in err and "bucket bench-" in err
    document = json.loads(report.read_text())
    figures = {(f["phase"], f["metric"]): f for f in document["figures"]}
    assert set(figures) == {
        ("large", "PUT MiB/s"), ("large", "GET MiB/s"),
        ("small", "PUT ops/s"), ("small", "PUT p50 ms"), ("small", "PUT p99 ms"),
        ("small", "GET ops/s"), ("small", "GET p50 ms"), ("small", "GET p99 ms"),
        ("ranged", "GET ops/s"), ("ranged", "GET p50 ms"), ("ranged", "GET p99 ms"),
        ("list", "list 120 keys s (median)"), ("list", "page p50 ms"), ("list", "page p99 ms"),
    }
    assert all(f["endpoint"] > 0 and f["bare"] > 0 and f["ratio"] > 0 for f in figures.values())
    assert figures["small", "PUT ops/s"]["endpoint_cpu"]["unit"] == "ms/op"
    assert figures["small", "PUT ops/s"]["bare_cpu"] is not None
    steps = [(s["target"], s["phase"], s["name"], s["ops"]) for s in document["steps"]]
    assert ("endpoint", "small", "PUT", 40) in steps and ("bare", "small", "PUT", 40) in steps
    assert ("endpoint", "list", "page", 2 * 3) in steps
    assert document["bucket_created"] and document["cleanup_error"] is None
    # The bucket the run created is gone again.
    assert {b["Name"] for b in _s3(url).list_buckets()["Buckets"]} == before
    assert document["bucket"] not in before


def test_existing_bucket_keeps_its_other_objects(
    moto: tuple[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = moto
    s3 = _s3(url)
    s3.create_bucket(Bucket="mine")
    s3.put_object(Bucket="mine", Key="precious", Body=b"keep me")
    args = _args("--endpoint", url, "--bucket", "mine", "--access-key", "AK", "--secret-key", "SK",
                 "--phases", "small,list", "--markdown", *TINY)
    assert run_bench(args) == 0
    out = capsys.readouterr().out
    assert "| phase | metric | endpoint |" in out and "| small | PUT ops/s |" in out and "large" not in out
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="mine")["Contents"]] == ["precious"]
