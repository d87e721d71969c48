"""Whether the MD5 lane extension is there, for tests that need it.

``s3api._md5_lanes`` is compiled at install and optional: a machine without
a C compiler installs without it. Tests that need it are skipped there with
the reason, except under ``CI=true``, where they run and fail: CI builds the
extension and must never pass by skipping.
"""

from __future__ import annotations

import os

import pytest

from s3api.md5_lanes import available_kernels

SKIP_REASON = "s3api._md5_lanes is not built (no C compiler at install)"
SKIP = not available_kernels() and os.environ.get("CI") != "true"
"""Whether tests that need the extension are skipped here."""

needs_md5_lanes = pytest.mark.skipif(SKIP, reason=SKIP_REASON)
"""Marks a test that needs the extension (see the module docstring)."""
