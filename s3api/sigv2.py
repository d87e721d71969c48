"""AWS Signature Version 2 verification for S3 (sans I/O).

Older clients and tools still sign with SigV2 ("Signing and Authenticating
REST Requests"): ``Authorization: AWS <access-key>:<base64 HMAC-SHA1>`` or a
presigned URL with ``AWSAccessKeyId``, ``Expires`` and ``Signature``
parameters. The string to sign is::

    <VERB>\\n<Content-MD5>\\n<Content-Type>\\n<Date or Expires>\\n
    <x-amz-* headers, "name:value\\n" each, sorted>
    <resource: /bucket/key plus the sub-resources of the query>

The caller supplies :class:`s3api.sigv4.RequestParts`, the secret it looked
up for the access key, the current time, and the bucket when it was
addressed through the Host header (virtual-hosted style), since SigV2 signs
the bucket as part of the path either way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from s3api.errors import (
    AccessDenied,
    InvalidArgument,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
)
from s3api.sigv4 import MAX_CLOCK_SKEW, RequestParts, canonical_uri, parse_http_date

__all__ = [
    "SUBRESOURCES",
    "SigV2Authorization",
    "SigV2Verifier",
    "VerifiedV2Request",
    "parse_authorization",
    "parse_presigned",
]

# Query parameters that name a sub-resource and so belong to the signed
# resource (AWS's list, plus the response-* overrides).
SUBRESOURCES = frozenset(
    {
        "accelerate",
        "acl",
        "analytics",
        "cors",
        "delete",
        "encryption",
        "inventory",
        "legal-hold",
        "lifecycle",
        "location",
        "logging",
        "metrics",
        "notification",
        "object-lock",
        "partNumber",
        "policy",
        "policyStatus",
        "publicAccessBlock",
        "replication",
        "requestPayment",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "response-content-language",
        "response-content-type",
        "response-expires",
        "restore",
        "retention",
        "select",
        "select-type",
        "tagging",
        "torrent",
        "uploadId",
        "uploads",
        "versionId",
        "versioning",
        "versions",
        "website",
    }
)


@dataclass(frozen=True, slots=True)
class SigV2Authorization:
    """A parsed SigV2 authorization: access key, base64 signature, and for presigned URLs the expiry."""

    access_key: str
    signature: str
    presigned: bool = False
    expires: int | None = None  # seconds since the epoch
    expires_text: str | None = None  # Expires exactly as sent (it is signed verbatim)


@dataclass(frozen=True, slots=True)
class VerifiedV2Request:
    """The outcome of a successful SigV2 verification."""

    access_key: str
    request_time: datetime | None  # None for presigned URLs, which carry only an expiry
    presigned: bool


def parse_authorization(header: str) -> SigV2Authorization:
    """Parse ``AWS <access-key>:<signature>``; anything else is AWS's ``InvalidArgument``."""
    scheme, _, credentials = header.strip().partition(" ")
    access_key, colon, signature = credentials.strip().rpartition(":")
    if scheme != "AWS" or not colon or not access_key or not signature:
        raise InvalidArgument(
            "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
            ArgumentName="Authorization",
            ArgumentValue=header,
        )
    return SigV2Authorization(access_key=access_key, signature=signature)


def parse_presigned(query: Sequence[tuple[str, str]]) -> SigV2Authorization:
    """Parse the ``AWSAccessKeyId``, ``Signature`` and ``Expires`` parameters of a presigned URL."""
    values: dict[str, str] = {}
    for name, value in query:
        values.setdefault(name, value)
    if not all(values.get(name) for name in ("AWSAccessKeyId", "Signature", "Expires")):
        raise AccessDenied(
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
        )
    expires_text = values["Expires"]
    try:
        expires = int(expires_text)
    except ValueError:
        raise AccessDenied(f"Invalid date (should be seconds since epoch): {expires_text}") from None
    # A form decoder may have turned the '+' of an unescaped base64 signature into a space.
    signature = values["Signature"].replace(" ", "+")
    return SigV2Authorization(
        access_key=values["AWSAccessKeyId"],
        signature=signature,
        presigned=True,
        expires=expires,
        expires_text=expires_text,
    )


