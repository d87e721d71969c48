"""RandomPool: os.urandom bytes drawn in blocks, each handed out once."""

from __future__ import annotations

import os

import pytest

from erasure import random_pool
from erasure.random_pool import RandomPool, random_bytes


def _counting_urandom(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make os.urandom return consecutive byte values, and count its calls."""
    calls: list[int] = []
    state = {"next": 0}

    def fake(n: int) -> bytes:
        calls.append(n)
        start = state["next"]
        state["next"] = start + n
        return bytes((start + i) % 256 for i in range(n))

    monkeypatch.setattr(random_pool.os, "urandom", fake)
    return calls


def test_every_byte_is_handed_out_once_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting_urandom(monkeypatch)
    pool = RandomPool(block_size=64)
    taken = b"".join(pool.take(n) for n in [16, 16, 16, 16])
    assert taken == bytes(range(64))
    assert calls == [64]  # one system call for four takes


def test_a_take_that_does_not_fit_starts_a_new_block(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting_urandom(monkeypatch)
    pool = RandomPool(block_size=64)
    first = pool.take(40)
    second = pool.take(40)  # 24 left in the block: a fresh block, the rest unused
    assert first == bytes(range(40))
    assert second == bytes(range(64, 104))
    assert calls == [64, 64]


def test_a_take_larger_than_a_block_goes_to_the_os(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting_urandom(monkeypatch)
    pool = RandomPool(block_size=64)
    assert len(pool.take(100)) == 100
    assert calls == [100]


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        RandomPool(block_size=0)
    with pytest.raises(ValueError):
        RandomPool().take(-1)
    assert RandomPool().take(0) == b""


def test_real_bytes_are_distinct() -> None:
    keys = {random_bytes(32) for _ in range(2000)}  # crosses many blocks
    assert len(keys) == 2000
    assert {len(k) for k in keys} == {32}


def test_a_forked_child_never_repeats_the_parents_bytes() -> None:
    random_bytes(1)  # the pool holds a block now
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it draws next
        try:
            os.write(write_end, random_bytes(16))
        finally:
            os._exit(0)
    os.close(write_end)
    child = os.read(read_end, 16)
    os.close(read_end)
    os.waitpid(pid, 0)
    assert len(child) == 16
    assert child != random_bytes(16)
