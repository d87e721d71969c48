"""User keys: sealed under the master key, looked up for signature checks."""

from __future__ import annotations

import pytest

from metadata.sqlite_store import SqliteStore
from objectd.credentials import ROOT_USER, SecretBox, UserDirectory


@pytest.fixture
async def directory(tmp_path):
    store = SqliteStore(str(tmp_path / "md.db"))
    await store.open()
    yield UserDirectory(store, SecretBox(bytes(range(32))))
    await store.close()


async def test_secret_is_sealed_at_rest(directory):
    issued = await directory.add_key("alice")
    stored = await directory.metadata.user_by_access_key(issued.access_key)
    assert issued.secret_key.encode() not in stored.secret
    found = await directory.lookup(issued.access_key)
    assert (found.user, found.secret_key) == ("alice", issued.secret_key)


async def test_wrong_master_key_cannot_open(directory):
    issued = await directory.add_key("bob")
    other = UserDirectory(directory.metadata, SecretBox(bytes(32)))
    with pytest.raises(ValueError):
        await other.lookup(issued.access_key)


async def test_unknown_and_removed_keys(directory):
    assert await directory.lookup("NOPE") is None
    issued = await directory.add_key("carol")
    await directory.remove_key(issued.access_key)
    assert await directory.lookup(issued.access_key) is None


async def test_root_key_generated_once_then_kept(directory):
    first = await directory.ensure_root(None, None)
    again = await directory.ensure_root(None, None)
    assert first == again and first.user == ROOT_USER
    assert len(first.access_key) == 20 and len(first.secret_key) == 40


async def test_root_key_from_environment_replaces_a_changed_secret(directory):
    a = await directory.ensure_root("ODROOTKEY", "secret-one")
    b = await directory.ensure_root("ODROOTKEY", "secret-two")
    assert (a.secret_key, b.secret_key) == ("secret-one", "secret-two")
    directory._cache.clear()
    assert (await directory.lookup("ODROOTKEY")).secret_key == "secret-two"
