"""``objectd bench``: measure any S3 endpoint, optionally beside a bare aiohttp ceiling.

It measures large-object PUT/GET throughput, small-object PUT/GET operations
per second and latency, ranged GETs and listing (see
:mod:`objectd.bench_phases`), the server's CPU time per operation when its
process is named (``--server-pid``), and this machine's single-core MD5 rate.
With ``--bare`` the same phases also run against a bare aiohttp server in a
subprocess (:mod:`objectd.bench_bare_server`), the ceiling of any aiohttp front
end here, and each figure is printed beside it.

The client is kept cheap so the benchmark measures the server, not itself:
requests are signed by a minimal SigV4 signer without hashing bodies, and
bodies are sent from and read into preallocated buffers without copies.
Results go to stdout (a table, or Markdown), progress to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import re
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from objectd.bench_phases import PHASES, BenchFailure, Plan, Step, Target
from objectd.bench_progress import ProgressLog

_Number = TypeVar("_Number", int, float)
_SIZE = re.compile(r"^\s*(\d+)\s*([a-zA-Z]*)\s*$")
_UNITS = {
    "": 1, "b": 1,
    "k": 1 << 10, "kib": 1 << 10, "kb": 1000,
    "m": 1 << 20, "mib": 1 << 20, "mb": 1000**2,
    "g": 1 << 30, "gib": 1 << 30, "gb": 1000**3,
}


def parse_size(text: str) -> int:
    """A byte count such as ``4096``, ``4KiB``, ``64MiB`` or ``1G`` (K, M and G
    are binary like KiB, MiB and GiB; KB, MB and GB are decimal, as in dd)."""
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 4096, 4KiB, 64MiB)")
    return int(match.group(1)) * _UNITS[unit]


def _positive(convert: Callable[[str], _Number]) -> Callable[[str], _Number]:
    """An argument type: ``convert``, then refuse zero and negatives."""

    def parse(text: str) -> _Number:
        try:
            value = convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
        return value

    return parse


def parse_phases(text: str) -> list[str]:
    """The phases of a comma list (``large,small,ranged,list``), each once."""
    chosen = [p.strip() for p in text.split(",") if p.strip()]
    unknown = sorted(set(chosen) - set(PHASES))
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"phases are a comma list of {','.join(PHASES)}, not {text!r}")
    return [p for p in PHASES if p in chosen]


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``bench`` command's options to ``parser``."""
    defaults = Plan()
    size, count, seconds = _positive(parse_size), _positive(int), _positive(float)
    target = parser.add_argument_group("endpoint")
    target.add_argument("--endpoint", required=True, help="S3 endpoint URL, e.g. http://127.0.0.1:9000")
    target.add_argument("--access-key", help="access key (default: $AWS_ACCESS_KEY_ID)")
    target.add_argument("--secret-key", help="secret key (default: $AWS_SECRET_ACCESS_KEY)")
    target.add_argument("--region", default="us-east-1", help="signing region (default us-east-1)")
    target.add_argument("--bucket", help="use this existing bucket (default: create a fresh bench-<random> "
                                         "bucket and delete it at the end)")
    target.add_argument("--insecure", action="store_true", help="do not verify the TLS certificate")
    target.add_argument("--server-pid", type=int, action="append", metavar="PID",
                        help="a server process whose CPU time (utime+stime of the process itself, not its "
                             "children) counts per operation; repeat for a server of several processes")
    target.add_argument("--keep", action="store_true", help="leave the objects (and bucket) written")

    run = parser.add_argument_group("phases")
    run.add_argument("--phases", type=parse_phases, default=list(PHASES),
                     help=f"comma list of phases to run (default {','.join(PHASES)})")
    run.add_argument("--bare", action="store_true",
                     help="also measure a bare aiohttp server on 127.0.0.1 (the ceiling) and show ratios")
    run.add_argument("--large-size", type=size, default=defaults.large_size, help="large object size (64MiB)")
    run.add_argument("--large-count", type=count, default=defaults.large_count,
                     help=f"large objects to PUT and GET ({defaults.large_count})")
    run.add_argument("--large-concurrency", type=count, default=defaults.large_concurrency)
    run.add_argument("--small-size", type=size, default=defaults.small_size, help="small object size (4KiB)")
    run.add_argument("--small-count", type=count, default=defaults.small_count,
                     help=f"small objects to PUT and GET ({defaults.small_count})")
    run.add_argument("--small-concurrency", type=count, default=defaults.small_concurrency)
    run.add_argument("--range-size", type=size, default=defaults.range_size, help="ranged GET length (64KiB)")
    run.add_argument("--ranged-count", type=count, default=defaults.ranged_count,
                     help=f"ranged GETs ({defaults.ranged_count})")
    run.add_argument("--ranged-concurrency", type=count, default=defaults.ranged_concurrency)
    run.add_argument("--list-keys", type=count, default=defaults.list_keys,
                     help=f"keys written then listed ({defaults.list_keys})")
    run.add_argument("--list-page", type=count, default=defaults.list_page,
                     help=f"keys per listing page ({defaults.list_page})")
    run.add_argument("--list-repeats", type=count, default=defaults.list_repeats,
                     help=f"full listings timed ({defaults.list_repeats})")
    run.add_argument("--step-seconds", type=seconds, default=defaults.step_seconds,
                     help=f"time cap of each measured step ({defaults.step_seconds:g} s): a step stops at its "
                          "count or its time, whichever comes first")
    run.add_argument("--setup-seconds", type=seconds, default=defaults.setup_seconds,
                     help=f"time cap of writing the listing's keys ({defaults.setup_seconds:g} s)")

    out = parser.add_argument_group("output")
    out.add_argument("--json", metavar="FILE", help="also write every figure and step as JSON to FILE")
    out.add_argument("--markdown", action="store_true", help="print the results as a Markdown table")


