"""Configuration: one TOML file, every key overridable by an ``EPD_<KEY>`` environment variable.

Keys are flat (``data_dir``, ``database_url``...), optionally under a ``[gateway]`` table. The
environment wins over the file, the file over the defaults.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Mapping


@dataclass(frozen=True)
class Settings:
    data_dir: str = "./data"
    database_url: str = ""               # SQLAlchemy URL; empty: SQLite under data_dir
    home_community_id: str = "urn:oid:2.16.756.5.30.1.999.1"
    repository_unique_id: str = "2.16.756.5.30.1.999.1.2"
    mpi_oid: str = "2.16.756.5.30.1.999.1.1"   # assigning authority of the MPI-PIDs
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 0                     # 0: one per core
    spool_threshold: int = 1 << 20       # request bodies past this go to a temp file
    max_request_size: int = 512 << 20    # past this: SOAP fault, body discarded
    max_query_results: int = 10000        # ITI-18 XDSTooManyResults threshold
    allow_folders: bool = False          # Swiss EPR forbids Folders; generic IHE behaviour behind it
    valuesets_file: str = ""             # empty: the packaged annex 3 release
    log_level: str = "info"
    audit: bool = True                   # store an ATNA record of every transaction (off only to benchmark)
    audit_syslog: str = ""               # tls://host:port (RFC 5425), tcp://host:port or udp://host:port
    audit_tls_ca: str = ""               # CA bundle (PEM) that signs the audit repository's certificate
    audit_tls_cert: str = ""             # the gateway's client certificate (PEM) for mutual TLS
    audit_tls_key: str = ""              # its private key (PEM)
    audit_source_id: str = ""            # AuditSourceID of the records (default epd-gateway@<host name>)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return "sqlite:///" + str(Path(self.data_dir).resolve() / "epd-gateway.sqlite")

    @property
    def blob_dir(self) -> Path:
        return Path(self.data_dir) / "blobs"

    @property
    def home_community_oid(self) -> str:
        hc = self.home_community_id
        return hc[len("urn:oid:"):] if hc.startswith("urn:oid:") else hc


def _coerce(kind: type, value: Any) -> Any:
    if kind is bool or kind == "bool":
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in ("1", "true", "yes", "on")
    if kind is int or kind == "int":
        return int(value)
    return str(value)


def load_settings(config_file: str | os.PathLike | None = None,
                  env: Mapping[str, str] | None = None,
                  **overrides: Any) -> Settings:
    """Defaults, then the TOML file, then ``EPD_*`` environment variables, then explicit overrides."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    config_file = config_file or env.get("EPD_CONFIG")
    known = {f.name: f.type for f in fields(Settings)}
    if config_file:
        with open(config_file, "rb") as fh:
            data = tomllib.load(fh)
        data = {**data, **data.get("gateway", {})}
        for key, value in data.items():
            if key in known:
                values[key] = _coerce(known[key], value)
    for key, kind in known.items():
        name = "EPD_" + key.upper()
        if name in env:
            values[key] = _coerce(kind, env[name])
    for key, value in overrides.items():
        if value is not None:
            values[key] = _coerce(known[key], value)
    return replace(Settings(), **values)
