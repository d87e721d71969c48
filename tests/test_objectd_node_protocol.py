"""objectd.node_protocol: the node API's values and checks, with bytes only."""

from __future__ import annotations

import pytest

from erasure.framing import HEADER_SIZE
from objectd.node_protocol import (
    CACHE_HEADER,
    MAX_PAGE,
    MAX_READ,
    ErrorCode,
    FrameCheck,
    NodeInfo,
    RequestInvalid,
    cache_header,
    check_frames,
    content_range,
    error_code_of,
    error_document,
    fragment_path,
    parse_cache_header,
    parse_fragment_page,
    parse_list_query,
    parse_range,
    range_header,
)
from tests.node_harness import fragment_frames

STREAM = "0123456789abcdef0123456789abcdef"
FID = f"{STREAM}.01"


def test_range_round_trip() -> None:
    assert range_header(0, 1) == "bytes=0-0"
    assert parse_range(range_header(1234, 5678)) == (1234, 5678)
    assert content_range(10, 5, 100) == "bytes 10-14/100"


@pytest.mark.parametrize("value", [
    None, "", "bytes=5-4", "bytes=-5", "bytes=5-", "bytes=0-1,4-5", "items=0-1", "bytes= 0-1",
    "bytes=0x1-2", f"bytes=0-{MAX_READ}", "bytes=99999999999999999999-1",
])
def test_unsupported_ranges_are_refused(value: str | None) -> None:
    with pytest.raises(RequestInvalid):
        parse_range(value)


@pytest.mark.parametrize("offset,length", [(-1, 5), (0, 0), (3, -2)])
def test_range_header_needs_a_real_span(offset: int, length: int) -> None:
    with pytest.raises(ValueError):
        range_header(offset, length)


def test_fragment_path_only_for_fragment_ids() -> None:
    assert fragment_path(FID) == f"/v1/fragments/{FID}"
    for bad in ("../x", f"{STREAM}.1", f"{STREAM.upper()}.01", f"{FID}\n", f"{FID}/x"):
        with pytest.raises(ValueError):
            fragment_path(bad)


def test_list_query() -> None:
    assert parse_list_query({}) == ("", 1000)
    assert parse_list_query({"after": FID, "limit": "7"}) == (FID, 7)
    for query in ({"after": "../etc"}, {"limit": "0"}, {"limit": str(MAX_PAGE + 1)}, {"limit": "-1"},
                  {"limit": "x"}, {"limit": "1" * 30}):
        with pytest.raises(RequestInvalid):
            parse_list_query(query)


def test_error_documents() -> None:
    doc = error_document(ErrorCode.CORRUPT, "frame 3")
    assert doc == {"error": "corrupt", "message": "frame 3"}
    assert error_code_of(doc) is ErrorCode.CORRUPT
    assert error_code_of({"error": "nonsense"}) is None
    assert error_code_of([1]) is None


def test_node_info_round_trip_and_malformed() -> None:
    info = NodeInfo(id="n1", site="s", zone="z", capacity_bytes=10, free_bytes=5, used_bytes=3,
                    fragments=2, state="up", version="0.1.0")
    assert NodeInfo.from_json(info.to_json()) == info
    malformed: list[object] = [[], {"id": "n1"}, {**info.to_json(), "free_bytes": "lots"}]
    for doc in malformed:
        with pytest.raises(ValueError):
            NodeInfo.from_json(doc)


def test_fragment_page_holds_only_fragment_ids() -> None:
    assert parse_fragment_page({"fragments": [FID]}) == [FID]
    for doc in ({}, {"fragments": "x"}, {"fragments": ["../../etc/passwd"]}):
        with pytest.raises(ValueError):
            parse_fragment_page(doc)


# --- frame checks -------------------------------------------------------------


@pytest.fixture(scope="module")
def frames() -> list[bytes]:
    # Three full segments and a short last one.
    return fragment_frames(STREAM, 1, 3 * 4096 + 100)


def run_check(file: bytes, offset: int, length: int, fid: str = FID) -> FrameCheck:
    data = file[offset : offset + length]
    return check_frames(fid, len(file), file[:HEADER_SIZE], offset, data).check


def test_whole_frame_ranges_are_verified(frames: list[bytes]) -> None:
    file = b"".join(frames)
    full = len(frames[0])
    assert len(frames[-1]) < full
    assert run_check(file, 0, len(file)) is FrameCheck.VERIFIED
    assert run_check(file, full, full) is FrameCheck.VERIFIED
    assert run_check(file, 2 * full, 10 * full) is FrameCheck.VERIFIED  # runs to the end
    assert run_check(file, 3 * full, len(frames[-1])) is FrameCheck.VERIFIED


def test_other_ranges_are_not_checked(frames: list[bytes]) -> None:
    file = b"".join(frames)
    full = len(frames[0])
    assert run_check(file, 1, full) is FrameCheck.UNALIGNED
    assert run_check(file, full, full - 1) is FrameCheck.UNALIGNED
    assert run_check(file, len(file), 10) is FrameCheck.UNALIGNED  # nothing read


@pytest.mark.parametrize("position", [HEADER_SIZE + 7, 5, -3])
def test_a_damaged_frame_in_the_range_is_corrupt(frames: list[bytes], position: int) -> None:
    damaged = bytearray(frames[1])
    damaged[position] ^= 0x40
    file = b"".join([frames[0], bytes(damaged), *frames[2:]])
    full = len(frames[0])
    assert run_check(file, full, full) is FrameCheck.CORRUPT
    assert run_check(file, 0, 3 * full) is FrameCheck.CORRUPT
    assert run_check(file, 2 * full, full) is FrameCheck.VERIFIED  # its neighbours are fine
    assert run_check(file, 0, full) is FrameCheck.VERIFIED


def test_a_frame_of_another_fragment_or_segment_is_corrupt(frames: list[bytes]) -> None:
    file = b"".join(frames)
    full = len(frames[0])
    # The same bytes stored under fragment index 2: every frame names index 1.
    assert run_check(file, full, full, fid=f"{STREAM}.02") is FrameCheck.CORRUPT
    # Frames swapped in place: segment indexes do not match their offsets.
    swapped = b"".join([frames[1], frames[0], *frames[2:]])
    assert run_check(swapped, full, full) is FrameCheck.CORRUPT


def test_damaged_first_header(frames: list[bytes]) -> None:
    file = bytearray(b"".join(frames))
    file[0] ^= 0xFF  # bad magic: frame 0 cannot even be parsed
    full = len(frames[0])
    assert run_check(bytes(file), 0, full) is FrameCheck.CORRUPT
    # Elsewhere, frame boundaries are unknown: answered unchecked, the gateway verifies.
    assert run_check(bytes(file), full, full) is FrameCheck.UNALIGNED


def test_cache_hint_round_trips_and_defaults_to_keep() -> None:
    assert cache_header(True) == {}
    assert cache_header(False) == {CACHE_HEADER: "drop"}
    assert parse_cache_header(None) is True
    assert parse_cache_header("keep") is True
    assert parse_cache_header(cache_header(False)[CACHE_HEADER]) is False


@pytest.mark.parametrize("value", ["", "DROP", "no", "drop ", "keep,drop", "dontneed", "x" * 10_000])
def test_an_unknown_cache_hint_means_keep(value: str) -> None:
    # A hint never fails a write: a newer gateway's values mean "keep" here.
    assert parse_cache_header(value) is True
