"""The kernel's page cache seen from tests: dropping a file's pages, and
counting how many of them are cached, for tests of reads that must tell cached
bytes from bytes still on the disk and of writers that keep files out of it."""

from __future__ import annotations

import ctypes
import mmap
import os
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")

_libc = ctypes.CDLL(None, use_errno=True)
_mincore = _libc.mincore
_mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_ubyte)]
_mincore.restype = ctypes.c_int


def evict(path: Path) -> None:
    """Drop ``path``'s pages from the page cache; it is fsynced first, so no
    page is dirty and every one can go."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def cached_pages(path: Path) -> tuple[int, int]:
    """(pages of ``path`` in the page cache, pages in the file), from
    ``mincore(2)`` on a mapping of the file that is never touched: counting
    faults nothing in and starts no read-ahead (a probing read would)."""
    size = path.stat().st_size
    pages = -(-size // PAGE)
    if not pages:
        return 0, 0
    with open(path, "rb") as f, mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY) as mapping:
        anchor = ctypes.c_char.from_buffer(mapping)  # ACCESS_COPY: a buffer ctypes may address
        try:
            vector = (ctypes.c_ubyte * pages)()
            if _mincore(ctypes.addressof(anchor), size, vector) != 0:
                raise OSError(ctypes.get_errno(), "mincore failed")
            return sum(byte & 1 for byte in vector), pages
        finally:
            del anchor
