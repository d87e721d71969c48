"""A real ``objectd serve`` process for end-to-end tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT_ACCESS_KEY = "ODTESTROOTACCESSKEY1"
ROOT_SECRET_KEY = "testRootSecretKey/0123456789abcdefghijklm"


@dataclass
class ServerProcess:
    """Starts, stops and kills one server on an ephemeral loopback port."""

    data_dir: Path
    tls: bool = False
    # "serve": the embedded server; "dev-cluster": storage nodes and a gateway
    # started by ``objectd dev-cluster``, all in one process group.
    command: str = "serve"
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    url: str = ""
    urls: list[str] = field(default_factory=list)  # every gateway of a dev cluster
    proc: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)

    @property
    def cert(self) -> str:
        """The self-signed certificate clients must trust (HTTPS servers)."""
        return str(self.data_dir / "tls" / "tls.crt")

    def start(self, timeout: float = 60.0) -> ServerProcess:
        """Run the server and wait until it announces its URL."""
        if self.command == "serve":
            args = [sys.executable, "-m", "objectd", "serve", str(self.data_dir), "--address", "127.0.0.1:0"]
        else:
            args = [sys.executable, "-m", "objectd", "dev-cluster", "--data", str(self.data_dir),
                    "--address", "127.0.0.1:0", "--log-level", "INFO"]
        if self.tls:
            args.append("--self-signed")
        args += self.extra_args
        env = dict(os.environ)
        env.update(
            {
                "OBJECTD_ROOT_ACCESS_KEY": ROOT_ACCESS_KEY,
                "OBJECTD_ROOT_SECRET_KEY": ROOT_SECRET_KEY,
                "OBJECTD_GARBAGE_GRACE": "0",
                "OBJECTD_COLLECTOR_INTERVAL": "0.2",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.env)
        self.output = []
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True
        )
        found = threading.Event()
        # The embedded server is ready when it announces its URL; a dev cluster
        # when it has listed every node and gateway.
        ready = re.compile(r"serving S3 at (\S+)" if self.command == "serve" else r"dev cluster ready")
        gateway = re.compile(r"dev cluster: gateway pid \d+ at (\S+)")
        self.urls = []

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.output.append(line)
                g = gateway.search(line)
                if g:
                    self.urls.append(g.group(1))
                m = ready.search(line)
                if m and not found.is_set():
                    self.url = m.group(1) if m.groups() else self.urls[0]
                    found.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("objectd did not start:\n" + "".join(self.output))
        return self

    @property
    def admin_args(self) -> list[str]:
        """What ``objectd user`` needs to reach this server's users."""
        if self.command == "serve":
            return ["--data-dir", str(self.data_dir)]
        return ["--config", str(self.data_dir / "gateway.yaml")]

    def kill(self) -> None:
        """SIGKILL: the crash the design must survive."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGINT, then SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_text(self) -> str:
        """Everything the server printed so far."""
        return "".join(self.output)
