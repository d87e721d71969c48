"""``python -m objectd.bench_metadata``: the two metadata backends side by side.

One run measures, for SQLite (``objectd serve``) and Postgres (``objectd
dev-cluster --metadata-url``), and for moto's S3 server as the peer that runs
here:

- ListObjectsV2 pages of ``--page`` keys in a bucket of ``--objects`` objects,
  from random start-after points (the first page included): without a
  delimiter, and with ``/`` over ``--prefixes`` common prefixes. Each page is
  timed end to end through S3 (signed HTTP requests to the running server,
  timed by this client) and, for objectd, also straight from the
  :class:`~metadata.store.MetadataStore` in this process, which tells how much
  of a request is the metadata query. Every page is checked against the keys
  the bucket holds.
- 4 KiB PUTs per second (one metadata commit each, the body inline in it)
  with ``--concurrency`` requests in flight for ``--seconds``: one gateway on
  SQLite, one gateway on Postgres, two gateways on one Postgres.

Writing a million objects through S3 would take hours, so the listing bucket
is filled straight in the database: the server first commits one real empty
object through S3, and every other row is a copy of that row with its own
key and version id, so the rows are exactly what the server writes. moto is
filled through its own in-process backend, in the process that serves it.

Everything the run creates (a temporary folder, a Postgres database, server
processes) is removed at the end, also on Ctrl-C. Results go to stdout (a
table) and, with ``--json``, to a file; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import multiprocessing
import os
import random
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
from yarl import URL

from metadata.store import MetadataStore
from objectd.bench_client import BenchClient, Endpoint, S3RequestError, open_session
from objectd.bench_cpu import ServerProcesses
from objectd.bench_progress import ProgressLog
from objectd.bench_s3_xml import parse_list_page
from objectd.bench_signer import RequestSigner, canonical_query, encode_key_path
from objectd.bench_stats import LatencySummary

DEFAULT_POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
POSTGRES_ENV = "OBJECTD_BENCH_POSTGRES"
TARGET_P99_MS = 50.0
LIST_BUCKET = "bench-list"
PUT_BUCKET = "bench-puts"
REGION = "us-east-1"
START_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0
LOAD_BATCH = 100_000
BACKENDS = ("sqlite", "postgres")

_SERVE_READY = re.compile(r"serving S3 at (\S+)")
_CLUSTER_READY = re.compile(r"dev cluster ready")
_CLUSTER_GATEWAY = re.compile(r"dev cluster: gateway pid (\d+) at (\S+)")
_CLUSTER_NODE = re.compile(r"dev cluster: node \S+ pid (\d+) at ")
_SELECT_LIST = re.compile(r"^\s*SELECT .*? FROM", re.DOTALL)
_COMMON_PREFIX = re.compile(rb"<CommonPrefixes>\s*<Prefix>(.*?)</Prefix>\s*</CommonPrefixes>", re.DOTALL)


class BenchAborted(Exception):
    """The benchmark could not go on (a server did not start, a load failed)."""


# ---------------------------------------------------------------------------
# options


@dataclass(frozen=True)
class MetadataBenchOptions:
    """A run, as the command line asked for it."""

    objects: int = 1_000_000
    prefixes: int = 100_000
    object_size: int = 0
    page: int = 1000
    requests: int = 200
    warmup: int = 5
    seconds: float = 20.0
    concurrency: int = 32
    put_size: int = 4096
    backends: tuple[str, ...] = BACKENDS
    moto: bool = True
    moto_seconds: float = 60.0
    postgres_dsn: str = DEFAULT_POSTGRES_DSN
    cluster_nodes: int = 6
    seed: int = 1
    work_dir: str | None = None
    json_path: str | None = None

    def __post_init__(self) -> None:
        """Refuse layouts and counts the benchmark cannot run."""
        KeyLayout(self.objects, self.prefixes)
        if self.page < 1 or self.requests < 1 or self.warmup < 0 or self.concurrency < 1:
            raise ValueError("--page, --requests and --concurrency must be positive, --warmup not negative")
        if self.seconds <= 0 or self.moto_seconds <= 0:
            raise ValueError("--seconds and --moto-seconds must be positive")
        if self.put_size < 0 or self.object_size < 0:
            raise ValueError("--put-size and --object-size must not be negative")
        unknown = set(self.backends) - set(BACKENDS)
        if unknown or not self.backends:
            raise ValueError(f"--backends is a comma list of {','.join(BACKENDS)}")
        if self.cluster_nodes < 6:
            raise ValueError("--cluster-nodes must be at least 6 (4+2 stripes)")
        if "postgres" in self.backends:
            database_dsn(self.postgres_dsn, "postgres")


def _positive_int(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _backends(text: str) -> tuple[str, ...]:
    chosen = tuple(b.strip() for b in text.split(",") if b.strip())
    if not chosen or set(chosen) - set(BACKENDS):
        raise argparse.ArgumentTypeError(f"a comma list of {','.join(BACKENDS)}, not {text!r}")
    return tuple(b for b in BACKENDS if b in chosen)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m objectd.bench_metadata``."""
    d = MetadataBenchOptions()
    parser = argparse.ArgumentParser(
        prog="python -m objectd.bench_metadata",
        description="ListObjectsV2 latency and PUT commit rate of objectd on SQLite and on Postgres, "
                    "beside moto's S3 server, in one run.",
    )
    size = parser.add_argument_group("scale")
    size.add_argument("--objects", type=_positive_int, default=d.objects,
                      help=f"objects in the listing bucket ({d.objects:,})")
    size.add_argument("--prefixes", type=_positive_int, default=d.prefixes,
                      help=f"common prefixes p…/ they are spread over, equally ({d.prefixes:,})")
    size.add_argument("--object-size", type=int, default=d.object_size,
                      help="bytes of each object in the listing bucket (0: empty objects); objects up to the "
                           "server's inline threshold keep their body in the row a listing reads")
    size.add_argument("--page", type=_positive_int, default=d.page, help=f"max-keys of each page ({d.page})")
    size.add_argument("--requests", type=_positive_int, default=d.requests,
                      help=f"timed pages per figure ({d.requests})")
    size.add_argument("--warmup", type=int, default=d.warmup, help=f"untimed pages before each figure ({d.warmup})")
    size.add_argument("--seconds", type=float, default=d.seconds, help=f"length of each PUT step ({d.seconds:g} s)")
    size.add_argument("--concurrency", type=_positive_int, default=d.concurrency,
                      help=f"PUTs in flight ({d.concurrency})")
    size.add_argument("--put-size", type=int, default=d.put_size, help=f"PUT body bytes ({d.put_size})")
    size.add_argument("--seed", type=int, default=d.seed, help="seed of the random start points")
    where = parser.add_argument_group("targets")
    where.add_argument("--backends", type=_backends, default=d.backends,
                       help="comma list of objectd metadata backends (sqlite,postgres)")
    where.add_argument("--postgres-dsn", default=None,
                       help=f"Postgres server to create (and drop) a database on "
                            f"(${POSTGRES_ENV}, else {DEFAULT_POSTGRES_DSN})")
    where.add_argument("--cluster-nodes", type=int, default=d.cluster_nodes,
                       help=f"storage nodes of the Postgres dev cluster ({d.cluster_nodes})")
    where.add_argument("--skip-moto", action="store_true", help="do not measure moto's S3 server")
    where.add_argument("--moto-seconds", type=float, default=d.moto_seconds,
                       help=f"time cap of each moto listing figure ({d.moto_seconds:g} s): moto sorts the "
                            "whole bucket for every page")
    out = parser.add_argument_group("output")
    out.add_argument("--work-dir", help="folder for the run's temporary folder (default: the system's)")
    out.add_argument("--json", metavar="FILE", help="also write every figure as JSON to FILE")
    return parser


