"""A storage node's data folder: its identity and the fragments it holds.

Layout under the node's folder::

    objectd-node.json     the node's identity: its id (fixed once), site and zone
    objectd-node.lock     held (flock) by the one process serving the folder
    objectd-drive.id      } the fragment files, kept by
    fragments/ab/cd/ID    } :class:`objectd.drive_store.LocalDriveStore`
    tmp/ID.RANDOM         } (atomic writes, never replaced)

The id is chosen once, on the first start (given, or generated) and checked
on every later start, so a folder cannot silently change identity. Every
method here blocks; the node server calls them off the event loop.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from erasure.framing import HEADER_SIZE
from objectd.certs import check_name
from objectd.drive_store import ID_FILE, DriveFragmentWriter, LocalDriveStore
from objectd.fragment_store import FRAGMENT_ID, FragmentCorrupt, FragmentNotFound, StoreOffline
from objectd.node_protocol import FrameCheck, check_frames

IDENTITY_FILE = "objectd-node.json"
LOCK_FILE = "objectd-node.lock"


class NodeIdMismatch(Exception):
    """The folder belongs to another node id than the one asked for."""


class NodeDataInUse(Exception):
    """Another process serves this node folder."""


@dataclass(frozen=True)
class NodeIdentity:
    """Who a node is and where it stands in the failure domains."""

    node_id: str
    site: str = ""
    zone: str = ""


@dataclass(frozen=True)
class NodeUsage:
    """What a node holds: committed fragments and their bytes."""

    fragments: int
    used_bytes: int


@dataclass(frozen=True)
class DiskSpace:
    """Capacity and free space a node reports (bytes)."""

    capacity_bytes: int
    free_bytes: int


def _load_identity(path: Path) -> NodeIdentity | None:
    if not path.exists():
        return None
    doc = json.loads(path.read_text())
    return NodeIdentity(node_id=check_name(doc["id"], "node id"), site=str(doc.get("site", "")),
                        zone=str(doc.get("zone", "")))


def _save_identity(path: Path, identity: NodeIdentity) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    doc = {"id": identity.node_id, "site": identity.site, "zone": identity.zone}
    with open(tmp, "w") as fh:
        json.dump(doc, fh)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def new_node_id() -> str:
    """A fresh node id: ``n`` and 12 random hex digits."""
    return f"n{secrets.token_hex(6)}"


class NodeStore:
    """A node's fragments (a :class:`LocalDriveStore` on its folder), its
    identity, its usage counters and its capacity."""

    def __init__(self, root: Path, identity: NodeIdentity, drive: LocalDriveStore, lock_fd: int | None,
                 capacity_bytes: int | None = None) -> None:
        self.root = root
        self.identity = identity
        self.drive = drive
        self.capacity_limit = capacity_bytes
        self._lock_fd = lock_fd
        self._usage_lock = threading.Lock()
        self._fragments = 0
        self._used = 0

    @classmethod
    def open(cls, root: str | Path, *, node_id: str | None = None, site: str | None = None,
             zone: str | None = None, capacity_bytes: int | None = None) -> NodeStore:
        """Open (creating on first use) a node folder and lock it for this process.

        ``node_id``: the id this node must have; on first use it becomes the
        id (a random one when None), later it must match (NodeIdMismatch).
        ``site``/``zone`` given replace the stored ones. Leftover temporary
        files of a previous process are removed: only the lock holder writes.
        """
        root = Path(root)
        if node_id is not None:
            check_name(node_id, "node id")
        root.mkdir(parents=True, exist_ok=True)
        lock_fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise NodeDataInUse(f"{root} is served by another process") from exc
            id_path = root / IDENTITY_FILE
            stored = _load_identity(id_path)
            if stored is not None and node_id is not None and stored.node_id != node_id:
                raise NodeIdMismatch(f"{root} belongs to node {stored.node_id!r}, not {node_id!r}")
            base = stored or NodeIdentity(node_id or new_node_id())
            identity = NodeIdentity(
                node_id=base.node_id,
                site=base.site if site is None else site,
                zone=base.zone if zone is None else zone,
            )
            if identity != stored:
                _save_identity(id_path, identity)
            LocalDriveStore.initialize(root)
            drive = LocalDriveStore(root, identity.node_id)
            store = cls(root, identity, drive, lock_fd, capacity_bytes)
            store.clear_temporary()
            store.rescan()
            return store
        except BaseException:
            os.close(lock_fd)
            raise

    @staticmethod
    def stored_identity(root: str | Path) -> NodeIdentity | None:
        """The identity a node folder already has, if any."""
        return _load_identity(Path(root) / IDENTITY_FILE)

    @property
    def node_id(self) -> str:
        """This node's id."""
        return self.identity.node_id

    def close(self) -> None:
        """Release the folder lock."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- bookkeeping -------------------------------------------------------

    def clear_temporary(self) -> None:
        """Remove fragments left half-written by a process that died."""
        with contextlib.suppress(FileNotFoundError), os.scandir(self.root / "tmp") as entries:
            for entry in entries:
                Path(entry.path).unlink(missing_ok=True)

    def rescan(self) -> NodeUsage:
        """Count the committed fragments and their bytes from the disk."""
        count = used = 0
        for path in (self.root / "fragments").glob("*/*/*"):
            if FRAGMENT_ID.match(path.name):
                with contextlib.suppress(FileNotFoundError):
                    used += path.stat().st_size
                    count += 1
        with self._usage_lock:
            self._fragments, self._used = count, used
        return NodeUsage(count, used)

    def usage(self) -> NodeUsage:
        """Committed fragments and bytes, as counted since the last scan."""
        with self._usage_lock:
            return NodeUsage(self._fragments, self._used)

    def _account(self, fragments: int, used: int) -> None:
        with self._usage_lock:
            self._fragments = max(0, self._fragments + fragments)
            self._used = max(0, self._used + used)

    def space(self) -> DiskSpace:
        """Capacity (``capacity_bytes`` when set, else the file system's) and
        free space (what the file system has left, within that capacity)."""
        disk = shutil.disk_usage(self.root)
        if self.capacity_limit is None:
            return DiskSpace(disk.total, disk.free)
        left = max(0, self.capacity_limit - self.usage().used_bytes)
        return DiskSpace(self.capacity_limit, min(disk.free, left))

    def is_online(self) -> bool:
        """Whether the disk is there (its id file is readable)."""
        return (self.root / ID_FILE).exists()

    # -- fragments -------------------------------------------------------

    def require_online(self) -> None:
        """Raise StoreOffline when the disk is not there."""
        if not self.is_online():
            raise StoreOffline(f"node {self.node_id}: the disk at {self.root} is not available")

    def size_of(self, fragment_id: str) -> int | None:
        """Size of a committed fragment, None when it does not exist
        (StoreOffline when the disk is gone)."""
        try:
            return self.drive.path_of(fragment_id).stat().st_size
        except FileNotFoundError:
            self.require_online()
            return None

    def open_writer(self, fragment_id: str, *, cached: bool = True) -> DriveFragmentWriter:
        """A writer of a new fragment under tmp/ (see :meth:`commit`);
        ``cached=False`` drops its pages from the page cache once written."""
        return self.drive.open_writer_sync(fragment_id, cached=cached)

    def commit(self, writer: DriveFragmentWriter, size: int) -> None:
        """Make a written fragment durable and visible (FileExistsError if
        its id exists: fragments are never replaced)."""
        writer.commit_sync()
        self._account(1, size)

    def read_verified(self, fragment_id: str, offset: int, length: int) -> tuple[bytes, int]:
        """(bytes, file size) of ``length`` bytes at ``offset`` of a fragment,
        after checking the whole frames they cover (FragmentCorrupt when one
        is damaged, FragmentNotFound when the fragment does not exist,
        StoreOffline when the disk is gone)."""
        path = self.drive.path_of(fragment_id)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError as exc:
            self.require_online()
            raise FragmentNotFound(fragment_id) from exc
        try:
            size = os.fstat(fd).st_size
            if offset >= size:
                return b"", size
            data = os.pread(fd, min(length, size - offset), offset)
            head = data[:HEADER_SIZE] if offset == 0 else os.pread(fd, HEADER_SIZE, 0)
        finally:
            os.close(fd)
        verdict = check_frames(fragment_id, size, head, offset, data)
        if verdict.check is FrameCheck.CORRUPT:
            raise FragmentCorrupt(f"{fragment_id}: {verdict.reason}")
        return data, size

    def delete(self, fragment_id: str) -> None:
        """Delete a fragment, committed or being written (missing is fine)."""
        size = self.size_of(fragment_id)
        self.drive.delete_sync(fragment_id)
        if size is not None:
            self._account(-1, -size)

    def list_page(self, after: str, limit: int) -> list[str]:
        """Up to ``limit`` committed fragment ids greater than ``after``, sorted.

        Walks the drive's two shard levels (``fragments/ab/cd/``) in order and
        skips whole shards below ``after``, so a page costs about what it returns.
        """
        self.require_online()
        out: list[str] = []
        base = self.root / "fragments"
        for first in _sorted_dirs(base, after[:2]):
            for second in _sorted_dirs(base / first, after[2:4] if first == after[:2] else ""):
                names = sorted(
                    name for name in _names(base / first / second)
                    if FRAGMENT_ID.match(name) and name > after
                )
                out.extend(names[: limit - len(out)])
                if len(out) >= limit:
                    return out
        return out


def _names(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        return []
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            return []
        raise


def _sorted_dirs(folder: Path, at_least: str) -> list[str]:
    return sorted(name for name in _names(folder) if len(name) == 2 and name >= at_least)
