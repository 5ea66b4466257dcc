"""ebRIM 3.0 wire form <-> the metadata model (``metadata.py``).

``parse_submission`` reads a SubmitObjectsRequest into a ``Submission`` (plain data: no element is
kept) and reports every structural problem it meets (it does not stop at the first).
``render_object``/``render_text`` write a model object back to ebRIM (the stored text of LeafClass
answers), ``parse_object`` reads that text back. The builders make RegistryResponse and slot
elements. No I/O: lxml elements in, model objects out, and the other way round.
"""
from __future__ import annotations

import uuid
from dataclasses import fields
from typing import Iterable

from lxml import etree

from . import constants as C
from . import messages as M
from .errors import XdsError
from .metadata import (Association, Author, Classification, Code, DocumentEntry, ExternalIdentifier, Folder,
                       LocalizedString, RegistryObject, Submission, SubmissionSet)

R = C.rim
SLOT_REFERENCE_ID_LIST = C.SLOT_REFERENCE_ID_LIST  # kept importable from here


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
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def read_slots(el) -> dict[str, list[str]]:
    slots: dict[str, list[str]] = {}
    for slot in el.iterchildren(T_SLOT):
        values = slots.setdefault(slot.get("name") or "", [])
        for vl in slot.iterchildren(T_VALUE_LIST):
            values.extend((v.text or "") for v in vl.iterchildren(T_VALUE))
    return slots


def read_localized(el, tag: str) -> list[LocalizedString]:
    out: list[LocalizedString] = []
    for node in el.iterchildren(tag):
        for ls in node.iterchildren(T_LOCALIZED):
            out.append(LocalizedString(ls.get("value") or "", ls.get(XML_LANG), ls.get("charset")))
        break
    return out


def localized(el, tag: str) -> str | None:
    found = read_localized(el, R(tag) if not tag.startswith("{") else tag)
    return found[0].value if found else None


def _classification(cl) -> Classification:
    return Classification(id=cl.get("id") or "", scheme=cl.get("classificationScheme"),
                          node=cl.get("classificationNode"), node_representation=cl.get("nodeRepresentation"),
                          classified_object=cl.get("classifiedObject"), slots=read_slots(cl),
                          names=read_localized(cl, T_NAME), descriptions=read_localized(cl, T_DESCRIPTION),
                          object_type=cl.get("objectType"))


def _external_identifier(ei) -> ExternalIdentifier:
    return ExternalIdentifier(id=ei.get("id") or "", scheme=ei.get("identificationScheme") or "",
                              value=ei.get("value") or "", registry_object=ei.get("registryObject"),
                              names=read_localized(ei, T_NAME), descriptions=read_localized(ei, T_DESCRIPTION),
                              slots=read_slots(ei), object_type=ei.get("objectType"))


def _code(cl: Classification) -> Code:
    scheme = (cl.slots.get("codingScheme") or [""])[0]
    return Code(code=cl.node_representation or "", scheme=scheme, display=cl.names[0].value if cl.names else "")


def _author(cl: Classification) -> Author:
    s = cl.slots
    person = (s.get("authorPerson") or [""])[0]
    return Author(person=person, institutions=s.get("authorInstitution", []), roles=s.get("authorRole", []),
                  specialties=s.get("authorSpecialty", []), telecoms=s.get("authorTelecommunication", []))


def _common(obj: RegistryObject, el) -> None:
    obj.slots = read_slots(el)
    obj.names = read_localized(el, T_NAME)
    obj.descriptions = read_localized(el, T_DESCRIPTION)
    obj.classifications = [_classification(c) for c in el.iterchildren(T_CLASSIFICATION)]
    obj.external_identifiers = [_external_identifier(e) for e in el.iterchildren(T_EXTERNAL_IDENTIFIER)]
    obj.home_community_id = el.get("home")
    obj.status = el.get("status")
    obj.lid = el.get("lid")
    obj.object_type_attr = el.get("objectType")
    vi = el.find(T_VERSION_INFO)
    obj.version = vi.get("versionName") if vi is not None else None


