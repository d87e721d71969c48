"""S3 errors: one class per AWS error code.

Each class carries the code, HTTP status and default message AWS documents in
"Error responses" of the S3 API reference. Handlers raise them; the aiohttp
adapter renders them as the XML ``<Error>`` document S3 clients parse.
"""

from __future__ import annotations


class S3Error(Exception):
    """Base of every S3 error; renders as ``<Error><Code>…`` with ``status``.

    ``fields`` become extra child elements of ``<Error>`` (AWS adds some per
    code, e.g. ``BucketName``, ``Key``, ``UploadId``, ``ArgumentName``).
    ``headers`` are extra response headers some errors carry (InvalidRange's
    ``Content-Range: bytes */size``, NotModified's ``ETag``).
    """

    code: str = "InternalError"
    status: int = 500
    message: str = "We encountered an internal error. Please try again."

    def __init__(self, message: str | None = None, **fields: str) -> None:
        if message is not None:
            self.message = message
        self.fields: dict[str, str] = {k: str(v) for k, v in fields.items()}
        self.headers: dict[str, str] = {}
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, {self.fields!r})"


class InternalError(S3Error):
    """Something failed on our side; the log line carries the cause."""


class ServiceUnavailable(S3Error):
    """A dependency (metadata database, nodes) cannot be reached right now."""

    code = "ServiceUnavailable"
    status = 503
    message = "Please reduce your request rate."


class SlowDown(S3Error):
    """The server is shedding load."""

    code = "SlowDown"
    status = 503
    message = "Please reduce your request rate."


class NotImplemented(S3Error):  # noqa: A001 - the AWS code is literally this
    """An operation or header value this server does not support."""

    code = "NotImplemented"
    status = 501
    message = "A header you provided implies functionality that is not implemented."


# --- authentication -------------------------------------------------------


class AccessDenied(S3Error):
    """Anonymous request, another owner's resource, or an expired presigned URL."""

    code = "AccessDenied"
    status = 403
    message = "Access Denied"


class InvalidAccessKeyId(S3Error):
    """The access key is not known to this server."""

    code = "InvalidAccessKeyId"
    status = 403
    message = "The AWS Access Key Id you provided does not exist in our records."


class SignatureDoesNotMatch(S3Error):
    """The computed signature differs from the one the client sent."""

    code = "SignatureDoesNotMatch"
    status = 403
    message = (
        "The request signature we calculated does not match the signature you "
        "provided. Check your key and signing method."
    )


class RequestTimeTooSkewed(S3Error):
    """The request time is more than 15 minutes from the server's clock."""

    code = "RequestTimeTooSkewed"
    status = 403
    message = "The difference between the request time and the current time is too large."


class AuthorizationHeaderMalformed(S3Error):
    """The Authorization header cannot be parsed or names a wrong scope."""

    code = "AuthorizationHeaderMalformed"
    status = 400
    message = "The authorization header is malformed."


class AuthorizationQueryParametersError(S3Error):
    """Presigned query parameters are missing or malformed."""

    code = "AuthorizationQueryParametersError"
    status = 400
    message = "Query-string authentication requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."


class XAmzContentSHA256Mismatch(S3Error):
    """The body's SHA-256 differs from the x-amz-content-sha256 header."""

    code = "XAmzContentSHA256Mismatch"
    status = 400
    message = "The provided 'x-amz-content-sha256' header does not match what was computed."


class AccessControlListNotSupported(S3Error):
    """An ACL other than the owner's full control; buckets here have ACLs disabled,
    as AWS buckets with Object Ownership "bucket owner enforced" do."""

    code = "AccessControlListNotSupported"
    status = 400
    message = "The bucket does not allow ACLs"


class MissingSecurityHeader(S3Error):
    """A required header is absent."""

    code = "MissingSecurityHeader"
    status = 400
    message = "Your request is missing a required header."


class ExpiredToken(S3Error):
    """A token in the request has expired."""

    code = "ExpiredToken"
    status = 400
    message = "The provided token has expired."


# --- request shape --------------------------------------------------------


class InvalidArgument(S3Error):
    """A parameter or header has an invalid value."""

    code = "InvalidArgument"
    status = 400
    message = "Invalid Argument"


class InvalidRequest(S3Error):
    """The request is not valid as a whole."""

    code = "InvalidRequest"
    status = 400
    message = "Invalid Request"


