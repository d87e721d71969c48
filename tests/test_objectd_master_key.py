"""Master key: generated once with mode 0600, or taken from the environment."""

from __future__ import annotations

import base64
import stat

import pytest

from objectd.master_key import MasterKeyError, load_master_key


def test_generated_once_and_private(tmp_path):
    path = tmp_path / "keys" / "master.key"
    first = load_master_key(path, env={})
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_master_key(path, env={}) == first


def test_environment_wins(tmp_path):
    key = bytes(range(32))
    got = load_master_key(tmp_path / "unused.key", env={"OBJECTD_MASTER_KEY": base64.b64encode(key).decode()})
    assert got == key
    assert not (tmp_path / "unused.key").exists()


@pytest.mark.parametrize("value", ["not base64!!", base64.b64encode(b"short").decode()])
def test_malformed_keys_are_refused(tmp_path, value):
    with pytest.raises(MasterKeyError):
        load_master_key(tmp_path / "k", env={"OBJECTD_MASTER_KEY": value})
