"""The garbage collector: deletes fragments nothing references any more.

Two sources feed it, both in metadata so nothing is forgotten across crashes:
garbage rows (data replaced, deleted, aborted, or written by a failed
request) once their grace period has passed, and intents of writes that never
finished (the process died), once they expire.
"""

from __future__ import annotations

import asyncio
import logging
import time

from metadata.model import Garbage
from metadata.store import MetadataStore
from objectd.data_path import DataPath
from objectd.manifest import Manifest

log = logging.getLogger("objectd.collector")

BATCH = 100
RETRY_DELAY = 60.0
"""Seconds before garbage whose fragments could not all be deleted is tried again."""


class GarbageCollector:
    """Deletes due garbage and the leftovers of dead writes."""

    def __init__(self, metadata: MetadataStore, data: DataPath, interval: float,
                 retry_delay: float = RETRY_DELAY) -> None:
        if retry_delay <= 0:
            raise ValueError("retry_delay must be positive")  # a pass would retry forever
        self.metadata = metadata
        self.data = data
        self.interval = interval
        self.retry_delay = retry_delay
        self._task: asyncio.Task[None] | None = None

    async def run_once(self, now: float | None = None) -> int:
        """One pass; returns how many garbage entries were cleared."""
        now = time.time() if now is None else now
        for intent in await self.metadata.expired_intents(now, BATCH):
            log.info("write left behind, collecting", extra={"stream": intent.stream_id})
            await self.metadata.drop_intent(intent.stream_id, to_garbage=True)
        cleared = 0
        while True:
            due = await self.metadata.due_garbage(now, BATCH)
            if not due:
                return cleared
            done: list[int] = []
            failed: list[Garbage] = []
            for item in due:
                try:
                    manifest = Manifest.decode(item.manifest)
                except ValueError:
                    log.error("unreadable garbage manifest dropped", extra={"garbage": item.id})
                    done.append(item.id)
                    continue
                if await self.data.delete_fragments(manifest):
                    done.append(item.id)
                else:
                    failed.append(item)
            cleared += len(done)
            if failed:
                # A store is failing: retry these later, behind newer garbage,
                # so that an unreachable drive does not stop collection on the
                # others. The new rows are written before the old ones go, so
                # a crash in between leaves a duplicate, never a loss.
                await self.metadata.add_garbage([item.manifest for item in failed], now + self.retry_delay)
                done += [item.id for item in failed]
            await self.metadata.remove_garbage(done)

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("garbage collection pass failed")
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        """Run passes in the background every ``interval`` seconds."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Stop the background passes."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
