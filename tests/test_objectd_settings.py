"""Settings: defaults, YAML file, environment and flags, in that order."""

from __future__ import annotations

from pathlib import Path

import pytest

from objectd.settings import Settings, SettingsError, load_settings


def test_defaults_work_without_a_file():
    s = load_settings(None, env={})
    assert (s.k, s.m, s.drives, s.address) == (4, 2, 6, "127.0.0.1:9000")
    assert s.effective_write_quorum() == 5
    assert len(s.drive_folders()) == 6


def test_file_then_env_then_flags(tmp_path: Path):
    cfg = tmp_path / "objectd.yaml"
    cfg.write_text("k: 2\nm: 1\nsegment_size: 65536\nbase_domains: [s3.example.com]\nencrypt: false\n")
    s = load_settings(str(cfg), env={"OBJECTD_K": "3", "OBJECTD_ADDRESS": "0.0.0.0:9100"},
                      flags={"address": "127.0.0.1:9200", "m": None})
    assert (s.k, s.m, s.segment_size) == (3, 1, 65536)
    assert s.base_domains == ["s3.example.com"]
    assert s.encrypt is False
    assert s.address == "127.0.0.1:9200"
    assert s.host_port() == ("127.0.0.1", 9200)


def test_env_lists_and_bools():
    s = load_settings(None, env={"OBJECTD_BASE_DOMAINS": "a.example, b.example", "OBJECTD_ENCRYPT": "off"})
    assert s.base_domains == ["a.example", "b.example"]
    assert s.encrypt is False


@pytest.mark.parametrize(
    "doc, message",
    [("nonsense: 1\n", "unknown setting"), ("k: many\n", "bad value"), ("drives: 3\n", "needs at least 6 drives"),
     ("- a\n- b\n", "expected a mapping"), ("address: nowhere\n", "HOST:PORT"),
     ("cpu_workers: -1\n", "cpu_workers")],
)
def test_bad_files_are_explained(tmp_path: Path, doc: str, message: str):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(doc)
    with pytest.raises(SettingsError, match=message):
        load_settings(str(cfg), env={})


def test_write_quorum_is_bounded():
    s = Settings(k=4, m=2, write_quorum=9)
    assert s.effective_write_quorum() == 6
    s = Settings(k=4, m=2, write_quorum=2)
    assert s.effective_write_quorum() == 4


def test_cpu_workers_from_file_and_env(tmp_path: Path):
    cfg = tmp_path / "objectd.yaml"
    cfg.write_text("cpu_workers: 3\n")
    assert load_settings(str(cfg), env={}).cpu_workers == 3
    assert load_settings(None, env={"OBJECTD_CPU_WORKERS": "1"}).cpu_workers == 1
    assert load_settings(None, env={}).cpu_workers == 0  # one per CPU


def test_md5_lanes_on_by_default_and_switchable(tmp_path: Path):
    assert load_settings(None, env={}).md5_lanes is True
    cfg = tmp_path / "c.yaml"
    cfg.write_text("md5_lanes: false\n")
    assert load_settings(str(cfg), env={}).md5_lanes is False
    assert load_settings(None, env={"OBJECTD_MD5_LANES": "false"}).md5_lanes is False
