"""The benchmark's progress lines."""

from __future__ import annotations

import asyncio
import io

from objectd.bench_progress import ProgressLog


def test_lines_go_to_the_stream() -> None:
    stream = io.StringIO()
    ProgressLog(stream).line("endpoint small PUT: 2000 ops")
    assert stream.getvalue() == "endpoint small PUT: 2000 ops\n"


async def test_tick_reports_the_count_until_cancelled() -> None:
    stream = io.StringIO()
    done = [0]
    ticker = asyncio.create_task(ProgressLog(stream, interval=0.001).tick("small PUT", 50, lambda: done[0]))
    done[0] = 17
    while "\n" not in stream.getvalue():
        await asyncio.sleep(0.001)
    ticker.cancel()
    assert stream.getvalue().startswith("  small PUT: 17/50 in ")


async def test_no_ticks_without_an_interval() -> None:
    stream = io.StringIO()
    await ProgressLog(stream, interval=0).tick("x", 1, lambda: 0)
    assert stream.getvalue() == ""
