"""AWS Signature Version 4 verification for S3 (sans I/O).

Values in, verdicts out: the caller hands over the parts of a request it
received (:class:`RequestParts`), the parsed authorization
(:func:`parse_authorization` for the ``Authorization`` header,
:func:`parse_presigned` for a presigned URL) and the secret it looked up for
the access key; :meth:`SigV4Verifier.verify` either returns a
:class:`VerifiedRequest` or raises the S3 error AWS answers for that case.

The verified request says how the body is to be trusted (its
:class:`PayloadMode`): a SHA-256 the caller must check against the body,
unsigned, or aws-chunked (signed chunks and/or trailers); for signed chunks
it carries the :class:`ChunkSigningContext` a :class:`ChunkSignatureChain`
needs to verify each chunk signature in turn.

Canonicalization follows S3, not the generic SigV4 rules: the path is not
normalized (``//`` and ``.`` segments stay) and is URI-encoded exactly once.
S3 canonicalizes the *decoded* path with AWS's encoding (unreserved
``A-Za-z0-9-_.~`` kept, ``/`` kept, everything else ``%XX`` upper-case), so
the signature holds whichever equivalent percent-encoding a client chose on
the wire; the path exactly as sent is tried as well for clients that sign
their own (non-canonical) encoding of it.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote_to_bytes

from s3api.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    InvalidArgument,
    InvalidRequest,
    RequestTimeTooSkewed,
    S3Error,
    SignatureDoesNotMatch,
)
from s3api.errors import NotImplemented as S3NotImplemented

__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "MAX_CLOCK_SKEW",
    "MAX_PRESIGNED_EXPIRES",
    "AuthScheme",
    "ChunkSignatureChain",
    "ChunkSigningContext",
    "CredentialScope",
    "PayloadMode",
    "RequestParts",
    "SigV4Authorization",
    "SigV4Verifier",
    "VerifiedRequest",
    "canonical_query_string",
    "canonical_uri",
    "derive_signing_key",
    "detect_auth_scheme",
    "format_amz_date",
    "parse_authorization",
    "parse_http_date",
    "parse_payload_hash",
    "parse_presigned",
]

ALGORITHM = "AWS4-HMAC-SHA256"
ECDSA_ALGORITHM = "AWS4-ECDSA-P256-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_CLOCK_SKEW = timedelta(minutes=15)
MAX_PRESIGNED_EXPIRES = 604800  # seven days, in seconds
TERMINATOR = "aws4_request"
SERVICE = "s3"

_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z", re.ASCII)
_SHORT_DATE = re.compile(r"\d{8}")
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_EXPECTED_CREDENTIAL = '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request"'


class AuthScheme(enum.Enum):
    """How a request authenticates itself."""

    ANONYMOUS = "anonymous"
    SIGV4_HEADER = "sigv4-header"
    SIGV4_QUERY = "sigv4-query"
    SIGV2_HEADER = "sigv2-header"
    SIGV2_QUERY = "sigv2-query"


class PayloadMode(enum.Enum):
    """What ``x-amz-content-sha256`` says about the body.

    ``SHA256`` means a hex digest the caller must compare with the body's
    (``XAmzContentSHA256Mismatch`` on difference); the ``STREAMING_*`` modes
    mean an aws-chunked body. The ECDSA (SigV4a) modes are recognised so the
    caller can answer ``NotImplemented``.
    """

    SHA256 = "sha256"
    UNSIGNED = "UNSIGNED-PAYLOAD"
    STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    STREAMING_ECDSA = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"
    STREAMING_ECDSA_TRAILER = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER"

    @property
    def is_streaming(self) -> bool:
        """The body is aws-chunked encoded."""
        return self.value.startswith("STREAMING-")

    @property
    def signed_chunks(self) -> bool:
        """Each chunk carries a signature chained from the seed signature."""
        return self in (PayloadMode.STREAMING_SIGNED, PayloadMode.STREAMING_SIGNED_TRAILER)

    @property
    def has_trailer(self) -> bool:
        """Trailing headers (checksums) follow the last chunk."""
        return self.value.endswith("-TRAILER")

    @property
    def is_supported(self) -> bool:
        """False for the SigV4a (ECDSA) streaming modes, which this server does not verify."""
        return self not in (PayloadMode.STREAMING_ECDSA, PayloadMode.STREAMING_ECDSA_TRAILER)


_PAYLOAD_BY_VALUE = {mode.value: mode for mode in PayloadMode if mode is not PayloadMode.SHA256}


def parse_payload_hash(value: str) -> tuple[PayloadMode, str | None]:
    """Classify an ``x-amz-content-sha256`` value: (mode, lower-case hex or None).

    Anything but the documented constants or 64 hex digits gets AWS's
    ``InvalidArgument``.
    """
    mode = _PAYLOAD_BY_VALUE.get(value)
    if mode is not None:
        return mode, None
    if _HEX_SHA256.fullmatch(value):
        return PayloadMode.SHA256, value.lower()
    raise InvalidArgument(
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, "
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER "
        "or a valid sha256 value.",
        ArgumentName="x-amz-content-sha256",
        ArgumentValue=value,
    )


@dataclass(frozen=True, slots=True)
class RequestParts:
    """The parts of a received request that signatures cover.

    ``raw_path`` is the path exactly as sent on the wire (still
    percent-encoded, without the query); ``query`` the decoded (name, value)
    pairs in wire order; ``headers`` (lower-case name, value) pairs in wire
    order, repeated names kept. Header values that carried non-ASCII bytes
    are expected as decoded by the HTTP layer with UTF-8 and
    ``surrogateescape`` (so the original bytes can be restored for hashing).
    """

    method: str
    raw_path: str
    query: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, str], ...]

    @classmethod
    def build(
        cls,
        method: str,
        raw_path: str,
        query: Iterable[tuple[str, str]] = (),
        headers: Iterable[tuple[str, str]] = (),
    ) -> RequestParts:
        """Build from any iterables, lower-casing header names."""
        return cls(
            method=method.upper(),
            raw_path=raw_path,
            query=tuple((str(name), str(value)) for name, value in query),
            headers=tuple((name.lower(), value) for name, value in headers),
        )

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (lower-case), or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        """Every value of header ``name`` (lower-case), in wire order."""
        return [value for key, value in self.headers if key == name]

    def query_value(self, name: str) -> str | None:
        """The first value of query parameter ``name`` (case-sensitive), or None."""
        for key, value in self.query:
            if key == name:
                return value
        return None

    def has_query(self, name: str) -> bool:
        """Whether query parameter ``name`` is present (case-sensitive)."""
        return any(key == name for key, _ in self.query)


def detect_auth_scheme(parts: RequestParts) -> AuthScheme:
    """Which signature scheme (if any) the request uses.

    Two mechanisms at once get the ``InvalidArgument`` AWS answers.
    """
    header = parts.header("authorization")
    schemes: list[AuthScheme] = []
    if header is not None:
        schemes.append(AuthScheme.SIGV2_HEADER if header.startswith("AWS ") else AuthScheme.SIGV4_HEADER)
    if parts.has_query("X-Amz-Algorithm") or parts.has_query("X-Amz-Credential"):
        schemes.append(AuthScheme.SIGV4_QUERY)
    if parts.has_query("AWSAccessKeyId") or parts.has_query("Signature"):
        schemes.append(AuthScheme.SIGV2_QUERY)
    if len(schemes) > 1:
        raise InvalidArgument(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
            "Signature query string parameter or the Authorization header should be specified",
            ArgumentName="Authorization",
            ArgumentValue=header or "",
        )
    return schemes[0] if schemes else AuthScheme.ANONYMOUS


@dataclass(frozen=True, slots=True)
class CredentialScope:
    """The ``Credential`` of a signature: access key and the scope it signs for."""

    access_key: str
    date: str  # YYYYMMDD
    region: str
    service: str
    terminator: str = TERMINATOR

    @property
    def scope(self) -> str:
        """``date/region/service/aws4_request``, as it appears in the string to sign."""
        return f"{self.date}/{self.region}/{self.service}/{self.terminator}"


@dataclass(frozen=True, slots=True)
class SigV4Authorization:
    """A parsed SigV4 authorization, from the header or a presigned query.

    For a presigned request ``amz_date`` and ``expires`` come from the
    query; for header authentication they are None (the date is a header).
    """

    credential: CredentialScope
    signed_headers: tuple[str, ...]
    signature: str
    presigned: bool = False
    amz_date: str | None = None
    expires: int | None = None


def _parse_credential(value: str, malformed: type[S3Error], prefix: str) -> CredentialScope:
    fields = value.split("/")
    if len(fields) != 5 or not fields[0] or not _SHORT_DATE.fullmatch(fields[1]):
        raise malformed(
            f"{prefix}the Credential is mal-formed; expecting {_EXPECTED_CREDENTIAL}."
        )
    access_key, date, region, service, terminator = fields
    return CredentialScope(access_key, date, region, service, terminator)


def _parse_signed_headers(value: str) -> tuple[str, ...]:
    return tuple(name.strip().lower() for name in value.split(";") if name.strip())


def parse_authorization(header: str) -> SigV4Authorization:
    """Parse an ``AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`` header.

    Raises ``AuthorizationHeaderMalformed`` when components are missing or
    malformed, ``NotImplemented`` for SigV4a and AWS's ``InvalidArgument``
    "Unsupported Authorization Type" for any other scheme.
    """
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm == ECDSA_ALGORITHM:
        raise S3NotImplemented("AWS Signature Version 4A is not implemented.")
    if algorithm != ALGORITHM:
        raise InvalidArgument(
            "Unsupported Authorization Type", ArgumentName="Authorization", ArgumentValue=header
        )
    components: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            components[name.strip()] = value.strip()
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if name not in components]
    if missing:
        raise AuthorizationHeaderMalformed(
            "The authorization header is malformed; the authorization header requires three "
            "components: Credential, SignedHeaders, and Signature."
        )
    credential = _parse_credential(
        components["Credential"], AuthorizationHeaderMalformed, "The authorization header is malformed; "
    )
    return SigV4Authorization(
        credential=credential,
        signed_headers=_parse_signed_headers(components["SignedHeaders"]),
        signature=components["Signature"],
    )


_PRESIGN_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
)


def parse_presigned(query: Sequence[tuple[str, str]]) -> SigV4Authorization:
    """Parse the ``X-Amz-*`` parameters of a presigned URL (decoded query pairs).

    Missing or malformed parameters, and ``X-Amz-Expires`` outside 0..604800
    seconds, get AWS's ``AuthorizationQueryParametersError``.
    """
    values: dict[str, str] = {}
    for name, value in query:
        if name in _PRESIGN_PARAMS and name not in values:
            values[name] = value
    if any(name not in values for name in _PRESIGN_PARAMS):
        raise AuthorizationQueryParametersError(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
            "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
        )
    if values["X-Amz-Algorithm"] == ECDSA_ALGORITHM:
        raise S3NotImplemented("AWS Signature Version 4A is not implemented.")
    if values["X-Amz-Algorithm"] != ALGORITHM:
        raise AuthorizationQueryParametersError('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    amz_date = values["X-Amz-Date"]
    if not _AMZ_DATE.fullmatch(amz_date) or _parse_amz_date(amz_date) is None:
        raise AuthorizationQueryParametersError(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
        )
    expires_text = values["X-Amz-Expires"]
    try:
        expires = int(expires_text)
    except ValueError:
        raise AuthorizationQueryParametersError("X-Amz-Expires should be a number") from None
    if expires < 0:
        raise AuthorizationQueryParametersError("X-Amz-Expires must be non-negative")
    if expires > MAX_PRESIGNED_EXPIRES:
        raise AuthorizationQueryParametersError(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800"
        )
    credential = _parse_credential(
        values["X-Amz-Credential"],
        AuthorizationQueryParametersError,
        "Error parsing the X-Amz-Credential parameter; ",
    )
    return SigV4Authorization(
        credential=credential,
        signed_headers=_parse_signed_headers(values["X-Amz-SignedHeaders"]),
        signature=values["X-Amz-Signature"],
        presigned=True,
        amz_date=amz_date,
        expires=expires,
    )


def _hmac_sha256(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def derive_signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """The SigV4 signing key: HMAC chain over date, region, service, ``aws4_request``."""
    key = _hmac_sha256(("AWS4" + secret_key).encode("utf-8"), date)
    key = _hmac_sha256(key, region)
    key = _hmac_sha256(key, service)
    return _hmac_sha256(key, TERMINATOR)


def _aws_quote(raw: bytes | str) -> str:
    # quote() keeps A-Za-z0-9 and "_.-~" and writes upper-case %XX: AWS's rule.
    return quote(raw, safe="")


def canonical_uri(raw_path: str) -> str:
    """S3's canonical URI: each segment of the decoded path AWS-encoded, ``/`` kept."""
    if not raw_path:
        return "/"
    # Split before decoding: an encoded "/" (%2F) inside a segment stays one.
    return "/".join(quote(unquote_to_bytes(segment), safe="") for segment in raw_path.split("/"))


