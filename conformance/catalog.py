"""Every check of the suite, in the order the table lists them."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from conformance import (
    checks_access,
    checks_bucket_settings,
    checks_buckets,
    checks_checksums,
    checks_conditional,
    checks_listing,
    checks_multipart,
    checks_objects,
    checks_presigned,
    checks_ranges,
    checks_streaming,
    client_awscli,
    client_boto3,
    client_rclone,
    client_restic,
    client_s3cmd,
)
from conformance.registry import Check, registered

# The modules whose registrations make up the suite, in the table's order:
# S3 operations first, then the real clients in the order users meet them.
MODULES = (
    checks_buckets,
    checks_bucket_settings,
    checks_objects,
    checks_listing,
    checks_multipart,
    checks_checksums,
    checks_streaming,
    checks_ranges,
    checks_conditional,
    checks_presigned,
    checks_access,
    client_boto3,
    client_awscli,
    client_rclone,
    client_s3cmd,
    client_restic,
)


def all_checks() -> list[Check]:
    """Every check of the suite's modules, grouped by operation or client (each
    group where it first appears), in registration order within a group."""
    rank = {module.__name__: index for index, module in enumerate(MODULES)}
    checks = sorted((c for c in registered() if c.function.__module__ in rank),
                    key=lambda c: rank[c.function.__module__])
    first = {group: index for index, group in reversed(list(enumerate(c.group for c in checks)))}
    return sorted(checks, key=lambda c: first[c.group])


def select(checks: Sequence[Check], patterns: Sequence[str]) -> list[Check]:
    """The checks whose id (``group: name``) matches any glob pattern (case-insensitive);
    all of them when no pattern is given."""
    if not patterns:
        return list(checks)
    return [c for c in checks if any(fnmatch.fnmatch(c.id.lower(), p.lower()) for p in patterns)]
