"""Runs checks against an endpoint, each bounded in time, and collects outcomes."""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from botocore.exceptions import ClientError

from conformance.context import CheckContext
from conformance.endpoint import Endpoint
from conformance.expect import CheckFailed
from conformance.registry import Check, Unavailable

PASS, FAIL, SKIP = "pass", "fail", "skip"


@dataclass(frozen=True)
class Outcome:
    """The verdict on one check: ``status`` is pass, fail or skip; ``detail`` says why."""

    check: Check
    status: str
    detail: str
    seconds: float


def _reason(error: BaseException) -> str:
    if isinstance(error, CheckFailed):
        return str(error)
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"{error.operation_name}: {info.get('Code')} ({status}) {info.get('Message', '')}".strip()
    frame = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    where = f" at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" if frame else ""
    return f"{type(error).__name__}: {error}{where}"


def run_check(check: Check, endpoint: Endpoint, require_clients: bool = False) -> Outcome:
    """Run one check in its own context, failing it when it outlives its time limit.

    An :class:`Unavailable` check is a skip, or a failure when ``require_clients``.
    """
    result: list[tuple[str, str]] = []
    context = CheckContext(endpoint)

    def body() -> None:
        try:
            check.function(context)
            result.append((PASS, ""))
        except Unavailable as missing:
            result.append((FAIL if require_clients else SKIP, str(missing)))
        except BaseException as error:  # noqa: BLE001  (every failure becomes a reason in the table)
            result.append((FAIL, _reason(error)))
        finally:
            context.close()

    started = time.monotonic()
    worker = threading.Thread(target=body, name=f"check {check.id}", daemon=True)
    worker.start()
    worker.join(check.time_limit)
    seconds = time.monotonic() - started
    if worker.is_alive():
        return Outcome(check, FAIL, f"no result within {check.time_limit:.0f} s (endpoint hanging?)", seconds)
    status, detail = result[0]
    return Outcome(check, status, detail, seconds)


def run_checks(
    checks: Iterable[Check],
    endpoint: Endpoint,
    require_clients: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run ``checks`` one after another; ``on_outcome`` sees each verdict as it comes."""
    outcomes = []
    for check in checks:
        outcome = run_check(check, endpoint, require_clients)
        if on_outcome is not None:
            on_outcome(outcome)
        outcomes.append(outcome)
    return outcomes
