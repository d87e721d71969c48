"""Health endpoints for load balancers and Kubernetes probes.

They live under ``/_objectd/``: a path no S3 request can take, since bucket
names cannot contain an underscore.
"""

from __future__ import annotations

import logging

from aiohttp import web

from metadata.store import MetadataStore

log = logging.getLogger("objectd.health")

LIVE_PATH = "/_objectd/health/live"
READY_PATH = "/_objectd/health/ready"


def health_routes(metadata: MetadataStore) -> list[web.RouteDef]:
    """``live``: the process answers. ``ready``: the metadata store answers too."""

    async def live(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready(_: web.Request) -> web.Response:
        try:
            await metadata.get_bucket("_objectd-readiness-probe")
        except Exception as exc:  # any failure means: do not send traffic here
            log.warning("not ready", extra={"reason": repr(exc)})
            return web.json_response({"status": "unavailable", "reason": type(exc).__name__}, status=503)
        return web.json_response({"status": "ok"})

    return [web.get(LIVE_PATH, live), web.get(READY_PATH, ready)]