def canonical_query_string(query: Iterable[tuple[str, str]], exclude: str | None = None) -> str:
    """Sorted ``name=value`` pairs (encoded with AWS's rules) joined by ``&``."""
    pairs = sorted(
        (_aws_quote(name.encode("utf-8", "surrogateescape")), _aws_quote(value.encode("utf-8", "surrogateescape")))
        for name, value in query
        if name != exclude
    )
    return "&".join(f"{name}={value}" for name, value in pairs)


def _canonical_headers(parts: RequestParts, signed_headers: Sequence[str]) -> str:
    lines = []
    for name in signed_headers:
        # Trimall: no leading/trailing blanks, inner runs of blanks folded to one.
        value = ",".join(" ".join(v.split()) for v in parts.header_values(name))
        lines.append(f"{name}:{value}\n")
    return "".join(lines)


def format_amz_date(moment: datetime) -> str:
    """``YYYYMMDDTHHMMSSZ`` (the SigV4 timestamp form) of an aware or UTC-naive datetime."""
    return _as_utc(moment).strftime("%Y%m%dT%H%M%SZ")


def _iso8601(moment: datetime) -> str:
    return _as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _parse_amz_date(value: str) -> datetime | None:
    if not _AMZ_DATE.fullmatch(value):
        return None
    try:  # the fields by position (strptime cost more than a whole GET's signature check)
        return datetime(
            int(value[0:4]), int(value[4:6]), int(value[6:8]),
            int(value[9:11]), int(value[11:13]), int(value[13:15]), tzinfo=UTC,
        )
    except ValueError:
        return None


