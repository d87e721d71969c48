"""Time formats S3 uses on the wire.

XML documents carry ISO 8601 with milliseconds and a ``Z`` suffix
(``2009-10-12T17:50:30.000Z``); HTTP headers (``Last-Modified``, ``Date``)
carry the RFC 1123 form (``Mon, 12 Oct 2009 17:50:30 GMT``).
"""

from __future__ import annotations

import email.utils
import time
from datetime import UTC

__all__ = ["http_date", "iso8601", "parse_http_date"]


def iso8601(epoch: float) -> str:
    """``epoch`` as S3's XML timestamp: UTC, millisecond precision, ``Z``."""
    seconds = int(epoch // 1)
    # Rounded to the microsecond first, as datetime.fromtimestamp does.
    micros = round((epoch - seconds) * 1_000_000)
    if micros == 1_000_000:
        seconds, micros = seconds + 1, 0
    millis = micros // 1000
    t = time.gmtime(seconds)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (
        t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, millis
    )


def http_date(epoch: float) -> str:
    """``epoch`` as an RFC 1123 HTTP date, whole seconds (``Last-Modified``)."""
    return email.utils.formatdate(int(epoch), usegmt=True)


def parse_http_date(value: str) -> float | None:
    """Epoch seconds of an HTTP date (RFC 1123, RFC 850 or asctime), or None.

    None means the value is not a date; callers ignore such headers, as HTTP
    requires for conditional request headers.
    """
    try:
        moment = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:  # asctime and "-0000" carry no zone: they mean UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