class _Reader:
    def __init__(self, max_objects: int | None = None) -> None:
        self.errors: list[XdsError] = []
        self.max_objects = max_objects

    def error(self, error: XdsError) -> None:
        self.errors.append(error)

    def classifications(self, obj: RegistryObject) -> dict[str, list[Classification]]:
        by_scheme: dict[str, list[Classification]] = {}
        obj_id = obj.entry_uuid
        for cl in obj.classifications:
            co = cl.classified_object
            if co is not None and co != obj_id:
                self.error(M.CLASSIFICATION_OF_OTHER_OBJECT(obj_id, id=cl.id, target=co, parent=obj_id))
            by_scheme.setdefault(cl.scheme or cl.node or "", []).append(cl)
        return by_scheme

    def external_ids(self, obj: RegistryObject) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        obj_id = obj.entry_uuid
        for ei in obj.external_identifiers:
            ro = ei.registry_object
            if ro is not None and ro != obj_id:
                self.error(M.IDENTIFIER_OF_OTHER_OBJECT(obj_id, id=ei.id, target=ro, parent=obj_id))
            out.setdefault(ei.scheme, []).append(ei.value)
        return out

    def single_code(self, by_scheme, scheme: str, name: str, obj_id: str) -> Code | None:
        cls = by_scheme.get(scheme, [])
        if len(cls) > 1:
            self.error(M.AT_MOST_ONCE(obj_id, attr=name, count=len(cls)))
        return _code(cls[0]) if cls else None

    def single_ext(self, ext, scheme: str, name: str, obj_id: str) -> str:
        vals = ext.get(scheme, [])
        if len(vals) > 1:
            self.error(M.EXACTLY_ONCE(obj_id, attr=name, count=len(vals)))
        return vals[0] if vals else ""

    def document(self, el) -> DocumentEntry:
        doc_id = el.get("id") or ""
        d = DocumentEntry(entry_uuid=doc_id)
        _common(d, el)
        d.object_type = el.get("objectType") or ""
        d.mime_type = el.get("mimeType") or ""
        d.is_opaque = el.get("isOpaque")
        cvi = el.find(R("ContentVersionInfo"))
        d.content_version = cvi.get("versionName") if cvi is not None else None
        cls = self.classifications(d)
        ext = self.external_ids(d)
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
                self.error(M.SINGLE_VALUED_SLOT(doc_id, name=name))
        return d

    def package(self, el, sub: Submission) -> None:
        pkg_id = el.get("id") or ""
        probe = RegistryObject(entry_uuid=pkg_id)
        _common(probe, el)
        cls = self.classifications(probe)
        ext = self.external_ids(probe)
        nodes = {c.node for c in probe.classifications}
        is_ss = C.SUBMISSION_SET_NODE in nodes or pkg_id in sub.classified_submission_sets
        is_fol = C.FOLDER_NODE in nodes or pkg_id in sub.classified_folders
        if C.SS_UNIQUE_ID in ext or C.SS_SOURCE_ID in ext:
            is_ss = is_ss or not is_fol
        if C.FOL_UNIQUE_ID in ext:
            is_fol = is_fol or not is_ss
        if is_ss and not is_fol:
            ss = SubmissionSet(**_base_fields(probe))
            ss.unique_id = self.single_ext(ext, C.SS_UNIQUE_ID, "XDSSubmissionSet.uniqueId", pkg_id)
            ss.source_id = self.single_ext(ext, C.SS_SOURCE_ID, "XDSSubmissionSet.sourceId", pkg_id)
            ss.patient_id = self.single_ext(ext, C.SS_PATIENT_ID, "XDSSubmissionSet.patientId", pkg_id)
            ss.submission_time = ss.slot("submissionTime")
            ss.intended_recipients = ss.slots.get("intendedRecipient", [])
            ss.content_type_code = self.single_code(cls, C.SS_CONTENT_TYPE_CODE, "contentTypeCode", pkg_id)
            ss.authors = [_author(c) for c in cls.get(C.SS_AUTHOR, [])]
            ss.limited_metadata = C.SS_LIMITED_METADATA in cls
            if sub.submission_set is not None:
                self.error(M.MORE_THAN_ONE_SUBMISSION_SET(pkg_id))
            else:
                sub.submission_set = ss
        elif is_fol and not is_ss:
            f = Folder(**_base_fields(probe))
            f.unique_id = self.single_ext(ext, C.FOL_UNIQUE_ID, "XDSFolder.uniqueId", pkg_id)
            f.patient_id = self.single_ext(ext, C.FOL_PATIENT_ID, "XDSFolder.patientId", pkg_id)
            f.codes = [_code(c) for c in cls.get(C.FOL_CODE_LIST, [])]
            f.last_update_time = f.slot("lastUpdateTime")
            sub.folders.append(f)
        else:
            self.error(M.UNCLASSIFIED_PACKAGE(pkg_id))

    def association(self, el) -> Association:
        a = Association(entry_uuid=el.get("id") or "")
        _common(a, el)
        a.type = el.get("associationType") or ""
        a.source = el.get("sourceObject") or ""
        a.target = el.get("targetObject") or ""
        return a