def options_from_args(args: argparse.Namespace) -> MetadataBenchOptions:
    """The options of parsed arguments (ValueError naming what is wrong)."""
    dsn = args.postgres_dsn or os.environ.get(POSTGRES_ENV) or DEFAULT_POSTGRES_DSN
    return MetadataBenchOptions(
        objects=args.objects, prefixes=args.prefixes, object_size=args.object_size, page=args.page,
        requests=args.requests, warmup=args.warmup, seconds=args.seconds, concurrency=args.concurrency,
        put_size=args.put_size,
        backends=tuple(args.backends), moto=not args.skip_moto, moto_seconds=args.moto_seconds,
        postgres_dsn=dsn, cluster_nodes=args.cluster_nodes, seed=args.seed, work_dir=args.work_dir,
        json_path=args.json,
    )


# ---------------------------------------------------------------------------
# the bucket's keys and the pages expected of it


@dataclass(frozen=True)
class KeyLayout:
    """The listing bucket's keys: ``prefixes`` folders ``p000000/`` … each
    holding ``objects / prefixes`` keys ``k0`` …; key *i* is the *i*-th in
    S3's (UTF-8 byte) order, so any page's expected contents are arithmetic."""

    objects: int
    prefixes: int

    def __post_init__(self) -> None:
        """Refuse a layout that does not split evenly."""
        if self.objects < 1 or self.prefixes < 1 or self.objects % self.prefixes:
            raise ValueError(f"{self.objects} objects do not split evenly over {self.prefixes} prefixes")

    @property
    def per_prefix(self) -> int:
        """Keys in each common prefix."""
        return self.objects // self.prefixes

    def prefix(self, index: int) -> str:
        """The ``index``-th common prefix (fixed width, so text order is number order)."""
        return f"p{index:0{max(6, len(str(self.prefixes - 1)))}d}/"

    def key(self, index: int) -> str:
        """The ``index``-th key."""
        folder, item = divmod(index, self.per_prefix)
        return f"{self.prefix(folder)}k{item:0{len(str(self.per_prefix - 1))}d}"

    def keys(self, start: int, stop: int) -> Iterator[str]:
        """Keys ``start`` … ``stop - 1``, in order."""
        return (self.key(i) for i in range(max(start, 0), min(stop, self.objects)))


@dataclass(frozen=True)
class ListingProbe:
    """One page to ask for, and what a correct answer holds: ``expected``
    keys (no delimiter) or common prefixes (with one)."""

    delimiter: str
    start_after: str
    expected: tuple[str, ...]
    truncated: bool


@dataclass(frozen=True)
class ListingAnswer:
    """What a page held."""

    keys: tuple[str, ...]
    prefixes: tuple[str, ...]
    truncated: bool


def check_page(probe: ListingProbe, answer: ListingAnswer) -> str | None:
    """None when ``answer`` is the page ``probe`` expects, else what differs."""
    got, other = (answer.prefixes, answer.keys) if probe.delimiter else (answer.keys, answer.prefixes)
    what = "common prefixes" if probe.delimiter else "keys"
    if got != probe.expected:
        first = next((i for i, (a, b) in enumerate(zip(got, probe.expected, strict=False)) if a != b),
                     min(len(got), len(probe.expected)))
        return (f"after {probe.start_after!r}: {len(got)} {what}, expected {len(probe.expected)}; "
                f"first difference at {first}: {got[first:first + 1]} vs {probe.expected[first:first + 1]}")
    if other:
        return f"after {probe.start_after!r}: {len(other)} unexpected entries such as {other[0]!r}"
    if answer.truncated != probe.truncated:
        return f"after {probe.start_after!r}: IsTruncated {answer.truncated}, expected {probe.truncated}"
    return None


def plan_probes(layout: KeyLayout, delimiter: str, page: int, count: int, rng: random.Random) -> list[ListingProbe]:
    """``count`` pages: the first page, then pages after random start
    points, each a full page when the bucket holds one."""
    total = layout.prefixes if delimiter else layout.objects
    name = layout.prefix if delimiter else layout.key
    last_start = max(total - page - 1, -1)
    probes = []
    for n in range(count):
        start = -1 if n == 0 else rng.randint(-1, last_start)
        names = tuple(name(i) for i in range(start + 1, min(start + 1 + page, total)))
        probes.append(ListingProbe(delimiter, "" if start < 0 else name(start), names, start + 1 + page < total))
    return probes


