"""Backend-independent listing logic: prefix/delimiter grouping and paging.

S3 listings walk keys in UTF-8 byte order (the same as code-point order, which
is how Python compares ``str``). With a delimiter, every key whose remainder
after the prefix contains the delimiter collapses into one *common prefix*.
A store must not read every key of such a group: after meeting the first key
of a group it seeks to :func:`prefix_successor` of the group and reads on.

:class:`ListingWalk` holds that logic without doing any I/O. A backend asks it
what to fetch next (:meth:`ListingWalk.next_fetch`), runs one indexed range
query for it, and hands the rows back (:meth:`ListingWalk.feed`), until the
walk is done. Both backends share it, so they page identically.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

R = TypeVar("R")

_MAX_CODE_POINT = 0x10FFFF
_SURROGATES_FIRST = 0xD800
_SURROGATES_LAST = 0xDFFF

# Rows fetched right after a group skip: the next row usually starts another
# group in directory-like listings, so fetch few and grow while rows are plain
# entries. This bounds the rows read per group by a small constant.
GROUP_BATCH = 2
# A page holds at most 1,000 entries; one more row says whether it is truncated.
MAX_BATCH = 1001


def _next_code_point(cp: int) -> int | None:
    """The next code point that UTF-8 can encode (surrogates are skipped)."""
    cp += 1
    if _SURROGATES_FIRST <= cp <= _SURROGATES_LAST:
        cp = _SURROGATES_LAST + 1
    return cp if cp <= _MAX_CODE_POINT else None


def prefix_successor(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with ``prefix``.

    UTF-8 byte order equals code-point order, so incrementing the last code
    point (carrying past U+10FFFF, skipping surrogates, which valid keys cannot
    hold) gives a bound that is itself valid UTF-8. None when no such string
    exists (empty prefix, or a prefix of only U+10FFFF).
    """
    chars = prefix
    while chars:
        nxt = _next_code_point(ord(chars[-1]))
        if nxt is not None:
            return chars[:-1] + chr(nxt)
        chars = chars[:-1]
    return None


def common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
    """The common prefix ``key`` rolls up into, or None when it lists as itself.

    That is ``key`` up to and including the first ``delimiter`` found after
    ``prefix``. A match found on code points is also a match on UTF-8 bytes:
    UTF-8 is self-synchronizing, so byte matches always fall on characters.
    """
    if not delimiter:
        return None
    at = key.find(delimiter, len(prefix))
    if at < 0:
        return None
    return key[: at + len(delimiter)]


@dataclass(frozen=True)
class Position:
    """Where a listing resumes.

    ``inclusive`` False: rows of keys > ``key``. ``inclusive`` True and
    ``after`` None: rows of keys >= ``key``. ``inclusive`` True and ``after``
    set: rows of ``key`` ordered after the row whose tie-break is ``after``
    (e.g. older versions than a version marker), then rows of keys > ``key``.
    """

    key: str
    inclusive: bool
    after: Hashable | None = None


@dataclass(frozen=True)
class Fetch:
    """One range query a backend runs for a walk: rows from ``start`` on,
    keys below ``end`` (exclusive; None for no bound), in key then tie-break
    order, at most ``limit`` rows."""

    start: Position
    end: str | None
    limit: int


class ListingWalk(Generic[R]):
    """One listing page, computed from range queries a backend answers.

    Entries are rows (one per object, version or upload) and common prefixes;
    ``max_entries`` counts both. A common prefix is emitted only when it sorts
    after ``marker``: S3 continues a page after a common prefix with that
    prefix as the marker, so a group the marker reaches into was already
    listed. Truncation is known exactly: the walk looks for one entry past the
    page before it reports ``is_truncated``.
    """

    def __init__(
        self,
        *,
        prefix: str,
        delimiter: str,
        marker: str,
        max_entries: int,
        key_of: Callable[[R], str],
        tiebreak_of: Callable[[R], Hashable] | None = None,
        resume_after: Hashable | None = None,
    ) -> None:
        """``marker``: list keys after it (S3 marker / start-after / key-marker).
        ``tiebreak_of``: for listings with several rows per key (versions,
        uploads), each row's position within its key; with ``resume_after``
        the walk starts inside ``marker``'s rows, after that position."""
        self._prefix = prefix
        self._delimiter = delimiter
        self._marker = marker
        self._max = max_entries
        self._key_of = key_of
        self._tiebreak_of = tiebreak_of
        self.entries: list[R] = []
        self.common_prefixes: list[str] = []
        self.is_truncated = False
        # The last entry emitted: a row, or a common prefix (row None).
        self.last_key: str | None = None
        self.last_row: R | None = None
        self._end = prefix_successor(prefix) if prefix else None
        if resume_after is not None:
            self._position = Position(marker, True, resume_after)
        else:
            self._position = Position(marker, False)
        if prefix > marker:
            self._position = Position(prefix, True)
        self._batch = GROUP_BATCH if delimiter else MAX_BATCH
        self._done = max_entries <= 0 or (
            self._end is not None and self._position.key >= self._end
        )
        self._pending: Fetch | None = None

    @property
    def done(self) -> bool:
        """Whether the page is complete."""
        return self._done

    def next_fetch(self) -> Fetch | None:
        """The next range query to run, or None when the page is complete."""
        if self._done:
            return None
        emitted = len(self.entries) + len(self.common_prefixes)
        # One entry beyond the page tells whether the listing is truncated.
        need = self._max + 1 - emitted
        self._pending = Fetch(self._position, self._end, max(1, min(self._batch, need)))
        return self._pending

    def feed(self, rows: Sequence[R]) -> None:
        """Consume the rows answering the last :meth:`next_fetch`, in order.

        Rows past a group's first key are ignored (the walk seeks past the
        group instead); fewer rows than asked for means the range is exhausted.
        """
        fetch = self._pending
        if fetch is None:
            raise RuntimeError("feed() without a pending fetch")
        self._pending = None
        for row in rows:
            key = self._key_of(row)
            group = common_prefix(key, self._prefix, self._delimiter)
            if group is not None:
                if group > self._marker and not self._emit(group, None):
                    return
                nxt = prefix_successor(group)
                if nxt is None or (self._end is not None and nxt >= self._end):
                    self._done = True
                    return
                self._position = Position(nxt, True)
                self._batch = GROUP_BATCH
                return
            if not self._emit(key, row):
                return
            if self._tiebreak_of is not None:
                self._position = Position(key, True, self._tiebreak_of(row))
            else:
                self._position = Position(key, False)
        if len(rows) < fetch.limit:
            self._done = True
        else:
            self._batch = min(self._batch * 2, MAX_BATCH)

    def feed_first(self, row: R | None) -> None:
        """Consume the first row at or after the walk's position, or None when
        there is none: the answer to a one-row fetch, for a backend that runs
        several of the walk's seeks in one statement (it must move from a row
        exactly as :meth:`feed` does: past a group's successor, or past the key)."""
        if self._done:
            raise RuntimeError("feed_first() on a finished walk")
        self._pending = Fetch(self._position, self._end, 1)
        self.feed([] if row is None else [row])

    def _emit(self, key: str, row: R | None) -> bool:
        """Add an entry; False (and the page is done) when it no longer fits."""
        if len(self.entries) + len(self.common_prefixes) >= self._max:
            self.is_truncated = True
            self._done = True
            return False
        if row is None:
            self.common_prefixes.append(key)
        else:
            self.entries.append(row)
        self.last_key = key
        self.last_row = row
        return True
