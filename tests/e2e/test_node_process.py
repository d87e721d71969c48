"""A real ``objectd node`` process: certificates made with the real CLI,
fragments over mutual TLS, SIGTERM, restarts that keep identity and data."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from objectd.certs import client_context
from objectd.fragment_store import FragmentNotFound, fragment_id
from objectd.node_client import NodeConnections, RemoteNodeStore
from tests.node_harness import fragment_frames

READY = re.compile(r"objectd node (\S+) listening at (\S+)")
STREAM = "00112233445566778899aabbccddeeff"


def objectd(*args: str) -> str:
    """Run an ``objectd`` command to completion; its output."""
    done = subprocess.run([sys.executable, "-m", "objectd", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass
class NodeProcess:
    """One ``objectd node`` child process."""

    args: list[str]
    proc: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)
    node_id: str = ""
    url: str = ""

    def start(self, timeout: float = 60.0) -> NodeProcess:
        """Run it and wait (bounded) for its ready line."""
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "objectd", "node", *self.args], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ready = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.output.append(line)
                match = READY.search(line)
                if match and not ready.is_set():
                    self.node_id, self.url = match.group(1), match.group(2)
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("objectd node did not start:\n" + "".join(self.output))
        return self

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, and its exit status (bounded wait)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL if still running."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def exit_status(self, timeout: float = 60.0) -> int:
        """Wait (bounded) for a process expected to exit by itself."""
        assert self.proc is not None
        return self.proc.wait(timeout)


@pytest.fixture(scope="module")
def cluster_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, two node certificates and a gateway certificate, made by the CLI."""
    folder = tmp_path_factory.mktemp("cluster") / "ca"
    objectd("certs", "init", "--dir", str(folder))
    for node_id in ("alpha", "beta"):
        objectd("certs", "node", "--dir", str(folder), "--id", node_id, "--host", "127.0.0.1")
    objectd("certs", "gateway", "--dir", str(folder), "--name", "gw")
    return folder


def node_args(cluster_dir: Path, data: Path, node_id: str = "alpha", *extra: str) -> list[str]:
    return ["--data", str(data), "--address", "127.0.0.1:0", "--ca", str(cluster_dir),
            "--cert", str(cluster_dir / f"{node_id}.crt"), "--key", str(cluster_dir / f"{node_id}.key"),
            *extra]


@pytest.fixture
def processes() -> Iterator[list[NodeProcess]]:
    started: list[NodeProcess] = []
    yield started
    for proc in started:
        proc.kill()


@pytest.fixture
async def session(cluster_dir: Path) -> AsyncIterator[NodeConnections]:
    pool = NodeConnections(client_context(cluster_dir, cluster_dir / "gw.crt", cluster_dir / "gw.key"))
    yield pool
    await pool.close()


async def test_node_serves_stops_on_sigterm_and_restarts_with_its_id_and_fragments(
        cluster_dir: Path, tmp_path: Path, processes: list[NodeProcess], session: NodeConnections) -> None:
    data = tmp_path / "alpha"
    first = NodeProcess(node_args(cluster_dir, data, "alpha", "--id", "alpha", "--site", "home",
                                  "--zone", "shelf")).start()
    processes.append(first)
    assert first.node_id == "alpha" and first.url.startswith("https://127.0.0.1:")

    store = RemoteNodeStore("alpha", first.url, session, read_timeout=30, write_timeout=30)
    frames = fragment_frames(STREAM, 3, 10 * 4096 + 17)
    fid = fragment_id(STREAM, 3)
    writer = await store.open_writer(fid)
    for frame in frames:
        await writer.write(frame)
    await writer.commit()
    full = len(frames[0])
    assert await store.read(fid, 4 * full, 2 * full) == frames[4] + frames[5]
    info = await store.info()
    assert (info.id, info.site, info.zone, info.state, info.fragments) == ("alpha", "home", "shelf", "up", 1)

    assert first.terminate() == 0
    assert "node stopping" in "".join(first.output)

    # Started again without --id, --site or --zone: the folder remembers them.
    second = NodeProcess(node_args(cluster_dir, data, "alpha")).start()
    processes.append(second)
    assert second.node_id == "alpha"
    store = RemoteNodeStore("alpha", second.url, session, read_timeout=30)
    assert await store.read(fid, 0, len(frames) * full) == b"".join(frames)
    assert await store.list_fragments() == [fid]
    info = await store.info()
    assert (info.site, info.zone, info.fragments) == ("home", "shelf", 1)
    with pytest.raises(FragmentNotFound):
        await store.read(fragment_id(STREAM, 4), 0, 10)
    assert second.terminate() == 0


def test_a_node_refuses_to_start_as_someone_else(cluster_dir: Path, tmp_path: Path,
                                                 processes: list[NodeProcess]) -> None:
    data = tmp_path / "alpha"
    running = NodeProcess(node_args(cluster_dir, data, "alpha")).start()
    processes.append(running)
    assert running.node_id == "alpha"  # taken from its certificate on the first start

    in_use = subprocess.run([sys.executable, "-m", "objectd", "node", *node_args(cluster_dir, data, "alpha")],
                            capture_output=True, text=True, timeout=60)
    assert in_use.returncode != 0 and "another process" in in_use.stderr
    assert running.terminate() == 0

    other_id = subprocess.run(
        [sys.executable, "-m", "objectd", "node", *node_args(cluster_dir, data, "alpha", "--id", "beta")],
        capture_output=True, text=True, timeout=60)
    assert other_id.returncode != 0 and "belongs to node 'alpha'" in other_id.stderr

    wrong_cert = subprocess.run([sys.executable, "-m", "objectd", "node", *node_args(cluster_dir, data, "beta")],
                                capture_output=True, text=True, timeout=60)
    assert wrong_cert.returncode != 0 and "not for node 'alpha'" in wrong_cert.stderr


def test_certs_cli_refuses_to_replace_the_ca(cluster_dir: Path) -> None:
    before = (cluster_dir / "ca.key").read_bytes()
    again = subprocess.run([sys.executable, "-m", "objectd", "certs", "init", "--dir", str(cluster_dir)],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode != 0 and "already holds a CA" in again.stderr
    assert (cluster_dir / "ca.key").read_bytes() == before
    assert oct((cluster_dir / "alpha.key").stat().st_mode & 0o777) == "0o600"
