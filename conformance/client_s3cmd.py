"""s3cmd (the Debian package) as its users drive it, path-style with SigV4:
mb, put (small and multipart), get, ls, info, del, rb; bytes verified by
SHA-256."""

from __future__ import annotations

import subprocess

from conformance.context import CheckContext, empty_and_delete_bucket, new_bucket_name
from conformance.expect import expect, expect_equal
from conformance.external import binary, clean_environment, run
from conformance.payload import MiB, sha256_file, write_random_file
from conformance.registry import check

GROUP = "s3cmd"


def s3cmd(ctx: CheckContext, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """One s3cmd command with a configuration file naming the endpoint (path style, SigV4)."""
    config = ctx.workdir / "s3cmd.cfg"
    if not config.exists():
        lines = [
            "[default]",
            f"access_key = {ctx.endpoint.root.access_key}",
            f"secret_key = {ctx.endpoint.root.secret_key}",
            f"host_base = {ctx.endpoint.netloc}",
            f"host_bucket = {ctx.endpoint.netloc}",  # no %(bucket)s: path-style requests
            f"bucket_location = {ctx.endpoint.region}",
            f"use_https = {ctx.endpoint.tls}",
            "signature_v2 = False",
            "check_ssl_certificate = True",
            f"ca_certs_file = {ctx.endpoint.ca_bundle or ''}",
            "socket_timeout = 60",
            "max_retries = 1",
        ]
        config.write_text("\n".join(lines) + "\n")
    return run([binary("s3cmd"), "--config", str(config), *args], clean_environment({}, ctx.workdir), check=check,
               label=f"s3cmd {args[0]}")


@check(GROUP, "mb, put small and multipart, ls, info, get, del, rb", time_limit=180)
def _s3cmd_round_trip(ctx: CheckContext) -> None:
    bucket = new_bucket_name("s3cmd")
    s3cmd(ctx, "mb", f"s3://{bucket}")
    ctx.on_close(lambda: empty_and_delete_bucket(ctx.s3, bucket))
    small = write_random_file(ctx.workdir / "small file.bin", 30_000, 90)
    big = write_random_file(ctx.workdir / "big.bin", 12 * MiB + 3, 91)
    s3cmd(ctx, "put", str(small), f"s3://{bucket}/dir/small file.bin")
    s3cmd(ctx, "put", "--multipart-chunk-size-mb=5", str(big), f"s3://{bucket}/dir/big.bin")
    head = ctx.s3.head_object(Bucket=bucket, Key="dir/big.bin")
    expect(head["ETag"].endswith('-3"'), f"big.bin ETag {head['ETag']} is not a 3-part multipart ETag")
    listing = s3cmd(ctx, "ls", "--recursive", f"s3://{bucket}").stdout
    expect(f"s3://{bucket}/dir/small file.bin" in listing and f"s3://{bucket}/dir/big.bin" in listing,
           f"ls output lacks the objects: {listing!r}")
    info = s3cmd(ctx, "info", f"s3://{bucket}/dir/big.bin").stdout
    expect(str(12 * MiB + 3) in info, f"info does not give the size: {info!r}")
    for name, path in (("small file.bin", small), ("big.bin", big)):
        target = ctx.workdir / f"got-{name}"
        s3cmd(ctx, "get", f"s3://{bucket}/dir/{name}", str(target))
        expect_equal(sha256_file(target), sha256_file(path), f"sha256 of {name}")
    s3cmd(ctx, "del", f"s3://{bucket}/dir/small file.bin", f"s3://{bucket}/dir/big.bin")
    expect_equal(s3cmd(ctx, "ls", "--recursive", f"s3://{bucket}").stdout.strip(), "", "ls after del")
    s3cmd(ctx, "rb", f"s3://{bucket}")
    expect(bucket not in s3cmd(ctx, "ls").stdout, "bucket listed after rb")
