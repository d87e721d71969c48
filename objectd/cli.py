"""The ``objectd`` command: serve, storage nodes, certificates, user administration, benchmark."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from objectd.log_format import configure_logging
from objectd.settings import Settings, SettingsError, load_settings


def _serve_flags(args: argparse.Namespace) -> dict[str, Any]:
    flags: dict[str, Any] = {
        "data_dir": args.data_dir,
        "address": args.address,
        "drives": args.drives,
        "k": args.k,
        "m": args.m,
        "segment_size": args.segment_size,
        "backend": args.backend,
        "master_key_file": args.master_key_file,
        "tls_cert": args.tls_cert,
        "tls_key": args.tls_key,
        "region": args.region,
        "base_domains": args.base_domain or None,
        "inline_threshold": args.inline_threshold,
        "log_level": args.log_level,
    }
    if args.no_encrypt:
        flags["encrypt"] = False
    return flags


def _announce(settings: Settings, running: Any) -> None:
    root = running.root
    insecure = " --no-verify-ssl" if running.url.startswith("https") and settings.tls_cert.endswith("tls.crt") else ""
    print(
        f"objectd serving S3 at {running.url}\n"
        f"  data:       {settings.data_dir.resolve()}\n"
        f"  erasure:    {settings.k}+{settings.m}, {len(settings.drive_folders())} drives, "
        f"segment {settings.segment_size} bytes, encryption {'on' if settings.encrypt else 'off'}\n"
        f"  access key: {root.access_key}\n"
        f"  secret key: {root.secret_key}\n"
        f"Try it:\n"
        f"  export AWS_ACCESS_KEY_ID={root.access_key} AWS_SECRET_ACCESS_KEY={root.secret_key} "
        f"AWS_DEFAULT_REGION={settings.region}\n"
        f"  aws --endpoint-url {running.url}{insecure} s3 mb s3://my-bucket\n"
        f"  aws --endpoint-url {running.url}{insecure} s3 cp README.md s3://my-bucket/",
        flush=True,
    )


def run_event_loop(main: Any) -> Any:
    """Run ``main`` on uvloop (libuv, in C) when installed, else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the embedded server until interrupted."""
    from objectd.self_signed import make_self_signed
    from objectd.server import DataDirInUse, EmbeddedServer, serve_forever

    try:
        settings = load_settings(args.config, flags=_serve_flags(args))
    except SettingsError as exc:
        print(f"objectd: {exc}", file=sys.stderr)
        return 2
    if args.self_signed and not settings.tls_cert:
        cert, key = make_self_signed(settings.data_dir / "tls")
        settings.tls_cert, settings.tls_key = str(cert), str(key)
    configure_logging(settings.log_level, settings.log_json)
    server = EmbeddedServer(settings)
    try:
        run_event_loop(
            serve_forever(
                server,
                os.environ.get("OBJECTD_ROOT_ACCESS_KEY"),
                os.environ.get("OBJECTD_ROOT_SECRET_KEY"),
                lambda running: _announce(settings, running),
            )
        )
    except KeyboardInterrupt:
        pass
    except DataDirInUse as exc:
        print(f"objectd: {exc}", file=sys.stderr)
        return 1
    return 0


async def _with_users(args: argparse.Namespace, action: Callable[[Any], Awaitable[int]]) -> int:
    from objectd.credentials import SecretBox, UserDirectory
    from objectd.server import EmbeddedServer

    settings = load_settings(args.config, flags={"data_dir": args.data_dir})
    if settings.is_cluster:
        from objectd.gateway import ClusterGateway

        server: EmbeddedServer = ClusterGateway(settings)
    else:
        server = EmbeddedServer(settings)
    metadata = await server.open_metadata()
    try:
        return await action(UserDirectory(metadata, SecretBox(server.master_key())))
    finally:
        await metadata.close()


def cmd_user(args: argparse.Namespace) -> int:
    """User administration on the embedded server's data folder."""
    from metadata import errors as md_errors

    async def run(users: Any) -> int:
        if args.user_command in ("add", "new-key"):
            if args.user_command == "new-key" and not any(u.name == args.name for u in await users.users()):
                print(f"objectd: no user {args.name!r}", file=sys.stderr)
                return 1
            if args.user_command == "add" and any(u.name == args.name for u in await users.users()):
                print(f"objectd: user {args.name!r} exists (use new-key for another key)", file=sys.stderr)
                return 1
            issued = await users.add_key(args.name)
            print(f"user:       {issued.user}\naccess key: {issued.access_key}\nsecret key: {issued.secret_key}")
            return 0
        if args.user_command == "list":
            for u in await users.users():
                print(f"{u.name}\t{u.access_key}")
            return 0
        try:
            if args.user_command == "remove":
                await users.remove_user(args.name)
            else:
                await users.remove_key(args.access_key)
        except md_errors.UserNotFound:
            print("objectd: no such user or key", file=sys.stderr)
            return 1
        return 0

    return asyncio.run(_with_users(args, run))


