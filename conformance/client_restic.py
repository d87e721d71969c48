"""restic (the Debian package) as its users drive it on an ``s3:`` repository:
init, backup, change files, backup again, check --read-data, restore and
compare (SHA-256), forget --prune."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conformance.context import CheckContext
from conformance.expect import expect_equal
from conformance.external import binary, clean_environment, run
from conformance.payload import MiB, tree_digests, write_random_file
from conformance.registry import check

GROUP = "restic"


def restic(ctx: CheckContext, repository: str, *args: str) -> subprocess.CompletedProcess[str]:
    """One restic command on ``repository`` as the main user."""
    command = [binary("restic"), "--no-cache", "--quiet"]
    if ctx.endpoint.ca_bundle:
        command += ["--cacert", ctx.endpoint.ca_bundle]
    env = clean_environment({
        "RESTIC_REPOSITORY": repository,
        "RESTIC_PASSWORD": "conformance-repository-password",
        "AWS_ACCESS_KEY_ID": ctx.endpoint.root.access_key,
        "AWS_SECRET_ACCESS_KEY": ctx.endpoint.root.secret_key,
        "AWS_DEFAULT_REGION": ctx.endpoint.region,
    }, ctx.workdir)
    return run(command + list(args), env, timeout=150, label=f"restic {args[0]}")


def _snapshots(ctx: CheckContext, repository: str) -> list[dict[str, object]]:
    snapshots: list[dict[str, object]] = json.loads(restic(ctx, repository, "snapshots", "--json").stdout or "[]")
    return snapshots


@check(GROUP, "init, backup, change, backup, check --read-data, restore, forget --prune", time_limit=300)
def _backup_cycle(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    repository = f"s3:{ctx.endpoint.base_url}/{bucket}/repo"
    data = ctx.workdir / "data"
    for index, size in enumerate([0, 100, 50_000, 700_000, 3 * MiB]):
        write_random_file(data / f"d{index % 2}" / f"file{index}.bin", size, 100 + index)
    restic(ctx, repository, "init")
    restic(ctx, repository, "backup", str(data))
    write_random_file(data / "d1" / "file1.bin", 200_000, 110)  # changed
    write_random_file(data / "new" / "added.bin", 2 * MiB, 111)  # added
    (data / "d0" / "file0.bin").unlink()  # removed
    restic(ctx, repository, "backup", str(data))
    expect_equal(len(_snapshots(ctx, repository)), 2, "snapshots")
    restic(ctx, repository, "check", "--read-data")
    target = ctx.workdir / "restored"
    restic(ctx, repository, "restore", "latest", "--target", str(target))
    restored = target / Path(*data.parts[1:])  # restic restores under the absolute path
    expect_equal(tree_digests(restored), tree_digests(data), "sha256 of every restored file")
    restic(ctx, repository, "forget", "--keep-last", "1", "--prune")
    expect_equal(len(_snapshots(ctx, repository)), 1, "snapshots after forget --keep-last 1")
    restic(ctx, repository, "check", "--read-data")
