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
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    url: str = ""
    proc: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)

    @property
    def cert(self) -> str:
        """The self-signed certificate clients must trust (HTTPS servers)."""
        return str(self.data_dir / "tls" / "tls.crt")

    def start(self, timeout: float = 60.0) -> ServerProcess:
        """Run the server and wait until it announces its URL."""
        args = [sys.executable, "-m", "objectd", "serve", str(self.data_dir), "--address", "127.0.0.1:0"]
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

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.output.append(line)
                m = re.search(r"serving S3 at (\S+)", line)
                if m and not found.is_set():
                    self.url = m.group(1)
                    found.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("objectd did not start:\n" + "".join(self.output))
        return self

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
