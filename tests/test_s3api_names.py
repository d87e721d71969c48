"""Tests for s3api.names: bucket naming rules and key validation."""

from __future__ import annotations

import pytest

from s3api.errors import InvalidBucketName, KeyTooLongError
from s3api.names import check_bucket_name, validate_key, validate_new_bucket_name


@pytest.mark.parametrize(
    "name",
    ["abc", "my-bucket", "my.bucket.name", "a" * 63, "1bucket", "bucket9", "a-b.c-d"],
)
def test_valid_new_bucket_names(name: str) -> None:
    validate_new_bucket_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "a" * 64,
        "MyBucket",
        "my_bucket",
        "-bucket",
        "bucket-",
        ".bucket",
        "bucket.",
        "my..bucket",
        "my.-bucket",
        "my-.bucket",
        "192.168.5.4",
        "xn--bucket",
        "sthree-bucket",
        "amzn-s3-demo-bucket",
        "bucket-s3alias",
        "bucket--ol-s3",
        "bucket.mrap",
        "bucket--x-s3",
        "bucket--table-s3",
        "bück",
        "a b",
    ],
)
def test_invalid_new_bucket_names(name: str) -> None:
    with pytest.raises(InvalidBucketName) as caught:
        validate_new_bucket_name(name)
    assert caught.value.fields["BucketName"] == name
    assert caught.value.status == 400


def test_existing_bucket_check_is_lenient_but_bounded() -> None:
    check_bucket_name("Legacy_Bucket")
    check_bucket_name("ab")
    for name in ("", "a" * 256, "a/b", "a b", "bück"):
        with pytest.raises(InvalidBucketName):
            check_bucket_name(name)


@pytest.mark.parametrize("key", ["../x", "a//b", "%2F", "./", "a/../b", " ", "é" * 512, "k" * 1024])
def test_unusual_keys_are_valid(key: str) -> None:
    validate_key(key)


def test_key_limit_counts_utf8_bytes() -> None:
    with pytest.raises(KeyTooLongError) as caught:
        validate_key("é" * 513)
    assert caught.value.fields["Size"] == "1026"
    assert caught.value.fields["MaxSizeAllowed"] == "1024"
    with pytest.raises(KeyTooLongError):
        validate_key("k" * 1025)


@pytest.mark.parametrize("key", ["a\x00b", "\x00", "bad\udc80escape"])
def test_key_with_nul_or_invalid_utf8_is_invalid_argument(key: str) -> None:
    from s3api.errors import InvalidArgument

    with pytest.raises(InvalidArgument):
        validate_key(key)
