"""MD5 of concurrent streams, hashed together in vector lanes.

A single-part object's ETag is the MD5 of its bytes, and MD5 cannot be split:
one stream hashes at the speed of one dependency chain (about 0.7 GB/s on one
core), which is most of what a large PUT costs. Concurrent uploads are
independent chains, and one pass of the vector kernel in ``_md5_lanes.c``
advances up to eight of them for about the CPU of one (the approach of
MinIO's md5-simd). :class:`LaneHasher` gathers the segments that streams hand
it and hashes them in batches:

* a stream's segment is hashed at once when no other stream is hashing, so a
  lone upload waits for nothing;
* otherwise it waits until every stream that is hashing has a segment
  waiting (they then go through the kernel together), or until its own
  backlog reaches ``backlog`` bytes (a stalled client delays the others by
  that much at most), or until its digest is asked for.

The thread whose segment completes a batch runs it, with the GIL released;
the hasher owns no thread. A buffer handed to :meth:`LaneMd5.defer` is kept
until hashed, so it must not change afterwards. A stream whose upload failed
is closed (:meth:`LaneMd5.close`) so that it stops holding the others back;
one merely dropped stops when it is freed.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

__all__ = ["LANE_COUNT", "LaneHasher", "LaneMd5", "available_kernels", "shared_hasher"]

try:
    from s3api import _md5_lanes
except ImportError:  # built without a C compiler: hashlib's MD5 is used instead
    _md5_lanes = None

LANE_COUNT = _md5_lanes.LANES if _md5_lanes is not None else 0
"""Streams one pass of the kernel hashes (0 when the extension is missing)."""

_BLOCK = 64
_INITIAL_STATE = bytes.fromhex("0123456789abcdeffedcba9876543210")  # RFC 1321 A, B, C, D (LE)
_MiB = 1024 * 1024


def available_kernels() -> tuple[str, ...]:
    """The kernels this build and CPU can run, slowest first (empty without
    the extension)."""
    return tuple(_md5_lanes.kernels()) if _md5_lanes is not None else ()


@dataclass(eq=False)
class _Lane:
    """One stream's MD5 progress.

    The stream's bytes, in order, are: ``hashed`` bytes folded into
    ``state``, then ``carry`` (under one block), then ``pending``.
    """

    state: bytearray = field(default_factory=lambda: bytearray(_INITIAL_STATE))
    hashed: int = 0
    carry: bytearray = field(default_factory=bytearray)
    pending: list[memoryview] = field(default_factory=list)
    pending_bytes: int = 0
    busy: bool = False  # a batch is hashing it; only that batch touches state and carry
    error: BaseException | None = None  # a batch failed: the state is unusable
    closed: bool = False


class _Cursor:
    """Walks one lane's share of a batch, handing out whole blocks."""

    def __init__(self, lane: _Lane, views: list[memoryview]) -> None:
        self.lane = lane
        self._views = deque(views)
        self._view: memoryview | None = None

    def run(self) -> memoryview | None:
        """The next stretch of at least one whole block, or None when the
        lane's share is used up (a last partial block stays in ``carry``)."""
        lane = self.lane
        while True:
            view = self._view
            if view is None or not view.nbytes:
                if not self._views:
                    self._view = None
                    return None
                view = self._view = self._views.popleft()
            if lane.carry:
                # Complete the partial block left by the previous buffer.
                take = view[: _BLOCK - len(lane.carry)]
                lane.carry += take
                self._view = view[take.nbytes :]
                if len(lane.carry) == _BLOCK:
                    _md5_lanes.compress("scalar", (lane.state,), (lane.carry,), 1)
                    lane.hashed += _BLOCK
                    lane.carry.clear()
                continue
            if view.nbytes >= _BLOCK:
                return view
            lane.carry += view
            self._view = None

    def advance(self, nbytes: int) -> None:
        """Account for ``nbytes`` of the current stretch, now in the state."""
        assert self._view is not None
        self._view = self._view[nbytes:]
        self.lane.hashed += nbytes


