"""The benchmark's steps and phases: counting, concurrency, caps and checks."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from objectd.bench_bare_server import build_app
from objectd.bench_client import BenchClient, Endpoint, open_session
from objectd.bench_cpu import ServerProcesses
from objectd.bench_phases import (
    OFFSET_SPAN,
    BenchFailure,
    Payloads,
    PhaseRunner,
    Plan,
    Target,
    run_ops,
)
from objectd.bench_progress import ProgressLog
from objectd.bench_signer import RequestSigner

QUIET = ProgressLog(io.StringIO(), interval=0)
TINY = Plan(large_size=300_000, large_count=5, small_size=1000, small_count=40, range_size=5000,
            ranged_count=30, list_keys=23, list_page=5, list_repeats=2, setup_concurrency=4)


async def test_runs_each_op_once_within_the_concurrency() -> None:
    seen: list[int] = []
    in_flight = 0
    most = 0

    async def op(index: int) -> int:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0)
        seen.append(index)
        in_flight -= 1
        return index

    measured = await run_ops("t", 100, 7, 3600.0, op, ServerProcesses.of([os.getpid()]), QUIET)
    assert sorted(seen) == list(range(100))
    assert most == 7
    assert measured.ops == 100 and measured.bytes == sum(range(100)) and len(measured.latencies) == 100
    assert measured.seconds > 0 and measured.bench_cpu >= 0
    assert measured.server_cpu is not None and measured.server_cpu >= 0


async def test_time_cap_stops_new_ops() -> None:
    async def op(index: int) -> int:
        raise AssertionError("no op may start once the time is up")

    measured = await run_ops("t", 10, 2, 0.0, op, ServerProcesses.of(None), QUIET)
    assert measured.ops == 0 and measured.server_cpu is None


async def test_first_failure_stops_the_workers() -> None:
    started: list[int] = []

    async def op(index: int) -> int:
        started.append(index)
        if index == 3:
            raise BenchFailure("op 3 failed")
        await asyncio.sleep(0)
        return 0

    with pytest.raises(BenchFailure, match="op 3 failed"):
        await run_ops("t", 1000, 4, 3600.0, op, ServerProcesses.of(None), QUIET)
    assert len(started) < 1000


def test_payloads_are_distinct_slices_of_one_buffer() -> None:
    payloads = Payloads(TINY)
    bodies = [bytes(payloads.large(i)) for i in range(20)]
    assert all(len(b) == TINY.large_size for b in bodies)
    assert len(set(bodies)) == 20
    assert payloads.large(3).obj is payloads.large(4).obj  # no copies
    assert len(payloads.small(OFFSET_SPAN - 1)) == TINY.small_size


@pytest.fixture
async def bare_url() -> AsyncIterator[str]:
    server = TestServer(build_app())
    await server.start_server()
    yield f"http://{server.host}:{server.port}"
    await server.close()


def _target(session: object, url: str, check: bool) -> Target:
    client = BenchClient(session, Endpoint.parse(url), RequestSigner("a", "b", "us-east-1"))  # type: ignore[arg-type]
    return Target("t", client, "bucket", "run-x/", ServerProcesses.of(None), check_content=check)


async def test_all_phases_against_the_bare_server(bare_url: str) -> None:
    async with open_session(TINY.max_concurrency, True) as session:
        target = _target(session, bare_url, check=False)
        await PhaseRunner(TINY, Payloads(TINY), QUIET).run(target, ["list", "ranged", "small", "large"])
    steps = {(s.phase, s.name): s for s in target.steps}
    assert list(steps) == [("large", "PUT"), ("large", "GET"), ("small", "PUT"), ("small", "GET"),
                           ("ranged", "GET"), ("list", "0-byte PUT"), ("list", "listing"), ("list", "page")]
    assert steps["large", "GET"].bytes == TINY.large_count * TINY.large_size
    assert steps["small", "PUT"].bytes == TINY.small_count * TINY.small_size
    assert steps["ranged", "GET"].bytes == TINY.ranged_count * TINY.range_size
    assert steps["list", "0-byte PUT"].setup
    assert steps["list", "listing"].ops == TINY.list_repeats and steps["list", "listing"].keys == TINY.list_keys
    pages_per_listing = -(-TINY.list_keys // TINY.list_page)
    assert steps["list", "page"].ops == TINY.list_repeats * pages_per_listing


async def test_ranged_phase_alone_writes_its_object(bare_url: str) -> None:
    async with open_session(TINY.max_concurrency, True) as session:
        target = _target(session, bare_url, check=False)
        await PhaseRunner(TINY, Payloads(TINY), QUIET).run(target, ["ranged"])
    assert target.ranged_key == "run-x/ranged/object"
    assert [s.name for s in target.steps] == ["GET"]


async def _lying_server(handler: object) -> TestServer:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)  # type: ignore[arg-type]
    server = TestServer(app)
    await server.start_server()
    return server


@pytest.mark.parametrize(
    ("phase", "check", "answer", "message"),
    [
        ("small", True, lambda r: web.Response(status=200), "no ETag"),
        ("small", True, lambda r: web.Response(status=503), "HTTP 503"),
        ("small", False, lambda r: web.Response(body=b"x" * 999, headers={"ETag": '"e"'}),
         "999 bytes, expected 1000"),
        ("small", True, lambda r: web.Response(body=b"x" * 1000, headers={"ETag": '"e"'}), "MD5 mismatch"),
        ("ranged", False, lambda r: web.Response(status=206 if "Range" in r.headers else 200, body=b"x" * 4999,
                                                 headers={"ETag": '"e"'}),
         "4999 bytes, expected 5000"),
        ("ranged", True, lambda r: web.Response(status=206 if "Range" in r.headers else 200, body=b"x" * 5000,
                                          headers={"ETag": '"e"'}), "content differs"),
        ("list", True, lambda r: web.Response(
            body=b"<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a</Key></Contents>"
                 b"</ListBucketResult>" if "list-type" in r.query else b"",
            headers={"ETag": '"e"'}), "1 keys listed, 23 written"),
        ("list", True, lambda r: web.Response(
            body=b"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"
                 if "list-type" in r.query else b"",
            headers={"ETag": '"e"'}), "without NextContinuationToken"),
    ],
)
async def test_wrong_answers_fail_the_run(phase: str, check: bool, answer: object, message: str) -> None:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return answer(request)  # type: ignore[operator]

    server = await _lying_server(handler)
    try:
        async with open_session(TINY.max_concurrency, True) as session:
            target = _target(session, f"http://{server.host}:{server.port}", check=check)
            with pytest.raises(Exception, match=message):
                await PhaseRunner(TINY, Payloads(TINY), QUIET).run(target, [phase])
    finally:
        await server.close()
