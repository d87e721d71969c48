"""Bytearrays that are not zeroed first, for buffers written whole before use.

``bytearray(n)`` writes n zeros before the caller writes its own bytes over
them; on memory the process has not touched lately (large buffers, fresh from
the kernel or the host) that memset cost as much as decrypting into the
buffer (in perf: 8% of a large GET's CPU in the embedded server, 15% of a
cluster gateway's fragment reads).
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable


def _zeroed(size: int) -> bytearray:
    return bytearray(size)


def _unfilled_constructor() -> Callable[[int], bytearray]:
    if sys.implementation.name != "cpython":
        return _zeroed
    new = ctypes.pythonapi.PyByteArray_FromStringAndSize
    new.argtypes = (ctypes.c_void_p, ctypes.c_ssize_t)
    new.restype = ctypes.py_object
    return lambda size: new(None, size)  # type: ignore[no-any-return]


unfilled_bytearray: Callable[[int], bytearray] = _unfilled_constructor()
"""A bytearray of ``size`` bytes holding whatever the allocator left there
(CPython's ``PyByteArray_FromStringAndSize(NULL, size)``; zeroed elsewhere).

Only for a buffer that is written whole before anything reads it, and
dropped when a write into it falls short: its unwritten bytes may be another
request's."""
