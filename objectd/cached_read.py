"""Reading a file only from the kernel's caches, never waiting for a disk.

A small ranged GET reads one or two fragment pieces of a few hundred KiB.
Handing that to a worker thread costs more than the read itself: the thread
must wake, take the GIL, give it back, and the event loop must take it again,
each step waiting for whichever thread holds it. When the file's path and
bytes are in the kernel's caches, the read takes microseconds and can run on
the event loop without stalling it. This module does such a read and refuses
(returns None) whenever the kernel would have to go to the disk:

- the file is opened with ``openat2(RESOLVE_CACHED)`` (Linux 5.12): it fails
  with EAGAIN unless every path component is in the dentry cache;
- its bytes are read with ``preadv2(RWF_NOWAIT)`` (Linux 4.14): it fails with
  EAGAIN, or returns short, unless every page is in the page cache.

The caller then does the read on a worker thread as before. Where the calls do
not exist (another OS, an older kernel, a filesystem without RWF_NOWAIT) every
read is refused, which is always safe. The ``openat2`` call is made through
``ctypes.PyDLL`` so that it keeps the GIL: it is shorter than a GIL hand-off.
"""

from __future__ import annotations

import ctypes
import os
import sys

from erasure.unfilled import unfilled_bytearray

__all__ = ["CACHED_READS", "read_cached"]

_SYS_OPENAT2 = 437  # one number on every Linux architecture but alpha (added after 5.1 unified them)
_AT_FDCWD = -100
_RESOLVE_CACHED = 0x20


class _OpenHow(ctypes.Structure):
    """``struct open_how`` of openat2(2)."""

    _fields_ = [
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    ]


def _load_syscall() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    if not sys.platform.startswith("linux") or not hasattr(os, "RWF_NOWAIT"):
        return None
    try:
        libc = ctypes.PyDLL(None, use_errno=True)
        syscall = libc.syscall
    except (OSError, AttributeError):
        return None
    syscall.restype = ctypes.c_long
    syscall.argtypes = [
        ctypes.c_long,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.POINTER(_OpenHow),
        ctypes.c_size_t,
    ]
    return syscall


_SYSCALL = _load_syscall()
_HOW = _OpenHow(os.O_RDONLY | os.O_CLOEXEC, 0, _RESOLVE_CACHED)
_HOW_SIZE = ctypes.sizeof(_OpenHow)


def _open_cached(path: bytes) -> int | None:
    """A read-only descriptor of ``path`` if its lookup needs no disk, else None."""
    if _SYSCALL is None:
        return None
    fd = _SYSCALL(_SYS_OPENAT2, _AT_FDCWD, path, ctypes.byref(_HOW), _HOW_SIZE)
    if fd < 0:
        return None  # EAGAIN (not cached), ENOENT, ENOSYS, …: the thread decides
    return int(fd)


def _probe() -> bool:
    """Whether cached reads work here: on this module's own file, just read."""
    with open(__file__, "rb") as f:
        f.read(1)
    fd = _open_cached(os.fsencode(__file__))
    if fd is None:
        return False
    try:
        os.preadv(fd, [bytearray(1)], 0, os.RWF_NOWAIT)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


CACHED_READS = _probe()
"""Whether this kernel and filesystem serve cached reads (else every
:func:`read_cached` returns None)."""


def read_cached(path: str | os.PathLike[str], offset: int, length: int) -> bytearray | None:
    """Bytes ``offset .. offset+length`` of ``path`` if the kernel has all of
    them (and the path) cached; None when it would have to wait for a disk, or
    on any error (the caller's blocking read reports errors properly)."""
    if not CACHED_READS:
        return None
    fd = _open_cached(os.fsencode(path))
    if fd is None:
        return None
    try:
        buf = unfilled_bytearray(length)  # returned only when read whole
        try:
            got = os.preadv(fd, [buf], offset, os.RWF_NOWAIT)
        except OSError:  # EAGAIN: not all cached; EOPNOTSUPP: not on this filesystem
            return None
        return buf if got == length else None
    finally:
        os.close(fd)
