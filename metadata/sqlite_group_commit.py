"""Group commit on a SQLite writer connection.

Writes that arrive while the writer is busy run together in one
``BEGIN IMMEDIATE … COMMIT``, each in its own savepoint, so a write that
fails rolls back alone and one fsync makes the whole batch durable. Results go
back to callers only after the COMMIT.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, NoReturn, TypeVar

from metadata.errors import StoreUnavailable
from metadata.sqlite_connection import ConnectionThread

T = TypeVar("T")
# A write job: runs on the writer's thread inside the batch's transaction.
Job = Callable[[sqlite3.Connection], T]

_BUSY_CODES = {
    5,  # SQLITE_BUSY
    6,  # SQLITE_LOCKED
}
# SQLite primary result codes that mean "try again later", not "bad request".
_TRANSIENT_CODES = {
    5,  # SQLITE_BUSY
    6,  # SQLITE_LOCKED
    10,  # SQLITE_IOERR
    13,  # SQLITE_FULL
    14,  # SQLITE_CANTOPEN
    15,  # SQLITE_PROTOCOL
}



def _primary_code(exc: BaseException) -> int | None:
    """The primary SQLite result code of an exception (None when it has none)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def is_busy(exc: BaseException) -> bool:
    """Whether SQLite refused for a lock another connection holds."""
    return _primary_code(exc) in _BUSY_CODES


def translate_error(exc: BaseException) -> BaseException:
    """Map transient SQLite failures to StoreUnavailable (caused by the
    original); every other exception is returned as is."""
    code = _primary_code(exc)
    if isinstance(exc, sqlite3.OperationalError) and (code is None or code in _TRANSIENT_CODES):
        unavailable = StoreUnavailable(str(exc))
        unavailable.__cause__ = exc
        return unavailable
    return exc


def raise_translated(exc: BaseException) -> NoReturn:
    """Raise ``exc``, or the StoreUnavailable it translates to (see
    :func:`translate_error`), caused by it."""
    translated = translate_error(exc)
    if translated is exc:
        raise exc
    raise translated from exc


# ---------------------------------------------------------------------------
# group commit


@dataclass
class _BatchOutcome:
    """What a batch did: whether it committed, and each job's result or
    exception (``ok`` False), in job order."""

    committed: bool
    results: list[tuple[bool, Any]]


def _commit_batch(conn: sqlite3.Connection, jobs: list[Job[Any]]) -> _BatchOutcome:
    """Run ``jobs`` in one ``BEGIN IMMEDIATE … COMMIT`` (on the writer's
    thread), each in its own savepoint. A job's exception rolls back that job
    only and is returned as its result; an exception of the transaction itself
    (BEGIN, COMMIT, a rollback) propagates, after rolling everything back."""
    # A lone job needs no savepoint: rolling back the transaction is enough.
    solo = len(jobs) == 1
    results: list[tuple[bool, Any]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for job in jobs:
            if not solo:
                conn.execute("SAVEPOINT job")
            try:
                value = job(conn)
            except Exception as exc:  # noqa: BLE001 - it belongs to the job's caller
                if solo:
                    conn.execute("ROLLBACK")
                    return _BatchOutcome(False, [(False, exc)])
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                results.append((False, exc))
            else:
                if not solo:
                    conn.execute("RELEASE job")
                results.append((True, value))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        raise
    return _BatchOutcome(True, results)


@dataclass
class _QueuedJob(Generic[T]):
    run: Job[T]
    future: asyncio.Future[T]
    after_commit: Callable[[T], None] | None


class GroupCommitWriter:
    """Runs write jobs on one connection, committing concurrent jobs together.

    Jobs queued while a batch runs form the next batch: one ``BEGIN
    IMMEDIATE``, each job in its own ``SAVEPOINT`` (a job that raises is
    rolled back to its savepoint and its exception goes to its caller only),
    one ``COMMIT``. The whole batch is one call on the writer's thread.
    Results are handed out only after the commit, so a caller never sees a
    write that is not durable. If the transaction itself fails (BEGIN,
    COMMIT, a rollback), every job of the batch fails with that error, as
    StoreUnavailable when it is transient.

    A job whose caller is cancelled before its batch starts is not run; once
    its batch has started it commits or rolls back with the batch, atomically,
    whether or not the caller still waits.
    """

    def __init__(self, conn: ConnectionThread, *, max_batch: int = 256) -> None:
        """``conn``'s connection must be in autocommit mode; ``max_batch``
        bounds the jobs per transaction (and so the time readers wait for a
        checkpoint)."""
        self._conn = conn
        self._max_batch = max_batch
        self._queue: collections.deque[_QueuedJob[Any]] = collections.deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.commits = 0
        self.last_batch_size = 0

    def start(self) -> None:
        """Start the writer task on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def submit(
        self, job: Job[T], *, after_commit: Callable[[T], None] | None = None
    ) -> T:
        """Run ``job`` (on the writer's thread) inside the next batch's
        transaction; return its result (or raise its exception) once the batch
        has committed. ``after_commit(result)`` runs on the event loop right
        after a commit that includes the job, even if the caller has stopped
        waiting, so state kept in memory follows the database."""
        if self._task is None or self._task.done() or self._closing:
            raise StoreUnavailable("metadata store is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append(_QueuedJob(job, future, after_commit))
        self._wakeup.set()
        return await future

    async def close(self) -> None:
        """Finish the queued jobs, then stop."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            count = min(len(self._queue), self._max_batch)
            batch = [self._queue.popleft() for _ in range(count)]
            jobs = [job for job in batch if not job.future.done()]  # callers gone
            if not jobs:
                continue
            try:
                outcome = await self._conn.run(
                    functools.partial(_commit_batch, jobs=[job.run for job in jobs])
                )
            except asyncio.CancelledError:
                # The batch still runs to its end on the thread; its outcome is
                # unknown here.
                for job in jobs:
                    job.future.cancel()
                raise
            except BaseException as exc:  # noqa: BLE001 - each caller gets it
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(translate_error(exc))
                continue
            self._release(jobs, outcome)

    def _release(self, jobs: list[_QueuedJob[Any]], outcome: _BatchOutcome) -> None:
        """Hand each job's outcome to its caller (the batch is over)."""
        if outcome.committed:
            self.commits += 1
            self.last_batch_size = len(jobs)
        for job, (ok, value) in zip(jobs, outcome.results):
            if ok and job.after_commit is not None:
                try:
                    job.after_commit(value)
                except Exception as exc:  # noqa: BLE001 - it belongs to the job's caller
                    ok, value = False, exc
            if job.future.done():
                continue
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(translate_error(value))
