"""Expectations that fail a check with a reason a reader of the table can act on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError


class CheckFailed(AssertionError):
    """A behaviour differs from AWS's documented one; the message says how."""


def expect(condition: object, reason: str) -> None:
    """Fail with ``reason`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(reason)


def expect_equal(actual: object, expected: object, what: str) -> None:
    """Fail unless ``actual == expected``, naming ``what`` was compared."""
    if actual != expected:
        raise CheckFailed(f"{what}: expected {_short(expected)}, got {_short(actual)}")


def expect_error(code: str, status: int, call: Callable[..., Any], /, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Call a boto3 operation that must fail with S3 error ``code`` and HTTP ``status``.

    For HEAD requests S3 sends no body, so boto3 reports the status as the code;
    pass ``code=str(status)`` for those. Returns the parsed error response.
    """
    try:
        result = call(*args, **kwargs)
    except ClientError as caught:
        response = caught.response
        got = (response.get("Error", {}).get("Code"), response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
        if got != (code, status):
            raise CheckFailed(f"expected {code} ({status}), got {got[0]} ({got[1]}): "
                              f"{response.get('Error', {}).get('Message', '')}") from None
        return dict(response)
    raise CheckFailed(f"expected {code} ({status}), but the request succeeded: {_short(result)}")


def _short(value: object, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"
