"""Listings against a live server: ListObjects (v1), ListObjectsV2 and
ListObjectVersions with prefix, delimiter, markers, continuation tokens,
max-keys, encoding-type=url and fetch-owner; keys in UTF-8 byte order; boto3
paginators over more than one page.

Expected behaviour is AWS's, from the S3 API reference ("ListObjects",
"ListObjectsV2", "ListObjectVersions"): keys are listed in UTF-8 binary
order, CommonPrefixes count toward max-keys, and objects in a bucket that
never had versioning are listed as version "null".
"""

from __future__ import annotations

import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.conftest import expect_error, make_client, remove_bucket, send

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def _put_all(client, bucket: str, keys: list[str]) -> None:
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=bucket, Key=key, Body=key.encode()), keys))


def _byte_order(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda key: key.encode("utf-8"))


_TREE = ["a.txt", "dir/1", "dir/2", "dir/sub/3", "dir2/x", "dirt", "e/f/g", "z"]


@pytest.fixture
def tree(s3, bucket: str) -> str:
    _put_all(s3, bucket, _TREE)
    return bucket


def test_list_v2_everything_in_order(s3, tree: str) -> None:
    answer = s3.list_objects_v2(Bucket=tree)
    assert [o["Key"] for o in answer["Contents"]] == _TREE
    assert answer["KeyCount"] == len(_TREE)
    assert answer["IsTruncated"] is False
    assert answer["MaxKeys"] == 1000
    first = answer["Contents"][0]
    assert first["Size"] == len("a.txt")
    assert first["StorageClass"] == "STANDARD"
    assert first["ETag"].startswith('"')
    assert "Owner" not in first


def test_list_v2_prefix_and_delimiter(s3, tree: str) -> None:
    answer = s3.list_objects_v2(Bucket=tree, Delimiter="/")
    assert [o["Key"] for o in answer["Contents"]] == ["a.txt", "dirt", "z"]
    assert [p["Prefix"] for p in answer["CommonPrefixes"]] == ["dir/", "dir2/", "e/"]
    assert answer["KeyCount"] == 6
    assert answer["Delimiter"] == "/"
    nested = s3.list_objects_v2(Bucket=tree, Prefix="dir/", Delimiter="/")
    assert [o["Key"] for o in nested["Contents"]] == ["dir/1", "dir/2"]
    assert [p["Prefix"] for p in nested["CommonPrefixes"]] == ["dir/sub/"]
    assert nested["Prefix"] == "dir/"
    only_prefix = s3.list_objects_v2(Bucket=tree, Prefix="dir")
    assert [o["Key"] for o in only_prefix["Contents"]] == ["dir/1", "dir/2", "dir/sub/3", "dir2/x", "dirt"]
    none = s3.list_objects_v2(Bucket=tree, Prefix="nothing")
    assert "Contents" not in none and none["KeyCount"] == 0


def test_list_v1_prefix_delimiter_and_owner(s3, tree: str) -> None:
    answer = s3.list_objects(Bucket=tree, Delimiter="/", Prefix="dir/")
    assert [o["Key"] for o in answer["Contents"]] == ["dir/1", "dir/2"]
    assert [p["Prefix"] for p in answer["CommonPrefixes"]] == ["dir/sub/"]
    # ListObjects (v1) always names each object's owner.
    assert all(o["Owner"]["ID"] for o in answer["Contents"])


def test_multi_character_delimiter(http_s3, http_bucket: str) -> None:
    _put_all(http_s3, http_bucket, ["a--b--c", "a--d", "a-e", "f"])
    answer = http_s3.list_objects_v2(Bucket=http_bucket, Delimiter="--")
    assert [o["Key"] for o in answer["Contents"]] == ["a-e", "f"]
    assert [p["Prefix"] for p in answer["CommonPrefixes"]] == ["a--"]


def test_list_v2_max_keys_and_continuation(http_s3, http_bucket: str) -> None:
    _put_all(http_s3, http_bucket, _TREE)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        kwargs: dict[str, str] = {"ContinuationToken": token} if token else {}
        page = http_s3.list_objects_v2(Bucket=http_bucket, MaxKeys=3, **kwargs)
        pages += 1
        assert page["MaxKeys"] == 3
        assert page["KeyCount"] == len(page.get("Contents", []))
        seen += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            assert "NextContinuationToken" not in page
            break
        assert page["KeyCount"] == 3
        token = page["NextContinuationToken"]
        assert page.get("ContinuationToken") == (kwargs.get("ContinuationToken"))
    assert seen == _TREE
    assert pages == 3