# ---------------------------------------------------------------------------
# figures


@dataclass(frozen=True)
class ListingFigure:
    """Latency of listing pages from one target by one path (``store``: the
    MetadataStore called in this process; ``s3``: HTTP requests)."""

    target: str
    path: str
    delimiter: str
    objects: int
    entries: int
    requests: int
    planned: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    wrong: int
    first_wrong: str | None
    server_cpu_ms: float | None
    queries_per_page: int | None = None
    rows_per_page: int | None = None

    @property
    def within_target(self) -> bool:
        """Whether p99 meets the issue's bound."""
        return self.p99_ms < TARGET_P99_MS


@dataclass(frozen=True)
class PutFigure:
    """Small PUTs per second against one or more gateways."""

    target: str
    gateways: int
    size: int
    concurrency: int
    seconds: float
    puts: int
    failures: int
    per_second: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms: float | None
    client_cpu_share: float
    first_error: str | None


@dataclass(frozen=True)
class LoadFigure:
    """How the listing bucket was filled."""

    target: str
    rows: int
    seconds: float
    how: str
    extra_seconds: float = 0.0


@dataclass(frozen=True)
class QueryPlan:
    """The first statement a store runs for a page, how many it runs, and
    the database's plan of the first."""

    target: str
    delimiter: str
    statement: str
    plan: tuple[str, ...]


@dataclass
class MetadataBenchReport:
    """Everything a run measured, and what it created (all removed by the end)."""

    options: MetadataBenchOptions
    started: str = ""
    seconds: float = 0.0
    loads: list[LoadFigure] = field(default_factory=list)
    listings: list[ListingFigure] = field(default_factory=list)
    puts: list[PutFigure] = field(default_factory=list)
    plans: list[QueryPlan] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    work_dir: str = ""
    databases: list[str] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Whether objectd answered a page wrongly or failed a PUT."""
        return any(f.wrong for f in self.listings if f.target != "moto") or any(p.failures for p in self.puts)

    def to_json(self) -> str:
        """The report as JSON."""
        doc = dataclasses.asdict(self)
        doc["target_p99_ms"] = TARGET_P99_MS
        return json.dumps(doc, indent=2)


# ---------------------------------------------------------------------------
# server processes


@dataclass
class ServerProcess:
    """A server started in a session of its own, so that stopping it reaches
    every process it started; ready once a line of its output matches ``ready``."""

    name: str
    args: list[str]
    env: dict[str, str]
    ready: re.Pattern[str]
    proc: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)
    stopped: bool = False

    def start(self, timeout: float = START_TIMEOUT) -> re.Match[str]:
        """Start it and wait for its ready line (BenchAborted when it exits or times out)."""
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=self.env, start_new_session=True)
        found: list[re.Match[str]] = []
        ready = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.output.append(line)
                match = self.ready.search(line)
                if match and not ready.is_set():
                    found.append(match)
                    ready.set()

        threading.Thread(target=pump, name=f"{self.name}-output", daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise BenchAborted(f"{self.name} did not start:\n" + "".join(self.output[-40:]))
        return found[0]

    @property
    def pid(self) -> int:
        """The process id of the server (the session leader)."""
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        """SIGTERM, then SIGKILL to the whole session if anything lingers (idempotent)."""
        proc = self.proc
        if proc is None or self.stopped:
            return
        self.stopped = True
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        # Children of a leader that was killed or lost track of them.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _server_env(access_key: str, secret_key: str) -> dict[str, str]:
    """The environment of server processes: this one's without OBJECTD_*
    settings (the run decides them), with the root credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBJECTD_")}
    env.update(OBJECTD_ROOT_ACCESS_KEY=access_key, OBJECTD_ROOT_SECRET_KEY=secret_key, PYTHONUNBUFFERED="1")
    return env


# ---------------------------------------------------------------------------
# filling the listing bucket


def new_version_ids() -> Callable[[], str]:
    """The server's version-id generator."""
    from objectd.object_service import new_version_id

    return new_version_id


