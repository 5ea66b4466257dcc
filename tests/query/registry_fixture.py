"""Fixture registries for the ITI-18 tests: real submissions registered through the ITI-42 writer.

``Doc``/``Sub`` describe DocumentEntries and submissions; :func:`submission_xml` turns them into a
``lcm:SubmitObjectsRequest`` and :func:`register` runs it through ``profiles.xds.registry.plan_registration``
and ``SqlRegistryStore`` (what is registered is what is queried). :func:`query_xml` builds AdhocQueryRequests.
"""
from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field

from lxml import etree

from profiles.xds import constants as C
from profiles.xds.ebrim import parse_submission

R = C.rim
MPI_OID = "2.16.756.5.30.1.999.1.1"
HOME = "urn:oid:2.16.756.5.30.1.999.1"
REPO = "2.16.756.5.30.1.999.1.2"
SNOMED = "2.16.840.1.113883.6.96"
CONF_SCHEME = "2.16.756.5.30.1.127.3.10.1"   # illustrative
LOINC = "2.16.840.1.113883.6.1"

_counter = itertools.count(1)


def pid(n: int | str) -> str:
    return f"P{n}^^^&{MPI_OID}&ISO"


def new_uuid() -> str:
    return "urn:uuid:" + str(uuid.uuid4())


def new_oid() -> str:
    return f"2.999.7.{next(_counter)}.{uuid.uuid4().int % 10**12}"


@dataclass
class Doc:
    patient: str
    class_code: tuple[str, str] = ("422735006", SNOMED)
    type_code: tuple[str, str] = ("371531000", SNOMED)
    format_code: tuple[str, str] = ("urn:ihe:iti:xds:2017:mimeTypeSufficient", "1.3.6.1.4.1.19376.1.2.3")
    practice_setting: tuple[str, str] = ("394802001", SNOMED)
    facility_type: tuple[str, str] = ("22232009", SNOMED)
    confidentiality: list[tuple[str, str]] = field(default_factory=lambda: [("17621005", SNOMED)])
    events: list[tuple[str, str]] = field(default_factory=list)
    authors: list[str] = field(default_factory=lambda: ["^Default^Dora^^^"])
    creation_time: str | None = "20240115103000"
    service_start: str | None = None
    service_stop: str | None = None
    reference_ids: list[str] = field(default_factory=list)
    on_demand: bool = False
    title: str = "Document"
    entry_uuid: str = field(default_factory=new_uuid)
    unique_id: str = field(default_factory=new_oid)


@dataclass
class Folder:
    patient: str
    codes: list[tuple[str, str]] = field(default_factory=lambda: [("F1", LOINC)])
    title: str = "Folder"
    entry_uuid: str = field(default_factory=new_uuid)
    unique_id: str = field(default_factory=new_oid)


@dataclass
class Sub:
    patient: str
    docs: list[Doc] = field(default_factory=list)
    folders: list[Folder] = field(default_factory=list)
    #: (type, source uuid, target uuid) extra associations, e.g. (RPLC, new doc, old doc)
    associations: list[tuple[str, str, str]] = field(default_factory=list)
    #: existing entryUUIDs to reference by HasMember from this submission set (Reference)
    references: list[str] = field(default_factory=list)
    #: (folder uuid, doc uuid): folder membership
    folder_members: list[tuple[str, str]] = field(default_factory=list)
    source_id: str = "2.999.1.1"
    submission_time: str = "20240115110000"
    content_type: tuple[str, str] = ("71388002", SNOMED)
    authors: list[str] = field(default_factory=lambda: ["^Author^SS^^^"])
    entry_uuid: str = field(default_factory=new_uuid)
    unique_id: str = field(default_factory=new_oid)
    #: ids of the associations, filled by submission_xml: (type, source, target) -> uuid
    association_ids: dict[tuple[str, str, str], str] = field(default_factory=dict)


def _slot(parent, name: str, *values: str):
    s = etree.SubElement(parent, R("Slot"), name=name)
    vl = etree.SubElement(s, R("ValueList"))
    for v in values:
        etree.SubElement(vl, R("Value")).text = v
    return s


def _name(parent, text: str) -> None:
    n = etree.SubElement(parent, R("Name"))
    etree.SubElement(n, R("LocalizedString"), value=text)


def _classification(parent, scheme: str, obj: str, code: tuple[str, str] | None, display: str = "x",
                    slots: dict[str, list[str]] | None = None) -> None:
    cl = etree.SubElement(parent, R("Classification"), classificationScheme=scheme, classifiedObject=obj,
                          id=new_uuid(), nodeRepresentation=code[0] if code else "")
    if code:
        _slot(cl, "codingScheme", code[1])
    for name, values in (slots or {}).items():
        _slot(cl, name, *values)
    if code:
        _name(cl, display)


