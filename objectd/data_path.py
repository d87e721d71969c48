"""The data path: bodies to manifests and manifests back to bytes.

Composes the ring (where fragments go), the erasure codec, the stores and the
metadata store's intent records. Every stream is announced as an intent before
its first fragment is written, so a crash at any point leaves data that the
collector can find and delete (DESIGN invariant 3).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from erasure.codec import ErasureCodec
from erasure.layout import StripeLayout
from metadata.model import Intent
from metadata.store import MetadataStore
from objectd.fragment_store import FragmentStore, fragment_id
from objectd.inline_data import open_inline, seal_inline
from objectd.manifest import InlineData, Manifest
from objectd.stream_reader import StreamReader
from objectd.stream_writer import StreamWriter, new_stream_id
from placement.ring import NotEnoughNodes, Ring

log = logging.getLogger("objectd.data")

@dataclass(frozen=True)
class DataPathSettings:
    """How new data is written."""

    layout: StripeLayout = StripeLayout()
    write_quorum: int = 5
    inline_threshold: int = 32 * 1024
    cpu_workers: int = 0
    """Threads for the data path's CPU work (0: one per usable CPU): hashing,
    encoding and writing the segments of uploads, verifying, decrypting and
    decoding the cached segments of downloads. Each releases the GIL around
    every C call, so more threads than cores only queue for it, and each
    extra hand-off of the GIL is a futex wake-up and a context switch. Reads
    that must wait for a disk run on the loop's default executor instead.
    Writes go to the page cache and seldom wait, but can when the kernel
    throttles writers of too much unwritten data: a disk slower than the
    uploads then slows the GETs sharing these threads too."""
    encrypt: bool = True
    intent_lifetime: float = 24 * 3600.0
    """How long a write may run before the collector treats its fragments as
    left behind by a crash."""


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity where the OS has one)."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        return len(affinity(0))
    return os.cpu_count() or 1


class NodeView(Protocol):
    """What the data path needs to know of node health (a cluster gateway's
    prober); without one every store is assumed up."""

    def unavailable(self) -> frozenset[str]:
        """Stores that must not receive new fragments (down or draining)."""
        ...

    def read_order(self, locations: Sequence[str], k: int) -> list[int]:
        """Fragment indexes of a stream in the order to read them, best first."""
        ...

    def report_failure(self, store_id: str, error: BaseException) -> None:
        """A fragment read or write on ``store_id`` failed with ``error``."""
        ...


class DataPath:
    """Writes bodies as inline data or erasure-coded streams; reads them back."""

    def __init__(
        self,
        metadata: MetadataStore,
        stores: Mapping[str, FragmentStore],
        ring: Ring,
        settings: DataPathSettings,
        master_key: bytes,
        nodes: NodeView | None = None,
    ) -> None:
        self.metadata = metadata
        self.stores = stores
        self.ring = ring
        self.settings = settings
        self.nodes = nodes
        self._on_failure = nodes.report_failure if nodes is not None else None
        self._master_key = master_key
        self._codecs: dict[StripeLayout, ErasureCodec] = {}
        workers = settings.cpu_workers or usable_cpus()
        self._cpu_pool = ThreadPoolExecutor(workers, thread_name_prefix="objectd-cpu")

    def close(self) -> None:
        """Stop the CPU threads once they are idle (no stream may be in
        flight); returns at once, so it may be called from the event loop."""
        self._cpu_pool.shutdown(wait=False)

    def codec(self, layout: StripeLayout) -> ErasureCodec:
        """The (shared) codec for a layout."""
        codec = self._codecs.get(layout)
        if codec is None:
            codec = self._codecs[layout] = ErasureCodec(layout)
        return codec

    @property
    def _fragment_key(self) -> bytes | None:
        return self._master_key if self.settings.encrypt else None

    async def store(
        self,
        chunks: AsyncIterable[bytes | memoryview],
        verify: Callable[[], object],
        digest: Callable[[bytes | bytearray | memoryview], None] | None = None,
    ) -> Manifest:
        """Store a body; ``verify`` (awaited after the last chunk, before the
        fragments are committed) raises if the body must be rejected.

        ``digest``, when given, is handed every byte of the body exactly once,
        in order, before ``verify`` runs: on the thread that encodes each
        segment for a streamed body, on the event loop for an inline one. No
        buffer handed to it changes afterwards, so it may keep them and hash
        later (the MD5 lanes of :mod:`s3api.md5_lanes` do).

        Returns the manifest of durable data. The caller commits it to metadata
        with the stream's intent (``manifest_intent``) and, if that commit fails,
        calls :meth:`discard`.
        """
        threshold = self.settings.inline_threshold
        buffer = bytearray()
        writer: StreamWriter | None = None
        try:
            async for chunk in chunks:
                if writer is None:
                    # Small chunks gather until they pass the inline threshold;
                    # a large first chunk goes to the stream as it is, uncopied.
                    if buffer or len(chunk) <= threshold:
                        buffer += chunk
                        if len(buffer) <= threshold:
                            continue
                        chunk, buffer = buffer, bytearray()
                    writer = await self._open_stream(digest)
                await writer.write(chunk)
            if writer is not None:
                await writer.drain()
            elif digest is not None:
                digest(buffer)
            result = verify()
            if asyncio.iscoroutine(result):
                await result
            if writer is None:
                return Manifest((seal_inline(bytes(buffer), self._fragment_key),))
            return Manifest((await writer.commit(),))
        except BaseException:
            if writer is not None:
                await asyncio.shield(self._abandon(writer))
            raise

    @staticmethod
    def intent_of(manifest: Manifest) -> str | None:
        """The intent id a commit of ``manifest`` must clear (its stream id)."""
        streams = manifest.streams()
        return streams[0].stream_id if streams else None

    async def discard(self, manifest: Manifest) -> None:
        """A stored body that will not be committed: send it to garbage."""
        intent = self.intent_of(manifest)
        if intent is not None:
            await self.metadata.drop_intent(intent, to_garbage=True)

    async def _open_stream(
        self, on_segment: Callable[[bytes | bytearray | memoryview], None] | None = None
    ) -> StreamWriter:
        layout = self.settings.layout
        stream_id = new_stream_id()
        unavailable = self.nodes.unavailable() if self.nodes is not None else frozenset()
        try:
            locations = self.ring.pick(bytes.fromhex(stream_id), layout.fragment_count,
                                       unavailable=unavailable, k=layout.k)
        except NotEnoughNodes:
            if not unavailable:
                raise
            # Fewer usable nodes than fragments: place as if all were up. The
            # fragments bound for down nodes fail, and the write quorum decides
            # whether the PUT stands (its missing fragments recorded degraded).
            locations = self.ring.pick(bytes.fromhex(stream_id), layout.fragment_count, k=layout.k)
        writer = StreamWriter(
            self.stores,
            locations,
            self.codec(layout),
            self._fragment_key,
            self.settings.write_quorum,
            stream_id=stream_id,
            on_failure=self._on_failure,
            on_segment=on_segment,
            executor=self._cpu_pool,
            # What this gateway's GETs will read: the nearest k (a cluster
            # reads a parity fragment of its own site before a data fragment
            # of another), else the data fragments.
            read_first=self.nodes.read_order(locations, layout.k)[: layout.k] if self.nodes else None,
        )
        planned = Manifest((writer.reference(),))
        await self.metadata.add_intent(
            Intent(stream_id=stream_id, manifest=planned.encode(), expires=time.time() + self.settings.intent_lifetime)
        )
        try:
            await writer.open()
        except BaseException:
            await asyncio.shield(self._abandon(writer))
            raise
        return writer

    async def _abandon(self, writer: StreamWriter) -> None:
        await writer.abort()
        try:
            await self.metadata.drop_intent(writer.stream_id, to_garbage=True)
        except Exception:  # the intent expires and the collector cleans up
            log.exception("could not drop intent", extra={"stream": writer.stream_id})

    # -- reading -----------------------------------------------------------

    async def read(self, manifest: Manifest, first: int, last: int) -> AsyncIterator[bytes | memoryview]:
        """Yield bytes ``first``..``last`` (inclusive) of the data ``manifest`` describes."""
        offset = 0
        for extent in manifest.extents:
            start, end = offset, offset + extent.size - 1
            offset += extent.size
            if extent.size == 0 or end < first or start > last:
                continue
            lo, hi = max(first, start) - start, min(last, end) - start
            if isinstance(extent, InlineData):
                data = open_inline(extent, self._master_key)
                yield memoryview(data)[lo : hi + 1]
                continue
            order = None
            if self.nodes is not None:
                order = self.nodes.read_order(extent.locations, extent.layout.k)
            reader = StreamReader(self.stores, extent, self.codec(extent.layout), self._master_key,
                                  order=order, on_failure=self._on_failure,
                                  cpu_executor=self._cpu_pool)
            async for piece in reader.read(lo, hi):
                yield piece

    # -- deleting ----------------------------------------------------------

    async def delete_fragments(self, manifest: Manifest) -> bool:
        """Delete every fragment of ``manifest``; False if some store failed
        (the caller retries later)."""
        ok = True

        async def delete(store_id: str, fid: str) -> None:
            nonlocal ok
            store = self.stores.get(store_id)
            if store is None:
                return
            try:
                await store.delete(fid)
            except Exception as exc:
                ok = False
                log.warning("fragment delete failed", extra={"store": store_id, "fragment": fid,
                                                              "reason": repr(exc)})

        jobs = [
            delete(location, fragment_id(ref.stream_id, index))
            for ref in manifest.streams()
            for index, location in enumerate(ref.locations)
            if location
        ]
        await asyncio.gather(*jobs)
        return ok

