"""The one access control list buckets and objects have here: the owner's
FULL_CONTROL. ACLs are disabled, as on AWS buckets whose Object Ownership is
"bucket owner enforced": writing an ACL that grants nothing more is accepted
(and changes nothing); anything else is AccessControlListNotSupported.
"""

from __future__ import annotations

from collections.abc import Sequence

from s3api.errors import AccessControlListNotSupported
from s3api.xml_codec import Grant

__all__ = ["check_owner_only_grants"]


def check_owner_only_grants(grants: Sequence[Grant], owner: str) -> None:
    """Raise AccessControlListNotSupported unless every grant is the owner's FULL_CONTROL."""
    for grant in grants:
        if (grant.grantee_type, grant.grantee, grant.permission) != ("CanonicalUser", owner, "FULL_CONTROL"):
            raise AccessControlListNotSupported()