def _external(parent, scheme: str, obj: str, value: str, name: str) -> None:
    ei = etree.SubElement(parent, R("ExternalIdentifier"), identificationScheme=scheme, value=value,
                          id=new_uuid(), registryObject=obj)
    _name(ei, name)


def doc_element(d: Doc):
    ot = C.DOC_ENTRY_ON_DEMAND if d.on_demand else C.DOC_ENTRY_STABLE
    eo = etree.Element(R("ExtrinsicObject"), id=d.entry_uuid, mimeType="text/xml", objectType=ot,
                       nsmap={"rim": C.NS_RIM})
    if d.creation_time:
        _slot(eo, "creationTime", d.creation_time)
    _slot(eo, "languageCode", "de-CH")
    _slot(eo, "sourcePatientId", f"L{d.patient.split('^')[0]}^^^&2.999.9.9&ISO")
    if not d.on_demand:
        _slot(eo, "hash", "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        _slot(eo, "size", "0")
        _slot(eo, "repositoryUniqueId", REPO)
    if d.service_start:
        _slot(eo, "serviceStartTime", d.service_start)
    if d.service_stop:
        _slot(eo, "serviceStopTime", d.service_stop)
    if d.reference_ids:
        _slot(eo, "urn:ihe:iti:xds:2013:referenceIdList", *d.reference_ids)
    _name(eo, d.title)
    for a in d.authors:
        _classification(eo, C.DE_AUTHOR, d.entry_uuid, None, slots={"authorPerson": [a]})
    _classification(eo, C.DE_CLASS_CODE, d.entry_uuid, d.class_code)
    for c in d.confidentiality:
        _classification(eo, C.DE_CONFIDENTIALITY_CODE, d.entry_uuid, c)
    for c in d.events:
        _classification(eo, C.DE_EVENT_CODE, d.entry_uuid, c)
    _classification(eo, C.DE_FORMAT_CODE, d.entry_uuid, d.format_code)
    _classification(eo, C.DE_HEALTHCARE_FACILITY_TYPE_CODE, d.entry_uuid, d.facility_type)
    _classification(eo, C.DE_PRACTICE_SETTING_CODE, d.entry_uuid, d.practice_setting)
    _classification(eo, C.DE_TYPE_CODE, d.entry_uuid, d.type_code)
    _external(eo, C.DE_PATIENT_ID, d.entry_uuid, d.patient, "XDSDocumentEntry.patientId")
    _external(eo, C.DE_UNIQUE_ID, d.entry_uuid, d.unique_id, "XDSDocumentEntry.uniqueId")
    return eo


def submission_xml(s: Sub):
    sor = etree.Element(f"{{{C.NS_LCM}}}SubmitObjectsRequest", nsmap={"lcm": C.NS_LCM, "rim": C.NS_RIM})
    rol = etree.SubElement(sor, R("RegistryObjectList"))
    for d in s.docs:
        rol.append(doc_element(d))
    ss = etree.SubElement(rol, R("RegistryPackage"), id=s.entry_uuid)
    _slot(ss, "submissionTime", s.submission_time)
    _name(ss, "Submission")
    for a in s.authors:
        _classification(ss, C.SS_AUTHOR, s.entry_uuid, None, slots={"authorPerson": [a]})
    _classification(ss, C.SS_CONTENT_TYPE_CODE, s.entry_uuid, s.content_type)
    _external(ss, C.SS_UNIQUE_ID, s.entry_uuid, s.unique_id, "XDSSubmissionSet.uniqueId")
    _external(ss, C.SS_SOURCE_ID, s.entry_uuid, s.source_id, "XDSSubmissionSet.sourceId")
    _external(ss, C.SS_PATIENT_ID, s.entry_uuid, s.patient, "XDSSubmissionSet.patientId")
    etree.SubElement(rol, R("Classification"), classifiedObject=s.entry_uuid,
                     classificationNode=C.SUBMISSION_SET_NODE, id=new_uuid())
    for f in s.folders:
        fp = etree.SubElement(rol, R("RegistryPackage"), id=f.entry_uuid)
        _name(fp, f.title)
        for c in f.codes:
            _classification(fp, C.FOL_CODE_LIST, f.entry_uuid, c)
        _external(fp, C.FOL_UNIQUE_ID, f.entry_uuid, f.unique_id, "XDSFolder.uniqueId")
        _external(fp, C.FOL_PATIENT_ID, f.entry_uuid, f.patient, "XDSFolder.patientId")
        etree.SubElement(rol, R("Classification"), classifiedObject=f.entry_uuid,
                         classificationNode=C.FOLDER_NODE, id=new_uuid())

    def assoc(kind: str, source: str, target: str, ss_status: str | None = None) -> str:
        aid = new_uuid()
        a = etree.SubElement(rol, R("Association"), id=aid, associationType=kind, sourceObject=source,
                             targetObject=target)
        if ss_status:
            _slot(a, "SubmissionSetStatus", ss_status)
        s.association_ids[(kind, source, target)] = aid
        return aid

    for d in s.docs:
        assoc(C.ASSOC_HAS_MEMBER, s.entry_uuid, d.entry_uuid, "Original")
    for f in s.folders:
        assoc(C.ASSOC_HAS_MEMBER, s.entry_uuid, f.entry_uuid)
    for ref in s.references:
        assoc(C.ASSOC_HAS_MEMBER, s.entry_uuid, ref, "Reference")
    for fid, did in s.folder_members:
        aid = assoc(C.ASSOC_HAS_MEMBER, fid, did)
        assoc(C.ASSOC_HAS_MEMBER, s.entry_uuid, aid)
    for kind, source, target in s.associations:
        aid = assoc(kind, source, target)
        assoc(C.ASSOC_HAS_MEMBER, s.entry_uuid, aid)
    return sor


class KnownPatients:
    """The MPI as ITI-18 and ITI-42 see it: a set of known MPI-PIDs (id part)."""

    def __init__(self, *ids: str):
        self.ids = set(ids)

    def is_known_mpi_pid(self, pid_id: str) -> bool:
        return pid_id in self.ids or pid_id.startswith("P")


def register(engine, sub: Sub, *, now: str = "20240601120000") -> Sub:
    """Register ``sub`` through the ITI-42 writer (validation, plan, one transaction)."""
    from gateway.store.registry import SqlRegistryStore
    from profiles.xds.registry import RegistryPolicy, plan_registration

    model, errors = parse_submission(submission_xml(sub))
    assert not errors, errors
    store = SqlRegistryStore(engine)
    with store.transaction() as tx:
        plan = plan_registration(model, tx, KnownPatients(), RegistryPolicy(mpi_oid=MPI_OID),
                                 for_register=True, now=now)
        tx.apply(plan)
    return sub


# ---------------------------------------------------------------------------------------------- queries

def q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def qlist(values) -> str:
    return "(" + ",".join(q(v) for v in values) + ")"


def code(c: tuple[str, str]) -> str:
    return f"{c[0]}^^{c[1]}"


def query_xml(query_id: str, slots: list[tuple[str, list[str]]] | dict, return_type: str = "LeafClass"):
    """An AdhocQueryRequest; ``slots``: (name, [Value texts]) pairs, repeated names allowed."""
    if isinstance(slots, dict):
        slots = list(slots.items())
    req = etree.Element(f"{{{C.NS_QUERY}}}AdhocQueryRequest", nsmap={"query": C.NS_QUERY, "rim": C.NS_RIM})
    etree.SubElement(req, f"{{{C.NS_QUERY}}}ResponseOption", returnType=return_type, returnComposedObjects="true")
    aq = etree.SubElement(req, R("AdhocQuery"), id=query_id)
    for name, values in slots:
        _slot(aq, name, *([values] if isinstance(values, str) else values))
    return req


APPROVED = "('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')"
DEPRECATED = "('urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated')"
BOTH = ("('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved',"
        "'urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated')")


# ---------------------------------------------------------------------------------------------- the use case

class FilterPolicy:
    """Allows every request; filters results with a fixed ResultFilter."""

    def __init__(self, result_filter=None) -> None:
        self._filter = result_filter

    def decide(self, ctx, request):
        from profiles.authorization import PERMIT
        return PERMIT

    def result_filter(self, ctx):
        return self._filter


def stored_query_body(body, ctx, *, settings, engine, mpi, result_filter=None, raw: bool = False):
    """The AdhocQueryResponse for the AdhocQueryRequest ``body`` over the SQL registry: the ITI-18
    transaction's parse -> use case -> render, without the pipeline; an element, or with ``raw`` a
    LeafClass Success as ``RawXml``. (The server builds its ports once, in ``gateway/app.py``.)"""
    from gateway.endpoints.registry_query import render_body, stored_query_ports
    from gateway.store.registry_query import SqlQueryStore
    from profiles.xds.query_request import read_query_request
    from profiles.xds.registry_query import stored_query
    ports = stored_query_ports(settings, SqlQueryStore(engine, mpi), FilterPolicy(result_filter))
    request = read_query_request(body, max_values=settings.max_query_parameter_values)
    return render_body(stored_query(ctx, request, ports).reply, raw=raw)
