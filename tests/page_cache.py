"""The kernel's page cache seen from tests: dropping a file's pages, and
counting how many of them are cached, for tests of reads that must tell cached
bytes from bytes still on the disk and of writers that keep files out of it."""

from __future__ import annotations

import os
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


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
    """(pages of ``path`` in the page cache, pages in the file). Each page is
    read with ``preadv2(RWF_NOWAIT)``, which fails instead of going to the disk,
    and reads into the cache nothing it did not already hold."""
    size = path.stat().st_size
    pages = -(-size // PAGE)
    cached = 0
    buf = bytearray(PAGE)
    fd = os.open(path, os.O_RDONLY)
    try:
        for page in range(pages):
            try:
                got = os.preadv(fd, [buf], page * PAGE, os.RWF_NOWAIT)
            except BlockingIOError:
                continue
            cached += got > 0
    finally:
        os.close(fd)
    return cached, pages
