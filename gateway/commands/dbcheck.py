"""``epd-gateway db check [--repair] [--min-age SECONDS]``: the data directory against the database.

Reports unreferenced (orphan) blobs and spool left-overs past the grace age, and repository rows
whose blob is missing; ``--repair`` removes the orphans and spool files (never a blob younger than
the grace age: a submission may be about to commit it). Exit 0: nothing found (or all repaired);
1: something found and still there (a missing blob can only come back from a backup).
"""
from __future__ import annotations

import argparse
import sys

from gateway.commands import EXIT_FINDING


def register(subparsers, common_parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parents = [common_parser] if common_parser is not None else []
    p = subparsers.add_parser(
        "check", parents=parents, help="orphan blobs, rows whose blob is missing, spool left-overs",
        description="Compare the blob store with the database: unreferenced blobs and spool files older "
                    "than the grace age (setting orphan_grace, EPD_ORPHAN_GRACE; --min-age overrides), and "
                    "repository rows whose blob is missing. --repair removes the orphans and spool files. "
                    "Exit 1 when something found is still there.")
    p.add_argument("--repair", action="store_true", help="remove the orphan blobs and spool files found")
    p.add_argument("--min-age", type=float, metavar="SECONDS",
                   help="only files older than this count (default: setting orphan_grace, 3600)")
    p.set_defaults(func=cmd_check)
    return p


def cmd_check(args, out=None) -> int:
    from gateway.cli import _settings, safe_url
    from gateway.maintenance import check
    out = out or sys.stdout
    settings = _settings(args)
    result = check(settings, repair=args.repair, min_age_s=args.min_age)
    rep = result.report
    grace = settings.orphan_grace if args.min_age is None else args.min_age
    print(f"blobs: {settings.blob_dir}  database: {safe_url(settings.effective_database_url)}", file=out)
    removed = set(rep.removed_blobs)
    for key in rep.orphans:
        print(f"orphan blob {key}" + ("  (removed)" if key in removed else ""), file=out)
    removed_spool = set(rep.removed_spool)
    for p in rep.spool:
        print(f"spool left-over {p}" + ("  (removed)" if p in removed_spool else ""), file=out)
    for key in rep.restored:
        print(f"blob {key} put back (set aside by an interrupted sweep)", file=out)
    for m in result.missing:
        print(f"missing blob {m.sha256} of document {m.unique_id} (repository {m.repository_unique_id})", file=out)
    young = rep.young_unreferenced + rep.young_spool
    if young:
        print(f"{young} unreferenced file(s) younger than {grace:g} s left alone (a submission may be "
              "committing them)", file=out)
    print(f"{len(rep.orphans)} orphan blob(s), {len(rep.spool)} spool left-over(s), "
          f"{len(result.missing)} missing blob(s)"
          + (f"; removed {len(rep.removed_blobs)} blob(s) and {len(rep.removed_spool)} spool file(s), "
             f"{rep.bytes_freed} bytes" if args.repair else ""), file=out)
    return EXIT_FINDING if result.unrepaired else 0
