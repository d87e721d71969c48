"""Reading one stream back: a byte range in, verified plaintext out.

Segments are read in batches: for each batch, one read per fragment covers
the frames of all its segments. Data fragments are read first; a systematic
code needs no decoding when they are healthy. A fragment whose store is gone,
whose file is missing or short, or whose frames fail their checksum is
dropped and the next fragment (parity) is fetched instead, until k good ones
decode the batch or none are left: then :class:`StreamUnreadable` names the
stream and its stores (DESIGN invariant 4: never wrong bytes). The next batch
is fetched while the current one is being sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from erasure.codec import ErasureCodec
from erasure.errors import NotEnoughFragments, PieceCorrupt
from erasure.key_wrap import unwrap_data_key
from erasure.stripe import StripeDecoder
from objectd.fragment_store import FragmentStore, fragment_id
from objectd.manifest import StreamRef

log = logging.getLogger("objectd.read")

BATCH_BYTES = 4 << 20
# Most bytes of data pieces a small ranged read verifies and decrypts on the
# event loop (when they are cached); more goes to a thread.
INLINE_OPEN_BYTES = 1 << 20


class _Failed:
    """A local fast-path read found a fragment missing, short or damaged."""


_FAILED = _Failed()


class StreamUnreadable(Exception):
    """Fewer than k good fragments of a stream could be read."""


@dataclass(frozen=True)
class _Batch:
    segments: range
    first: int  # first stream byte wanted
    last: int  # last stream byte wanted (inclusive)


class StreamReader:
    """Reads byte ranges of one erasure-coded stream."""

    def __init__(
        self,
        stores: Mapping[str, FragmentStore],
        ref: StreamRef,
        codec: ErasureCodec,
        master_key: bytes | None,
        batch_bytes: int = BATCH_BYTES,
        order: Sequence[int] | None = None,
        on_failure: Callable[[str, BaseException], None] | None = None,
        cpu_executor: Executor | None = None,
    ) -> None:
        self.ref = ref
        # Where cached batches are read and decoded: pure CPU work, kept off
        # the default executor's larger pool (whose threads may wait for a
        # disk) so that fewer threads contend for the GIL.
        self._cpu_executor = cpu_executor
        self._local_failed = False
        # Told of every store that fails a read (the gateway's node health).
        self._on_failure = on_failure
        # Fragment indexes best first (nearest nodes, data before parity);
        # every index appears once.
        self._order = list(order) if order is not None else list(range(ref.layout.fragment_count))
        self._nearest_k = frozenset(self._order[: ref.layout.k])
        self._stores = stores
        self._codec = codec
        data_key = None
        if ref.wrapped_key is not None:
            if master_key is None:
                raise StreamUnreadable(f"stream {ref.stream_id} is encrypted and no master key is set")
            data_key = unwrap_data_key(master_key, ref.wrapped_key)
        self._decoder = StripeDecoder(ref.layout, codec, bytes.fromhex(ref.stream_id), data_key)
        self._per_batch = max(1, batch_bytes // ref.layout.segment_size)

    async def read(self, first: int, last: int) -> AsyncIterator[bytes | memoryview]:
        """Yield the bytes ``first``..``last`` (inclusive) of the stream."""
        layout = self.ref.layout
        segments = layout.segments_for_range(self.ref.size, first, last)
        # A range no longer than a segment but across a boundary takes a batch
        # per segment: each then reads only the data pieces it needs, where
        # one batch of both would read and verify every piece of the two.
        per_batch = 1 if last - first < layout.segment_size else self._per_batch
        batches = [
            _Batch(range(s, min(s + per_batch, segments.stop)), first, last)
            for s in range(segments.start, segments.stop, per_batch)
        ]
        pending: asyncio.Task[list[bytes | memoryview]] | None = None
        try:
            for i, batch in enumerate(batches):
                current = pending or asyncio.ensure_future(self._read_batch(batch))
                pending = None
                if i + 1 < len(batches):
                    pending = asyncio.ensure_future(self._read_batch(batches[i + 1]))
                for piece in await current:
                    yield piece
        finally:
            if pending is not None and not pending.done():
                pending.cancel()

    # -- one batch ---------------------------------------------------------

    def _wanted_data_fragments(self, batch: _Batch) -> list[int] | None:
        """For a range inside one segment on a systematic code: the data
        fragments that carry it; None means "all k"."""
        if len(batch.segments) != 1 or not self._codec.is_systematic:
            return None
        seg = batch.segments[0]
        seg_start = self.ref.layout.segment_start(seg)
        seg_len = self.ref.layout.segment_length(self.ref.size, seg)
        lo = max(batch.first, seg_start) - seg_start
        hi = min(batch.last, seg_start + seg_len - 1) - seg_start
        wanted = []
        for index in range(self.ref.layout.k):
            off, length = self._codec.data_extent(seg_len, index)
            if length and off <= hi and lo < off + length:
                wanted.append(index)
        return wanted if len(wanted) < self.ref.layout.k else None

    async def _read_batch(self, batch: _Batch) -> list[bytes | memoryview]:
        layout = self.ref.layout
        geometry = self._decoder.geometry
        span_offset, span_length = geometry.frame_span(self.ref.size, batch.segments)
        loop = asyncio.get_running_loop()
        spans: dict[int, bytes] = {}
        failed: dict[int, str] = {}

        def take(index: int, result: bytes | BaseException) -> None:
            if isinstance(result, BaseException):
                failed[index] = repr(result)  # any store failure means: use another fragment
            elif len(result) != span_length:
                failed[index] = f"short read: {len(result)} of {span_length} bytes"
            else:
                spans[index] = result

        async def fetch_all(indexes: list[int]) -> None:
            stores = {i: self._store_for(i) for i in indexes}
            for i, store in list(stores.items()):
                if store is None:
                    failed[i] = f"store {self._location(i)!r} unavailable"
                    del stores[i]
            if all(hasattr(store, "read_sync") for store in stores.values()):
                # Local drives: one hop off the loop for every read.
                results = await loop.run_in_executor(
                    None, self._read_local_sync, stores, span_offset, span_length
                )
                for i, result in results.items():
                    take(i, result)
                return

            async def fetch(i: int, store: FragmentStore) -> None:
                try:
                    take(i, await store.read(fragment_id(self.ref.stream_id, i), span_offset, span_length))
                except Exception as exc:
                    if self._on_failure is not None:
                        self._on_failure(self._location(i), exc)
                    take(i, exc)

            await asyncio.gather(*(fetch(i, store) for i, store in stores.items()))

        subset = self._wanted_data_fragments(batch)
        order = self._order
        if subset is not None and not self._nearest_k.issuperset(subset):
            subset = None  # a data fragment we want is far or down: read the best k instead
        if subset is not None:
            stores = {i: self._store_for(i) for i in subset}
            if all(hasattr(store, "read_sync") for store in stores.values()):
                # Local drives, the common small ranged read: from the kernel's
                # caches right here when it has them, else read and open in
                # one hop off the loop.
                opened = self._open_subset_cached(batch, subset, stores, span_offset, span_length)
                if opened is None:
                    opened = await loop.run_in_executor(
                        None, self._read_open_subset_sync, batch, subset, stores, span_offset, span_length
                    )
                if opened is not None:
                    return opened
            await fetch_all(subset)
            if all(i in spans for i in subset):
                try:
                    return await loop.run_in_executor(None, self._open_subset, batch, subset, spans)
                except PieceCorrupt as exc:
                    log.warning("fragment piece corrupt", extra={"stream": self.ref.stream_id,
                                                                 "reason": str(exc)})
            # Fall through to the full path, keeping what was read.
        if subset is None:
            whole = await self._read_decode_local(batch, span_offset, span_length)
            if whole is not None:
                return whole
        while True:
            usable = [i for i in order if i in spans]
            need = layout.k - len(usable)
            if need > 0:
                untried = [i for i in order if i not in spans and i not in failed]
                if not untried:
                    self._report(failed)
                    raise StreamUnreadable(
                        f"stream {self.ref.stream_id}: only {len(usable)} of {layout.k} "
                        f"fragments readable; failed {failed}; stores {self.ref.locations}"
                    )
                await fetch_all(untried[:need])
                continue
            try:
                result = await loop.run_in_executor(None, self._decode_batch, batch, spans)
            except NotEnoughFragments as exc:
                for index in exc.bad:
                    spans.pop(index, None)
                    failed[index] = "checksum or authentication failed"
                continue
            self._report(failed)
            return result

    async def _read_decode_local(
        self, batch: _Batch, offset: int, length: int
    ) -> list[bytes | memoryview] | None:
        """A batch from the nearest k fragments when they are all on local
        drives and all good, in one thread hop: on the CPU threads when the
        kernel has every piece cached, else on the default executor. None
        sends the batch down the general path, which reads around failures
        and reports them; once a fragment was found missing or damaged, the
        rest of the stream takes that path directly."""
        if self._local_failed:
            return None
        indexes = self._order[: self.ref.layout.k]
        stores = [self._store_for(i) for i in indexes]
        if not all(hasattr(store, "read_cached") for store in stores):
            return None
        local = dict(zip(indexes, stores))
        loop = asyncio.get_running_loop()
        result: list[bytes | memoryview] | None | _Failed = None
        if self._cpu_executor is not None:
            result = await loop.run_in_executor(
                self._cpu_executor, self._read_decode_local_sync, batch, local, offset, length, True
            )
        if result is None:  # not all cached (or no CPU threads)
            result = await loop.run_in_executor(
                None, self._read_decode_local_sync, batch, local, offset, length, False
            )
        if isinstance(result, _Failed):
            self._local_failed = True
            return None
        return result

    def _read_decode_local_sync(
        self,
        batch: _Batch,
        stores: Mapping[int, FragmentStore | None],
        offset: int,
        length: int,
        cached_only: bool,
    ) -> list[bytes | memoryview] | None | _Failed:
        """The decoded batch; None when a piece is not cached (``cached_only``);
        ``_FAILED`` when a read failed or came back short or bad."""
        spans: dict[int, bytes | bytearray] = {}
        for index, store in stores.items():
            fid = fragment_id(self.ref.stream_id, index)
            try:
                data = store.read_cached(fid, offset, length) if cached_only else store.read_sync(fid, offset, length)  # type: ignore[union-attr]
            except Exception:
                return _FAILED
            if data is None:
                # Not cached, or (rarely) missing: the blocking read tells which.
                return None if cached_only else _FAILED
            if len(data) != length:
                return _FAILED
            spans[index] = data
        try:
            # With exactly k pieces a bad one leaves too few: it raises.
            return self._decode_batch(batch, spans)
        except NotEnoughFragments:
            return _FAILED

    def _location(self, index: int) -> str:
        return self.ref.locations[index] if index < len(self.ref.locations) else ""

    def _store_for(self, index: int) -> FragmentStore | None:
        return self._stores.get(self._location(index))

    def _read_local_sync(
        self, stores: Mapping[int, FragmentStore], offset: int, length: int
    ) -> dict[int, bytes | BaseException]:
        results: dict[int, bytes | BaseException] = {}
        for index, store in stores.items():
            try:
                results[index] = store.read_sync(fragment_id(self.ref.stream_id, index), offset, length)  # type: ignore[attr-defined]
            except Exception as exc:
                results[index] = exc
        return results

    def _report(self, failed: dict[int, str]) -> None:
        for index, reason in failed.items():
            log.warning(
                "fragment unreadable, reading from others",
                extra={"stream": self.ref.stream_id, "fragment": index,
                       "store": self.ref.locations[index] if index < len(self.ref.locations) else "",
                       "reason": reason},
            )

    def _frame_of(
        self, batch: _Batch, spans: Mapping[int, bytes | bytearray], index: int, seg: int
    ) -> memoryview:
        geometry = self._decoder.geometry
        start = geometry.frame_offset(seg) - geometry.frame_offset(batch.segments.start)
        seg_len = self.ref.layout.segment_length(self.ref.size, seg)
        return memoryview(spans[index])[start : start + geometry.frame_size(seg_len)]

    def _clip_parts(
        self, batch: _Batch, seg: int, parts: Sequence[bytes | memoryview]
    ) -> list[bytes | memoryview]:
        """The pieces of segment ``seg`` (its bytes, in order, in ``parts``)
        that fall inside the batch's range, sliced without copying."""
        seg_start = self.ref.layout.segment_start(seg)
        lo = max(batch.first - seg_start, 0)
        hi = batch.last - seg_start + 1
        out: list[bytes | memoryview] = []
        offset = 0
        for part in parts:
            size = len(part)
            start, end = max(lo - offset, 0), min(hi - offset, size)
            if start < end:
                out.append(part if start == 0 and end == size else memoryview(part)[start:end])
            offset += size
        return out

    def _open_subset_cached(
        self,
        batch: _Batch,
        subset: list[int],
        stores: Mapping[int, FragmentStore | None],
        offset: int,
        length: int,
    ) -> list[bytes | memoryview] | None:
        """Read and open the data pieces of a small range on the event loop,
        from the kernel's caches only; None when a piece is not all cached, is
        bad, or the pieces are too big to verify on the loop (the caller then
        reads on a thread, which also reports what is wrong). Verifying and
        decrypting up to ``INLINE_OPEN_BYTES`` in C costs less than the thread
        hand-off it saves."""
        if length * len(subset) > INLINE_OPEN_BYTES:
            return None

        def read(index: int) -> bytes | bytearray | None:
            read_cached = getattr(stores[index], "read_cached", None)
            if read_cached is None:
                return None
            return read_cached(fragment_id(self.ref.stream_id, index), offset, length)

        return self._open_pieces(batch, subset, read)

    def _read_open_subset_sync(
        self,
        batch: _Batch,
        subset: list[int],
        stores: Mapping[int, FragmentStore | None],
        offset: int,
        length: int,
    ) -> list[bytes | memoryview] | None:
        """Read and open the data pieces of a small range; None when any is
        missing, short or bad (the caller then takes the full path)."""
        results = self._read_local_sync(stores, offset, length)  # type: ignore[arg-type]

        def read(index: int) -> bytes | None:
            result = results[index]
            if isinstance(result, BaseException) or len(result) != length:
                return None
            return result

        return self._open_pieces(batch, subset, read)

    def _open_pieces(
        self,
        batch: _Batch,
        subset: list[int],
        read: Callable[[int], bytes | bytearray | None],
    ) -> list[bytes | memoryview] | None:
        """Open the data pieces ``read(index)`` gives for each of ``subset``;
        None when one of them is None (not read) or a piece is bad."""
        spans: dict[int, bytes | bytearray] = {}
        for index in subset:
            data = read(index)
            if data is None:
                return None
            spans[index] = data
        try:
            return self._open_subset(batch, subset, spans)
        except PieceCorrupt:
            return None

    def _open_subset(
        self, batch: _Batch, subset: list[int], spans: Mapping[int, bytes | bytearray]
    ) -> list[bytes | memoryview]:
        seg = batch.segments[0]
        seg_len = self.ref.layout.segment_length(self.ref.size, seg)
        seg_start = self.ref.layout.segment_start(seg)
        out: list[bytes | memoryview] = []
        for index in subset:
            off, _ = self._codec.data_extent(seg_len, index)
            piece = self._decoder.open_data_piece(seg, index, seg_len, self._frame_of(batch, spans, index, seg))
            lo = max(batch.first - seg_start - off, 0)
            hi = min(batch.last - seg_start - off + 1, len(piece))
            out.append(piece[lo:hi])
        return out

    def _decode_batch(
        self, batch: _Batch, spans: Mapping[int, bytes | bytearray]
    ) -> list[bytes | memoryview]:
        out: list[bytes | memoryview] = []
        all_bad: set[int] = set()
        for seg in batch.segments:
            seg_len = self.ref.layout.segment_length(self.ref.size, seg)
            frames = {i: self._frame_of(batch, spans, i, seg) for i in spans}
            result = self._decoder.decode_segment(seg, seg_len, frames)
            if result.bad:
                all_bad.update(result.bad)
                log.warning(
                    "fragment piece corrupt, reconstructed",
                    extra={"stream": self.ref.stream_id, "segment": seg, "fragments": result.bad},
                )
            out.extend(self._clip_parts(batch, seg, result.parts))
        return out
