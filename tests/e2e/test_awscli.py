"""The aws cli (``python -m awscli``, the test environment's copy) against a live
server, over HTTP and HTTPS (``--ca-bundle`` the server's certificate)."""

from __future__ import annotations

import hashlib
import os
import random
import re
import ssl
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server_process import ROOT_ACCESS_KEY, ROOT_SECRET_KEY, ServerProcess

pytestmark = pytest.mark.timeout(240)

MiB = 1 << 20
CLI_TIMEOUT = 180


def aws(server: ServerProcess, home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one aws cli command against ``server`` with the root credentials and
    no user configuration (``home`` holds the empty config files)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=ROOT_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=ROOT_SECRET_KEY,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(home / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    command = [sys.executable, "-m", "awscli", "--endpoint-url", server.url]
    if server.tls:
        command += ["--ca-bundle", server.cert]
    result = subprocess.run(command + list(args), env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT,
                            check=False)
    if check:
        assert result.returncode == 0, f"aws {' '.join(args)} -> {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in pieces."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(8 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


def write_random(path: Path, size: int, seed: int) -> None:
    """A file of ``size`` reproducible incompressible bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    with path.open("wb") as fh:
        left = size
        while left:
            n = min(left, 8 * MiB)
            fh.write(rng.randbytes(n))
            left -= n


def transferred(output: str, verb: str) -> list[str]:
    """The destinations of the cli's ``upload:``/``download:``/``delete:`` lines."""
    return [m.group(1) for m in re.finditer(rf"^{verb}: .* to (.+?)\s*$", output, re.MULTILINE)]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A folder for the cli's (empty) configuration."""
    folder = tmp_path / "aws-home"
    folder.mkdir()
    return folder


@pytest.fixture
def cli_bucket(server: ServerProcess, home: Path) -> Iterator[str]:
    """A bucket made with ``aws s3 mb``, removed with ``aws s3 rb --force``."""
    name = f"cli-{uuid.uuid4().hex[:12]}"
    aws(server, home, "s3", "mb", f"s3://{name}")
    yield name
    aws(server, home, "s3", "rb", f"s3://{name}", "--force", check=False)


def test_cp_100_mib_up_and_down(server: ServerProcess, home: Path, cli_bucket: str, tmp_path: Path) -> None:
    source, back = tmp_path / "big.bin", tmp_path / "big.back"
    size = 100 * MiB
    write_random(source, size, 1)
    out = aws(server, home, "s3", "cp", str(source), f"s3://{cli_bucket}/dir/big.bin", "--no-progress").stdout
    assert transferred(out, "upload") == [f"s3://{cli_bucket}/dir/big.bin"]
    head = aws(server, home, "s3api", "head-object", "--bucket", cli_bucket, "--key", "dir/big.bin").stdout
    assert f'"ContentLength": {size}' in head
    # The cli's defaults: multipart above 8 MiB, in 8 MiB parts.
    assert re.search(r'"ETag": "\\"[0-9a-f]{32}-13\\""', head), head
    out = aws(server, home, "s3", "cp", f"s3://{cli_bucket}/dir/big.bin", str(back), "--no-progress").stdout
    # The cli names local files relative to its working folder.
    assert [Path(p).resolve() for p in transferred(out, "download")] == [back.resolve()]
    assert back.stat().st_size == size
    assert sha256_of(back) == sha256_of(source)


TREE_SIZES = [0, 1, 100, 4096, 32 * 1024, 32 * 1024 + 1, 100_000, MiB - 1, MiB, MiB + 1, 3 * MiB + 5, 9 * MiB + 3]


def make_tree(root: Path) -> dict[str, int]:
    """30 files of varied sizes in nested folders (one over 8 MiB); name -> size."""
    folders = ["", "a/", "a/b/", "a/b/c/", "docs/", "with space/", "ünïcode/"]
    files: dict[str, int] = {}
    for n in range(30):
        name = f"{folders[n % len(folders)]}file-{n:02d}.bin"
        size = TREE_SIZES[n % len(TREE_SIZES)] if n != 29 else 9 * MiB + 3
        write_random(root / name, size, 100 + n)
        files[name] = size
    return files


def test_sync_tree_twice_then_back(server: ServerProcess, home: Path, cli_bucket: str, tmp_path: Path) -> None:
    tree, down = tmp_path / "tree", tmp_path / "down"
    files = make_tree(tree)
    assert max(files.values()) > 8 * MiB
    target = f"s3://{cli_bucket}/backup"

    out = aws(server, home, "s3", "sync", str(tree), target, "--no-progress").stdout
    assert sorted(transferred(out, "upload")) == sorted(f"{target}/{name}" for name in files)
    out = aws(server, home, "s3", "sync", str(tree), target, "--no-progress").stdout
    assert transferred(out, "upload") == [] and "upload" not in out, out

    listing = aws(server, home, "s3", "ls", f"{target}/", "--recursive").stdout
    lines = re.finditer(r"^\S+ \S+\s+(\d+) backup/(.+?)\s*$", listing, re.MULTILINE)
    listed = {m.group(2): int(m.group(1)) for m in lines}
    assert listed == files

    # A changed file is the only one sent again.
    write_random(tree / "a/b/file-02.bin", 777, 999)
    files["a/b/file-02.bin"] = 777
    out = aws(server, home, "s3", "sync", str(tree), target, "--no-progress").stdout
    assert transferred(out, "upload") == [f"{target}/a/b/file-02.bin"]

    aws(server, home, "s3", "sync", target, str(down), "--no-progress")
    got = {str(p.relative_to(down)): p for p in down.rglob("*") if p.is_file()}
    assert sorted(got) == sorted(files)
    for name in files:
        assert got[name].read_bytes() == (tree / name).read_bytes(), name


def test_presign_then_fetch(server: ServerProcess, home: Path, cli_bucket: str, tmp_path: Path) -> None:
    source = tmp_path / "shared.bin"
    write_random(source, 3 * MiB + 11, 2)
    for key in ("shared.bin", "dir/with space+plus.bin"):
        aws(server, home, "s3", "cp", str(source), f"s3://{cli_bucket}/{key}", "--no-progress")
        url = aws(server, home, "s3", "presign", f"s3://{cli_bucket}/{key}", "--expires-in", "600").stdout.strip()
        assert url.startswith(server.url + "/")
        context = ssl.create_default_context(cafile=server.cert) if server.tls else None
        with urllib.request.urlopen(url, context=context, timeout=60) as response:
            assert response.status == 200
            assert response.read() == source.read_bytes()


def test_ls_rm_mb_rb(http_server: ServerProcess, home: Path, tmp_path: Path) -> None:
    server = http_server
    name = f"cli-{uuid.uuid4().hex[:12]}"
    tree = tmp_path / "small"
    for rel, size in {"top.txt": 10, "dir/one.txt": 20, "dir/two.txt": 30, "dir/deep/three.bin": 2 * MiB}.items():
        write_random(tree / rel, size, size)

    aws(server, home, "s3", "mb", f"s3://{name}")
    assert re.search(rf"^\S+ \S+ {name}$", aws(server, home, "s3", "ls").stdout, re.MULTILINE)
    aws(server, home, "s3", "cp", str(tree), f"s3://{name}/", "--recursive", "--no-progress")

    top = aws(server, home, "s3", "ls", f"s3://{name}/").stdout
    assert re.search(r"^\s+PRE dir/$", top, re.MULTILINE) and re.search(r"\s10 top\.txt$", top, re.MULTILINE), top
    inner = aws(server, home, "s3", "ls", f"s3://{name}/dir/").stdout
    assert re.search(r"^\s+PRE deep/$", inner, re.MULTILINE) and "one.txt" in inner and "three.bin" not in inner
    everything = aws(server, home, "s3", "ls", f"s3://{name}", "--recursive").stdout
    assert re.findall(r"\s(\d+) (\S+)$", everything, re.MULTILINE) == [
        (str(2 * MiB), "dir/deep/three.bin"),
        ("20", "dir/one.txt"), ("30", "dir/two.txt"), ("10", "top.txt"),
    ]

    refused = aws(server, home, "s3", "rb", f"s3://{name}", check=False)
    assert refused.returncode != 0 and "BucketNotEmpty" in refused.stderr, refused.stderr
    out = aws(server, home, "s3", "rm", f"s3://{name}", "--recursive").stdout
    assert len(re.findall(r"^delete: ", out, re.MULTILINE)) == 4, out
    assert aws(server, home, "s3", "ls", f"s3://{name}", "--recursive", check=False).stdout == ""
    aws(server, home, "s3", "rb", f"s3://{name}")
    assert not re.search(rf" {name}$", aws(server, home, "s3", "ls").stdout, re.MULTILINE)
