"""The aiohttp application of the S3 API: a thin adapter around pure parts.

Every request goes: decode the target (:mod:`s3api.routing`), authenticate
(:mod:`s3api.web_auth`), route to an operation, run its handler
(:mod:`s3api.handlers`). The middleware turns S3 errors into ``<Error>``
documents with the right status (no body for HEAD and 304), turns anything
unexpected into InternalError with a log line naming the request id, and
every response carries ``x-amz-request-id``, ``x-amz-id-2``, ``Server`` and
``Date``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler as AiohttpHandler

from s3api import errors
from s3api.errors import InternalError, S3Error, ServiceUnavailable
from s3api.handlers import HANDLERS
from s3api.routing import Operation, bucket_from_host, parse_target, route
from s3api.service import CredentialStore, ObjectService
from s3api.web_auth import RequestAuthenticator, request_parts
from s3api.web_body import CONTINUE_SENT, expects_continue
from s3api.web_config import S3ApiConfig
from s3api.web_context import STREAMING_RESPONSE, S3Call
from s3api.xml_codec import render_error

__all__ = ["S3ApiConfig", "make_app"]

log = logging.getLogger("s3api")
request_log = logging.getLogger("s3api.request")

_REQUEST_ID = web.RequestKey("s3api.request_id", str)
_HOST_ID = web.RequestKey("s3api.host_id", str)
_OPERATION = web.RequestKey("s3api.operation", Operation)
_CALL = web.RequestKey("s3api.call", S3Call)


@dataclass
class _AppState:
    service: ObjectService
    config: S3ApiConfig
    authenticator: RequestAuthenticator
    executor: ThreadPoolExecutor


_STATE = web.AppKey("s3api.state", _AppState)


def make_app(
    service: ObjectService,
    credentials: CredentialStore,
    config: S3ApiConfig | None = None,
    *,
    extra_routes: Iterable[web.AbstractRouteDef] = (),
) -> web.Application:
    """The S3 API as an aiohttp application.

    ``extra_routes`` (health, metrics …) are matched before the S3 catch-all
    route. Run it with ``read_bufsize`` of at least ``config.read_size`` so
    request bodies arrive in large pieces.
    """
    config = config or S3ApiConfig()
    # S3 stores bodies exactly as sent: Content-Encoding (gzip, deflate …)
    # describes the object, so the body must never be decompressed on arrival.
    app = web.Application(middlewares=[_s3_middleware], handler_args={"auto_decompress": False})
    executor = ThreadPoolExecutor(max_workers=config.hash_workers, thread_name_prefix="s3api-hash")
    app[_STATE] = _AppState(
        service=service,
        config=config,
        authenticator=RequestAuthenticator(
            credentials, region=config.region, max_clock_skew=config.max_clock_skew
        ),
        executor=executor,
    )
    app.on_response_prepare.append(_stamp_headers)

    async def _shutdown_executor(_: web.Application) -> None:
        executor.shutdown(wait=False, cancel_futures=True)

    app.on_cleanup.append(_shutdown_executor)
    app.router.add_routes(extra_routes)
    # Every path is S3's, including keys with line breaks ("." would not match them).
    app.router.add_route("*", r"/{tail:[\s\S]*}", _dispatch, expect_handler=_defer_continue)
    return app


async def _defer_continue(request: web.Request) -> None:
    """Do not answer ``Expect: 100-continue`` yet: the body reader does, on first read."""


def _identify(request: web.Request) -> tuple[str, str]:
    """The request id and host id of ``request``, made on first use."""
    if _REQUEST_ID not in request:
        config = request.app[_STATE].config
        request[_REQUEST_ID] = config.request_id()
        request[_HOST_ID] = config.host_id()
    return request[_REQUEST_ID], request[_HOST_ID]


async def _stamp_headers(request: web.Request, response: web.StreamResponse) -> None:
    request_id, host_id = _identify(request)
    response.headers["x-amz-request-id"] = request_id
    response.headers["x-amz-id-2"] = host_id
    response.headers["Server"] = request.app[_STATE].config.server_name


async def _dispatch(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE]
    config = state.config
    header_bytes = sum(len(name) + len(value) + 4 for name, value in request.raw_headers)
    if header_bytes > config.max_header_bytes:
        raise errors.RequestHeaderSectionTooLarge(MaxSizeAllowed=str(config.max_header_bytes))
    target = parse_target(request.raw_path)
    host = request.headers.get("Host")
    host_bucket = bucket_from_host(host, config.base_domains)
    auth = await state.authenticator.authenticate(request_parts(request, target), host_bucket)
    operation = route(request.method, host, target, config.base_domains, "x-amz-copy-source" in request.headers)
    request[_OPERATION] = operation
    handler = HANDLERS.get(operation.name)
    if handler is None:
        raise errors.NotImplemented(f"{operation.name} is not implemented by this server.")
    call = S3Call(
        request=request,
        operation=operation,
        target=target,
        auth=auth,
        service=state.service,
        config=config,
        executor=state.executor,
        request_id=request[_REQUEST_ID],
    )
    request[_CALL] = call
    try:
        return await handler(call)
    finally:
        call.close()


def _resource(request: web.Request) -> str:
    operation: Operation | None = request.get(_OPERATION)
    if operation is not None:
        return operation.resource
    return request.raw_path.partition("?")[0]


def _error_response(request: web.Request, error: S3Error) -> web.StreamResponse:
    headers = dict(error.headers)
    if request.method == "HEAD" or error.status == 304:
        return web.Response(status=error.status, headers=headers)
    request_id, host_id = _identify(request)
    document = render_error(error.code, error.message, _resource(request), request_id, host_id, error.fields)
    return web.Response(status=error.status, body=document, content_type="application/xml", headers=headers)


def _log_fields(request: web.Request) -> dict[str, object]:
    operation: Operation | None = request.get(_OPERATION)
    call: S3Call | None = request.get(_CALL)
    return {
        "request_id": request.get(_REQUEST_ID),
        "method": request.method,
        "operation": operation.name if operation else None,
        "bucket": operation.bucket if operation else None,
        "key": operation.key if operation else None,
        "user": call.principal.user if call else None,
    }


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _started_streaming(request: web.Request) -> bool:
    streaming: web.StreamResponse | None = request.get(STREAMING_RESPONSE)
    return streaming is not None and streaming.prepared


@web.middleware
async def _s3_middleware(request: web.Request, handler: AiohttpHandler) -> web.StreamResponse:
    _identify(request)
    started = time.monotonic()
    try:
        response = await handler(request)
    except S3Error as error:
        if _started_streaming(request):
            # Too late for an <Error> document: aiohttp drops the connection,
            # so the client sees a short body rather than wrong bytes.
            log.error("%s after the response started", error.code, extra=_log_fields(request))
            raise
        response = _error_response(request, error)
    except asyncio.CancelledError:
        raise
    except Exception as error:
        if isinstance(error, ConnectionError) and _client_gone(request):
            # Nothing to answer and nothing to report.
            raise
        if isinstance(error, request.app[_STATE].config.unavailable_errors):
            log.warning("backend unavailable: %r", error, extra=_log_fields(request))
            if _started_streaming(request):
                raise
            response = _error_response(request, ServiceUnavailable())
        else:
            log.exception("unexpected error", extra=_log_fields(request))
            if _started_streaming(request):
                raise
            response = _error_response(request, InternalError())
    if expects_continue(request) and not request.get(CONTINUE_SENT) and request.body_exists:
        # The client is still holding its body back; the connection cannot
        # carry another request.
        response.force_close()
    if request_log.isEnabledFor(logging.INFO):
        fields = _log_fields(request)
        fields.update(status=response.status, duration_ms=round((time.monotonic() - started) * 1000, 1))
        request_log.info("%s %s", fields["operation"], response.status, extra=fields)
    return response
