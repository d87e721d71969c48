"""Tests for s3api.md5_lanes and its C kernels: MD5 of concurrent streams in
vector lanes, byte-identical to hashlib, and the batching policy."""

from __future__ import annotations

import gc
import hashlib
import os
import random
import threading

import pytest

from s3api import md5_lanes
from s3api.md5_lanes import LANE_COUNT, LaneHasher, available_kernels
from tests import lane_kernels

if lane_kernels.SKIP:
    pytest.skip(lane_kernels.SKIP_REASON, allow_module_level=True)

from s3api import _md5_lanes  # noqa: E402  (under CI=true a missing build fails here)

INITIAL = bytes.fromhex("0123456789abcdeffedcba9876543210")
KERNELS = available_kernels()


def finish(state: bytearray, length: int) -> bytes:
    """MD5 padding for a state that has taken ``length`` (block-aligned) bytes."""
    tail = b"\x80" + bytes(55) + (length * 8).to_bytes(8, "little")
    _md5_lanes.compress("scalar", [state], [tail], 1)
    return bytes(state)


class CountingKernel:
    """Wraps the extension's compress to record how many lanes each call used."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.lanes: list[int] = []
        self._real = _md5_lanes.compress

        class Module:
            LANES = _md5_lanes.LANES
            kernels = staticmethod(_md5_lanes.kernels)
            compress = staticmethod(self._compress)

        monkeypatch.setattr(md5_lanes, "_md5_lanes", Module)

    def _compress(self, kernel, states, buffers, nblocks):  # type: ignore[no-untyped-def]
        self.lanes.append(len(states))
        return self._real(kernel, states, buffers, nblocks)


# -- the kernels ------------------------------------------------------------------


def test_the_portable_kernel_is_always_there() -> None:
    assert KERNELS[0] == "scalar"
    assert LANE_COUNT == 8


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("lanes", [1, 2, 3, 7, 8])
def test_every_kernel_matches_hashlib_in_every_lane(kernel: str, lanes: int) -> None:
    rng = random.Random(lanes)
    blocks = 37
    buffers = [rng.randbytes(64 * blocks + rng.randrange(0, 200)) for _ in range(lanes)]
    states = [bytearray(INITIAL) for _ in range(lanes)]
    _md5_lanes.compress(kernel, states, buffers, blocks)
    for state, buffer in zip(states, buffers):
        assert finish(state, 64 * blocks) == hashlib.md5(buffer[: 64 * blocks]).digest()


@pytest.mark.parametrize("kernel", KERNELS)
def test_lanes_take_views_at_any_address(kernel: str) -> None:
    data = os.urandom(64 * 10 + 8)
    views = [memoryview(data)[i : i + 64 * 10] for i in range(8)]  # unaligned starts
    states = [bytearray(INITIAL) for _ in views]
    _md5_lanes.compress(kernel, states, views, 10)
    for state, view in zip(states, views):
        assert finish(state, 640) == hashlib.md5(view).digest()


def test_zero_blocks_change_nothing() -> None:
    state = bytearray(INITIAL)
    _md5_lanes.compress(KERNELS[-1], [state], [b""], 0)
    assert state == INITIAL


@pytest.mark.parametrize(
    ("states", "buffers", "nblocks", "message"),
    [
        ([bytearray(16)] * 9, [bytes(64)] * 9, 1, "lanes"),
        ([], [], 1, "lanes"),
        ([bytearray(16)], [bytes(64), bytes(64)], 1, "lanes"),
        ([bytearray(15)], [bytes(64)], 1, "16 writable bytes"),
        ([bytes(16)], [bytes(64)], 1, "writable"),
        ([bytearray(16)], [bytes(127)], 2, "shorter"),
        ([bytearray(16)], [bytes(64)], -1, "negative"),
    ],
)
def test_compress_refuses_bad_arguments(states, buffers, nblocks, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises((ValueError, TypeError, BufferError), match=message):
        _md5_lanes.compress("scalar", states, buffers, nblocks)


def test_an_unknown_kernel_is_refused() -> None:
    with pytest.raises(ValueError, match="not available"):
        _md5_lanes.compress("sse9", [bytearray(16)], [bytes(64)], 1)
    with pytest.raises(ValueError, match="not available"):
        LaneHasher("sse9")


# -- one stream -----------------------------------------------------------------


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_stream_of_odd_pieces_hashes_like_hashlib(kernel: str) -> None:
    rng = random.Random(7)
    md5 = LaneHasher(kernel).md5()
    reference = hashlib.md5()
    for size in [0, 1, 63, 64, 65, 1000, 4096, 1 << 20, 3, (1 << 20) + 5, 127]:
        piece = rng.randbytes(size)
        md5.defer(piece)
        reference.update(piece)
    assert md5.digest() == reference.digest()
    assert md5.hexdigest() == reference.hexdigest()


def test_the_empty_stream() -> None:
    assert LaneHasher().md5().digest() == hashlib.md5(b"").digest()


def test_digest_leaves_the_stream_open_like_hashlib() -> None:
    md5 = LaneHasher().md5()
    md5.update(b"abc")
    assert md5.digest() == hashlib.md5(b"abc").digest()
    md5.update(b"def")
    assert md5.digest() == hashlib.md5(b"abcdef").digest()


def test_a_lone_stream_is_hashed_at_once() -> None:
    md5 = LaneHasher().md5()
    md5.defer(bytes(1 << 20))
    assert md5.unhashed == 0


# -- several streams ---------------------------------------------------------------


def test_streams_wait_for_each_other_then_share_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    hasher = LaneHasher()
    streams = [hasher.md5() for _ in range(4)]
    for md5 in streams:  # a stream counts as hashing from its first bytes on
        md5.update(b"first")
    kernel = CountingKernel(monkeypatch)
    pieces = [os.urandom(1 << 16) for _ in streams]
    for md5, piece in zip(streams[:3], pieces):
        md5.defer(piece)
        assert md5.unhashed == len(piece)  # others are hashing too: wait for them
    assert kernel.lanes == []
    streams[3].defer(pieces[3])
    assert max(kernel.lanes) == 4  # (and single blocks completing each "first")
    assert all(md5.unhashed == 0 for md5 in streams)
    assert [md5.digest() for md5 in streams] == [hashlib.md5(b"first" + p).digest() for p in pieces]


def test_a_stream_that_is_behind_delays_the_others_by_the_backlog_at_most() -> None:
    hasher = LaneHasher(backlog=256 * 1024)
    quick, slow = hasher.md5(), hasher.md5()
    slow.defer(b"x" * 100)
    slow.flush()
    quick.defer(bytes(128 * 1024))
    assert quick.unhashed == 128 * 1024  # slow has nothing waiting: quick waits
    quick.defer(bytes(128 * 1024))
    assert quick.unhashed == 0  # the backlog is reached
    assert quick.digest() == hashlib.md5(bytes(256 * 1024)).digest()


def test_asking_for_a_digest_hashes_what_waits() -> None:
    hasher = LaneHasher()
    first, second = hasher.md5(), hasher.md5()
    second.defer(b"s")
    second.flush()
    first.defer(b"f" * 1000)
    assert first.unhashed == 1000
    assert first.digest() == hashlib.md5(b"f" * 1000).digest()
    # first no longer counts as hashing, so second is hashed at once now.
    second.defer(b"t" * 1000)
    assert second.unhashed == 0
    assert second.digest() == hashlib.md5(b"s" + b"t" * 1000).digest()


def test_a_dropped_stream_stops_holding_the_others_back() -> None:
    hasher = LaneHasher()
    kept, dropped = hasher.md5(), hasher.md5()
    dropped.defer(b"d")
    dropped.flush()
    del dropped
    gc.collect()
    kept.defer(b"k" * 4096)
    assert kept.unhashed == 0
    assert kept.digest() == hashlib.md5(b"k" * 4096).digest()


def test_more_streams_than_lanes(monkeypatch: pytest.MonkeyPatch) -> None:
    kernel = CountingKernel(monkeypatch)
    hasher = LaneHasher()
    streams = [hasher.md5() for _ in range(LANE_COUNT + 3)]
    pieces = [os.urandom(4096 + i) for i in range(len(streams))]
    for md5, piece in zip(streams, pieces):
        md5.defer(piece)
    assert max(kernel.lanes) == LANE_COUNT
    assert [md5.digest() for md5 in streams] == [hashlib.md5(p).digest() for p in pieces]


@pytest.mark.parametrize("kernel", KERNELS)
def test_concurrent_threads_get_exact_digests(kernel: str) -> None:
    hasher = LaneHasher(kernel, backlog=64 * 1024)
    results: dict[int, tuple[bytes, bytes]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def upload(seed: int) -> None:
        try:
            rng = random.Random(seed)
            md5 = hasher.md5()
            reference = hashlib.md5()
            start.wait()
            for _ in range(60):
                piece = rng.randbytes(rng.choice([1, 63, 64, 1000, 16384, 65536 + 7]))
                md5.defer(piece)
                reference.update(piece)
                if rng.random() < 0.1:
                    md5.flush()
                    assert md5.unhashed == 0
            results[seed] = (md5.digest(), reference.digest())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(results) == 6
    assert all(got == want for got, want in results.values())


def test_the_shared_hasher_is_one_per_process() -> None:
    assert md5_lanes.shared_hasher() is md5_lanes.shared_hasher()
    assert md5_lanes.shared_hasher() is not None


def test_a_closed_stream_stops_holding_the_others_back_at_once() -> None:
    hasher = LaneHasher()
    kept, failed = hasher.md5(), hasher.md5()
    failed.defer(b"f")
    failed.flush()
    cycle = [failed]
    cycle.append(cycle)  # kept alive by a reference cycle, as a failed request's traceback does
    failed.close()
    kept.defer(b"k" * 4096)
    assert kept.unhashed == 0
    with pytest.raises(ValueError, match="closed"):
        failed.defer(b"more")
    with pytest.raises(ValueError, match="closed"):
        failed.digest()


def test_update_hashes_only_its_own_stream() -> None:
    hasher = LaneHasher()
    waiting, other = hasher.md5(), hasher.md5()
    for md5 in (waiting, other):
        md5.update(b"x")
    waiting.defer(b"w" * 4096)
    assert waiting.unhashed == 4096
    other.update(b"o" * 4096)  # e.g. on the event loop: must not hash 'waiting'
    assert waiting.unhashed == 4096
    assert other.settled


def test_a_stream_is_unsettled_while_another_thread_hashes_it() -> None:
    hasher = LaneHasher()
    md5 = hasher.md5()
    lane = md5._lane
    with hasher._lock:  # as when another thread's batch has taken its bytes
        lane.busy = True
    assert md5.unhashed == 0 and not md5.settled
    with hasher._lock:
        lane.busy = False
        hasher._idle.notify_all()
    assert md5.settled


def test_a_failed_batch_fails_every_digest_in_it(monkeypatch: pytest.MonkeyPatch) -> None:
    hasher = LaneHasher()
    first, second = hasher.md5(), hasher.md5()
    for md5 in (first, second):
        md5.update(b"x")
    first.defer(bytes(4096))

    def broken(*args: object) -> None:
        raise MemoryError("no room")

    class Module:
        LANES = _md5_lanes.LANES
        kernels = staticmethod(_md5_lanes.kernels)
        compress = staticmethod(broken)

    monkeypatch.setattr(md5_lanes, "_md5_lanes", Module)
    with pytest.raises(MemoryError):
        second.defer(bytes(4096))  # completes the batch of both
    monkeypatch.undo()
    for md5 in (first, second):
        with pytest.raises(RuntimeError, match="failed"):
            md5.digest()


def test_a_batch_takes_even_shares_and_leaves_the_rest_for_company(monkeypatch: pytest.MonkeyPatch) -> None:
    hasher = LaneHasher()
    ahead, behind = hasher.md5(), hasher.md5()
    for md5 in (ahead, behind):
        md5.update(bytes(64))
    kernel = CountingKernel(monkeypatch)
    pieces = [os.urandom(4096) for _ in range(3)]
    for piece in pieces:
        ahead.defer(piece)
    behind.defer(b"b" * 4096)
    assert kernel.lanes == [2]  # one pass of both, nothing alone
    assert ahead.unhashed == 8192 and behind.unhashed == 0
    assert ahead.digest() == hashlib.md5(bytes(64) + b"".join(pieces)).digest()
    assert behind.digest() == hashlib.md5(bytes(64) + b"b" * 4096).digest()
