"""The patient's default confidentiality applied to a document being provided.

The patient's provide level (template 203) is the lowest confidentiality a new document gets: a
less restrictive confidentialityCode from the provider is raised to it (the provider cannot lower
it). The document's model and its ebRIM element (what the registry stores and returns) are changed
together, so the registered metadata says what the rights engine decides on.
"""
from __future__ import annotations

from lxml import etree

from profiles.adr import model as M
from profiles.xds import constants as C
from profiles.xds.metadata import Code, DocumentEntry

DISPLAY = {M.NORMAL: "Normal", M.RESTRICTED: "Restricted", M.SECRET: "Secret"}


def raise_confidentiality(doc: DocumentEntry, level: str) -> bool:
    """Give ``doc`` the single confidentialityCode of ``level`` when its own is less restrictive.
    Returns True when the document was changed."""
    current = M.level_of_codes([(c.code, c.scheme) for c in doc.confidentiality_codes])
    if doc.confidentiality_codes and M.rank(current) >= M.rank(level):
        return False
    code, scheme = M.CONFIDENTIALITY_CODES[level]
    doc.confidentiality_codes = [Code(code, scheme, DISPLAY[level])]
    el = doc.element
    if el is None:
        return True
    rim = "{%s}" % C.NS_RIM
    existing = [c for c in el.findall(rim + "Classification")
                if c.get("classificationScheme") == C.DE_CONFIDENTIALITY_CODE]
    keep = existing[0] if existing else None
    for extra in existing[1:]:
        el.remove(extra)
    if keep is None:
        keep = etree.SubElement(el, rim + "Classification")
        keep.set("classificationScheme", C.DE_CONFIDENTIALITY_CODE)
        keep.set("classifiedObject", doc.entry_uuid)
        keep.set("id", f"{doc.entry_uuid}-confidentiality")
        keep.set("objectType", "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification")
    for child in list(keep):
        keep.remove(child)
    keep.set("nodeRepresentation", code)
    slot = etree.SubElement(keep, rim + "Slot", name="codingScheme")
    etree.SubElement(etree.SubElement(slot, rim + "ValueList"), rim + "Value").text = scheme
    etree.SubElement(etree.SubElement(keep, rim + "Name"), rim + "LocalizedString", value=DISPLAY[level])
    return True
