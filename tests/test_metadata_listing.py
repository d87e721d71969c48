"""Tests for metadata/listing.py: successor bounds, grouping, and the listing
walk driven by an in-memory range index, checked against brute force."""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass

import pytest

from metadata.listing import (
    Fetch,
    ListingWalk,
    Position,
    common_prefix,
    prefix_successor,
)

# Characters whose UTF-8, code-point and UTF-16 orders are worth mixing:
# U+FFFF sorts before U+10000 in UTF-8 but after it in UTF-16.
ALPHABET = [
    "a",
    "b",
    "/",
    "0",
    "\x7f",
    "\x80",
    "é",
    "\ud7ff",
    "\ue000",
    "\uffff",
    "\U00010000",
    "\U0010ffff",
    "日",
]


def utf8(s: str) -> bytes:
    return s.encode("utf-8")


def random_text(rng: random.Random, max_len: int = 5) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, max_len)))


def test_utf8_byte_order_is_python_string_order() -> None:
    # The walk compares str; the database compares UTF-8 bytes: they must agree.
    rng = random.Random(1)
    words = [random_text(rng) for _ in range(2000)]
    assert sorted(words) == sorted(words, key=utf8)
    assert sorted(words, key=utf8) != sorted(words, key=lambda s: s.encode("utf-16-be"))


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("a", "b"),
        ("a/", "a0"),
        ("ab", "ac"),
        ("\x7f", "\x80"),
        ("é", "ê"),
        ("\ud7ff", "\ue000"),
        ("\uffff", "\U00010000"),
        ("a\U0010ffff", "b"),
        ("a\U0010ffff\U0010ffff", "b"),
    ],
)
def test_prefix_successor_examples(prefix: str, expected: str) -> None:
    assert prefix_successor(prefix) == expected
    utf8(expected)  # always encodable


@pytest.mark.parametrize("prefix", ["", "\U0010ffff", "\U0010ffff\U0010ffff"])
def test_prefix_successor_none_when_unbounded(prefix: str) -> None:
    assert prefix_successor(prefix) is None


def test_prefix_successor_bounds_exactly_the_prefixed_strings() -> None:
    rng = random.Random(2)
    for _ in range(3000):
        prefix = random_text(rng, 3) or "a"
        succ = prefix_successor(prefix)
        other = random_text(rng, 6)
        if rng.random() < 0.5:
            other = prefix + other
        if succ is None:
            assert all(c == "\U0010ffff" for c in prefix)
            continue
        if other.startswith(prefix):
            assert utf8(other) < utf8(succ)
        elif utf8(other) > utf8(prefix):
            assert utf8(other) >= utf8(succ)
        # no valid string lies strictly between the group and the successor
        assert not succ.startswith(prefix)


@pytest.mark.parametrize(
    ("key", "prefix", "delimiter", "expected"),
    [
        ("a/b/c", "", "/", "a/"),
        ("a/b/c", "a/", "/", "a/b/"),
        ("a/b", "a/b", "/", None),
        ("a/", "a", "/", "a/"),
        ("abc", "", "", None),
        ("x//y//z", "", "//", "x//"),
        ("aéb", "", "é", "aé"),
        ("p\U00010000q", "p", "\U00010000", "p\U00010000"),
        ("a/b", "", "a/", "a/"),
        # the delimiter is searched only after the prefix
        ("/a/b", "/", "/", "/a/"),
    ],
)
def test_common_prefix(
    key: str, prefix: str, delimiter: str, expected: str | None
) -> None:
    assert common_prefix(key, prefix, delimiter) == expected


# --- the walk against an in-memory index ------------------------------------


@dataclass(frozen=True)
class Row:
    key: str
    rank: int  # position within the key, as a version's age or an upload's order


