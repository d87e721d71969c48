"""Tests for s3api.conditions: conditional reads, copies and writes."""

from __future__ import annotations

import calendar

import pytest
from multidict import CIMultiDict

from s3api.conditions import (
    ReadConditions,
    etag_matches,
    evaluate_copy_source,
    evaluate_read,
    quote_etag,
    write_condition,
)
from s3api.errors import NotImplemented, NotModified, PreconditionFailed
from s3api.service import WriteCondition
from s3api.timestamps import http_date

ETAG = '"9b2cf535f27731c974343645a3985328"'
MODIFIED = calendar.timegm((2020, 1, 2, 3, 4, 5)) + 0.7  # sub-second part is not sent
BEFORE = http_date(MODIFIED - 60)
SAME = http_date(MODIFIED)
AFTER = http_date(MODIFIED + 60)


def read(**headers: str) -> ReadConditions:
    return ReadConditions.from_headers(CIMultiDict({k.replace("_", "-"): v for k, v in headers.items()}))


@pytest.mark.parametrize(
    "header",
    [ETAG, ETAG.strip('"'), f"W/{ETAG}", "*", f'"other", {ETAG}', f" {ETAG} "],
)
def test_etag_matches(header: str) -> None:
    assert etag_matches(header, ETAG)


@pytest.mark.parametrize("header", ['"other"', "", "other", '"9b2cf535"'])
def test_etag_does_not_match(header: str) -> None:
    assert not etag_matches(header, ETAG)


def test_quote_etag() -> None:
    assert quote_etag("abc") == '"abc"'
    assert quote_etag('"abc"') == '"abc"'
    assert quote_etag('W/"abc"') == '"abc"'


def test_no_conditions_pass() -> None:
    conditions = read()
    assert not conditions.present
    evaluate_read(conditions, ETAG, MODIFIED)


def test_if_match() -> None:
    evaluate_read(read(If_Match=ETAG), ETAG, MODIFIED)
    with pytest.raises(PreconditionFailed) as caught:
        evaluate_read(read(If_Match='"other"'), ETAG, MODIFIED)
    assert caught.value.status == 412
    assert caught.value.fields == {"Condition": "If-Match"}


def test_if_unmodified_since() -> None:
    evaluate_read(read(If_Unmodified_Since=AFTER), ETAG, MODIFIED)
    evaluate_read(read(If_Unmodified_Since=SAME), ETAG, MODIFIED)
    with pytest.raises(PreconditionFailed) as caught:
        evaluate_read(read(If_Unmodified_Since=BEFORE), ETAG, MODIFIED)
    assert caught.value.fields == {"Condition": "If-Unmodified-Since"}


def test_if_match_true_overrides_failed_if_unmodified_since() -> None:
    evaluate_read(read(If_Match=ETAG, If_Unmodified_Since=BEFORE), ETAG, MODIFIED)


def test_if_none_match() -> None:
    evaluate_read(read(If_None_Match='"other"'), ETAG, MODIFIED)
    with pytest.raises(NotModified) as caught:
        evaluate_read(read(If_None_Match=ETAG), ETAG, MODIFIED)
    assert caught.value.status == 304
    assert caught.value.headers == {"ETag": ETAG, "Last-Modified": SAME}


def test_if_modified_since() -> None:
    evaluate_read(read(If_Modified_Since=BEFORE), ETAG, MODIFIED)
    with pytest.raises(NotModified):
        evaluate_read(read(If_Modified_Since=SAME), ETAG, MODIFIED)
    with pytest.raises(NotModified):
        evaluate_read(read(If_Modified_Since=AFTER), ETAG, MODIFIED)


def test_matching_if_none_match_wins_over_true_if_modified_since() -> None:
    with pytest.raises(NotModified):
        evaluate_read(read(If_None_Match=ETAG, If_Modified_Since=BEFORE), ETAG, MODIFIED)


def test_non_matching_if_none_match_ignores_if_modified_since() -> None:
    evaluate_read(read(If_None_Match='"other"', If_Modified_Since=AFTER), ETAG, MODIFIED)


def test_precondition_failure_comes_before_not_modified() -> None:
    with pytest.raises(PreconditionFailed):
        evaluate_read(read(If_Match='"other"', If_None_Match=ETAG), ETAG, MODIFIED)


def test_unparsable_dates_are_ignored() -> None:
    conditions = read(If_Modified_Since="garbage", If_Unmodified_Since="garbage")
    assert not conditions.present
    evaluate_read(conditions, ETAG, MODIFIED)


def copy(**headers: str) -> ReadConditions:
    prefixed = {"x-amz-copy-source-" + k.replace("_", "-"): v for k, v in headers.items()}
    return ReadConditions.copy_source_from_headers(CIMultiDict(prefixed))


def test_copy_source_conditions_ignore_plain_headers() -> None:
    conditions = ReadConditions.copy_source_from_headers(CIMultiDict({"If-Match": '"other"'}))
    assert not conditions.present


def test_copy_source_if_match_true_and_unmodified_since_false_copies() -> None:
    evaluate_copy_source(copy(If_Match=ETAG, If_Unmodified_Since=BEFORE), ETAG, MODIFIED)


def test_copy_source_if_none_match_false_and_modified_since_true_fails() -> None:
    with pytest.raises(PreconditionFailed) as caught:
        evaluate_copy_source(copy(If_None_Match=ETAG, If_Modified_Since=BEFORE), ETAG, MODIFIED)
    assert caught.value.fields == {"Condition": "x-amz-copy-source-If-None-Match"}


@pytest.mark.parametrize(
    "conditions",
    [
        {"If_Match": '"other"'},
        {"If_Unmodified_Since": BEFORE},
        {"If_None_Match": "*"},
        {"If_Modified_Since": AFTER},
    ],
)
def test_every_copy_source_failure_is_412(conditions: dict[str, str]) -> None:
    with pytest.raises(PreconditionFailed):
        evaluate_copy_source(copy(**conditions), ETAG, MODIFIED)


@pytest.mark.parametrize(
    "conditions",
    [{"If_Match": ETAG}, {"If_Unmodified_Since": AFTER}, {"If_None_Match": '"x"'}, {"If_Modified_Since": BEFORE}],
)
def test_copy_source_conditions_that_hold(conditions: dict[str, str]) -> None:
    evaluate_copy_source(copy(**conditions), ETAG, MODIFIED)


def test_write_conditions() -> None:
    assert write_condition(CIMultiDict()) is None
    assert write_condition(CIMultiDict({"If-None-Match": "*"})) == WriteCondition(if_none_match_star=True)
    assert write_condition(CIMultiDict({"If-Match": "abc"})) == WriteCondition(if_match='"abc"')
    with pytest.raises(NotImplemented) as caught:
        write_condition(CIMultiDict({"If-None-Match": ETAG}))
    assert caught.value.status == 501
    assert caught.value.fields == {"Header": "If-None-Match"}
