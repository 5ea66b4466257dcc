#!/usr/bin/env python3
"""Copy the HL7 V3 Normative Edition 2008 schemas that PIX V3 / PDQ V3 need into
``wsdl/schema/hl7v3/NE2008/``, pruned to the interactions the gateway serves.

IHE ITI PIXV3 (ITI-44, ITI-45) and PDQV3 (ITI-47) use the HL7 V3 2008 Normative Edition
"multicacheschemas" (one schema per interaction, each including its message types) over the
"coreschemas" (datatypes, vocabulary, infrastructure). This tool takes the interaction schemas in
:data:`INTERACTIONS`, follows their ``xs:include``s, and copies exactly the files reached (the
normative files, byte for byte but for the line noted below), then prunes ``voc.xsd`` (830 KB of
vocabulary types, most used by no served message) to the simple types the copied files refer to,
transitively. Nothing else is changed: every copied definition is the normative one.

Source used (the files are not on PyPI by themselves): the ``koap`` wheel on PyPI carries gematik's
``api-telematik`` tree, whose ``ext/HL7V3/NE2008`` is the HL7 V3 NE2008 schema set with one added
comment line per file (``<!-- gematik revision="..." -->``), dropped here::

    pip download --no-deps -d /tmp/koap koap==0.4.0
    unzip -q /tmp/koap/koap-0.4.0-py3-none-any.whl -d /tmp/koap/x
    python schemas/vendor_hl7v3.py /tmp/koap/x/koap/api-telematik/ext/HL7V3/NE2008

(IPF, ``commons/ihe/hl7v3/src/main/resources/schema/HL7V3/NE2008``, holds the same files.)
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "wsdl" / "schema" / "hl7v3" / "NE2008"

#: the interactions served: PIX V3 (ITI-44 add/revise/merge + ack, ITI-45 query/response),
#: PDQ V3 (ITI-47 query/response, continuation and cancel)
INTERACTIONS = ("PRPA_IN201301UV02", "PRPA_IN201302UV02", "PRPA_IN201304UV02", "MCCI_IN000002UV01",
                "PRPA_IN201309UV02", "PRPA_IN201310UV02", "PRPA_IN201305UV02", "PRPA_IN201306UV02",
                "QUQI_IN000003UV01")

XS = "http://www.w3.org/2001/XMLSchema"
_VENDOR_LINE = re.compile(rb'<!-- gematik revision="[^"]*" -->\r?\n')
_NAME_REF = re.compile(r'(?:type|base|itemType|memberTypes)="([^"]+)"')


def closure(source: Path) -> list[str]:
    """The schema files reached from the interactions, relative to ``source``, sorted."""
    todo = [f"multicacheschemas/{name}.xsd" for name in INTERACTIONS]
    seen: set[str] = set()
    while todo:
        rel = os.path.normpath(todo.pop())
        if rel in seen:
            continue
        seen.add(rel)
        text = (source / rel).read_text(encoding="utf-8")
        todo += [os.path.join(os.path.dirname(rel), loc) for loc in re.findall(r'schemaLocation="([^"]+)"', text)]
    return sorted(seen)


def _referenced_names(texts: list[str]) -> set[str]:
    names: set[str] = set()
    for text in texts:
        for value in _NAME_REF.findall(text):
            names.update(v.rpartition(":")[2] for v in value.split())
    return names


def kept_vocabulary(voc: etree._Element, used_elsewhere: set[str]) -> set[str]:
    """Names of the simple types of ``voc.xsd`` referred to by other files, transitively."""
    by_name = {t.get("name"): t for t in voc.iterchildren("{%s}simpleType" % XS)}
    keep: set[str] = set()
    todo = [n for n in used_elsewhere if n in by_name]
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        keep.add(name)
        todo += [n for n in _referenced_names([etree.tostring(by_name[name], encoding="unicode")])
                 if n in by_name and n not in keep]
    return keep


def referenced_outside_vocabulary(folder: Path) -> set[str]:
    """Type names the schema files of ``folder`` (but voc.xsd) refer to."""
    return _referenced_names([p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*.xsd"))
                              if p.name != "voc.xsd"])


def prune_vocabulary(voc: bytes, used_elsewhere: set[str]) -> bytes:
    """``voc.xsd`` with only the simple types that other files (or kept types) refer to."""
    doc = etree.fromstring(voc, etree.XMLParser(remove_blank_text=False, resolve_entities=False, no_network=True))
    by_name = {t.get("name"): t for t in doc.iterchildren("{%s}simpleType" % XS)}
    keep = kept_vocabulary(doc, used_elsewhere)
    for name, node in by_name.items():
        if name not in keep:
            prev = node.getprevious()
            # keep the surrounding whitespace tidy: the node's tail goes with it
            if prev is not None:
                prev.tail = node.tail if prev.tail is None or not prev.tail.strip() else prev.tail
            else:
                doc.text = node.tail
            doc.remove(node)
    note = (f"<!-- epd-gateway: HL7 V3 NE2008 voc.xsd pruned by schemas/vendor_hl7v3.py to the {len(keep)} "
            f"simple types (of {len(by_name)}) that the served PIX V3 / PDQ V3 interactions refer to; "
            "each kept definition is unchanged. -->\n").encode()
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + note + etree.tostring(doc, encoding="UTF-8") + b"\n"


def vendor(source: Path, out: Path = OUT) -> list[str]:
    files = closure(source)
    contents = {rel: _VENDOR_LINE.sub(b"", (source / rel).read_bytes()) for rel in files}
    used = _referenced_names([contents[rel].decode("utf-8") for rel in files if not rel.endswith("voc.xsd")])
    voc = "coreschemas/voc.xsd"
    if voc in contents:
        contents[voc] = prune_vocabulary(contents[voc], used)
    for rel, data in contents.items():
        assert b"gematik" not in data, rel
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    for stale in out.rglob("*.xsd"):
        if stale.relative_to(out).as_posix() not in contents:
            stale.unlink()
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", type=Path, help="an HL7 V3 NE2008 folder (with coreschemas/ and multicacheschemas/)")
    args = ap.parse_args(argv)
    files = vendor(args.source)
    print(f"wrote {len(files)} files to {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
