"""Where the tests find Postgres, and what they do when it is not there.

The server is named by ``OBJECTD_TEST_POSTGRES_URL`` (default: the local
trust-auth server, database ``test``). When nothing answers there, a test
that needs it is skipped with the reason, except under ``CI=true``, where
it fails: CI must never pass by skipping. Each test works in a fresh
Postgres schema of its own (or, for a whole server process, a fresh
database), dropped afterwards, so tests (and test runs in parallel) never see
each other's tables.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

ENV_VAR = "OBJECTD_TEST_POSTGRES_URL"
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
PROBE_TIMEOUT = 5.0

T = TypeVar("T")

# dsn -> why it is unusable ("" when a server answered); one probe per process.
_probed: dict[str, str] = {}


def postgres_dsn() -> str:
    """The test server's DSN."""
    return os.environ.get(ENV_VAR) or DEFAULT_DSN


def in_ci() -> bool:
    """Whether the tests run under CI (``CI=true``), where nothing may be skipped."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


async def _probe(dsn: str) -> str:
    try:
        conn = await asyncpg.connect(dsn, timeout=PROBE_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - any failure means "no server"
        return f"{type(exc).__name__}: {exc}"
    try:
        await conn.fetchval("SELECT 1")
    finally:
        await conn.close()
    return ""


def _missing(dsn: str, reason: str) -> None:
    message = (
        f"no Postgres answers at {dsn} ({reason}); start one or point {ENV_VAR} at one"
    )
    if in_ci():
        pytest.fail(message + " [CI=true: not skipping]")
    pytest.skip(message)


async def require_postgres(dsn: str | None = None) -> str:
    """The DSN, once a server has answered on it; otherwise the calling test
    is skipped (failed under CI=true)."""
    dsn = dsn or postgres_dsn()
    if dsn not in _probed:
        _probed[dsn] = await _probe(dsn)
    if _probed[dsn]:
        _missing(dsn, _probed[dsn])
    return dsn


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to its end on a loop of its own, in a worker thread, so
    that it works whether or not the caller's thread runs a loop."""
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            error.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if error:
        raise error[0]
    return result[0]


def require_postgres_sync(dsn: str | None = None) -> str:
    """:func:`require_postgres` for synchronous tests (such as end-to-end
    tests that hand the DSN to a server process)."""
    dsn = dsn or postgres_dsn()
    if dsn not in _probed:
        _probed[dsn] = _run_sync(_probe(dsn))
    if _probed[dsn]:
        _missing(dsn, _probed[dsn])
    return dsn


def new_schema_name(prefix: str = "objectd_test") -> str:
    """A schema (or database) name no other test uses."""
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


async def _admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=PROBE_TIMEOUT)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _database_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def create_database(prefix: str = "objectd_test") -> str:
    """A new empty database on the test server, as a DSN, for tests whose
    code under test takes a whole database (a gateway process). Skips (fails
    under CI=true) when no server answers; :func:`drop_database` removes it."""
    dsn = require_postgres_sync()
    name = new_schema_name(prefix)
    _run_sync(_admin(dsn, f'CREATE DATABASE "{name}"'))
    return urlunsplit(urlsplit(dsn)._replace(path="/" + name))


def drop_database(url: str) -> None:
    """Drop a database made by :func:`create_database`, disconnecting any
    client still on it (nothing when it is gone)."""
    name = _database_of(url)
    admin = urlunsplit(urlsplit(url)._replace(path="/" + _database_of(postgres_dsn())))
    if name == _database_of(admin):
        raise ValueError(f"refusing to drop the test server's own database {name!r}")
    _run_sync(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def drop_schema(dsn: str, schema: str) -> None:
    """Drop ``schema`` and everything in it (nothing when it does not exist)."""
    conn = await asyncpg.connect(dsn, timeout=PROBE_TIMEOUT)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@asynccontextmanager
async def fresh_schema(prefix: str = "objectd_test") -> AsyncIterator[tuple[str, str]]:
    """(dsn, schema name) for one test; the schema (which the code under
    test creates) is dropped when the test ends, whatever the outcome."""
    dsn = await require_postgres()
    schema = new_schema_name(prefix)
    try:
        yield dsn, schema
    finally:
        await drop_schema(dsn, schema)