def test_common_prefixes_count_toward_max_keys(http_s3, http_bucket: str) -> None:
    _put_all(http_s3, http_bucket, _TREE)
    first = http_s3.list_objects_v2(Bucket=http_bucket, Delimiter="/", MaxKeys=2)
    assert [o["Key"] for o in first["Contents"]] == ["a.txt"]
    assert [p["Prefix"] for p in first["CommonPrefixes"]] == ["dir/"]
    assert first["IsTruncated"] is True
    second = http_s3.list_objects_v2(
        Bucket=http_bucket, Delimiter="/", MaxKeys=2, ContinuationToken=first["NextContinuationToken"]
    )
    assert [p["Prefix"] for p in second["CommonPrefixes"]] == ["dir2/"]
    assert [o["Key"] for o in second["Contents"]] == ["dirt"]


def test_list_v1_marker_and_next_marker(http_s3, http_bucket: str) -> None:
    _put_all(http_s3, http_bucket, _TREE)
    page = http_s3.list_objects(Bucket=http_bucket, Marker="dir/2", MaxKeys=2)
    assert [o["Key"] for o in page["Contents"]] == ["dir/sub/3", "dir2/x"]
    assert page["Marker"] == "dir/2"
    assert page["IsTruncated"] is True
    # Without a delimiter AWS sends no NextMarker: clients go on from the last key.
    assert "NextMarker" not in page
    grouped = http_s3.list_objects(Bucket=http_bucket, Delimiter="/", MaxKeys=2)
    assert grouped["IsTruncated"] is True
    assert grouped["NextMarker"] == "dir/"
    rest = http_s3.list_objects(Bucket=http_bucket, Delimiter="/", Marker=grouped["NextMarker"])
    assert [p["Prefix"] for p in rest["CommonPrefixes"]] == ["dir2/", "e/"]
    assert [o["Key"] for o in rest["Contents"]] == ["dirt", "z"]


def test_list_v2_start_after(http_s3, http_bucket: str) -> None:
    _put_all(http_s3, http_bucket, _TREE)
    page = http_s3.list_objects_v2(Bucket=http_bucket, StartAfter="dir/sub/3")
    assert [o["Key"] for o in page["Contents"]] == ["dir2/x", "dirt", "e/f/g", "z"]
    assert page["StartAfter"] == "dir/sub/3"
    # start-after need not be a key; past the last key the listing is empty.
    assert [o["Key"] for o in http_s3.list_objects_v2(Bucket=http_bucket, StartAfter="e")["Contents"]] == [
        "e/f/g", "z"]
    assert "Contents" not in http_s3.list_objects_v2(Bucket=http_bucket, StartAfter="zz")


def test_continuation_token_decides_over_start_after(http_s3, http_bucket: str) -> None:
    _put_all(http_s3, http_bucket, _TREE)
    first = http_s3.list_objects_v2(Bucket=http_bucket, StartAfter="dir/2", MaxKeys=2)
    assert [o["Key"] for o in first["Contents"]] == ["dir/sub/3", "dir2/x"]
    rest = http_s3.list_objects_v2(Bucket=http_bucket, StartAfter="dir/2",
                                   ContinuationToken=first["NextContinuationToken"])
    assert [o["Key"] for o in rest["Contents"]] == ["dirt", "e/f/g", "z"]
    assert rest["StartAfter"] == "dir/2"


def test_list_v2_fetch_owner(http_s3, http_bucket: str) -> None:
    http_s3.put_object(Bucket=http_bucket, Key="k", Body=b"x")
    owned = http_s3.list_objects_v2(Bucket=http_bucket, FetchOwner=True)["Contents"][0]
    assert owned["Owner"]["ID"]
    assert "Owner" not in http_s3.list_objects_v2(Bucket=http_bucket)["Contents"][0]


def test_max_keys_is_capped_at_1000(http_s3, http_bucket: str) -> None:
    http_s3.put_object(Bucket=http_bucket, Key="k", Body=b"x")
    assert http_s3.list_objects_v2(Bucket=http_bucket, MaxKeys=5000)["MaxKeys"] == 1000


@pytest.mark.parametrize(
    ("query", "argument"),
    [
        ([("list-type", "2"), ("max-keys", "-1")], "max-keys"),
        ([("list-type", "2"), ("max-keys", "ten")], "max-keys"),
        ([("list-type", "2"), ("encoding-type", "base64")], "encoding-type"),
        ([("list-type", "2"), ("continuation-token", "not-a-token")], "continuation-token"),
        ([("list-type", "3")], "list-type"),
    ],
)
def test_bad_listing_parameters_are_invalid_argument(http_server, http_bucket: str, query, argument: str) -> None:
    response = send(http_server, "GET", f"/{http_bucket}", query=query)
    assert response.status == 400
    fields = response.error()
    assert fields["Code"] == "InvalidArgument"
    assert fields["ArgumentName"] == argument


