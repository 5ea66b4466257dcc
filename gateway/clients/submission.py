"""Build Swiss-conformant XDS.b submissions (ITI-41 / ITI-42 bodies) from a few plain values.

For HIS integrators, the demo data and the tests. Defaults are annex 3 codes of a discharge
report; every coded attribute can be overridden.
"""
from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field

from lxml import etree

from profiles.xds import constants as C

R = C.rim
SNOMED = "2.16.840.1.113883.6.96"


def new_oid() -> str:
    return "2.25." + str(uuid.uuid4().int)


def _uuid() -> str:
    return "urn:uuid:" + str(uuid.uuid4())


@dataclass
class DocumentSpec:
    content: bytes
    mime_type: str = "application/pdf"
    title: str = "Consultation report"
    unique_id: str = field(default_factory=new_oid)
    entry_id: str = field(default_factory=_uuid)
    class_code: tuple[str, str] = ("371531000", SNOMED)               # Report of clinical encounter
    type_code: tuple[str, str] = ("371530004", SNOMED)                # Consultation report
    format_code: tuple[str, str] = ("urn:che:epr:EPR_Unstructured_Document", "2.16.756.5.30.1.127.3.10.10")
    confidentiality_code: tuple[str, str] = ("17621005", SNOMED)      # normal
    facility_type_code: tuple[str, str] = ("22232009", SNOMED)        # hospital
    practice_setting_code: tuple[str, str] = ("394802001", SNOMED)    # general medicine
    event_codes: list[tuple[str, str]] = field(default_factory=list)
    language_code: str = "de-CH"
    creation_time: str = field(default_factory=lambda: time.strftime("%Y%m%d%H%M%S", time.gmtime()))
    source_patient_id: str = "PAT-1^^^&2.999.1.2.3&ISO"
    author_person: str = "7601000000002^Muster^Hans^^^Dr.^^^&2.51.1.3&ISO"
    author_role: str = "HCP^^^&2.16.756.5.30.1.127.3.10.6&ISO"
    replaces: str | None = None            # entryUUID of the document this one replaces (RPLC)
    include_hash: bool = False
    extra_slots: dict[str, list[str]] = field(default_factory=dict)


def _slot(parent, name: str, *values: str) -> None:
    s = etree.SubElement(parent, R("Slot"), name=name)
    vl = etree.SubElement(s, R("ValueList"))
    for v in values:
        etree.SubElement(vl, R("Value")).text = v


def _name(parent, text: str) -> None:
    n = etree.SubElement(parent, R("Name"))
    etree.SubElement(n, R("LocalizedString"), value=text)


def _code(parent, scheme: str, obj: str, code: tuple[str, str], display: str = "") -> None:
    cl = etree.SubElement(parent, R("Classification"), classificationScheme=scheme, classifiedObject=obj,
                          nodeRepresentation=code[0], id=_uuid())
    _slot(cl, "codingScheme", code[1])
    _name(cl, display or code[0])


def _ext(parent, scheme: str, obj: str, value: str, name: str) -> None:
    ei = etree.SubElement(parent, R("ExternalIdentifier"), identificationScheme=scheme, value=value,
                          registryObject=obj, id=_uuid())
    _name(ei, name)


