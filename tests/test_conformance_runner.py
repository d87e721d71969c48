"""conformance/runner.py: verdicts, reasons, skips and time limits, with checks
that never touch the network."""

from __future__ import annotations

import threading

from botocore.exceptions import ClientError

from conformance.endpoint import Credentials, Endpoint
from conformance.expect import expect_equal
from conformance.registry import Check, Unavailable
from conformance.runner import FAIL, PASS, SKIP, Outcome, run_check, run_checks

ENDPOINT = Endpoint("http://127.0.0.1:1", Credentials("AK", "SK"))


def _check(function, time_limit: float = 30.0) -> Check:  # type: ignore[no-untyped-def]
    return Check("Group", function.__name__, function, time_limit)


def test_a_check_that_returns_passes() -> None:
    outcome = run_check(_check(lambda ctx: None), ENDPOINT)
    assert (outcome.status, outcome.detail) == (PASS, "")


def test_a_failed_expectation_is_the_reason() -> None:
    def mismatch(ctx) -> None:  # type: ignore[no-untyped-def]
        expect_equal(1, 2, "answer")

    outcome = run_check(_check(mismatch), ENDPOINT)
    assert (outcome.status, outcome.detail) == (FAIL, "answer: expected 2, got 1")


def test_an_s3_error_names_operation_code_and_status() -> None:
    def denied(ctx) -> None:  # type: ignore[no-untyped-def]
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"},
                           "ResponseMetadata": {"HTTPStatusCode": 403}}, "GetObject")

    outcome = run_check(_check(denied), ENDPOINT)
    assert (outcome.status, outcome.detail) == (FAIL, "GetObject: AccessDenied (403) no")


def test_an_unexpected_exception_names_its_type_and_place() -> None:
    def broken(ctx) -> None:  # type: ignore[no-untyped-def]
        raise KeyError("Contents")

    outcome = run_check(_check(broken), ENDPOINT)
    assert outcome.status == FAIL
    assert outcome.detail.startswith("KeyError: 'Contents' at test_conformance_runner.py:")


def test_unavailable_is_a_skip_unless_clients_are_required() -> None:
    def missing(ctx) -> None:  # type: ignore[no-untyped-def]
        raise Unavailable("rclone is not installed")

    assert run_check(_check(missing), ENDPOINT).status == SKIP
    required = run_check(_check(missing), ENDPOINT, require_clients=True)
    assert (required.status, required.detail) == (FAIL, "rclone is not installed")


def test_a_check_without_alt_credentials_is_unavailable() -> None:
    outcome = run_check(_check(lambda ctx: ctx.alt_credentials), ENDPOINT)
    assert outcome.status == SKIP
    assert "second user" in outcome.detail


def test_a_hanging_check_fails_at_its_time_limit() -> None:
    release = threading.Event()
    outcome = run_check(_check(lambda ctx: release.wait(), time_limit=0.2), ENDPOINT)
    release.set()
    assert outcome.status == FAIL
    assert "no result within" in outcome.detail


def test_cleanups_run_and_the_workdir_goes_even_when_a_check_fails() -> None:
    seen = {}

    def uses_resources(ctx) -> None:  # type: ignore[no-untyped-def]
        seen["workdir"] = ctx.workdir
        (ctx.workdir / "file").write_text("x")
        ctx.on_close(lambda: seen.setdefault("first", len(seen)))
        ctx.on_close(lambda: 1 / 0)  # a failing cleanup does not stop the others
        raise RuntimeError("boom")

    outcome = run_check(_check(uses_resources), ENDPOINT)
    assert outcome.status == FAIL
    assert "first" in seen
    assert not seen["workdir"].exists()


def test_run_checks_reports_each_outcome_in_order() -> None:
    checks = [Check("G", name, lambda ctx: None, 30.0) for name in ("a", "b", "c")]
    seen: list[Outcome] = []
    outcomes = run_checks(checks, ENDPOINT, on_outcome=seen.append)
    assert [o.check.name for o in outcomes] == ["a", "b", "c"]
    assert seen == outcomes
