"""The benchmark's reader of server CPU time from /proc."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from objectd.bench_cpu import ServerProcesses, parse_proc_stat, read_process_cpu_seconds

TICKS = os.sysconf("SC_CLK_TCK")


def _stat_line(name: str, utime: int, stime: int) -> str:
    # pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt
    # majflt cmajflt utime stime cutime cstime ...
    after = ["S", "1", "42", "42", "0", "-1", "4194560", "120", "0", "0", "0",
             str(utime), str(stime), "777", "888", "20", "0", "3", "0", "1000"]
    return f"42 ({name}) " + " ".join(after) + "\n"


@pytest.mark.parametrize("name", ["objectd", "odd (name) ) x", "a b"])
def test_parses_utime_and_stime_whatever_the_name(name: str) -> None:
    assert parse_proc_stat(_stat_line(name, 250, 130), 100) == (250 + 130) / 100
    assert parse_proc_stat(_stat_line(name, 7, 0), 1000) == 7 / 1000


def test_rejects_malformed_lines() -> None:
    with pytest.raises(ValueError):
        parse_proc_stat("42 objectd S 1", 100)
    with pytest.raises(ValueError):
        parse_proc_stat("42 (objectd) S 1 2 3", 100)


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def test_reads_this_process_consistently_with_os_times() -> None:
    before = _own_cpu()
    first = read_process_cpu_seconds(os.getpid())
    after_first = _own_cpu()
    assert before - 2 / TICKS <= first <= after_first + 2 / TICKS
    # A fixed amount of work (not a duration) the clock must see.
    hashlib.sha256(bytes(128 << 20)).digest()
    second = read_process_cpu_seconds(os.getpid())
    after_second = _own_cpu()
    assert second > first
    assert second - first == pytest.approx(after_second - before, abs=3 / TICKS)


def test_server_processes_sum_and_absence() -> None:
    assert ServerProcesses.of(None).cpu_seconds() is None
    assert ServerProcesses.of([]).cpu_seconds() is None
    pid = os.getpid()
    one = ServerProcesses.of([pid]).cpu_seconds()
    two = ServerProcesses.of([pid, pid]).cpu_seconds()
    assert one is not None and two is not None
    assert two == pytest.approx(2 * one, abs=4 / TICKS)


def test_missing_process() -> None:
    beyond = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
    with pytest.raises(ProcessLookupError):
        read_process_cpu_seconds(beyond)
