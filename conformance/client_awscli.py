"""The aws cli (``awscli`` from PyPI) as its users drive it: ``s3`` commands
(mb, cp small and multipart, sync, ls, rm --recursive, presign, rb) and
``s3api`` calls, with no user configuration; bytes verified by SHA-256."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from conformance.context import CheckContext, empty_and_delete_bucket, new_bucket_name
from conformance.expect import expect, expect_equal
from conformance.external import aws_cli, binary, clean_environment, run
from conformance.payload import MiB, sha256_file, tree_digests, write_random_file
from conformance.registry import check

GROUP = "aws cli"


def aws(ctx: CheckContext, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """One aws cli command against the endpoint as the main user."""
    home = ctx.workdir / "aws-home"
    home.mkdir(exist_ok=True)
    env = clean_environment({
        "AWS_ACCESS_KEY_ID": ctx.endpoint.root.access_key,
        "AWS_SECRET_ACCESS_KEY": ctx.endpoint.root.secret_key,
        "AWS_DEFAULT_REGION": ctx.endpoint.region,
        "AWS_CONFIG_FILE": str(home / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_PAGER": "",
    }, home)
    command = [*aws_cli(), "--endpoint-url", ctx.endpoint.url]
    if ctx.endpoint.ca_bundle:
        command += ["--ca-bundle", ctx.endpoint.ca_bundle]
    return run(command + list(args), env, check=check, label=f"aws {' '.join(args[:2])}")


def s3api(ctx: CheckContext, *args: str) -> dict[str, Any]:
    """An ``aws s3api`` call's JSON output (empty for calls that print nothing)."""
    out = aws(ctx, "s3api", *args, "--output", "json").stdout
    return json.loads(out) if out.strip() else {}


def _mb(ctx: CheckContext) -> str:
    """A bucket made with ``aws s3 mb`` (removed afterwards like any other)."""
    name = new_bucket_name("cli")
    aws(ctx, "s3", "mb", f"s3://{name}")
    ctx.on_close(lambda: empty_and_delete_bucket(ctx.s3, name))
    return name


def _transfers(output: str, verb: str) -> list[str]:
    return re.findall(rf"^{verb}: .+ to (.+?)\s*$", output, re.MULTILINE)


def _make_tree(root: Path) -> None:
    for index, size in enumerate([0, 1, 1000, 70_000, 300_000, 2 * MiB]):
        write_random_file(root / f"dir{index % 2}" / f"file-{index}.bin", size, 60 + index)
    write_random_file(root / "top level ü.txt", 500, 70)


@check(GROUP, "s3 mb, s3 ls, s3 rb")
def _mb_ls_rb(ctx: CheckContext) -> None:
    name = new_bucket_name("cli")
    aws(ctx, "s3", "mb", f"s3://{name}")
    expect(name in aws(ctx, "s3", "ls").stdout.split(), "s3 ls does not list the new bucket")
    aws(ctx, "s3", "rb", f"s3://{name}")
    expect(name not in aws(ctx, "s3", "ls").stdout.split(), "bucket still listed after s3 rb")


@check(GROUP, "s3 cp up and down, small and multipart", time_limit=180)
def _cp_round_trip(ctx: CheckContext) -> None:
    bucket = _mb(ctx)
    small = write_random_file(ctx.workdir / "small.bin", 10_000, 61)
    big = write_random_file(ctx.workdir / "big.bin", 17 * MiB + 99, 62)  # 8 MiB parts by default: 3 parts
    for path in (small, big):
        aws(ctx, "s3", "cp", str(path), f"s3://{bucket}/in/{path.name}")
        back = ctx.workdir / f"back-{path.name}"
        aws(ctx, "s3", "cp", f"s3://{bucket}/in/{path.name}", str(back))
        expect_equal(sha256_file(back), sha256_file(path), f"sha256 of {path.name}")
    head = s3api(ctx, "head-object", "--bucket", bucket, "--key", "in/big.bin")
    expect(head["ETag"].endswith('-3"'), f"ETag {head['ETag']} of the 17 MiB upload is not a 3-part ETag")


@check(GROUP, "s3 sync up twice (the second transfers nothing), then a change, then sync down", time_limit=180)
def _sync_twice(ctx: CheckContext) -> None:
    bucket = _mb(ctx)
    local = ctx.workdir / "tree"
    _make_tree(local)
    first = aws(ctx, "s3", "sync", str(local), f"s3://{bucket}/tree").stdout
    expect_equal(len(_transfers(first, "upload")), 7, "files uploaded by the first sync")
    second = aws(ctx, "s3", "sync", str(local), f"s3://{bucket}/tree").stdout
    expect_equal(_transfers(second, "upload"), [], "files uploaded by the second sync")
    write_random_file(local / "dir1" / "file-1.bin", 4321, 71)
    third = aws(ctx, "s3", "sync", str(local), f"s3://{bucket}/tree").stdout
    expect_equal(_transfers(third, "upload"), [f"s3://{bucket}/tree/dir1/file-1.bin"], "files uploaded after a change")
    down = ctx.workdir / "down"
    aws(ctx, "s3", "sync", f"s3://{bucket}/tree", str(down))
    expect_equal(tree_digests(down), tree_digests(local), "sha256 of every synced file")


