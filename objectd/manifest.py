"""Where an object's bytes live: the manifest kept (opaque) in metadata.

An object version is a sequence of extents in byte order: one for a single
PUT, one per part of a multipart object. An extent is either a stream,
erasure-coded into fragments on the stores named in ``locations`` (index =
fragment index; "" where a fragment could not be written), or, for small
bodies, inline data whose sealed bytes ride in the manifest itself.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass

from erasure.layout import StripeLayout

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class StreamRef:
    """One erasure-coded stream and where its fragments are."""

    stream_id: str
    size: int
    layout: StripeLayout
    wrapped_key: bytes | None
    locations: tuple[str, ...]


@dataclass(frozen=True)
class InlineData:
    """A small body kept in metadata: one frame (xxh3-checksummed), sealed
    under its own data key unless encryption is off."""

    stream_id: str
    size: int
    sealed: bytes
    wrapped_key: bytes | None


Extent = StreamRef | InlineData


@dataclass(frozen=True)
class Manifest:
    """Everything needed to read an object version's (or a part's) bytes."""

    extents: tuple[Extent, ...]

    @property
    def size(self) -> int:
        """The total size in bytes."""
        return sum(e.size for e in self.extents)

    def streams(self) -> list[StreamRef]:
        """The erasure-coded extents (those with fragments to clean up)."""
        return [e for e in self.extents if isinstance(e, StreamRef)]

    @classmethod
    def join(cls, manifests: Iterable[Manifest]) -> Manifest:
        """One manifest covering ``manifests`` back to back (multipart completion)."""
        return cls(tuple(e for m in manifests for e in m.extents))

    def encode(self) -> bytes:
        """Compact JSON bytes for the metadata store."""
        out: list[object] = []
        for e in self.extents:
            if isinstance(e, StreamRef):
                out.append(
                    [
                        "s",
                        e.stream_id,
                        e.size,
                        e.layout.k,
                        e.layout.m,
                        e.layout.segment_size,
                        e.layout.backend,
                        _b64(e.wrapped_key),
                        list(e.locations),
                    ]
                )
            else:
                out.append(["i", e.stream_id, e.size, _b64(e.sealed), _b64(e.wrapped_key)])
        return json.dumps({"v": MANIFEST_VERSION, "e": out}, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Manifest:
        """Parse what :meth:`encode` wrote."""
        doc = json.loads(raw)
        if doc.get("v") != MANIFEST_VERSION:
            raise ValueError(f"unknown manifest version {doc.get('v')!r}")
        extents: list[Extent] = []
        for item in doc["e"]:
            if item[0] == "s":
                _, sid, size, k, m, seg, backend, wk, locs = item
                extents.append(
                    StreamRef(
                        stream_id=sid,
                        size=size,
                        layout=StripeLayout(k=k, m=m, segment_size=seg, backend=backend),
                        wrapped_key=_unb64(wk),
                        locations=tuple(locs),
                    )
                )
            elif item[0] == "i":
                _, sid, size, sealed, wk = item
                extents.append(
                    InlineData(stream_id=sid, size=size, sealed=base64.b64decode(sealed),
                               wrapped_key=_unb64(wk))
                )
            else:
                raise ValueError(f"unknown manifest extent {item[0]!r}")
        return cls(tuple(extents))


def _b64(data: bytes | None) -> str | None:
    return base64.b64encode(data).decode() if data is not None else None


def _unb64(text: str | None) -> bytes | None:
    return base64.b64decode(text) if text is not None else None
