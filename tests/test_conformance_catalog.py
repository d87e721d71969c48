"""conformance/catalog.py: the suite's checks and their selection."""

from __future__ import annotations

from conformance.catalog import all_checks, select

EXPECTED_GROUPS = {
    "CreateBucket", "HeadBucket", "DeleteBucket", "ListBuckets", "PutObject", "GetObject", "HeadObject",
    "DeleteObject", "DeleteObjects", "CopyObject", "ListObjects", "ListObjectsV2", "ListObjectVersions",
    "CompleteMultipartUpload", "AbortMultipartUpload", "ListParts", "ListMultipartUploads", "UploadPart",
    "UploadPartCopy", "Presigned URL", "Authentication", "Access between users",
    "boto3", "aws cli", "rclone", "s3cmd", "restic",
}


def test_every_operation_and_client_has_checks_with_unique_ids() -> None:
    checks = all_checks()
    assert EXPECTED_GROUPS <= {c.group for c in checks}
    assert len({c.id for c in checks}) == len(checks)


def test_each_group_is_listed_together_and_clients_come_last_in_order() -> None:
    groups = [c.group for c in all_checks()]
    collapsed = [g for i, g in enumerate(groups) if i == 0 or groups[i - 1] != g]
    assert len(collapsed) == len(set(collapsed))
    assert collapsed[-5:] == ["boto3", "aws cli", "rclone", "s3cmd", "restic"]


def test_every_check_bounds_its_run_time() -> None:
    assert all(0 < c.time_limit <= 300 for c in all_checks())


def test_select_matches_globs_on_group_and_name_case_insensitively() -> None:
    checks = all_checks()
    assert select(checks, []) == checks
    rclone = select(checks, ["RCLONE: *"])
    assert rclone and all(c.group == "rclone" for c in rclone)
    both = select(checks, ["rclone: *", "restic: *"])
    assert {c.group for c in both} == {"rclone", "restic"}
    assert select(checks, ["no such: check"]) == []
