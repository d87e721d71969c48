"""Test data: reproducible incompressible bytes and files, and their SHA-256."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

MiB = 1 << 20


def random_bytes(size: int, seed: int) -> bytes:
    """``size`` reproducible, incompressible bytes."""
    return random.Random(seed).randbytes(size)


def write_random_file(path: Path, size: int, seed: int) -> Path:
    """Write ``size`` reproducible bytes to ``path`` (parents created); the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    with path.open("wb") as out:
        left = size
        while left:
            n = min(left, 4 * MiB)
            out.write(rng.randbytes(n))
            left -= n
    return path


def sha256_file(path: Path) -> str:
    """The SHA-256 (hex) of a file, read in pieces."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(4 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """The SHA-256 (hex) of ``data``."""
    return hashlib.sha256(data).hexdigest()


def tree_digests(root: Path) -> dict[str, str]:
    """Every file under ``root`` by relative path (``/``-separated), with its SHA-256."""
    return {path.relative_to(root).as_posix(): sha256_file(path) for path in sorted(root.rglob("*")) if path.is_file()}
