"""A minimal AWS Signature V4 signer for the benchmark's requests (sans I/O).

botocore's signer costs tens of microseconds per request, which a benchmark
issuing thousands of small requests per second on the server's own machine
cannot afford: it would measure itself. This one does the least SigV4 needs:
the body is never hashed (``UNSIGNED-PAYLOAD`` unless the caller passes a
hash), the signing key is derived once per day, the date string once per
second, and the only headers signed are ``host``, the ``x-amz-*`` pair and
whatever the caller adds (``range``, ``content-md5``).

The caller passes the path already URI-encoded (S3 signs the path encoded
exactly once, not normalized) and the query already canonical (see
:func:`canonical_query`), and sends them on the wire exactly as signed.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def encode_key_path(bucket: str, key: str = "") -> str:
    """The path-style request path ``/bucket/key``, URI-encoded as S3 signs it
    (RFC 3986 unreserved characters and ``/`` kept, the rest ``%XX``)."""
    if not key:
        return "/" + quote(bucket, safe="")
    return "/" + quote(bucket, safe="") + "/" + quote(key, safe="/")


def canonical_query(params: Iterable[tuple[str, str]]) -> str:
    """The canonical query string: names and values URI-encoded (``/`` too),
    sorted by name then value, joined with ``&``; also what to send on the wire."""
    encoded = sorted((quote(name, safe="~"), quote(value, safe="~")) for name, value in params)
    return "&".join(f"{name}={value}" for name, value in encoded)


class RequestSigner:
    """Signs requests with one access key for one region and service.

    Not thread-safe (the benchmark signs on its event loop only)."""

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        region: str,
        service: str = "s3",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._access_key = access_key
        self._secret = ("AWS4" + secret_key).encode()
        self._region = region
        self._service = service
        self._clock = clock
        self._second = -1
        self._amz_date = ""
        self._day = ""
        self._signing_key = b""
        self._scope_tail = f"/{region}/{service}/aws4_request"

    def amz_date(self) -> str:
        """The current ``x-amz-date`` value (``YYYYMMDDTHHMMSSZ``), formatted once per second."""
        second = int(self._clock())
        if second != self._second:
            self._second = second
            self._amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
        return self._amz_date

    def signing_key(self, day: str) -> bytes:
        """The derived key of ``day`` (``YYYYMMDD``), computed once per day."""
        if day != self._day:
            k_date = hmac.digest(self._secret, day.encode(), "sha256")
            k_region = hmac.digest(k_date, self._region.encode(), "sha256")
            k_service = hmac.digest(k_region, self._service.encode(), "sha256")
            self._signing_key = hmac.digest(k_service, b"aws4_request", "sha256")
            self._day = day
        return self._signing_key

    def sign(
        self,
        method: str,
        host: str,
        path: str,
        query: str = "",
        headers: Mapping[str, str] | None = None,
        payload_hash: str = UNSIGNED_PAYLOAD,
        amz_date: str | None = None,
    ) -> dict[str, str]:
        """The headers to add to a request so that it carries a valid signature:
        ``Authorization``, ``x-amz-date`` and ``x-amz-content-sha256``.

        ``host`` is the Host header the request is sent with; ``headers`` are
        further headers to sign (and send). ``path`` must be URI-encoded and
        ``query`` canonical, exactly as sent."""
        date = amz_date or self.amz_date()
        signed: dict[str, str] = {"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": date}
        if headers:
            for name, value in headers.items():
                # SigV4 trims values and folds inner runs of spaces into one.
                signed[name.lower()] = " ".join(value.split())
        names = sorted(signed)
        signed_names = ";".join(names)
        canonical_headers = "".join(f"{name}:{signed[name]}\n" for name in names)
        canonical_request = f"{method}\n{path}\n{query}\n{canonical_headers}\n{signed_names}\n{payload_hash}"
        day = date[:8]
        scope = day + self._scope_tail
        string_to_sign = (
            f"{ALGORITHM}\n{date}\n{scope}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
        )
        signature = hmac.new(self.signing_key(day), string_to_sign.encode(), "sha256").hexdigest()
        return {
            "Authorization": (
                f"{ALGORITHM} Credential={self._access_key}/{scope}, "
                f"SignedHeaders={signed_names}, Signature={signature}"
            ),
            "x-amz-date": date,
            "x-amz-content-sha256": payload_hash,
        }
