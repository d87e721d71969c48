"""``python -m conformance``: run the suite against an S3 endpoint and print the table.

Exit status 0 when every check that ran passed, 1 otherwise, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from conformance.catalog import all_checks, select
from conformance.client_versions import client_versions
from conformance.endpoint import Credentials, Endpoint
from conformance.report import render_markdown, render_text
from conformance.runner import FAIL, Outcome, run_checks


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line: endpoint, credentials, selection and report options."""
    parser = argparse.ArgumentParser(prog="python -m conformance", description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", help="S3 endpoint URL, e.g. http://127.0.0.1:9000")
    parser.add_argument("--access-key", default=os.environ.get("AWS_ACCESS_KEY_ID"))
    parser.add_argument("--secret-key", default=os.environ.get("AWS_SECRET_ACCESS_KEY"))
    parser.add_argument("--alt-access-key", help="a second user's access key (access checks)")
    parser.add_argument("--alt-secret-key", help="a second user's secret key")
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    parser.add_argument("--ca-bundle", help="PEM certificates to trust for an HTTPS endpoint")
    parser.add_argument("--report", type=Path, help="write the table as Markdown to this file")
    parser.add_argument("--label", help="how the report names the endpoint (its URL by default)")
    parser.add_argument("--only", action="append", default=[], metavar="GLOB",
                        help="run only checks whose 'group: name' matches (repeatable), e.g. 'rclone:*'")
    parser.add_argument("--require-clients", action="store_true", default=os.environ.get("CI") == "true",
                        help="a missing client fails its checks instead of skipping them (default when CI=true)")
    parser.add_argument("--list", action="store_true", help="list the checks and exit")
    args = parser.parse_args(argv)
    if not args.list and not (args.endpoint and args.access_key and args.secret_key):
        parser.error("--endpoint, --access-key and --secret-key are required")
    if bool(args.alt_access_key) != bool(args.alt_secret_key):
        parser.error("--alt-access-key and --alt-secret-key go together")
    return args


def _progress(outcome: Outcome) -> None:
    print(f"{outcome.status:4}  {outcome.seconds:6.1f}s  {outcome.check.id}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected checks, print the table, write the report; the exit status."""
    args = parse_arguments(argv)
    checks = select(all_checks(), args.only)
    if args.list:
        print("\n".join(c.id for c in checks))
        return 0
    if not checks:
        print(f"no check matches {args.only}", file=sys.stderr)
        return 2
    alt = Credentials(args.alt_access_key, args.alt_secret_key) if args.alt_access_key else None
    endpoint = Endpoint(args.endpoint, Credentials(args.access_key, args.secret_key), alt, args.region, args.ca_bundle)
    started = time.monotonic()
    outcomes = run_checks(checks, endpoint, args.require_clients, _progress)
    print(render_text(outcomes), end="")
    print(f"({time.monotonic() - started:.0f} s against {endpoint.url})")
    if args.report is not None:
        args.report.write_text(render_markdown(outcomes, args.label or f"`{endpoint.url}`", client_versions()))
    return 1 if any(o.status == FAIL for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
