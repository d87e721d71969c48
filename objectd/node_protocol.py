"""The storage-node HTTP API, as values and pure functions (no I/O).

A node serves fragments to gateways over mutual-TLS HTTPS::

    PUT    /v1/fragments/ID        body: the whole fragment (chunked or sized);
                                   201 once durable, 409 if ID exists
    GET    /v1/fragments/ID        Range: bytes=A-B required; 206 and the bytes,
                                   422 when a whole frame in the range is corrupt
    HEAD   /v1/fragments/ID        200 with X-Objectd-Fragment-Size, or 404
    DELETE /v1/fragments/ID        204, also when missing
    GET    /v1/fragments?after=ID&limit=N   a page of committed ids, sorted
    GET    /v1/info                the node's :class:`NodeInfo`
    GET    /v1/health              200 when the node can serve its disk

Errors carry a JSON document ``{"error": CODE, "message": TEXT}``. Both the
node (:mod:`objectd.node_server`) and its client (:mod:`objectd.node_client`)
build on this module, so the wire format lives in one place.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from erasure.errors import PieceCorrupt
from erasure.framing import HEADER_SIZE, parse_header, verify_frames
from objectd.fragment_store import FRAGMENT_ID

API_PREFIX = "/v1"
FRAGMENTS_PATH = f"{API_PREFIX}/fragments"
INFO_PATH = f"{API_PREFIX}/info"
HEALTH_PATH = f"{API_PREFIX}/health"
SIZE_HEADER = "X-Objectd-Fragment-Size"

MAX_READ = 64 << 20
"""Largest byte range one GET may ask for: bounds a node's memory per request."""

DEFAULT_PAGE = 1000
MAX_PAGE = 10000

_RANGE = re.compile(r"\Abytes=([0-9]{1,19})-([0-9]{1,19})\Z")


class ErrorCode(str, enum.Enum):
    """The ``error`` field of a node's error document."""

    INVALID_ID = "invalid-id"
    BAD_REQUEST = "bad-request"
    NOT_FOUND = "not-found"
    EXISTS = "exists"
    BUSY = "busy"
    CORRUPT = "corrupt"
    OUT_OF_RANGE = "out-of-range"
    DRAINING = "draining"
    OFFLINE = "offline"
    FULL = "full"
    FORBIDDEN = "forbidden"
    INTERNAL = "internal"


STATUS_OF: Mapping[ErrorCode, int] = {
    ErrorCode.INVALID_ID: 400,
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.EXISTS: 409,
    ErrorCode.BUSY: 409,
    ErrorCode.OUT_OF_RANGE: 416,
    ErrorCode.CORRUPT: 422,
    ErrorCode.INTERNAL: 500,
    ErrorCode.DRAINING: 503,
    ErrorCode.OFFLINE: 503,
    ErrorCode.FULL: 507,
}
"""The HTTP status each error is sent with."""


def error_document(code: ErrorCode, message: str) -> dict[str, str]:
    """The JSON body of an error answer."""
    return {"error": code.value, "message": message}


def error_code_of(document: object) -> ErrorCode | None:
    """The code of a parsed error document, None when it is not one."""
    if isinstance(document, Mapping):
        try:
            return ErrorCode(document.get("error"))
        except ValueError:
            return None
    return None


class RequestInvalid(ValueError):
    """A request the node refuses before touching anything."""


def valid_fragment_id(value: str) -> bool:
    """Whether ``value`` is a fragment id (the only names that reach a path)."""
    return bool(FRAGMENT_ID.match(value))


def fragment_path(fragment_id: str) -> str:
    """The URL path of a fragment."""
    if not valid_fragment_id(fragment_id):
        raise ValueError(f"invalid fragment id {fragment_id!r}")
    return f"{FRAGMENTS_PATH}/{fragment_id}"


CACHE_HEADER = "X-Objectd-Cache"
"""On a fragment PUT: ``keep`` (the default) or ``drop``, the latter for a
fragment read only to repair, whose pages the node need not keep cached. A
hint: a value a node does not know means ``keep``, so a newer gateway's hints
never fail a write to an older node."""


def cache_header(cached: bool) -> dict[str, str]:
    """The headers of a fragment PUT saying whether to keep it cached."""
    return {} if cached else {CACHE_HEADER: "drop"}


def parse_cache_header(value: str | None) -> bool:
    """Whether a fragment PUT asks its fragment kept cached: only ``drop``
    says no; anything else, or no header, means keep it."""
    return value != "drop"


def range_header(offset: int, length: int) -> str:
    """The ``Range`` header asking ``length`` bytes at ``offset``."""
    if offset < 0 or length < 1:
        raise ValueError(f"invalid range: offset {offset}, length {length}")
    return f"bytes={offset}-{offset + length - 1}"


def parse_range(value: str | None) -> tuple[int, int]:
    """(offset, length) of a single ``bytes=A-B`` range; RequestInvalid otherwise.

    Open or suffix ranges and multiple ranges are refused: gateways always ask
    an exact span, and a node answers nothing it was not asked.
    """
    if not value:
        raise RequestInvalid("a Range header (bytes=A-B) is required")
    match = _RANGE.match(value.strip())
    if not match:
        raise RequestInvalid(f"unsupported range {value!r}: only bytes=A-B")
    first, last = int(match.group(1)), int(match.group(2))
    if last < first:
        raise RequestInvalid(f"range {value!r} ends before it starts")
    length = last - first + 1
    if length > MAX_READ:
        raise RequestInvalid(f"range of {length} bytes exceeds {MAX_READ}")
    return first, length


