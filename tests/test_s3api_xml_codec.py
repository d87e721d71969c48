"""Tests for s3api.xml_codec: hardened parsing and S3 response documents."""

from __future__ import annotations

import calendar
import urllib.parse
import xml.etree.ElementTree as ET

import pytest

from s3api.errors import MalformedXML, MaxMessageLengthExceeded
from s3api.service import (
    BucketInfo,
    Checksum,
    CompletedPart,
    ListPage,
    ObjectInfo,
    PartInfo,
    PartListPage,
    UploadInfo,
    UploadListPage,
    VersionListPage,
)
from s3api.xml_codec import (
    S3_NAMESPACE,
    DeletedEntry,
    DeleteFailure,
    Grant,
    ObjectIdentifier,
    parse_access_control_policy,
    parse_complete_multipart_upload,
    parse_create_bucket_configuration,
    parse_delete,
    parse_versioning_configuration,
    render_access_control_policy,
    render_complete_multipart_upload,
    render_copy_object_result,
    render_copy_part_result,
    render_delete_result,
    render_error,
    render_initiate_multipart_upload,
    render_list_buckets,
    render_list_multipart_uploads,
    render_list_objects_v1,
    render_list_objects_v2,
    render_list_parts,
    render_list_versions,
    render_location_constraint,
    render_tagging,
    render_versioning_configuration,
    url_encode,
)

NS = "{" + S3_NAMESPACE + "}"
T = calendar.timegm((2021, 5, 6, 7, 8, 9)) + 0.123
T_ISO = "2021-05-06T07:08:09.123Z"
ETAG = '"d41d8cd98f00b204e9800998ecf8427e"'


def parse(document: bytes) -> ET.Element:
    assert document.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(document)


def names(element: ET.Element) -> list[str]:
    return [child.tag.removeprefix(NS) for child in element]


def text(element: ET.Element, path: str) -> str | None:
    found = element.find(_qualify(path))
    return None if found is None else (found.text or "")


def _qualify(path: str) -> str:
    return "/".join(NS + part for part in path.split("/"))


def obj(key: str, **kw: object) -> ObjectInfo:
    fields: dict[str, object] = dict(bucket="b", key=key, version_id="null", size=3, etag=ETAG, last_modified=T)
    fields.update(kw)
    return ObjectInfo(**fields)  # type: ignore[arg-type]


# --- parsing ---------------------------------------------------------------


def test_create_bucket_configuration() -> None:
    body = (
        f'<CreateBucketConfiguration xmlns="{S3_NAMESPACE}">'
        "<LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"
    ).encode()
    assert parse_create_bucket_configuration(body) == "eu-west-1"
    assert parse_create_bucket_configuration(b"") is None
    assert parse_create_bucket_configuration(b"  \n") is None
    assert parse_create_bucket_configuration(b"<CreateBucketConfiguration/>") is None
    with pytest.raises(MalformedXML):
        parse_create_bucket_configuration(b"<Other><LocationConstraint>x</LocationConstraint></Other>")


@pytest.mark.parametrize(
    "body",
    [
        b"<Delete><Object><Key>a</Key></Object>",
        b"not xml",
        b"<Delete><Object><Key>a</Key></Object></Delete><extra/>",
        b"\xff\xfe<\x00D\x00",
    ],
)
def test_malformed_bodies(body: bytes) -> None:
    with pytest.raises(MalformedXML):
        parse_delete(body)


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE Delete [<!ENTITY a "aaaa">]><Delete><Object><Key>&a;</Key></Object></Delete>',
        b'<!DOCTYPE d SYSTEM "file:///etc/passwd"><Delete><Object><Key>a</Key></Object></Delete>',
        b"<!doctype x><Delete/>",
        b"<! ENTITY x 'y'><Delete/>",
        # a declared UTF-16 encoding must not hide a DOCTYPE from the byte check
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x><Delete/>'.encode("utf-16"),
    ],
)
def test_doctype_and_entities_are_rejected(body: bytes) -> None:
    with pytest.raises(MalformedXML):
        parse_delete(body)