@dataclass(frozen=True)
class BenchOptions:
    """A benchmark run, as the command line asked for it."""

    endpoint: str
    access_key: str
    secret_key: str
    region: str
    bucket: str | None
    phases: list[str]
    plan: Plan
    bare: bool
    verify_tls: bool
    server_pids: list[int]
    keep: bool

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> BenchOptions:
        """The options of parsed arguments (ValueError naming what is missing or wrong)."""
        access_key = args.access_key or os.environ.get("AWS_ACCESS_KEY_ID")
        secret_key = args.secret_key or os.environ.get("AWS_SECRET_ACCESS_KEY")
        if not access_key or not secret_key:
            raise ValueError("no credentials: pass --access-key and --secret-key "
                             "or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        from objectd.bench_client import Endpoint

        Endpoint.parse(args.endpoint)
        plan = Plan(
            large_size=args.large_size, large_count=args.large_count, large_concurrency=args.large_concurrency,
            small_size=args.small_size, small_count=args.small_count, small_concurrency=args.small_concurrency,
            range_size=args.range_size, ranged_count=args.ranged_count,
            ranged_concurrency=args.ranged_concurrency,
            list_keys=args.list_keys, list_page=args.list_page, list_repeats=args.list_repeats,
            step_seconds=args.step_seconds, setup_seconds=args.setup_seconds,
        )
        return cls(args.endpoint, access_key, secret_key, args.region, args.bucket, list(args.phases), plan,
                   args.bare, not args.insecure, list(args.server_pid or ()), args.keep)


@dataclass
class BenchResults:
    """What a run measured."""

    endpoint_steps: list[Step]
    bare_steps: list[Step]
    bucket: str
    bucket_created: bool
    bare_url: str | None
    md5_rate: float
    cleanup_error: str | None = None


async def measure(options: BenchOptions) -> BenchResults:
    """Run the benchmark: the endpoint's phases, then the bare server's."""
    from objectd.bench_bare_server import bare_server_process
    from objectd.bench_client import BenchClient, Endpoint, open_session
    from objectd.bench_cpu import ServerProcesses
    from objectd.bench_md5_rate import md5_rate
    from objectd.bench_phases import Payloads, PhaseRunner
    from objectd.bench_signer import RequestSigner

    progress = ProgressLog()
    endpoint = Endpoint.parse(options.endpoint)
    server = ServerProcesses.of(options.server_pids)
    server.cpu_seconds()  # a wrong --server-pid fails now, not after the first phase
    progress.line("measuring single-core MD5 …")
    rate = md5_rate()
    plan = options.plan
    payloads = Payloads(plan)
    runner = PhaseRunner(plan, payloads, progress)
    run_prefix = f"run-{secrets.token_hex(4)}/"
    bucket = options.bucket or f"bench-{secrets.token_hex(6)}"

    signer = RequestSigner(options.access_key, options.secret_key, options.region)

    async with contextlib.AsyncExitStack() as stack:
        bare = await stack.enter_async_context(bare_server_process()) if options.bare else None
        session = await stack.enter_async_context(open_session(plan.max_concurrency, options.verify_tls))
        target = Target("endpoint", BenchClient(session, endpoint, signer), bucket, run_prefix, server,
                        check_content=True)
        results = BenchResults(target.steps, [], bucket, options.bucket is None, bare.url if bare else None, rate)
        if results.bucket_created:
            progress.line(f"endpoint: creating bucket {bucket}")
            await target.client.create_bucket(bucket, options.region)
        try:
            await runner.run(target, options.phases)
        finally:
            if not options.keep:
                results.cleanup_error = await _clean_up(target, results.bucket_created, progress)
        if bare is not None:
            # The bare server stores nothing, so there is nothing to clean up after it.
            bare_target = Target("bare", BenchClient(session, Endpoint.parse(bare.url), signer), bucket,
                                 run_prefix, ServerProcesses.of([bare.pid]), check_content=False)
            await bare_target.client.create_bucket(bucket, options.region)
            await runner.run(bare_target, options.phases)
            results.bare_steps = bare_target.steps
        return results


async def _clean_up(target: Target, delete_bucket: bool, progress: ProgressLog) -> str | None:
    """Remove what the run wrote; the failure, if any, as text (it must not
    hide the run's own outcome)."""
    from objectd.bench_phases import remove_run_objects

    try:
        progress.line(f"endpoint: removing the objects under {target.bucket}/{target.prefix}")
        removed = await remove_run_objects(target, progress)
        progress.line(f"endpoint: {removed} objects removed")
        if delete_bucket:
            await target.client.delete_bucket(target.bucket)
            progress.line(f"endpoint: bucket {target.bucket} deleted")
    except Exception as exc:  # noqa: BLE001 - reported, never raised over the run's outcome
        failure = f"{type(exc).__name__}: {exc}"
        progress.line(f"endpoint: could not remove the run's objects: {failure}")
        return failure
    return None


def _cpu_share(steps: list[Step]) -> str:
    wall = sum(s.seconds for s in steps if s.name != "page")
    used = sum(s.bench_cpu for s in steps if s.name != "page")
    return f"{100 * used / wall:.0f}% of a core" if wall > 0 else "-"


def _summary(options: BenchOptions, results: BenchResults) -> str:
    mib = 1 << 20
    lines = [
        f"objectd bench  {time.strftime('%Y-%m-%d %H:%M:%S')}",
        f"  endpoint   {options.endpoint}  bucket {results.bucket}"
        + (" (created for the run)" if results.bucket_created else ""),
    ]
    if results.bare_url:
        lines.append(f"  bare       {results.bare_url}  (aiohttp, discards PUT bodies, serves GETs from memory)")
    if options.server_pids:
        lines.append(f"  server CPU utime+stime of pid {', '.join(map(str, options.server_pids))} "
                     "(/proc/PID/stat; the processes themselves, not their children)")
    lines.append(f"  MD5        {results.md5_rate / mib:,.0f} MiB/s on one core (hashlib; every PUT pays it "
                 "for the ETag)")
    return "\n".join(lines) + "\n"


def _meta(options: BenchOptions, results: BenchResults) -> dict[str, Any]:
    return {
        "endpoint": options.endpoint,
        "bucket": results.bucket,
        "bucket_created": results.bucket_created,
        "bare": results.bare_url,
        "phases": options.phases,
        "plan": dataclasses.asdict(options.plan),
        "server_pids": options.server_pids,
        "md5_bytes_per_second": results.md5_rate,
        "cleanup_error": results.cleanup_error,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def run_bench(args: argparse.Namespace) -> int:
    """Run ``objectd bench`` with parsed arguments; the exit status (0 when
    every phase ran and every check passed)."""
    import aiohttp

    from objectd.bench_client import S3RequestError
    from objectd.bench_report import build_figures, render_markdown, render_table, to_json

    try:
        options = BenchOptions.from_args(args)
    except ValueError as exc:
        print(f"objectd bench: {exc}", file=sys.stderr)
        return 2
    try:
        results = asyncio.run(measure(options))
    except KeyboardInterrupt:
        print("objectd bench: interrupted", file=sys.stderr)
        return 130
    except ProcessLookupError as exc:
        print(f"objectd bench: --server-pid: {exc}", file=sys.stderr)
        return 2
    except (TimeoutError, BenchFailure, S3RequestError, aiohttp.ClientError, OSError, ValueError) as exc:
        print(f"objectd bench: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    figures = build_figures(results.endpoint_steps, results.bare_steps)
    print(_summary(options, results))
    print(render_markdown(figures) if args.markdown else render_table(figures))
    notes = f"bench process CPU: {_cpu_share(results.endpoint_steps)} against the endpoint"
    if results.bare_steps:
        notes += f", {_cpu_share(results.bare_steps)} against the bare server"
    print(notes + " (its own load on this machine)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            out.write(to_json(_meta(options, results), figures, [*results.endpoint_steps, *results.bare_steps]))
    if results.cleanup_error:
        print(f"objectd bench: could not remove the run's objects: {results.cleanup_error}", file=sys.stderr)
        return 1
    return 0
