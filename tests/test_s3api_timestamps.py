"""Tests for s3api.timestamps: XML and HTTP time formats."""

from __future__ import annotations

import calendar

import pytest

from s3api.timestamps import http_date, iso8601, parse_http_date

EPOCH = calendar.timegm((2009, 10, 12, 17, 50, 30))


def test_iso8601_has_milliseconds_and_z() -> None:
    assert iso8601(EPOCH + 0.25) == "2009-10-12T17:50:30.250Z"
    assert iso8601(EPOCH) == "2009-10-12T17:50:30.000Z"


def test_http_date_is_rfc1123_whole_seconds() -> None:
    assert http_date(EPOCH + 0.9) == "Mon, 12 Oct 2009 17:50:30 GMT"


@pytest.mark.parametrize(
    "text",
    [
        "Mon, 12 Oct 2009 17:50:30 GMT",
        "Monday, 12-Oct-09 17:50:30 GMT",
        "Mon Oct 12 17:50:30 2009",
    ],
)
def test_parse_http_date_accepts_the_three_http_forms(text: str) -> None:
    assert parse_http_date(text) == EPOCH


@pytest.mark.parametrize("text", ["", "yesterday", "2009-10-12", "Mon, 99 Foo 2009"])
def test_parse_http_date_rejects_non_dates(text: str) -> None:
    assert parse_http_date(text) is None


def test_round_trip() -> None:
    assert parse_http_date(http_date(EPOCH)) == EPOCH


def test_iso8601_agrees_with_datetime_rounding():
    import random
    from datetime import UTC, datetime

    from s3api.timestamps import iso8601

    rng = random.Random(7)
    samples = [0.0, 1.5, 1700000000.123, 1700000000.9999, 1700000000.9999996, 253402300799.999]
    samples += [rng.uniform(0, 4e9) for _ in range(2000)]
    for epoch in samples:
        moment = datetime.fromtimestamp(epoch, UTC)
        expected = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        assert iso8601(epoch) == expected, epoch