def parse_http_date(value: str) -> datetime | None:
    """Parse an HTTP date (RFC 1123, RFC 850, asctime) or a SigV4 timestamp; None if neither."""
    amz = _parse_amz_date(value.strip())
    if amz is not None:
        return amz
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    return _as_utc(parsed)


@dataclass(frozen=True, slots=True)
class ChunkSigningContext:
    """What chunk (and trailer) signatures are chained from."""

    signing_key: bytes
    seed_signature: str
    timestamp: str  # YYYYMMDDTHHMMSSZ of the request
    scope: str  # date/region/s3/aws4_request


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    """The outcome of a successful SigV4 verification."""

    access_key: str
    region: str
    request_time: datetime
    presigned: bool
    signed_headers: tuple[str, ...]
    payload_mode: PayloadMode
    payload_sha256: str | None  # lower-case hex when payload_mode is SHA256
    signing: ChunkSigningContext

    def chunk_signature_chain(self) -> ChunkSignatureChain:
        """A verifier for the chunk and trailer signatures of an aws-chunked body."""
        return ChunkSignatureChain(self.signing)


class ChunkSignatureChain:
    """Verifies the chained signatures of a ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`` body.

    Each chunk's string to sign holds the previous signature (the request's
    seed signature for the first chunk), so chunks can be neither dropped,
    reordered nor replayed.
    """

    __slots__ = ("_key", "_prefix", "_previous")

    def __init__(self, context: ChunkSigningContext) -> None:
        self._key = context.signing_key
        self._prefix = f"{context.timestamp}\n{context.scope}\n"
        self._previous = context.seed_signature

    def verify_chunk(self, chunk_sha256: bytes, signature: str) -> None:
        """Check the signature of a chunk whose SHA-256 digest is ``chunk_sha256``.

        Raises ``SignatureDoesNotMatch`` when it differs.
        """
        string_to_sign = (
            f"AWS4-HMAC-SHA256-PAYLOAD\n{self._prefix}{self._previous}\n{EMPTY_SHA256}\n{chunk_sha256.hex()}"
        )
        self._check(string_to_sign, signature)

    def verify_trailer(self, canonical_trailer: bytes, signature: str) -> None:
        """Check ``x-amz-trailer-signature`` over the canonical trailer (``name:value\\n`` lines)."""
        digest = hashlib.sha256(canonical_trailer).hexdigest()
        string_to_sign = f"AWS4-HMAC-SHA256-TRAILER\n{self._prefix}{self._previous}\n{digest}"
        self._check(string_to_sign, signature)

    def _check(self, string_to_sign: str, signature: str) -> None:
        expected = hmac.new(self._key, string_to_sign.encode("ascii"), hashlib.sha256).hexdigest()
        if not (_SIGNATURE.fullmatch(signature) and hmac.compare_digest(expected, signature)):
            raise SignatureDoesNotMatch(
                StringToSign=string_to_sign, SignatureProvided=signature
            )
        self._previous = signature


