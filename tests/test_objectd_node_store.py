"""objectd.node_store: a node folder's identity, lock, usage, listing and
verified reads, on a real folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from erasure.framing import HEADER_SIZE
from objectd.fragment_store import FragmentCorrupt, FragmentNotFound, fragment_id
from objectd.node_store import IDENTITY_FILE, NodeDataInUse, NodeIdMismatch, NodeStore
from tests.node_harness import fragment_frames

STREAM = "0123456789abcdef0123456789abcdef"


def put(store: NodeStore, fid: str, data: bytes) -> None:
    writer = store.open_writer(fid)
    writer.write_sync(data)
    store.commit(writer, len(data))


def test_first_start_keeps_the_given_id_and_later_starts_must_match(tmp_path: Path) -> None:
    store = NodeStore.open(tmp_path, node_id="node-7", site="paris", zone="rack-1")
    assert store.identity.node_id == "node-7"
    store.close()
    reopened = NodeStore.open(tmp_path)
    assert (reopened.identity.node_id, reopened.identity.site, reopened.identity.zone) == (
        "node-7", "paris", "rack-1")
    reopened.close()
    with pytest.raises(NodeIdMismatch):
        NodeStore.open(tmp_path, node_id="node-8")
    assert json.loads((tmp_path / IDENTITY_FILE).read_text())["id"] == "node-7"


def test_an_id_is_generated_once_when_none_is_given(tmp_path: Path) -> None:
    first = NodeStore.open(tmp_path)
    node_id = first.node_id
    first.close()
    again = NodeStore.open(tmp_path, zone="z2")
    assert again.node_id == node_id and again.identity.zone == "z2"
    again.close()
    assert NodeStore.stored_identity(tmp_path).zone == "z2"  # type: ignore[union-attr]


def test_invalid_ids_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        NodeStore.open(tmp_path / "n", node_id="../evil")
    assert not (tmp_path / "n").exists()


def test_one_process_per_folder(tmp_path: Path) -> None:
    store = NodeStore.open(tmp_path, node_id="n1")
    with pytest.raises(NodeDataInUse):
        NodeStore.open(tmp_path, node_id="n1")
    store.close()
    NodeStore.open(tmp_path, node_id="n1").close()


def test_leftover_temporary_files_are_removed_on_open(tmp_path: Path) -> None:
    store = NodeStore.open(tmp_path, node_id="n1")
    writer = store.open_writer(fragment_id(STREAM, 0))
    writer.write_sync(b"half a fragment")
    store.close()  # the process died mid-write
    assert list((tmp_path / "tmp").iterdir())
    NodeStore.open(tmp_path, node_id="n1").close()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_usage_follows_commits_and_deletes_and_survives_a_restart(tmp_path: Path) -> None:
    store = NodeStore.open(tmp_path, node_id="n1", capacity_bytes=10_000)
    put(store, fragment_id(STREAM, 0), b"a" * 1000)
    put(store, fragment_id(STREAM, 1), b"b" * 500)
    assert (store.usage().fragments, store.usage().used_bytes) == (2, 1500)
    assert store.space().capacity_bytes == 10_000
    assert store.space().free_bytes <= 8500
    store.delete(fragment_id(STREAM, 1))
    store.delete(fragment_id(STREAM, 1))
    assert (store.usage().fragments, store.usage().used_bytes) == (1, 1000)
    store.close()
    reopened = NodeStore.open(tmp_path)
    assert (reopened.usage().fragments, reopened.usage().used_bytes) == (1, 1000)
    reopened.close()


def test_listing_pages_in_order_across_shards(tmp_path: Path) -> None:
    store = NodeStore.open(tmp_path, node_id="n1")
    ids = sorted(fragment_id(f"{prefix:02x}{i:02x}" + "0" * 28, i % 6)
                 for prefix in (0x00, 0x3A, 0xFF) for i in range(4))
    for fid in ids:
        put(store, fid, b"x")
    pages: list[list[str]] = []
    after = ""
    while True:
        page = store.list_page(after, 5)
        pages.append(page)
        if len(page) < 5:
            break
        after = page[-1]
    assert [fid for page in pages for fid in page] == ids
    assert [len(page) for page in pages] == [5, 5, 2]
    assert store.list_page(ids[-1], 5) == []
    store.close()


def test_verified_reads(tmp_path: Path) -> None:
    store = NodeStore.open(tmp_path, node_id="n1")
    fid = fragment_id(STREAM, 2)
    frames = fragment_frames(STREAM, 2, 3 * 4096)
    put(store, fid, b"".join(frames))
    full = len(frames[0])
    assert store.read_verified(fid, full, full) == (frames[1], 3 * full)
    assert store.read_verified(fid, 3 * full, 10) == (b"", 3 * full)
    path = store.drive.path_of(fid)
    damaged = bytearray(path.read_bytes())
    damaged[full + HEADER_SIZE + 1] ^= 1
    path.chmod(0o600)
    path.write_bytes(bytes(damaged))
    with pytest.raises(FragmentCorrupt):
        store.read_verified(fid, full, full)
    assert store.read_verified(fid, 2 * full, full)[0] == frames[2]
    with pytest.raises(FragmentNotFound):
        store.read_verified(fragment_id(STREAM, 3), 0, 10)
    store.close()
