"""Checks: named, grouped behaviours of an S3 endpoint, and their registry.

A check is a function of a :class:`~conformance.context.CheckContext` that
returns on success and raises on failure (the exception's message is the
reason shown in the table). Check modules register their checks with the
:func:`check` decorator when imported; :mod:`conformance.catalog` imports them
all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conformance.context import CheckContext

CheckFunction = Callable[["CheckContext"], None]


class Unavailable(Exception):
    """The check cannot run here (a client is not installed, no second user).

    The runner reports it as a skip, or as a failure when clients are required.
    """


@dataclass(frozen=True)
class Check:
    """One behaviour: ``group`` is the S3 operation or client, ``name`` says what holds.

    ``time_limit`` bounds the check's run in seconds: a server that hangs fails
    the check instead of stalling the suite.
    """

    group: str
    name: str
    function: CheckFunction
    time_limit: float

    @property
    def id(self) -> str:
        """A stable identifier: ``group: name``."""
        return f"{self.group}: {self.name}"


_REGISTERED: list[Check] = []


def check(group: str, name: str, time_limit: float = 120.0) -> Callable[[CheckFunction], CheckFunction]:
    """Register the decorated function as the check ``name`` of ``group``."""

    def register(function: CheckFunction) -> CheckFunction:
        found = Check(group, name, function, time_limit)
        if any(existing.id == found.id for existing in _REGISTERED):
            raise ValueError(f"duplicate check {found.id!r}")
        _REGISTERED.append(found)
        return function

    return register


def registered() -> list[Check]:
    """Every check registered so far, in registration order."""
    return list(_REGISTERED)
