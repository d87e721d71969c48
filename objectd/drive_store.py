"""Fragments on a local drive folder: the embedded server's storage nodes.

Layout under the drive's root::

    objectd-drive.id      the drive's id, written once
    fragments/ab/cd/ID    committed fragments (ID = stream id + "." + index)
    tmp/ID.RANDOM         fragments being written

A fragment is written under a temporary name, fsynced, renamed into place and
its folder fsynced (DESIGN invariant 2); committed files are never rewritten.
Write-back of each MiB written is started at once (``objectd.writeback``), so
the commit's fsync does not find a whole fragment still to write. A fragment
written with ``cached=False`` (one GETs will not read first: read only to
repair) has its pages dropped from the page cache once the disk has them.
All file work runs in the default thread pool, never on the event loop,
except :meth:`LocalDriveStore.read_cached`, which reads only what the kernel
has cached and so never waits for the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import os
import secrets
import threading
from collections.abc import Sequence
from pathlib import Path

from objectd.cached_read import read_cached
from objectd.fragment_store import FRAGMENT_ID, FragmentNotFound, StoreOffline
from objectd.writeback import WRITEBACK_STEP, drop_cached, start_writeback

ID_FILE = "objectd-drive.id"


def _check_id(fragment_id: str) -> None:
    if not FRAGMENT_ID.match(fragment_id):
        raise ValueError(f"invalid fragment id {fragment_id!r}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DriveFragmentWriter:
    """A fragment being written to a temporary file on a drive."""

    def __init__(self, store: LocalDriveStore, fragment_id: str, fd: int, tmp: Path,
                 cached: bool = True) -> None:
        self._store = store
        self._fragment_id = fragment_id
        self._fd: int | None = fd
        self._tmp = tmp
        self._written = 0
        self._written_back = 0  # bytes whose write-back has been started
        self._cached = cached
        self._dropped = 0  # bytes whose pages have been asked out of the cache
        # Held by every use of the descriptor: an abort from the loop while a
        # worker thread is still writing waits for that write instead of
        # closing the number under it (which a new file could then reuse).
        self._fd_lock = threading.Lock()

    async def write(self, data: bytes | memoryview) -> None:
        """Append ``data`` to the temporary file."""
        await asyncio.get_running_loop().run_in_executor(None, self.write_sync, data)

    def write_sync(self, data: bytes | memoryview | Sequence[bytes | memoryview]) -> None:
        """Append ``data``, or a sequence of buffers back to back (one vectored
        write). Blocking; for callers already off the event loop."""
        with self._fd_lock:
            self._write_locked(data)

    def _write_locked(self, data: bytes | memoryview | Sequence[bytes | memoryview]) -> None:
        if self._fd is None:
            raise ValueError("writer is closed")
        if isinstance(data, (tuple, list)):
            buffers = [memoryview(b).cast("B") for b in data]
            written = os.writev(self._fd, buffers)
            total = sum(b.nbytes for b in buffers)
            self._written += written
            if written < total:
                self._write_all(memoryview(b"".join(buffers)[written:]))  # a short vectored write
        else:
            self._write_all(memoryview(data).cast("B"))
        if self._written - self._written_back >= WRITEBACK_STEP:
            # The commit's fsync then finds little left to write.
            start_writeback(self._fd, self._written_back, self._written - self._written_back)
            if not self._cached and self._written_back > self._dropped:
                # The previous steps' write-back has had a step's time to
                # finish; the kernel skips pages still in flight, and the
                # commit asks again for the whole file.
                drop_cached(self._fd, self._dropped, self._written_back - self._dropped)
                self._dropped = self._written_back
            self._written_back = self._written

    def _write_all(self, view: memoryview) -> None:
        assert self._fd is not None
        while view:
            n = os.write(self._fd, view)
            self._written += n
            view = view[n:]

    async def commit(self) -> None:
        """fsync, rename into place, fsync the folder."""
        await asyncio.get_running_loop().run_in_executor(None, self.commit_sync)

    def commit_sync(self) -> None:
        """Blocking form of :meth:`commit`."""
        with self._fd_lock:
            if self._fd is None:
                raise ValueError("writer is closed")
            fd, self._fd = self._fd, None
        try:
            os.fsync(fd)
            if not self._cached:
                drop_cached(fd, 0, 0)  # every page is clean now
        finally:
            os.close(fd)
        final = self._store.path_of(self._fragment_id)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.exists():
                # Invariant 2: a committed fragment is never replaced.
                raise FileExistsError(errno.EEXIST, "fragment exists", str(final))
            os.rename(self._tmp, final)
            _fsync_dir(final.parent)
        except BaseException:
            self._tmp.unlink(missing_ok=True)
            raise

    async def abort(self) -> None:
        """Close and remove the temporary file."""
        await asyncio.get_running_loop().run_in_executor(None, self.abort_sync)

    def abort_sync(self) -> None:
        """Blocking form of :meth:`abort` (waits for a write in progress)."""
        with self._fd_lock:
            if self._fd is not None:
                fd, self._fd = self._fd, None
                os.close(fd)
        self._tmp.unlink(missing_ok=True)


class LocalDriveStore:
    """A :class:`~objectd.fragment_store.FragmentStore` on one drive folder."""

    def __init__(self, root: Path, store_id: str | None = None) -> None:
        self.root = Path(root)
        self.store_id = store_id or self.root.name

    @classmethod
    def initialize(cls, root: Path) -> LocalDriveStore:
        """Create the drive's folders and id file if missing; return the store."""
        root = Path(root)
        (root / "fragments").mkdir(parents=True, exist_ok=True)
        (root / "tmp").mkdir(parents=True, exist_ok=True)
        id_path = root / ID_FILE
        if not id_path.exists():
            id_path.write_text(f"{root.name}\n")
        return cls(root, id_path.read_text().strip())

    def path_of(self, fragment_id: str) -> Path:
        """Where a committed fragment lives (after validating its id)."""
        _check_id(fragment_id)
        return self.root / "fragments" / fragment_id[:2] / fragment_id[2:4] / fragment_id

    def _require_online(self) -> None:
        if not (self.root / ID_FILE).exists():
            raise StoreOffline(f"drive {self.store_id} at {self.root} is not available")

    async def open_writer(self, fragment_id: str, *, cached: bool = True) -> DriveFragmentWriter:
        """Open a temporary file for a new fragment; ``cached=False`` keeps
        its bytes out of the page cache once they are on the disk."""
        return await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(self.open_writer_sync, fragment_id, cached=cached)
        )

    def open_writer_sync(self, fragment_id: str, *, cached: bool = True) -> DriveFragmentWriter:
        """Blocking form of :meth:`open_writer`."""
        _check_id(fragment_id)
        self._require_online()
        tmp = self.root / "tmp" / f"{fragment_id}.{secrets.token_hex(6)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileNotFoundError as exc:
            raise StoreOffline(str(exc)) from exc
        return DriveFragmentWriter(self, fragment_id, fd, tmp, cached)

    async def read(self, fragment_id: str, offset: int, length: int) -> bytes:
        """Read a byte range of a committed fragment."""
        return await asyncio.get_running_loop().run_in_executor(
            None, self.read_sync, fragment_id, offset, length
        )

    def read_sync(self, fragment_id: str, offset: int, length: int) -> bytes:
        """Blocking form of :meth:`read`."""
        path = self.path_of(fragment_id)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError as exc:
            self._require_online()
            raise FragmentNotFound(fragment_id) from exc
        try:
            return os.pread(fd, length, offset)
        finally:
            os.close(fd)

    def read_cached(self, fragment_id: str, offset: int, length: int) -> bytearray | None:
        """A byte range of a committed fragment if the kernel has it all
        cached (path and pages), else None: for the event loop, which must not
        wait for a disk; :meth:`read` on a thread is the way for the rest."""
        return read_cached(self.path_of(fragment_id), offset, length)

    async def delete(self, fragment_id: str) -> None:
        """Remove a fragment, committed or still under tmp/ (missing is fine)."""
        await asyncio.get_running_loop().run_in_executor(None, self.delete_sync, fragment_id)

    def delete_sync(self, fragment_id: str) -> None:
        """Blocking form of :meth:`delete`."""
        self._require_online()
        self.path_of(fragment_id).unlink(missing_ok=True)
        # A writer killed with its process leaves its data under tmp/; the
        # collector gets here through the stream's expired intent. Removing it
        # also makes a writer still running past that point fail its commit
        # rather than leave a fragment nothing references.
        prefix = f"{fragment_id}."
        with contextlib.suppress(FileNotFoundError), os.scandir(self.root / "tmp") as entries:
            for entry in entries:
                if entry.name.startswith(prefix):
                    Path(entry.path).unlink(missing_ok=True)

    async def exists(self, fragment_id: str) -> bool:
        """Whether a committed fragment exists."""
        return await asyncio.get_running_loop().run_in_executor(
            None, lambda: self.path_of(fragment_id).exists()
        )

    def fragment_ids(self) -> list[str]:
        """Every committed fragment id on the drive (blocking; for scans and tests)."""
        base = self.root / "fragments"
        return sorted(p.name for p in base.glob("*/*/*") if FRAGMENT_ID.match(p.name))