def _batches(items: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def sqlite_template(db_path: str, bucket: str, key: str) -> dict[str, Any]:
    """The versions row the server committed for ``bucket``/``key``, by column."""
    conn = sqlite3.connect(db_path)
    try:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM versions WHERE bucket = ? AND key = ?", (bucket, key)).fetchone()
    finally:
        conn.close()
    if row is None:
        raise BenchAborted(f"the server committed no row for {bucket}/{key}")
    return {name: row[name] for name in row.keys()}


def load_sqlite(db_path: str, template: dict[str, Any], keys: Iterable[str], progress: ProgressLog) -> int:
    """Insert a copy of ``template`` for each of ``keys`` (own version ids),
    in transactions of LOAD_BATCH rows; the rows inserted. Blocking."""
    columns = [c for c in template if c != "seq"]
    key_at, version_at = columns.index("key"), columns.index("version_id")
    base = [template[c] for c in columns]
    version_id = new_version_ids()
    sql = f"INSERT INTO versions ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"

    def rows(batch: list[str]) -> Iterator[list[Any]]:
        for key in batch:
            row = base.copy()
            row[key_at] = key
            row[version_at] = version_id()
            yield row

    conn = sqlite3.connect(db_path, isolation_level=None)
    done = 0
    started = time.perf_counter()
    try:
        conn.execute("PRAGMA busy_timeout = 60000")
        conn.execute("PRAGMA foreign_keys = ON")
        for batch in _batches(keys, LOAD_BATCH):
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(sql, rows(batch))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            done += len(batch)
            progress.line(f"  sqlite: {done:,} rows in {time.perf_counter() - started:.0f} s")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return done


async def postgres_template(conn: asyncpg.Connection, bucket: str, key: str) -> dict[str, Any]:
    """The versions row the gateway committed for ``bucket``/``key``, by column."""
    row = await conn.fetchrow("SELECT * FROM versions WHERE bucket = $1 AND key = $2", bucket, key)
    if row is None:
        raise BenchAborted(f"the gateway committed no row for {bucket}/{key}")
    return dict(row.items())


async def load_postgres(conn: asyncpg.Connection, template: dict[str, Any], keys: Iterable[str],
                        progress: ProgressLog) -> int:
    """COPY a copy of ``template`` for each of ``keys`` (own version ids)
    into the versions table, LOAD_BATCH rows per COPY; the rows copied."""
    columns = [c for c in template if c != "seq"]
    key_at, version_at = columns.index("key"), columns.index("version_id")
    base = [template[c] for c in columns]
    version_id = new_version_ids()
    done = 0
    started = time.perf_counter()
    for batch in _batches(keys, LOAD_BATCH):
        records = []
        for key in batch:
            row = base.copy()
            row[key_at] = key
            row[version_at] = version_id()
            records.append(tuple(row))
        await conn.copy_records_to_table("versions", records=records, columns=columns)
        done += len(batch)
        progress.line(f"  postgres: {done:,} rows in {time.perf_counter() - started:.0f} s")
    return done


# ---------------------------------------------------------------------------
# listing pages


class S3Lister:
    """Signed ListObjectsV2 requests for one bucket of one endpoint."""

    def __init__(self, session: aiohttp.ClientSession, url: str, signer: RequestSigner, bucket: str,
                 page: int) -> None:
        self._session = session
        self._endpoint = Endpoint.parse(url)
        self._signer = signer
        self._path = self._endpoint.base_path + encode_key_path(bucket)
        self._page = page

    async def list(self, probe: ListingProbe) -> ListingAnswer:
        """One page (S3RequestError unless the server answers 200)."""
        params = [("list-type", "2"), ("max-keys", str(self._page))]
        if probe.delimiter:
            params.append(("delimiter", probe.delimiter))
        if probe.start_after:
            params.append(("start-after", probe.start_after))
        query = canonical_query(params)
        host = self._endpoint.host
        headers = self._signer.sign("GET", host, self._path, query)
        headers["Host"] = host
        url = URL(f"{self._endpoint.scheme}://{host}{self._path}?{query}", encoded=True)
        async with self._session.get(url, headers=headers) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise S3RequestError(f"list after {probe.start_after!r}", resp.status, body)
        page = parse_list_page(body)
        prefixes = tuple(raw.decode() for raw in _COMMON_PREFIX.findall(body))
        return ListingAnswer(page.keys, prefixes, page.is_truncated)


def store_lister(store: MetadataStore, bucket: str, page: int) -> Callable[[ListingProbe], Awaitable[ListingAnswer]]:
    """Pages straight from a metadata store."""

    async def list_page(probe: ListingProbe) -> ListingAnswer:
        listing = await store.list_objects(bucket, "", probe.delimiter, probe.start_after, page)
        return ListingAnswer(tuple(o.key for o in listing.objects), tuple(listing.common_prefixes),
                             listing.is_truncated)

    return list_page


@dataclass(frozen=True)
class ListingTarget:
    """What a listing figure is of: a target, a path (store or s3), the
    layout, and the server processes whose CPU time counts."""

    target: str
    path: str
    layout: KeyLayout
    server: ServerProcesses


async def time_listing(
    what: ListingTarget,
    list_page: Callable[[ListingProbe], Awaitable[ListingAnswer]],
    probes: Sequence[ListingProbe],
    warmup: Sequence[ListingProbe],
    progress: ProgressLog,
    time_cap: float | None = None,
) -> ListingFigure:
    """Ask for ``warmup`` untimed, then time ``probes`` one at a time (stopping
    early once ``time_cap`` seconds have passed), checking every page."""
    for probe in warmup:
        await list_page(probe)
    delimiter = probes[0].delimiter
    label = f"{what.target} {what.path} {'delimiter ' + delimiter if delimiter else 'keys'}"
    latencies: list[float] = []
    wrong = 0
    first_wrong: str | None = None
    cpu_before = what.server.cpu_seconds()
    started = time.perf_counter()
    last_report = started
    for probe in probes:
        t0 = time.perf_counter()
        answer = await list_page(probe)
        t1 = time.perf_counter()
        latencies.append(t1 - t0)
        problem = check_page(probe, answer)
        if problem is not None:
            wrong += 1
            first_wrong = first_wrong or problem
        if t1 - last_report > 10:
            progress.line(f"  {label}: {len(latencies)}/{len(probes)} pages in {t1 - started:.0f} s")
            last_report = t1
        if time_cap is not None and t1 - started > time_cap:
            break
    cpu_after = what.server.cpu_seconds()
    stats = LatencySummary.of(latencies)
    server_cpu = None
    if cpu_before is not None and cpu_after is not None:
        server_cpu = 1000 * (cpu_after - cpu_before) / len(latencies)
    return ListingFigure(
        target=what.target, path=what.path, delimiter=delimiter, objects=what.layout.objects,
        entries=what.layout.prefixes if delimiter else what.layout.objects, requests=len(latencies),
        planned=len(probes), p50_ms=1000 * stats.p50, p99_ms=1000 * stats.p99, max_ms=1000 * stats.max,
        mean_ms=1000 * stats.mean, wrong=wrong, first_wrong=first_wrong, server_cpu_ms=server_cpu,
    )


@dataclass(frozen=True)
class ProbeSet:
    """The pages every target is asked for: the same start points for all."""

    keys: list[ListingProbe]
    prefixes: list[ListingProbe]
    warm_keys: list[ListingProbe]
    warm_prefixes: list[ListingProbe]

    @classmethod
    def plan(cls, layout: KeyLayout, options: MetadataBenchOptions) -> ProbeSet:
        """Probes of both kinds from the options' seed."""
        rng = random.Random(options.seed)
        keys = plan_probes(layout, "", options.page, options.requests, rng)
        prefixes = plan_probes(layout, "/", options.page, options.requests, rng)
        warm_keys = plan_probes(layout, "", options.page, options.warmup + 1, rng)[1:]
        warm_prefixes = plan_probes(layout, "/", options.page, options.warmup + 1, rng)[1:]
        return cls(keys, prefixes, warm_keys, warm_prefixes)


# ---------------------------------------------------------------------------
# what a store does for one page


class TracedStore(MetadataStore, Protocol):
    """A metadata store that reports the statements it runs (both backends do)."""

    async def set_trace(self, callback: Callable[[str], None] | None) -> None:
        """Report every statement, values bound, to ``callback``; None stops it."""
        ...


async def trace_page(store: TracedStore, bucket: str, probe: ListingProbe, page: int) -> tuple[list[str], int]:
    """The SELECT statements (values bound) a store runs for one page, and
    the rows it read."""
    statements: list[str] = []
    await store.set_trace(statements.append)
    rows_before = store.rows_read
    try:
        await store.list_objects(bucket, "", probe.delimiter, probe.start_after, page)
    finally:
        await store.set_trace(None)
    selects = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    return selects, store.rows_read - rows_before


def explain_sqlite(db_path: str, statement: str) -> tuple[str, ...]:
    """SQLite's plan of ``statement``. Blocking."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return tuple(str(row[3]) for row in conn.execute("EXPLAIN QUERY PLAN " + statement))
    finally:
        conn.close()


async def explain_postgres(dsn: str, statement: str) -> tuple[str, ...]:
    """Postgres' plan of ``statement``, with the actual rows, time and buffers of a run."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + statement)
    finally:
        await conn.close()
    return tuple(str(row[0]) for row in rows)


# ---------------------------------------------------------------------------
# PUTs


async def time_puts(clients: Sequence[BenchClient], label: str, options: MetadataBenchOptions,
                    server: ServerProcesses, progress: ProgressLog) -> PutFigure:
    """``options.concurrency`` workers PUT fresh keys for ``options.seconds``,
    spread over ``clients`` in turn; a worker stops at its first failure."""
    body = memoryview(os.urandom(options.put_size))
    run = f"{label.replace(' ', '-').replace(',', '')}-{secrets.token_hex(3)}"
    await asyncio.gather(*(clients[n % len(clients)].put_object(PUT_BUCKET, f"{run}/warm/{n}", body)
                           for n in range(options.concurrency)))
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.perf_counter() + options.seconds

    async def worker(n: int) -> None:
        client = clients[n % len(clients)]
        i = 0
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                await client.put_object(PUT_BUCKET, f"{run}/w{n:03d}/{i:08d}", body)
            except (S3RequestError, aiohttp.ClientError, OSError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                return
            latencies.append(time.perf_counter() - t0)
            i += 1

    progress.line(f"  {label}: {options.concurrency} PUTs of {options.put_size} bytes in flight "
                  f"for {options.seconds:g} s")
    cpu_before, client_before = server.cpu_seconds(), time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(options.concurrency)))
    elapsed = time.perf_counter() - started
    cpu_after, client_after = server.cpu_seconds(), time.process_time()
    stats = LatencySummary.of(latencies)
    server_cpu = None
    if cpu_before is not None and cpu_after is not None and latencies:
        server_cpu = 1000 * (cpu_after - cpu_before) / len(latencies)
    return PutFigure(
        target=label, gateways=len(clients), size=options.put_size, concurrency=options.concurrency,
        seconds=elapsed, puts=len(latencies), failures=len(errors), per_second=len(latencies) / elapsed,
        p50_ms=1000 * stats.p50, p99_ms=1000 * stats.p99, server_cpu_ms=server_cpu,
        client_cpu_share=(client_after - client_before) / elapsed, first_error=errors[0] if errors else None,
    )


