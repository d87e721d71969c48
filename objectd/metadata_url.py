"""Which metadata store a metadata URL names.

``postgresql://…`` (or ``postgres://…``) is a Postgres database shared by any
number of gateways; ``sqlite:///path`` or a plain file path is a SQLite
database; an empty URL is the embedded default, ``DATA_DIR/metadata.db``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from metadata.store import MetadataStore


class MetadataUrlError(ValueError):
    """The metadata URL names no store this build can open."""


@dataclass(frozen=True)
class MetadataUrl:
    """A parsed metadata URL: a backend and where it is."""

    backend: str  # "postgres" or "sqlite"
    target: str  # the DSN, or the SQLite file path

    @classmethod
    def parse(cls, url: str, data_dir: Path) -> MetadataUrl:
        """Parse ``url``; an empty one means the embedded default."""
        url = url.strip()
        if not url:
            return cls("sqlite", str(data_dir / "metadata.db"))
        scheme = urlsplit(url).scheme.lower() if "://" in url else ""
        if scheme in ("postgresql", "postgres"):
            return cls("postgres", url)
        if scheme == "sqlite":
            path = unquote(url[len("sqlite://"):])
            if not path:
                raise MetadataUrlError("sqlite:// URL without a file path")
            return cls("sqlite", path)
        if scheme:
            raise MetadataUrlError(f"unsupported metadata URL scheme {scheme!r} (postgresql:// or sqlite://)")
        return cls("sqlite", url)

    def redacted(self) -> str:
        """The URL without its password, for logs and banners."""
        if self.backend != "postgres":
            return self.target
        parts = urlsplit(self.target)
        if parts.password is None:
            return self.target
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()

    def open_store(self, *, garbage_grace: float, sole_writer: bool = False) -> MetadataStore:
        """A (not yet opened) store for this URL. ``sole_writer`` (SQLite
        only) lets one serving process keep buckets in memory."""
        if self.backend == "postgres":
            from metadata.postgres_store import PostgresStore

            return PostgresStore(self.target, garbage_grace=garbage_grace)
        from metadata.sqlite_store import SqliteStore

        Path(self.target).parent.mkdir(parents=True, exist_ok=True)
        return SqliteStore(self.target, garbage_grace=garbage_grace, sole_writer=sole_writer)
