"""Per-stream data keys and their wrapping under the cluster master key.

Wrapping uses AES key wrap (RFC 3394) rather than AES-GCM with a random nonce: it is
built for exactly this job, is deterministic so there is no nonce to manage, and
has no birthday bound on the number of keys wrapped under one master key (GCM
with random 96-bit nonces must stay well below 2**32 messages per key, a number
a busy cluster's object count could approach). Its integrity check detects a
wrong master key or a damaged wrapped key.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)

from erasure.errors import KeyUnwrapError
from erasure.random_pool import random_bytes

MASTER_KEY_SIZE = 32
DATA_KEY_SIZE = 32
WRAPPED_KEY_SIZE = 40
"""Size of a wrapped 32-byte data key."""


def new_data_key() -> bytes:
    """A fresh random 256-bit data key for one stream."""
    return random_bytes(DATA_KEY_SIZE)


def wrap_data_key(master_key: bytes, data_key: bytes) -> bytes:
    """Wrap ``data_key`` under ``master_key`` for storage in metadata."""
    _check_master(master_key)
    if len(data_key) != DATA_KEY_SIZE:
        raise ValueError(f"data key must be {DATA_KEY_SIZE} bytes, got {len(data_key)}")
    return aes_key_wrap(master_key, data_key)


def unwrap_data_key(master_key: bytes, wrapped: bytes) -> bytes:
    """Recover the data key from ``wrapped``. Raises ``KeyUnwrapError`` when the
    master key is not the one it was wrapped with, or the wrapped key is damaged."""
    _check_master(master_key)
    if len(wrapped) != WRAPPED_KEY_SIZE:
        raise KeyUnwrapError(
            f"wrapped data key must be {WRAPPED_KEY_SIZE} bytes, got {len(wrapped)}"
        )
    try:
        data_key = aes_key_unwrap(master_key, wrapped)
    except InvalidUnwrap:
        raise KeyUnwrapError("data key does not unwrap: wrong master key or damaged key") from None
    if len(data_key) != DATA_KEY_SIZE:
        raise KeyUnwrapError(
            f"unwrapped data key is {len(data_key)} bytes, expected {DATA_KEY_SIZE}"
        )
    return data_key


def _check_master(master_key: bytes) -> None:
    if len(master_key) != MASTER_KEY_SIZE:
        raise ValueError(f"master key must be {MASTER_KEY_SIZE} bytes, got {len(master_key)}")
