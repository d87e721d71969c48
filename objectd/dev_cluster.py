"""``objectd dev-cluster``: a whole cluster on loopback, for trying it out.

One command starts N storage nodes spread over S sites, a fresh cluster CA
with a certificate for every node and for the gateways, and G gateways on
consecutive ports, all children of this process and in its process group;
Ctrl-C (or SIGTERM) stops them all. Everything lives under ``--data``:

    certs/            the cluster CA, node and gateway certificates
    nodes/NODE-ID/    each node's data folder
    cluster.yaml      the cluster map the gateways read
    gateway.yaml      the gateways' settings
    master.key        the master key every gateway shares
    metadata.db       the metadata database (unless --metadata-url is given)

A second run on the same folder reuses all of it, node addresses included, so
a restarted node rejoins under its own id and address.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from objectd.certs import create_ca, issue_gateway_cert, issue_node_cert
from objectd.master_key import load_master_key
from objectd.self_signed import make_self_signed

NODE_READY = re.compile(r"objectd node (\S+) listening at (\S+)")
GATEWAY_READY = re.compile(r"serving S3 at (\S+)")
START_TIMEOUT = 60.0


_OUTPUT = threading.Lock()


def emit(line: str) -> None:
    """Print one whole line: the children's echo threads and the main thread
    share stdout, and ``print`` writes text and newline separately."""
    with _OUTPUT:
        sys.stdout.write(line if line.endswith("\n") else line + "\n")
        sys.stdout.flush()


class ClusterStartError(Exception):
    """A child process of the dev cluster did not come up."""


@dataclass
class Child:
    """One child process and what it printed."""

    name: str
    args: list[str]
    ready: re.Pattern[str]
    proc: subprocess.Popen[str] | None = None
    url: str = ""
    output: list[str] = field(default_factory=list)

    def start(self, env: dict[str, str], echo: bool) -> None:
        """Start the process and wait until it prints its ready line."""
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=env)
        found = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.output.append(line)
                if echo:
                    emit(f"[{self.name}] {line}")
                match = self.ready.search(line)
                if match and not found.is_set():
                    self.url = match.group(match.lastindex or 0)
                    found.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while not found.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise ClusterStartError(f"{self.name} did not start:\n" + "".join(self.output))

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@dataclass(frozen=True)
class ClusterPlan:
    """What to start: nodes, sites, gateways and their settings."""

    data: Path
    nodes: int = 6
    sites: int = 3
    gateways: int = 1
    address: str = "127.0.0.1:9000"
    metadata_url: str = ""
    k: int = 4
    m: int = 2
    self_signed: bool = False
    log_level: str = "WARNING"

    def node_ids(self) -> list[str]:
        """``node-1`` … ``node-N``."""
        return [f"node-{i}" for i in range(1, self.nodes + 1)]

    def site_of(self, index: int) -> str:
        """Nodes are dealt to sites in turn: node-1 to site-1, node-2 to site-2 …"""
        return f"site-{index % self.sites + 1}"

    def gateway_addresses(self) -> list[str]:
        """``--address`` and the ports after it (port 0: each gets its own free port)."""
        host, _, port = self.address.rpartition(":")
        base = int(port)
        return [f"{host}:{base + i if base else 0}" for i in range(self.gateways)]


def _python() -> list[str]:
    return [sys.executable, "-m", "objectd"]


class DevCluster:
    """Prepares the folder, starts the children, stops them."""

    def __init__(self, plan: ClusterPlan, echo: bool = True) -> None:
        self.plan = plan
        self.echo = echo
        self.nodes: dict[str, Child] = {}
        self.gateways: list[Child] = []

    @property
    def certs(self) -> Path:
        """The certificate folder."""
        return self.plan.data / "certs"

    def prepare(self) -> None:
        """Create the CA, certificates and master key once."""
        plan = self.plan
        plan.data.mkdir(parents=True, exist_ok=True)
        if not (self.certs / "ca.crt").exists():
            create_ca(self.certs)
        for node_id in plan.node_ids():
            if not (self.certs / f"{node_id}.crt").exists():
                issue_node_cert(self.certs, node_id, ["127.0.0.1", "localhost"], self.certs)
        if not (self.certs / "gateway.crt").exists():
            issue_gateway_cert(self.certs, "gateway", self.certs)
        load_master_key(plan.data / "master.key")

    def node_args(self, node_id: str, index: int, address: str) -> list[str]:
        """The command line of one node (also what a test runs to restart it)."""
        site = self.plan.site_of(index)
        return _python() + [
            "node", "--data", str(self.plan.data / "nodes" / node_id), "--address", address,
            "--id", node_id, "--site", site, "--zone", f"{site}-{node_id}",
            "--ca", str(self.certs / "ca.crt"), "--cert", str(self.certs / f"{node_id}.crt"),
            "--key", str(self.certs / f"{node_id}.key"), "--log-level", self.plan.log_level,
        ]

    def _known_addresses(self) -> dict[str, str]:
        path = self.plan.data / "cluster.yaml"
        if not path.exists():
            return {}
        doc = yaml.safe_load(path.read_text()) or {}
        return {n["id"]: n["address"] for n in doc.get("nodes", [])}

    def start_nodes(self) -> None:
        """Start every node, on its recorded address or a free port."""
        known = self._known_addresses()
        for index, node_id in enumerate(self.plan.node_ids()):
            address = known.get(node_id, "https://127.0.0.1:0").removeprefix("https://")
            child = Child(node_id, self.node_args(node_id, index, address), NODE_READY)
            self.nodes[node_id] = child
            child.start(dict(os.environ), self.echo)

    def write_config(self) -> Path:
        """Write the cluster map and the gateway settings; return the latter."""
        plan = self.plan
        cluster = {
            "sites": sorted({plan.site_of(i) for i in range(plan.nodes)}),
            "nodes": [
                {"id": node_id, "address": self.nodes[node_id].url, "site": plan.site_of(i),
                 "zone": f"{plan.site_of(i)}-{node_id}", "weight": 1.0}
                for i, node_id in enumerate(plan.node_ids())
            ],
        }
        (plan.data / "cluster.yaml").write_text(yaml.safe_dump(cluster, sort_keys=False))
        settings: dict[str, object] = {
            "data_dir": str(plan.data / "gateway"),
            "cluster_map": str(plan.data / "cluster.yaml"),
            "cluster_ca": str(self.certs / "ca.crt"),
            "gateway_cert": str(self.certs / "gateway.crt"),
            "gateway_key": str(self.certs / "gateway.key"),
            "master_key_file": str(plan.data / "master.key"),
            "metadata_url": plan.metadata_url or str(plan.data / "metadata.db"),
            "site": plan.site_of(0),
            "k": plan.k,
            "m": plan.m,
            "log_level": plan.log_level,
        }
        if plan.self_signed:
            cert, key = make_self_signed(plan.data / "tls")
            settings.update(tls_cert=str(cert), tls_key=str(key))
        path = plan.data / "gateway.yaml"
        path.write_text(yaml.safe_dump(settings, sort_keys=False))
        return path

    def start_gateways(self, config: Path) -> None:
        """Start the gateways one after another (the first creates the root user)."""
        for i, address in enumerate(self.plan.gateway_addresses()):
            child = Child(f"gateway-{i + 1}", _python() + ["gateway", "--config", str(config), "--address", address],
                          GATEWAY_READY)
            self.gateways.append(child)
            child.start(dict(os.environ), self.echo)

    def start(self) -> None:
        """Everything, in order: folder, nodes, config, gateways."""
        self.prepare()
        self.start_nodes()
        self.start_gateways(self.write_config())

    def stop(self) -> None:
        """Stop gateways first (requests in flight finish), then nodes."""
        for child in self.gateways + list(self.nodes.values()):
            child.stop()


def run_dev_cluster(args: argparse.Namespace) -> int:
    """The ``objectd dev-cluster`` command: start, announce, wait for a signal, stop."""
    plan = ClusterPlan(
        data=Path(args.data), nodes=args.nodes, sites=args.sites, gateways=args.gateways,
        address=args.address, metadata_url=args.metadata_url or os.environ.get("OBJECTD_METADATA_URL", ""),
        k=args.k, m=args.m, self_signed=args.self_signed, log_level=args.log_level,
    )
    if plan.nodes < plan.k + plan.m:
        print(f"objectd: {plan.k}+{plan.m} needs at least {plan.k + plan.m} nodes", file=sys.stderr)
        return 2
    if plan.sites < 1 or plan.gateways < 1:
        print("objectd: --sites and --gateways must be at least 1", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    cluster = DevCluster(plan)
    try:
        cluster.start()
        for node_id, child in cluster.nodes.items():
            assert child.proc is not None
            emit(f"dev cluster: node {node_id} pid {child.proc.pid} at {child.url}")
        for child in cluster.gateways:
            assert child.proc is not None
            emit(f"dev cluster: gateway pid {child.proc.pid} at {child.url}")
        emit(f"dev cluster ready: {plan.nodes} nodes in {plan.sites} sites, {plan.gateways} gateway(s); "
             "Ctrl-C stops them all")
        stop.wait()
    except ClusterStartError as exc:
        print(f"objectd: {exc}", file=sys.stderr)
        return 1
    finally:
        cluster.stop()
    return 0


def add_dev_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``dev-cluster`` command's flags."""
    parser.add_argument("--data", required=True, help="folder for certificates, nodes and metadata")
    parser.add_argument("--nodes", type=int, default=6, help="storage nodes (default 6)")
    parser.add_argument("--sites", type=int, default=3, help="sites the nodes are spread over (default 3)")
    parser.add_argument("--gateways", type=int, default=1, help="gateways on consecutive ports (default 1)")
    parser.add_argument("--address", default="127.0.0.1:9000", help="HOST:PORT of the first gateway")
    parser.add_argument("--metadata-url", default="", help="postgresql://… DSN or SQLite file "
                                                         "(default DATA/metadata.db; or OBJECTD_METADATA_URL)")
    parser.add_argument("--k", type=int, default=4, help="data fragments per stripe (default 4)")
    parser.add_argument("--m", type=int, default=2, help="parity fragments per stripe (default 2)")
    parser.add_argument("--self-signed", action="store_true", help="gateways serve HTTPS with a generated certificate")
    parser.add_argument("--log-level", default="WARNING", help="log level of every process (default WARNING)")
