"""Writing one stream: body bytes in, erasure-coded fragments on stores out.

The body arrives in pieces of any size; :class:`StreamWriter` cuts it into
segments, and a single worker task encodes, seals and frames each segment
(:class:`erasure.stripe.StripeEncoder`) and appends frame i to fragment i on
its store. Segments go to the worker through a bounded queue, so receiving
the next segment overlaps encoding and writing the previous one, and memory
stays bounded by the queue depth whatever the object size (invariant 6);
an ``on_segment`` consumer may keep segments a while longer (the MD5 lanes
hold at most their backlog, 4 MiB, per upload).

A store that fails mid-stream is dropped and its location recorded as "";
the stream fails only when fewer than ``write_quorum`` fragments survive.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from typing import Any

from erasure.codec import ErasureCodec
from erasure.key_wrap import new_data_key, wrap_data_key
from erasure.layout import StripeLayout
from erasure.random_pool import random_bytes
from erasure.stripe import StripeEncoder
from objectd.fragment_store import FragmentStore, FragmentWriter, fragment_id
from objectd.manifest import StreamRef

log = logging.getLogger("objectd.write")

QUEUE_DEPTH = 2

Segment = bytes | bytearray | memoryview
"""One segment's bytes as the worker gets them; never changed once queued."""


class WriteQuorumLost(Exception):
    """Too few fragments of a stream could be written to keep it durable."""


def new_stream_id() -> str:
    """A fresh random stream id (128 bits, hex)."""
    return random_bytes(16).hex()


