"""Users and access keys against a live server: ``objectd user add / list /
new-key / remove-key / remove`` through the real CLI while the server runs,
bucket ownership, and AccessDenied for every kind of operation on another
user's bucket.

Expected behaviour is AWS's for separate accounts: ListBuckets lists the
caller's own buckets only; any request on a bucket the caller does not own is
403 AccessDenied (HeadBucket: 403 without a body); a key that no longer
exists is 403 InvalidAccessKeyId.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import (
    Credentials,
    add_user,
    expect_error,
    make_client,
    wait_until,
)
from tests.e2e.server_process import ServerProcess


def _cli(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "objectd", "user", *server.admin_args, *args],
        check=False, capture_output=True, text=True, timeout=60,
    )


def _user_name() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


def _client(server: ServerProcess, creds: Credentials):  # type: ignore[no-untyped-def]
    return make_client(server, creds.access_key, creds.secret_key, retries={"max_attempts": 1})


def _key_refused(client) -> bool:  # type: ignore[no-untyped-def]
    """Whether the server now refuses the client's access key as unknown."""
    try:
        client.list_buckets()
    except ClientError as error:
        return error.response["Error"]["Code"] == "InvalidAccessKeyId"
    return False


def test_cli_add_list_new_key_and_remove(http_server: ServerProcess) -> None:
    name = _user_name()
    first = add_user(http_server, name)
    assert first.user == name
    assert first.access_key and first.secret_key
    client = _client(http_server, first)
    assert client.list_buckets()["Buckets"] == []

    listed = _cli(http_server, "list")
    assert listed.returncode == 0
    assert f"{name}\t{first.access_key}" in listed.stdout.splitlines()

    again = _cli(http_server, "add", name)
    assert again.returncode != 0
    assert name in again.stderr

    issued = _cli(http_server, "new-key", name)
    assert issued.returncode == 0, issued.stderr
    second = Credentials(name, *[line.split(":", 1)[1].strip() for line in issued.stdout.splitlines()
                                 if line.startswith(("access key:", "secret key:"))])
    assert second.access_key != first.access_key
    lines = _cli(http_server, "list").stdout.splitlines()
    assert {f"{name}\t{first.access_key}", f"{name}\t{second.access_key}"} <= set(lines)

    # Both keys act as the same user.
    bucket = f"owned-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    other_key = _client(http_server, second)
    assert [b["Name"] for b in other_key.list_buckets()["Buckets"]] == [bucket]
    other_key.put_object(Bucket=bucket, Key="k", Body=b"x")

    # A removed key stops working (within moments: like IAM, key lookups may be
    # cached briefly); the user's other key does not.
    assert _cli(http_server, "remove-key", first.access_key).returncode == 0
    assert wait_until(lambda: _key_refused(client))
    expect_error("InvalidAccessKeyId", 403, client.list_buckets)
    expect_error("InvalidAccessKeyId", 403, client.get_object, Bucket=bucket, Key="k")
    assert other_key.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    other_key.delete_object(Bucket=bucket, Key="k")
    other_key.delete_bucket(Bucket=bucket)

    # Removing the user removes every key.
    assert _cli(http_server, "remove", name).returncode == 0
    assert wait_until(lambda: _key_refused(other_key))
    expect_error("InvalidAccessKeyId", 403, other_key.list_buckets)
    assert name not in _cli(http_server, "list").stdout
    assert _cli(http_server, "remove", name).returncode != 0
    assert _cli(http_server, "new-key", name).returncode != 0
    assert _cli(http_server, "remove-key", first.access_key).returncode != 0


def test_list_buckets_shows_only_own_buckets(http_s3, http_alt_s3) -> None:
    mine = f"mine-{uuid.uuid4().hex[:10]}"
    theirs = f"theirs-{uuid.uuid4().hex[:10]}"
    http_s3.create_bucket(Bucket=mine)
    http_alt_s3.create_bucket(Bucket=theirs)
    try:
        root_names = [b["Name"] for b in http_s3.list_buckets()["Buckets"]]
        alt_names = [b["Name"] for b in http_alt_s3.list_buckets()["Buckets"]]
        assert mine in root_names and theirs not in root_names
        assert theirs in alt_names and mine not in alt_names
        assert http_s3.list_buckets()["Owner"]["ID"] != http_alt_s3.list_buckets()["Owner"]["ID"]
    finally:
        http_s3.delete_bucket(Bucket=mine)
        http_alt_s3.delete_bucket(Bucket=theirs)


@pytest.fixture
def foreign(http_s3, http_bucket: str) -> tuple[str, str]:
    """The root user's bucket with an object and a multipart upload in it."""
    http_s3.put_object(Bucket=http_bucket, Key="k", Body=b"secret")
    upload_id = http_s3.create_multipart_upload(Bucket=http_bucket, Key="mp")["UploadId"]
    http_s3.upload_part(Bucket=http_bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"part")
    return http_bucket, upload_id


