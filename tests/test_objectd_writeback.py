"""Tests for objectd.writeback and its use by drive fragment writers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from objectd import drive_store
from objectd.drive_store import LocalDriveStore
from objectd.writeback import WRITEBACK_STEP, drop_cached, start_writeback, writeback_available
from tests.page_cache import cached_pages


def test_available_on_linux() -> None:
    assert writeback_available() is sys.platform.startswith("linux")


def test_starts_writeback_of_a_real_file(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.write(fd, os.urandom(3 * WRITEBACK_STEP))
        assert start_writeback(fd, 0, 3 * WRITEBACK_STEP) is writeback_available()
        os.fsync(fd)
    finally:
        os.close(fd)
    assert (tmp_path / "f").stat().st_size == 3 * WRITEBACK_STEP


def test_a_refusal_is_a_false_hint_not_an_error() -> None:
    read_end, write_end = os.pipe()
    try:
        # A pipe has no pages to write back or drop: ESPIPE, as a boolean.
        assert start_writeback(read_end, 0, 4096) is False
        assert drop_cached(read_end, 0, 0) is False
    finally:
        os.close(read_end)
        os.close(write_end)
    assert start_writeback(0, 0, 0) is False  # nothing to write back


@pytest.mark.parametrize("piece", [1000, WRITEBACK_STEP - 1, WRITEBACK_STEP, 3 * WRITEBACK_STEP + 5])
def test_fragment_writer_starts_writeback_of_every_step_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, piece: int
) -> None:
    calls: list[tuple[int, int]] = []

    def record(fd: int, offset: int, length: int) -> bool:
        calls.append((offset, length))
        return start_writeback(fd, offset, length)

    monkeypatch.setattr(drive_store, "start_writeback", record)
    drive = LocalDriveStore.initialize(tmp_path / "drive")
    writer = drive.open_writer_sync("ab" * 16 + ".00")
    data = os.urandom(6 * WRITEBACK_STEP + 17)
    for start in range(0, len(data), piece):
        chunk = data[start : start + piece]
        writer.write_sync([chunk[:10], chunk[10:]] if start % 2 else chunk)
    writer.commit_sync()
    # Contiguous ranges from 0, each at least a step, none past what was written.
    assert calls and calls[0][0] == 0
    for (offset, length), (next_offset, _) in zip(calls, calls[1:]):
        assert length >= WRITEBACK_STEP and offset + length == next_offset
    assert calls[-1][0] + calls[-1][1] <= len(data)
    assert len(data) - (calls[-1][0] + calls[-1][1]) < max(piece, WRITEBACK_STEP)
    assert drive.read_sync("ab" * 16 + ".00", 0, len(data)) == data


def test_drop_cached_frees_the_clean_pages_of_a_real_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    data = os.urandom(3 * WRITEBACK_STEP + 100)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
        cached, pages = cached_pages(path)
        assert cached >= pages - pages // 20 and pages > 0
        assert drop_cached(fd, 0, 0) is True  # 0: to the end
        assert cached_pages(path)[0] <= pages // 20
    finally:
        os.close(fd)
    assert path.read_bytes() == data  # dropped from memory, not from the disk


def _write_fragment(drive: LocalDriveStore, data: bytes, cached: bool) -> str:
    fid = "ab" * 16 + ".05"
    writer = drive.open_writer_sync(fid, cached=cached)
    for start in range(0, len(data), 256 * 1024 + 3):
        writer.write_sync(data[start : start + 256 * 1024 + 3])
    writer.commit_sync()
    return fid


def test_an_uncached_fragment_drops_what_is_written_back_then_everything_at_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[tuple[int, int]] = []
    dropped: list[tuple[int, int, int]] = []  # (offset, length, write-back started up to then)

    def record_start(fd: int, offset: int, length: int) -> bool:
        started.append((offset, length))
        return start_writeback(fd, offset, length)

    def record_drop(fd: int, offset: int, length: int) -> bool:
        dropped.append((offset, length, sum(n for _, n in started)))
        return drop_cached(fd, offset, length)

    monkeypatch.setattr(drive_store, "start_writeback", record_start)
    monkeypatch.setattr(drive_store, "drop_cached", record_drop)
    drive = LocalDriveStore.initialize(tmp_path / "drive")
    data = os.urandom(6 * WRITEBACK_STEP + 17)
    fid = _write_fragment(drive, data, cached=False)
    # While writing: only ranges whose write-back started a step earlier.
    *behind, last = dropped
    assert behind, "nothing was dropped while writing"
    assert behind[0][0] == 0
    for (offset, length, started_then), (next_offset, _, _) in zip(behind, behind[1:] + [(None, 0, 0)]):
        # Contiguous ranges, each only of what was written back a step earlier.
        assert length > 0 and offset + length <= started_then - WRITEBACK_STEP
        assert next_offset is None or next_offset == offset + length
    assert last[:2] == (0, 0)  # after the fsync: the whole file
    cached, pages = cached_pages(drive.path_of(fid))
    assert cached <= pages // 20
    assert drive.read_sync(fid, 0, len(data)) == data


def test_a_cached_fragment_stays_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dropped: list[tuple[int, int]] = []
    monkeypatch.setattr(drive_store, "drop_cached",
                        lambda fd, offset, length: dropped.append((offset, length)))
    drive = LocalDriveStore.initialize(tmp_path / "drive")
    data = os.urandom(3 * WRITEBACK_STEP)
    fid = _write_fragment(drive, data, cached=True)
    assert dropped == []
    cached, pages = cached_pages(drive.path_of(fid))
    assert cached >= pages - pages // 20
