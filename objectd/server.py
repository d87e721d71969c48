"""The embedded server: S3 gateway, SQLite metadata and local drive folders in
one process (``objectd serve DATA_DIR``)."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from erasure.layout import StripeLayout
from erasure.malloc_tuning import tune_malloc
from metadata.errors import StoreUnavailable
from metadata.store import MetadataStore
from objectd.collector import GarbageCollector
from objectd.credentials import IssuedKey, SecretBox, UserDirectory
from objectd.data_path import DataPath, DataPathSettings, NodeView
from objectd.drive_store import LocalDriveStore
from objectd.fragment_store import FragmentStore
from objectd.gc_tuning import tune_gc
from objectd.health import health_routes
from objectd.master_key import load_master_key
from objectd.metadata_url import MetadataUrl
from objectd.object_service import StoreObjectService
from objectd.settings import Settings
from placement.ring import Ring, RingNode
from s3api.web_app import S3ApiConfig, make_app
from s3api.web_config import HTTP_LIMITS

log = logging.getLogger("objectd.server")


class DataDirInUse(Exception):
    """Another server holds the data folder."""


@dataclass
class Running:
    """What a started server exposes to its caller (CLI, tests)."""

    url: str
    root: IssuedKey
    users: UserDirectory
    metadata: MetadataStore
    service: StoreObjectService
    collector: GarbageCollector


class EmbeddedServer:
    """Wires the parts of ``objectd serve`` together and runs them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._runner: web.AppRunner | None = None
        self._lock_fd: int | None = None
        self._data: DataPath | None = None
        self.running: Running | None = None

    async def open_metadata(self, *, serving: bool = False) -> MetadataStore:
        """Open (and migrate) the embedded metadata database. The serving
        process holds the data folder's lock and is the only one that changes
        buckets, so it keeps them in memory."""
        url = MetadataUrl.parse("", self.settings.data_dir)
        store = url.open_store(garbage_grace=self.settings.garbage_grace, sole_writer=serving)
        await store.open()
        return store

    def _lock_data_dir(self) -> None:
        """Hold DATA_DIR/objectd.lock for the life of the process: two servers
        on one data folder would corrupt each other's view of it."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.settings.data_dir / "objectd.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirInUse(f"another objectd serve is running on {self.settings.data_dir}") from None
        self._lock_fd = fd

    async def open_storage(self) -> tuple[dict[str, FragmentStore], Ring, NodeView | None]:
        """The places fragments go: the drive folders, each a store of its own."""
        drives: dict[str, FragmentStore] = {}
        for folder in self.settings.drive_folders():
            drive = LocalDriveStore.initialize(folder)
            drives[drive.store_id] = drive
        return drives, Ring(RingNode(store_id) for store_id in drives), None

    def extra_routes(self) -> list[web.RouteDef]:
        """Operator endpoints beyond health (none for the embedded server)."""
        return []

    async def close_storage(self) -> None:
        """Release what :meth:`open_storage` opened (drive folders need nothing)."""

    def master_key(self) -> bytes:
        """The master key (generated into DATA_DIR on first start)."""
        s = self.settings
        path = s.master_key_file or str(s.data_dir / "master.key")
        return load_master_key(Path(path))

    async def start(self, root_access_key: str | None = None, root_secret_key: str | None = None) -> Running:
        """Open everything and start listening."""
        s = self.settings
        tune_malloc()
        self._lock_data_dir()
        master_key = self.master_key()
        metadata = await self.open_metadata(serving=True)
        stores, ring, nodes = await self.open_storage()
        data = DataPath(
            metadata,
            stores,
            ring,
            DataPathSettings(
                layout=StripeLayout(k=s.k, m=s.m, segment_size=s.segment_size, backend=s.backend),
                write_quorum=s.effective_write_quorum(),
                inline_threshold=s.inline_threshold,
                cpu_workers=s.cpu_workers,
                encrypt=s.encrypt,
                intent_lifetime=s.intent_lifetime,
            ),
            master_key,
            nodes,
        )
        self._data = data
        service = StoreObjectService(metadata, data, min_part_size=s.min_part_size)
        users = UserDirectory(metadata, SecretBox(master_key))
        root = await users.ensure_root(root_access_key, root_secret_key)
        collector = GarbageCollector(metadata, data, s.collector_interval)
        config = S3ApiConfig(
            region=None if s.any_region else s.region,
            default_region=s.region,
            base_domains=tuple(s.base_domains),
            unavailable_errors=(StoreUnavailable,),
            md5_lanes=s.md5_lanes,
        )
        app = make_app(service, users, config, extra_routes=health_routes(metadata) + self.extra_routes())
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, read_bufsize=config.read_size, **HTTP_LIMITS
        )
        await self._runner.setup()
        host, port = s.host_port()
        ssl_context = None
        if s.tls_cert:
            ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_context.load_cert_chain(s.tls_cert, s.tls_key)
        site = web.TCPSite(self._runner, host, port, ssl_context=ssl_context, backlog=1024,
                           reuse_address=True)
        await site.start()
        sockets = self._runner.addresses
        bound_port = sockets[0][1] if sockets else port
        scheme = "https" if ssl_context else "http"
        url_host = f"[{host}]" if ":" in host else host
        collector.start()
        self.running = Running(
            url=f"{scheme}://{url_host}:{bound_port}",
            root=root,
            users=users,
            metadata=metadata,
            service=service,
            collector=collector,
        )
        tune_gc()
        return self.running

    async def stop(self) -> None:
        """Stop listening, finish background work and close the database."""
        if self.running is not None:
            await self.running.collector.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.close_storage()
        if self._data is not None:
            self._data.close()
            self._data = None
        if self.running is not None:
            await self.running.metadata.close()
            self.running = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


async def serve_forever(server: EmbeddedServer, root_access_key: str | None, root_secret_key: str | None,
                        announce: Callable[[Running], None]) -> None:
    """Start ``server``, call ``announce(running)``, run until cancelled."""
    running = await server.start(root_access_key, root_secret_key)
    announce(running)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # SIGTERM (Kubernetes, systemd) stops gracefully: no new connections,
    # requests in flight finish, the database closes cleanly.
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()
        log.info("stopping on SIGTERM")
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        await server.stop()
