"""Tests for erasure.malloc_tuning."""

from __future__ import annotations

import platform

from erasure.malloc_tuning import tune_malloc


def test_tune_malloc_applies_on_glibc_only() -> None:
    assert tune_malloc() is (platform.libc_ver()[0] == "glibc")


def test_tune_malloc_is_idempotent() -> None:
    first = tune_malloc()
    assert tune_malloc() is first
