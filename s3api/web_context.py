"""What an S3 operation handler gets: the request, its route, its caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field

from aiohttp import web
from multidict import CIMultiDictProxy

from s3api.body_checks import body_spec
from s3api.md5_lanes import shared_hasher
from s3api.routing import Operation, Target
from s3api.service import ObjectService, Principal
from s3api.web_auth import Authenticated
from s3api.web_body import AiohttpRequestBody
from s3api.web_config import S3ApiConfig

__all__ = ["STREAMING_RESPONSE", "Handler", "S3Call", "xml_response"]

# Request key under which a handler keeps a response it has started to
# stream: an error after that point cannot become an <Error> document.
STREAMING_RESPONSE = web.RequestKey("s3api.streaming_response", web.StreamResponse)


@dataclass
class S3Call:
    """One authenticated S3 request on its way to a handler."""

    request: web.Request
    operation: Operation
    target: Target
    auth: Authenticated
    service: ObjectService
    config: S3ApiConfig
    executor: Executor
    request_id: str
    bodies: list[AiohttpRequestBody] = field(default_factory=list)

    @property
    def principal(self) -> Principal:
        """The authenticated caller."""
        return self.auth.principal

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """The request headers (case-insensitive)."""
        return self.request.headers

    @property
    def query(self) -> Mapping[str, str]:
        """Decoded query parameters, first value of each."""
        return self.target.query

    @property
    def bucket(self) -> str:
        """The bucket the operation addresses (bucket and object operations only)."""
        assert self.operation.bucket is not None
        return self.operation.bucket

    @property
    def key(self) -> str:
        """The object key the operation addresses (object operations only)."""
        assert self.operation.key is not None
        return self.operation.key

    def body(
        self,
        max_size: int,
        *,
        checksum_headers_describe_body: bool = True,
        length_required: bool = True,
    ) -> AiohttpRequestBody:
        """The request body as a verified stream (see :mod:`s3api.web_body`)."""
        spec = body_spec(
            self.headers,
            self.auth.payload_mode,
            self.auth.payload_sha256,
            max_size=max_size,
            checksum_headers_describe_body=checksum_headers_describe_body,
            length_required=length_required,
        )
        body = AiohttpRequestBody(
            self.request,
            spec,
            executor=self.executor,
            chunk_verifier=self.auth.chunk_verifier(),
            max_size=max_size,
            read_size=self.config.read_size,
            offload_threshold=self.config.offload_threshold,
            idle_timeout=self.config.body_idle_timeout,
            md5_lanes=shared_hasher() if self.config.md5_lanes else None,
        )
        self.bodies.append(body)
        return body

    async def read_document(
        self, limit: int, *, checksum_headers_describe_body: bool = True
    ) -> bytes:
        """A small XML request body, read whole and verified (empty if none was sent)."""
        body = self.body(
            max_size=2**62,
            checksum_headers_describe_body=checksum_headers_describe_body,
            length_required=False,
        )
        return await body.read_all(limit)

    def close(self) -> None:
        """Stop any read-ahead of request bodies."""
        for body in self.bodies:
            body.close()


Handler = Callable[[S3Call], Awaitable[web.StreamResponse]]


def xml_response(document: bytes, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """A response carrying an S3 XML document."""
    return web.Response(status=status, body=document, content_type="application/xml", headers=headers)
