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


def _unreachable(url: str, timeout: float = 10.0) -> str | None:
    """Why nothing answers at ``url`` (no TCP connection), or None."""
    import socket
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "not an http(s) URL"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        return str(exc)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return None
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__


def cmd_conformance(args) -> int:
    from conformance.xds import Target, run_plan
    from gateway.commands import CliError
    for url in dict.fromkeys((args.repository, args.registry)):
        problem = _unreachable(url)
        if problem:
            raise CliError(f"cannot reach {url}: {problem}")
    results = run_plan(Target(args.repository, args.registry, args.patient_id, args.repository_unique_id))
    for r in results:
        print(f"{'PASS' if r.passed else 'FAIL'}  {r.name}" + (f"\n      {r.detail}" if r.detail else ""))
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(1)