def _iso8601(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hex_bytes(text: str) -> str:
    return " ".join(f"{byte:02x}" for byte in text.encode("utf-8", "surrogateescape"))


class SigV2Verifier:
    """Verifies SigV2-signed S3 requests (header and presigned forms)."""

    def __init__(self, *, max_clock_skew: timedelta = MAX_CLOCK_SKEW) -> None:
        self.max_clock_skew = max_clock_skew

    def verify(
        self,
        parts: RequestParts,
        auth: SigV2Authorization,
        secret_key: str,
        now: datetime,
        *,
        host_bucket: str | None = None,
    ) -> VerifiedV2Request:
        """Verify ``parts`` against ``auth`` signed with ``secret_key`` at time ``now``.

        ``host_bucket`` is the bucket named by the Host header for
        virtual-hosted-style requests (None for path style). Raises
        ``AccessDenied`` (no valid date, expired URL), ``RequestTimeTooSkewed``
        or ``SignatureDoesNotMatch`` as AWS does.
        """
        now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
        request_time: datetime | None = None
        if auth.presigned:
            assert auth.expires is not None and auth.expires_text is not None
            expires_at = datetime.fromtimestamp(auth.expires, UTC)
            if now > expires_at:
                raise AccessDenied(
                    "Request has expired", Expires=_iso8601(expires_at), ServerTime=_iso8601(now)
                )
            date_lines = [auth.expires_text]
        else:
            request_time, date_lines = self._header_time(parts, now)

        key = secret_key.encode("utf-8")
        first: str | None = None
        for date_line in date_lines:
            for resource in self._resources(parts, host_bucket):
                string_to_sign = self._string_to_sign(parts, auth, date_line, resource)
                expected = base64.b64encode(
                    hmac.new(key, string_to_sign.encode("utf-8", "surrogateescape"), hashlib.sha1).digest()
                ).decode("ascii")
                if auth.signature.isascii() and hmac.compare_digest(expected, auth.signature):
                    return VerifiedV2Request(auth.access_key, request_time, auth.presigned)
                if first is None:
                    first = string_to_sign
        assert first is not None
        raise SignatureDoesNotMatch(
            AWSAccessKeyId=auth.access_key,
            StringToSign=first,
            SignatureProvided=auth.signature,
            StringToSignBytes=_hex_bytes(first),
        )

    def _header_time(self, parts: RequestParts, now: datetime) -> tuple[datetime, list[str]]:
        amz_date = parts.header("x-amz-date")
        date = parts.header("date")
        raw = amz_date if amz_date is not None else date
        request_time = parse_http_date(raw) if raw is not None else None
        if raw is None or request_time is None:
            raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
        if abs(now - request_time) > self.max_clock_skew:
            raise RequestTimeTooSkewed(
                RequestTime=raw,
                ServerTime=_iso8601(now),
                MaxAllowedSkewMilliseconds=str(int(self.max_clock_skew.total_seconds() * 1000)),
            )
        if amz_date is None:
            return request_time, [date or ""]
        # AWS: with x-amz-date the Date line is empty (x-amz-date is signed
        # among the amz headers); some signers keep the Date value there.
        return request_time, [""] if date is None else ["", date.strip()]

    @staticmethod
    def _resources(parts: RequestParts, host_bucket: str | None) -> list[str]:
        path = parts.raw_path or "/"
        prefix = f"/{quote(host_bucket, safe='')}" if host_bucket else ""
        subresources = sorted(
            (name, value) for name, value in parts.query if name in SUBRESOURCES
        )
        query = "&".join(name if value == "" else f"{name}={value}" for name, value in subresources)
        suffix = f"?{query}" if query else ""
        paths = [path]
        normalized = canonical_uri(path)
        if normalized != path:
            paths.append(normalized)
        # A path-style bucket request ("/bucket") is signed by botocore and
        # others with the resource "/bucket/", which is what AWS accepts.
        if not host_bucket and path.count("/") == 1 and len(path) > 1:
            paths.append(path + "/")
        return [f"{prefix}{candidate}{suffix}" for candidate in paths]

    @staticmethod
    def _string_to_sign(parts: RequestParts, auth: SigV2Authorization, date_line: str, resource: str) -> str:
        def standard_header(name: str) -> str:
            """A header's value; a presigned URL may carry it as a query parameter instead."""
            value = parts.header(name)
            if value is None and auth.presigned:
                value = parts.query_value(name)
            return (value or "").strip()

        amz: dict[str, list[str]] = {}
        for name, value in parts.headers:
            if name.startswith("x-amz-"):
                amz.setdefault(name, []).append(value.strip())
        if auth.presigned:
            for name, value in parts.query:
                lower = name.lower()
                if lower.startswith("x-amz-") and lower not in amz:
                    amz[lower] = [value.strip()]
        amz_lines = "".join(f"{name}:{','.join(amz[name])}\n" for name in sorted(amz))
        return (
            f"{parts.method}\n{standard_header('content-md5')}\n{standard_header('content-type')}\n"
            f"{date_line}\n{amz_lines}{resource}"
        )
