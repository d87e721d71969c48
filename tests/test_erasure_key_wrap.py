"""Tests for erasure.key_wrap."""

from __future__ import annotations

import os

import pytest

from erasure.errors import KeyUnwrapError
from erasure.key_wrap import new_data_key, unwrap_data_key, wrap_data_key


def test_new_data_keys_are_32_random_bytes() -> None:
    keys = {new_data_key() for _ in range(50)}
    assert len(keys) == 50
    assert {len(k) for k in keys} == {32}


def test_wrap_round_trip() -> None:
    master = os.urandom(32)
    data_key = new_data_key()
    wrapped = wrap_data_key(master, data_key)
    assert data_key not in wrapped
    assert unwrap_data_key(master, wrapped) == data_key


def test_wrong_master_key_is_a_clear_error() -> None:
    wrapped = wrap_data_key(os.urandom(32), new_data_key())
    with pytest.raises(KeyUnwrapError):
        unwrap_data_key(os.urandom(32), wrapped)


def test_damaged_wrapped_key_is_detected() -> None:
    master = os.urandom(32)
    wrapped = wrap_data_key(master, new_data_key())
    for position in range(len(wrapped)):
        damaged = bytearray(wrapped)
        damaged[position] ^= 0x01
        with pytest.raises(KeyUnwrapError):
            unwrap_data_key(master, bytes(damaged))
    with pytest.raises(KeyUnwrapError):
        unwrap_data_key(master, wrapped[:-8])


def test_key_sizes_are_checked() -> None:
    with pytest.raises(ValueError):
        wrap_data_key(os.urandom(16), new_data_key())
    with pytest.raises(ValueError):
        wrap_data_key(os.urandom(32), os.urandom(16))
    with pytest.raises(ValueError):
        unwrap_data_key(os.urandom(31), bytes(40))
