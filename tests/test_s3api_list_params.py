"""Tests for s3api.list_params: listing query parameters."""

from __future__ import annotations

import pytest

from s3api.errors import InvalidArgument
from s3api.list_params import (
    decode_continuation_token,
    encode_continuation_token,
    page_size,
    part_number_marker,
    url_encoded,
)


def test_page_size_defaults_and_caps() -> None:
    assert page_size({}, "max-keys") == 1000
    assert page_size({"max-keys": "7"}, "max-keys") == 7
    assert page_size({"max-keys": "0"}, "max-keys") == 0
    assert page_size({"max-keys": "5000"}, "max-keys") == 1000
    assert page_size({"max-uploads": "2147483647"}, "max-uploads") == 1000


@pytest.mark.parametrize("value", ["abc", "", "1.5", "2147483648", "٣", " -x"])
def test_page_size_not_an_integer(value: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        page_size({"max-parts": value}, "max-parts")
    assert caught.value.message == "Provided max-parts not an integer or within integer range"
    assert caught.value.fields == {"ArgumentName": "max-parts", "ArgumentValue": value}


def test_negative_page_size() -> None:
    with pytest.raises(InvalidArgument) as caught:
        page_size({"max-keys": "-1"}, "max-keys")
    assert "between 0 and 2147483647" in caught.value.message


def test_part_number_marker() -> None:
    assert part_number_marker({}) == 0
    assert part_number_marker({"part-number-marker": "12"}) == 12
    for value in ("x", "-1", "2147483648"):
        with pytest.raises(InvalidArgument):
            part_number_marker({"part-number-marker": value})


def test_encoding_type() -> None:
    assert not url_encoded({})
    assert url_encoded({"encoding-type": "url"})
    with pytest.raises(InvalidArgument) as caught:
        url_encoded({"encoding-type": "base64"})
    assert caught.value.fields["ArgumentName"] == "encoding-type"


@pytest.mark.parametrize("marker", ["a", "photos/2006/", "é € 😀", "x" * 1024, "a+b/c=d"])
def test_continuation_token_round_trip(marker: str) -> None:
    token = encode_continuation_token(marker)
    assert "/" not in token and "+" not in token
    assert decode_continuation_token(token) == marker


@pytest.mark.parametrize("token", ["", "!!!", "not base64", "_w==", "YQ"])
def test_foreign_continuation_tokens(token: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        decode_continuation_token(token)
    assert caught.value.message == "The continuation token provided is incorrect"
