"""What a check works with: boto3 clients of the endpoint, fresh buckets and a
scratch folder, all cleaned up when the check ends."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from conformance.endpoint import Credentials, Endpoint
from conformance.registry import Unavailable

# Bounded waits so a hanging server fails a check; everything else is boto3's default.
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 60


def s3_client(endpoint: Endpoint, credentials: Credentials, **config: Any) -> Any:
    """A boto3 S3 client of ``endpoint`` with boto3's default configuration
    (plus bounded timeouts and any ``config`` given)."""
    settings: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT, "read_timeout": READ_TIMEOUT}
    settings.update(config)
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint.url,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        region_name=endpoint.region,
        verify=endpoint.ca_bundle if endpoint.tls and endpoint.ca_bundle else None,
        config=Config(**settings),
    )


def new_bucket_name(tag: str = "") -> str:
    """A bucket name no one else has (S3 names are global on AWS)."""
    return f"conformance-{tag + '-' if tag else ''}{uuid.uuid4().hex[:16]}"


def empty_and_delete_bucket(client: Any, name: str) -> None:
    """Remove every object version, every upload and then the bucket; tolerates
    what a check already removed."""
    try:
        for page in client.get_paginator("list_object_versions").paginate(Bucket=name):
            objects = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                       for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            if objects:
                client.delete_objects(Bucket=name, Delete={"Objects": objects, "Quiet": True})
        for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=name):
            for upload in page.get("Uploads", []):
                client.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
        client.delete_bucket(Bucket=name)
    except (ClientError, BotoCoreError):
        return


class CheckContext:
    """The resources of one check run; :meth:`close` releases them."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._cleanups: list[Callable[[], None]] = []
        self._workdir: Path | None = None
        self._s3: Any = None
        self._alt_s3: Any = None

    @property
    def s3(self) -> Any:
        """A default-configuration boto3 client of the main user."""
        if self._s3 is None:
            self._s3 = s3_client(self.endpoint, self.endpoint.root)
        return self._s3

    @property
    def alt_credentials(self) -> Credentials:
        """The second user's keys; the check is unavailable without them."""
        if self.endpoint.alt is None:
            raise Unavailable("needs a second user (--alt-access-key/--alt-secret-key)")
        return self.endpoint.alt

    @property
    def alt_s3(self) -> Any:
        """A default-configuration boto3 client of the second user."""
        if self._alt_s3 is None:
            self._alt_s3 = s3_client(self.endpoint, self.alt_credentials)
        return self._alt_s3

    @property
    def workdir(self) -> Path:
        """A scratch folder of this check, removed afterwards."""
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="conformance-"))
        return self._workdir

    def create_bucket_arguments(self) -> dict[str, Any]:
        """CreateBucket's arguments beyond the name: outside us-east-1 S3 wants the
        region as LocationConstraint."""
        if self.endpoint.region == "us-east-1":
            return {}
        return {"CreateBucketConfiguration": {"LocationConstraint": self.endpoint.region}}

    def bucket(self, tag: str = "") -> str:
        """A new, empty bucket of the main user, deleted (with its contents) afterwards."""
        name = new_bucket_name(tag)
        self.s3.create_bucket(Bucket=name, **self.create_bucket_arguments())
        self.on_close(lambda: empty_and_delete_bucket(self.s3, name))
        return name

    def on_close(self, cleanup: Callable[[], None]) -> None:
        """Run ``cleanup`` when the check ends (last registered, first run)."""
        self._cleanups.append(cleanup)

    def close(self) -> None:
        """Release everything the check made, best effort."""
        while self._cleanups:
            cleanup = self._cleanups.pop()
            # Best effort: a cleanup that fails must not change the check's verdict.
            with contextlib.suppress(Exception):
                cleanup()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
