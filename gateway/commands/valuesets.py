"""``epd-gateway valuesets show [NAME] | check FILE``: the annex 3 release in force, and offline validation.

``show`` prints the release (version, source, sha256) and each value set with its OID, version and
code count; ``show NAME`` (e.g. ``confidentialityCode``) lists the codes of that value set. ``check FILE`` validates a submission offline -- FILE is a SOAP envelope, a
ProvideAndRegisterDocumentSetRequest or a SubmitObjectsRequest -- and prints every error (the
ebRIM structural ones and the Swiss/annex 3 ones); exit status 1 when there is any, 2 when the file
or the value sets cannot be read. The checks are the registry's own (IHE required attributes and
formats, then annex 3): an ITI-41 file is checked by ITI-41 rules, a bare SubmitObjectsRequest by
ITI-42 rules (hash, size and repositoryUniqueId required).

The value-set file is the setting ``valuesets_file`` (TOML / ``EPD_VALUESETS_FILE``; empty: the
packaged release); ``--valuesets FILE`` overrides it, to try a new annex release before installing it.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from gateway.config import load_settings
from profiles.ch.annex3 import find_submit_objects_request
from profiles.ch.epr_submission import check_submission_element
from profiles.ch.valuesets import ValueSetError, ValueSets

EXIT_OK, EXIT_ERRORS, EXIT_UNUSABLE = 0, 1, 2

DESCRIPTION = """\
The Swiss annex 3 value sets the gateway enforces, and offline validation of a submission.

  show              the release in force (version, source, sha256) and a table of its value sets
  show NAME         the codes of one value set, e.g. show confidentialityCode
  check FILE        validate a submission (SOAP envelope, ProvideAndRegisterDocumentSetRequest or
                    SubmitObjectsRequest) with the registry's own rules; exit 1 on errors,
                    2 when the file or the value sets cannot be read