def content_range(offset: int, length: int, size: int) -> str:
    """The ``Content-Range`` header of a partial answer."""
    return f"bytes {offset}-{offset + length - 1}/{size}"


def parse_list_query(query: Mapping[str, str]) -> tuple[str, int]:
    """(after, limit) of a listing request; RequestInvalid when malformed.

    ``after`` is empty or a fragment id (it is only compared, never a path);
    ``limit`` is 1..MAX_PAGE, DEFAULT_PAGE when absent.
    """
    after = query.get("after", "")
    if after and not valid_fragment_id(after):
        raise RequestInvalid("after must be a fragment id")
    raw = query.get("limit")
    if raw is None or raw == "":
        return after, DEFAULT_PAGE
    if not raw.isdigit() or len(raw) > 6 or not 1 <= int(raw) <= MAX_PAGE:
        raise RequestInvalid(f"limit must be 1..{MAX_PAGE}")
    return after, int(raw)


class FrameCheck(enum.Enum):
    """What a node could say about the frames of a byte range it read."""

    VERIFIED = "verified"
    """The range is whole frames and every one is intact."""
    UNALIGNED = "unaligned"
    """The range does not start and end on frame boundaries: not checked."""
    CORRUPT = "corrupt"
    """The range is whole frames and at least one is damaged."""


@dataclass(frozen=True)
class FrameVerdict:
    """The outcome of :func:`check_frames`, with the reason when corrupt."""

    check: FrameCheck
    reason: str = ""


def check_frames(fragment_id: str, file_size: int, file_head: bytes, offset: int,
                 data: bytes | bytearray | memoryview) -> FrameVerdict:
    """Verify the frames in ``data``, the bytes at ``offset`` of a fragment
    file of ``file_size`` bytes whose first bytes are ``file_head`` (at least
    the frame header, when the file has that many bytes).

    Every frame of a fragment file but the last has the size the first
    frame's header gives, so that header tells where frames start: a range
    that starts on a frame and ends on one (or at the end of the file) is
    checked frame by frame (xxh3 digest, segment index, fragment index),
    without any key. Other ranges cannot be checked here and are answered as
    they are; the gateway verifies every frame it uses in any case.
    """
    view = memoryview(data).cast("B")
    if view.nbytes == 0:
        return FrameVerdict(FrameCheck.UNALIGNED)
    try:
        first = parse_header(file_head[:HEADER_SIZE])
    except PieceCorrupt as exc:
        if offset == 0:
            return FrameVerdict(FrameCheck.CORRUPT, f"frame 0: {exc}")
        return FrameVerdict(FrameCheck.UNALIGNED, f"frame 0 unreadable: {exc}")
    full = first.frame_size
    end = offset + view.nbytes
    if offset % full or (end % full and end != file_size):
        return FrameVerdict(FrameCheck.UNALIGNED)
    frag_index = int(fragment_id.rpartition(".")[2])
    bad = verify_frames(view, full, first_seg_index=offset // full, frag_index=frag_index)
    if bad:
        segments = ", ".join(str(offset // full + position) for position in bad)
        return FrameVerdict(FrameCheck.CORRUPT, f"frame of segment {segments} failed verification")
    return FrameVerdict(FrameCheck.VERIFIED)


class NodeState(str, enum.Enum):
    """Whether a node takes new fragments."""

    UP = "up"
    DRAINING = "draining"
    """Serves reads and deletes, refuses new fragments."""


@dataclass(frozen=True)
class NodeInfo:
    """What a node reports about itself at ``/v1/info``."""

    id: str
    site: str
    zone: str
    capacity_bytes: int
    free_bytes: int
    used_bytes: int
    fragments: int
    state: str
    version: str

    def to_json(self) -> dict[str, Any]:
        """The document served at ``/v1/info``."""
        return asdict(self)

    @classmethod
    def from_json(cls, doc: object) -> NodeInfo:
        """Parse a ``/v1/info`` document; ValueError when malformed."""
        if not isinstance(doc, Mapping):
            raise ValueError("node info is not an object")
        try:
            info = cls(
                id=str(doc["id"]),
                site=str(doc.get("site", "")),
                zone=str(doc.get("zone", "")),
                capacity_bytes=int(doc["capacity_bytes"]),
                free_bytes=int(doc["free_bytes"]),
                used_bytes=int(doc.get("used_bytes", 0)),
                fragments=int(doc.get("fragments", 0)),
                state=str(doc["state"]),
                version=str(doc.get("version", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed node info: {exc!r}") from exc
        return info


def parse_fragment_page(doc: object) -> list[str]:
    """The ids of a listing answer; ValueError when malformed or when the
    node sent something that is not a fragment id."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("fragments"), list):
        raise ValueError("malformed fragment listing")
    ids = doc["fragments"]
    if not all(isinstance(i, str) and valid_fragment_id(i) for i in ids):
        raise ValueError("fragment listing holds an invalid id")
    return list(ids)
