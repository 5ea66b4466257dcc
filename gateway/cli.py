"""``epd-gateway``: the command line of the Swiss EPR community gateway.

Commands: serve, db upgrade|check, demo, patient add, valuesets show|check, conformance, policy ...,
notifications list, ratelimit list|unblock. Every
command reads the configuration file (``--config`` or ``EPD_CONFIG``) and the ``EPD_*`` environment
variables; ``--config`` and ``--data-dir`` may stand before or after the command.

Output: stdout carries each command's result (the MPI-PID of ``patient add``, the endpoints of
``serve``, reports); what the CLI says about its own progress goes to stderr through ``logging`` at
the setting ``log_level`` (``EPD_LOG_LEVEL``: debug, info, warning, error). Errors are one line
``error: ...`` on stderr and a non-zero exit: 1 for a refusal or a finding, 2 for a usage,
configuration, database or network problem.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import errno
import importlib
import logging
import sys
import tomllib

from gateway.commands import EXIT_FINDING, CliError
from gateway.config import Settings, load_settings

log = logging.getLogger("epd-gateway")

ENDPOINTS = (
    ("ITI-41/ITI-43  Document Repository", "/xds/repository"),
    ("ITI-42/ITI-18  Document Registry  ", "/xds/registry"),
    ("ITI-44/ITI-45  PIX V3 Manager     ", "/pix"),
    ("ITI-47         PDQ V3 Supplier    ", "/pdq"),
    ("health                            ", "/health"),
)
PPQ_ENDPOINT = ("CH:PPQ-1/PPQ-2  Policy Repository  ", "/ppq")

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def safe_url(url: str) -> str:
    """The database URL for humans: the password masked (never printed, never logged)."""
    try:
        from sqlalchemy.engine import make_url
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not even parseable: show nothing of it that could be secret
        return url.split("://", 1)[0] + "://…"


def _settings(args) -> Settings:
    settings = getattr(args, "settings", None)
    if settings is None:
        settings = load_settings(getattr(args, "config", None), host=getattr(args, "host", None),
                                 port=getattr(args, "port", None), data_dir=getattr(args, "data_dir", None),
                                 workers=getattr(args, "workers", None))
    return settings


def _configure_logging(level_name: str) -> None:
    level_name = (level_name or "info").strip().lower()
    if level_name not in LOG_LEVELS:
        raise CliError(f"log_level (EPD_LOG_LEVEL) {level_name!r} is not one of {', '.join(LOG_LEVELS)}")
    level = getattr(logging, level_name.upper())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)
    # Alembic's migration log is debug output for this CLI; SQLAlchemy's engine log would show
    # statement parameters (patient data): never from the CLI.
    logging.getLogger("alembic").setLevel(level if level <= logging.DEBUG else max(level, logging.WARNING))
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)


def _upgrade(settings: Settings) -> None:
    from gateway.store.db import upgrade
    upgrade(settings.effective_database_url)


# ---------------------------------------------------------------------------------------------
# Commands


def cmd_serve(args) -> int:
    from gateway.maintenance import build_root     # gateway.app's, plus the orphan sweep
    from gateway.server import run
    from gateway.security.tls import TlsConfigError, listen_check, url_scheme
    settings = _settings(args)
    if args.demo or settings.xua_dev_trust:
        settings = _demo_security(settings)
    try:
        warning = listen_check(settings)
    except TlsConfigError as exc:
        raise CliError(str(exc)) from None
    from gateway.security.setup import xua_check, xua_enabled
    problem = xua_check(settings)
    if problem:
        raise CliError(problem)
    _upgrade(settings)
    if args.demo:
        from gateway.demo import load_demo
        for line in load_demo(settings):
            print(line, flush=True)
    scheme = url_scheme(settings)

    def listening(host: str, port: int) -> None:
        if warning:   # said once the socket listens (a refused start says only why)
            print(warning, file=sys.stderr, flush=True)
        shown = f"[{host}]" if ":" in host else host
        base = settings.public_url.rstrip("/") or f"{scheme}://{shown}:{port}"
        for label, path in ENDPOINTS:
            print(f"{label} {base}{path}", flush=True)
        if xua_enabled(settings):   # the patient's policies, mounted with XUA only
            print(f"{PPQ_ENDPOINT[0]} {base}{PPQ_ENDPOINT[1]}", flush=True)
        print(f"listening on {scheme}://{shown}:{port}/ (WSDLs at <endpoint>?wsdl)", flush=True)

    try:
        return run(settings, build_root, workers=settings.workers, on_listening=listening)
    except OSError as exc:
        where = f"{settings.host}:{settings.port}"
        if exc.errno == errno.EADDRINUSE:
            raise CliError(f"cannot listen on {where}: the address is already in use (another gateway? "
                           "choose a free port with --port or EPD_PORT)") from None
        if exc.errno in (errno.EACCES, errno.EADDRNOTAVAIL):
            raise CliError(f"cannot listen on {where}: {exc.strerror}") from None
        raise


def _demo_security(settings: Settings) -> Settings:
    """``serve --demo``: trust the development X-Assertion Provider (its key made now, before any
    worker starts), and say loudly that this is not for production."""
    import dataclasses
    from gateway.security.provider import DEV_WARNING, DevelopmentProvider
    provider = DevelopmentProvider(settings.data_dir)
    provider.ensure()
    print(DEV_WARNING, file=sys.stderr, flush=True)
    print(f"development X-Assertion Provider certificate: {provider.cert_path}", flush=True)
    return dataclasses.replace(settings, xua_dev_trust=True)


def cmd_db_upgrade(args) -> int:
    settings = _settings(args)
    _upgrade(settings)
    log.info("database at %s is at the latest schema", safe_url(settings.effective_database_url))
    return 0


def cmd_demo(args) -> int:
    from gateway.demo import load_demo
    settings = _settings(args)
    _upgrade(settings)
    for line in load_demo(settings):
        print(line)
    return 0


def cmd_patient_add(args) -> int:
    from profiles.ch.identifiers import CX
    from gateway.store.db import make_engine
    from gateway.store.mpi import MpiStore
    settings = _settings(args)
    try:
        birth = _dt.date.fromisoformat(args.birth_date)
    except ValueError:
        raise CliError(f"--birth-date {args.birth_date!r} is not YYYY-MM-DD") from None
    try:
        local_ids = [CX.parse(v) for v in args.local_id]
    except ValueError as exc:
        raise CliError(f"--local-id: {exc}") from None
    _upgrade(settings)
    engine = make_engine(settings.effective_database_url)
    try:
        mpi = MpiStore(engine, settings.mpi_oid)
        try:
            from profiles.hl7v3.mpi import Telecom
            from gateway.store.policies import PolicyStore
            telecoms = [Telecom("mailto:" + args.email)] if args.email else []
            pid = mpi.add_patient(args.epr_spid, args.family, args.given, birth, args.gender, local_ids,
                                  mpi_pid=args.mpi_pid, telecoms=telecoms)
            PolicyStore(engine, settings.emergency_default).open_record(args.epr_spid)   # 201, 203, 202
        except ValueError as exc:
            known = mpi.find_by_epr_spid(args.epr_spid)
            if known is not None:   # name the MPI-PID in the CX form XDS metadata needs
                raise CliError(f"EPR-SPID {args.epr_spid} is already in the MPI as {known}", EXIT_FINDING) from None
            raise CliError(str(exc), EXIT_FINDING) from None
    finally:
        engine.dispose()
    log.info("patient %s, %s opened in the MPI (EPR-SPID %s); its MPI-PID:", args.family, args.given,
             args.epr_spid)
    print(str(pid))
    return 0


# ---------------------------------------------------------------------------------------------
# Parser


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """``--config``/``--data-dir``: on the top-level parser (defaults None) and again on each
    command (SUPPRESS: given after the command they win, absent they leave the top-level value)."""
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--config", metavar="FILE", default=default,
                        help="TOML configuration file (default: $EPD_CONFIG)")
    parser.add_argument("--data-dir", metavar="DIR", default=default,
                        help="data directory (default: $EPD_DATA_DIR or ./data)")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("epd-gateway")
    except PackageNotFoundError:  # pragma: no cover - a bare checkout on sys.path
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, suppress=True)
    parser = argparse.ArgumentParser(
        prog="epd-gateway",
        description="Community gateway for the Swiss electronic patient record (EPD/EPR): IHE XDS.b "
                    "repository and registry (ITI-41/42/43/18), PIX V3 / PDQ V3 (ITI-44/45/47).",
        epilog="Configuration: every key of the TOML file can be overridden by an EPD_<KEY> environment "
               "variable, e.g. EPD_DATA_DIR, EPD_DATABASE_URL, EPD_HOME_COMMUNITY_ID, "
               "EPD_REPOSITORY_UNIQUE_ID, EPD_MPI_OID, EPD_LOG_LEVEL (debug, info, warning, error).")
    _global_options(parser, suppress=False)
    parser.add_argument("--version", action="version", version=f"epd-gateway {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("serve", parents=[common], help="run the gateway (prints each endpoint's URL)")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="TCP port (default 8080; 0 picks a free one)")
    p.add_argument("--workers", type=int, help="worker processes on the one socket (default: one per core)")
    p.add_argument("--demo", action="store_true", help="load the demo patients and documents first, and trust "
                   "the development X-Assertion Provider (epd-gateway xua issue; NOT for production)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("db", parents=[common], help="database schema and consistency")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION")
    dsub.required = True
    up = dsub.add_parser("upgrade", parents=[common], help="migrate the schema to the latest revision (Alembic)")
    up.set_defaults(func=cmd_db_upgrade)

    p = sub.add_parser("demo", parents=[common], help="load demo patients and documents")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("patient", parents=[common], help="the community's MPI")
    psub = p.add_subparsers(dest="patient_command", metavar="ACTION")
    psub.required = True
    add = psub.add_parser("add", parents=[common], help="open a patient record; prints the MPI-PID (CX)",
                          description="Open a patient record in the MPI and print its MPI-PID in CX form "
                                      "(ID^^^&OID&ISO): the patientId of XDS metadata. Name, birth date and "
                                      "gender are required, as for every patient the PIX feed (ITI-44) opens.")
    add.add_argument("--epr-spid", required=True, help="the patient's EPR-SPID (18 digits, 76133761...)")
    add.add_argument("--family", required=True, help="family name")
    add.add_argument("--given", required=True, help="given name(s), separated by spaces")
    add.add_argument("--birth-date", required=True, metavar="YYYY-MM-DD", help="date of birth")
    add.add_argument("--gender", required=True, choices=["M", "F", "O", "U"],
                     help="administrative gender (U: unknown)")
    add.add_argument("--local-id", action="append", default=[], metavar="ID^^^&OID&ISO",
                     help="a source system's id for the patient (repeatable)")
    add.add_argument("--mpi-pid", help="keep this MPI-PID (records migrated from another platform)")
    add.add_argument("--email", help="the patient's e-mail address (emergency-access notices go there)")
    add.set_defaults(func=cmd_patient_add)

    for name in ("valuesets", "conformance", "dbcheck", "policy", "xua", "audit"):
        try:
            module = importlib.import_module(f"gateway.commands.{name}")
        except ImportError:  # pragma: no cover
            continue
        module.register(dsub if name == "dbcheck" else sub, common)
    return parser


def _database_error(exc: Exception, args) -> CliError:
    """One line for a database that cannot be used (missing, unreachable, refused)."""
    orig = getattr(exc, "orig", None) or exc
    reason = " ".join(str(orig).split())
    try:
        url = _settings(args).effective_database_url
    except Exception:  # pragma: no cover
        url = ""
    from sqlalchemy.engine import make_url
    try:
        password = make_url(url).password if url else None
    except Exception:
        password = None
    if password:
        reason = reason.replace(str(password), "***")
    reason = reason.split(" (Background on this error", 1)[0]
    return CliError(f"cannot use the database {safe_url(url)}: {reason}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from sqlalchemy.exc import DBAPIError, OperationalError
    try:
        try:
            args.settings = _settings(args)
        except (OSError, tomllib.TOMLDecodeError, ValueError) as exc:
            raise CliError(f"configuration: {exc}") from None
        _configure_logging(args.settings.log_level)
        try:
            return int(args.func(args) or 0)
        except (OperationalError, DBAPIError) as exc:
            raise _database_error(exc, args) from None
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return exc.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
