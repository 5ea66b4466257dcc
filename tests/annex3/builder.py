"""A small builder of valid Swiss ITI-41 submissions (lxml), based on the EPR-by-example sample.

``build_sor(n)`` clones the sample's DocumentEntry ``n`` times (fresh ids) and, with ``rich=True``,
fills every attribute annex 3 constrains with a valid value, so a mutation of any one attribute is
visible. Mutators edit the lxml tree in place; ``parse`` turns it into the model.
"""
from __future__ import annotations

import copy
import uuid
from pathlib import Path

from lxml import etree

from profiles.ch.annex3 import find_submit_objects_request
from profiles.ch.identifiers import gs1_check_digit
from profiles.xds import constants as C
from profiles.xds.ebrim import parse_submission, set_slot

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "iti41_epr_by_example.xml"
R = C.rim

SNOMED = "2.16.840.1.113883.6.96"
MPI_OID = "1.3.6.1.4.1.12559.11.20.1"          # the sample's patient id domain
LOCAL_OID = "2.999.1.2.3"                      # a source's local id domain
EPR_ROLE_OID = "2.16.756.5.30.1.127.3.10.6"
GLN_OID = "2.51.1.3"


def make_gln(body12: str = "760100000001") -> str:
    return body12 + str(gs1_check_digit(body12))


VALID_GLN = make_gln()
BAD_GLN = VALID_GLN[:-1] + str((int(VALID_GLN[-1]) + 1) % 10)


def make_spid(body17: str = "76133761234567890") -> str:
    return body17 + str(gs1_check_digit(body17))


def make_navs(body12: str = "756123456789") -> str:
    return body12 + str(gs1_check_digit(body12))


def new_id() -> str:
    return "urn:uuid:" + str(uuid.uuid4())


def load_sample_root():
    return etree.parse(str(SAMPLE)).getroot()


def sample_sor():
    return find_submit_objects_request(load_sample_root())


def _rol(sor):
    return sor.find(R("RegistryObjectList"))


def documents(sor):
    return _rol(sor).findall(R("ExtrinsicObject"))


def submission_set(sor):
    for p in _rol(sor).findall(R("RegistryPackage")):
        return p
    raise AssertionError("no RegistryPackage")


def _reid(el, new: str) -> None:
    old = el.get("id")
    el.set("id", new)
    for child in el.iter():
        for attr in ("classifiedObject", "registryObject"):
            if child.get(attr) == old:
                child.set(attr, new)
        if child is not el and child.tag in (R("Classification"), R("ExternalIdentifier")):
            child.set("id", new_id())


def classification(el, scheme: str):
    for cl in el.findall(R("Classification")):
        if cl.get("classificationScheme") == scheme:
            return cl
    return None


def set_code(el, scheme: str, code: str, coding_scheme: str, display: str = "x") -> None:
    """Replace (or add) the classification of ``scheme`` with code/codingScheme."""
    for cl in el.findall(R("Classification")):
        if cl.get("classificationScheme") == scheme:
            el.remove(cl)
    add_code(el, scheme, code, coding_scheme, display)


def add_code(el, scheme: str, code: str, coding_scheme: str, display: str = "x") -> None:
    cl = etree.Element(R("Classification"), classificationScheme=scheme, classifiedObject=el.get("id"),
                       nodeRepresentation=code, id=new_id())
    cl.append(_slot("codingScheme", [coding_scheme]))
    name = etree.SubElement(cl, R("Name"))
    etree.SubElement(name, R("LocalizedString"), value=display)
    anchor = el.find(R("ExternalIdentifier"))
    if anchor is not None:
        anchor.addprevious(cl)
    else:
        el.append(cl)


def remove_codes(el, scheme: str) -> None:
    for cl in el.findall(R("Classification")):
        if cl.get("classificationScheme") == scheme:
            el.remove(cl)


def _slot(name, values):
    slot = etree.Element(R("Slot"), name=name)
    vl = etree.SubElement(slot, R("ValueList"))
    for v in values:
        etree.SubElement(vl, R("Value")).text = v
    return slot


