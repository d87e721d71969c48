"""Tests for objectd.gc_tuning."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from objectd.gc_tuning import YOUNG_THRESHOLD, tune_gc


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    frozen = gc.get_freeze_count()
    yield
    gc.set_threshold(*threshold)
    if frozen == 0:
        gc.unfreeze()


def test_freezes_what_exists_and_raises_the_young_threshold(restore_gc: None) -> None:
    _, middle, old = gc.get_threshold()
    tune_gc()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, middle, old)
    assert gc.get_freeze_count() > 0


def test_cycles_made_afterwards_are_still_collected(restore_gc: None) -> None:
    tune_gc()

    class Node:
        pass

    first, second = Node(), Node()
    first.other, second.other = second, first  # type: ignore[attr-defined]
    alive = weakref.ref(first)
    del first, second
    gc.collect()
    assert alive() is None
