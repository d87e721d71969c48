"""A SQLite connection owned by one thread, driven from asyncio.

sqlite3 connections must stay on the thread that made them, and each call
into one blocks. A :class:`ConnectionThread` runs whole functions of its
connection on its own thread, so a store call with many statements costs one
thread hop, and hands results back to the event loop.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from metadata.errors import StoreUnavailable

T = TypeVar("T")

# ---------------------------------------------------------------------------
# connections and their threads


# What a connection's thread is asked to do: a function of the connection,
# the future that gets its outcome, and what to run on the event loop once
# the function has finished (whether or not anyone still awaits the future).
_Call = tuple[
    Callable[[sqlite3.Connection], Any],
    "asyncio.Future[Any]",
    Callable[[], None] | None,
]

# The last call a connection's thread runs: it closes the connection.
_CLOSE: Callable[[sqlite3.Connection], None] = sqlite3.Connection.close


def _settle(
    future: asyncio.Future[Any],
    value: Any,
    error: BaseException | None,
    after: Callable[[], None] | None,
) -> None:
    """Hand a call's outcome to its future (on the event loop)."""
    if after is not None:
        after()
    if future.done():  # the caller stopped waiting
        return
    if error is None:
        future.set_result(value)
    else:
        future.set_exception(error)


def _post(
    future: asyncio.Future[Any],
    value: Any,
    error: BaseException | None,
    after: Callable[[], None] | None,
) -> None:
    """Send a call's outcome from a connection's thread to the event loop."""
    try:
        future.get_loop().call_soon_threadsafe(_settle, future, value, error, after)
    except RuntimeError:
        pass  # the loop is closed: nobody is left to tell


class ConnectionThread:
    """One SQLite connection and the one thread that uses it.

    sqlite3 calls block, so they run off the event loop. A whole unit of work
    (every query of a read, a whole write batch) goes to the thread as one
    synchronous function of the connection, so it costs one thread hop and one
    event-loop wake-up however many statements it runs. Calls run one at a
    time in the order they were submitted, and each runs to its end even when
    its caller has stopped waiting: the connection is only ever between two
    calls, never left in the middle of one.
    """

    def __init__(self, name: str) -> None:
        """``name`` names the thread (seen in debuggers and thread dumps)."""
        self.name = name
        self._calls: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self._connected = False
        self._closed = False

    async def open(self, connect: Callable[[], sqlite3.Connection]) -> None:
        """Start the thread and open its connection there with ``connect``
        (raising what ``connect`` raises)."""
        opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # A daemon thread: an interpreter that exits without closing the store
        # does not hang on it; SQLite's journal makes an interrupted write harmless.
        threading.Thread(
            target=self._serve, args=(connect, opened), name=self.name, daemon=True
        ).start()
        await opened
        self._connected = True

    def submit(
        self,
        fn: Callable[[sqlite3.Connection], T],
        *,
        after: Callable[[], None] | None = None,
    ) -> asyncio.Future[T]:
        """Queue ``fn(connection)``; the returned future gets its result or
        exception. ``after`` runs on the event loop when ``fn`` has returned,
        even if the future was cancelled meanwhile."""
        if self._closed or not self._connected:
            raise StoreUnavailable("metadata store is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._calls.put((fn, future, after))
        return future

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` on the thread and return its result."""
        return await self.submit(fn)

    async def close(self) -> None:
        """Run the calls already queued, then close the connection and end the
        thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if not self._connected:
            return  # never opened, or its connect failed and the thread ended
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls.put((_CLOSE, done, None))
        await done

    def _serve(
        self, connect: Callable[[], sqlite3.Connection], opened: asyncio.Future[None]
    ) -> None:
        try:
            # Made here, the connection is used by this thread only (sqlite3's
            # check_same_thread enforces it).
            conn = connect()
        except BaseException as exc:  # noqa: BLE001 - handed to the opener
            _post(opened, None, exc, None)
            return
        _post(opened, None, None, None)
        while True:
            fn, future, after = self._calls.get()
            try:
                value, error = fn(conn), None
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                value, error = None, exc
            _post(future, value, error, after)
            if fn is _CLOSE:
                return
