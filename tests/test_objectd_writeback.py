"""Tests for objectd.writeback and its use by drive fragment writers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from objectd import drive_store
from objectd.drive_store import LocalDriveStore
from objectd.writeback import WRITEBACK_STEP, start_writeback, writeback_available


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


def test_a_refusal_is_a_false_hint_not_an_error(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    assert start_writeback(fd, 0, 4096) is False  # a closed descriptor
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
