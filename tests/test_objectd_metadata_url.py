"""Metadata URLs: which backend and where."""

from __future__ import annotations

from pathlib import Path

import pytest

from objectd.metadata_url import MetadataUrl, MetadataUrlError


def test_empty_url_is_the_embedded_default(tmp_path: Path) -> None:
    assert MetadataUrl.parse("", tmp_path) == MetadataUrl("sqlite", str(tmp_path / "metadata.db"))


@pytest.mark.parametrize("url", ["postgresql://u:p@db:5432/objectd", "postgres://db/objectd",
                                 "POSTGRESQL://db/objectd?sslmode=require"])
def test_postgres_dsns(url: str, tmp_path: Path) -> None:
    assert MetadataUrl.parse(url, tmp_path) == MetadataUrl("postgres", url)


def test_sqlite_url_and_plain_path(tmp_path: Path) -> None:
    assert MetadataUrl.parse("sqlite:///var/lib/objectd/m.db", tmp_path) == MetadataUrl("sqlite", "/var/lib/objectd/m.db")
    assert MetadataUrl.parse("sqlite:///a%20b.db", tmp_path).target == "/a b.db"
    assert MetadataUrl.parse("meta/m.db", tmp_path) == MetadataUrl("sqlite", "meta/m.db")


@pytest.mark.parametrize("url", ["mysql://db/x", "sqlite://", "http://example.com/db"])
def test_unknown_or_empty_targets_are_refused(url: str, tmp_path: Path) -> None:
    with pytest.raises(MetadataUrlError):
        MetadataUrl.parse(url, tmp_path)


def test_password_is_redacted(tmp_path: Path) -> None:
    url = MetadataUrl.parse("postgresql://objectd:s3cret@db:5432/objectd", tmp_path)
    assert url.redacted() == "postgresql://objectd:***@db:5432/objectd"
    assert "s3cret" not in url.redacted()
    assert MetadataUrl.parse("postgresql://db/objectd", tmp_path).redacted() == "postgresql://db/objectd"


def test_sqlite_store_is_opened_where_the_url_says(tmp_path: Path) -> None:
    store = MetadataUrl.parse(str(tmp_path / "sub" / "m.db"), tmp_path).open_store(garbage_grace=1.0)
    assert (tmp_path / "sub").is_dir()
    assert type(store).__name__ == "SqliteStore"
