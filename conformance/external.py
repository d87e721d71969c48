"""Running the real clients' command lines: found on PATH (or, for the aws
cli, in this Python), bounded in time, failures reported with their output."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from conformance.expect import CheckFailed
from conformance.registry import Unavailable

# Each client command gets at most this long unless the check says otherwise.
COMMAND_TIMEOUT = 120.0


def binary(name: str, package: str | None = None) -> str:
    """The path of client ``name``; Unavailable (with how to install it) when absent."""
    found = shutil.which(name)
    if found is None:
        raise Unavailable(f"{name} is not installed (apt-get install {package or name})")
    return found


def aws_cli() -> list[str]:
    """The command that runs the aws cli: this Python's ``awscli`` module, else ``aws`` on PATH."""
    if importlib.util.find_spec("awscli") is not None:
        return [sys.executable, "-m", "awscli"]
    return [binary("aws", "awscli (pip install awscli)")]


def clean_environment(extra: Mapping[str, str], home: Path) -> dict[str, str]:
    """The current environment without any AWS/rclone/restic settings, ``HOME``
    pointing at ``home`` (no user configuration is read), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_", "RESTIC_", "S3CMD"))}
    env["HOME"] = str(home)
    env.update(extra)
    return env


def run(command: Sequence[str], env: Mapping[str, str], cwd: Path | None = None,
        timeout: float = COMMAND_TIMEOUT, check: bool = True, label: str | None = None,
        ) -> subprocess.CompletedProcess[str]:
    """Run a client command; on timeout its whole process group is killed and
    the check fails, as it does on a non-zero exit when ``check``. ``label``
    names the command in failure reasons (the whole command line by default)."""
    process = subprocess.Popen(list(command), env=dict(env), cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        raise CheckFailed(f"`{label or _show(command)}` did not finish within {timeout:.0f} s: "
                          f"{_tail(err or out)}") from None
    result = subprocess.CompletedProcess(list(command), process.returncode, out, err)
    if check and process.returncode != 0:
        raise CheckFailed(f"`{label or _show(command)}` exited {process.returncode}: {_tail(err or out)}")
    return result


def version_line(command: Sequence[str]) -> str:
    """The first line a client prints for its version, or why there is none."""
    try:
        result = subprocess.run(list(command), capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"not available ({type(error).__name__})"
    text = (result.stdout or result.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def _show(command: Sequence[str]) -> str:
    shown = [Path(command[0]).name, *command[1:]]
    if shown[:3] == [Path(sys.executable).name, "-m", "awscli"]:
        shown = ["aws", *shown[3:]]
    return " ".join(shown)


def _tail(text: str, limit: int = 400) -> str:
    flat = " ".join(text.split())
    return flat[-limit:]
