"""The interface between the data path and wherever fragments live.

A fragment is one erasure-coded share of one stream (an object body or a
multipart part): a file of fixed-size frames, one per segment. The object
service only ever talks to fragments through :class:`FragmentStore`; the
embedded server implements it with local drive folders
(:mod:`objectd.drive_store`), a cluster with remote storage nodes.
"""

from __future__ import annotations

import re
from typing import Protocol

# A fragment id is the stream id (32 lower-case hex digits) and the fragment
# index: nothing a client sends ever becomes part of a path.
FRAGMENT_ID = re.compile(r"\A[0-9a-f]{32}\.[0-9]{2}\Z")


class FragmentNotFound(Exception):
    """The fragment does not exist on this store."""


class StoreOffline(Exception):
    """The store (drive or node) cannot be reached."""


class FragmentCorrupt(Exception):
    """The store holds the fragment but the part asked for failed its
    checksums: read another fragment (parity) instead, and report it for repair."""


def fragment_id(stream_id: str, index: int) -> str:
    """The fragment id of fragment ``index`` of ``stream_id``."""
    fid = f"{stream_id}.{index:02d}"
    if not FRAGMENT_ID.match(fid):
        raise ValueError(f"invalid fragment id {fid!r}")
    return fid


class FragmentWriter(Protocol):
    """A fragment being written: invisible until :meth:`commit`."""

    async def write(self, data: bytes | memoryview) -> None:
        """Append bytes to the fragment."""
        ...

    async def commit(self) -> None:
        """Make the fragment durable and visible under its id."""
        ...

    async def abort(self) -> None:
        """Drop what was written; nothing remains."""
        ...


class FragmentStore(Protocol):
    """One place fragments live: a drive folder or a storage node."""

    store_id: str

    async def open_writer(self, fragment_id: str, *, cached: bool = True) -> FragmentWriter:
        """Start writing a new fragment (never overwrites a committed one).
        ``cached=False``: it will be read only to repair (a parity fragment),
        so the store need not keep it in memory once it is durable."""
        ...

    async def read(self, fragment_id: str, offset: int, length: int) -> bytes | bytearray:
        """Read ``length`` bytes at ``offset`` (fewer at the end of the file)."""
        ...

    async def delete(self, fragment_id: str) -> None:
        """Delete a fragment; a missing one is not an error."""
        ...

    async def exists(self, fragment_id: str) -> bool:
        """Whether a committed fragment of that id exists."""
        ...
