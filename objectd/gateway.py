"""A cluster gateway (``objectd gateway --config FILE``): the S3 front end over
remote storage nodes and a shared metadata database.

It is the embedded server with two parts swapped: fragments go to the nodes
of the cluster map over mutual TLS, and metadata lives where
``metadata_url`` says (Postgres for several gateways side by side). A gateway
keeps no state of its own, so any number can run on one database.
"""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from metadata.store import MetadataStore
from objectd.certs import client_context
from objectd.data_path import NodeView
from objectd.fragment_store import FragmentStore
from objectd.metadata_url import MetadataUrl
from objectd.node_client import NodeConnections, RemoteNodeStore
from objectd.node_health import NodeHealth
from objectd.server import EmbeddedServer
from objectd.settings import Settings
from placement.cluster_map import ClusterMap
from placement.ring import Ring

log = logging.getLogger("objectd.gateway")

NODES_PATH = "/_objectd/nodes"


class ClusterGateway(EmbeddedServer):
    """Wires the S3 front end to a cluster's nodes and metadata database."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._connections: NodeConnections | None = None
        self._nodes: NodeHealth | None = None
        self.cluster: ClusterMap | None = None

    def metadata_url(self) -> MetadataUrl:
        """Where this gateway's metadata lives."""
        return MetadataUrl.parse(self.settings.metadata_url, self.settings.data_dir)

    async def open_metadata(self, *, serving: bool = False) -> MetadataStore:
        """Open (and migrate) the metadata database the settings name. A
        gateway never assumes it is the only writer."""
        store = self.metadata_url().open_store(garbage_grace=self.settings.garbage_grace)
        await store.open()
        return store

    def _lock_data_dir(self) -> None:
        """Gateways are stateless: nothing to lock."""

    async def open_storage(self) -> tuple[dict[str, FragmentStore], Ring, NodeView | None]:
        """One pooled, mutually authenticated connection set to the nodes of
        the cluster map, the ring over them, and a prober of their health."""
        s = self.settings
        cluster = ClusterMap.from_yaml_text(Path(s.cluster_map).read_text())
        self.cluster = cluster
        ssl_context = client_context(s.cluster_ca, s.gateway_cert, s.gateway_key)
        self._connections = NodeConnections(ssl_context)
        stores: dict[str, FragmentStore] = {}
        remotes: dict[str, RemoteNodeStore] = {}
        for node in cluster.nodes:
            remote = RemoteNodeStore(
                node.node_id, node.address, self._connections,
                connect_timeout=s.node_connect_timeout, read_timeout=s.node_read_timeout,
                write_timeout=s.node_write_timeout,
            )
            remotes[node.node_id] = remote
            stores[node.node_id] = remote
        ring = cluster.ring()

        async def probe(node_id: str) -> str:
            info = await remotes[node_id].info()
            return info.state

        self._nodes = NodeHealth(ring, stores, probe, local_site=s.site,
                                 interval=s.probe_interval, timeout=s.node_connect_timeout)
        await self._nodes.probe_once()
        up = len(stores) - len(self._nodes.down())
        log.info("cluster nodes probed", extra={"nodes": len(stores), "up": up})
        self._nodes.start()
        return stores, ring, self._nodes

    def extra_routes(self) -> list[web.RouteDef]:
        """``/_objectd/nodes``: each node's state and round-trip time as the
        gateway sees them (for operators and the cluster tests)."""

        async def nodes(_: web.Request) -> web.Response:
            records = self._nodes.records if self._nodes is not None else {}
            return web.json_response({
                node_id: {"state": r.state.value, "rtt_ms": round(r.rtt * 1000, 3), "reason": r.reason}
                for node_id, r in records.items()
            })

        return [web.get(NODES_PATH, nodes)]

    async def close_storage(self) -> None:
        """Stop probing and close the node connections."""
        if self._nodes is not None:
            await self._nodes.stop()
            self._nodes = None
        if self._connections is not None:
            await self._connections.close()
            self._connections = None
