"""Request authentication: from an aiohttp request to a verified Principal.

Builds the signature verifiers' :class:`~s3api.sigv4.RequestParts` from the
raw request (raw path, raw header bytes in wire order), picks the scheme
(SigV4 header or presigned, SigV2 header or presigned), looks the access key
up in the :class:`~s3api.service.CredentialStore` and verifies. Anonymous
requests are AccessDenied: every bucket here is private.

The outcome also says how to trust the body (its payload mode, the SHA-256 to
check, the context for chunk signatures), which the body reader needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from aiohttp import web

from s3api import sigv2, sigv4
from s3api.errors import AccessDenied, InvalidAccessKeyId
from s3api.routing import Target
from s3api.service import CredentialStore, Principal, Secret
from s3api.sigv4 import AuthScheme, ChunkSigningContext, PayloadMode, RequestParts

__all__ = ["Authenticated", "RequestAuthenticator", "request_parts"]


@dataclass(frozen=True)
class Authenticated:
    """A verified caller and what its signature says about the request body."""

    principal: Principal
    region: str | None = None  # the region a SigV4 signature was made for
    payload_mode: PayloadMode = PayloadMode.UNSIGNED
    payload_sha256: str | None = None
    chunk_signing: ChunkSigningContext | None = None

    def chunk_verifier(self) -> sigv4.ChunkSignatureChain | None:
        """A fresh verifier for the chunk signatures of an aws-chunked body, if signed."""
        if self.chunk_signing is None or not self.payload_mode.signed_chunks:
            return None
        return sigv4.ChunkSignatureChain(self.chunk_signing)


def request_parts(request: web.BaseRequest, target: Target) -> RequestParts:
    """The signed parts of ``request``: method, raw path, decoded query, raw headers.

    Header bytes are decoded as UTF-8 with ``surrogateescape`` so the
    verifiers can restore the exact bytes they hash.
    """
    headers = [
        (name.decode("latin-1").lower(), value.decode("utf-8", "surrogateescape"))
        for name, value in request.raw_headers
    ]
    return RequestParts.build(request.method, target.raw_path, target.query_pairs, headers)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class RequestAuthenticator:
    """Verifies SigV4 and SigV2 requests against a credential store."""

    def __init__(
        self,
        credentials: CredentialStore,
        *,
        region: str | None,
        max_clock_skew: timedelta,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._credentials = credentials
        self._v4 = sigv4.SigV4Verifier(region, max_clock_skew=max_clock_skew)
        self._v2 = sigv2.SigV2Verifier(max_clock_skew=max_clock_skew)
        self._clock = clock

    async def _secret(self, access_key: str) -> Secret:
        secret = await self._credentials.lookup(access_key)
        if secret is None:
            raise InvalidAccessKeyId(AWSAccessKeyId=access_key)
        return secret

    async def authenticate(self, parts: RequestParts, host_bucket: str | None) -> Authenticated:
        """Verify the request's signature; raise the S3 error AWS gives when it fails.

        ``host_bucket`` is the bucket a virtual-hosted Host names (SigV2 signs it).
        """
        scheme = sigv4.detect_auth_scheme(parts)
        if scheme is AuthScheme.ANONYMOUS:
            raise AccessDenied()
        if scheme in (AuthScheme.SIGV4_HEADER, AuthScheme.SIGV4_QUERY):
            authorization = (
                sigv4.parse_authorization(parts.header("authorization") or "")
                if scheme is AuthScheme.SIGV4_HEADER
                else sigv4.parse_presigned(parts.query)
            )
            secret = await self._secret(authorization.credential.access_key)
            verified = self._v4.verify(parts, authorization, secret.secret_key, self._clock())
            return Authenticated(
                principal=Principal(user=secret.user, access_key=verified.access_key),
                region=verified.region,
                payload_mode=verified.payload_mode,
                payload_sha256=verified.payload_sha256,
                chunk_signing=verified.signing,
            )
        authorization_v2 = (
            sigv2.parse_authorization(parts.header("authorization") or "")
            if scheme is AuthScheme.SIGV2_HEADER
            else sigv2.parse_presigned(parts.query)
        )
        secret = await self._secret(authorization_v2.access_key)
        verified_v2 = self._v2.verify(
            parts, authorization_v2, secret.secret_key, self._clock(), host_bucket=host_bucket
        )
        return Authenticated(principal=Principal(user=secret.user, access_key=verified_v2.access_key))
