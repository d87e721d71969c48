"""cached_read: reads served only from the kernel's caches, refused otherwise."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import pytest

from objectd.cached_read import CACHED_READS, read_cached
from tests.page_cache import evict


def _kernel_at_least(major: int, minor: int) -> bool:
    release = platform.release().split("-")[0].split(".")
    try:
        return (int(release[0]), int(release[1])) >= (major, minor)
    except (IndexError, ValueError):
        return False


def test_supported_on_this_kernel() -> None:
    # openat2(RESOLVE_CACHED) came with Linux 5.12; where it exists the fast
    # path must be on, or every small ranged GET silently takes the slow one.
    expected = sys.platform.startswith("linux") and _kernel_at_least(5, 12)
    assert CACHED_READS is expected


@pytest.fixture
def data_file(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(300_000)
    path = tmp_path / "fragment"
    path.write_bytes(data)
    path.read_bytes()  # in the page cache now
    return path, data


def test_cached_bytes_are_returned_exactly(data_file: tuple[Path, bytes]) -> None:
    path, data = data_file
    assert read_cached(path, 0, len(data)) == data
    assert read_cached(path, 12_345, 100_000) == data[12_345:112_345]
    assert read_cached(str(path), len(data) - 1, 1) == data[-1:]


def test_refused_when_the_pages_are_not_cached(data_file: tuple[Path, bytes]) -> None:
    path, data = data_file
    evict(path)
    assert read_cached(path, 0, len(data)) is None
    # The refusal reads nothing in: the pages are still not cached.
    assert read_cached(path, 0, 4096) is None


def test_refused_for_missing_short_and_unreadable(tmp_path: Path, data_file: tuple[Path, bytes]) -> None:
    path, data = data_file
    assert read_cached(tmp_path / "absent", 0, 10) is None
    assert read_cached(path, len(data) - 10, 20) is None  # would be short
    assert read_cached(tmp_path, 0, 10) is None  # a directory
    assert read_cached(tmp_path / "fragment" / "x", 0, 10) is None