def test_billion_laughs_is_rejected_quickly() -> None:
    lol = b'<!DOCTYPE lolz [<!ENTITY lol "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10)
    ) + b"]><Delete><Object><Key>&lol9;</Key></Object></Delete>"
    with pytest.raises(MalformedXML):
        parse_delete(lol)


def test_oversized_bodies() -> None:
    big = b"<Delete>" + b" " * (8 * 1024 * 1024) + b"</Delete>"
    with pytest.raises(MaxMessageLengthExceeded):
        parse_delete(big)
    with pytest.raises(MaxMessageLengthExceeded):
        parse_create_bucket_configuration(b"<CreateBucketConfiguration>" + b" " * 70000 + b"</CreateBucketConfiguration>")


def test_delete_keeps_keys_exactly() -> None:
    body = (
        f'<Delete xmlns="{S3_NAMESPACE}"><Quiet>true</Quiet>'
        "<Object><Key> spaced &amp; &lt;odd&gt; </Key></Object>"
        "<Object><Key>../x</Key><VersionId>v1</VersionId></Object>"
        "<Object><Key>a//b</Key><VersionId></VersionId></Object>"
        "</Delete>"
    ).encode()
    request = parse_delete(body)
    assert request.quiet
    assert request.objects == [
        ObjectIdentifier(" spaced & <odd> "),
        ObjectIdentifier("../x", "v1"),
        ObjectIdentifier("a//b"),
    ]
    assert not parse_delete(b"<Delete><Object><Key>k</Key></Object></Delete>").quiet


def test_delete_object_count_limits() -> None:
    def body(count: int) -> bytes:
        return b"<Delete>" + b"<Object><Key>k</Key></Object>" * count + b"</Delete>"

    assert len(parse_delete(body(1000)).objects) == 1000
    with pytest.raises(MalformedXML):
        parse_delete(body(1001))
    with pytest.raises(MalformedXML):
        parse_delete(body(0))
    with pytest.raises(MalformedXML):
        parse_delete(b"<Delete><Object><VersionId>v</VersionId></Object></Delete>")


def test_complete_multipart_upload() -> None:
    body = (
        f'<CompleteMultipartUpload xmlns="{S3_NAMESPACE}">'
        '<Part><PartNumber>1</PartNumber><ETag>"aaa"</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>'
        "<Part><ETag>bbb</ETag><PartNumber> 2 </PartNumber></Part>"
        "</CompleteMultipartUpload>"
    ).encode()
    assert parse_complete_multipart_upload(body) == [
        CompletedPart(1, '"aaa"', {"CRC32": "AAAAAA=="}),
        CompletedPart(2, '"bbb"', {}),
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<CompleteMultipartUpload/>",
        b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>",
        b"<CompleteMultipartUpload><Part><ETag>a</ETag></Part></CompleteMultipartUpload>",
        b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
        b"<Complete><Part><PartNumber>1</PartNumber><ETag>a</ETag></Part></Complete>",
    ],
)
def test_bad_complete_multipart_upload(body: bytes) -> None:
    with pytest.raises(MalformedXML):
        parse_complete_multipart_upload(body)


def test_versioning_configuration() -> None:
    body = b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"
    assert parse_versioning_configuration(body) == ("Enabled", None)
    with pytest.raises(MalformedXML):
        parse_versioning_configuration(b"<VersioningConfiguration><Status>On</Status></VersioningConfiguration>")


# --- rendering -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("photos/2006/", "photos/2006/"),
        ("a b", "a+b"),
        ("a+b", "a%2Bb"),
        ("~x*", "%7Ex*"),
        ("é&<", "%C3%A9%26%3C"),
        ("\x01", "%01"),
    ],
)
def test_url_encode(value: str, encoded: str) -> None:
    assert url_encode(value) == encoded
    assert urllib.parse.unquote_plus(encoded) == value


