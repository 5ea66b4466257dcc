"""``epd-gateway policy ...``, ``notifications list``, ``ratelimit list|unblock``: the operator's
side of the patient's access rights.

``policy`` writes the same policy store as CH:PPQ (templates 301 grant, 302 group grant, 301
exclusion list, 202 emergency level, 303 representative, 203 default confidentiality); ``show``
lists a patient's policy sets. ``notifications list --patient SPID`` prints one line per emergency
access (time, GLN and name, organisation, documents read). ``ratelimit list`` shows the users
blocked by the read rate limit and until when, ``ratelimit unblock --user GLN`` lifts a block.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys

from gateway.config import load_settings
from profiles.adr import model as M

TEMPLATE_NAMES = {201: "patient full access", 202: "emergency access", 203: "provide level (default confidentiality)",
                  301: "HCP access", 302: "group access", 303: "representative", 304: "HCP access with delegation"}


def _date(text: str) -> _dt.date:
    try:
        return _dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def register(subparsers, common_parser: argparse.ArgumentParser | None = None) -> None:
    parents = [common_parser] if common_parser is not None else []
    p = subparsers.add_parser("policy", parents=parents, help="a patient's access rights (CH:ADR policy store)",
                              description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="policy_command", metavar="ACTION")
    sub.required = True

    def action(name, help_, func):
        a = sub.add_parser(name, parents=parents, help=help_)
        a.add_argument("--patient", required=True, metavar="SPID", help="the patient's EPR-SPID")
        a.set_defaults(func=func)
        return a

    a = action("grant", "let an HCP (by GLN) read up to a level (template 301)", cmd_grant)
    a.add_argument("--gln", required=True)
    a.add_argument("--level", required=True, choices=["normal", "restricted"])
    a.add_argument("--until", type=_date, metavar="YYYY-MM-DD", help="last day of validity (default: none)")
    a = action("grant-group", "let a group of HCPs (organisation OID) read up to a level (302)", cmd_grant_group)
    a.add_argument("--group", required=True, metavar="OID")
    a.add_argument("--level", required=True, choices=["normal", "restricted"])
    a.add_argument("--until", required=True, type=_date, metavar="YYYY-MM-DD", help="last day of validity")
    a = action("revoke", "withdraw an HCP's access grants (the exclusion list is kept)", cmd_revoke)
    a.add_argument("--gln", required=True)
    a = action("exclude", "put an HCP on the exclusion list: nothing, emergency included", cmd_exclude)
    a.add_argument("--gln", required=True)
    a.add_argument("--until", type=_date, metavar="YYYY-MM-DD")
    a = action("unexclude", "take an HCP off the exclusion list", cmd_unexclude)
    a.add_argument("--gln", required=True)
    a = action("emergency", "the level any HCP reads in an emergency (202), or off", cmd_emergency)
    a.add_argument("--level", required=True, choices=list(M.EMERGENCY_LEVELS))
    a = action("representative", "give a representative full access (303)", cmd_representative)
    a.add_argument("--id", required=True, dest="rep_id", metavar="ID")
    a.add_argument("--until", type=_date, metavar="YYYY-MM-DD")
    a.add_argument("--remove", action="store_true", help="withdraw the representative instead")
    a = action("default-confidentiality", "the lowest confidentiality of new documents (203)",
               cmd_default_confidentiality)
    a.add_argument("--level", required=True, choices=list(M.LEVELS))
    a = action("open", "open the patient's record with the default policy sets (201, 203, 202)", cmd_open)
    a.add_argument("--emergency", choices=list(M.EMERGENCY_LEVELS), help="default: EPD_EMERGENCY_DEFAULT")
    a = action("show", "the patient's policy sets", cmd_show)
    a.add_argument("--json", action="store_true", help="machine-readable output")

    n = subparsers.add_parser("notifications", parents=parents, help="emergency accesses recorded for patients")
    nsub = n.add_subparsers(dest="notifications_command", metavar="ACTION")
    nsub.required = True
    ls = nsub.add_parser("list", parents=parents, help="one line per emergency access")
    ls.add_argument("--patient", required=True, metavar="SPID")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_notifications_list)

    r = subparsers.add_parser("ratelimit", parents=parents, help="the read rate limit (EPD_READ_LIMIT)")
    rsub = r.add_subparsers(dest="ratelimit_command", metavar="ACTION")
    rsub.required = True
    rl = rsub.add_parser("list", parents=parents, help="blocked users and until when")
    rl.set_defaults(func=cmd_ratelimit_list)
    ru = rsub.add_parser("unblock", parents=parents, help="lift a user's block")
    ru.add_argument("--user", required=True, metavar="GLN")
    ru.set_defaults(func=cmd_ratelimit_unblock)


class _Env:
    def __init__(self, args) -> None:
        from gateway.store.db import make_engine, upgrade
        from gateway.store.policies import PolicyStore
        self.settings = load_settings(getattr(args, "config", None), data_dir=getattr(args, "data_dir", None))
        upgrade(self.settings.effective_database_url)
        self.engine = make_engine(self.settings.effective_database_url)
        self.store = PolicyStore(self.engine, self.settings.emergency_default or M.NORMAL)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.engine.dispose()


def _run(args, body) -> int:
    from profiles.ch.identifiers import epr_spid_problem
    spid = getattr(args, "patient", None)
    if spid is not None and epr_spid_problem(spid):
        print(f"error: --patient: {epr_spid_problem(spid)}", file=sys.stderr)
        return 2
    try:
        with _Env(args) as env:
            return body(env) or 0
    except (ValueError, M.PolicyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _opened(env, spid: str) -> None:
    """Operator commands work on records known to the MPI; a record not yet opened is opened."""
    if not env.store.is_open(spid):
        from gateway.store.mpi import MpiStore
        if MpiStore(env.engine, env.settings.mpi_oid).find_by_epr_spid(spid) is None:
            raise ValueError(f"no patient with EPR-SPID {spid} in the MPI (epd-gateway patient add)")
        env.store.open_record(spid)


def _until(d) -> str:
    return f" until {d.isoformat()}" if d else ""


def cmd_grant(args) -> int:
    def body(env):
        _opened(env, args.patient)
        env.store.grant(args.patient, args.gln, args.level, args.until)
        print(f"HCP {args.gln} reads {args.level} documents of {args.patient}{_until(args.until)}")
        if any(p.template == 301 and p.reference == M.EXCLUSION_LIST and p.subject == args.gln
               for p in env.store.rights(args.patient).policy_sets):
            print(f"warning: {args.gln} is on the exclusion list, which overrides this grant", file=sys.stderr)
    return _run(args, body)


def cmd_grant_group(args) -> int:
    def body(env):
        _opened(env, args.patient)
        ps = env.store.grant_group(args.patient, args.group, args.level, args.until)
        print(f"group {ps.subject} reads {args.level} documents of {args.patient}{_until(args.until)}")
    return _run(args, body)


def cmd_revoke(args) -> int:
    def body(env):
        _opened(env, args.patient)
        n = env.store.revoke(args.patient, args.gln)
        print(f"{n} grant(s) of HCP {args.gln} withdrawn" if n else f"HCP {args.gln} had no grant")
    return _run(args, body)


def cmd_exclude(args) -> int:
    def body(env):
        _opened(env, args.patient)
        env.store.exclude(args.patient, args.gln, args.until)
        print(f"HCP {args.gln} is on the exclusion list of {args.patient}{_until(args.until)}: no access at all")
    return _run(args, body)


def cmd_unexclude(args) -> int:
    def body(env):
        _opened(env, args.patient)
        env.store.unexclude(args.patient, args.gln)
        print(f"HCP {args.gln} is off the exclusion list of {args.patient}")
    return _run(args, body)


def cmd_emergency(args) -> int:
    def body(env):
        _opened(env, args.patient)
        env.store.set_emergency(args.patient, args.level)
        print(f"emergency access to {args.patient}: " + ("off" if args.level == "off" else f"up to {args.level}"))
    return _run(args, body)


def cmd_representative(args) -> int:
    def body(env):
        _opened(env, args.patient)
        if args.remove:
            env.store.remove_representative(args.patient, args.rep_id)
            print(f"representative {args.rep_id} of {args.patient} withdrawn")
        else:
            env.store.set_representative(args.patient, args.rep_id, args.until)
            print(f"representative {args.rep_id} has full access to {args.patient}{_until(args.until)}")
    return _run(args, body)


def cmd_default_confidentiality(args) -> int:
    def body(env):
        _opened(env, args.patient)
        env.store.set_default_confidentiality(args.patient, args.level)
        print(f"new documents of {args.patient} are at least {args.level}")
    return _run(args, body)


def cmd_open(args) -> int:
    def body(env):
        from gateway.store.mpi import MpiStore
        if MpiStore(env.engine, env.settings.mpi_oid).find_by_epr_spid(args.patient) is None:
            raise ValueError(f"no patient with EPR-SPID {args.patient} in the MPI")
        opened = env.store.open_record(args.patient, args.emergency)
        print(f"record of {args.patient} " + ("opened" if opened else "was already open"))
    return _run(args, body)


def _describe(p: M.PolicySet) -> dict:
    level = M.LEVEL_OF_ACCESS.get(p.reference) or M.LEVEL_OF_PROVIDE.get(p.reference)
    if p.reference == M.EXCLUSION_LIST:
        level = "excluded"
    elif p.reference == M.ACCESS_FULL:
        level = "full"
    return {"policy_set_id": p.policy_set_id, "template": p.template, "kind": TEMPLATE_NAMES[p.template],
            "subject": p.subject, "level": level, "reference": p.reference,
            "start": p.start.isoformat() if p.start else None, "end": p.end.isoformat() if p.end else None}


def cmd_show(args) -> int:
    def body(env):
        rights = env.store.rights(args.patient)
        rows = [_describe(p) for p in rights.policy_sets]
        if args.json:
            print(json.dumps({"patient": args.patient, "open": rights.opened,
                              "emergency_level": rights.emergency_level if rights.opened else None,
                              "default_confidentiality": rights.default_confidentiality if rights.opened else None,
                              "policy_sets": rows}, indent=2))
            return 0
        if not rights.opened:
            print(f"record of {args.patient} is not open")
            return 0
        print(f"patient {args.patient}: emergency access {rights.emergency_level}, "
              f"new documents at least {rights.default_confidentiality}")
        for r in rows:
            validity = ""
            if r["start"] or r["end"]:
                validity = f" {r['start'] or ''}..{r['end'] or ''}"
            subject = f" {r['subject']}" if r["subject"] else ""
            print(f"  {r['template']} {r['kind']}{subject}: {r['level']}{validity}  [{r['policy_set_id']}]")
    return _run(args, body)


def cmd_notifications_list(args) -> int:
    def body(env):
        rows = env.store.notifications(args.patient)
        if args.json:
            print(json.dumps([{"time": n.occurred_at.isoformat(timespec="seconds"), "transaction": n.transaction,
                               "gln": n.user_id, "name": n.user_name, "acting": n.acting_id,
                               "organisation": n.organisation, "documents": list(n.documents),
                               "delivered": n.delivered_at.isoformat(timespec="seconds") if n.delivered_at else None,
                               "delivery_error": n.delivery_error} for n in rows], indent=2))
            return 0
        if not rows:
            print(f"no emergency access to {args.patient}")
        for n in rows:
            who = f"{n.user_id} {n.user_name}".strip()
            acting = f" (by {n.acting_id})" if n.acting_id else ""
            print(f"{n.occurred_at.isoformat(timespec='seconds')}  {who}{acting}  {n.organisation or '-'}  "
                  f"{n.transaction}  {', '.join(n.documents)}")
    return _run(args, body)


def cmd_ratelimit_list(args) -> int:
    def body(env):
        from gateway.ratelimit import blocked_users
        rows = blocked_users(env.engine)
        if not rows:
            print("no user is blocked")
        for b in rows:
            print(f"{b.user_id}  blocked until {b.blocked_until.isoformat(timespec='seconds')}  ({b.count} documents read)")
    return _run(args, body)


def cmd_ratelimit_unblock(args) -> int:
    def body(env):
        from gateway.ratelimit import unblock
        if unblock(env.engine, args.user):
            print(f"{args.user} unblocked")
            return 0
        print(f"{args.user} was not blocked")
        return 1
    return _run(args, body)