The value-set file is the setting valuesets_file (EPD_VALUESETS_FILE; empty: the packaged
release); --valuesets FILE overrides it, to try a new annex release before installing it."""


def register(subparsers, common_parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parents = [common_parser] if common_parser is not None else []
    p = subparsers.add_parser("valuesets", help="annex 3 value sets: show the release, check a submission",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="valuesets_command", metavar="{show,check}")
    sub.required = True

    show = sub.add_parser("show", parents=parents, help="the annex 3 release in force and its value sets",
                          description="Without NAME: the annex 3 release in force and a table of its value sets. "
                                      "With NAME: the codes of that value set (code, code system, display name).")
    show.add_argument("name", metavar="NAME", nargs="?",
                      help="a value set, e.g. confidentialityCode (the NAME column of the table)")
    show.add_argument("--valuesets", metavar="FILE", help="value-set file (default: setting valuesets_file)")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(func=cmd_show, handler=cmd_show)

    check = sub.add_parser("check", parents=parents,
                           help="validate a submission file (SOAP envelope, ProvideAndRegister, SubmitObjectsRequest)")
    check.add_argument("file", metavar="FILE")
    check.add_argument("--valuesets", metavar="FILE", help="value-set file (default: setting valuesets_file)")
    check.add_argument("--allow-folders", action="store_true", default=None,
                       help="accept Folders (generic IHE; default: setting allow_folders, off)")
    check.add_argument("--transaction", choices=["ITI-41", "ITI-42"],
                       help="rules to apply (default: ITI-41 inside a ProvideAndRegisterDocumentSetRequest, "
                            "else ITI-42)")
    check.add_argument("--mpi-oid", metavar="OID",
                       help="require every patientId to be an MPI-PID of this assigning authority")
    check.set_defaults(func=cmd_check, handler=cmd_check)
    return p


def _settings(args):
    settings = getattr(args, "settings", None)
    if settings is None:
        settings = load_settings(getattr(args, "config", None))
    return settings


def _load(args, err: TextIO) -> ValueSets | None:
    path = getattr(args, "valuesets", None) or _settings(args).valuesets_file or None
    try:
        return ValueSets.load(path)
    except ValueSetError as exc:
        print(f"error: {exc}", file=err)
        return None


def cmd_show(args, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    vs = _load(args, err)
    if vs is None:
        return EXIT_UNUSABLE
    name = getattr(args, "name", None)
    if name:
        return _show_one(vs, name, args, out, err)
    if getattr(args, "json", False):
        json.dump({"version": vs.version, "source": vs.source, "sha256": vs.sha256,
                   "classTypePairing": vs.class_type_map_version, "valueSets": vs.summary()},
                  out, indent=2, ensure_ascii=False)
        out.write("\n")
        return EXIT_OK
    print(f"annex 3 release: {vs.version}", file=out)
    print(f"source: {vs.source}  sha256: {vs.sha256}", file=out)
    pairing = f"enforced (map {vs.class_type_map_version})" if vs.enforces_class_type_pairing else "not enforced"
    print(f"classCode/typeCode pairing: {pairing}", file=out)
    rows = vs.summary()
    for r in rows:       # legacy entries carry a prose "version"; keep the table readable
        r["version"] = r["version"] if len(r["version"]) <= 24 else r["version"][:23] + "…"
    w_name = max(len(r["name"]) for r in rows)
    w_oid = max(len(r["oid"]) for r in rows)
    w_ver = max(len(r["version"]) for r in rows)
    print(f"{'NAME':<{w_name}}  {'OID':<{w_oid}}  {'VERSION':<{w_ver}}  {'CODES':>5}  TITLE", file=out)
    for r in rows:
        print(f"{r['name']:<{w_name}}  {r['oid']:<{w_oid}}  {r['version']:<{w_ver}}  {r['codes']:>5}  {r['title']}",
              file=out)
    return EXIT_OK


def _show_one(vs: ValueSets, name: str, args, out: TextIO, err: TextIO) -> int:
    try:
        v = vs.get(name)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=err)
        return EXIT_UNUSABLE
    rows = [{"code": c["code"], "system": c.get("system") or "", "display": v.display(c["code"])} for c in v.codes]
    if getattr(args, "json", False):
        json.dump({"name": v.name, "title": v.title, "oid": v.oid, "version": v.version,
                   "xdsAttribute": v.xds_attribute, "release": vs.version, "codes": rows},
                  out, indent=2, ensure_ascii=False)
        out.write("\n")
        return EXIT_OK
    print(f"{v.name}: {v.title}", file=out)
    print(f"OID {v.oid}, version {v.version}; XDS attribute {v.xds_attribute}; annex 3 release {vs.version}",
          file=out)
    print(f"{len(rows)} codes", file=out)
    w_code = max(4, *(len(r["code"]) for r in rows))
    w_sys = max(6, *(len(r["system"]) for r in rows))
    print(f"{'CODE':<{w_code}}  {'SYSTEM':<{w_sys}}  DISPLAY", file=out)
    for r in rows:
        print(f"{r['code']:<{w_code}}  {r['system']:<{w_sys}}  {r['display']}".rstrip(), file=out)
    return EXIT_OK


def cmd_check(args, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    vs = _load(args, err)
    if vs is None:
        return EXIT_UNUSABLE
    from gateway.soap.fault import SoapFault
    from gateway.soap.xml import parse_xml
    try:
        with open(args.file, "rb") as fh:
            root = parse_xml(fh)
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc}", file=err)
        return EXIT_UNUSABLE
    except (SoapFault, Exception) as exc:  # lxml syntax errors, DOCTYPE refusal
        print(f"error: {args.file} is not acceptable XML: {exc}", file=err)
        return EXIT_UNUSABLE
    sor = find_submit_objects_request(root)
    if sor is None:
        print(f"error: {args.file} holds no lcm:SubmitObjectsRequest", file=err)
        return EXIT_UNUSABLE
    allow = args.allow_folders if getattr(args, "allow_folders", None) is not None else _settings(args).allow_folders
    transaction = getattr(args, "transaction", None)
    for_register = None if transaction is None else transaction == "ITI-42"
    errors = check_submission_element(sor, vs, for_register=for_register, allow_folders=allow,
                                      mpi_oid=getattr(args, "mpi_oid", None))
    for e in errors:
        loc = f" [{e.location}]" if e.location else ""
        print(f"{e.code}{loc}: {e.context}", file=out)
    if errors:
        print(f"{len(errors)} error(s); annex 3 release {vs.version}", file=out)
        return EXIT_ERRORS
    print(f"OK: no errors; annex 3 release {vs.version}", file=out)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m gateway.commands.valuesets``) until the gateway CLI wires it."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="TOML", help="configuration file (default: EPD_CONFIG)")
    parser = argparse.ArgumentParser(prog="epd-gateway")
    register(parser.add_subparsers(dest="command", required=True), common)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
