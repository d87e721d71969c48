"""Server settings: defaults that work with no config file, overridden by a
YAML file, then by environment variables, then by command-line flags.

Every field of :class:`Settings` may appear in the YAML file under its own
name (``segment_size: 4194304``, ``drives: 8`` …).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class SettingsError(Exception):
    """A setting has a value that cannot work."""


@dataclass
class Settings:
    """Everything ``objectd serve`` can be told."""

    data_dir: Path = Path("data")
    address: str = "127.0.0.1:9000"
    drives: int = 6
    drive_paths: list[str] = field(default_factory=list)
    k: int = 4
    m: int = 2
    segment_size: int = 1 << 20
    backend: str = "isa_l_rs_vand"
    write_quorum: int = 0  # 0: k + 1, capped at k + m
    encrypt: bool = True
    master_key_file: str = ""  # default: DATA_DIR/master.key
    inline_threshold: int = 32 * 1024
    cpu_workers: int = 0  # threads for the data path's CPU work (hash, encode, decode); 0: one per CPU
    md5_lanes: bool = True  # hash concurrent uploads' MD5s together in vector lanes (when built)
    region: str = "us-east-1"
    any_region: bool = True
    base_domains: list[str] = field(default_factory=list)
    tls_cert: str = ""
    tls_key: str = ""
    garbage_grace: float = 60.0
    intent_lifetime: float = 24 * 3600.0
    collector_interval: float = 5.0
    min_part_size: int = 5 * 1024 * 1024
    log_level: str = "INFO"
    log_json: bool = False
    # A cluster gateway (``objectd gateway``): remote nodes instead of drive folders.
    metadata_url: str = ""  # postgresql://… or a SQLite file; default DATA_DIR/metadata.db
    cluster_map: str = ""  # YAML file of sites, zones and nodes
    cluster_ca: str = ""  # the cluster CA certificate nodes must be signed by
    gateway_cert: str = ""  # this gateway's client certificate for the nodes
    gateway_key: str = ""
    site: str = ""  # the gateway's own site: reads prefer nodes there
    node_connect_timeout: float = 2.0
    node_read_timeout: float = 5.0  # a node slower than this is read around (parity)
    node_write_timeout: float = 30.0
    probe_interval: float = 2.0

    def drive_folders(self) -> list[Path]:
        """The drive folders: explicit paths, else DATA_DIR/drives/drive-N."""
        if self.drive_paths:
            return [Path(p) for p in self.drive_paths]
        return [self.data_dir / "drives" / f"drive-{i}" for i in range(1, self.drives + 1)]

    def effective_write_quorum(self) -> int:
        """Fragments that must be durable for a write to succeed."""
        q = self.write_quorum or self.k + 1
        return max(self.k, min(q, self.k + self.m))

    def host_port(self) -> tuple[str, int]:
        """``address`` split into host and port."""
        host, sep, port = self.address.rpartition(":")
        if not sep or not port.isdigit():
            raise SettingsError(f"address must be HOST:PORT, got {self.address!r}")
        return host.strip("[]") or "127.0.0.1", int(port)

    @property
    def is_cluster(self) -> bool:
        """Whether fragments go to remote nodes (a cluster map is set)."""
        return bool(self.cluster_map)

    def validate(self) -> None:
        """Raise SettingsError for settings that cannot work."""
        folders = self.drive_folders()
        if self.k < 1 or self.m < 1:
            raise SettingsError("k and m must be at least 1")
        if self.is_cluster:
            if not (self.cluster_ca and self.gateway_cert and self.gateway_key):
                raise SettingsError("a cluster gateway needs cluster_ca, gateway_cert and gateway_key")
            if min(self.node_connect_timeout, self.node_read_timeout, self.node_write_timeout,
                   self.probe_interval) <= 0:
                raise SettingsError("node timeouts and probe_interval must be positive")
        elif len(folders) < self.k + self.m:
            raise SettingsError(f"{self.k}+{self.m} needs at least {self.k + self.m} drives, have {len(folders)}")
        if self.cpu_workers < 0:
            raise SettingsError("cpu_workers must be 0 (one per CPU) or more")
        if self.segment_size < 4096:
            raise SettingsError("segment_size must be at least 4096")
        if self.intent_lifetime <= 0 or self.garbage_grace < 0:
            raise SettingsError("intent_lifetime must be positive and garbage_grace not negative")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise SettingsError("tls_cert and tls_key go together")
        self.host_port()

    def apply(self, values: dict[str, Any], source: str) -> None:
        """Override fields from a mapping (YAML or flags), converting types."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        for name, value in values.items():
            key = name.replace("-", "_")
            if key not in fields:
                raise SettingsError(f"{source}: unknown setting {name!r}")
            setattr(self, key, _convert(getattr(self, key), value, f"{source}: {name}"))


ENV_PREFIX = "OBJECTD_"
_ENV_SKIP = {"ROOT_ACCESS_KEY", "ROOT_SECRET_KEY", "MASTER_KEY"}


def _convert(current: Any, value: Any, where: str) -> Any:
    try:
        if isinstance(current, bool):
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if isinstance(current, Path):
            return Path(value)
        if isinstance(current, list):
            if isinstance(value, str):
                return [v.strip() for v in value.split(",") if v.strip()]
            return [str(v) for v in value]
        if isinstance(current, (int, float)) and not isinstance(value, (int, float)):
            return type(current)(value)
        return value
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{where}: bad value {value!r}") from exc


def load_settings(config_file: str | None, env: dict[str, str] | None = None,
                  flags: dict[str, Any] | None = None) -> Settings:
    """Defaults, then the YAML file, then OBJECTD_* variables, then flags."""
    settings = Settings()
    if config_file:
        with open(config_file) as fh:
            doc = yaml.safe_load(fh) or {}
        if not isinstance(doc, dict):
            raise SettingsError(f"{config_file}: expected a mapping of settings")
        settings.apply(doc, config_file)
    env = dict(os.environ) if env is None else env
    names = {f.name.upper() for f in dataclasses.fields(settings)}
    from_env = {
        k[len(ENV_PREFIX):].lower(): v
        for k, v in env.items()
        if k.startswith(ENV_PREFIX) and k[len(ENV_PREFIX):] in names and k[len(ENV_PREFIX):] not in _ENV_SKIP
    }
    settings.apply(from_env, "environment")
    if flags:
        settings.apply({k: v for k, v in flags.items() if v is not None}, "command line")
    settings.validate()
    return settings
