"""A DataPath over a real SQLite store and six real drive folders, for the
tests of the data path and of what sits on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from erasure.layout import StripeLayout
from metadata.sqlite_store import SqliteStore
from objectd.data_path import DataPath, DataPathSettings
from objectd.drive_store import LocalDriveStore
from placement.ring import Ring, RingNode

LAYOUT = StripeLayout(k=4, m=2, segment_size=64 * 1024)
MASTER_KEY = bytes(range(32))


@asynccontextmanager
async def local_data_path(
    tmp_path: Path,
) -> AsyncIterator[tuple[SqliteStore, dict[str, LocalDriveStore], Callable[..., DataPath]]]:
    """The metadata store, the drives, and a function making a DataPath over
    them (keyword arguments are DataPathSettings beside the layout and a
    1 KiB inline threshold)."""
    md = SqliteStore(str(tmp_path / "md.db"), garbage_grace=0)
    await md.open()
    drives = {d.store_id: d for d in (LocalDriveStore.initialize(tmp_path / f"drive-{i}") for i in range(6))}

    def make(**settings: Any) -> DataPath:
        return DataPath(md, drives, Ring(RingNode(i) for i in drives),
                        DataPathSettings(layout=LAYOUT, inline_threshold=1024, **settings), MASTER_KEY)

    try:
        yield md, drives, make
    finally:
        await md.close()