class MemoryIndex:
    """Rows sorted by (key bytes, rank), answering a walk's fetches."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = sorted(rows, key=lambda r: (utf8(r.key), r.rank))
        self.sort_keys = [(utf8(r.key), r.rank) for r in self.rows]
        self.rows_read = 0

    def answer(self, fetch: Fetch) -> list[Row]:
        start = fetch.start
        key = utf8(start.key)
        if not start.inclusive:
            i = bisect.bisect_right(self.sort_keys, (key, float("inf")))
        elif start.after is None:
            i = bisect.bisect_left(self.sort_keys, (key, float("-inf")))
        else:
            i = bisect.bisect_right(self.sort_keys, (key, start.after))
        out: list[Row] = []
        while i < len(self.rows) and len(out) < fetch.limit:
            row = self.rows[i]
            if fetch.end is not None and utf8(row.key) >= utf8(fetch.end):
                break
            out.append(row)
            i += 1
        self.rows_read += len(out)
        return out


def run_walk(index: MemoryIndex, **kwargs: object) -> ListingWalk[Row]:
    walk: ListingWalk[Row] = ListingWalk(key_of=lambda r: r.key, **kwargs)  # type: ignore[arg-type]
    guard = 0
    while (fetch := walk.next_fetch()) is not None:
        walk.feed(index.answer(fetch))
        guard += 1
        assert guard < 100_000
    return walk


def reference(
    rows: list[Row], prefix: str, delimiter: str, marker: str, after: int | None
) -> list[tuple[str, object]]:
    """Every entry after the marker, by brute force over all rows."""
    out: list[tuple[str, object]] = []
    seen: set[str] = set()
    for row in sorted(rows, key=lambda r: (utf8(r.key), r.rank)):
        k = utf8(row.key)
        if not row.key.startswith(prefix):
            continue
        if k < utf8(marker) or (
            k == utf8(marker) and (after is None or row.rank <= after)
        ):
            continue
        if delimiter:
            at = row.key.find(delimiter, len(prefix))
            if at >= 0:
                group = row.key[: at + len(delimiter)]
                if utf8(group) > utf8(marker) and group not in seen:
                    seen.add(group)
                    out.append(("prefix", group))
                continue
        out.append(("row", row))
    return out


def page_of(walk: ListingWalk[Row]) -> tuple[list[Row], list[str]]:
    return walk.entries, walk.common_prefixes


def random_rows(rng: random.Random, keys: int, per_key: int) -> list[Row]:
    names: set[str] = set()
    while len(names) < keys:
        parts = [random_text(rng, 2) for _ in range(rng.randint(1, 3))]
        names.add(rng.choice(["/", "//", "é"]).join(parts))
    return [Row(n, r) for n in names for r in range(rng.randint(1, per_key))]


@pytest.mark.parametrize("seed", range(6))
def test_walk_pages_match_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    per_key = 1 if seed % 2 == 0 else 3
    rows = random_rows(rng, 150, per_key)
    index = MemoryIndex(rows)
    keys = sorted({r.key for r in rows})
    tiebreak = (lambda r: r.rank) if per_key > 1 else None
    for _ in range(60):
        prefix = rng.choice(["", "a", "/", "é", "\uffff", rng.choice(keys)[:2]])
        delimiter = rng.choice(["", "/", "//", "é", "a", "\U00010000"])
        marker = rng.choice(["", rng.choice(keys), random_text(rng, 3), prefix])
        after = rng.choice([None, 0, 1]) if tiebreak and marker in keys else None
        max_entries = rng.choice([0, 1, 2, 5, 1000])
        walk = run_walk(
            index,
            prefix=prefix,
            delimiter=delimiter,
            marker=marker,
            max_entries=max_entries,
            tiebreak_of=tiebreak,
            resume_after=after,
        )
        expected = reference(rows, prefix, delimiter, marker, after)
        page = expected[:max_entries]
        assert walk.entries == [v for kind, v in page if kind == "row"]
        assert walk.common_prefixes == [v for kind, v in page if kind == "prefix"]
        assert walk.is_truncated == (len(expected) > max_entries > 0)
        if page:
            _, last = page[-1]
            assert walk.last_key == (last.key if isinstance(last, Row) else last)


def test_walk_skips_groups_instead_of_reading_them() -> None:
    rows = [Row(f"dir{d:02}/file{f:04}", 0) for d in range(30) for f in range(400)]
    rows += [Row(f"top{t}", 0) for t in range(5)]
    index = MemoryIndex(rows)
    walk = run_walk(index, prefix="", delimiter="/", marker="", max_entries=1000)
    assert walk.common_prefixes == [f"dir{d:02}/" for d in range(30)]
    assert [r.key for r in walk.entries] == [f"top{t}" for t in range(5)]
    assert index.rows_read <= 4 * 35


def test_walk_resumes_inside_a_key_after_the_tiebreak() -> None:
    rows = [Row("k", r) for r in range(5)] + [Row("l", 0)]
    walk = run_walk(
        MemoryIndex(rows),
        prefix="",
        delimiter="",
        marker="k",
        max_entries=10,
        tiebreak_of=lambda r: r.rank,
        resume_after=2,
    )
    assert walk.entries == [Row("k", 3), Row("k", 4), Row("l", 0)]
    assert not walk.is_truncated


def test_walk_does_not_repeat_the_group_the_marker_is_in() -> None:
    rows = [Row(k, 0) for k in ["a/1", "a/2", "a/3", "b"]]
    for marker in ["a/", "a/1", "a/zzz"]:
        walk = run_walk(
            MemoryIndex(rows), prefix="", delimiter="/", marker=marker, max_entries=5
        )
        assert walk.common_prefixes == []
        assert [r.key for r in walk.entries] == ["b"]
    walk = run_walk(
        MemoryIndex(rows), prefix="", delimiter="/", marker="a", max_entries=5
    )
    assert walk.common_prefixes == ["a/"]


def test_walk_with_zero_max_entries_asks_nothing() -> None:
    walk: ListingWalk[Row] = ListingWalk(
        prefix="", delimiter="/", marker="", max_entries=0, key_of=lambda r: r.key
    )
    assert walk.next_fetch() is None
    assert not walk.is_truncated


def test_walk_starts_at_the_prefix_and_stops_at_its_successor() -> None:
    walk: ListingWalk[Row] = ListingWalk(
        prefix="ab", delimiter="", marker="a", max_entries=10, key_of=lambda r: r.key
    )
    fetch = walk.next_fetch()
    assert fetch is not None
    assert fetch.start == Position("ab", True)
    assert fetch.end == "ac"
    # a marker past the prefix range means nothing to fetch
    walk = ListingWalk(
        prefix="ab", delimiter="", marker="ac", max_entries=10, key_of=lambda r: r.key
    )
    assert walk.next_fetch() is None


def test_feed_without_fetch_is_an_error() -> None:
    walk: ListingWalk[Row] = ListingWalk(
        prefix="", delimiter="", marker="", max_entries=1, key_of=lambda r: r.key
    )
    with pytest.raises(RuntimeError):
        walk.feed([])
