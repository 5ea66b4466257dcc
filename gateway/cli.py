"""``epd-gateway``: the command line of the Swiss EPR community gateway.

Commands: serve, db upgrade, demo, patient add, valuesets show|check. Every command reads the
configuration file (``--config`` or ``EPD_CONFIG``) and the ``EPD_*`` environment variables.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import sys

from gateway.config import Settings, load_settings

ENDPOINTS = (
    ("ITI-41/ITI-43  Document Repository", "/xds/repository"),
    ("ITI-42/ITI-18  Document Registry  ", "/xds/registry"),
    ("ITI-44/ITI-45  PIX V3 Manager     ", "/pix"),
    ("ITI-47         PDQ V3 Supplier    ", "/pdq"),
    ("health                            ", "/health"),
)


def _settings(args) -> Settings:
    return load_settings(args.config, host=getattr(args, "host", None), port=getattr(args, "port", None),
                         data_dir=getattr(args, "data_dir", None), workers=getattr(args, "workers", None))


def cmd_serve(args) -> int:
    from gateway.app import build_root
    from gateway.server import run
    from gateway.store.db import upgrade
    settings = _settings(args)
    upgrade(settings.effective_database_url)
    if args.demo:
        from gateway.demo import load_demo
        for line in load_demo(settings):
            print(line, flush=True)

    def listening(host: str, port: int) -> None:
        shown = f"[{host}]" if ":" in host else host
        for label, path in ENDPOINTS:
            print(f"{label} http://{shown}:{port}{path}", flush=True)
        print(f"listening on http://{shown}:{port}/ (WSDLs at <endpoint>?wsdl)", flush=True)

    return run(settings, build_root, workers=settings.workers, on_listening=listening)


def cmd_db_upgrade(args) -> int:
    from gateway.store.db import upgrade
    settings = _settings(args)
    upgrade(settings.effective_database_url)
    print(f"database at {settings.effective_database_url} is at the latest schema")
    return 0


def cmd_demo(args) -> int:
    from gateway.demo import load_demo
    from gateway.store.db import upgrade
    settings = _settings(args)
    upgrade(settings.effective_database_url)
    for line in load_demo(settings):
        print(line)
    return 0


def cmd_patient_add(args) -> int:
    from profiles.ch.identifiers import CX
    from gateway.store.db import make_engine, upgrade
    from gateway.store.mpi import MpiStore
    settings = _settings(args)
    try:
        birth = _dt.date.fromisoformat(args.birth_date) if args.birth_date else None
    except ValueError:
        print(f"error: --birth-date {args.birth_date!r} is not YYYY-MM-DD", file=sys.stderr)
        return 2
    try:
        local_ids = [CX.parse(v) for v in args.local_id]
    except ValueError as exc:
        print(f"error: --local-id: {exc}", file=sys.stderr)
        return 2
    upgrade(settings.effective_database_url)
    engine = make_engine(settings.effective_database_url)
    try:
        pid = MpiStore(engine, settings.mpi_oid).add_patient(
            args.epr_spid, args.family, args.given, birth, args.gender, local_ids, mpi_pid=args.mpi_pid)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"patient {args.family}, {args.given} opened in the MPI (EPR-SPID {args.epr_spid})")
    print(str(pid))
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", help="TOML configuration file (default: $EPD_CONFIG)")
    common.add_argument("--data-dir", metavar="DIR", help="data directory (default: $EPD_DATA_DIR or ./data)")
    parser = argparse.ArgumentParser(
        prog="epd-gateway", parents=[common],
        description="Community gateway for the Swiss electronic patient record (EPD/EPR): IHE XDS.b "
                    "repository and registry (ITI-41/42/43/18), PIX V3 / PDQ V3 (ITI-44/45/47).",
        epilog="Configuration: every key of the TOML file can be overridden by an EPD_<KEY> environment "
               "variable, e.g. EPD_DATA_DIR, EPD_DATABASE_URL, EPD_HOME_COMMUNITY_ID, "
               "EPD_REPOSITORY_UNIQUE_ID, EPD_MPI_OID.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("serve", parents=[common], help="run the gateway (prints each endpoint's URL)")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="TCP port (default 8080; 0 picks a free one)")
    p.add_argument("--workers", type=int, help="worker processes on the one socket (default: one per core)")
    p.add_argument("--demo", action="store_true", help="load the demo patients and documents first")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("db", parents=[common], help="database schema")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION")
    dsub.required = True
    up = dsub.add_parser("upgrade", parents=[common], help="migrate the schema to the latest revision (Alembic)")
    up.set_defaults(func=cmd_db_upgrade)

    p = sub.add_parser("demo", parents=[common], help="load demo patients and documents")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("patient", parents=[common], help="the community's MPI")
    psub = p.add_subparsers(dest="patient_command", metavar="ACTION")
    psub.required = True
    add = psub.add_parser("add", parents=[common], help="open a patient record; prints the MPI-PID (CX) last")
    add.add_argument("--epr-spid", required=True, help="the patient's EPR-SPID (18 digits, 76133761...)")
    add.add_argument("--family", required=True)
    add.add_argument("--given", required=True)
    add.add_argument("--birth-date", metavar="YYYY-MM-DD")
    add.add_argument("--gender", choices=["M", "F", "O", "U"], default="U")
    add.add_argument("--local-id", action="append", default=[], metavar="ID^^^&OID&ISO",
                     help="a source system's id for the patient (repeatable)")
    add.add_argument("--mpi-pid", help="keep this MPI-PID (records migrated from another platform)")
    add.set_defaults(func=cmd_patient_add)

    for name in ("valuesets", "conformance", "audit"):
        try:
            module = importlib.import_module(f"gateway.commands.{name}")
        except ImportError:  # pragma: no cover
            continue
        module.register(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