@check(GROUP, "s3 ls --recursive, s3 rm --recursive")
def _ls_rm_recursive(ctx: CheckContext) -> None:
    bucket = _mb(ctx)
    local = ctx.workdir / "tree"
    _make_tree(local)
    aws(ctx, "s3", "cp", "--recursive", str(local), f"s3://{bucket}/t/")
    listed = aws(ctx, "s3", "ls", "--recursive", f"s3://{bucket}/").stdout
    keys = sorted(line.split(None, 3)[3] for line in listed.splitlines() if line.strip())
    expect_equal(keys, sorted(f"t/{p}" for p in tree_digests(local)), "keys listed")
    top = aws(ctx, "s3", "ls", f"s3://{bucket}/t/").stdout
    expect("PRE dir0/" in top and "PRE dir1/" in top, f"s3 ls shows no folders: {top!r}")
    removed = aws(ctx, "s3", "rm", "--recursive", f"s3://{bucket}/t/").stdout
    expect_equal(len(re.findall(r"^delete: s3://", removed, re.MULTILINE)), 7, "objects deleted")
    expect_equal(aws(ctx, "s3", "ls", "--recursive", f"s3://{bucket}/", check=False).stdout.strip(), "",
                 "listing after rm")


@check(GROUP, "s3 presign, then curl downloads the object")
def _presign_curl(ctx: CheckContext) -> None:
    curl = binary("curl")
    bucket = _mb(ctx)
    source = write_random_file(ctx.workdir / "shared file.bin", 123_456, 63)
    aws(ctx, "s3", "cp", str(source), f"s3://{bucket}/shared file.bin")
    url = aws(ctx, "s3", "presign", f"s3://{bucket}/shared file.bin", "--expires-in", "300").stdout.strip()
    target = ctx.workdir / "fetched.bin"
    command = [curl, "--silent", "--show-error", "--fail", "--max-time", "60", "--output", str(target)]
    if ctx.endpoint.ca_bundle:
        command += ["--cacert", ctx.endpoint.ca_bundle]
    run(command + [url], clean_environment({}, ctx.workdir))
    expect_equal(sha256_file(target), sha256_file(source), "sha256 of the curl download")


@check(GROUP, "s3api put-object, head-object, get-object, copy-object, list-objects-v2, delete-objects",
       time_limit=180)
def _s3api_calls(ctx: CheckContext) -> None:
    bucket = new_bucket_name("cli")
    location = ctx.create_bucket_arguments().get("CreateBucketConfiguration")
    s3api(ctx, "create-bucket", "--bucket", bucket,
          *(["--create-bucket-configuration", json.dumps(location)] if location else []))
    ctx.on_close(lambda: empty_and_delete_bucket(ctx.s3, bucket))
    source = write_random_file(ctx.workdir / "body.bin", 50_000, 64)
    put = s3api(ctx, "put-object", "--bucket", bucket, "--key", "a/b.bin", "--body", str(source),
                "--content-type", "application/x-test", "--metadata", "colour=blue")
    head = s3api(ctx, "head-object", "--bucket", bucket, "--key", "a/b.bin")
    expect_equal((head["ETag"], head["ContentLength"], head["ContentType"], head["Metadata"]),
                 (put["ETag"], 50_000, "application/x-test", {"colour": "blue"}), "head-object")
    s3api(ctx, "copy-object", "--bucket", bucket, "--key", "a/copy.bin", "--copy-source", f"{bucket}/a/b.bin")
    target = ctx.workdir / "got.bin"
    s3api(ctx, "get-object", "--bucket", bucket, "--key", "a/copy.bin", str(target))
    expect_equal(sha256_file(target), sha256_file(source), "sha256 of get-object of the copy")
    listed = s3api(ctx, "list-objects-v2", "--bucket", bucket, "--prefix", "a/")
    expect_equal([o["Key"] for o in listed["Contents"]], ["a/b.bin", "a/copy.bin"], "list-objects-v2 keys")
    deleted = s3api(ctx, "delete-objects", "--bucket", bucket, "--delete",
                    json.dumps({"Objects": [{"Key": "a/b.bin"}, {"Key": "a/copy.bin"}]}))
    expect_equal(sorted(d["Key"] for d in deleted["Deleted"]), ["a/b.bin", "a/copy.bin"], "delete-objects")
    expect_equal(s3api(ctx, "list-objects-v2", "--bucket", bucket).get("KeyCount", 0), 0, "keys left")