# ---------------------------------------------------------------------------
# one run


class BenchRun:
    """The state of a run: its options, report, cleanup stack and clients."""

    def __init__(self, options: MetadataBenchOptions, report: MetadataBenchReport, cleanup: contextlib.ExitStack,
                 work: Path, progress: ProgressLog) -> None:
        from objectd.credentials import new_access_key, new_secret_key

        self.options = options
        self.report = report
        self.cleanup = cleanup
        self.work = work
        self.progress = progress
        self.layout = KeyLayout(options.objects, options.prefixes)
        self.probes = ProbeSet.plan(self.layout, options)
        self.access_key = new_access_key()
        self.secret_key = new_secret_key()
        self.signer = RequestSigner(self.access_key, self.secret_key, REGION)
        self.postgres_db = ""

    def start_server(self, name: str, args: list[str], ready: re.Pattern[str]) -> tuple[ServerProcess, re.Match[str]]:
        """Start a server process, registered for cleanup. Blocking."""
        server = ServerProcess(name, args, _server_env(self.access_key, self.secret_key), ready)
        self.cleanup.callback(server.stop)
        match = server.start()
        self.report.pids.append(server.pid)
        return server, match

    def client(self, session: aiohttp.ClientSession, url: str) -> BenchClient:
        """An S3 client of the run's root user for ``url``."""
        return BenchClient(session, Endpoint.parse(url), self.signer)

    async def prepare_buckets(self, client: BenchClient) -> None:
        """Create the listing and PUT buckets, and commit the listing bucket's
        first key as a real object of ``--object-size`` bytes (the row every
        other one copies)."""
        await client.create_bucket(LIST_BUCKET, REGION)
        await client.create_bucket(PUT_BUCKET, REGION)
        await client.put_object(LIST_BUCKET, self.layout.key(0), memoryview(os.urandom(self.options.object_size)))

    async def measure_listings(self, target: str, url: str, session: aiohttp.ClientSession,
                               server: ServerProcesses, store: TracedStore | None,
                               time_cap: float | None = None) -> None:
        """The four listing figures of one target (two without a store)."""
        layout, page, probes = self.layout, self.options.page, self.probes
        kinds = ((probes.keys, probes.warm_keys), (probes.prefixes, probes.warm_prefixes))
        if store is not None:
            what = ListingTarget(target, "store", layout, ServerProcesses.of(None))
            for timed, warm in kinds:
                self.progress.line(f"{target}: timing {len(timed)} store pages "
                                   f"({'delimiter /' if timed[0].delimiter else 'keys'})")
                figure = await time_listing(what, store_lister(store, LIST_BUCKET, page), timed, warm, self.progress)
                statements, rows = await trace_page(store, LIST_BUCKET, timed[-1], page)
                self.report.listings.append(dataclasses.replace(
                    figure, queries_per_page=len(statements), rows_per_page=rows))
                if statements:
                    self.report.plans.append(QueryPlan(target, timed[0].delimiter, statements[0],
                                                       await self.explain(target, statements[0])))
        lister = S3Lister(session, url, self.signer, LIST_BUCKET, page)
        what = ListingTarget(target, "s3", layout, server)
        for timed, warm in kinds:
            self.progress.line(f"{target}: timing {len(timed)} ListObjectsV2 requests "
                               f"({'delimiter /' if timed[0].delimiter else 'keys'})")
            self.report.listings.append(await time_listing(what, lister.list, timed, warm, self.progress, time_cap))

    async def explain(self, target: str, statement: str) -> tuple[str, ...]:
        """The backend's plan of a statement."""
        if target == "sqlite":
            return await asyncio.to_thread(explain_sqlite, str(self.sqlite_db), statement)
        return await explain_postgres(self.postgres_db, statement)

    @property
    def sqlite_db(self) -> Path:
        """The SQLite server's metadata database."""
        return self.work / "sqlite" / "metadata.db"

    # -- SQLite ------------------------------------------------------------

    async def run_sqlite(self) -> None:
        """``objectd serve`` on a data folder whose metadata the run fills."""
        from metadata.sqlite_store import SqliteStore

        progress = self.progress
        progress.line("sqlite: starting objectd serve")
        server, ready = await asyncio.to_thread(
            self.start_server, "objectd serve",
            [sys.executable, "-m", "objectd", "serve", str(self.work / "sqlite"), "--address", "127.0.0.1:0",
             "--log-level", "WARNING"],
            _SERVE_READY)
        url = ready.group(1)
        pids = ServerProcesses.of([server.pid])
        async with open_session(self.options.concurrency, verify_tls=False) as session:
            client = self.client(session, url)
            await self.prepare_buckets(client)
            template = await asyncio.to_thread(sqlite_template, str(self.sqlite_db), LIST_BUCKET, self.layout.key(0))
            progress.line(f"sqlite: loading {self.options.objects - 1:,} rows beside the server's own")
            started = time.perf_counter()
            rows = await asyncio.to_thread(load_sqlite, str(self.sqlite_db), template,
                                           self.layout.keys(1, self.options.objects), progress)
            self.report.loads.append(LoadFigure("sqlite", rows + 1, time.perf_counter() - started,
                                                "executemany, 100,000 rows per transaction"))
            store = SqliteStore(str(self.sqlite_db))
            await store.open()
            try:
                await self.measure_listings("sqlite", url, session, pids, store)
            finally:
                await store.close()
            self.report.puts.append(await time_puts([client], "sqlite, 1 gateway", self.options, pids, progress))
        await asyncio.to_thread(server.stop)

    # -- Postgres ----------------------------------------------------------

    async def run_postgres(self) -> None:
        """``objectd dev-cluster`` with two gateways on a database the run creates and fills."""
        from metadata.postgres_store import PostgresStore

        progress = self.progress
        admin = self.options.postgres_dsn
        name = f"objectd_bench_{secrets.token_hex(6)}"
        await _admin(admin, f'CREATE DATABASE "{name}"')
        self.report.databases.append(name)
        self.cleanup.callback(drop_database_now, admin, name)
        self.postgres_db = database_dsn(admin, name)
        progress.line(f"postgres: database {name}; starting objectd dev-cluster "
                      f"({self.options.cluster_nodes} nodes, 2 gateways)")
        cluster, _ = await asyncio.to_thread(
            self.start_server, "objectd dev-cluster",
            [sys.executable, "-m", "objectd", "dev-cluster", "--data", str(self.work / "cluster"),
             "--address", "127.0.0.1:0", "--gateways", "2", "--nodes", str(self.options.cluster_nodes),
             "--metadata-url", self.postgres_db, "--log-level", "WARNING"],
            _CLUSTER_READY)
        gateways = [(int(m.group(1)), m.group(2)) for m in map(_CLUSTER_GATEWAY.search, cluster.output) if m]
        self.report.pids.extend(int(m.group(1)) for m in map(_CLUSTER_NODE.search, cluster.output) if m)
        self.report.pids.extend(pid for pid, _ in gateways)
        if len(gateways) != 2:
            raise BenchAborted("the dev cluster did not announce two gateways:\n" + "".join(cluster.output[-40:]))
        first = ServerProcesses.of([gateways[0][0]])
        async with open_session(self.options.concurrency, verify_tls=False) as session:
            clients = [self.client(session, url) for _, url in gateways]
            await self.prepare_buckets(clients[0])
            await self.load_postgres()
            store = PostgresStore(self.postgres_db, application_name="objectd-bench")
            await store.open()
            try:
                await self.measure_listings("postgres", gateways[0][1], session, first, store)
            finally:
                await store.close()
            self.report.puts.append(await time_puts(clients[:1], "postgres, 1 gateway", self.options, first,
                                                    progress))
            both = ServerProcesses.of([pid for pid, _ in gateways])
            self.report.puts.append(await time_puts(clients, "postgres, 2 gateways", self.options, both, progress))
        await asyncio.to_thread(cluster.stop)
        await _admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def load_postgres(self) -> None:
        """Fill the listing bucket with COPY, then VACUUM ANALYZE (what
        autovacuum does to a table that grew this much)."""
        conn = await asyncpg.connect(self.postgres_db, timeout=10)
        try:
            template = await postgres_template(conn, LIST_BUCKET, self.layout.key(0))
            self.progress.line(f"postgres: loading {self.options.objects - 1:,} rows beside the gateway's own")
            started = time.perf_counter()
            rows = await load_postgres(conn, template, self.layout.keys(1, self.options.objects), self.progress)
            loaded = time.perf_counter() - started
            self.progress.line("postgres: VACUUM ANALYZE versions")
            started = time.perf_counter()
            await conn.execute("VACUUM ANALYZE versions")
            self.report.loads.append(LoadFigure("postgres", rows + 1, loaded, "COPY, 100,000 rows per COPY",
                                                time.perf_counter() - started))
        finally:
            await conn.close()

    # -- moto --------------------------------------------------------------

    async def run_moto(self) -> None:
        """moto's S3 server in a process of its own, its bucket filled through its backend."""
        progress = self.progress
        progress.line(f"moto: loading {self.options.objects:,} keys into its backend, then serving")
        moto = MotoProcess(self.options.objects, self.options.prefixes, self.options.object_size)
        self.cleanup.callback(moto.stop)
        port, load_seconds = await asyncio.to_thread(moto.start, START_TIMEOUT + self.options.objects / 5_000)
        self.report.pids.append(moto.pid)
        self.report.loads.append(LoadFigure("moto", self.options.objects, load_seconds,
                                            "put_object on moto's in-process backend"))
        async with open_session(1, verify_tls=False) as session:
            await self.measure_listings("moto", f"http://127.0.0.1:{port}", session,
                                        ServerProcesses.of([moto.pid]), None, self.options.moto_seconds)
        await asyncio.to_thread(moto.stop)