class StreamWriter:
    """Streams one body into fragments; :meth:`finish` makes them durable."""

    def __init__(
        self,
        stores: Mapping[str, FragmentStore],
        locations: Sequence[str],
        codec: ErasureCodec,
        master_key: bytes | None,
        write_quorum: int,
        stream_id: str | None = None,
        on_failure: Callable[[str, BaseException], None] | None = None,
        on_segment: Callable[[Segment], None] | None = None,
        executor: Executor | None = None,
        read_first: Sequence[int] | None = None,
    ) -> None:
        """A writer of one new stream over ``locations`` (one store id per
        fragment). ``read_first``: the k fragment indexes a GET will ask for
        (default the data fragments, 0..k-1); the stores keep those cached and
        need not keep the others, which are read only to repair."""
        layout: StripeLayout = codec.layout
        if len(locations) != layout.fragment_count:
            raise ValueError("one location per fragment is required")
        self.layout = layout
        self.stream_id = stream_id or new_stream_id()
        self.locations: list[str] = list(locations)
        self._stores = stores
        self._quorum = max(layout.k, min(write_quorum, layout.fragment_count))
        data_key = new_data_key() if master_key is not None else None
        self._wrapped_key = wrap_data_key(master_key, data_key) if master_key and data_key else None
        self._encoder = StripeEncoder(layout, codec, bytes.fromhex(self.stream_id), data_key)
        self._read_first = frozenset(range(layout.k) if read_first is None else read_first)
        if len(self._read_first) != layout.k or not self._read_first <= set(range(layout.fragment_count)):
            raise ValueError(f"read_first must be {layout.k} distinct fragment indexes, got {read_first!r}")
        self._writers: list[FragmentWriter | None] = [None] * layout.fragment_count
        self._buffer = bytearray()
        self._size = 0
        self._seg_index = 0
        self._queue: asyncio.Queue[Segment | None] = asyncio.Queue(QUEUE_DEPTH)
        self._worker: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        # Told of every store that fails a fragment (the gateway's node health).
        self._on_failure = on_failure
        # Given every segment, in order, on the worker thread that encodes it
        # (the request body's digest: one thread hand-off per segment, not two).
        self._on_segment = on_segment
        # Where segments are hashed, encoded and written (None: the loop's default).
        self._executor = executor
        self._ended = False
        self._drained = False

    @property
    def size(self) -> int:
        """Bytes accepted so far."""
        return self._size

    def reference(self) -> StreamRef:
        """The stream as the manifest records it (locations as they stand)."""
        return StreamRef(
            stream_id=self.stream_id,
            size=self._size,
            layout=self.layout,
            wrapped_key=self._wrapped_key,
            locations=tuple(self.locations),
        )

    async def open(self) -> None:
        """Open a writer on every location (missing stores count as failed)."""

        async def open_one(index: int, location: str) -> None:
            store = self._stores.get(location)
            if store is None:
                self._drop(index, f"store {location!r} unknown")
                return
            try:
                self._writers[index] = await store.open_writer(
                    fragment_id(self.stream_id, index), cached=index in self._read_first
                )
            except Exception as exc:  # a dead store must not fail the PUT
                self._drop(index, f"open failed: {exc!r}", exc)

        await asyncio.gather(*(open_one(i, loc) for i, loc in enumerate(self.locations)))
        self._check_quorum()
        self._worker = asyncio.create_task(self._run())

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Accept more body bytes; blocks while the worker is behind.

        Segments are handed to the worker without copying where they can be:
        a whole ``bytes`` segment as it is, a slice of a longer one as a view
        (bytes never change), and the assembly buffer by handing it over."""
        seg = self.layout.segment_size
        if type(data) is bytes and len(data) == seg and not self._buffer:
            self._size += seg
            await self._put(data)
            return
        view = memoryview(data).cast("B")
        self._size += view.nbytes
        immutable = isinstance(view.obj, bytes)
        while view.nbytes:
            if not self._buffer and view.nbytes >= seg:
                await self._put(view[:seg] if immutable else bytes(view[:seg]))
                view = view[seg:]
                continue
            room = seg - len(self._buffer)
            self._buffer += view[:room]
            view = view[room:]
            if len(self._buffer) == seg:
                segment, self._buffer = self._buffer, bytearray()
                await self._put(segment)

    async def drain(self) -> None:
        """Flush the last segment and wait until every segment is encoded and
        written (and given to ``on_segment``); fragments are not yet durable."""
        if self._drained:
            return
        if not self._ended:
            self._ended = True
            if self._buffer:
                segment, self._buffer = self._buffer, bytearray()
                await self._put(segment)
            await self._put(None)
        assert self._worker is not None
        await self._worker
        if self._failure is not None:
            raise self._failure
        self._drained = True  # only now may commit make the fragments durable

    async def commit(self) -> StreamRef:
        """Make every written fragment durable (after :meth:`drain`)."""
        if not self._drained:
            raise RuntimeError("commit before drain")

        async def commit_one(index: int, writer: FragmentWriter) -> None:
            try:
                await writer.commit()
            except Exception as exc:
                self._writers[index] = None
                self._drop(index, f"commit failed: {exc!r}", exc)

        await asyncio.gather(
            *(commit_one(i, w) for i, w in enumerate(self._writers) if w is not None)
        )
        self._check_quorum()
        return self.reference()

    async def finish(self) -> StreamRef:
        """Flush the last segment and commit every fragment durably."""
        await self.drain()
        return await self.commit()

    async def abort(self) -> None:
        """Stop and remove whatever was written; safe to call more than once."""
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
            try:
                await self._worker
            except BaseException:  # noqa: BLE001 - cancelled or already failed
                pass
        writers = [w for w in self._writers if w is not None]
        self._writers = [None] * len(self._writers)
        await asyncio.gather(*(w.abort() for w in writers), return_exceptions=True)

    # -- internals ---------------------------------------------------------

    async def _put(self, item: Segment | None) -> None:
        """Queue a segment for the worker, failing fast if the worker died."""
        assert self._worker is not None
        if self._worker.done():
            raise self._failure or WriteQuorumLost(f"stream {self.stream_id}: writer stopped")
        if not self._queue.full():
            self._queue.put_nowait(item)
            return
        put = asyncio.ensure_future(self._queue.put(item))
        await asyncio.wait({put, self._worker}, return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()
            raise self._failure or WriteQuorumLost(f"stream {self.stream_id}: writer stopped")

    def _drop(self, index: int, why: str, error: BaseException | None = None) -> None:
        if error is not None and self._on_failure is not None and self.locations[index]:
            self._on_failure(self.locations[index], error)
        log.warning(
            "fragment write failed",
            extra={"stream": self.stream_id, "fragment": index,
                   "store": self.locations[index], "reason": why},
        )
        self.locations[index] = ""

    def _check_quorum(self) -> None:
        alive = sum(1 for w in self._writers if w is not None)
        if alive < self._quorum:
            raise WriteQuorumLost(
                f"stream {self.stream_id}: {alive} fragments writable, {self._quorum} required"
            )

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                segment = await self._queue.get()
                if segment is None:
                    return
                seg_index = self._seg_index
                self._seg_index += 1
                writers = list(self._writers)
                if all(w is None or hasattr(w, "write_sync") for w in writers):
                    # Local drives: encode and write in one hop off the loop.
                    errors = await loop.run_in_executor(
                        self._executor, self._encode_and_write_sync, seg_index, segment, writers
                    )
                else:
                    pieces = await loop.run_in_executor(self._executor, self._encode, seg_index, segment)
                    results = await asyncio.gather(
                        *(w.write(p) if w is not None else _nothing()
                          for w, p in zip(writers, pieces)),
                        return_exceptions=True,
                    )
                    errors = {i: r for i, r in enumerate(results) if isinstance(r, BaseException)}
                for index, exc in errors.items():
                    writer = self._writers[index]
                    self._writers[index] = None
                    if writer is not None:
                        await writer.abort()
                    self._drop(index, f"write failed: {exc!r}", exc)
                self._check_quorum()
        except BaseException as exc:
            self._failure = exc
            if not isinstance(exc, Exception):
                raise

    def _encode(self, seg_index: int, segment: Segment) -> list[bytes]:
        if self._on_segment is not None:
            self._on_segment(segment)
        return self._encoder.encode_segment(seg_index, segment)

    def _encode_and_write_sync(
        self, seg_index: int, segment: Segment, writers: list[Any]
    ) -> dict[int, BaseException]:
        if self._on_segment is not None:
            self._on_segment(segment)
        pieces = self._encoder.encode_segment_parts(seg_index, segment)
        errors: dict[int, BaseException] = {}
        for index, (writer, piece) in enumerate(zip(writers, pieces)):
            if writer is None:
                continue
            try:
                writer.write_sync(piece)
            except Exception as exc:
                errors[index] = exc
        return errors


async def _nothing() -> None:
    return None
