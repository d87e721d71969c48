"""Random bytes from the operating system, drawn in blocks.

Every PUT needs a data key, a stream id and a version id. ``os.urandom``
releases the GIL around its system call, and on the event loop's thread a
released GIL is taken by whichever worker thread is waiting for it: the loop
then waits for that thread's time slice, three times per request. Drawing a
block at a time and handing out each byte once keeps the quality of
``os.urandom`` (the bytes are the kernel's, none is ever given twice) and
pays the system call once per block.
"""

from __future__ import annotations

import os
import threading

__all__ = ["RandomPool", "random_bytes"]

BLOCK_SIZE = 4096


class RandomPool:
    """Hands out bytes of ``os.urandom`` blocks, each byte once.

    Safe from several threads. A forked child starts with an empty pool, so
    parent and child never hand out the same bytes.
    """

    def __init__(self, block_size: int = BLOCK_SIZE) -> None:
        if block_size <= 0:
            raise ValueError("block size must be positive")
        self._block_size = block_size
        self._lock = threading.Lock()
        self._block = b""
        self._used = 0
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._block = b""
        self._used = 0

    def take(self, n: int) -> bytes:
        """``n`` fresh random bytes."""
        if n < 0:
            raise ValueError("cannot take a negative number of bytes")
        if n > self._block_size:
            return os.urandom(n)
        with self._lock:
            if self._used + n > len(self._block):
                self._block = os.urandom(self._block_size)
                self._used = 0
            start = self._used
            self._used = start + n
            return self._block[start : start + n]


_POOL = RandomPool()


def random_bytes(n: int) -> bytes:
    """``n`` fresh random bytes from the process's pool."""
    return _POOL.take(n)