def test_error_document() -> None:
    root = parse(render_error("NoSuchKey", "The specified key does not exist.", "/b/k", "RID", "HID", {"Key": "k"}))
    assert root.tag == "Error"  # no namespace
    assert [(c.tag, c.text) for c in root] == [
        ("Code", "NoSuchKey"),
        ("Message", "The specified key does not exist."),
        ("Key", "k"),
        ("Resource", "/b/k"),
        ("RequestId", "RID"),
        ("HostId", "HID"),
    ]


def test_control_characters_become_references() -> None:
    document = render_error("C", "M", "/b/a\rb\x01", "R")
    assert b"/b/a&#13;b&#1;" in document
    assert b"\r" not in document


def test_list_buckets() -> None:
    root = parse(render_list_buckets("alice", [BucketInfo("one", "alice", T, "us-east-1")]))
    assert root.tag == NS + "ListAllMyBucketsResult"
    assert names(root) == ["Owner", "Buckets"]
    assert text(root, "Owner/ID") == "alice"
    assert names(root.find(_qualify("Buckets/Bucket"))) == ["Name", "CreationDate", "BucketRegion"]
    assert text(root, "Buckets/Bucket/CreationDate") == T_ISO
    root = parse(render_list_buckets("alice", [], continuation_token="tok", prefix="p"))
    assert names(root) == ["Owner", "Buckets", "ContinuationToken", "Prefix"]


def test_list_objects_v1() -> None:
    page = ListPage([obj("a b"), obj("c", checksum=Checksum("CRC32", "x"))], ["d/"], True, "d/")
    root = parse(
        render_list_objects_v1(
            "b", page, prefix="", delimiter="/", marker="", max_keys=2, owner="alice", url_encoded=True
        )
    )
    assert names(root) == [
        "Name",
        "Prefix",
        "Marker",
        "NextMarker",
        "MaxKeys",
        "Delimiter",
        "EncodingType",
        "IsTruncated",
        "Contents",
        "Contents",
        "CommonPrefixes",
    ]
    contents = root.findall(NS + "Contents")
    assert names(contents[0]) == ["Key", "LastModified", "ETag", "Size", "Owner", "StorageClass"]
    assert names(contents[1]) == [
        "Key",
        "LastModified",
        "ETag",
        "ChecksumAlgorithm",
        "ChecksumType",
        "Size",
        "Owner",
        "StorageClass",
    ]
    assert contents[0].find(NS + "Key").text == "a+b"
    assert contents[0].find(NS + "ETag").text == ETAG
    assert contents[0].find(NS + "LastModified").text == T_ISO
    assert text(root, "IsTruncated") == "true"
    assert text(root, "NextMarker") == "d/"
    assert text(root, "CommonPrefixes/Prefix") == "d/"


def test_list_objects_v1_next_marker_only_with_delimiter() -> None:
    page = ListPage([obj("a")], [], True, "a")
    root = parse(render_list_objects_v1("b", page, prefix="", delimiter="", marker="", max_keys=1, owner="o"))
    assert "NextMarker" not in names(root)
    assert "Delimiter" not in names(root)
    assert "EncodingType" not in names(root)


def test_list_objects_v2() -> None:
    page = ListPage([obj("k~")], ["p/"], True, "p/")
    root = parse(
        render_list_objects_v2(
            "b",
            page,
            prefix="",
            delimiter="/",
            max_keys=2,
            start_after="s",
            continuation_token="abc=",
            next_continuation_token="def=",
            owner=None,
            url_encoded=True,
        )
    )
    assert names(root) == [
        "Name",
        "Prefix",
        "ContinuationToken",
        "NextContinuationToken",
        "StartAfter",
        "KeyCount",
        "MaxKeys",
        "Delimiter",
        "EncodingType",
        "IsTruncated",
        "Contents",
        "CommonPrefixes",
    ]
    assert text(root, "KeyCount") == "2"
    assert text(root, "ContinuationToken") == "abc="
    assert text(root, "Contents/Key") == "k%7E"
    assert "Owner" not in names(root.find(NS + "Contents"))
    root = parse(
        render_list_objects_v2(
            "b",
            ListPage([obj("k")], [], False, None),
            prefix="",
            delimiter="",
            max_keys=1000,
            start_after=None,
            continuation_token=None,
            next_continuation_token=None,
            owner="alice",
        )
    )
    assert names(root) == ["Name", "Prefix", "KeyCount", "MaxKeys", "IsTruncated", "Contents"]
    assert text(root, "Contents/Owner/ID") == "alice"