def test_another_users_bucket_is_access_denied(http_s3, http_alt_s3, foreign: tuple[str, str]) -> None:
    bucket, upload_id = foreign
    alt = http_alt_s3
    own = f"alt-own-{uuid.uuid4().hex[:10]}"
    alt.create_bucket(Bucket=own)
    try:
        denied: list[tuple[Callable[..., object], dict[str, Any]]] = [
            # listings
            (alt.list_objects, {"Bucket": bucket}),
            (alt.list_objects_v2, {"Bucket": bucket}),
            (alt.list_object_versions, {"Bucket": bucket}),
            (alt.list_multipart_uploads, {"Bucket": bucket}),
            (alt.get_bucket_location, {"Bucket": bucket}),
            (alt.get_bucket_versioning, {"Bucket": bucket}),
            (alt.get_bucket_acl, {"Bucket": bucket}),
            # reads
            (alt.get_object, {"Bucket": bucket, "Key": "k"}),
            (alt.get_object, {"Bucket": bucket, "Key": "absent"}),
            (alt.get_object_acl, {"Bucket": bucket, "Key": "k"}),
            # writes
            (alt.put_object, {"Bucket": bucket, "Key": "k", "Body": b"overwrite"}),
            (alt.put_object, {"Bucket": bucket, "Key": "new", "Body": b"new"}),
            (alt.copy_object, {"Bucket": bucket, "Key": "copy", "CopySource": {"Bucket": bucket, "Key": "k"}}),
            (alt.copy_object, {"Bucket": own, "Key": "stolen", "CopySource": {"Bucket": bucket, "Key": "k"}}),
            # deletes
            (alt.delete_object, {"Bucket": bucket, "Key": "k"}),
            (alt.delete_objects, {"Bucket": bucket, "Delete": {"Objects": [{"Key": "k"}]}}),
            (alt.delete_bucket, {"Bucket": bucket}),
            # multipart
            (alt.create_multipart_upload, {"Bucket": bucket, "Key": "mp2"}),
            (alt.upload_part, {"Bucket": bucket, "Key": "mp", "UploadId": upload_id, "PartNumber": 2,
                               "Body": b"x"}),
            (alt.list_parts, {"Bucket": bucket, "Key": "mp", "UploadId": upload_id}),
            (alt.complete_multipart_upload, {"Bucket": bucket, "Key": "mp", "UploadId": upload_id,
                                             "MultipartUpload": {"Parts": [{"PartNumber": 1, "ETag": '"x"'}]}}),
            (alt.abort_multipart_upload, {"Bucket": bucket, "Key": "mp", "UploadId": upload_id}),
        ]
        for call, kwargs in denied:
            expect_error("AccessDenied", 403, call, **kwargs)
        expect_error("403", 403, alt.head_object, Bucket=bucket, Key="k")
        expect_error("403", 403, alt.head_bucket, Bucket=bucket)
        # The upload part copy from a foreign source into an own upload is denied too.
        own_upload = alt.create_multipart_upload(Bucket=own, Key="mp")["UploadId"]
        expect_error("AccessDenied", 403, alt.upload_part_copy, Bucket=own, Key="mp", UploadId=own_upload,
                     PartNumber=1, CopySource={"Bucket": bucket, "Key": "k"})
        alt.abort_multipart_upload(Bucket=own, Key="mp", UploadId=own_upload)
    finally:
        alt.delete_bucket(Bucket=own)
    # Nothing changed for the owner.
    assert http_s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"secret"
    assert [o["Key"] for o in http_s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]
    assert len(http_s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)["Parts"]) == 1
    assert [u["Key"] for u in http_s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == ["mp"]


def test_owner_cannot_reach_into_another_users_bucket_either(s3, alt_s3) -> None:
    theirs = f"theirs-{uuid.uuid4().hex[:10]}"
    alt_s3.create_bucket(Bucket=theirs)
    try:
        alt_s3.put_object(Bucket=theirs, Key="k", Body=b"alt data")
        expect_error("AccessDenied", 403, s3.get_object, Bucket=theirs, Key="k")
        expect_error("AccessDenied", 403, s3.put_object, Bucket=theirs, Key="k", Body=b"root data")
        expect_error("AccessDenied", 403, s3.list_objects_v2, Bucket=theirs)
        assert alt_s3.get_object(Bucket=theirs, Key="k")["Body"].read() == b"alt data"
    finally:
        alt_s3.delete_object(Bucket=theirs, Key="k")
        alt_s3.delete_bucket(Bucket=theirs)
