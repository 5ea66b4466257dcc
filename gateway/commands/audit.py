"""``epd-gateway audit``: the stored audit trail, for supervisors and the certification auditor.

    epd-gateway audit verify                    # recompute the hash chain (exit 1 if it is broken)
    epd-gateway audit list   --from DATE --to DATE [--patient SPID]
    epd-gateway audit export --from DATE --to DATE [--patient SPID] [--format json|xml]

DATE is YYYY-MM-DD (a whole day, UTC) or an ISO 8601 time. ``--patient`` takes the EPR-SPID: the
records of the transactions on the patient's MPI-PID and those whose XUA named the patient.
"""
from __future__ import annotations

import argparse
import json
import sys

from lxml import etree


def _bounds(args) -> tuple[str | None, str | None]:
    since = args.date_from
    until = args.date_to
    if until and len(until) == 10:
        until += "T23:59:59.999999+00:00"
    return since, until


def _store(args):
    from gateway.audit.store import AuditStore
    from gateway.cli import _settings
    from gateway.store.db import make_engine, upgrade
    from profiles.atna.messages import AuditSite
    settings = _settings(args)
    upgrade(settings.effective_database_url)
    engine = make_engine(settings.effective_database_url)
    site = AuditSite(settings.home_community_oid, "epd-gateway", settings.home_community_id)
    return settings, engine, AuditStore(engine, site)


def _select(args):
    settings, engine, store = _store(args)
    patient_ids: tuple[str, ...] = ()
    if args.patient:
        from gateway.store.mpi import MpiStore
        cx = MpiStore(engine, settings.mpi_oid).find_by_epr_spid(args.patient)
        if cx is not None:
            patient_ids = (f"{cx.id}^^^&{cx.oid}&ISO",)
    since, until = _bounds(args)
    records = store.records(since=since, until=until, epr_spid=args.patient, patient_ids=patient_ids) \
        if args.patient else store.records(since=since, until=until)
    return engine, records


def cmd_verify(args) -> int:
    _settings, engine, store = _store(args)
    checked, breaks = store.verify()
    engine.dispose()
    if breaks:
        for b in breaks:
            print(f"record {b.seq}: {b.reason}")
        print(f"{checked} records checked: the audit chain is BROKEN at {len(breaks)} place(s)", file=sys.stderr)
        return 1
    print(f"{checked} records checked: the audit chain is intact")
    return 0


def cmd_list(args) -> int:
    engine, records = _select(args)
    engine.dispose()
    for r in records:
        print(f"{r.event_time}  {r.seq:>8}  {r.transaction or '-':<7} outcome={r.outcome:<2} "
              f"user={r.user_id or '-'}  patients={' '.join(r.patient_ids) or '-'}")
    return 0


def cmd_export(args) -> int:
    engine, records = _select(args)
    engine.dispose()
    if args.format == "xml":
        root = etree.Element("AuditMessages")
        for r in records:
            root.append(etree.fromstring(r.message))
        sys.stdout.write(etree.tostring(root, encoding="unicode", pretty_print=True))
        return 0
    json.dump([{"seq": r.seq, "record_id": r.record_id, "time": r.event_time, "transaction": r.transaction,
                "outcome": r.outcome, "user_id": r.user_id, "patient_ids": list(r.patient_ids),
                "epr_spid": r.epr_spid, "hash": r.hash, "prev_hash": r.prev_hash, "message": r.message}
               for r in records], sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


def register(subparsers, common_parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parents = [common_parser] if common_parser is not None else []
    p = subparsers.add_parser("audit", parents=parents, help="the audit trail: verify, list, export",
                              description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="audit_command", metavar="{verify,list,export}")
    sub.required = True
    v = sub.add_parser("verify", parents=parents, help="recompute the hash chain; exit 1 if broken")
    v.set_defaults(func=cmd_verify)
    for name, func, help_ in (("list", cmd_list, "one line per record"),
                              ("export", cmd_export, "the records with their AuditMessage")):
        c = sub.add_parser(name, parents=parents, help=help_)
        c.add_argument("--from", dest="date_from", metavar="DATE", help="from (YYYY-MM-DD or ISO time, UTC)")
        c.add_argument("--to", dest="date_to", metavar="DATE", help="to, inclusive")
        c.add_argument("--patient", metavar="EPR-SPID", help="only this patient's records")
        if name == "export":
            c.add_argument("--format", choices=("json", "xml"), default="json")
        c.set_defaults(func=func)
    return p
