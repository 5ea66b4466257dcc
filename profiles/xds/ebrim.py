"""ebRIM 3.0 wire form <-> the metadata model (``metadata.py``).

``parse_submission`` reads a SubmitObjectsRequest into a ``Submission`` and reports every
structural problem it meets (it does not stop at the first). The builders make RegistryResponse
and slot elements. No I/O: lxml elements in, model objects out.
"""
from __future__ import annotations

import uuid
from typing import Iterable

from lxml import etree

from . import constants as C
from .errors import XDS_REGISTRY_METADATA_ERROR, XdsError
from .metadata import (Association, Author, Code, DocumentEntry, Folder, RegistryObject,
                       Submission, SubmissionSet)

R = C.rim
SLOT_REFERENCE_ID_LIST = "urn:ihe:iti:xds:2013:referenceIdList"


def new_uuid() -> str:
    return "urn:uuid:" + str(uuid.uuid4())


def is_uuid_urn(value: str) -> bool:
    if not value or not value.startswith("urn:uuid:"):
        return False
    try:
        uuid.UUID(value[9:])
        return True
    except ValueError:
        return False


T_SLOT = R("Slot")
T_VALUE_LIST = R("ValueList")
T_VALUE = R("Value")
T_NAME = R("Name")
T_DESCRIPTION = R("Description")
T_LOCALIZED = R("LocalizedString")
T_VERSION_INFO = R("VersionInfo")
T_CLASSIFICATION = R("Classification")
T_EXTERNAL_IDENTIFIER = R("ExternalIdentifier")


def read_slots(el) -> dict[str, list[str]]:
    slots: dict[str, list[str]] = {}
    for slot in el.iterchildren(T_SLOT):
        values = slots.setdefault(slot.get("name") or "", [])
        for vl in slot.iterchildren(T_VALUE_LIST):
            values.extend((v.text or "") for v in vl.iterchildren(T_VALUE))
    return slots


def localized(el, tag: str) -> str | None:
    for node in el.iterchildren(R(tag) if not tag.startswith("{") else tag):
        for ls in node.iterchildren(T_LOCALIZED):
            return ls.get("value")
        return None
    return None


def _code(cl) -> Code:
    slots = read_slots(cl)
    scheme = (slots.get("codingScheme") or [""])[0]
    return Code(code=cl.get("nodeRepresentation") or "", scheme=scheme, display=localized(cl, T_NAME) or "")


def _author(cl) -> Author:
    s = read_slots(cl)
    person = (s.get("authorPerson") or [""])[0]
    return Author(person=person, institutions=s.get("authorInstitution", []), roles=s.get("authorRole", []),
                  specialties=s.get("authorSpecialty", []), telecoms=s.get("authorTelecommunication", []))


def _common(obj: RegistryObject, el) -> None:
    obj.element = el
    obj.slots = read_slots(el)
    obj.title = localized(el, T_NAME)
    obj.comments = localized(el, T_DESCRIPTION)
    obj.home_community_id = el.get("home")
    obj.status = el.get("status")
    obj.lid = el.get("lid")
    vi = el.find(T_VERSION_INFO)
    obj.version = vi.get("versionName") if vi is not None else None