async def _admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def database_dsn(admin_dsn: str, name: str) -> str:
    """The DSN of database ``name`` on the server of ``admin_dsn`` (a URL)."""
    parts = urlsplit(admin_dsn)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"--postgres-dsn must be a postgresql:// URL, not {admin_dsn!r}")
    return urlunsplit(parts._replace(path="/" + name))


def drop_database_now(admin_dsn: str, name: str) -> None:
    """Drop a database the run created, whoever is still connected. Blocking
    (runs its own event loop: only call it where none is running)."""
    asyncio.run(_admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# ---------------------------------------------------------------------------
# moto


def serve_moto(conn: Connection, bucket: str, objects: int, prefixes: int, size: int) -> None:
    """The moto process: fill ``bucket`` through moto's backend, serve S3 on
    a free loopback port, report (port, load seconds), run until told to stop."""
    try:
        import logging

        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends
        from moto.server import ThreadedMotoServer

        layout = KeyLayout(objects, prefixes)
        backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        started = time.perf_counter()
        backend.create_bucket(bucket, REGION)
        body = os.urandom(size)
        for i in range(objects):
            backend.put_object(bucket, layout.key(i), body)
        loaded = time.perf_counter() - started
        # A line per request on stderr, as objectd is run without an access log.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer("127.0.0.1", 0, verbose=False)
        server.start()
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the run
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", server.get_host_and_port()[1], loaded))
    with contextlib.suppress(EOFError, KeyboardInterrupt):
        conn.recv()
    server.stop()


class MotoProcess:
    """moto's S3 server in a spawned process (see :func:`serve_moto`)."""

    def __init__(self, objects: int, prefixes: int, size: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=serve_moto, args=(child, LIST_BUCKET, objects, prefixes, size),
                                        name="objectd-bench-moto", daemon=True)

    @property
    def pid(self) -> int:
        """The moto process's id."""
        assert self._process.pid is not None
        return self._process.pid

    def start(self, timeout: float) -> tuple[int, float]:
        """Start it and wait until it serves: its port and load seconds. Blocking."""
        self._process.start()
        deadline = time.monotonic() + timeout
        while not self._conn.poll(0.2):
            if not self._process.is_alive() or time.monotonic() > deadline:
                raise BenchAborted("moto's server did not start")
        message = self._conn.recv()
        if message[0] != "ready":
            raise BenchAborted(f"moto's server did not start: {message[1]}")
        return int(message[1]), float(message[2])

    def stop(self) -> None:
        """Ask it to stop, then terminate and kill it if it lingers (idempotent)."""
        if self._process.pid is None:
            return
        with contextlib.suppress(OSError):
            self._conn.send("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


# ---------------------------------------------------------------------------
# the whole run


async def measure(run: BenchRun) -> None:
    """Each backend in turn, then moto; nothing runs beside a timed step.
    SIGTERM cancels the run like Ctrl-C does, so it cleans up too."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    on_main_thread = threading.current_thread() is threading.main_thread()
    if on_main_thread and task is not None:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        if "sqlite" in run.options.backends:
            await run.run_sqlite()
        if "postgres" in run.options.backends:
            await run.run_postgres()
        if run.options.moto:
            await run.run_moto()
    finally:
        if on_main_thread:
            loop.remove_signal_handler(signal.SIGTERM)


def run_benchmark(options: MetadataBenchOptions, progress: ProgressLog | None = None) -> MetadataBenchReport:
    """Run the benchmark; the report. Whatever happens (an error, Ctrl-C),
    the servers it started are stopped, its database dropped and its
    folder removed before this returns or raises."""
    from objectd.cli import run_event_loop

    progress = progress or ProgressLog()
    report = MetadataBenchReport(options, started=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
    started = time.perf_counter()
    with contextlib.ExitStack() as cleanup:
        work = Path(tempfile.mkdtemp(prefix="objectd-bench-metadata-", dir=options.work_dir))
        report.work_dir = str(work)
        cleanup.callback(shutil.rmtree, work, ignore_errors=True)
        run = BenchRun(options, report, cleanup, work, progress)
        run_event_loop(measure(run))
    report.seconds = time.perf_counter() - started
    report.notes.extend(_notes(report))
    return report


def _notes(report: MetadataBenchReport) -> list[str]:
    notes = []
    for figure in report.listings:
        if figure.path == "s3" and figure.target != "moto" and not figure.within_target:
            notes.append(f"{figure.target} ListObjectsV2 ({_kind(figure)}) p99 {figure.p99_ms:.1f} ms is over "
                         f"the {TARGET_P99_MS:g} ms target")
        if figure.requests < figure.planned:
            notes.append(f"{figure.target} {figure.path} ({_kind(figure)}): {figure.requests} of "
                         f"{figure.planned} pages within the time cap")
        if figure.wrong:
            notes.append(f"{figure.target} {figure.path} ({_kind(figure)}): {figure.wrong} wrong pages, "
                         f"first: {figure.first_wrong}")
    for put in report.puts:
        if put.failures:
            notes.append(f"{put.target}: {put.failures} PUT workers failed, first: {put.first_error}")
    return notes


# ---------------------------------------------------------------------------
# output


def _kind(figure: ListingFigure) -> str:
    return f"delimiter {figure.delimiter}" if figure.delimiter else "no delimiter"


def _ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.1f}" if value < 1000 else f"{value:,.0f}"


def render_table(report: MetadataBenchReport) -> str:
    """The report as a table for a terminal."""
    o = report.options
    layout = KeyLayout(o.objects, o.prefixes)
    lines = [
        f"objectd metadata benchmark  {report.started}  ({report.seconds:.0f} s)",
        f"  bucket of {o.objects:,} objects of {o.object_size:,} bytes: {o.prefixes:,} prefixes p…/ "
        f"x {layout.per_prefix:,} keys; pages of {o.page:,}",
        f"  {o.requests} timed pages per figure after {o.warmup} untimed (the first page, then random "
        "start-after points, the same for every target)",
        "",
        f"ListObjectsV2, ms per page (issue target: p99 < {TARGET_P99_MS:g} ms through S3)",
        f"  {'target':<9}{'via':<7}{'listing':<24}{'p50':>8}{'p99':>9}{'max':>9}{'pages':>7}  "
        f"{'p99<50':<7}{'server CPU/page':>16}{'queries':>9}{'rows':>7}",
    ]
    order = {"sqlite": 0, "postgres": 1, "moto": 2}
    for f in sorted(report.listings, key=lambda f: (f.delimiter, order.get(f.target, 3), f.path != "store")):
        listing = f"delimiter / ({f.entries:,} CP)" if f.delimiter else f"keys ({f.entries:,})"
        pages = f"{f.requests}" + ("*" if f.requests < f.planned else "")
        cpu = f"{f.server_cpu_ms:.1f} ms" if f.server_cpu_ms is not None else "-"
        lines.append(
            f"  {f.target:<9}{f.path:<7}{listing:<24}{_ms(f.p50_ms):>8}{_ms(f.p99_ms):>9}{_ms(f.max_ms):>9}"
            f"{pages:>7}  {'yes' if f.within_target else 'NO':<7}{cpu:>16}"
            f"{'-' if f.queries_per_page is None else f.queries_per_page:>9}"
            f"{'-' if f.rows_per_page is None else f.rows_per_page:>7}"
            + (f"  WRONG {f.wrong}" if f.wrong else "")
        )
    if any(f.requests < f.planned for f in report.listings):
        lines.append(f"  * stopped at the {o.moto_seconds:g} s time cap: moto sorts the whole bucket for every "
                     "page; same bucket size as objectd's")
    lines.append("  store: MetadataStore.list_objects called in the benchmark's process (queries and rows: one "
                 "page's SELECTs and rows read); S3: signed HTTP requests timed by the client")
    if report.puts:
        lines += [
            "",
            f"{o.put_size:,}-byte PUTs (body inline in the metadata commit), {o.concurrency} in flight",
            f"  {'target':<22}{'PUT/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'seconds':>9}{'gateway CPU/PUT':>17}"
            f"{'client CPU':>12}{'failed':>8}",
        ]
        for p in report.puts:
            cpu = f"{p.server_cpu_ms:.2f} ms" if p.server_cpu_ms is not None else "-"
            lines.append(f"  {p.target:<22}{p.per_second:>9,.0f}{_ms(p.p50_ms):>9}{_ms(p.p99_ms):>9}"
                         f"{p.seconds:>9.1f}{cpu:>17}{p.client_cpu_share:>11.0%}{p.failures:>8}")
        lines.append("  gateway CPU: the gateway processes only (not Postgres); client CPU: this benchmark's "
                     "process, on the same 2-core machine")
    if report.loads:
        lines += ["", "loading the listing bucket"]
        for load in report.loads:
            extra = f", then VACUUM ANALYZE {load.extra_seconds:.1f} s" if load.extra_seconds else ""
            lines.append(f"  {load.target:<9}{load.rows:>12,} rows in {load.seconds:6.1f} s ({load.how}{extra})")
    if report.plans:
        lines += ["", "query plans (the first SELECT of a page)"]
        for plan in report.plans:
            statement = _SELECT_LIST.sub("SELECT … FROM", plan.statement, count=1)
            lines.append(f"  {plan.target} {'delimiter /' if plan.delimiter else 'keys'}: {statement}")
            lines.extend(f"      {step}" for step in plan.plan)
    if report.notes:
        lines += ["", "notes"] + [f"  - {note}" for note in report.notes]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run, print; the exit status (0 when every page
    objectd served was right and no PUT failed, 1 otherwise, 2 for bad
    options, 130 on Ctrl-C, 143 on SIGTERM)."""
    # A shell starts background jobs with SIGINT ignored; Ctrl-C must still
    # reach the run so that it stops what it started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        options = options_from_args(args)
    except ValueError as exc:
        print(f"bench_metadata: {exc}", file=sys.stderr)
        return 2
    try:
        report = run_benchmark(options)
    except (KeyboardInterrupt, asyncio.CancelledError) as exc:
        print("bench_metadata: interrupted; everything it started is stopped and removed", file=sys.stderr)
        return 130 if isinstance(exc, KeyboardInterrupt) else 143
    except (BenchAborted, S3RequestError, aiohttp.ClientError, OSError, ValueError,
            asyncpg.PostgresError) as exc:
        print(f"bench_metadata: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(render_table(report))
    if options.json_path:
        Path(options.json_path).write_text(report.to_json(), encoding="utf-8")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
