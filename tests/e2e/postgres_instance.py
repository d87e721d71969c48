"""A private Postgres server that a test can really stop and start.

Tests of database outages cannot stop the shared test server (every other
test uses it), so they run their own: a fresh cluster made by ``initdb`` in a
temporary folder, listening on a free loopback port with trust
authentication, its unix socket inside that folder. Postgres refuses to run
as root; when the tests run as root, its commands run as the ``postgres`` OS
user, which then owns the folder.

    instance = PostgresInstance.create()
    try:
        instance.start()
        ...  # point a gateway at instance.dsn
        instance.stop()  # clients are disconnected, new connections refused
        instance.start()  # same port, same data
    finally:
        instance.cleanup()

:func:`fetch_rows` runs one query synchronously, for tests that check what
the gateways wrote.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from tests.postgres_dsn import in_ci

BIN_ENV = "OBJECTD_TEST_POSTGRES_BIN"
"""Names the folder of ``initdb`` and ``pg_ctl`` when they are not where
Debian puts them (``/usr/lib/postgresql/VERSION/bin``)."""

SERVER_USER = "postgres"
COMMAND_TIMEOUT = 120.0


def find_bin_dir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (the newest installed
    version), or None when there is none."""
    named = os.environ.get(BIN_ENV)
    if named:
        return Path(named)
    candidates = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")]
    if candidates:
        return max(candidates, key=lambda p: _version_key(p.parent.name))
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def require_bin_dir() -> Path:
    """:func:`find_bin_dir`, or the calling test is skipped (failed under
    ``CI=true``: CI must never pass by skipping)."""
    found = find_bin_dir()
    if found is None or not (found / "initdb").exists() or not (found / "pg_ctl").exists():
        message = f"no Postgres server binaries (initdb, pg_ctl) found; install them or set {BIN_ENV}"
        if in_ci():
            pytest.fail(message + " [CI=true: not skipping]")
        pytest.skip(message)
    return found


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fetch_rows(dsn: str, sql: str, *params: object) -> list[asyncpg.Record]:
    """The rows of one query on ``dsn``, over a connection of its own (for
    synchronous tests; call it from a thread that runs no event loop)."""

    async def fetch() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *params)
            return rows
        finally:
            await conn.close()

    return asyncio.run(fetch())


@dataclass
class PostgresInstance:
    """One private Postgres server: its folder (data, log, socket), its
    binaries and its port. :meth:`create` makes the cluster; :meth:`start`
    and :meth:`stop` may be called any number of times; :meth:`cleanup`
    stops it and removes the folder."""

    root: Path
    bin_dir: Path
    port: int
    database: str = "postgres"

    @classmethod
    def create(cls, bin_dir: Path | None = None) -> PostgresInstance:
        """Make a new cluster (``initdb``) in a new temporary folder; it is
        not started yet. Skips (fails under CI) without server binaries."""
        found = bin_dir or require_bin_dir()
        root = Path(tempfile.mkdtemp(prefix="objectd-pg-"))
        instance = cls(root=root, bin_dir=found, port=free_port())
        try:
            if _runs_as_root():
                user = pwd.getpwnam(SERVER_USER)
                os.chown(root, user.pw_uid, user.pw_gid)
            instance._run(
                "initdb", "--pgdata", str(instance.data_dir), "--username", "postgres",
                "--auth", "trust", "--encoding", "UTF8", "--locale", "C", "--no-sync",
            )
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return instance

    @property
    def data_dir(self) -> Path:
        """The cluster's data folder."""
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        """Where the server writes its log."""
        return self.root / "server.log"

    @property
    def dsn(self) -> str:
        """The URI clients connect with (TCP on loopback, no password)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait until it accepts connections."""
        # The socket folder is the instance's own, so nothing else on the
        # machine (the shared server's /var/run/postgresql) is touched.
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
        self._run(
            "pg_ctl", "start", "--pgdata", str(self.data_dir), "--log", str(self.log_file),
            "--options", options, "--wait", "--timeout", str(int(timeout)),
        )

    def stop(self, mode: str = "fast", timeout: float = 60.0) -> None:
        """Stop the server and wait until it is gone. ``fast`` (the default)
        disconnects every client and shuts down cleanly; ``immediate`` is a
        crash (the next start recovers from the log)."""
        self._run(
            "pg_ctl", "stop", "--pgdata", str(self.data_dir), "--mode", mode,
            "--wait", "--timeout", str(int(timeout)),
        )

    def restart(self) -> None:
        """Stop, then start again on the same port with the same data."""
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        """Whether the server is up (``pg_ctl status``)."""
        done = subprocess.run(
            self._command("pg_ctl", "status", "--pgdata", str(self.data_dir)),
            capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
        )
        return done.returncode == 0

    def cleanup(self) -> None:
        """Stop the server if it runs, then remove its folder (idempotent)."""
        if self.root.exists():
            if self.data_dir.exists() and self.running:
                self.stop(mode="immediate")
            shutil.rmtree(self.root, ignore_errors=True)

    def log_text(self) -> str:
        """Everything the server logged so far."""
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(self.bin_dir / program), *args]
        if _runs_as_root():
            return ["runuser", "-u", SERVER_USER, "--", *command]
        return command

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            self._command(program, *args), capture_output=True, text=True,
            timeout=COMMAND_TIMEOUT, cwd=self.root,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args)} failed ({done.returncode}):\n"
                f"{done.stdout}{done.stderr}\n{self.log_text()}"
            )


def _runs_as_root() -> bool:
    return os.geteuid() == 0