def test_list_versions() -> None:
    page = VersionListPage(
        [obj("k", version_id="v2", is_delete_marker=True), obj("k", version_id="v1", is_latest=False)],
        [],
        True,
        "k",
        "v1",
    )
    root = parse(
        render_list_versions(
            "b", page, prefix="", delimiter="", key_marker="", version_id_marker="", max_keys=2, owner="o"
        )
    )
    assert names(root) == [
        "Name",
        "Prefix",
        "KeyMarker",
        "VersionIdMarker",
        "NextKeyMarker",
        "NextVersionIdMarker",
        "MaxKeys",
        "IsTruncated",
        "DeleteMarker",
        "Version",
    ]
    marker, version = root.find(NS + "DeleteMarker"), root.find(NS + "Version")
    assert names(marker) == ["Key", "VersionId", "IsLatest", "LastModified", "Owner"]
    assert marker.find(NS + "IsLatest").text == "true"
    assert names(version) == ["Key", "VersionId", "IsLatest", "LastModified", "ETag", "Size", "StorageClass", "Owner"]
    assert version.find(NS + "IsLatest").text == "false"


def test_location_and_versioning() -> None:
    assert parse(render_location_constraint("us-east-1")).text is None
    root = parse(render_location_constraint("eu-west-1"))
    assert (root.tag, root.text) == (NS + "LocationConstraint", "eu-west-1")
    assert names(parse(render_versioning_configuration(""))) == []
    assert text(parse(render_versioning_configuration("Suspended")), "Status") == "Suspended"


def test_copy_results() -> None:
    root = parse(render_copy_object_result(ETAG, T, Checksum("SHA256", "abc")))
    assert root.tag == NS + "CopyObjectResult"
    assert names(root) == ["LastModified", "ETag", "ChecksumSHA256"]
    root = parse(render_copy_part_result(ETAG, T))
    assert root.tag == NS + "CopyPartResult"
    assert names(root) == ["LastModified", "ETag"]


def test_multipart_documents() -> None:
    root = parse(render_initiate_multipart_upload("b", "k", "u"))
    assert [(c.tag.removeprefix(NS), c.text) for c in root] == [("Bucket", "b"), ("Key", "k"), ("UploadId", "u")]
    root = parse(render_complete_multipart_upload("http://h/b/k", "b", "k", '"x-2"', Checksum("CRC32", "A-2", "COMPOSITE")))
    assert names(root) == ["Location", "Bucket", "Key", "ETag", "ChecksumCRC32", "ChecksumType"]
    assert text(root, "ChecksumType") == "COMPOSITE"


def test_list_parts() -> None:
    upload = UploadInfo("b", "k", "u", T, "alice", checksum_algorithm="CRC32", checksum_type="COMPOSITE")
    parts = [PartInfo(2, 5, ETAG, T, Checksum("CRC32", "AAA=")), PartInfo(3, 5, ETAG, T)]
    root = parse(render_list_parts(PartListPage(upload, parts, True, 3), part_number_marker=1, max_parts=2))
    assert names(root) == [
        "Bucket",
        "Key",
        "UploadId",
        "Initiator",
        "Owner",
        "StorageClass",
        "PartNumberMarker",
        "NextPartNumberMarker",
        "MaxParts",
        "IsTruncated",
        "ChecksumAlgorithm",
        "ChecksumType",
        "Part",
        "Part",
    ]
    assert text(root, "NextPartNumberMarker") == "3"
    assert names(root.find(NS + "Part")) == ["PartNumber", "LastModified", "ETag", "Size", "ChecksumCRC32"]


