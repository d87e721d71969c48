"""S3 conformance suite: named checks of S3 operations and of real clients
(aws cli, boto3, rclone, s3cmd, restic), runnable against any S3 endpoint.

Every expectation comes from AWS's documented behaviour (the Amazon S3 API
Reference and user guide), never from one server's. Run it with
``python -m conformance --endpoint URL --access-key AK --secret-key SK``.
The suite talks to the endpoint only as a client does: boto3/botocore, raw
HTTP and the clients' own command lines.
"""
