"""The metadata benchmark: its key layout and page checks, a whole run at
tiny scale against both backends and moto (real servers, real Postgres), and
that a run interrupted with Ctrl-C leaves nothing behind."""

from __future__ import annotations

import asyncio
import json
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import asyncpg
import pytest

from objectd.bench_metadata import (
    KeyLayout,
    ListingAnswer,
    ListingProbe,
    MetadataBenchOptions,
    build_parser,
    check_page,
    options_from_args,
    plan_probes,
)
from tests.postgres_dsn import require_postgres_sync

TINY = ["--objects", "240", "--prefixes", "24", "--page", "10", "--requests", "8", "--warmup", "1",
        "--concurrency", "4", "--moto-seconds", "30"]
WAIT = 120.0


# ---------------------------------------------------------------------------
# layout and checks (no I/O)


def test_keys_are_numbered_in_s3_order() -> None:
    layout = KeyLayout(objects=1200, prefixes=120)
    keys = list(layout.keys(0, layout.objects))
    assert len(set(keys)) == 1200
    assert keys == sorted(keys, key=lambda k: k.encode())
    assert {k.split("/")[0] + "/" for k in keys} == {layout.prefix(i) for i in range(120)}
    assert layout.key(0) == "p000000/k0" and layout.key(1199) == "p000119/k9"
    wide = KeyLayout(objects=2_000_000, prefixes=2_000_000)
    assert wide.prefix(0) < wide.prefix(1_999_999) and len(wide.prefix(0)) == len(wide.prefix(1_999_999))


@pytest.mark.parametrize(("objects", "prefixes"), [(10, 3), (0, 1), (5, 0)])
def test_layout_refuses_uneven_splits(objects: int, prefixes: int) -> None:
    with pytest.raises(ValueError):
        KeyLayout(objects, prefixes)


def test_probes_start_with_the_first_page_and_expect_the_next_entries() -> None:
    layout = KeyLayout(objects=300, prefixes=30)
    rng = random.Random(7)
    keys = plan_probes(layout, "", 25, 40, rng)
    assert keys[0].start_after == "" and keys[0].expected == tuple(layout.keys(0, 25)) and keys[0].truncated
    for probe in keys[1:]:
        assert len(probe.expected) == 25 and probe.expected[0] > probe.start_after
        start = next(i for i in range(300) if layout.key(i) == probe.start_after) if probe.start_after else -1
        assert probe.expected == tuple(layout.keys(start + 1, start + 26))
        assert probe.truncated == (start + 26 < 300)
    prefixes = plan_probes(layout, "/", 25, 40, rng)
    assert prefixes[0].expected == tuple(layout.prefix(i) for i in range(25))
    assert all(p.delimiter == "/" and len(p.expected) == 25 for p in prefixes)
    small = plan_probes(layout, "/", 100, 3, rng)
    assert all(p.start_after == "" and len(p.expected) == 30 and not p.truncated for p in small)


def test_check_page_finds_every_kind_of_wrong_page() -> None:
    probe = ListingProbe("", "p000000/k1", ("p000000/k2", "p000000/k3"), True)
    assert check_page(probe, ListingAnswer(("p000000/k2", "p000000/k3"), (), True)) is None
    assert "first difference at 1" in str(check_page(probe, ListingAnswer(("p000000/k2", "p000000/k4"), (), True)))
    assert "1 keys, expected 2" in str(check_page(probe, ListingAnswer(("p000000/k2",), (), True)))
    assert "unexpected" in str(check_page(probe, ListingAnswer(probe.expected, ("p000001/",), True)))
    assert "IsTruncated" in str(check_page(probe, ListingAnswer(probe.expected, (), False)))
    grouped = ListingProbe("/", "", ("p000000/", "p000001/"), False)
    assert check_page(grouped, ListingAnswer((), ("p000000/", "p000001/"), False)) is None
    assert "common prefixes" in str(check_page(grouped, ListingAnswer((), ("p000001/",), False)))


def test_options_follow_the_issue_and_refuse_what_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OBJECTD_BENCH_POSTGRES", raising=False)
    defaults = options_from_args(build_parser().parse_args([]))
    assert (defaults.objects, defaults.prefixes, defaults.page) == (1_000_000, 100_000, 1000)
    assert (defaults.concurrency, defaults.put_size, defaults.requests) == (32, 4096, 200)
    assert defaults.backends == ("sqlite", "postgres") and defaults.moto
    assert defaults.postgres_dsn == "postgresql://postgres@127.0.0.1:5432/postgres"
    monkeypatch.setenv("OBJECTD_BENCH_POSTGRES", "postgresql://elsewhere/db")
    parsed = options_from_args(build_parser().parse_args(["--objects", "1,000", "--prefixes", "100",
                                                          "--backends", "postgres,sqlite", "--skip-moto"]))
    assert (parsed.objects, parsed.backends, parsed.moto) == (1000, ("sqlite", "postgres"), False)
    assert parsed.postgres_dsn == "postgresql://elsewhere/db"
    for bad in [dict(objects=1000, prefixes=300), dict(postgres_dsn="host=localhost dbname=x"),
                dict(page=0), dict(cluster_nodes=3), dict(backends=("mysql",))]:
        with pytest.raises(ValueError):
            MetadataBenchOptions(**bad)  # type: ignore[arg-type]
    assert MetadataBenchOptions(backends=("sqlite",), postgres_dsn="not a url").backends == ("sqlite",)


# ---------------------------------------------------------------------------
# whole runs


