"""CPU time of the server's processes, read from ``/proc/PID/stat``.

The benchmark samples it before and after each step and divides by the work
done (CPU ms per operation, CPU seconds per GiB): of all its figures this is
the least moved by a noisy machine, since it counts work, not waiting.

Only the process itself is counted (``utime + stime``, all its threads),
not its children: ``cutime``/``cstime`` only cover children that have
exited and been waited for, which says nothing about live worker processes.
A server made of several processes is measured by naming each one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

# Fields after the ")" that closes the command name: state is the first
# (field 3 of proc(5)); utime and stime are fields 14 and 15.
_UTIME_AFTER_NAME = 11
_STIME_AFTER_NAME = 12


def parse_proc_stat(text: str, ticks_per_second: int) -> float:
    """The user + system CPU seconds in the text of a ``/proc/PID/stat`` file.

    The command name may hold spaces and parentheses, so fields are counted
    from the last ``)``."""
    closing = text.rfind(")")
    if closing < 0:
        raise ValueError("not a /proc/PID/stat line")
    fields = text[closing + 1 :].split()
    if len(fields) <= _STIME_AFTER_NAME:
        raise ValueError("truncated /proc/PID/stat line")
    return (int(fields[_UTIME_AFTER_NAME]) + int(fields[_STIME_AFTER_NAME])) / ticks_per_second


def read_process_cpu_seconds(pid: int) -> float:
    """The CPU seconds process ``pid`` has used so far (ProcessLookupError when gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            text = stat.read()
    except FileNotFoundError as exc:
        raise ProcessLookupError(f"no process {pid} (or no /proc on this system)") from exc
    return parse_proc_stat(text, os.sysconf("SC_CLK_TCK"))


@dataclass(frozen=True)
class ServerProcesses:
    """The processes whose CPU time counts as the server's."""

    pids: tuple[int, ...]

    @classmethod
    def of(cls, pids: Sequence[int] | None) -> ServerProcesses:
        """The processes ``pids`` (none: the server's CPU is not measured)."""
        return cls(tuple(pids or ()))

    def cpu_seconds(self) -> float | None:
        """Their summed CPU seconds so far, or None when no process is named."""
        if not self.pids:
            return None
        return sum(read_process_cpu_seconds(pid) for pid in self.pids)
