"""GarbageCollector over a real SQLite store and real drive folders."""

from __future__ import annotations

import dataclasses
import os
import shutil
import time

import pytest

from objectd.collector import GarbageCollector
from objectd.data_path import DataPath
from objectd.manifest import Manifest
from tests.local_data_path import local_data_path


@pytest.fixture
async def parts(tmp_path):
    async with local_data_path(tmp_path) as (md, drives, make):
        yield md, drives, make(intent_lifetime=3600)


async def store_body(data: DataPath, size: int) -> Manifest:
    async def chunks():
        yield os.urandom(size)

    return await data.store(chunks(), lambda: None)


def all_fragments(drives) -> list[str]:
    return [f for d in drives.values() for f in d.fragment_ids()]


async def test_due_garbage_is_deleted_and_forgotten(parts):
    md, drives, data = parts
    manifest = await store_body(data, 200_000)
    await md.drop_intent(data.intent_of(manifest), to_garbage=True)
    assert len(all_fragments(drives)) == 6
    collector = GarbageCollector(md, data, interval=1)
    assert await collector.run_once(now=time.time() + 1) == 1
    assert all_fragments(drives) == []
    assert await md.due_garbage(time.time() + 10, 10) == []


async def test_expired_intent_of_a_dead_write_is_collected(parts):
    md, drives, data = parts
    await store_body(data, 200_000)  # stored but never committed: the process "died"
    collector = GarbageCollector(md, data, interval=1)
    await collector.run_once(now=time.time())
    assert len(all_fragments(drives)) == 6  # the intent has not expired yet
    await collector.run_once(now=time.time() + 3601)  # intent -> garbage
    await collector.run_once(now=time.time() + 3602)
    assert all_fragments(drives) == []


async def test_a_dead_drive_does_not_stop_collection(parts):
    md, drives, data = parts
    first = await store_body(data, 200_000)
    second = await store_body(data, 200_000)
    victim = first.streams()[0].locations[0]
    shutil.rmtree(drives[victim].root)
    await md.drop_intent(data.intent_of(first), to_garbage=True)
    # The second stream's fragment on the dead drive is recorded as lost, as a
    # write that found the drive gone records it.
    ref = second.streams()[0]
    lost = dataclasses.replace(ref, locations=tuple("" if loc == victim else loc for loc in ref.locations))
    await md.drop_intent(ref.stream_id, to_garbage=False)
    await md.add_garbage([Manifest((lost,)).encode()], time.time())
    collector = GarbageCollector(md, data, interval=1, retry_delay=30)
    now = time.time() + 1
    await collector.run_once(now=now)
    # Everything reachable is gone; the row naming the dead drive waits for a retry.
    assert all_fragments({k: v for k, v in drives.items() if k != victim}) == []
    retry = await md.due_garbage(now + 31, 10)
    assert len(retry) == 1
    assert Manifest.decode(retry[0].manifest).streams()[0].stream_id == first.streams()[0].stream_id
    assert await md.due_garbage(now, 10) == []


def test_retry_delay_must_be_positive(parts):
    md, _, data = parts
    with pytest.raises(ValueError):
        GarbageCollector(md, data, interval=1, retry_delay=0)
