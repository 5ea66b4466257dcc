"""``epd-gateway xua``: the development X-Assertion Provider and an assertion checker.

* ``xua issue --role ROLE --subject ID --patient EPR-SPID [...]`` prints a signed CH:XUA assertion
  made with the development key pair of the data directory (created on first use). NOT FOR
  PRODUCTION: ``serve --demo`` trusts it; otherwise only if ``xua cert``'s certificate is in
  ``EPD_XUA_TRUST``.
* ``xua cert`` prints the development provider's certificate (PEM).
* ``xua verify FILE`` checks an assertion as the gateway would (against ``EPD_XUA_TRUST``, and the
  development provider with ``--demo``) and prints the principal it describes.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys


def _settings(args):
    from gateway.config import load_settings
    return load_settings(args.config, data_dir=getattr(args, "data_dir", None))


def cmd_issue(args) -> int:
    from gateway.security.provider import AssertionRequest, DevelopmentProvider
    settings = _settings(args)
    req = AssertionRequest(role=args.role, subject=args.subject, patient=args.patient,
                           home_community_id=args.home_community_id or settings.home_community_id,
                           name=args.name, purpose=args.purpose, principal_gln=args.principal_gln,
                           principal_name=args.principal_name, organizations=list(args.organization),
                           minutes=args.minutes)
    try:
        data = DevelopmentProvider(settings.data_dir).issue(req)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("note: development X-Assertion Provider, NOT FOR PRODUCTION", file=sys.stderr)
    sys.stdout.write(data.decode("utf-8") + "\n")
    return 0


def cmd_cert(args) -> int:
    from gateway.security.provider import DevelopmentProvider
    provider = DevelopmentProvider(_settings(args).data_dir)
    sys.stdout.write(provider.certificate_pem().decode())
    print(f"# {provider.cert_path}", file=sys.stderr)
    return 0


def cmd_verify(args) -> int:
    from gateway.security.setup import trust_store
    from gateway.security.xua import AssertionVerifier
    from gateway.soap.fault import SoapFault
    settings = _settings(args)
    if args.demo:
        settings = dataclasses.replace(settings, xua_dev_trust=True)
    data = sys.stdin.buffer.read() if args.file == "-" else open(args.file, "rb").read()
    verifier = AssertionVerifier(trust_store(settings), clock_skew=settings.xua_clock_skew, cache_size=0)
    try:
        claims = verifier.verify_assertion_bytes(data.strip())
    except SoapFault as fault:
        print(f"refused: {fault.subcode}: {fault.reason}", file=sys.stderr)
        return 1
    p = claims.principal
    for label, value in (("role", p.role), ("user", p.user_id), ("name", p.user_name),
                         ("acting", p.acting_id), ("acting name", p.acting_name),
                         ("purpose of use", p.purpose_of_use), ("patient (EPR-SPID)", p.patient_epr_spid),
                         ("organisations", ", ".join(p.organisation_ids)),
                         ("home community", p.home_community_id),
                         ("valid", f"{claims.not_before.isoformat()} .. {claims.not_on_or_after.isoformat()}")):
        if value:
            print(f"{label}: {value}")
    return 0


def register(subparsers, common_parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parents = [common_parser] if common_parser is not None else []
    p = subparsers.add_parser("xua", parents=parents, help="development X-Assertion Provider (CH:XUA)",
                              description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="xua_command", metavar="{issue,cert,verify}")
    sub.required = True

    issue = sub.add_parser("issue", parents=parents, help="print a signed assertion (development key, NOT "
                           "for production)")
    issue.add_argument("--role", required=True, type=str.upper,
                       choices=["HCP", "ASS", "TCU", "PAT", "REP", "PADM", "DADM"])
    issue.add_argument("--subject", required=True, metavar="ID",
                       help="the user: GLN (HCP, ASS), technical user id (TCU), EPR-SPID (PAT), "
                            "representative / administrator id")
    issue.add_argument("--name", help="the user's name (subject-id)")
    issue.add_argument("--patient", required=True, metavar="EPR-SPID", help="the patient (resource-id)")
    issue.add_argument("--purpose", type=str.upper, choices=["NORM", "EMER", "AUTO", "DICOM_AUTO"],
                       help="purpose of use (default NORM; TCU: AUTO)")
    issue.add_argument("--principal-gln", metavar="GLN", help="ASS/TCU: the responsible professional's GLN")
    issue.add_argument("--principal-name", metavar="NAME", help="ASS/TCU: the responsible professional's name")
    issue.add_argument("--organization", action="append", default=[], metavar="OID",
                       help="organisation / group OID (repeatable; required for HCP and ASS)")
    issue.add_argument("--home-community-id", metavar="URN", help="default: the gateway's home community")
    issue.add_argument("--minutes", type=float, default=5, help="validity in minutes (default 5)")
    issue.set_defaults(func=cmd_issue)

    cert = sub.add_parser("cert", parents=parents, help="print the development provider's certificate (PEM)")
    cert.set_defaults(func=cmd_cert)

    verify = sub.add_parser("verify", parents=parents, help="check an assertion as the gateway would")
    verify.add_argument("file", help="assertion file ('-': standard input)")
    verify.add_argument("--demo", action="store_true", help="also trust the development provider")
    verify.set_defaults(func=cmd_verify)
    return p