def _base_fields(obj: RegistryObject) -> dict:
    return {f.name: getattr(obj, f.name) for f in fields(RegistryObject)}


def count_objects(sor) -> int:
    """How many registry objects a SubmitObjectsRequest carries (the children of its
    RegistryObjectList), counted before anything is parsed."""
    rol = sor.find(R("RegistryObjectList")) if sor is not None else None
    return 0 if rol is None else sum(1 for c in rol if isinstance(c.tag, str))


def parse_submission(sor, *, max_objects: int | None = None) -> tuple[Submission, list[XdsError]]:
    """Read a ``lcm:SubmitObjectsRequest`` element. Returns the model and the structural errors.

    With ``max_objects``, a request holding more registry objects is refused before any is read
    (``XDSRegistryError`` naming the limit)."""
    reader = _Reader(max_objects)
    sub = Submission(submission_set=None)
    if sor is None or sor.tag != "{%s}SubmitObjectsRequest" % C.NS_LCM:
        reader.error(M.EXPECTED_SUBMIT_OBJECTS())
        return sub, reader.errors
    rol = sor.find(R("RegistryObjectList"))
    if rol is None:
        reader.error(M.NO_REGISTRY_OBJECT_LIST())
        return sub, reader.errors
    children = [c for c in rol if isinstance(c.tag, str)]
    if max_objects is not None and len(children) > max_objects:
        reader.error(M.TOO_MANY_OBJECTS(count=len(children), limit=max_objects))
        return sub, reader.errors
    # Standalone classifications first: they decide what a RegistryPackage is.
    for el in children:
        if el.tag == R("Classification"):
            node = el.get("classificationNode")
            if node == C.SUBMISSION_SET_NODE:
                sub.classified_submission_sets.add(el.get("classifiedObject") or "")
            elif node == C.FOLDER_NODE:
                sub.classified_folders.add(el.get("classifiedObject") or "")
            else:
                reader.error(M.UNSUPPORTED_STANDALONE_CLASSIFICATION(el.get("id") or "", node=node))
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
            reader.error(M.UNEXPECTED_ELEMENT(name=etree.QName(tag).localname))
    if sub.submission_set is None and not reader.errors:
        reader.error(M.NO_SUBMISSION_SET(node=C.SUBMISSION_SET_NODE))
    return sub, reader.errors


# ---------------------------------------------------------------- the model rendered to ebRIM

def _add_slots(parent, slots: dict[str, list[str]]) -> None:
    for name, values in slots.items():
        parent.append(make_slot(name, values))


def _add_localized(parent, tag: str, strings: list[LocalizedString]) -> None:
    if not strings:
        return
    node = etree.SubElement(parent, tag)
    for s in strings:
        ls = etree.SubElement(node, T_LOCALIZED)
        if s.lang is not None:
            ls.set(XML_LANG, s.lang)
        if s.charset is not None:
            ls.set("charset", s.charset)
        ls.set("value", s.value)


