"""What a request body must be, and the running digests that check it.

:func:`body_spec` reads a request's headers (and what signature verification
said about the payload) into a :class:`BodySpec`: its length, whether it is
aws-chunked, and every digest the client vouched for (Content-MD5,
x-amz-content-sha256, one flexible checksum in a header or a trailer).
:class:`BodyDigester` is fed the decoded payload bytes and, at the end,
compares what it computed with what was promised, raising S3's error for the
first mismatch. Both are pure: bytes and strings in, values or errors out.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from s3api.auth_errors import MalformedTrailerError
from s3api.aws_chunked import parse_trailer_header
from s3api.checksums import (
    ChecksumAlgorithm,
    CrcChecksum,
    HashChecksum,
    checksum_mismatch,
    find_checksum_header,
    new_checksum,
    new_md5,
    parse_checksum_value,
    parse_content_md5,
)
from s3api.errors import (
    BadDigest,
    EntityTooLarge,
    IncompleteBody,
    InvalidArgument,
    InvalidRequest,
    MissingContentLength,
    XAmzContentSHA256Mismatch,
)
from s3api.md5_lanes import LaneHasher, LaneMd5
from s3api.service import BodyDigest, Checksum
from s3api.sigv4 import PayloadMode

__all__ = ["BodyDigester", "BodySpec", "body_spec"]


@dataclass(frozen=True)
class BodySpec:
    """What the headers say a request body is.

    ``wire_length`` is Content-Length (None for ``Transfer-Encoding:
    chunked``); ``decoded_length`` the payload length once aws-chunked framing
    is removed (x-amz-decoded-content-length), or Content-Length otherwise.
    ``checksum_value`` is the raw digest from an ``x-amz-checksum-*`` header;
    for a trailer checksum it is None and ``trailer_names`` names the trailer.
    """

    payload_mode: PayloadMode = PayloadMode.UNSIGNED
    wire_length: int | None = None
    decoded_length: int | None = None
    content_md5: bytes | None = None
    payload_sha256: str | None = None
    checksum_algorithm: ChecksumAlgorithm | None = None
    checksum_value: bytes | None = None
    trailer_names: frozenset[str] = frozenset()

    @property
    def aws_chunked(self) -> bool:
        """The body carries aws-chunked framing."""
        return self.payload_mode.is_streaming


def _length(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    text = value.strip()
    if not text.isdigit():
        raise InvalidArgument(f"{name} must be a non-negative integer", ArgumentName=name, ArgumentValue=value)
    return int(text)


def body_spec(
    headers: Mapping[str, str],
    payload_mode: PayloadMode,
    payload_sha256: str | None,
    *,
    max_size: int,
    checksum_headers_describe_body: bool = True,
    length_required: bool = True,
) -> BodySpec:
    """Read a request's body headers into a :class:`BodySpec`.

    ``headers`` is case-insensitive. ``payload_mode`` / ``payload_sha256``
    come from signature verification. ``checksum_headers_describe_body`` is
    False for CompleteMultipartUpload, whose ``x-amz-checksum-*`` headers
    carry the whole object's checksum rather than the XML body's.
    ``length_required`` is False for operations whose body is optional: a
    request with neither Content-Length nor chunked transfer has no body.

    Raises MissingContentLength (no Content-Length and not chunked, or an
    aws-chunked body without x-amz-decoded-content-length), EntityTooLarge
    past ``max_size``, InvalidDigest for a malformed Content-MD5 and
    InvalidRequest for inconsistent checksum headers.
    """
    wire_length = _length(headers, "Content-Length")
    chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
    if wire_length is None and not chunked:
        if length_required:
            raise MissingContentLength()
        wire_length = 0
    if payload_mode.is_streaming:
        decoded_length = _length(headers, "x-amz-decoded-content-length")
        if decoded_length is None:
            raise MissingContentLength()
    else:
        decoded_length = wire_length
    if decoded_length is not None and decoded_length > max_size:
        raise EntityTooLarge(ProposedSize=str(decoded_length), MaxSizeAllowed=str(max_size))

    md5_header = headers.get("Content-MD5")
    content_md5 = parse_content_md5(md5_header) if md5_header is not None else None

    trailer_header = headers.get("x-amz-trailer")
    trailer_names = parse_trailer_header(trailer_header) if trailer_header else frozenset()
    algorithm: ChecksumAlgorithm | None = None
    value: bytes | None = None
    if checksum_headers_describe_body:
        pairs = [(name.lower(), v) for name, v in headers.items() if name.lower() != "x-amz-trailer"]
        found = find_checksum_header(pairs)
        if found is not None:
            algorithm, value = found
    for name in trailer_names:
        trailer_algorithm = ChecksumAlgorithm.from_header(name)
        if algorithm is not None and trailer_algorithm is not algorithm:
            raise InvalidRequest(
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
            )
        algorithm, value = trailer_algorithm, None
    sdk_algorithm = headers.get("x-amz-sdk-checksum-algorithm")
    if checksum_headers_describe_body and sdk_algorithm is not None and algorithm is None:
        ChecksumAlgorithm.from_name(sdk_algorithm)  # an unknown name is its own InvalidRequest
        raise InvalidRequest(
            "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* "
            "or x-amz-trailer headers were found."
        )
    return BodySpec(
        payload_mode=payload_mode,
        wire_length=wire_length,
        decoded_length=decoded_length,
        content_md5=content_md5,
        payload_sha256=payload_sha256 if payload_mode is PayloadMode.SHA256 else None,
        checksum_algorithm=algorithm,
        checksum_value=value,
        trailer_names=trailer_names,
    )


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


# Bodies announced at this size or more take their MD5 from the lane hasher,
# which pays off only for bodies hashed a segment at a time off the loop.
LANE_MD5_MIN = 1024 * 1024


class BodyDigester:
    """Computes a body's MD5 (always), SHA-256 and flexible checksum (when
    promised) as its decoded bytes arrive, then checks them against the spec.

    Given a :class:`~s3api.md5_lanes.LaneHasher`, a large body's MD5 is
    hashed together with other uploads' (bytes handed over with
    :meth:`update_later`); call :meth:`settle` off the event loop before
    :meth:`finish` so the last batch is not hashed on the loop.

    Not thread-safe, but it may be fed from a worker thread as long as one
    thread at a time feeds it, in order.
    """

    def __init__(self, spec: BodySpec, md5_lanes: LaneHasher | None = None) -> None:
        self.spec = spec
        self.size = 0
        length = spec.decoded_length
        self._md5: HashChecksum | LaneMd5 = (
            md5_lanes.md5()
            if md5_lanes is not None and length is not None and length >= LANE_MD5_MIN
            else new_md5()
        )
        self._sha256 = hashlib.sha256() if spec.payload_sha256 is not None else None
        self._checksum: CrcChecksum | HashChecksum | None = (
            new_checksum(spec.checksum_algorithm) if spec.checksum_algorithm is not None else None
        )

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Account for the next decoded payload bytes."""
        self._md5.update(data)
        self._update_others(data)

    def update_later(self, data: bytes | bytearray | memoryview) -> None:
        """:meth:`update` for bytes handed over: they must not change
        afterwards, and their MD5 may be computed later, in a batch with
        other uploads' (the other digests are computed now)."""
        md5 = self._md5
        if isinstance(md5, LaneMd5):
            md5.defer(data)
        else:
            md5.update(data)
        self._update_others(data)

    def _update_others(self, data: bytes | bytearray | memoryview) -> None:
        if self._sha256 is not None:
            self._sha256.update(data)
        if self._checksum is not None:
            self._checksum.update(data)
        self.size += data.nbytes if isinstance(data, memoryview) else len(data)

    @property
    def unsettled(self) -> bool:
        """Whether bytes handed to :meth:`update_later` are not all hashed
        yet (waiting, or in a batch another thread is hashing): then
        :meth:`finish` would block, and :meth:`settle` belongs off the loop."""
        return isinstance(self._md5, LaneMd5) and not self._md5.settled

    def close(self) -> None:
        """The body will not be finished (its request failed): release what
        its MD5 holds, so other uploads do not wait for it."""
        if isinstance(self._md5, LaneMd5):
            self._md5.close()

    def settle(self) -> None:
        """Hash whatever :meth:`update_later` left waiting (blocking: call it
        off the event loop)."""
        if isinstance(self._md5, LaneMd5):
            self._md5.flush()

    def finish(self, trailers: Mapping[str, str] | None = None) -> BodyDigest:
        """Check every promised digest; return the body's size, MD5 and checksum.

        ``trailers`` are the aws-chunked trailing headers, if any. Raises
        IncompleteBody (length differs from the one announced),
        XAmzContentSHA256Mismatch, BadDigest (Content-MD5 or checksum).
        """
        spec = self.spec
        if spec.decoded_length is not None and self.size != spec.decoded_length:
            raise IncompleteBody()
        if self._sha256 is not None:
            computed = self._sha256.hexdigest()
            if computed != spec.payload_sha256:
                raise XAmzContentSHA256Mismatch(
                    ClientComputedContentSHA256=spec.payload_sha256 or "",
                    S3ComputedContentSHA256=computed,
                )
        md5 = self._md5.digest()
        if spec.content_md5 is not None and md5 != spec.content_md5:
            raise BadDigest(ExpectedDigest=_b64(spec.content_md5), CalculatedDigest=_b64(md5))
        checksum: Checksum | None = None
        if self._checksum is not None:
            algorithm = spec.checksum_algorithm
            assert algorithm is not None
            expected = spec.checksum_value
            if expected is None:
                sent = (trailers or {}).get(algorithm.header)
                if sent is None:
                    raise MalformedTrailerError()
                expected = parse_checksum_value(algorithm, sent)
            digest = self._checksum.digest()
            if digest != expected:
                raise checksum_mismatch(algorithm)
            checksum = Checksum(algorithm.value, _b64(digest))
        return BodyDigest(size=self.size, md5=md5, checksum=checksum)