def cmd_bench(args: argparse.Namespace) -> int:
    """Measure an S3 endpoint."""
    from objectd.bench import run_bench

    return run_bench(args)


def cmd_certs(args: argparse.Namespace) -> int:
    """Create the cluster CA and issue node and gateway certificates."""
    from objectd.certs import create_ca, issue_gateway_cert, issue_node_cert

    try:
        if args.certs_command == "init":
            files = create_ca(args.dir)
        elif args.certs_command == "node":
            files = issue_node_cert(args.dir, args.id, args.host or [], args.out, replace=args.replace)
        else:
            files = issue_gateway_cert(args.dir, args.name, args.out, replace=args.replace)
    except (OSError, ValueError) as exc:
        print(f"objectd: {exc}", file=sys.stderr)
        return 1
    print(f"certificate: {files.cert}\nkey:         {files.key}")
    return 0


def cmd_node(args: argparse.Namespace) -> int:
    """Run a storage node until SIGTERM or Ctrl-C."""
    from pathlib import Path

    from objectd.node_server import NodeConfig, NodeStartError, open_node, parse_address, serve_node

    configure_logging(args.log_level or "INFO", False)
    try:
        host, port = parse_address(args.address)
        server = open_node(NodeConfig(
            data_dir=Path(args.data), host=host, port=port, ca=Path(args.ca), cert=Path(args.cert),
            key=Path(args.key), node_id=args.id, site=args.site, zone=args.zone,
            capacity_bytes=args.capacity, draining=args.draining,
        ))
    except (NodeStartError, ValueError) as exc:
        print(f"objectd: {exc}", file=sys.stderr)
        return 1

    def announce(url: str) -> None:
        print(f"objectd node {server.node_id} listening at {url}", flush=True)

    try:
        run_event_loop(serve_node(server, host, port, announce))
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # the address is taken or not ours
        print(f"objectd: {exc}", file=sys.stderr)
        return 1
    return 0


def _announce_gateway(settings: Settings, running: Any, metadata: str) -> None:
    root = running.root
    print(
        f"objectd gateway serving S3 at {running.url}\n"
        f"  metadata:   {metadata}\n"
        f"  cluster:    {settings.cluster_map}\n"
        f"  erasure:    {settings.k}+{settings.m}, write quorum {settings.effective_write_quorum()}, "
        f"encryption {'on' if settings.encrypt else 'off'}\n"
        f"  access key: {root.access_key}\n"
        f"  secret key: {root.secret_key}",
        flush=True,
    )