def _set(el, attr: str, value: str | None) -> None:
    if value is not None:
        el.set(attr, value)


def _render_classification(parent, cl: Classification) -> None:
    el = etree.SubElement(parent, T_CLASSIFICATION)
    _set(el, "classificationScheme", cl.scheme)
    _set(el, "classificationNode", cl.node)
    _set(el, "classifiedObject", cl.classified_object)
    _set(el, "id", cl.id)
    _set(el, "nodeRepresentation", cl.node_representation)
    _set(el, "objectType", cl.object_type)
    _add_slots(el, cl.slots)
    _add_localized(el, T_NAME, cl.names)
    _add_localized(el, T_DESCRIPTION, cl.descriptions)


def _render_external_identifier(parent, ei: ExternalIdentifier) -> None:
    el = etree.SubElement(parent, T_EXTERNAL_IDENTIFIER)
    _set(el, "id", ei.id)
    _set(el, "identificationScheme", ei.scheme)
    _set(el, "objectType", ei.object_type)
    _set(el, "registryObject", ei.registry_object)
    _set(el, "value", ei.value)
    _add_slots(el, ei.slots)
    _add_localized(el, T_NAME, ei.names)
    _add_localized(el, T_DESCRIPTION, ei.descriptions)


def render_object(obj: RegistryObject):
    """The ebRIM element of one model object (ExtrinsicObject, RegistryPackage or Association),
    children in ebRIM 3.0 order: Slot, Name, Description, VersionInfo, Classification,
    ExternalIdentifier (and an ExtrinsicObject's ContentVersionInfo)."""
    if isinstance(obj, DocumentEntry):
        el = etree.Element(R("ExtrinsicObject"), nsmap={"rim": C.NS_RIM})
    elif isinstance(obj, Association):
        el = etree.Element(R("Association"), nsmap={"rim": C.NS_RIM})
        el.set("associationType", obj.type)
    else:
        el = etree.Element(R("RegistryPackage"), nsmap={"rim": C.NS_RIM})
    _set(el, "home", obj.home_community_id)
    el.set("id", obj.entry_uuid)
    _set(el, "lid", obj.lid)
    if isinstance(obj, DocumentEntry):
        _set(el, "isOpaque", obj.is_opaque)
        el.set("mimeType", obj.mime_type)
        el.set("objectType", obj.object_type)
    else:
        _set(el, "objectType", obj.object_type_attr)
    if isinstance(obj, Association):
        el.set("sourceObject", obj.source)
    _set(el, "status", obj.status)
    if isinstance(obj, Association):
        el.set("targetObject", obj.target)
    _add_slots(el, obj.slots)
    _add_localized(el, T_NAME, obj.names)
    _add_localized(el, T_DESCRIPTION, obj.descriptions)
    if obj.version is not None:
        etree.SubElement(el, T_VERSION_INFO, versionName=obj.version)
    for cl in obj.classifications:
        _render_classification(el, cl)
    for ei in obj.external_identifiers:
        _render_external_identifier(el, ei)
    if isinstance(obj, DocumentEntry) and obj.content_version is not None:
        etree.SubElement(el, R("ContentVersionInfo"), versionName=obj.content_version)
    return el


_ATTR_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
                               "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"})
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_NS_DECL = f' xmlns:rim="{C.NS_RIM}"'


def _a(out: list[str], name: str, value: str | None) -> None:
    if value is not None:
        out.append(f' {name}="{value.translate(_ATTR_ESCAPES)}"')


def _slots_text(out: list[str], slots: dict[str, list[str]]) -> None:
    for name, values in slots.items():
        out.append(f'<rim:Slot name="{name.translate(_ATTR_ESCAPES)}"><rim:ValueList>')
        for v in values:
            out.append(f"<rim:Value>{v.translate(_TEXT_ESCAPES)}</rim:Value>" if v else "<rim:Value/>")
        out.append("</rim:ValueList></rim:Slot>")


