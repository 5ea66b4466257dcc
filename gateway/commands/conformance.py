"""``epd-gateway conformance``: run the XDS.b conformance plan against any endpoint."""
from __future__ import annotations

import argparse
import sys


def register(subparsers, common_parser: argparse.ArgumentParser | None = None):
    parents = [common_parser] if common_parser is not None else []
    p = subparsers.add_parser("conformance", parents=parents,
                              help="run the XDS.b conformance plan against a repository/registry URL")
    p.add_argument("--repository", required=True, metavar="URL", help="Document Repository endpoint (ITI-41/43)")
    p.add_argument("--registry", required=True, metavar="URL", help="Document Registry endpoint (ITI-42)")
    p.add_argument("--patient-id", required=True, metavar="CX", help="an MPI-PID the endpoint knows (ID^^^&OID&ISO)")
    p.add_argument("--repository-unique-id", required=True, metavar="OID")
    p.set_defaults(func=cmd_conformance)
    return p


def cmd_conformance(args) -> int:
    from conformance.xds import Target, run_plan
    results = run_plan(Target(args.repository, args.registry, args.patient_id, args.repository_unique_id))
    for r in results:
        print(f"{'PASS' if r.passed else 'FAIL'}  {r.name}" + (f"\n      {r.detail}" if r.detail else ""))
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(1)
