"""The S3 endpoint under test and the credentials the suite uses on it."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass


@dataclass(frozen=True)
class Credentials:
    """An access key pair."""

    access_key: str
    secret_key: str


@dataclass(frozen=True)
class Endpoint:
    """Where the suite sends requests and as whom.

    ``alt`` is a second user's key pair; the checks that need one (access
    between users) are skipped without it. ``ca_bundle`` is a PEM file to trust
    for HTTPS endpoints with a private certificate.
    """

    url: str
    root: Credentials
    alt: Credentials | None = None
    region: str = "us-east-1"
    ca_bundle: str | None = None

    @property
    def tls(self) -> bool:
        """Whether the endpoint speaks HTTPS."""
        return urllib.parse.urlsplit(self.url).scheme == "https"

    @property
    def hostname(self) -> str:
        """The endpoint's host name, without port."""
        return urllib.parse.urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        """The endpoint's TCP port (the scheme's default when none is given)."""
        parts = urllib.parse.urlsplit(self.url)
        return parts.port or (443 if self.tls else 80)

    @property
    def netloc(self) -> str:
        """``host[:port]`` as a client sends it in ``Host``."""
        return urllib.parse.urlsplit(self.url).netloc

    @property
    def base_url(self) -> str:
        """The endpoint URL without a trailing slash."""
        return self.url.rstrip("/")