# --- byte order and encoding --------------------------------------------------------

# UTF-8 byte order differs from UTF-16 order for characters above the
# surrogate range: U+FFFF and U+FB01 sort before U+1F600 in UTF-8 (EF.. < F0..)
# but after it in UTF-16 (FFFF > D83D).
_ORDER_KEYS = [
    "\uffff", "\U0001F600", "\ufb01", "B", "a", "a/b", "a0", "é", "\u00ff", "~", " ",
    # 1024-byte keys that differ only in their last characters
    "k" * 1023 + "\x7f", "k" * 1022 + "é", "k" * 1021 + "\uffff", "k" * 1020 + "\U0001F600",
]


def test_keys_list_in_utf8_byte_order(s3, bucket: str) -> None:
    _put_all(s3, bucket, _ORDER_KEYS)
    expected = _byte_order(_ORDER_KEYS)
    assert expected.index("\uffff") < expected.index("\U0001F600")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == expected
    assert [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]] == expected
    # Page boundaries fall in the same order.
    paged = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 2}) for o in page["Contents"]]
    assert paged == expected
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="\uffff")["Contents"]
    assert [o["Key"] for o in after] == expected[expected.index("\uffff") + 1 :]


def test_encoding_type_url_encodes_keys_and_prefixes(http_server, http_s3, http_bucket: str) -> None:
    keys = ["dir one/file+plus", "dir one/ünï", "x~y*z", "ctl\x01char"]
    _put_all(http_s3, http_bucket, keys)
    response = send(http_server, "GET", f"/{http_bucket}",
                    query=[("list-type", "2"), ("encoding-type", "url"), ("delimiter", "/")])
    assert response.status == 200
    root = ET.fromstring(response.body)
    assert root.findtext(f"{NS}EncodingType") == "url"
    listed = [element.text or "" for element in root.iter(f"{NS}Key")]
    prefixes = [element.findtext(f"{NS}Prefix") or "" for element in root.iter(f"{NS}CommonPrefixes")]
    assert sorted(urllib.parse.unquote_plus(k) for k in listed) == sorted(["x~y*z", "ctl\x01char"])
    assert [urllib.parse.unquote_plus(p) for p in prefixes] == ["dir one/"]
    assert all(" " not in k and "\x01" not in k for k in listed + prefixes)
    # boto3 asks for url encoding by itself and decodes the answer.
    assert [o["Key"] for o in http_s3.list_objects_v2(Bucket=http_bucket)["Contents"]] == _byte_order(keys)


def test_encoded_parameters_come_back_as_sent(http_s3, http_bucket: str) -> None:
    # boto3 asks for encoding-type=url and decodes Prefix, Delimiter, StartAfter,
    # markers and keys: all must be encoded by the server for '+' and ' ' to survive.
    keys = ["a+b c/1", "a+b c/2+x", "a+b c/3 y", "a b"]
    _put_all(http_s3, http_bucket, keys)
    v2 = http_s3.list_objects_v2(Bucket=http_bucket, Prefix="a+b c/", StartAfter="a+b c/1", Delimiter="+")
    assert (v2["Prefix"], v2["StartAfter"], v2["Delimiter"]) == ("a+b c/", "a+b c/1", "+")
    assert [p["Prefix"] for p in v2["CommonPrefixes"]] == ["a+b c/2+"]
    assert [o["Key"] for o in v2["Contents"]] == ["a+b c/3 y"]
    v1 = http_s3.list_objects(Bucket=http_bucket, Prefix="a+b", Marker="a+b c/1", MaxKeys=1, Delimiter="/x")
    assert v1["Marker"] == "a+b c/1"
    # AWS encodes the v1 Prefix too, which botocore leaves encoded.
    assert urllib.parse.unquote_plus(v1["Prefix"]) == "a+b"
    assert [o["Key"] for o in v1["Contents"]] == ["a+b c/2+x"]
    versions = http_s3.list_object_versions(Bucket=http_bucket, KeyMarker="a+b c/1", MaxKeys=1)
    assert versions["KeyMarker"] == "a+b c/1"
    assert [v["Key"] for v in versions["Versions"]] == ["a+b c/2+x"]
    assert versions["NextKeyMarker"] == "a+b c/2+x"