class _Reader:
    def __init__(self) -> None:
        self.errors: list[XdsError] = []

    def error(self, context: str, location: str = "", code: str = XDS_REGISTRY_METADATA_ERROR) -> None:
        self.errors.append(XdsError(code, context, location))

    def classifications(self, el, obj_id: str, inner_ids: list[str]) -> dict[str, list]:
        by_scheme: dict[str, list] = {}
        for cl in el.iterchildren(T_CLASSIFICATION):
            inner_ids.append(cl.get("id") or "")
            co = cl.get("classifiedObject")
            if co is not None and co != obj_id:
                self.error(f"Classification {cl.get('id')} classifies {co}, not its parent {obj_id}", obj_id)
            scheme = cl.get("classificationScheme") or cl.get("classificationNode") or ""
            by_scheme.setdefault(scheme, []).append(cl)
        return by_scheme

    def external_ids(self, el, obj_id: str, inner_ids: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for ei in el.iterchildren(T_EXTERNAL_IDENTIFIER):
            inner_ids.append(ei.get("id") or "")
            ro = ei.get("registryObject")
            if ro is not None and ro != obj_id:
                self.error(f"ExternalIdentifier {ei.get('id')} points to {ro}, not its parent {obj_id}", obj_id)
            out.setdefault(ei.get("identificationScheme") or "", []).append(ei.get("value") or "")
        return out

    def single_code(self, by_scheme, scheme: str, name: str, obj_id: str) -> Code | None:
        cls = by_scheme.get(scheme, [])
        if len(cls) > 1:
            self.error(f"{name} must occur at most once, found {len(cls)}", obj_id)
        return _code(cls[0]) if cls else None

    def single_ext(self, ext, scheme: str, name: str, obj_id: str) -> str:
        vals = ext.get(scheme, [])
        if len(vals) > 1:
            self.error(f"{name} must occur once, found {len(vals)}", obj_id)
        return vals[0] if vals else ""

    def document(self, el) -> DocumentEntry:
        doc_id = el.get("id") or ""
        d = DocumentEntry(entry_uuid=doc_id)
        _common(d, el)
        d.object_type = el.get("objectType") or ""
        d.mime_type = el.get("mimeType") or ""
        cls = self.classifications(el, doc_id, d.inner_ids)
        ext = self.external_ids(el, doc_id, d.inner_ids)
        d.class_code = self.single_code(cls, C.DE_CLASS_CODE, "classCode", doc_id)
        d.type_code = self.single_code(cls, C.DE_TYPE_CODE, "typeCode", doc_id)
        d.format_code = self.single_code(cls, C.DE_FORMAT_CODE, "formatCode", doc_id)
        d.practice_setting_code = self.single_code(cls, C.DE_PRACTICE_SETTING_CODE, "practiceSettingCode", doc_id)
        d.healthcare_facility_type_code = self.single_code(
            cls, C.DE_HEALTHCARE_FACILITY_TYPE_CODE, "healthcareFacilityTypeCode", doc_id)
        d.confidentiality_codes = [_code(c) for c in cls.get(C.DE_CONFIDENTIALITY_CODE, [])]
        d.event_codes = [_code(c) for c in cls.get(C.DE_EVENT_CODE, [])]
        d.authors = [_author(c) for c in cls.get(C.DE_AUTHOR, [])]
        d.limited_metadata = C.DE_LIMITED_METADATA in cls
        d.unique_id = self.single_ext(ext, C.DE_UNIQUE_ID, "XDSDocumentEntry.uniqueId", doc_id)
        d.patient_id = self.single_ext(ext, C.DE_PATIENT_ID, "XDSDocumentEntry.patientId", doc_id)
        s = d.slots
        first = lambda name: (s.get(name) or [None])[0]  # noqa: E731
        d.source_patient_id = first("sourcePatientId") or ""
        d.source_patient_info = s.get("sourcePatientInfo", [])
        d.language_code = first("languageCode")
        d.creation_time = first("creationTime")
        d.service_start_time = first("serviceStartTime")
        d.service_stop_time = first("serviceStopTime")
        d.hash = first("hash")
        d.size = first("size")
        d.repository_unique_id = first("repositoryUniqueId")
        d.legal_authenticator = first("legalAuthenticator")
        d.uri = first("URI")
        d.reference_ids = s.get(SLOT_REFERENCE_ID_LIST, [])
        for name in ("creationTime", "languageCode", "sourcePatientId", "hash", "size", "repositoryUniqueId",
                     "serviceStartTime", "serviceStopTime", "legalAuthenticator"):
            if len(s.get(name, [])) > 1:
                self.error(f"slot {name} must have a single value", doc_id)
        return d

    def package(self, el, sub: Submission) -> None:
        pkg_id = el.get("id") or ""
        inner: list[str] = []
        cls = self.classifications(el, pkg_id, inner)
        ext = self.external_ids(el, pkg_id, inner)
        nodes = {c.get("classificationNode") for group in cls.values() for c in group}
        is_ss = C.SUBMISSION_SET_NODE in nodes or pkg_id in sub.classified_submission_sets
        is_fol = C.FOLDER_NODE in nodes or pkg_id in sub.classified_folders
        if C.SS_UNIQUE_ID in ext or C.SS_SOURCE_ID in ext:
            is_ss = is_ss or not is_fol
        if C.FOL_UNIQUE_ID in ext:
            is_fol = is_fol or not is_ss
        if is_ss and not is_fol:
            ss = SubmissionSet(entry_uuid=pkg_id)
            _common(ss, el)
            ss.inner_ids = inner
            ss.unique_id = self.single_ext(ext, C.SS_UNIQUE_ID, "XDSSubmissionSet.uniqueId", pkg_id)
            ss.source_id = self.single_ext(ext, C.SS_SOURCE_ID, "XDSSubmissionSet.sourceId", pkg_id)
            ss.patient_id = self.single_ext(ext, C.SS_PATIENT_ID, "XDSSubmissionSet.patientId", pkg_id)
            ss.submission_time = ss.slot("submissionTime")
            ss.intended_recipients = ss.slots.get("intendedRecipient", [])
            ss.content_type_code = self.single_code(cls, C.SS_CONTENT_TYPE_CODE, "contentTypeCode", pkg_id)
            ss.authors = [_author(c) for c in cls.get(C.SS_AUTHOR, [])]
            ss.limited_metadata = C.SS_LIMITED_METADATA in cls
            if sub.submission_set is not None:
                self.error("a submission carries exactly one SubmissionSet; found more", pkg_id)
            else:
                sub.submission_set = ss
        elif is_fol and not is_ss:
            f = Folder(entry_uuid=pkg_id)
            _common(f, el)
            f.inner_ids = inner
            f.unique_id = self.single_ext(ext, C.FOL_UNIQUE_ID, "XDSFolder.uniqueId", pkg_id)
            f.patient_id = self.single_ext(ext, C.FOL_PATIENT_ID, "XDSFolder.patientId", pkg_id)
            f.codes = [_code(c) for c in cls.get(C.FOL_CODE_LIST, [])]
            f.last_update_time = f.slot("lastUpdateTime")
            sub.folders.append(f)
        else:
            self.error("RegistryPackage is classified neither as SubmissionSet nor as Folder (or as both)", pkg_id)

    def association(self, el) -> Association:
        a = Association(entry_uuid=el.get("id") or "")
        _common(a, el)
        a.type = el.get("associationType") or ""
        a.source = el.get("sourceObject") or ""
        a.target = el.get("targetObject") or ""
        return a


def parse_submission(sor) -> tuple[Submission, list[XdsError]]:
    """Read a ``lcm:SubmitObjectsRequest`` element. Returns the model and the structural errors."""
    reader = _Reader()
    sub = Submission(submission_set=None)
    if sor is None or sor.tag != "{%s}SubmitObjectsRequest" % C.NS_LCM:
        reader.error("expected lcm:SubmitObjectsRequest")
        return sub, reader.errors
    rol = sor.find(R("RegistryObjectList"))
    if rol is None:
        reader.error("SubmitObjectsRequest has no RegistryObjectList")
        return sub, reader.errors
    children = [c for c in rol if isinstance(c.tag, str)]
    # Standalone classifications first: they decide what a RegistryPackage is.
    for el in children:
        if el.tag == R("Classification"):
            node = el.get("classificationNode")
            if node == C.SUBMISSION_SET_NODE:
                sub.classified_submission_sets.add(el.get("classifiedObject") or "")
            elif node == C.FOLDER_NODE:
                sub.classified_folders.add(el.get("classifiedObject") or "")
            else:
                reader.error(f"unsupported standalone Classification node {node!r}", el.get("id") or "")
    for el in children:
        tag = el.tag
        if tag == R("ExtrinsicObject"):
            sub.documents.append(reader.document(el))
        elif tag == R("RegistryPackage"):
            reader.package(el, sub)
        elif tag == R("Association"):
            sub.associations.append(reader.association(el))
        elif tag in (R("Classification"), R("ObjectRef")):
            continue
        else:
            reader.error(f"unexpected element {etree.QName(tag).localname} in RegistryObjectList")
    if sub.submission_set is None and not reader.errors:
        reader.error("the submission has no SubmissionSet (RegistryPackage classified "
                     f"{C.SUBMISSION_SET_NODE})")
    return sub, reader.errors


# ---------------------------------------------------------------- builders

def make_slot(name: str, values: Iterable[str]):
    slot = etree.Element(R("Slot"), name=name)
    vl = etree.SubElement(slot, R("ValueList"))
    for v in values:
        etree.SubElement(vl, R("Value")).text = v
    return slot


def set_slot(el, name: str, values: Iterable[str]) -> None:
    """Replace or insert a slot, keeping ebRIM's element order (slots come first)."""
    for old in el.findall(R("Slot")):
        if old.get("name") == name:
            el.remove(old)
    new = make_slot(name, values)
    slots = el.findall(R("Slot"))
    if slots:
        slots[-1].addnext(new)
    else:
        el.insert(0, new)


def registry_response(errors: list[XdsError], status: str | None = None,
                      warnings_only_is_success: bool = True):
    """A ``rs:RegistryResponse`` with a RegistryErrorList when there are errors or warnings."""
    if status is None:
        has_error = any(e.severity == C.SEVERITY_ERROR for e in errors)
        status = C.RESPONSE_FAILURE if has_error else C.RESPONSE_SUCCESS
    resp = etree.Element("{%s}RegistryResponse" % C.NS_RS, nsmap={"rs": C.NS_RS}, status=status)
    if errors:
        resp.append(error_list(errors))
    return resp


def error_list(errors: list[XdsError]):
    rel = etree.Element("{%s}RegistryErrorList" % C.NS_RS, nsmap={"rs": C.NS_RS})
    highest = C.SEVERITY_ERROR if any(e.severity == C.SEVERITY_ERROR for e in errors) else C.SEVERITY_WARNING
    rel.set("highestSeverity", highest)
    for e in errors:
        attrs = {"errorCode": e.code, "codeContext": e.context, "severity": e.severity}
        if e.location:
            attrs["location"] = e.location
        etree.SubElement(rel, "{%s}RegistryError" % C.NS_RS, **attrs)
    return rel