def _command(*extra: str) -> list[str]:
    return [sys.executable, "-m", "objectd.bench_metadata", *TINY, "--postgres-dsn", require_postgres_sync(),
            *extra]


def _alive(pid: int) -> bool:
    """Whether ``pid`` is still a benchmark process (not a reused id, not a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat[stat.rfind(")") + 2]
    return state != "Z" and (b"objectd" in cmdline or b"multiprocessing" in cmdline)


def _wait_gone(pids: list[int]) -> list[int]:
    deadline = time.monotonic() + 30
    while (left := [p for p in pids if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _databases(name_like: str) -> list[str]:
    async def names() -> list[str]:
        conn = await asyncpg.connect(require_postgres_sync(), timeout=10)
        try:
            rows = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", name_like)
        finally:
            await conn.close()
        return [r[0] for r in rows]

    return asyncio.run(names())


def _descendants(root: int) -> list[int]:
    """Every process below ``root`` (children in their own sessions included)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[stat.rfind(")") + 2:].split()[1])
    found, frontier = [], [root]
    while frontier:
        below = [pid for pid, parent in parents.items() if parent in frontier]
        found += below
        frontier = below
    return found


def test_whole_run_against_both_backends_and_moto(tmp_path: Path) -> None:
    out_file = tmp_path / "report.json"
    run = subprocess.run(_command("--seconds", "1", "--object-size", "100", "--json", str(out_file),
                                  "--work-dir", str(tmp_path)),
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]
    assert "ListObjectsV2, ms per page" in run.stdout and "PUT/s" in run.stdout
    report = json.loads(out_file.read_text())
    assert report["options"]["object_size"] == 100 and report["target_p99_ms"] == 50.0

    listings = {(f["target"], f["path"], f["delimiter"]): f for f in report["listings"]}
    assert set(listings) == {(t, p, d) for t in ("sqlite", "postgres") for p in ("store", "s3") for d in ("", "/")} | {
        ("moto", "s3", ""), ("moto", "s3", "/")}
    for (target, path, delimiter), f in listings.items():
        assert f["wrong"] == 0 and f["first_wrong"] is None, f
        assert f["requests"] == f["planned"] == 8
        assert 0 < f["p50_ms"] <= f["p99_ms"] <= f["max_ms"] < 60_000
        assert f["objects"] == 240 and f["entries"] == (24 if delimiter else 240)
        if path == "store" and not delimiter:
            # One range query: the page and one more row, which says it is truncated.
            assert (f["queries_per_page"], f["rows_per_page"]) == (1, 11)
        elif path == "store" and target == "sqlite":
            # A seek per common prefix: at most two rows per group, not its ten keys.
            assert 10 <= f["queries_per_page"] <= 12 and f["rows_per_page"] <= 2 * 12
        elif path == "store":
            # Postgres runs a page's seeks in one recursive statement: one
            # row per group (and one past the page), not its ten keys.
            assert f["queries_per_page"] == 1 and f["rows_per_page"] <= 12
        else:
            assert f["server_cpu_ms"] is not None and f["server_cpu_ms"] >= 0

    puts = {p["target"]: p for p in report["puts"]}
    assert set(puts) == {"sqlite, 1 gateway", "postgres, 1 gateway", "postgres, 2 gateways"}
    for p in puts.values():
        assert p["failures"] == 0 and p["first_error"] is None and p["puts"] > 0
        assert p["seconds"] >= 1.0 and p["size"] == 4096 and p["concurrency"] == 4
        assert p["per_second"] == pytest.approx(p["puts"] / p["seconds"])
        assert 0 < p["p50_ms"] <= p["p99_ms"]
    assert puts["postgres, 2 gateways"]["gateways"] == 2

    assert {(load["target"], load["rows"]) for load in report["loads"]} == {
        ("sqlite", 240), ("postgres", 240), ("moto", 240)}
    assert {(p["target"], p["delimiter"]) for p in report["plans"]} == {
        (t, d) for t in ("sqlite", "postgres") for d in ("", "/")}
    assert all(p["plan"] and p["statement"].lstrip().startswith(("SELECT", "WITH")) for p in report["plans"])

    # Everything the run created is gone.
    assert not Path(report["work_dir"]).exists()
    assert list(tmp_path.iterdir()) == [out_file]
    assert len(report["databases"]) == 1 and not _databases(report["databases"][0])
    assert len(report["pids"]) >= 10  # serve, dev-cluster, 6 nodes, 2 gateways, moto
    assert _wait_gone(report["pids"]) == []


def test_ctrl_c_stops_and_removes_everything(tmp_path: Path) -> None:
    bench = subprocess.Popen(_command("--seconds", "60", "--backends", "postgres", "--skip-moto",
                                      "--work-dir", str(tmp_path)),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    busy = threading.Event()

    def pump() -> None:
        assert bench.stderr is not None
        for line in bench.stderr:
            lines.append(line)
            if "postgres, 1 gateway:" in line:
                busy.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        assert busy.wait(WAIT), "".join(lines)
        database = re.search(r"postgres: database (\w+);", "".join(lines))
        assert database is not None
        assert _databases(database.group(1)) == [database.group(1)]
        children = _descendants(bench.pid)
        assert len(children) >= 9  # dev-cluster, 6 nodes, 2 gateways
        bench.send_signal(signal.SIGINT)
        assert bench.wait(WAIT) == 130
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
    assert "interrupted" in "".join(lines)
    assert list(tmp_path.iterdir()) == []
    assert _databases(database.group(1)) == []
    assert _wait_gone(children) == []