def cmd_gateway(args: argparse.Namespace) -> int:
    """Run a cluster gateway (remote nodes, shared metadata) until interrupted."""
    from objectd.gateway import ClusterGateway
    from objectd.metadata_url import MetadataUrl
    from metadata.errors import MetadataError
    from objectd.server import serve_forever
    from placement.cluster_map import ClusterMapError
    from s3api.errors import S3Error

    flags = {"address": args.address, "metadata_url": args.metadata_url, "log_level": args.log_level}
    try:
        settings = load_settings(args.config, flags=flags)
        if not settings.is_cluster:
            raise SettingsError(f"{args.config}: a gateway needs cluster_map (the cluster's nodes)")
        where = MetadataUrl.parse(settings.metadata_url, settings.data_dir).redacted()
    except (SettingsError, ValueError) as exc:
        print(f"objectd: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_json)
    server = ClusterGateway(settings)
    try:
        run_event_loop(
            serve_forever(
                server,
                os.environ.get("OBJECTD_ROOT_ACCESS_KEY"),
                os.environ.get("OBJECTD_ROOT_SECRET_KEY"),
                lambda running: _announce_gateway(settings, running, where),
            )
        )
    except KeyboardInterrupt:
        pass
    except (OSError, S3Error, MetadataError, ClusterMapError) as exc:  # address taken, metadata unreachable …
        print(f"objectd: gateway did not start: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_dev_cluster(args: argparse.Namespace) -> int:
    """Run nodes and gateways on loopback until Ctrl-C."""
    from objectd.dev_cluster import run_dev_cluster

    return run_dev_cluster(args)


def cmd_db(args: argparse.Namespace) -> int:
    """Apply the metadata schema migrations (idempotent; safe beside running gateways)."""
    from metadata.errors import MetadataError
    from objectd.metadata_url import MetadataUrl

    try:
        settings = load_settings(args.config, flags={"data_dir": args.data_dir,
                                                     "metadata_url": args.metadata_url})
        url = MetadataUrl.parse(settings.metadata_url, settings.data_dir)
    except (SettingsError, ValueError) as exc:
        print(f"objectd: {exc}", file=sys.stderr)
        return 2

    async def run() -> None:
        store = url.open_store(garbage_grace=settings.garbage_grace)
        await store.open()  # opening migrates, under the schema lock
        await store.close()

    try:
        asyncio.run(run())
    except (MetadataError, OSError) as exc:
        print(f"objectd: {url.redacted()}: {exc}", file=sys.stderr)
        return 1
    print(f"metadata schema up to date: {url.redacted()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar."""
    parser = argparse.ArgumentParser(prog="objectd", description="S3-compatible erasure-coded object store")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the embedded server (SQLite metadata, local drive folders)")
    serve.add_argument("data_dir", nargs="?", default=None, help="data folder (default: ./data)")
    serve.add_argument("--config", help="YAML settings file")
    serve.add_argument("--address", help="HOST:PORT to listen on (default 127.0.0.1:9000)")
    serve.add_argument("--drives", type=int, help="number of drive folders (default 6)")
    serve.add_argument("--k", type=int, help="data fragments per stripe (default 4)")
    serve.add_argument("--m", type=int, help="parity fragments per stripe (default 2)")
    serve.add_argument("--segment-size", type=int, help="segment size in bytes (default 1 MiB)")
    serve.add_argument("--backend", help="pyeclib backend (default isa_l_rs_vand)")
    serve.add_argument("--no-encrypt", action="store_true", help="store fragments unencrypted")
    serve.add_argument("--master-key-file", help="master key file (default DATA_DIR/master.key; "
                                                 "or set OBJECTD_MASTER_KEY)")
    serve.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    serve.add_argument("--tls-key", help="private key of --tls-cert (PEM)")
    serve.add_argument("--self-signed", action="store_true", help="serve HTTPS with a generated certificate")
    serve.add_argument("--region", help="region reported for buckets (default us-east-1)")
    serve.add_argument("--base-domain", action="append", help="domain for virtual-hosted-style requests")
    serve.add_argument("--inline-threshold", type=int, help="bodies up to this size are kept in metadata")
    serve.add_argument("--log-level", help="DEBUG, INFO, WARNING …")
    serve.set_defaults(func=cmd_serve)

    user = sub.add_parser("user", help="manage users and access keys")
    user.add_argument("--data-dir", default=None, help="data folder of the server (default ./data)")
    user.add_argument("--config", help="YAML settings file")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    for name, help_text in (("add", "create a user with an access key"),
                            ("new-key", "give a user another access key"),
                            ("remove", "remove a user and its keys")):
        p = user_sub.add_parser(name, help=help_text)
        p.add_argument("name")
    user_sub.add_parser("list", help="list users and their access keys")
    rk = user_sub.add_parser("remove-key", help="remove one access key")
    rk.add_argument("access_key")
    user.set_defaults(func=cmd_user)

    node = sub.add_parser("node", help="run a storage node (fragments over mutual-TLS HTTPS)")
    node.add_argument("--data", required=True, help="the node's data folder")
    node.add_argument("--address", default="0.0.0.0:9100", help="HOST:PORT to listen on (default 0.0.0.0:9100)")
    node.add_argument("--ca", required=True, help="the cluster CA certificate (file or CA folder)")
    node.add_argument("--cert", required=True, help="this node's certificate (PEM)")
    node.add_argument("--key", required=True, help="private key of --cert (PEM)")
    node.add_argument("--id", help="the node's id (kept in the data folder; later starts must match)")
    node.add_argument("--site", help="the site the node is in")
    node.add_argument("--zone", help="the zone within the site")
    node.add_argument("--capacity", type=int, help="bytes this node may hold (default: its disk)")
    node.add_argument("--draining", action="store_true", help="serve reads and deletes, take no new fragments")
    node.add_argument("--log-level", help="DEBUG, INFO, WARNING …")
    node.set_defaults(func=cmd_node)

    certs = sub.add_parser("certs", help="the cluster CA and its node and gateway certificates")
    certs_sub = certs.add_subparsers(dest="certs_command", required=True)
    init = certs_sub.add_parser("init", help="create a new cluster CA")
    init.add_argument("--dir", required=True, help="folder for ca.crt and ca.key")
    cert_node = certs_sub.add_parser("node", help="issue a node's certificate (ID.crt, ID.key)")
    cert_node.add_argument("--dir", required=True, help="the CA folder")
    cert_node.add_argument("--id", required=True, help="the node's id")
    cert_node.add_argument("--host", action="append", help="an address the node is reached at (repeatable)")
    cert_gateway = certs_sub.add_parser("gateway", help="issue a gateway's certificate (NAME.crt, NAME.key)")
    cert_gateway.add_argument("--dir", required=True, help="the CA folder")
    cert_gateway.add_argument("--name", required=True, help="the gateway's name")
    for p in (cert_node, cert_gateway):
        p.add_argument("--out", help="folder for the certificate and key (default: the CA folder)")
        p.add_argument("--replace", action="store_true", help="replace an existing certificate")
    certs.set_defaults(func=cmd_certs)

    gateway = sub.add_parser("gateway", help="run an S3 gateway over a cluster of storage nodes")
    gateway.add_argument("--config", required=True, help="YAML settings file (cluster_map, certificates …)")
    gateway.add_argument("--address", help="HOST:PORT to listen on (default 127.0.0.1:9000)")
    gateway.add_argument("--metadata-url", help="postgresql://… DSN or SQLite file (or OBJECTD_METADATA_URL)")
    gateway.add_argument("--log-level", help="DEBUG, INFO, WARNING …")
    gateway.set_defaults(func=cmd_gateway)

    dev = sub.add_parser("dev-cluster", help="start nodes and gateways on loopback, for trying a cluster")
    from objectd.dev_cluster import add_dev_cluster_arguments

    add_dev_cluster_arguments(dev)
    dev.set_defaults(func=cmd_dev_cluster)

    db = sub.add_parser("db", help="the metadata database")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    mig = db_sub.add_parser("migrate", help="apply schema migrations (idempotent)")
    mig.add_argument("--metadata-url", help="postgresql://… DSN or SQLite file (or OBJECTD_METADATA_URL)")
    mig.add_argument("--config", help="YAML settings file")
    mig.add_argument("--data-dir", help="data folder (SQLite default: DATA_DIR/metadata.db)")
    db.set_defaults(func=cmd_db)

    bench = sub.add_parser("bench", help="measure an S3 endpoint")
    from objectd.bench import add_bench_arguments

    add_bench_arguments(bench)
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``objectd`` console script."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
