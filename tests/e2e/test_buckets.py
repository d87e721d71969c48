"""Bucket operations against a live server: ListBuckets, CreateBucket (naming
rules, LocationConstraint, conflicts), HeadBucket, DeleteBucket,
GetBucketLocation, GetBucketVersioning, the S3 error document, and
NotImplemented for operations the server does not offer.

Expected behaviour is AWS's, from the S3 API reference ("CreateBucket",
"Bucket naming rules", "Error responses").
"""

from __future__ import annotations

import random
import re
import time
import uuid
import xml.etree.ElementTree as ET

import pytest

from tests.e2e.conftest import expect_error, make_client, send


def _name(prefix: str = "b") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_created_bucket_is_listed_with_its_creation_date(s3) -> None:
    name = _name()
    before = time.time()
    s3.create_bucket(Bucket=name)
    try:
        listed = s3.list_buckets()
        entry = next(b for b in listed["Buckets"] if b["Name"] == name)
        assert abs(entry["CreationDate"].timestamp() - before) < 60
        assert listed["Owner"]["ID"]
        assert listed["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    finally:
        s3.delete_bucket(Bucket=name)
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_create_bucket_answers_location_header(http_s3) -> None:
    name = _name()
    answer = http_s3.create_bucket(Bucket=name)
    try:
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert answer["Location"] == f"/{name}"
    finally:
        http_s3.delete_bucket(Bucket=name)


def test_list_buckets_by_prefix_in_pages(http_s3) -> None:
    prefix = _name("lb")
    names = sorted(f"{prefix}-{i}" for i in range(3))
    for name in names:
        http_s3.create_bucket(Bucket=name)
    try:
        first = http_s3.list_buckets(Prefix=prefix, MaxBuckets=2)
        assert [b["Name"] for b in first["Buckets"]] == names[:2]
        assert first["Prefix"] == prefix
        second = http_s3.list_buckets(Prefix=prefix, MaxBuckets=2, ContinuationToken=first["ContinuationToken"])
        assert [b["Name"] for b in second["Buckets"]] == names[2:]
        assert "ContinuationToken" not in second
    finally:
        for name in names:
            http_s3.delete_bucket(Bucket=name)


@pytest.mark.parametrize(
    "name",
    [
        "ab",  # shorter than 3
        "a" * 64,  # longer than 63
        "UpperCase",
        "under_score",
        "-leading-hyphen",
        "trailing-hyphen-",
        ".leading-dot",
        "trailing-dot.",
        "double..dot",
        "dot.-dash",
        "dash-.dot",
        "192.168.5.4",  # formatted as an IP address
        "xn--reserved-prefix",
        "sthree-reserved",
        "amzn-s3-demo-reserved",
        "reserved-suffix-s3alias",
        "reserved-suffix--ol-s3",
        "reserved.mrap",
    ],
)
def test_create_bucket_with_invalid_name_is_refused(http_s3, name: str) -> None:
    error = expect_error("InvalidBucketName", 400, http_s3.create_bucket, Bucket=name)
    assert error["Error"]["BucketName"] == name
    assert name not in [b["Name"] for b in http_s3.list_buckets()["Buckets"]]


@pytest.mark.parametrize("name", ["bad!name", "bad%20name", "bad*name"])
def test_bucket_name_with_forbidden_characters_is_refused(http_server, name: str) -> None:
    # boto3 refuses these names itself, so they go out as raw requests.
    response = send(http_server, "PUT", f"/{name}")
    assert response.status == 400
    assert response.error_code == "InvalidBucketName"


@pytest.mark.parametrize(
    "template",
    ["{3}", "{63}", "with.dots.{12}", "with-hyphens-0-9-{12}", "0123{12}", "a-b.c-d.{12}"],
)
def test_create_bucket_accepts_valid_names(http_s3, template: str) -> None:
    # "{n}" stands for n random lower-case hex characters (3 and 63 are the limits).
    name = re.sub(r"\{(\d+)\}", lambda m: "".join(random.choices("0123456789abcdef", k=int(m[1]))), template)
    http_s3.create_bucket(Bucket=name)
    try:
        assert http_s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert name in [b["Name"] for b in http_s3.list_buckets()["Buckets"]]
    finally:
        http_s3.delete_bucket(Bucket=name)


def test_create_own_bucket_again_is_conflict(s3, bucket: str) -> None:
    error = expect_error("BucketAlreadyOwnedByYou", 409, s3.create_bucket, Bucket=bucket)
    assert error["Error"]["BucketName"] == bucket


def test_create_bucket_owned_by_another_user_is_conflict(alt_s3, bucket: str) -> None:
    expect_error("BucketAlreadyExists", 409, alt_s3.create_bucket, Bucket=bucket)


def test_location_constraint_sets_the_bucket_region(http_server) -> None:
    eu = make_client(http_server, region="eu-west-1")
    name = _name()
    eu.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    try:
        assert eu.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"
        head = eu.head_bucket(Bucket=name)
        assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "eu-west-1"
        entry = next(b for b in eu.list_buckets()["Buckets"] if b["Name"] == name)
        assert entry["BucketRegion"] == "eu-west-1"
    finally:
        eu.delete_bucket(Bucket=name)


def test_location_constraint_us_east_1_must_not_be_named(http_s3) -> None:
    # AWS: us-east-1 is the default region and is refused as an explicit constraint.
    name = _name()
    expect_error(
        "InvalidLocationConstraint", 400, http_s3.create_bucket,
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-east-1"},
    )
    expect_error("404", 404, http_s3.head_bucket, Bucket=name)


def test_bucket_location_of_default_region_is_empty(http_s3, http_bucket: str) -> None:
    answer = http_s3.get_bucket_location(Bucket=http_bucket)
    assert answer["LocationConstraint"] is None


def test_bucket_versioning_of_new_bucket_is_empty(s3, bucket: str) -> None:
    answer = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in answer
    assert "MFADelete" not in answer


def test_head_bucket(s3, bucket: str, alt_s3) -> None:
    head = s3.head_bucket(Bucket=bucket)
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"
    expect_error("404", 404, s3.head_bucket, Bucket=_name("missing"))
    expect_error("403", 403, alt_s3.head_bucket, Bucket=bucket)


def test_delete_bucket_refuses_while_objects_remain(s3) -> None:
    name = _name()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="keep", Body=b"data")
    expect_error("BucketNotEmpty", 409, s3.delete_bucket, Bucket=name)
    assert s3.get_object(Bucket=name, Key="keep")["Body"].read() == b"data"
    s3.delete_object(Bucket=name, Key="keep")
    answer = s3.delete_bucket(Bucket=name)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error("404", 404, s3.head_bucket, Bucket=name)
    expect_error("NoSuchBucket", 404, s3.delete_bucket, Bucket=name)


