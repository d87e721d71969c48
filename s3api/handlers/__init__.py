"""S3 operation handlers, one module per resource; ``HANDLERS`` maps AWS
operation names to them. Operations not listed are answered NotImplemented."""

from __future__ import annotations

from s3api.handlers import acl_ops, bucket_ops, multipart_ops, object_ops, service_ops
from s3api.web_context import Handler

__all__ = ["HANDLERS"]

HANDLERS: dict[str, Handler] = {
    **service_ops.OPERATIONS,
    **bucket_ops.OPERATIONS,
    **object_ops.OPERATIONS,
    **multipart_ops.OPERATIONS,
    **acl_ops.OPERATIONS,
}
