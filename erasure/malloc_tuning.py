"""Process-wide glibc malloc tuning for erasure coding throughput.

liberasurecode allocates and frees fragment-sized buffers (hundreds of KiB) on
every encode. Above glibc's default mmap threshold each of those is a fresh
``mmap``/``munmap`` pair with page faults on first touch, which makes encoding
several times slower. Raising the mmap and trim thresholds keeps those buffers
in the heap and reuses them.
"""

from __future__ import annotations

import ctypes
import platform
import threading

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 256 << 20
# Older glibc caps the mmap threshold at HEAP_MAX_SIZE / 2 (32 MiB on 64-bit).
_MMAP_THRESHOLD_FALLBACK = 32 << 20
_TRIM_THRESHOLD = 512 << 20

_lock = threading.Lock()
_result: bool | None = None


def tune_malloc() -> bool:
    """Raise glibc's mmap and trim thresholds for this process.

    Returns True when the thresholds are in force, False on a C library other
    than glibc (where it does nothing). Idempotent: later calls return the
    first call's result without touching the allocator again.
    """
    global _result
    with _lock:
        if _result is None:
            _result = _apply()
        return _result


def _apply() -> bool:
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    mmap_ok = bool(
        mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) == 1
        or mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_FALLBACK) == 1
    )
    trim_ok = bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD) == 1)
    return mmap_ok and trim_ok
