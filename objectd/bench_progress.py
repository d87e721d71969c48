"""Progress lines of a running benchmark (stderr; the results go to stdout)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import TextIO


class ProgressLog:
    """Writes progress lines, and a periodic count while a step runs."""

    def __init__(self, stream: TextIO | None = None, interval: float = 2.0) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._interval = interval

    def line(self, text: str) -> None:
        """Write one progress line."""
        print(text, file=self._stream, flush=True)

    async def tick(self, label: str, total: int, done: Callable[[], int]) -> None:
        """Until cancelled, write how far ``label`` has got every interval."""
        if self._interval <= 0:
            return
        start = time.perf_counter()
        while True:
            await asyncio.sleep(self._interval)
            self.line(f"  {label}: {done()}/{total} in {time.perf_counter() - start:.0f} s")