def _hex_bytes(text: str) -> str:
    return " ".join(f"{byte:02x}" for byte in text.encode("utf-8", "surrogateescape"))


class SigV4Verifier:
    """Verifies SigV4-signed S3 requests (header and presigned forms).

    ``region`` is the one region this server answers for, or None to accept
    whatever region a client signed for. Signing keys are derived once per
    (secret, date, region, service) and kept in a small LRU, since every
    request needs one and the derivation is four HMACs.
    """

    def __init__(
        self,
        region: str | None = None,
        *,
        max_clock_skew: timedelta = MAX_CLOCK_SKEW,
        signing_key_cache_size: int = 256,
    ) -> None:
        self.region = region
        self.max_clock_skew = max_clock_skew
        #: ``derive_signing_key`` behind an LRU (``cache_info()`` shows its use).
        self.signing_key = functools.lru_cache(maxsize=signing_key_cache_size)(derive_signing_key)

    def verify(
        self,
        parts: RequestParts,
        auth: SigV4Authorization,
        secret_key: str,
        now: datetime,
    ) -> VerifiedRequest:
        """Verify ``parts`` against ``auth`` signed with ``secret_key``, at time ``now``.

        Raises (as AWS does): ``AuthorizationHeaderMalformed`` /
        ``AuthorizationQueryParametersError`` for a wrong scope,
        ``AccessDenied`` for a missing date, unsigned ``x-amz-*`` headers or
        a presigned URL that is expired or not yet valid,
        ``RequestTimeTooSkewed``, ``InvalidRequest`` when
        ``x-amz-content-sha256`` is missing, ``InvalidArgument`` when it is
        malformed, and ``SignatureDoesNotMatch``.
        """
        now = _as_utc(now)
        self._check_scope(auth)
        if auth.presigned:
            timestamp, request_time = self._presigned_time(auth, now)
        else:
            timestamp, request_time = self._header_time(parts, auth, now)
        payload_mode, payload_sha256, payload_value = self._payload(parts, auth)
        self._check_signed_headers(parts, auth)

        credential = auth.credential
        key = self.signing_key(secret_key, credential.date, credential.region, credential.service)
        scope = credential.scope
        canonical_query = canonical_query_string(
            parts.query, exclude="X-Amz-Signature" if auth.presigned else None
        )
        headers_block = _canonical_headers(parts, auth.signed_headers)
        signed_headers = ";".join(auth.signed_headers)
        provided_ok = _SIGNATURE.fullmatch(auth.signature) is not None
        first: tuple[str, str] | None = None
        for uri in self._uri_candidates(parts.raw_path):
            canonical_request = (
                f"{parts.method}\n{uri}\n{canonical_query}\n{headers_block}\n{signed_headers}\n{payload_value}"
            )
            request_digest = hashlib.sha256(canonical_request.encode("utf-8", "surrogateescape")).hexdigest()
            string_to_sign = f"{ALGORITHM}\n{timestamp}\n{scope}\n{request_digest}"
            expected = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
            if provided_ok and hmac.compare_digest(expected, auth.signature):
                return VerifiedRequest(
                    access_key=credential.access_key,
                    region=credential.region,
                    request_time=request_time,
                    presigned=auth.presigned,
                    signed_headers=auth.signed_headers,
                    payload_mode=payload_mode,
                    payload_sha256=payload_sha256,
                    signing=ChunkSigningContext(key, auth.signature, timestamp, scope),
                )
            if first is None:
                first = (canonical_request, string_to_sign)
        assert first is not None
        canonical_request, string_to_sign = first
        raise SignatureDoesNotMatch(
            AWSAccessKeyId=credential.access_key,
            StringToSign=string_to_sign,
            SignatureProvided=auth.signature,
            StringToSignBytes=_hex_bytes(string_to_sign),
            CanonicalRequest=canonical_request,
            CanonicalRequestBytes=_hex_bytes(canonical_request),
        )

    @staticmethod
    def _uri_candidates(raw_path: str) -> list[str]:
        primary = canonical_uri(raw_path)
        if raw_path and raw_path != primary:
            return [primary, raw_path]
        return [primary]

    def _check_scope(self, auth: SigV4Authorization) -> None:
        credential = auth.credential
        if auth.presigned:
            error: type[S3Error] = AuthorizationQueryParametersError
            prefix = "Error parsing the X-Amz-Credential parameter; "
        else:
            error = AuthorizationHeaderMalformed
            prefix = "The authorization header is malformed; "
        if self.region is not None and credential.region != self.region:
            raise error(
                f"{prefix}the region '{credential.region}' is wrong; expecting '{self.region}'",
                Region=self.region,
            )
        if credential.service != SERVICE:
            raise error(f'{prefix}incorrect service "{credential.service}". This endpoint belongs to "s3".')
        if credential.terminator != TERMINATOR:
            raise error(
                f'{prefix}incorrect terminal "{credential.terminator}". This endpoint uses "aws4_request".'
            )

    def _header_time(
        self, parts: RequestParts, auth: SigV4Authorization, now: datetime
    ) -> tuple[str, datetime]:
        raw = parts.header("x-amz-date")
        request_time = _parse_amz_date(raw.strip()) if raw is not None else None
        if raw is None:
            raw = parts.header("date")
            request_time = parse_http_date(raw) if raw is not None else None
            timestamp = format_amz_date(request_time) if request_time is not None else ""
        else:
            timestamp = raw.strip()  # already YYYYMMDDTHHMMSSZ when it parsed
        if raw is None or request_time is None:
            raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
        if auth.credential.date != timestamp[:8]:
            raise AuthorizationHeaderMalformed(
                "The authorization header is malformed; Invalid credential date. "
                f'Date is not the same as X-Amz-Date: "{timestamp[:8]}".'
            )
        if abs(now - request_time) > self.max_clock_skew:
            raise RequestTimeTooSkewed(
                RequestTime=raw,
                ServerTime=_iso8601(now),
                MaxAllowedSkewMilliseconds=str(int(self.max_clock_skew.total_seconds() * 1000)),
            )
        return timestamp, request_time

    def _presigned_time(self, auth: SigV4Authorization, now: datetime) -> tuple[str, datetime]:
        assert auth.amz_date is not None and auth.expires is not None
        request_time = _parse_amz_date(auth.amz_date)
        assert request_time is not None  # checked by parse_presigned
        if auth.credential.date != auth.amz_date[:8]:
            raise AuthorizationQueryParametersError(
                f'Invalid credential date "{auth.credential.date}". This date is not the same as '
                f'X-Amz-Date: "{auth.amz_date[:8]}".'
            )
        expires_at = request_time + timedelta(seconds=auth.expires)
        # AWS: a URL dated in the future is "not yet valid" (with the usual
        # clock-skew allowance); one past its expiry "has expired".
        if request_time - now > self.max_clock_skew:
            raise AccessDenied(
                "Request is not yet valid",
                **{
                    "X-Amz-Date": str(int(request_time.timestamp() * 1000)),
                    "Expires": _iso8601(expires_at),
                    "ServerTime": _iso8601(now),
                },
            )
        if now > expires_at:
            raise AccessDenied(
                "Request has expired",
                **{
                    "X-Amz-Expires": str(auth.expires),
                    "Expires": _iso8601(expires_at),
                    "ServerTime": _iso8601(now),
                },
            )
        return auth.amz_date, request_time

    @staticmethod
    def _payload(parts: RequestParts, auth: SigV4Authorization) -> tuple[PayloadMode, str | None, str]:
        if auth.presigned:
            # A presigned URL signs "UNSIGNED-PAYLOAD" unless the signer pinned
            # a payload hash as a parameter or a signed header.
            value = parts.query_value("X-Amz-Content-Sha256") or parts.header("x-amz-content-sha256")
            if value is None:
                return PayloadMode.UNSIGNED, None, PayloadMode.UNSIGNED.value
        else:
            value = parts.header("x-amz-content-sha256")
            if value is None:
                raise InvalidRequest("Missing required header for this request: x-amz-content-sha256")
        value = value.strip()
        mode, digest = parse_payload_hash(value)
        return mode, digest, value

    @staticmethod
    def _check_signed_headers(parts: RequestParts, auth: SigV4Authorization) -> None:
        signed = set(auth.signed_headers)
        unsigned = sorted(
            {name for name, _ in parts.headers if name.startswith("x-amz-") and name not in signed}
        )
        if "host" not in signed:
            unsigned.insert(0, "host")
        if unsigned:
            raise AccessDenied(
                "There were headers present in the request which were not signed",
                HeadersNotSigned=", ".join(unsigned),
            )
