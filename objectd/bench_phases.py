"""The benchmark's phases and how each step is measured.

A step runs one kind of request from a fixed number of concurrent workers,
each taking the next operation until the step's count is done or its time is
up (whichever comes first, so every step finishes); requests in flight when
time runs out complete and count. Around each step the server's CPU time and
the benchmark's own are sampled.

Phases, in the order they run:

- ``large``: PUT then GET of large objects (64 MiB, concurrency 4): MiB/s;
- ``small``: PUT then GET of 4 KiB objects (concurrency 32): ops/s, p50, p99;
- ``ranged``: 64 KiB GETs at random offsets of one large object (concurrency
  16): ops/s, p50, p99;
- ``list``: 10,000 empty objects are written (setup), then listed whole with
  ListObjectsV2 pages of 1000 a few times: seconds per listing, p50/p99 per page.

Correctness is checked while measuring: every PUT must answer 200 with an
ETag, every GET the whole object (206 and the exact length for ranges); and
once per phase, outside the timed step, one object's content is compared with
what was sent (bodies are slices of one random buffer at per-object offsets,
so no two objects hold the same bytes and nothing is copied per request).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from objectd.bench_cpu import ServerProcesses
from objectd.bench_progress import ProgressLog
from objectd.bench_stats import LatencySummary

if TYPE_CHECKING:  # the client (and aiohttp) load when a run starts, not with the command line
    from objectd.bench_client import BenchClient

PHASES = ("large", "small", "ranged", "list")
# Bodies start at a per-object offset into the buffer, within this span.
OFFSET_SPAN = 1 << 16
_OFFSET_STRIDE = 4099  # odd, hence distinct offsets for 65,536 objects


class BenchFailure(Exception):
    """The endpoint answered wrongly: the figures would mean nothing."""


@dataclass(frozen=True)
class Plan:
    """Sizes, counts, concurrency and time caps of the phases."""

    large_size: int = 64 << 20
    large_count: int = 8
    large_concurrency: int = 4
    small_size: int = 4 << 10
    small_count: int = 2000
    small_concurrency: int = 32
    range_size: int = 64 << 10
    ranged_count: int = 2000
    ranged_concurrency: int = 16
    list_keys: int = 10_000
    list_page: int = 1000
    list_repeats: int = 3
    setup_concurrency: int = 32
    step_seconds: float = 20.0
    setup_seconds: float = 120.0
    seed: int = 1

    @property
    def max_concurrency(self) -> int:
        """The most connections any step opens to one endpoint."""
        return max(self.large_concurrency, self.small_concurrency, self.ranged_concurrency,
                   self.setup_concurrency)


@dataclass(frozen=True)
class Step:
    """What one measured step did and cost."""

    target: str
    phase: str
    name: str
    ops: int
    bytes: int
    seconds: float
    latency: LatencySummary
    server_cpu: float | None
    bench_cpu: float
    concurrency: int
    setup: bool = False
    keys: int = 0  # keys per listing, for the listing steps

    @property
    def ops_per_second(self) -> float:
        """Operations completed per wall-clock second."""
        return self.ops / self.seconds if self.seconds > 0 else 0.0

    @property
    def bytes_per_second(self) -> float:
        """Body bytes moved per wall-clock second."""
        return self.bytes / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Target:
    """One S3 endpoint under measurement, and what has been written to it."""

    label: str
    client: BenchClient
    bucket: str
    prefix: str
    server: ServerProcesses
    check_content: bool
    large_written: int = 0
    ranged_key: str | None = None
    steps: list[Step] = field(default_factory=list)


class Payloads:
    """The preallocated random buffers every body is a slice of."""

    def __init__(self, plan: Plan) -> None:
        rng = random.Random(plan.seed)
        self._large = memoryview(rng.randbytes(plan.large_size + OFFSET_SPAN))
        self._small = memoryview(rng.randbytes(plan.small_size + OFFSET_SPAN))
        self._large_size = plan.large_size
        self._small_size = plan.small_size

    @staticmethod
    def _offset(index: int) -> int:
        return (index * _OFFSET_STRIDE) % OFFSET_SPAN

    def large(self, index: int) -> memoryview:
        """The body of large object ``index``."""
        start = self._offset(index)
        return self._large[start : start + self._large_size]

    def small(self, index: int) -> memoryview:
        """The body of small object ``index``."""
        start = self._offset(index)
        return self._small[start : start + self._small_size]


@dataclass
class Measured:
    """What :func:`run_ops` observed: operations done, body bytes moved, each
    operation's latency, wall seconds, and the CPU seconds the server (None if
    unmeasured) and the benchmark itself used meanwhile."""

    ops: int = 0
    bytes: int = 0
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    server_cpu: float | None = None
    bench_cpu: float = 0.0


async def run_workers(count: int, worker: Callable[[], Coroutine[object, object, None]]) -> None:
    """Run ``count`` copies of ``worker`` concurrently; the first failure
    cancels the others and is raised as itself."""
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(max(1, count)):
                group.create_task(worker())
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None


async def run_ops(
    label: str,
    count: int,
    concurrency: int,
    seconds: float,
    op: Callable[[int], Awaitable[int]],
    server: ServerProcesses,
    progress: ProgressLog,
) -> Measured:
    """Run ``op(0)``, ``op(1)`` … (each returning the body bytes it moved) from
    ``concurrency`` workers until ``count`` have started or ``seconds`` have
    passed, then wait for those in flight. The first failure stops every
    worker and is raised."""
    measured = Measured()
    server_before = server.cpu_seconds()
    own_before = time.process_time()
    clock = time.perf_counter
    start = clock()
    deadline = start + seconds
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < count and clock() < deadline:
            index = next_index
            next_index += 1
            began = clock()
            moved = await op(index)
            measured.latencies.append(clock() - began)
            measured.ops += 1
            measured.bytes += moved

    ticker = asyncio.create_task(progress.tick(label, count, lambda: measured.ops))
    try:
        await run_workers(min(concurrency, count), worker)
    finally:
        ticker.cancel()
    measured.seconds = clock() - start
    measured.bench_cpu = time.process_time() - own_before
    server_after = server.cpu_seconds()
    if server_before is not None and server_after is not None:
        measured.server_cpu = server_after - server_before
    return measured


class PhaseRunner:
    """Runs the phases of a :class:`Plan` against targets."""

    def __init__(self, plan: Plan, payloads: Payloads, progress: ProgressLog) -> None:
        self._plan = plan
        self._payloads = payloads
        self._progress = progress

    async def run(self, target: Target, phases: list[str]) -> None:
        """Run ``phases`` (in canonical order) against ``target``, appending its steps."""
        runs = {"large": self._large, "small": self._small, "ranged": self._ranged, "list": self._list}
        for phase in PHASES:
            if phase in phases:
                await runs[phase](target)

    async def _step(
        self, target: Target, phase: str, name: str, count: int, concurrency: int,
        op: Callable[[int], Awaitable[int]], setup: bool = False, keys: int = 0,
    ) -> Step:
        plan = self._plan
        label = f"{target.label} {phase} {name}"
        self._progress.line(f"{label}: {count} ops at concurrency {concurrency}")
        seconds = plan.setup_seconds if setup else plan.step_seconds
        measured = await run_ops(label, count, concurrency, seconds, op, target.server, self._progress)
        step = Step(target.label, phase, name, measured.ops, measured.bytes, measured.seconds,
                    LatencySummary.of(measured.latencies), measured.server_cpu, measured.bench_cpu,
                    concurrency, setup, keys)
        summary = f"{step.bytes_per_second / (1 << 20):.1f} MiB/s, " if step.bytes else ""
        self._progress.line(
            f"{label}: {step.ops} ops in {step.seconds:.2f} s, {summary}{step.ops_per_second:.1f} ops/s, "
            f"p50 {step.latency.p50 * 1000:.2f} ms, p99 {step.latency.p99 * 1000:.2f} ms")
        target.steps.append(step)
        return step

    @staticmethod
    def _written(put: Step) -> int:
        if put.ops == 0:
            raise BenchFailure(f"{put.target} {put.phase} PUT: no object written within the time allowed")
        return put.ops

    def _key(self, target: Target, kind: str, index: int) -> str:
        return f"{target.prefix}{kind}/{index:08d}"

    async def _put(self, target: Target, key: str, body: memoryview) -> int:
        await target.client.put_object(target.bucket, key, body)
        return len(body)

    async def _get(self, target: Target, key: str, size: int) -> int:
        received = await target.client.get_object(target.bucket, key)
        if received != size:
            raise BenchFailure(f"GET {key}: {received} bytes, expected {size}")
        return received

    async def _check_content(self, target: Target, key: str, sent: memoryview) -> None:
        if not target.check_content:
            return
        digest = hashlib.md5(usedforsecurity=False)
        await target.client.get_object(target.bucket, key, sink=digest.update)
        if digest.digest() != hashlib.md5(sent, usedforsecurity=False).digest():
            raise BenchFailure(f"GET {key}: the content differs from what was PUT (MD5 mismatch)")
        self._progress.line(f"{target.label}: content of {key} verified")

    async def _large(self, target: Target) -> None:
        plan, payloads = self._plan, self._payloads
        put = await self._step(
            target, "large", "PUT", plan.large_count, plan.large_concurrency,
            lambda i: self._put(target, self._key(target, "large", i), payloads.large(i)))
        target.large_written = written = self._written(put)
        await self._check_content(target, self._key(target, "large", 0), payloads.large(0))
        await self._step(
            target, "large", "GET", plan.large_count, plan.large_concurrency,
            lambda i: self._get(target, self._key(target, "large", i % written), plan.large_size))

    async def _small(self, target: Target) -> None:
        plan, payloads = self._plan, self._payloads
        put = await self._step(
            target, "small", "PUT", plan.small_count, plan.small_concurrency,
            lambda i: self._put(target, self._key(target, "small", i), payloads.small(i)))
        written = self._written(put)
        await self._check_content(target, self._key(target, "small", 0), payloads.small(0))
        await self._step(
            target, "small", "GET", plan.small_count, plan.small_concurrency,
            lambda i: self._get(target, self._key(target, "small", i % written), plan.small_size))

    async def _ranged_object(self, target: Target) -> tuple[str, memoryview]:
        if target.large_written:
            return self._key(target, "large", 0), self._payloads.large(0)
        if target.ranged_key is None:
            key = f"{target.prefix}ranged/object"
            self._progress.line(f"{target.label} ranged: writing a {self._plan.large_size}-byte object")
            await target.client.put_object(target.bucket, key, self._payloads.large(0))
            target.ranged_key = key
        return target.ranged_key, self._payloads.large(0)

    async def _ranged(self, target: Target) -> None:
        plan = self._plan
        key, body = await self._ranged_object(target)
        length = min(plan.range_size, len(body))
        rng = random.Random(plan.seed)
        offsets = [rng.randrange(len(body) - length + 1) for _ in range(plan.ranged_count)]
        if target.check_content:
            pieces: list[bytes] = []
            first = offsets[0] if offsets else 0
            await target.client.get_object(target.bucket, key, (first, first + length - 1), pieces.append)
            if b"".join(pieces) != body[first : first + length]:
                raise BenchFailure(f"ranged GET {key} at {first}: the content differs from what was PUT")
            self._progress.line(f"{target.label}: content of a range of {key} verified")

        async def ranged_get(i: int) -> int:
            offset = offsets[i]
            received = await target.client.get_object(target.bucket, key, (offset, offset + length - 1))
            if received != length:
                raise BenchFailure(f"ranged GET {key} at {offset}: {received} bytes, expected {length}")
            return received

        await self._step(target, "ranged", "GET", plan.ranged_count, plan.ranged_concurrency, ranged_get)

    async def _list(self, target: Target) -> None:
        plan = self._plan
        empty = memoryview(b"")
        setup = await self._step(
            target, "list", "0-byte PUT", plan.list_keys, plan.setup_concurrency,
            lambda i: self._put(target, self._key(target, "list", i), empty), setup=True)
        prefix = f"{target.prefix}list/"
        pages: list[float] = []

        async def listing(_: int) -> int:
            token: str | None = None
            listed = 0
            while True:
                began = time.perf_counter()
                page = await target.client.list_page(target.bucket, prefix, plan.list_page, token)
                pages.append(time.perf_counter() - began)
                listed += len(page.keys)
                if len(page.keys) > plan.list_page:
                    raise BenchFailure(f"list {prefix}: {len(page.keys)} keys in a page of {plan.list_page}")
                if not page.is_truncated:
                    break
                if not page.next_token:
                    raise BenchFailure(f"list {prefix}: truncated page without NextContinuationToken")
                token = page.next_token
            if listed != setup.ops:
                raise BenchFailure(f"list {prefix}: {listed} keys listed, {setup.ops} written")
            return 0

        whole = await self._step(target, "list", "listing", plan.list_repeats, 1, listing, keys=setup.ops)
        # The pages were timed inside the listings: same wall time, same CPU.
        page_step = Step(target.label, "list", "page", len(pages), 0, whole.seconds,
                         LatencySummary.of(pages), whole.server_cpu, whole.bench_cpu, 1, keys=setup.ops)
        target.steps.append(page_step)


async def _delete_each(target: Target, keys: Iterator[str]) -> None:
    """Delete keys one DELETE at a time until the shared iterator runs out."""
    for key in keys:
        await target.client.delete_object(target.bucket, key)


async def remove_run_objects(target: Target, progress: ProgressLog, concurrency: int = 32) -> int:
    """Delete every object under the target's run prefix (DeleteObjects, or
    one DELETE each where that is refused); how many were deleted."""
    from objectd.bench_client import S3RequestError

    client, bucket = target.client, target.bucket
    deleted = 0
    multi = True
    previous: list[str] = []
    while True:
        page = await client.list_page(bucket, target.prefix, 1000, None)
        if not page.keys:
            return deleted
        keys = list(page.keys)
        if keys == previous:
            raise BenchFailure(f"objects under {bucket}/{target.prefix} are still listed after deleting them")
        previous = keys
        if multi:
            try:
                failed = await client.delete_objects(bucket, keys)
            except S3RequestError as exc:
                progress.line(f"{target.label}: DeleteObjects refused ({exc}); deleting one by one")
                multi = False
            else:
                if failed:
                    raise BenchFailure(f"DeleteObjects failed for {len(failed)} keys, first {failed[0]}")
                deleted += len(keys)
                continue
        await run_workers(min(concurrency, len(keys)), functools.partial(_delete_each, target, iter(keys)))
        deleted += len(keys)
        progress.line(f"{target.label}: {deleted} objects deleted")