def test_list_multipart_uploads() -> None:
    upload = UploadInfo("b", "a b", "u1", T, "alice")
    page = UploadListPage([upload], ["p/"], True, "a b", "u1")
    root = parse(
        render_list_multipart_uploads(
            "b",
            page,
            prefix="",
            delimiter="/",
            key_marker="",
            upload_id_marker="",
            max_uploads=2,
            url_encoded=True,
        )
    )
    assert names(root) == [
        "Bucket",
        "KeyMarker",
        "UploadIdMarker",
        "NextKeyMarker",
        "NextUploadIdMarker",
        "Delimiter",
        "Prefix",
        "MaxUploads",
        "EncodingType",
        "IsTruncated",
        "Upload",
        "CommonPrefixes",
    ]
    assert text(root, "NextKeyMarker") == "a+b"
    assert names(root.find(NS + "Upload")) == ["Key", "UploadId", "Initiator", "Owner", "StorageClass", "Initiated"]


def test_delete_result() -> None:
    deleted = [DeletedEntry("a"), DeletedEntry("b", "v", True, "v")]
    failures = [DeleteFailure("c", "AccessDenied", "Access Denied")]
    root = parse(render_delete_result(deleted, failures))
    assert names(root) == ["Deleted", "Deleted", "Error"]
    second = root.findall(NS + "Deleted")[1]
    assert [(c.tag.removeprefix(NS), c.text) for c in second] == [
        ("Key", "b"),
        ("VersionId", "v"),
        ("DeleteMarker", "true"),
        ("DeleteMarkerVersionId", "v"),
    ]
    assert names(root.find(NS + "Error")) == ["Key", "Code", "Message"]
    assert names(parse(render_delete_result(deleted, failures, quiet=True))) == ["Error"]


def test_access_control_policy() -> None:
    root = parse(render_access_control_policy("alice"))
    grantee = root.find(_qualify("AccessControlList/Grant/Grantee"))
    assert grantee.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "CanonicalUser"
    assert text(root, "AccessControlList/Grant/Permission") == "FULL_CONTROL"
    assert text(root, "Owner/ID") == "alice"


def test_tagging() -> None:
    root = parse(render_tagging())
    assert names(root) == ["TagSet"]
    assert names(root.find(NS + "TagSet")) == []


def test_access_control_policy_round_trip() -> None:
    grants = parse_access_control_policy(render_access_control_policy("alice"))
    assert grants == [Grant("CanonicalUser", "alice", "FULL_CONTROL")]


def test_access_control_policy_with_group_grant() -> None:
    body = (
        b'<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Owner><ID>o</ID></Owner><AccessControlList>"
        b'<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group">'
        b"<URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant>"
        b"</AccessControlList></AccessControlPolicy>"
    )
    assert parse_access_control_policy(body) == [
        Grant("Group", "http://acs.amazonaws.com/groups/global/AllUsers", "READ")
    ]
    with pytest.raises(MalformedXML):
        parse_access_control_policy(b"<AccessControlPolicy><AccessControlList><Grant/></AccessControlList></AccessControlPolicy>")


def test_bucket_encryption_reports_sse_s3_by_default():
    import xml.etree.ElementTree as ET

    from s3api.xml_codec import render_bucket_encryption

    root = ET.fromstring(render_bucket_encryption())
    ns = {"s": "http://s3.amazonaws.com/doc/2006-03-01/"}
    assert root.tag.endswith("ServerSideEncryptionConfiguration")
    assert root.find("s:Rule/s:ApplyServerSideEncryptionByDefault/s:SSEAlgorithm", ns).text == "AES256"
