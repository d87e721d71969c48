"""S3ApiConfig's request ids: AWS's forms, unique, cheap."""

from __future__ import annotations

import base64
import os
import re

from s3api.web_config import new_host_id, new_request_id


def test_request_ids_have_aws_form_and_never_repeat() -> None:
    ids = [new_request_id() for _ in range(20_000)]
    assert all(re.fullmatch(r"[0-9A-F]{16}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_host_ids_are_opaque_base64_and_never_repeat() -> None:
    ids = [new_host_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert {len(base64.b64decode(i, validate=True)) for i in ids} == {24}


def test_a_forked_child_has_its_own_ids() -> None:
    parent = new_request_id()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write_end, new_request_id().encode())
        finally:
            os._exit(0)
    os.close(write_end)
    child = os.read(read_end, 64).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    # Another process prefix, not the parent's next count.
    assert re.fullmatch(r"[0-9A-F]{16}", child)
    assert child[:8] != parent[:8]


def test_request_ids_do_not_show_the_request_count() -> None:
    suffixes = [int(new_request_id()[8:], 16) for _ in range(100)]
    assert suffixes != sorted(suffixes)
    gaps = {b - a for a, b in zip(suffixes, suffixes[1:])}
    assert len(gaps) > 50  # not a counter with a fixed step