class MalformedXML(S3Error):
    """The XML body is not well formed or does not match the schema."""

    code = "MalformedXML"
    status = 400
    message = (
        "The XML you provided was not well-formed or did not validate against "
        "our published schema"
    )


class MaxMessageLengthExceeded(S3Error):
    """An XML request body is larger than the operation allows."""

    code = "MaxMessageLengthExceeded"
    status = 400
    message = "Your request was too big."


class MissingRequestBodyError(S3Error):
    """An operation that needs a body got none."""

    code = "MissingRequestBodyError"
    status = 400
    message = "Request Body is empty"


class MissingContentLength(S3Error):
    """A PUT without Content-Length and without chunked transfer."""

    code = "MissingContentLength"
    status = 411
    message = "You must provide the Content-Length HTTP header."


class IncompleteBody(S3Error):
    """Fewer body bytes arrived than Content-Length announced."""

    code = "IncompleteBody"
    status = 400
    message = "You did not provide the number of bytes specified by the Content-Length HTTP header."


class RequestTimeout(S3Error):
    """The client stopped sending the body."""

    code = "RequestTimeout"
    status = 400
    message = "Your socket connection to the server was not read from or written to within the timeout period."


class BadDigest(S3Error):
    """Content-MD5 or a flexible checksum does not match the body."""

    code = "BadDigest"
    status = 400
    message = "The Content-MD5 you specified did not match what we received."


class InvalidDigest(S3Error):
    """Content-MD5 is not valid base64 of 16 bytes."""

    code = "InvalidDigest"
    status = 400
    message = "The Content-MD5 you specified is not valid."


class EntityTooLarge(S3Error):
    """The body exceeds the maximum allowed object or part size."""

    code = "EntityTooLarge"
    status = 400
    message = "Your proposed upload exceeds the maximum allowed object size."


class EntityTooSmall(S3Error):
    """A non-final multipart part is below 5 MiB."""

    code = "EntityTooSmall"
    status = 400
    message = "Your proposed upload is smaller than the minimum allowed object size."


class MetadataTooLarge(S3Error):
    """User metadata exceeds 2 KB."""

    code = "MetadataTooLarge"
    status = 400
    message = "Your metadata headers exceed the maximum allowed metadata size."


class KeyTooLongError(S3Error):
    """The object key is longer than 1024 bytes of UTF-8."""

    code = "KeyTooLongError"
    status = 400
    message = "Your key is too long"


class RequestHeaderSectionTooLarge(S3Error):
    """The request's headers exceed S3's 8 KB limit."""

    code = "RequestHeaderSectionTooLarge"
    status = 400
    message = "Your request header section exceeds the maximum allowed size."


class InvalidURI(S3Error):
    """The URI could not be parsed."""

    code = "InvalidURI"
    status = 400
    message = "Couldn't parse the specified URI."


class InvalidRange(S3Error):
    """The Range header lies wholly outside the object."""

    code = "InvalidRange"
    status = 416
    message = "The requested range is not satisfiable"


class InvalidPartNumber(S3Error):
    """partNumber on GET/HEAD names a part the object does not have."""

    code = "InvalidPartNumber"
    status = 416
    message = "The requested partnumber is not satisfiable"


class PreconditionFailed(S3Error):
    """An If-Match / If-Unmodified-Since / If-None-Match: * condition failed."""

    code = "PreconditionFailed"
    status = 412
    message = "At least one of the pre-conditions you specified did not hold"


class ConditionalRequestConflict(S3Error):
    """A conditional write raced another write of the same key."""

    code = "ConditionalRequestConflict"
    status = 409
    message = "A conflicting conditional operation is currently in progress against this resource. Please try again."


class MethodNotAllowed(S3Error):
    """The method is not allowed on this resource."""

    code = "MethodNotAllowed"
    status = 405
    message = "The specified method is not allowed against this resource."


class InvalidStorageClass(S3Error):
    """An unknown storage class was requested."""

    code = "InvalidStorageClass"
    status = 400
    message = "The storage class you specified is not valid"


class InvalidEncryptionAlgorithmError(S3Error):
    """An unknown server-side encryption algorithm was requested."""

    code = "InvalidEncryptionAlgorithmError"
    status = 400
    message = "The encryption request you specified is not valid. The valid value is AES256."