def test_operations_on_missing_bucket_are_no_such_bucket(http_s3) -> None:
    name = _name("missing")
    for call, kwargs in (
        (http_s3.list_objects, {}),
        (http_s3.list_objects_v2, {}),
        (http_s3.list_object_versions, {}),
        (http_s3.list_multipart_uploads, {}),
        (http_s3.get_bucket_location, {}),
        (http_s3.get_bucket_versioning, {}),
        (http_s3.put_object, {"Key": "k", "Body": b"x"}),
        (http_s3.get_object, {"Key": "k"}),
        (http_s3.delete_object, {"Key": "k"}),
        (http_s3.create_multipart_upload, {"Key": "k"}),
        (http_s3.delete_objects, {"Delete": {"Objects": [{"Key": "k"}]}}),
    ):
        error = expect_error("NoSuchBucket", 404, call, Bucket=name, **kwargs)
        assert error["Error"]["BucketName"] == name


def test_error_document_names_code_message_resource_and_request_id(http_server) -> None:
    name = _name("missing")
    response = send(http_server, "GET", f"/{name}")
    assert response.status == 404
    assert response.headers["content-type"].startswith("application/xml")
    fields = response.error()
    assert fields["Code"] == "NoSuchBucket"
    assert fields["Message"]
    assert fields["Resource"] == f"/{name}"
    assert fields["BucketName"] == name
    assert fields["RequestId"] == response.headers["x-amz-request-id"]
    assert response.headers["x-amz-id-2"]


