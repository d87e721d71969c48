"""conformance/external.py: client commands found, bounded and reported."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from conformance.expect import CheckFailed
from conformance.external import aws_cli, binary, clean_environment, run
from conformance.registry import Unavailable


def test_a_missing_client_is_unavailable_with_how_to_install_it() -> None:
    with pytest.raises(Unavailable, match=r"no-such-client-x is not installed \(apt-get install pkg\)"):
        binary("no-such-client-x", "pkg")


def test_a_command_that_outlives_its_limit_is_killed_and_fails(tmp_path: Path) -> None:
    # The child starts a grandchild in the same group: both must go.
    script = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    with pytest.raises(CheckFailed, match="did not finish within 1 s"):
        run([sys.executable, "-c", script], dict(os.environ), timeout=1, label="sleeper")


def test_a_non_zero_exit_fails_with_the_label_and_error_output() -> None:
    with pytest.raises(CheckFailed, match=r"`tool sub` exited 3: broken here"):
        run([sys.executable, "-c", "import sys; sys.stderr.write('broken here'); sys.exit(3)"], dict(os.environ),
            label="tool sub")
    result = run([sys.executable, "-c", "import sys; sys.exit(3)"], dict(os.environ), check=False)
    assert result.returncode == 3


def test_clients_see_no_user_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "someone")
    monkeypatch.setenv("RCLONE_CONFIG", "/elsewhere")
    env = clean_environment({"AWS_ACCESS_KEY_ID": "AK"}, tmp_path)
    assert "AWS_PROFILE" not in env and "RCLONE_CONFIG" not in env
    assert (env["HOME"], env["AWS_ACCESS_KEY_ID"]) == (str(tmp_path), "AK")


def test_the_aws_cli_runs_from_this_python_when_installed_here() -> None:
    assert aws_cli() == [sys.executable, "-m", "awscli"]