# --- buckets --------------------------------------------------------------


class NoSuchBucket(S3Error):
    """The bucket does not exist."""

    code = "NoSuchBucket"
    status = 404
    message = "The specified bucket does not exist"


class BucketAlreadyExists(S3Error):
    """Another owner has a bucket of that name."""

    code = "BucketAlreadyExists"
    status = 409
    message = (
        "The requested bucket name is not available. The bucket namespace is shared "
        "by all users of the system. Please select a different name and try again."
    )


class BucketAlreadyOwnedByYou(S3Error):
    """The caller already owns a bucket of that name."""

    code = "BucketAlreadyOwnedByYou"
    status = 409
    message = "Your previous request to create the named bucket succeeded and you already own it."


class BucketNotEmpty(S3Error):
    """DeleteBucket on a bucket that still holds objects or uploads."""

    code = "BucketNotEmpty"
    status = 409
    message = "The bucket you tried to delete is not empty"


class InvalidBucketName(S3Error):
    """The bucket name breaks the naming rules."""

    code = "InvalidBucketName"
    status = 400
    message = "The specified bucket is not valid."


class InvalidLocationConstraint(S3Error):
    """The LocationConstraint is not a region this server accepts."""

    code = "InvalidLocationConstraint"
    status = 400
    message = "The specified location-constraint is not valid"


class IllegalLocationConstraintException(S3Error):
    """The LocationConstraint differs from the endpoint's region."""

    code = "IllegalLocationConstraintException"
    status = 400
    message = "The unspecified location constraint is incompatible for the region specific endpoint this request was sent to."


class TooManyBuckets(S3Error):
    """The account reached its bucket limit."""

    code = "TooManyBuckets"
    status = 400
    message = "You have attempted to create more buckets than allowed"


# --- objects and uploads --------------------------------------------------


class NoSuchKey(S3Error):
    """The key does not exist."""

    code = "NoSuchKey"
    status = 404
    message = "The specified key does not exist."


class NoSuchVersion(S3Error):
    """The version id does not exist."""

    code = "NoSuchVersion"
    status = 404
    message = "The specified version does not exist."


class NoSuchUpload(S3Error):
    """The multipart upload does not exist (never did, aborted or completed)."""

    code = "NoSuchUpload"
    status = 404
    message = (
        "The specified upload does not exist. The upload ID may be invalid, or the "
        "upload may have been aborted or completed."
    )


class InvalidPart(S3Error):
    """A part named in CompleteMultipartUpload is missing or its ETag differs."""

    code = "InvalidPart"
    status = 400
    message = (
        "One or more of the specified parts could not be found.  The part may not "
        "have been uploaded, or the specified entity tag may not match the part's "
        "entity tag."
    )


class InvalidPartOrder(S3Error):
    """Parts in CompleteMultipartUpload are not in ascending order."""

    code = "InvalidPartOrder"
    status = 400
    message = "The list of parts was not in ascending order. The parts list must be specified in order by part number."


class InvalidObjectState(S3Error):
    """The operation is not valid in the object's current state."""

    code = "InvalidObjectState"
    status = 403
    message = "The operation is not valid for the object's storage class"


class NotModified(S3Error):
    """If-None-Match / If-Modified-Since on a read held: 304 with no body."""

    code = "NotModified"
    status = 304
    message = "Not Modified"


class NoSuchBucketPolicy(S3Error):
    """The bucket has no policy."""

    code = "NoSuchBucketPolicy"
    status = 404
    message = "The bucket policy does not exist"


class NoSuchCORSConfiguration(S3Error):
    """The bucket has no CORS configuration."""

    code = "NoSuchCORSConfiguration"
    status = 404
    message = "The CORS configuration does not exist"


class NoSuchLifecycleConfiguration(S3Error):
    """The bucket has no lifecycle configuration."""

    code = "NoSuchLifecycleConfiguration"
    status = 404
    message = "The lifecycle configuration does not exist"


class NoSuchTagSet(S3Error):
    """The resource has no tags."""

    code = "NoSuchTagSet"
    status = 404
    message = "The TagSet does not exist"


class ServerSideEncryptionConfigurationNotFoundError(S3Error):
    """The bucket has no default encryption configuration."""

    code = "ServerSideEncryptionConfigurationNotFoundError"
    status = 404
    message = "The server side encryption configuration was not found"