class LaneHasher:
    """Hashes the MD5 of many concurrent streams together (see the module
    docstring); :meth:`md5` starts a stream. Thread-safe."""

    def __init__(self, kernel: str | None = None, *, backlog: int = 4 * _MiB) -> None:
        kernels = available_kernels()
        if not kernels:
            raise RuntimeError("the MD5 lane extension (s3api._md5_lanes) is not built")
        if kernel is None:
            kernel = kernels[-1]
        if kernel not in kernels:
            raise ValueError(f"MD5 kernel {kernel!r} is not available here; have {kernels}")
        self.kernel = kernel
        self.backlog = backlog
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._hashing: dict[_Lane, None] = {}  # streams fed and not yet digested, in order
        # Lanes whose stream was dropped undigested. __del__ may run while this
        # thread holds the lock, so it only appends here (deque.append is atomic).
        self._dropped: deque[_Lane] = deque()

    def md5(self) -> LaneMd5:
        """A new MD5 stream hashed by this hasher."""
        return LaneMd5(self)

    # -- internals ---------------------------------------------------------

    def _defer(self, lane: _Lane, data: bytes | bytearray | memoryview, *, run: bool = True) -> None:
        """Queue ``data`` on ``lane``; run a batch here if one is now due
        (unless not ``run``: the caller flushes the lane itself)."""
        view = memoryview(data).cast("B")
        if not view.nbytes:
            return
        with self._lock:
            lane.pending.append(view)
            lane.pending_bytes += view.nbytes
            self._hashing[lane] = None
            batch = self._ready_batch(lane) if run else None
        if batch:
            self._hash(batch)

    def _flush(self, lane: _Lane, *, alone: bool = False) -> None:
        """Return once every byte handed to ``lane`` is in its state; other
        streams' waiting bytes go along unless ``alone``."""
        while True:
            with self._lock:
                while lane.busy:
                    self._idle.wait()
                if not lane.pending_bytes:
                    return
                batch = self._take(lane, alone=alone)
            self._hash(batch)

    def _settled(self, lane: _Lane) -> bool:
        with self._lock:
            return not lane.pending_bytes and not lane.busy

    def _forget(self, lane: _Lane, *, discard: bool = False) -> None:
        with self._lock:
            self._hashing.pop(lane, None)
            if discard:
                lane.closed = True
                lane.pending = []
                lane.pending_bytes = 0

    def _ready_batch(self, lane: _Lane) -> list[tuple[_Lane, list[memoryview]]] | None:
        """(Lock held.) A batch including ``lane`` if it is due, else None."""
        while self._dropped:
            self._hashing.pop(self._dropped.popleft(), None)
        if lane.busy:
            return None  # its running batch, or the next, takes the new data
        free = [other for other in self._hashing if not other.busy]
        waiting = sum(1 for other in free if other.pending_bytes)
        if waiting >= min(len(free), LANE_COUNT) or lane.pending_bytes >= self.backlog:
            return self._take(lane)
        return None

    def _take(self, lane: _Lane, *, alone: bool = False) -> list[tuple[_Lane, list[memoryview]]]:
        """(Lock held.) Mark ``lane`` and (unless ``alone``) the fullest other
        waiting lanes busy and take their pending buffers: all of them for a
        lane alone; with others, about as many bytes from each as the least
        of them has (whole buffers), since what one lane has beyond the
        others would go through the kernel alone, and is better left for the
        next batch, where it has company."""
        others = [] if alone else sorted(
            (other for other in self._hashing if other is not lane and not other.busy and other.pending_bytes),
            key=lambda other: other.pending_bytes,
            reverse=True,
        )
        members = [lane, *others[: LANE_COUNT - 1]]
        share = min(member.pending_bytes for member in members) if len(members) > 1 else None
        batch = []
        for member in members:
            views = member.pending
            count = len(views)
            if share is not None:
                taken = count = 0
                while taken < share:
                    taken += views[count].nbytes
                    count += 1
            batch.append((member, views[:count]))
            member.pending = views[count:]
            member.pending_bytes = sum(view.nbytes for view in member.pending)
            member.busy = True
        return batch

    def _hash(self, batch: list[tuple[_Lane, list[memoryview]]]) -> None:
        """Hash a batch taken by :meth:`_take` (lock not held)."""
        try:
            cursors = [_Cursor(lane, views) for lane, views in batch]
            while True:
                runs = [(cursor, view) for cursor in cursors if (view := cursor.run()) is not None]
                if not runs:
                    return
                nblocks = min(view.nbytes for _, view in runs) // _BLOCK
                _md5_lanes.compress(
                    self.kernel,
                    [cursor.lane.state for cursor, _ in runs],
                    [view for _, view in runs],
                    nblocks,
                )
                for cursor, _ in runs:
                    cursor.advance(nblocks * _BLOCK)
                cursors = [cursor for cursor, _ in runs]
        except BaseException as exc:
            # Every stream of the batch lost bytes: its digest must fail, not lie.
            for lane, _ in batch:
                lane.error = exc
            raise
        finally:
            with self._lock:
                for lane, _ in batch:
                    lane.busy = False
                self._idle.notify_all()


