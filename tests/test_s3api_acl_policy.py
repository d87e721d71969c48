"""Tests for s3api.acl_policy: only the owner's FULL_CONTROL is accepted."""

from __future__ import annotations

import pytest

from s3api.acl_policy import check_owner_only_grants
from s3api.errors import AccessControlListNotSupported
from s3api.xml_codec import Grant


def test_owner_full_control_is_accepted() -> None:
    check_owner_only_grants([Grant("CanonicalUser", "alice", "FULL_CONTROL")], "alice")
    check_owner_only_grants([], "alice")


@pytest.mark.parametrize(
    "grant",
    [
        Grant("CanonicalUser", "bob", "FULL_CONTROL"),
        Grant("CanonicalUser", "alice", "READ"),
        Grant("Group", "http://acs.amazonaws.com/groups/global/AllUsers", "READ"),
        Grant("AmazonCustomerByEmail", "a@example.com", "FULL_CONTROL"),
    ],
)
def test_anything_more_is_not_supported(grant: Grant) -> None:
    with pytest.raises(AccessControlListNotSupported) as caught:
        check_owner_only_grants([Grant("CanonicalUser", "alice", "FULL_CONTROL"), grant], "alice")
    assert caught.value.status == 400
