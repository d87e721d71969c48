"""conformance/payload.py: reproducible test data and its digests."""

from __future__ import annotations

import hashlib
from pathlib import Path

from conformance.payload import (
    random_bytes,
    sha256_bytes,
    sha256_file,
    tree_digests,
    write_random_file,
)


def test_random_data_is_reproducible_per_seed() -> None:
    assert random_bytes(1000, 1) == random_bytes(1000, 1)
    assert random_bytes(1000, 1) != random_bytes(1000, 2)
    assert len(random_bytes(12345, 3)) == 12345


def test_files_have_the_size_asked_and_their_digest(tmp_path: Path) -> None:
    path = write_random_file(tmp_path / "a" / "b.bin", 9 * 1024 * 1024 + 5, 7)
    assert path.stat().st_size == 9 * 1024 * 1024 + 5
    assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sha256_bytes(b"abc") == hashlib.sha256(b"abc").hexdigest()


def test_tree_digests_name_files_by_relative_path(tmp_path: Path) -> None:
    write_random_file(tmp_path / "x" / "one.bin", 10, 1)
    write_random_file(tmp_path / "two.bin", 0, 2)
    (tmp_path / "empty-dir").mkdir()
    digests = tree_digests(tmp_path)
    assert sorted(digests) == ["two.bin", "x/one.bin"]
    assert digests["two.bin"] == hashlib.sha256(b"").hexdigest()