class LaneMd5:
    """An MD5 stream of a :class:`LaneHasher`, with hashlib's ``update``,
    ``digest`` and ``hexdigest``, plus :meth:`defer`.

    Like a hashlib object it is fed by one thread at a time, in order.
    """

    name = "md5"
    digest_size = 16
    block_size = _BLOCK

    def __init__(self, hasher: LaneHasher) -> None:
        self._hasher = hasher
        self._lane = _Lane()

    def defer(self, data: bytes | bytearray | memoryview) -> None:
        """Add ``data``, to be hashed when a batch is due; ``data`` must not
        change afterwards (it is kept, not copied)."""
        self._check_open()
        self._hasher._defer(self._lane, data)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Add ``data`` and hash it now, on this thread: this stream's bytes
        only, so a caller on the event loop never hashes other uploads'."""
        self._check_open()
        self._hasher._defer(self._lane, data, run=False)
        self._hasher._flush(self._lane, alone=True)

    def flush(self) -> None:
        """Hash everything deferred so far, on this thread if it is waiting
        (with other streams' waiting bytes); blocking."""
        self._hasher._flush(self._lane)

    @property
    def unhashed(self) -> int:
        """Bytes deferred and not hashed yet."""
        return self._lane.pending_bytes

    @property
    def settled(self) -> bool:
        """Whether every byte added is in the state: :meth:`digest` will not
        wait (for a batch to be due, or for one that is hashing it)."""
        return self._hasher._settled(self._lane)

    def close(self) -> None:
        """Give up the stream (its upload failed): it stops holding other
        streams back at once, and its waiting bytes are dropped."""
        self._hasher._forget(self._lane, discard=True)

    def digest(self) -> bytes:
        """The MD5 of everything added; the stream stops counting as one that
        is hashing (until more is added)."""
        lane = self._lane
        self._check_open()
        self._hasher._flush(lane)
        self._hasher._forget(lane)
        self._check_open()  # a batch may have failed while we flushed
        length = lane.hashed + len(lane.carry)
        tail = bytearray(lane.carry)
        tail += b"\x80" + bytes((55 - len(lane.carry)) % _BLOCK)
        tail += ((length * 8) % 2**64).to_bytes(8, "little")
        state = bytearray(lane.state)
        _md5_lanes.compress("scalar", (state,), (tail,), len(tail) // _BLOCK)
        return bytes(state)

    def hexdigest(self) -> str:
        """:meth:`digest` as lower-case hex."""
        return self.digest().hex()

    def _check_open(self) -> None:
        if self._lane.closed:
            raise ValueError("MD5 stream closed")
        if self._lane.error is not None:
            raise RuntimeError("MD5 lanes failed while hashing this stream") from self._lane.error

    def __del__(self) -> None:
        # Dropped undigested: stop waiting for this stream.
        lane = getattr(self, "_lane", None)
        if lane is not None and lane in self._hasher._hashing:
            self._hasher._dropped.append(lane)


_shared: LaneHasher | None = None
_shared_lock = threading.Lock()


def shared_hasher() -> LaneHasher | None:
    """The process's hasher (one, so that every upload shares its lanes), or
    None when the extension is not built."""
    global _shared
    if _shared is None and _md5_lanes is not None:
        with _shared_lock:
            if _shared is None:
                _shared = LaneHasher()
    return _shared