def test_every_response_carries_a_request_id(s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    answers = [
        s3.list_buckets(),
        s3.head_bucket(Bucket=bucket),
        s3.list_objects_v2(Bucket=bucket),
        s3.head_object(Bucket=bucket, Key="k"),
        s3.get_object(Bucket=bucket, Key="k"),
        s3.delete_object(Bucket=bucket, Key="k"),
    ]
    ids = [answer["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"] for answer in answers]
    assert all(ids) and len(set(ids)) == len(ids)


_TAGGING = {"TagSet": [{"Key": "k", "Value": "v"}]}


@pytest.mark.parametrize(
    ("operation", "kwargs"),
    [
        ("put_bucket_tagging", {"Tagging": _TAGGING}),
        ("put_bucket_policy", {"Policy": '{"Version": "2012-10-17", "Statement": []}'}),
        ("put_bucket_cors", {"CORSConfiguration": {"CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]}}),
        ("put_bucket_website", {"WebsiteConfiguration": {"IndexDocument": {"Suffix": "index.html"}}}),
        ("put_bucket_versioning", {"VersioningConfiguration": {"Status": "Enabled"}}),
        ("get_bucket_replication", {}),
        ("get_bucket_logging", {}),
    ],
)
def test_operations_not_built_answer_not_implemented(http_s3, http_bucket: str, operation: str, kwargs: dict) -> None:
    error = expect_error("NotImplemented", 501, getattr(http_s3, operation), Bucket=http_bucket, **kwargs)
    assert error["Error"]["Message"]


@pytest.mark.parametrize(
    ("operation", "kwargs"),
    [
        ("put_object_tagging", {"Tagging": _TAGGING}),
        ("get_object_attributes", {"ObjectAttributes": ["ETag"]}),
        ("restore_object", {"RestoreRequest": {"Days": 1}}),
        ("put_object_legal_hold", {"LegalHold": {"Status": "ON"}}),
        ("get_object_retention", {}),
    ],
)
def test_object_operations_not_built_answer_not_implemented(http_s3, http_bucket: str, operation: str,
                                                            kwargs: dict) -> None:
    http_s3.put_object(Bucket=http_bucket, Key="k", Body=b"x")
    expect_error("NotImplemented", 501, getattr(http_s3, operation), Bucket=http_bucket, Key="k", **kwargs)
    assert http_s3.get_object(Bucket=http_bucket, Key="k")["Body"].read() == b"x"


def test_request_id_on_every_kind_of_answer(http_server, http_s3, http_bucket: str) -> None:
    http_s3.put_object(Bucket=http_bucket, Key="k", Body=b"0123456789")
    etag = http_s3.head_object(Bucket=http_bucket, Key="k")["ETag"]
    answers = [
        send(http_server, "GET", f"/{http_bucket}/k", headers={"Range": "bytes=0-1"}),  # 206
        send(http_server, "GET", f"/{http_bucket}/k", headers={"If-None-Match": etag}),  # 304
        send(http_server, "HEAD", f"/{http_bucket}/absent"),  # 404 without a body
        send(http_server, "GET", f"/{http_bucket}/k", headers={"If-Match": '"nope"'}),  # 412
        send(http_server, "GET", f"/{http_bucket}/k", headers={"Range": "bytes=50-"}),  # 416
        send(http_server, "GET", "/", sign=False),  # 403
        send(http_server, "GET", f"/{http_bucket}", query=[("logging", "")]),  # 501
        send(http_server, "DELETE", f"/{http_bucket}/k"),  # 204
    ]
    assert [a.status for a in answers] == [206, 304, 404, 412, 416, 403, 501, 204]
    ids = [a.headers.get("x-amz-request-id") for a in answers]
    assert all(ids) and len(set(ids)) == len(ids)


def test_not_implemented_is_an_error_document(http_server, http_s3, http_bucket: str) -> None:
    response = send(http_server, "GET", f"/{http_bucket}", query=[("replication", "")])
    assert response.status == 501
    root = ET.fromstring(response.body)
    assert root.find("Code").text == "NotImplemented"  # type: ignore[union-attr]
    assert root.find("RequestId").text == response.headers["x-amz-request-id"]  # type: ignore[union-attr]


def test_get_bucket_encryption_is_sse_s3(http_s3, http_bucket):
    # AWS: every bucket has SSE-S3 (AES256) as its default encryption.
    rules = http_s3.get_bucket_encryption(Bucket=http_bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
