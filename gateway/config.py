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
    max_query_parameter_values: int = 1000  # ITI-18: values per stored-query parameter (XDSRegistryError past it)
    max_retrieve_documents: int = 1000    # ITI-43: DocumentRequests per retrieve (XDSRepositoryError past it)
    max_submission_objects: int = 2000   # ITI-41/42: registry objects (or documents) per submission
    allow_folders: bool = False          # Swiss EPR forbids Folders; generic IHE behaviour behind it
    valuesets_file: str = ""             # empty: the packaged annex 3 release
    log_level: str = "info"              # debug, info, warning, error (EPD_LOG_LEVEL)
    public_url: str = ""                 # the URL clients reach the gateway at (behind a proxy); empty: the request's
    header_timeout: float = 10.0         # seconds a connection has to complete its request headers
    max_connections: int = 2048          # open connections per worker process; past it: 503, closed
    log_format: str = "auto"             # json, text, or auto (text on a terminal, JSON otherwise)
    metrics_dir: str = ""                # PROMETHEUS_MULTIPROC_DIR; empty: <data_dir>/metrics or a temp dir
    # access rights (CH:ADR): the emergency level a newly opened record gets (normal|restricted|off)
    emergency_default: str = "normal"
    read_limit: str = ""                 # documents per user per window, e.g. "500/1h" (empty: none)
    read_block: str = ""                 # how long a user past the limit is blocked, e.g. "1h"
    notify_smtp: str = ""                # emergency-access notices: smtp://host:port (empty: recorded only)
    notify_from: str = ""                # their From: address
    orphan_grace: int = 3600             # seconds: younger unreferenced blobs/spool files are never swept
    sweep_interval: int = 3600           # seconds between orphan sweeps in `serve` (0: none, not at start-up either)
    # -- security (gateway.security); all off by default ----------------------------------------
    tls_cert: str = ""                   # PEM certificate (chain after the leaf); with tls_key: TLS
    tls_key: str = ""                    # PEM private key
    tls_client_ca: str = ""              # PEM bundle: client certificates required (mutual TLS)
    xua_trust: str = ""                  # PEM bundle of trusted X-Assertion Provider certificates
    xua_clock_skew: int = 60             # seconds tolerated around NotBefore/NotOnOrAfter
    xua_cache_size: int = 1024           # verified assertions kept (by digest)
    xua_dev_trust: bool = False          # trust the development provider's key (serve --demo)
    # HL7 V3 (PIX/PDQ) input limits: past one, AE naming the limit, nothing stored
    hl7_max_name_part_length: int = 255     # a name part, address part, telecom value
    hl7_max_identifier_length: int = 255    # the extension of one identifier
    hl7_max_identifiers_per_person: int = 20  # ids of one patient in an ITI-44
    hl7_max_repetitions: int = 20           # names, addresses, telecoms of one patient
    hl7_max_parameter_values: int = 20      # values of one ITI-45/47 query parameter
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
    if kind is float or kind == "float":
        return float(value)
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
