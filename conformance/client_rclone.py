"""rclone (the Debian package) as its users drive it, with an ``s3`` remote of
provider ``Other``: copy, sync (twice: the second copies nothing), check
(size and MD5), lsf, cat, moveto, purge and a multipart upload; bytes
verified by SHA-256."""

from __future__ import annotations

import re
import subprocess

from conformance.context import CheckContext
from conformance.expect import expect, expect_equal
from conformance.external import binary, clean_environment, run
from conformance.payload import MiB, sha256_file, tree_digests, write_random_file
from conformance.registry import check

GROUP = "rclone"
REMOTE = "conformance"


def rclone(ctx: CheckContext, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """One rclone command with the remote ``conformance:`` set to the endpoint."""
    command = [binary("rclone"), "--config", str(ctx.workdir / "rclone.conf"), "--retries", "1",
               "--low-level-retries", "2", "--contimeout", "10s", "--timeout", "60s"]
    if ctx.endpoint.ca_bundle:
        command += ["--ca-cert", ctx.endpoint.ca_bundle]
    prefix = f"RCLONE_CONFIG_{REMOTE.upper()}_"
    env = clean_environment({
        prefix + "TYPE": "s3",
        prefix + "PROVIDER": "Other",
        prefix + "ENDPOINT": ctx.endpoint.url,
        prefix + "REGION": ctx.endpoint.region,
        prefix + "ACCESS_KEY_ID": ctx.endpoint.root.access_key,
        prefix + "SECRET_ACCESS_KEY": ctx.endpoint.root.secret_key,
        prefix + "FORCE_PATH_STYLE": "true",
    }, ctx.workdir)
    return run(command + list(args), env, check=check, label=f"rclone {args[0]}")


def _tree(ctx: CheckContext, name: str) -> dict[str, str]:
    root = ctx.workdir / name
    for index, size in enumerate([0, 10, 40_000, 1 * MiB + 1]):
        write_random_file(root / f"d{index % 2}" / f"f{index}.bin", size, 80 + index)
    write_random_file(root / "ü ñ/space name.txt", 300, 85)
    # Above the 5 MiB cutoff the suite sets: uploaded in 5 MiB parts.
    write_random_file(root / "big.bin", 12 * MiB + 7, 86)
    return tree_digests(root)


def _copied(stderr: str) -> list[str]:
    return re.findall(r"INFO\s*:\s*(.+?): Copied \(", stderr)


MULTIPART = ["--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"]


@check(GROUP, "copy up (with a multipart file), check size and MD5, copy down", time_limit=180)
def _copy_check(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    digests = _tree(ctx, "tree")
    rclone(ctx, "copy", *MULTIPART, str(ctx.workdir / "tree"), f"{REMOTE}:{bucket}/tree")
    head = ctx.s3.head_object(Bucket=bucket, Key="tree/big.bin")
    expect(head["ETag"].endswith('-3"'), f"big.bin ETag {head['ETag']} is not a 3-part multipart ETag")
    rclone(ctx, "check", str(ctx.workdir / "tree"), f"{REMOTE}:{bucket}/tree")
    rclone(ctx, "copy", f"{REMOTE}:{bucket}/tree", str(ctx.workdir / "down"))
    expect_equal(tree_digests(ctx.workdir / "down"), digests, "sha256 of every file copied back")


@check(GROUP, "sync twice (the second copies nothing); sync removes deleted files", time_limit=180)
def _sync_twice(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    digests = _tree(ctx, "tree")
    first = rclone(ctx, "sync", "-v", *MULTIPART, str(ctx.workdir / "tree"), f"{REMOTE}:{bucket}/t").stderr
    expect_equal(sorted(_copied(first)), sorted(digests), "files copied by the first sync")
    second = rclone(ctx, "sync", "-v", *MULTIPART, str(ctx.workdir / "tree"), f"{REMOTE}:{bucket}/t").stderr
    expect_equal(_copied(second), [], "files copied by the second sync")
    (ctx.workdir / "tree" / "d0" / "f0.bin").unlink()
    rclone(ctx, "sync", str(ctx.workdir / "tree"), f"{REMOTE}:{bucket}/t")
    listed = rclone(ctx, "lsf", "-R", "--files-only", f"{REMOTE}:{bucket}/t").stdout.split("\n")
    expect_equal(sorted(filter(None, listed)), sorted(k for k in digests if k != "d0/f0.bin"), "files after sync")
    rclone(ctx, "check", str(ctx.workdir / "tree"), f"{REMOTE}:{bucket}/t")


@check(GROUP, "lsf, cat, moveto, purge")
def _lsf_cat_moveto_purge(ctx: CheckContext) -> None:
    bucket = ctx.bucket()
    source = ctx.workdir / "one" / "note.txt"
    source.parent.mkdir()
    text = "".join(f"line {i}: the quick brown fox\n" for i in range(200))
    source.write_text(text)
    rclone(ctx, "copy", str(ctx.workdir / "one"), f"{REMOTE}:{bucket}/a/b")
    expect_equal(rclone(ctx, "lsf", f"{REMOTE}:{bucket}/").stdout.split(), ["a/"], "lsf of the bucket")
    expect_equal(sorted(rclone(ctx, "lsf", "-R", f"{REMOTE}:{bucket}").stdout.split()),
                 ["a/", "a/b/", "a/b/note.txt"], "lsf -R")
    expect_equal(rclone(ctx, "cat", f"{REMOTE}:{bucket}/a/b/note.txt").stdout, text, "cat")
    rclone(ctx, "moveto", f"{REMOTE}:{bucket}/a/b/note.txt", f"{REMOTE}:{bucket}/moved/renamed.txt")
    expect_equal(rclone(ctx, "lsf", "-R", "--files-only", f"{REMOTE}:{bucket}").stdout.split(),
                 ["moved/renamed.txt"], "files after moveto")
    rclone(ctx, "copyto", f"{REMOTE}:{bucket}/moved/renamed.txt", str(ctx.workdir / "back.txt"))
    expect_equal(sha256_file(ctx.workdir / "back.txt"), sha256_file(source), "sha256 after moveto")
    rclone(ctx, "purge", f"{REMOTE}:{bucket}/moved")
    expect_equal(rclone(ctx, "lsf", "-R", f"{REMOTE}:{bucket}").stdout.split(), [], "lsf after purge")
