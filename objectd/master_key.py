"""The cluster master key: wraps every data key and every stored secret.

Taken from ``OBJECTD_MASTER_KEY`` (base64 of 32 bytes) when set, else from
the key file, which is generated (mode 0600) the first time the server starts.
Losing it makes every encrypted fragment unreadable: back it up.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

KEY_SIZE = 32


class MasterKeyError(Exception):
    """The master key is malformed or unreadable."""


def _decode(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MasterKeyError(f"{where}: not base64") from exc
    if len(key) != KEY_SIZE:
        raise MasterKeyError(f"{where}: master key must be {KEY_SIZE} bytes, got {len(key)}")
    return key


def load_master_key(path: Path, env: dict[str, str] | None = None) -> bytes:
    """The master key from the environment or ``path`` (created if missing)."""
    env = dict(os.environ) if env is None else env
    if env.get("OBJECTD_MASTER_KEY"):
        return _decode(env["OBJECTD_MASTER_KEY"], "OBJECTD_MASTER_KEY")
    if path.exists():
        return _decode(path.read_text(), str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_SIZE)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(key).decode() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return key
