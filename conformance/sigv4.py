"""AWS Signature Version 4 for S3, as the S3 API Reference specifies it
("Authenticating Requests: Using Query Parameters" and "Using the
Authorization Header"), for the requests boto3 will not make: presigned URLs
signed at a chosen moment (expired ones) and hand-framed bodies (trailers).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from conformance.endpoint import Credentials, Endpoint

ALGORITHM = "AWS4-HMAC-SHA256"


def uri_encode(text: str, safe: str = "-_.~") -> str:
    """S3's UriEncode: every byte but the unreserved ones (and ``safe``) as %XX."""
    return urllib.parse.quote(text, safe=safe)


def object_path(bucket: str, key: str | None = None) -> str:
    """The path-style request path of a bucket or object, encoded once (S3 does not normalize it)."""
    path = "/" + uri_encode(bucket)
    if key is not None:
        path += "/" + uri_encode(key, "-_.~/")
    return path


def signing_key(secret_key: str, date: str, region: str) -> bytes:
    """The HMAC chain over date, region, service and terminator."""
    key = ("AWS4" + secret_key).encode()
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def host_header(endpoint: Endpoint) -> str:
    """The ``Host`` value http.client sends: the port only when not the scheme's default."""
    default = 443 if endpoint.tls else 80
    return endpoint.hostname if endpoint.port == default else f"{endpoint.hostname}:{endpoint.port}"


def _canonical_query(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{uri_encode(k)}={uri_encode(v)}" for k, v in sorted(pairs))


def _signature(secret: str, amz_date: str, scope: str, region: str, canonical_request: str) -> str:
    to_sign = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
    return hmac.new(signing_key(secret, amz_date[:8], region), to_sign.encode(), hashlib.sha256).hexdigest()


def presign_url(
    endpoint: Endpoint,
    credentials: Credentials,
    method: str,
    path: str,
    expires: int,
    when: datetime.datetime | None = None,
) -> str:
    """A presigned URL for ``method`` on ``path`` (already encoded), valid
    ``expires`` seconds from ``when`` (now by default); only ``host`` is signed."""
    moment = when or datetime.datetime.now(datetime.UTC)
    amz_date = moment.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{amz_date[:8]}/{endpoint.region}/s3/aws4_request"
    query = [
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", f"{credentials.access_key}/{scope}"),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", str(expires)),
        ("X-Amz-SignedHeaders", "host"),
    ]
    canonical = "\n".join(
        [method, path, _canonical_query(query), f"host:{host_header(endpoint)}\n", "host", "UNSIGNED-PAYLOAD"]
    )
    signature = _signature(credentials.secret_key, amz_date, scope, endpoint.region, canonical)
    return f"{endpoint.base_url}{path}?{_canonical_query(query)}&X-Amz-Signature={signature}"


def sign_headers(
    endpoint: Endpoint,
    credentials: Credentials,
    method: str,
    path: str,
    headers: Mapping[str, str],
    payload_hash: str,
    query: list[tuple[str, str]] | None = None,
    when: datetime.datetime | None = None,
) -> dict[str, str]:
    """``headers`` plus ``host``, ``x-amz-date``, ``x-amz-content-sha256`` and
    an ``Authorization`` header signing all of them (at ``when``, now by default)."""
    amz_date = (when or datetime.datetime.now(datetime.UTC)).strftime("%Y%m%dT%H%M%SZ")
    scope = f"{amz_date[:8]}/{endpoint.region}/s3/aws4_request"
    signed = {name.lower(): value for name, value in headers.items()}
    signed.update({"host": host_header(endpoint), "x-amz-date": amz_date, "x-amz-content-sha256": payload_hash})
    names = sorted(signed)
    canonical_headers = "".join(f"{name}:{' '.join(signed[name].split())}\n" for name in names)
    canonical = "\n".join(
        [method, path, _canonical_query(query or []), canonical_headers, ";".join(names), payload_hash]
    )
    signature = _signature(credentials.secret_key, amz_date, scope, endpoint.region, canonical)
    signed["authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return signed


@dataclass(frozen=True)
class Signature:
    """What signing a streaming request's headers yields for its chunks: the
    seed signature, the moment, the scope and the signing key."""

    seed: str
    amz_date: str
    scope: str
    key: bytes


def seed_of(headers: Mapping[str, str], secret_key: str, region: str) -> Signature:
    """The seed signature of headers made by :func:`sign_headers`."""
    amz_date = headers["x-amz-date"]
    seed = headers["authorization"].rsplit("Signature=", 1)[1]
    return Signature(seed, amz_date, f"{amz_date[:8]}/{region}/s3/aws4_request",
                     signing_key(secret_key, amz_date[:8], region))


def _chain(signature: Signature, kind: str, previous: str, digest: str) -> str:
    to_sign = "\n".join([f"{ALGORITHM}-{kind}", signature.amz_date, signature.scope, previous, digest])
    return hmac.new(signature.key, to_sign.encode(), hashlib.sha256).hexdigest()


def signed_chunks(signature: Signature, data: bytes, chunk_size: int,
                  trailer: tuple[str, str] | None = None) -> bytes:
    """``data`` framed as aws-chunked with chunk signatures
    (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), each chained from the previous one,
    the last chunk empty; with ``trailer`` (name, value) a signed trailer follows
    (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER)."""
    empty = hashlib.sha256(b"").hexdigest()
    previous, out = signature.seed, []
    pieces = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
    for piece in pieces:
        previous = _chain(signature, "PAYLOAD", previous, empty + "\n" + hashlib.sha256(piece).hexdigest())
        out.append(b"%x;chunk-signature=%s\r\n" % (len(piece), previous.encode()))
        if piece or trailer is None:
            out.append(piece + b"\r\n")
    if trailer is not None:
        line = f"{trailer[0]}:{trailer[1]}"
        trailer_signature = _chain(signature, "TRAILER", previous, hashlib.sha256((line + "\n").encode()).hexdigest())
        out.append(f"{line}\r\nx-amz-trailer-signature:{trailer_signature}\r\n\r\n".encode())
    return b"".join(out)
