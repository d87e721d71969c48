"""Dropping a file's pages from the kernel's page cache, for tests of reads
that must tell cached bytes from bytes still on the disk."""

from __future__ import annotations

import os
from pathlib import Path


def evict(path: Path) -> None:
    """Drop ``path``'s pages from the page cache; it is fsynced first, so no
    page is dirty and every one can go."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