def set_classification_slot(cl, name: str, values) -> None:
    for old in cl.findall(R("Slot")):
        if old.get("name") == name:
            cl.remove(old)
    slots = cl.findall(R("Slot"))
    new = _slot(name, values)
    if slots:
        slots[-1].addnext(new)
    else:
        cl.insert(0, new)


def set_author(el, scheme: str, name: str, values) -> None:
    """Set a slot (authorPerson, authorRole...) of the first author classification of ``el``."""
    set_classification_slot(classification(el, scheme), name, values)


def set_title(el, title: str | None) -> None:
    old = el.find(R("Name"))
    if old is not None:
        el.remove(old)
    if title is None:
        return
    name = etree.Element(R("Name"))
    etree.SubElement(name, R("LocalizedString"), value=title)
    first_cl = el.find(R("Classification"))
    if first_cl is not None:
        first_cl.addprevious(name)
    else:
        el.append(name)


def set_external_id(el, scheme: str, value: str) -> None:
    for ei in el.findall(R("ExternalIdentifier")):
        if ei.get("identificationScheme") == scheme:
            ei.set("value", value)
            return
    raise AssertionError(f"no ExternalIdentifier {scheme}")


def enrich_document(doc) -> None:
    """Give the sample document every annex 3 attribute, each with a valid value."""
    set_slot(doc, "sourcePatientId", [f"L-4711^^^&{LOCAL_OID}&ISO"])
    set_slot(doc, "sourcePatientInfo", [f"PID-3|L-4711^^^&{LOCAL_OID}&ISO", "PID-5|Muster^Franz",
                                        "PID-7|19800101", "PID-8|female"])
    set_slot(doc, "legalAuthenticator", [f"{VALID_GLN}^Mustermann^Max^^^Dr.^^^&{GLN_OID}&ISO"])
    set_slot(doc, "urn:ihe:iti:xds:2013:referenceIdList",
             [f"ORD-1^^^&{LOCAL_OID}&ISO^urn:ihe:iti:xds:2013:order"])
    set_slot(doc, C.SLOT_DELETION_STATUS, ["urn:e-health-suisse:2019:deletionStatus:deletionNotRequested"])
    set_author(doc, C.DE_AUTHOR, "authorPerson", [f"{VALID_GLN}^Mustermann^Max^^^Dr.^^^&{GLN_OID}&ISO"])
    set_author(doc, C.DE_AUTHOR, "authorInstitution", [f"Spital Muster^^^^^&{GLN_OID}&ISO^^^^{VALID_GLN}"])
    add_code(doc, C.DE_EVENT_CODE, "CT", "1.2.840.10008.2.16.4", "Computed Tomography")


def build_sor(n_docs: int = 1, *, rich: bool = True):
    """A SubmitObjectsRequest with ``n_docs`` valid DocumentEntries (fresh ids each)."""
    sor = sample_sor()
    rol = _rol(sor)
    template = documents(sor)[0]
    ss = submission_set(sor)
    assoc_template = rol.find(R("Association"))
    rol.remove(template)
    rol.remove(assoc_template)
    if rich:
        set_slot(ss, "intendedRecipient", [f"Spital Muster^^^^^&{GLN_OID}&ISO^^^^{VALID_GLN}"])
        set_author(ss, C.SS_AUTHOR, "authorPerson", [f"{VALID_GLN}^Mustermann^Max^^^Dr.^^^&{GLN_OID}&ISO"])
    for k in range(n_docs):
        doc = copy.deepcopy(template)
        _reid(doc, new_id())
        set_external_id(doc, C.DE_UNIQUE_ID, f"2.25.{uuid.uuid4().int}")
        if rich:
            enrich_document(doc)
        ss.addprevious(doc)
        assoc = copy.deepcopy(assoc_template)
        assoc.set("id", new_id())
        assoc.set("targetObject", doc.get("id"))
        rol.append(assoc)
    return sor


def parse(sor):
    sub, errors = parse_submission(sor)
    assert errors == [], errors
    return sub


def serialize_envelope(sor) -> bytes:
    return etree.tostring(sor.getroottree().getroot(), xml_declaration=True, encoding="UTF-8")