def test_listing_without_encoding_keeps_carriage_returns(http_server, http_s3, http_bucket: str) -> None:
    http_s3.put_object(Bucket=http_bucket, Key="line\rbreak\nkey", Body=b"x")
    response = send(http_server, "GET", f"/{http_bucket}", query=[("list-type", "2")])
    root = ET.fromstring(response.body)  # AWS writes CR as a character reference, so it survives parsing
    assert root.findtext(f"{NS}Contents/{NS}Key") == "line\rbreak\nkey"


# --- paginators over many keys ---------------------------------------------------------


@pytest.fixture(scope="module")
def many_keys(http_server) -> Iterator[tuple[str, list[str]]]:
    """A bucket with 1,500 keys in 3 folders (created once for this module)."""
    client = make_client(http_server)
    name = "listing-many-keys"
    client.create_bucket(Bucket=name)
    keys = [f"folder{i % 3}/key-{i:05d}" for i in range(1500)]
    _put_all(client, name, keys)
    yield name, _byte_order(keys)
    remove_bucket(client, name)


def test_paginator_v2_returns_every_key_once(http_s3, many_keys: tuple[str, list[str]]) -> None:
    bucket, keys = many_keys
    pages = list(http_s3.get_paginator("list_objects_v2").paginate(Bucket=bucket))
    assert [len(p["Contents"]) for p in pages] == [1000, 500]
    assert [o["Key"] for p in pages for o in p["Contents"]] == keys
    small = list(http_s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 400}))
    assert [len(p["Contents"]) for p in small] == [400, 400, 400, 300]
    assert [o["Key"] for p in small for o in p["Contents"]] == keys


def test_paginator_v1_returns_every_key_once(http_s3, many_keys: tuple[str, list[str]]) -> None:
    bucket, keys = many_keys
    pages = list(http_s3.get_paginator("list_objects").paginate(Bucket=bucket))
    assert len(pages) == 2
    assert [o["Key"] for p in pages for o in p["Contents"]] == keys


def test_paginator_with_prefix_and_delimiter(http_s3, many_keys: tuple[str, list[str]]) -> None:
    bucket, keys = many_keys
    grouped = list(http_s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/"))
    assert [p["Prefix"] for page in grouped for p in page["CommonPrefixes"]] == ["folder0/", "folder1/", "folder2/"]
    in_folder = [o["Key"] for page in http_s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix="folder1/", PaginationConfig={"PageSize": 300}) for o in page["Contents"]]
    assert in_folder == [k for k in keys if k.startswith("folder1/")]


def test_paginator_of_versions(http_s3, many_keys: tuple[str, list[str]]) -> None:
    bucket, keys = many_keys
    pages = list(http_s3.get_paginator("list_object_versions").paginate(Bucket=bucket))
    versions = [v for p in pages for v in p.get("Versions", [])]
    assert [v["Key"] for v in versions] == keys
    assert {v["VersionId"] for v in versions} == {"null"}


# --- ListObjectVersions --------------------------------------------------------------


def test_versions_of_unversioned_bucket_are_null(s3, bucket: str) -> None:
    _put_all(s3, bucket, ["a", "b/c", "b/d"])
    s3.put_object(Bucket=bucket, Key="a", Body=b"overwritten")
    answer = s3.list_object_versions(Bucket=bucket)
    versions = answer["Versions"]
    assert [v["Key"] for v in versions] == ["a", "b/c", "b/d"]
    assert all(v["VersionId"] == "null" and v["IsLatest"] for v in versions)
    assert versions[0]["Size"] == len(b"overwritten")
    assert "DeleteMarkers" not in answer
    grouped = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [v["Key"] for v in grouped["Versions"]] == ["a"]
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["b/"]


def test_versions_paged_by_key_marker(http_s3, http_bucket: str) -> None:
    _put_all(http_s3, http_bucket, ["k1", "k2", "k3"])
    first = http_s3.list_object_versions(Bucket=http_bucket, MaxKeys=2)
    assert [v["Key"] for v in first["Versions"]] == ["k1", "k2"]
    assert first["IsTruncated"] is True
    assert first["NextKeyMarker"] == "k2"
    rest = http_s3.list_object_versions(
        Bucket=http_bucket, KeyMarker=first["NextKeyMarker"], VersionIdMarker=first["NextVersionIdMarker"]
    )
    assert [v["Key"] for v in rest["Versions"]] == ["k3"]
    assert rest["IsTruncated"] is False


def test_version_id_marker_without_key_marker_is_invalid(http_s3, http_bucket: str) -> None:
    expect_error("InvalidArgument", 400, http_s3.list_object_versions, Bucket=http_bucket, VersionIdMarker="null")
