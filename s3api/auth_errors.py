"""S3 errors of the request-body encodings (aws-chunked framing and trailers).

These codes sit beside the ones in :mod:`s3api.errors` and have the same shape
(subclasses of :class:`s3api.errors.S3Error`), so the XML renderer treats
them alike.
"""

from __future__ import annotations

from s3api.errors import S3Error

__all__ = ["InvalidChunkSizeError", "MalformedTrailerError"]


class InvalidChunkSizeError(S3Error):
    """An aws-chunked body had a chunk under the minimum size before its last chunk.

    AWS adds ``Chunk`` (the number of the chunk being read when the small one
    was found) and ``BadChunkSize`` elements.
    """

    code = "InvalidChunkSizeError"
    status = 400
    message = "Only the last chunk is allowed to have a size less than 8192 bytes"


class MalformedTrailerError(S3Error):
    """The trailer of an aws-chunked body is malformed or does not match x-amz-trailer."""

    code = "MalformedTrailerError"
    status = 400
    message = (
        "The request contained trailing data that was not well-formed or did not "
        "conform to our published schema."
    )
