"""Shared pytest configuration."""

from __future__ import annotations

import pytest

from erasure.malloc_tuning import tune_malloc


def pytest_sessionstart(session: pytest.Session) -> None:
    """Raise glibc's malloc thresholds once, as objectd does at start-up, so
    erasure coding runs at production speed in tests."""
    tune_malloc()