def submit_objects_request(patient_id: str, docs: list[DocumentSpec], *, source_id: str = "2.999.1.2.3.4",
                           for_register: bool = False, repository_unique_id: str | None = None,
                           submission_set_id: str = "SubmissionSet01"):
    """A ``lcm:SubmitObjectsRequest`` for ``docs`` of ``patient_id`` (an MPI-PID in CX form)."""
    sor = etree.Element("{%s}SubmitObjectsRequest" % C.NS_LCM, nsmap={"lcm": C.NS_LCM, "rim": C.NS_RIM})
    rol = etree.SubElement(sor, R("RegistryObjectList"))
    for d in docs:
        eo = etree.SubElement(rol, R("ExtrinsicObject"), id=d.entry_id, mimeType=d.mime_type,
                              objectType=C.DOC_ENTRY_STABLE)
        _slot(eo, "creationTime", d.creation_time)
        _slot(eo, "languageCode", d.language_code)
        _slot(eo, "sourcePatientId", d.source_patient_id)
        if for_register or d.include_hash:
            _slot(eo, "hash", hashlib.sha1(d.content).hexdigest())
            _slot(eo, "size", str(len(d.content)))
        if for_register:
            _slot(eo, "repositoryUniqueId", repository_unique_id or "2.999.1.2.3.5")
        _slot(eo, C.SLOT_ORIGINAL_PROVIDER_ROLE, "HCP^^^&2.16.756.5.30.1.127.3.10.6&ISO")
        for name, values in d.extra_slots.items():
            _slot(eo, name, *values)
        _name(eo, d.title)
        au = etree.SubElement(eo, R("Classification"), classificationScheme=C.DE_AUTHOR, classifiedObject=d.entry_id,
                              nodeRepresentation="", id=_uuid())
        _slot(au, "authorPerson", d.author_person)
        _slot(au, "authorRole", d.author_role)
        _code(eo, C.DE_CLASS_CODE, d.entry_id, d.class_code)
        _code(eo, C.DE_CONFIDENTIALITY_CODE, d.entry_id, d.confidentiality_code)
        for ev in d.event_codes:
            _code(eo, C.DE_EVENT_CODE, d.entry_id, ev)
        _code(eo, C.DE_FORMAT_CODE, d.entry_id, d.format_code)
        _code(eo, C.DE_HEALTHCARE_FACILITY_TYPE_CODE, d.entry_id, d.facility_type_code)
        _code(eo, C.DE_PRACTICE_SETTING_CODE, d.entry_id, d.practice_setting_code)
        _code(eo, C.DE_TYPE_CODE, d.entry_id, d.type_code)
        _ext(eo, C.DE_PATIENT_ID, d.entry_id, patient_id, "XDSDocumentEntry.patientId")
        _ext(eo, C.DE_UNIQUE_ID, d.entry_id, d.unique_id, "XDSDocumentEntry.uniqueId")
    ss = submission_set_id
    rp = etree.SubElement(rol, R("RegistryPackage"), id=ss)
    _slot(rp, "submissionTime", time.strftime("%Y%m%d%H%M%S", time.gmtime()))
    au = etree.SubElement(rp, R("Classification"), classificationScheme=C.SS_AUTHOR, classifiedObject=ss,
                          nodeRepresentation="", id=_uuid())
    _slot(au, "authorPerson", docs[0].author_person if docs else "^Muster^Hans")
    _slot(au, "authorRole", "HCP^^^&2.16.756.5.30.1.127.3.10.6&ISO")
    _code(rp, C.SS_CONTENT_TYPE_CODE, ss, ("71388002", SNOMED))
    _ext(rp, C.SS_UNIQUE_ID, ss, new_oid(), "XDSSubmissionSet.uniqueId")
    _ext(rp, C.SS_SOURCE_ID, ss, source_id, "XDSSubmissionSet.sourceId")
    _ext(rp, C.SS_PATIENT_ID, ss, patient_id, "XDSSubmissionSet.patientId")
    etree.SubElement(rol, R("Classification"), classifiedObject=ss, classificationNode=C.SUBMISSION_SET_NODE,
                     id=_uuid())
    for d in docs:
        a = etree.SubElement(rol, R("Association"), associationType=C.ASSOC_HAS_MEMBER, sourceObject=ss,
                             targetObject=d.entry_id, id=_uuid())
        _slot(a, "SubmissionSetStatus", "Original")
        if d.replaces:
            etree.SubElement(rol, R("Association"), associationType=C.ASSOC_RPLC, sourceObject=d.entry_id,
                             targetObject=d.replaces, id=_uuid())
    return sor


def provide_and_register_request(patient_id: str, docs: list[DocumentSpec], *, inline: bool = False, **kw):
    """An ``xds:ProvideAndRegisterDocumentSetRequest`` and its attachments as (content_id, mime, bytes).

    ``inline``: documents as base64 text in the XML instead of XOP attachments.
    """
    import base64
    body = etree.Element("{%s}ProvideAndRegisterDocumentSetRequest" % C.NS_XDS, nsmap={"xds": C.NS_XDS})
    body.append(submit_objects_request(patient_id, docs, **kw))
    parts = []
    for i, d in enumerate(docs):
        doc = etree.SubElement(body, "{%s}Document" % C.NS_XDS, id=d.entry_id)
        if inline:
            doc.text = base64.b64encode(d.content).decode()
        else:
            cid = f"doc{i}.{uuid.uuid4().hex}@epd-gateway"
            etree.SubElement(doc, "{%s}Include" % C.NS_XOP, nsmap={"xop": C.NS_XOP}, href="cid:" + cid)
            parts.append((cid, d.mime_type, d.content))
    return body, parts


def retrieve_request(items: list[tuple[str, str]], home_community_id: str | None = None):
    """``xds:RetrieveDocumentSetRequest`` for (repositoryUniqueId, documentUniqueId) pairs."""
    X = "{%s}" % C.NS_XDS
    body = etree.Element(X + "RetrieveDocumentSetRequest", nsmap={"xds": C.NS_XDS})
    for repo, uid in items:
        dr = etree.SubElement(body, X + "DocumentRequest")
        if home_community_id:
            etree.SubElement(dr, X + "HomeCommunityId").text = home_community_id
        etree.SubElement(dr, X + "RepositoryUniqueId").text = repo
        etree.SubElement(dr, X + "DocumentUniqueId").text = uid
    return body
