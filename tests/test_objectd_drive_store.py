"""LocalDriveStore: atomic, immutable fragment files and strict fragment ids."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from objectd.drive_store import LocalDriveStore
from objectd.fragment_store import FragmentNotFound, StoreOffline, fragment_id

FID = fragment_id("0123456789abcdef0123456789abcdef", 3)


@pytest.fixture
def drive(tmp_path: Path) -> LocalDriveStore:
    return LocalDriveStore.initialize(tmp_path / "drive-1")


async def test_write_commit_read_delete(drive):
    writer = await drive.open_writer(FID)
    await writer.write(b"hello ")
    await writer.write(memoryview(b"world"))
    assert not await drive.exists(FID)  # invisible before commit
    await writer.commit()
    assert await drive.exists(FID)
    assert await drive.read(FID, 0, 100) == b"hello world"
    assert await drive.read(FID, 6, 3) == b"wor"
    assert drive.fragment_ids() == [FID]
    await drive.delete(FID)
    assert not await drive.exists(FID)
    await drive.delete(FID)  # deleting again is fine


async def test_abort_leaves_nothing(drive):
    writer = await drive.open_writer(FID)
    await writer.write(b"x" * 1000)
    await writer.abort()
    assert drive.fragment_ids() == []
    assert list((drive.root / "tmp").iterdir()) == []


async def test_committed_fragment_is_never_overwritten(drive):
    w1 = await drive.open_writer(FID)
    await w1.write(b"first")
    await w1.commit()
    w2 = await drive.open_writer(FID)
    await w2.write(b"second")
    with pytest.raises(FileExistsError):
        await w2.commit()
    assert await drive.read(FID, 0, 100) == b"first"
    assert list((drive.root / "tmp").iterdir()) == []


async def test_missing_fragment(drive):
    with pytest.raises(FragmentNotFound):
        await drive.read(FID, 0, 10)


async def test_removed_drive_is_offline(drive):
    shutil.rmtree(drive.root)
    with pytest.raises(StoreOffline):
        await drive.read(FID, 0, 10)
    with pytest.raises(StoreOffline):
        await drive.open_writer(FID)


@pytest.mark.parametrize(
    "bad",
    ["../../etc/passwd", "0123456789abcdef0123456789abcdef.3", "0123456789ABCDEF0123456789abcdef.03",
     "0123456789abcdef0123456789abcdef.03/..", "", "0123456789abcdef0123456789abcdef.03\n",
     "/0123456789abcdef0123456789abcdef.03"],
)
async def test_hostile_fragment_ids_never_reach_the_file_system(drive, bad):
    with pytest.raises(ValueError):
        await drive.read(bad, 0, 1)
    with pytest.raises(ValueError):
        await drive.open_writer(bad)
    with pytest.raises(ValueError):
        await drive.delete(bad)


def test_drive_id_is_kept(tmp_path):
    first = LocalDriveStore.initialize(tmp_path / "d")
    (tmp_path / "d" / "objectd-drive.id").write_text("drive-x\n")
    again = LocalDriveStore.initialize(tmp_path / "d")
    assert first.store_id == "d"
    assert again.store_id == "drive-x"


async def test_delete_also_removes_an_abandoned_temporary_file(drive):
    writer = await drive.open_writer(FID)
    await writer.write(b"half written by a process that died")
    await drive.delete(FID)
    assert list((drive.root / "tmp").iterdir()) == []
    with pytest.raises(FileNotFoundError):
        await writer.commit()


async def test_vectored_write(drive):
    writer = await drive.open_writer(FID)
    writer.write_sync((b"head", memoryview(b"-payload-"), b"tail"))
    writer.write_sync([b"", b"more"])
    await writer.commit()
    assert await drive.read(FID, 0, 100) == b"head-payload-tailmore"


def test_abort_waits_for_a_write_in_progress(tmp_path):
    """An abort from the event loop while a worker thread is still writing must
    not close the descriptor under the write (a new file could reuse it)."""
    import os
    import threading

    drive = LocalDriveStore.initialize(tmp_path / "drive")
    writer = drive.open_writer_sync(fragment_id("cd" * 16, 1))
    inside, release = threading.Event(), threading.Event()
    original = writer._write_locked

    def slow_write(data):
        inside.set()
        assert release.wait(30)
        original(data)

    writer._write_locked = slow_write  # type: ignore[method-assign]
    fd = writer._fd
    write = threading.Thread(target=writer.write_sync, args=(b"x" * 1000,))
    write.start()
    assert inside.wait(30)
    abort = threading.Thread(target=writer.abort_sync)
    abort.start()
    abort.join(0.2)
    assert abort.is_alive()  # waiting for the write, descriptor still open
    os.fstat(fd)
    release.set()
    write.join(30)
    abort.join(30)
    assert not abort.is_alive()
    assert writer._fd is None  # closed once the write finished
    assert list((drive.root / "tmp").iterdir()) == []
