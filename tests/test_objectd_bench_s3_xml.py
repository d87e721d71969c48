"""The S3 XML documents the benchmark reads and writes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from objectd.bench_s3_xml import (
    S3_NAMESPACE,
    parse_delete_errors,
    parse_error_code,
    parse_list_page,
    render_delete_request,
    render_list_page,
)

NS = {"s3": S3_NAMESPACE}
ODD_KEYS = ["run/list/00000001", "a&b<c>d", "quote\"and'apos", "é/ü/ß", "  spaced  "]

# Shaped like the examples of AWS's ListObjectsV2 reference.
AWS_TRUNCATED_PAGE = b"""<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name>
  <Prefix/>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <KeyCount>2</KeyCount>
  <MaxKeys>2</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <Contents>
    <Key>happyface.jpg</Key>
    <LastModified>2014-11-21T19:40:05.000Z</LastModified>
    <ETag>"70ee1738b6b21e2c8a43f3a5ab0eee71"</ETag>
    <Size>11</Size>
    <StorageClass>STANDARD</StorageClass>
  </Contents>
  <Contents>
    <Key>my-image.jpg</Key>
    <LastModified>2009-10-12T17:50:30.000Z</LastModified>
    <ETag>"fba9dede5f27731c9771645a39863328"</ETag>
    <Size>434234</Size>
    <StorageClass>STANDARD</StorageClass>
  </Contents>
</ListBucketResult>"""


def test_parses_an_aws_page() -> None:
    page = parse_list_page(AWS_TRUNCATED_PAGE)
    assert page.keys == ("happyface.jpg", "my-image.jpg")
    assert page.is_truncated
    assert page.next_token == "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="
    last = parse_list_page(AWS_TRUNCATED_PAGE.replace(b"<IsTruncated>true", b"<IsTruncated>false").replace(
        b"<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>", b""))
    assert not last.is_truncated and last.next_token is None


def test_rendered_page_reads_back_and_is_valid_xml() -> None:
    body = render_list_page("bench-x", "run/", ODD_KEYS, 1000, "tok&1", "next<2>", size=4096)
    page = parse_list_page(body)
    assert page.keys == tuple(ODD_KEYS)
    assert page.is_truncated and page.next_token == "next<2>"
    root = ET.fromstring(body)
    assert [e.text for e in root.findall("s3:Contents/s3:Key", NS)] == ODD_KEYS
    assert root.findtext("s3:KeyCount", namespaces=NS) == str(len(ODD_KEYS))
    assert root.findtext("s3:ContinuationToken", namespaces=NS) == "tok&1"
    assert {e.text for e in root.findall("s3:Contents/s3:Size", NS)} == {"4096"}


def test_last_page_has_no_token() -> None:
    body = render_list_page("b", "", ["k"], 1000, None, None)
    page = parse_list_page(body)
    assert page == parse_list_page(body) and not page.is_truncated and page.next_token is None
    assert ET.fromstring(body).find("s3:NextContinuationToken", NS) is None


def test_rejects_other_documents() -> None:
    with pytest.raises(ValueError):
        parse_list_page(b"<Error><Code>NoSuchBucket</Code></Error>")


def test_delete_request_and_errors() -> None:
    root = ET.fromstring(render_delete_request(ODD_KEYS))
    assert root.findtext("Quiet") == "true"
    assert [e.text for e in root.findall("Object/Key")] == ODD_KEYS
    with pytest.raises(ValueError):
        render_delete_request(["k"] * 1001)
    response = b"""<?xml version="1.0" encoding="UTF-8"?>
<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Deleted><Key>sample1.txt</Key></Deleted>
  <Error><Key>sample2&amp;.txt</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>
</DeleteResult>"""
    assert parse_delete_errors(response) == [("sample2&.txt", "AccessDenied")]
    assert parse_delete_errors(b"<DeleteResult></DeleteResult>") == []


def test_error_code() -> None:
    body = b"<?xml version='1.0'?><Error><Code>NoSuchBucket</Code><Message>m</Message></Error>"
    assert parse_error_code(body) == "NoSuchBucket"
    assert parse_error_code(b"") is None
