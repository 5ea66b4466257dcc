#!/usr/bin/env python3
"""Write ``wsdl/schema/expanded/``: the ebRS 3.0 and XDS.b schemas with every XML Schema
substitution group expanded into an ``xsd:choice`` of its members, and the HL7 V3 schemas of PIX V3 /
PDQ V3 with their text-only data types as simple content: copies of the official schemas that SOAP
toolkits such as zeep can use (the HL7 rewrite: :func:`hl7_text_types_as_simple_content`,
:func:`flatten_nested_unions`).

Why: ebRIM's ``RegistryObjectList`` holds ``rim:Identifiable``, a substitution-group head whose
members are ``ExtrinsicObject``, ``RegistryPackage``, ``Association``, ``Classification``,
``ObjectRef``... SOAP toolkits without substitution group support (zeep: python-zeep issue #321)
refuse those members in strict mode ("Unexpected element rim:ExtrinsicObject"). The WSDLs served
at ``?wsdl`` import the expanded copies; the official schemas stay at ``wsdl/schema/ebRS`` and
``wsdl/schema/IHE`` (served at ``?xsd=schema/ebRS/rim.xsd`` ...) for validators.

The rewrite, on the whole schema set at once:

* every global element declaration with ``substitutionGroup="H"`` loses that attribute (it is
  named instead in the choice below; keeping it would make the choice ambiguous: UPA);
* every particle ``<element ref="H" minOccurs=".." maxOccurs=".."/>`` whose ``H`` heads a
  non-empty group becomes ``<choice minOccurs=".." maxOccurs="..">`` of ``<element ref=".."/>``
  for ``H`` itself (unless abstract) and each member, transitively (``rim:AdhocQuery`` is a member
  of ``rim:RegistryObject``, itself a member of ``rim:Identifiable``), members not abstract, in
  document order;
* nothing else changes; each written file gets a header saying where it comes from.

An element is then valid against the expanded set exactly when it is valid against the official
one (tests/clients/test_expanded_schemas.py checks this on the IHE test vectors).

Usage (from the project root)::

    python schemas/expand_substitution_groups.py           # (re)write wsdl/schema/expanded/
    python schemas/expand_substitution_groups.py --check   # exit 1 if the files are out of date
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
WSDL_DIR = ROOT / "wsdl"
#: the official schemas, relative to wsdl/; the expanded copies keep the same relative paths
SOURCES = ("schema/ebRS/xml.xsd", "schema/ebRS/rim.xsd", "schema/ebRS/rs.xsd", "schema/ebRS/lcm.xsd",
           "schema/ebRS/query.xsd", "schema/IHE/XDS.b_DocumentRepository.xsd")
OUT_PREFIX = "schema/expanded/"

XS = "http://www.w3.org/2001/XMLSchema"
_X = "{%s}" % XS
_OCCURS = ("minOccurs", "maxOccurs")


def _qname(el: etree._Element, value: str) -> tuple[str | None, str]:
    prefix, _, local = value.rpartition(":")
    return el.nsmap.get(prefix or None), local


def _parse(path: Path) -> etree._ElementTree:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=False)
    return etree.parse(str(path), parser)


def expand(docs: dict[str, etree._ElementTree]) -> dict[str, etree._ElementTree]:
    """Expand the substitution groups of a whole schema set in place; returns ``docs``."""
    decls: dict[tuple[str | None, str], etree._Element] = {}
    order: list[tuple[str | None, str]] = []
    for tree in docs.values():
        schema = tree.getroot()
        tns = schema.get("targetNamespace")
        for el in schema.iterchildren(_X + "element"):
            key = (tns, el.get("name"))
            decls[key] = el
            order.append(key)

    direct: dict[tuple[str | None, str], list[tuple[str | None, str]]] = {}
    for key in order:
        head = decls[key].get("substitutionGroup")
        if head:
            direct.setdefault(_qname(decls[key], head), []).append(key)

    def members(head: tuple[str | None, str]) -> list[tuple[str | None, str]]:
        out: list[tuple[str | None, str]] = []
        for m in direct.get(head, ()):
            out.append(m)
            out.extend(members(m))
        return out

    def abstract(key: tuple[str | None, str]) -> bool:
        return decls[key].get("abstract") in ("true", "1")

    for tree in docs.values():
        schema = tree.getroot()
        for ref_el in list(schema.iter(_X + "element")):
            ref = ref_el.get("ref")
            if not ref:
                continue
            head = _qname(ref_el, ref)
            if not direct.get(head):
                continue
            choice = etree.Element(_X + "choice", nsmap=ref_el.nsmap)
            for attr in _OCCURS:
                if ref_el.get(attr) is not None:
                    choice.set(attr, ref_el.get(attr))
            choice.tail = ref_el.tail
            options = ([head] if not abstract(head) else []) + sorted(
                (m for m in dict.fromkeys(members(head)) if not abstract(m)), key=order.index)
            prev = ref_el.getprevious()
            base = "\n" + (((prev.tail if prev is not None else ref_el.getparent().text) or "").split("\n")[-1])
            choice.text = base + "  "
            for i, (ns, local) in enumerate(options):
                option = etree.SubElement(choice, _X + "element")
                option.set("ref", _prefixed(ref_el, ns, local))
                option.tail = base + "  " if i < len(options) - 1 else base
            ref_el.getparent().replace(ref_el, choice)
    for key in order:
        decls[key].attrib.pop("substitutionGroup", None)
    return docs


_PARTICLES = tuple(_X + n for n in ("sequence", "choice", "all", "group"))
_ATTRS = tuple(_X + n for n in ("attribute", "attributeGroup", "anyAttribute"))


def flatten_extension_cycles(docs: dict[str, etree._ElementTree]) -> list[str]:
    """Inline the base of every complex type that extends a type of its own document and lies on a
    cycle of type references; returns the names of the types flattened.

    zeep builds a new type object for each ``xsd:extension`` and hands a half-built one to any
    reference it meets while resolving the base (python-zeep issues #1070, #1407): ebRIM's
    ``ClassificationType`` extends ``RegistryObjectType``, whose content holds ``rim:Classification``,
    so zeep's ClassificationType lost ``rim:Slot`` and ``@id``. A type whose content model is
    written out (the base's particle, then its own, in a sequence; the base's attributes, then its
    own: what XSD's extension means) resolves in place. Only the derivation is lost, so such a type
    no longer stands for its base under ``xsi:type``, which no IHE message uses.
    """
    types: dict[tuple[str | None, str], tuple[etree._Element, str]] = {}
    elements: dict[tuple[str | None, str], etree._Element] = {}
    for rel, tree in docs.items():
        schema = tree.getroot()
        tns = schema.get("targetNamespace")
        for ct in schema.iterchildren(_X + "complexType"):
            types[(tns, ct.get("name"))] = (ct, rel)
        for el in schema.iterchildren(_X + "element"):
            elements[(tns, el.get("name"))] = el

    def deps(node: etree._Element) -> set[tuple[str | None, str]]:
        out = set()
        for el in node.iter(_X + "element", _X + "extension", _X + "restriction"):
            for attr in ("type", "base"):
                if el.get(attr):
                    key = _qname(el, el.get(attr))
                    if key in types:
                        out.add(key)
            if el.get("ref"):
                target = elements.get(_qname(el, el.get("ref")))
                if target is not None:
                    out |= deps(target) if target.get("type") is None else (
                        {_qname(target, target.get("type"))} & types.keys())
        return out

    graph = {key: deps(ct) for key, (ct, _) in types.items()}

    def on_cycle(start: tuple[str | None, str]) -> bool:
        seen, todo = set(), list(graph[start])
        while todo:
            key = todo.pop()
            if key == start:
                return True
            if key not in seen:
                seen.add(key)
                todo.extend(graph.get(key, ()))
        return False

    def effective(key: tuple[str | None, str]) -> tuple[etree._Element | None, list[etree._Element]]:
        ct, _ = types[key]
        cc = ct.find(_X + "complexContent")
        if cc is None:
            particle = next((c for c in ct if c.tag in _PARTICLES), None)
            return particle, [c for c in ct if c.tag in _ATTRS]
        ext = cc.find(_X + "extension")
        own = next((c for c in ext if c.tag in _PARTICLES), None)
        base_particle, base_attrs = effective(_qname(ext, ext.get("base")))
        if base_particle is not None and own is not None:
            particle = etree.Element(_X + "sequence")
            for part in (base_particle, own):
                plain = part.tag == _X + "sequence" and all(part.get(a, "1") == "1" for a in _OCCURS)
                particle.extend(copy.deepcopy(c) for c in (part if plain else [part]))
        else:
            particle = base_particle if own is None else own
        return particle, base_attrs + [c for c in ext if c.tag in _ATTRS]

    def flattenable(key: tuple[str | None, str]) -> bool:
        ct, rel = types[key]
        cc = ct.find(_X + "complexContent")
        if cc is None:
            return False
        ext = cc.find(_X + "extension")
        if ext is None or cc.get("mixed") is not None or ext.find(_X + "anyAttribute") is not None:
            return False
        base = _qname(ext, ext.get("base"))
        return base in types and types[base][1] == rel and (
            types[base][0].find(_X + "complexContent") is None or flattenable(base))

    done = []
    plan = [key for key in types if flattenable(key) and on_cycle(key)]
    rewritten = {key: effective(key) for key in plan}
    for key in plan:
        ct, _ = types[key]
        particle, attrs = rewritten[key]
        cc = ct.find(_X + "complexContent")
        anchor = cc.getprevious()
        tail = cc.tail
        ct.remove(cc)
        new = ([copy.deepcopy(particle)] if particle is not None else []) + [copy.deepcopy(a) for a in attrs]
        for node in new:
            node.tail = None
        index = ct.index(anchor) + 1 if anchor is not None else 0
        for offset, node in enumerate(new):
            ct.insert(index + offset, node)
        if new:
            new[-1].tail = tail
        etree.indent(ct, space="  ", level=1)
        done.append(key[1])
    return done


def _attribute_uses(ct: etree._Element, types: dict[str, etree._Element]) -> list[etree._Element]:
    """The attribute declarations in force on a complex type of the (chameleon) HL7 core schemas:
    its base's, overridden by name by its own, those ``use="prohibited"`` removed."""
    cc = ct.find(_X + "complexContent")
    if cc is None:
        return [a for a in ct if a.tag == _X + "attribute"]
    derivation = next(c for c in cc if c.tag in (_X + "extension", _X + "restriction"))
    uses = {a.get("name"): a for a in _attribute_uses(types[derivation.get("base")], types)}
    for attr in derivation.iterchildren(_X + "attribute"):
        if attr.get("use") == "prohibited":
            uses.pop(attr.get("name"), None)
        else:
            uses[attr.get("name")] = attr
    return list(uses.values())


def _may_hold_elements(ct: etree._Element, types: dict[str, etree._Element]) -> bool:
    cc = ct.find(_X + "complexContent")
    holder = ct if cc is None else next(c for c in cc if c.tag in (_X + "extension", _X + "restriction"))
    own = [e for e in holder.iter(_X + "element", _X + "any", _X + "group") if e.get("maxOccurs") != "0"]
    if own:
        return True
    if cc is None or holder.tag == _X + "restriction":
        return False    # a restriction without (occurring) particles has no element content
    return _may_hold_elements(types[holder.get("base")], types)


def hl7_text_types_as_simple_content(docs: dict[str, etree._ElementTree]) -> list[str]:
    """Rewrite the HL7 V3 data types whose content is text only (``ST`` and the types built on it:
    name and address parts ``ENXP``/``en.*``, ``ADXP``/``adxp.*``, ``SC``) from mixed complex
    content to ``xs:simpleContent`` of ``xs:string`` with the attributes in force on them.

    zeep ignores ``mixed="true"``: it can neither send nor read the text of ``<family>Muster</family>``
    or ``<semanticsText>Patient.id</semanticsText>`` (and renders an ST as ``<reference/>``). A
    mixed type that allows no element is text plus attributes: simple content says the same. Only
    types all of whose derived types are rewritten too are rewritten (``BIN``, the base of ``ED``,
    stays); the derivation from ``ANY`` is lost (``xsi:type="ST"`` on an element declared ``ANY``).
    """
    types: dict[str, etree._Element] = {}
    for tree in docs.values():
        for ct in tree.getroot().iterchildren(_X + "complexType"):
            types[ct.get("name")] = ct
    derived: dict[str, list[str]] = {}
    for name, ct in types.items():
        cc = ct.find(_X + "complexContent")
        if cc is not None:
            for d in cc:
                if d.tag in (_X + "extension", _X + "restriction"):
                    derived.setdefault(d.get("base"), []).append(name)
    text_only = {n for n, ct in types.items() if ct.get("mixed") == "true" and not _may_hold_elements(ct, types)}

    def all_derived_text_only(name: str) -> bool:
        return all(d in text_only and all_derived_text_only(d) for d in derived.get(name, ()))

    plan = [n for n in types if n in text_only and all_derived_text_only(n)]
    rewritten = {n: [copy.deepcopy(a) for a in _attribute_uses(types[n], types)] for n in plan}
    for name in plan:
        ct = types[name]
        prefix = next(p for p, uri in ct.nsmap.items() if uri == XS)
        for child in list(ct):
            if child.tag not in (_X + "annotation", etree.Comment):
                ct.remove(child)
        del ct.attrib["mixed"]
        simple = etree.SubElement(ct, _X + "simpleContent")
        ext = etree.SubElement(simple, _X + "extension", base=f"{prefix}:string")
        ext.extend(rewritten[name])
        etree.indent(ct, space="  ", level=1)
    return plan


def flatten_nested_unions(docs: dict[str, etree._ElementTree]) -> list[str]:
    """Replace each member of an ``xs:union`` that is itself a named union by that union's members
    (the same value space). zeep cannot use a union of unions (``UnionType.__init__() missing
    item_types``): HL7 V3 vocabulary attributes such as ``classCode`` were read as None."""
    unions: dict[str, etree._Element] = {}
    for tree in docs.values():
        for st_el in tree.getroot().iterchildren(_X + "simpleType"):
            u = st_el.find(_X + "union")
            if u is not None:
                unions[st_el.get("name")] = u

    def flat(union: etree._Element, seen: frozenset) -> tuple[list[str], list[etree._Element]]:
        names, inline = [], [copy.deepcopy(c) for c in union.iterchildren(_X + "simpleType")]
        for member in (union.get("memberTypes") or "").split():
            local = member.rpartition(":")[2]
            if local in unions and local not in seen:
                sub_names, sub_inline = flat(unions[local], seen | {local})
                names += sub_names
                inline += sub_inline
            else:
                names.append(member)
        return list(dict.fromkeys(names)), inline

    changed = []
    for name, union in unions.items():
        members = (union.get("memberTypes") or "").split()
        if not any(m.rpartition(":")[2] in unions for m in members):
            continue
        names, inline = flat(union, frozenset({name}))
        for child in list(union.iterchildren(_X + "simpleType")):
            union.remove(child)
        if names:
            union.set("memberTypes", " ".join(names))
        else:
            union.attrib.pop("memberTypes", None)
        union.extend(inline)
        changed.append(name)
    return changed


def _prefixed(el: etree._Element, ns: str | None, local: str) -> str:
    for prefix, uri in el.nsmap.items():
        if uri == ns and prefix is not None:
            return f"{prefix}:{local}"
    raise ValueError(f"no prefix for {{{ns}}} in scope at line {el.sourceline}")


def _header(rel: str) -> etree._Comment:
    if rel.startswith("schema/hl7v3/"):
        what = ("     HL7 V3 text-only data types (ST, name and address parts) as simple content, unions of\n"
                "     unions flattened, for SOAP toolkits without mixed content support (zeep); the same\n"
                "     instances are valid (schemas/README.md). Validators: use the normative schema, at\n"
                f"     wsdl/{rel}. ")
    else:
        what = ("     XML Schema substitution groups expanded into xsd:choice of their members, for SOAP\n"
                "     toolkits without substitution group support (zeep, python-zeep issue #321); the same\n"
                "     instances are valid. Validators: use the official schema, served beside this one. ")
    return etree.Comment(f" GENERATED by schemas/expand_substitution_groups.py from wsdl/{rel}: do not edit.\n" + what)


def hl7_sources(wsdl_dir: Path = WSDL_DIR) -> list[str]:
    folder = wsdl_dir / "schema" / "hl7v3"
    return sorted(p.relative_to(wsdl_dir).as_posix() for p in folder.rglob("*.xsd"))


def generate(wsdl_dir: Path = WSDL_DIR) -> dict[str, bytes]:
    """The expanded files, as ``{path relative to wsdl/: content}``."""
    docs = {rel: _parse(wsdl_dir / rel) for rel in SOURCES}
    expand(docs)
    flatten_extension_cycles(docs)
    hl7 = {rel: _parse(wsdl_dir / rel) for rel in hl7_sources(wsdl_dir)}
    hl7_text_types_as_simple_content(hl7)
    flatten_nested_unions(hl7)
    out = {}
    for rel, tree in {**docs, **hl7}.items():
        root = tree.getroot()
        prolog = [etree.tostring(c, encoding="UTF-8", with_tail=False)
                  for c in reversed(list(root.itersiblings(preceding=True)))]
        parts = [b'<?xml version="1.0" encoding="UTF-8"?>', etree.tostring(_header(rel), encoding="UTF-8"),
                 *prolog, etree.tostring(root, encoding="UTF-8", with_tail=False)]
        out[OUT_PREFIX + rel[len("schema/"):]] = b"\n".join(parts) + b"\n"
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only check that the files are up to date")
    args = ap.parse_args(argv)
    stale = []
    for rel, data in generate().items():
        path = WSDL_DIR / rel
        if path.is_file() and path.read_bytes() == data:
            continue
        stale.append(rel)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    if args.check and stale:
        print("out of date (run schemas/expand_substitution_groups.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    for rel in stale:
        print("wrote wsdl/" + rel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