def _localized_text(out: list[str], tag: str, strings: list[LocalizedString]) -> None:
    if not strings:
        return
    out.append(f"<rim:{tag}>")
    for ls in strings:
        out.append("<rim:LocalizedString")
        _a(out, "xml:lang", ls.lang)
        _a(out, "charset", ls.charset)
        _a(out, "value", ls.value)
        out.append("/>")
    out.append(f"</rim:{tag}>")


def _element_text(out: list[str], tag: str, attrs: list[tuple[str, str | None]], slots, names, descriptions,
                  inner=None, ns: str = "") -> None:
    out.append(f"<rim:{tag}{ns}")
    for name, value in attrs:
        _a(out, name, value)
    if not (slots or names or descriptions or inner):
        out.append("/>")
        return
    out.append(">")
    _slots_text(out, slots)
    _localized_text(out, "Name", names)
    _localized_text(out, "Description", descriptions)
    if inner is not None:
        inner(out)
    out.append(f"</rim:{tag}>")


def render_text(obj: RegistryObject) -> str:
    """The stored form of a registered object: its ebRIM element as text (one element, its own
    namespace declaration, no XML declaration), as LeafClass answers splice it. The same XML as
    ``render_object`` (a test holds them equal), written as text directly: it runs for every
    object registered."""
    if isinstance(obj, DocumentEntry):
        tag = "ExtrinsicObject"
        attrs = [("home", obj.home_community_id), ("id", obj.entry_uuid), ("lid", obj.lid),
                 ("isOpaque", obj.is_opaque), ("mimeType", obj.mime_type), ("objectType", obj.object_type),
                 ("status", obj.status)]
    elif isinstance(obj, Association):
        tag = "Association"
        attrs = [("associationType", obj.type), ("home", obj.home_community_id), ("id", obj.entry_uuid),
                 ("lid", obj.lid), ("objectType", obj.object_type_attr), ("sourceObject", obj.source),
                 ("status", obj.status), ("targetObject", obj.target)]
    else:
        tag = "RegistryPackage"
        attrs = [("home", obj.home_community_id), ("id", obj.entry_uuid), ("lid", obj.lid),
                 ("objectType", obj.object_type_attr), ("status", obj.status)]

    def inner(out: list[str]) -> None:
        if obj.version is not None:
            out.append(f'<rim:VersionInfo versionName="{obj.version.translate(_ATTR_ESCAPES)}"/>')
        for cl in obj.classifications:
            _element_text(out, "Classification",
                          [("classificationScheme", cl.scheme), ("classificationNode", cl.node),
                           ("classifiedObject", cl.classified_object), ("id", cl.id),
                           ("nodeRepresentation", cl.node_representation), ("objectType", cl.object_type)],
                          cl.slots, cl.names, cl.descriptions)
        for ei in obj.external_identifiers:
            _element_text(out, "ExternalIdentifier",
                          [("id", ei.id), ("identificationScheme", ei.scheme), ("objectType", ei.object_type),
                           ("registryObject", ei.registry_object), ("value", ei.value)],
                          ei.slots, ei.names, ei.descriptions)
        if isinstance(obj, DocumentEntry) and obj.content_version is not None:
            out.append(f'<rim:ContentVersionInfo versionName="{obj.content_version.translate(_ATTR_ESCAPES)}"/>')

    out: list[str] = []
    has_inner = (obj.version is not None or obj.classifications or obj.external_identifiers
                 or (isinstance(obj, DocumentEntry) and obj.content_version is not None))
    _element_text(out, tag, attrs, obj.slots, obj.names, obj.descriptions, inner if has_inner else None, _NS_DECL)
    return "".join(out)


def parse_object(text: str) -> RegistryObject:
    """A stored object's text (``render_text``) read back into the model."""
    el = etree.fromstring(text.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True))
    reader = _Reader()
    if el.tag == R("ExtrinsicObject"):
        return reader.document(el)
    if el.tag == R("Association"):
        return reader.association(el)
    sub = Submission(submission_set=None)
    reader.package(el, sub)
    if sub.folders:
        return sub.folders[0]
    if sub.submission_set is not None:
        return sub.submission_set
    raise ValueError("stored text is not a registry object")


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
