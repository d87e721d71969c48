"""Single-core MD5 speed: the price of an S3 ETag on this machine.

Every PUT pays one MD5 over its body (the ETag), on one core, so this rate
bounds what one upload stream can reach; the benchmark prints it beside the
endpoint's figures.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

MIB = 1 << 20


def md5_rate(size: int = 64 * MIB, rounds: int = 3, clock: Callable[[], float] = time.perf_counter) -> float:
    """The best of ``rounds`` single-core MD5 rates over ``size`` bytes held in
    memory, in bytes per second."""
    if size <= 0 or rounds <= 0:
        raise ValueError("md5_rate needs a positive size and number of rounds")
    data = memoryview(bytes(size))
    best = float("inf")
    for _ in range(rounds):
        start = clock()
        hashlib.md5(data, usedforsecurity=False).digest()
        best = min(best, clock() - start)
    # A clock too coarse to see the work gives no rate rather than infinity.
    return size / best if best > 0 else 0.0
