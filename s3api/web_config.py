"""Settings of the S3 HTTP front end."""

from __future__ import annotations

import base64
import itertools
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

__all__ = ["HTTP_LIMITS", "S3ApiConfig", "new_host_id", "new_request_id"]

HTTP_LIMITS = {"max_line_size": 64 * 1024, "max_field_size": 64 * 1024}
"""aiohttp request-parser limits to run the S3 app with (AppRunner keyword
arguments): above S3's own header limit, which the app enforces itself."""

GiB = 1024**3


_MIX32 = 0x9E3779B1  # odd: multiplying by it permutes the 32-bit numbers
_MIX64 = 0x9E3779B97F4A7C15  # odd: the same for 64 bits


class _RequestIds:
    """Request ids unique to this process: a random prefix drawn once, then a
    counter, scrambled by a bijection keyed at random so that ids do not show
    how many requests a gateway serves. Every response carries two ids;
    drawing them from the OS for each request released the GIL twice per
    request, and the event loop then waited for whichever worker thread took
    it."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._prefix = secrets.token_bytes(16)
        self._hex_prefix = self._prefix[:4].hex().upper()
        self._mask32 = secrets.randbits(32)
        self._mask64 = secrets.randbits(64)
        self._counter = itertools.count(1)

    def request_id(self) -> str:
        """16 upper-case hex digits, AWS's form: the process's 8, then the count's."""
        n = ((next(self._counter) * _MIX32) ^ self._mask32) & 0xFFFFFFFF
        return f"{self._hex_prefix}{n:08X}"

    def host_id(self) -> str:
        """An opaque base64 ``x-amz-id-2``: 16 bytes of the process, 8 of the count."""
        n = ((next(self._counter) * _MIX64) ^ self._mask64) & 0xFFFFFFFFFFFFFFFF
        return base64.b64encode(self._prefix + n.to_bytes(8, "big")).decode("ascii")


_IDS = _RequestIds()


def new_request_id() -> str:
    """A fresh request id in AWS's form: 16 upper-case hex digits."""
    return _IDS.request_id()


def new_host_id() -> str:
    """A fresh ``x-amz-id-2`` value: opaque base64, like AWS's."""
    return _IDS.host_id()


@dataclass(frozen=True)
class S3ApiConfig:
    """How the S3 front end behaves.

    ``region``: the one region clients must sign for, or None to accept any
    region (then new buckets take the region they were signed for).
    ``base_domains``: host names under which ``bucket.<domain>`` names a bucket
    (virtual-hosted style); requests to anything else are path style.
    """

    region: str | None = None
    base_domains: tuple[str, ...] = ()
    max_clock_skew: timedelta = timedelta(minutes=15)
    request_id: Callable[[], str] = new_request_id
    host_id: Callable[[], str] = new_host_id
    server_name: str = "objectd"
    # AWS limits: 5 GiB for a single PUT and for one part.
    max_put_size: int = 5 * GiB
    max_part_size: int = 5 * GiB
    # Request bodies are read in pieces of up to read_size bytes; pieces from
    # offload_threshold up are hashed on a worker thread (hashlib releases the
    # GIL) while the previous piece is being consumed.
    read_size: int = 1024 * 1024
    offload_threshold: int = 64 * 1024
    hash_workers: int = 4
    # Large bodies' MD5s are hashed together in vector lanes (s3api.md5_lanes)
    # when the extension is built; False: each with hashlib.
    md5_lanes: bool = True
    # A client that sends nothing for this long mid-body gets RequestTimeout.
    body_idle_timeout: float = 60.0
    # DeleteObjects deletes this many keys at a time.
    delete_concurrency: int = 16
    # Exceptions that mean a backend is unreachable for now (the metadata
    # database restarting): answered 503 ServiceUnavailable, which clients
    # retry, instead of 500 InternalError.
    unavailable_errors: tuple[type[BaseException], ...] = ()
    # AWS refuses requests whose header section exceeds 8 KB. The HTTP server
    # must accept longer header lines than this (see HTTP_LIMITS) so the
    # refusal is an S3 error, not a bare HTTP 400.
    max_header_bytes: int = 8 * 1024
    # Region given to buckets when none was asked for and region is None.
    default_region: str = "us-east-1"
