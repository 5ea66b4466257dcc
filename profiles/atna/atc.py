"""CH:ATC: the patient's audit trail as FHIR R4 AuditEvent resources (ITI-81 answers).

Each stored ATNA record of a document or policy transaction on the patient becomes an AuditEvent
of the CH:ATC profiles (DocumentAuditEvent, PolicyAuditEvent, AccessAuditTrailEvent): the DICOM
event type, the ATC event type as subtype (code system 2.16.756.5.30.1.127.3.10.7), the purpose of
use (emergency accesses carry EMER, and the narrative says so), the EPR users as agents with their
EPR role, the patient (EPR-SPID, 2.16.756.5.30.1.127.3.10.3) and the documents as entities.
Records of transactions that are no ATC event (PIX/PDQ, faults before any transaction) are not
part of a patient's trail (:func:`atc_event_type` is ``None``).

The resources are built with fhir.resources (R4B: the R4 AuditEvent unchanged), which checks them
against the FHIR datatypes as they are made.
"""
from __future__ import annotations

import base64
import datetime as _dt

from lxml import etree

ATC_SYSTEM = "urn:oid:2.16.756.5.30.1.127.3.10.7"
EPR_SPID_SYSTEM = "urn:oid:2.16.756.5.30.1.127.3.10.3"
EPR_ROLE_SYSTEM = "urn:oid:2.16.756.5.30.1.127.3.10.6"
EPR_PURPOSE_SYSTEM = "urn:oid:2.16.756.5.30.1.127.3.10.5"
GLN_SYSTEM = "urn:oid:2.51.1.3"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
PROFILE = "http://fhir.ch/ig/ch-atc/StructureDefinition/"

#: IHE transaction -> (ATC event type, display, CH:ATC profile)
ATC_EVENTS = {
    "ITI-41": ("ATC_DOC_CREATE", "Document upload", "DocumentAuditEvent"),
    "ITI-42": ("ATC_DOC_CREATE", "Document upload", "DocumentAuditEvent"),
    "ITI-43": ("ATC_DOC_READ", "Document retrieval", "DocumentAuditEvent"),
    "ITI-39": ("ATC_DOC_READ", "Document retrieval", "DocumentAuditEvent"),
    "ITI-18": ("ATC_DOC_SEARCH", "Document metadata query", "DocumentAuditEvent"),
    "ITI-38": ("ATC_DOC_SEARCH", "Document metadata query", "DocumentAuditEvent"),
    "ITI-57": ("ATC_DOC_UPDATE", "Document metadata update", "DocumentAuditEvent"),
    "ITI-92": ("ATC_DOC_UPDATE", "Document metadata update", "DocumentAuditEvent"),
    "DOC-DELETE": ("ATC_DOC_DELETE", "Document deletion", "DocumentAuditEvent"),
    "ITI-81": ("ATC_LOG_READ", "Accessing the Patient Audit Record Repository", "AccessAuditTrailEvent"),
    "PPQ-1": ("ATC_POL_UPDATE", "Policy update", "PolicyAuditEvent"),
    "PPQ-2": ("ATC_POL_READ", "Policy read", "PolicyAuditEvent"),
}
ROLE_NAMES = {"HCP": "Healthcare professional", "ASS": "Assistant", "TCU": "Technical user", "PAT": "Patient",
              "REP": "Representative", "PADM": "Policy administrator", "DADM": "Document administrator"}
PURPOSE_NAMES = {"NORM": "Normal Access", "EMER": "Emergency Access", "AUTO": "Automatic Upload",
                 "DICOM_AUTO": "DICOM Auto"}


def atc_event_type(transaction: str) -> str | None:
    hit = ATC_EVENTS.get(transaction)
    return hit[0] if hit else None


def _b64(el: etree._Element, kind: str) -> str | None:
    for d in el.findall("ParticipantObjectDetail"):
        if d.get("type") == kind:
            return d.get("value")
    return None


def trail_event(message: etree._Element, *, record_id: str, transaction: str, epr_spid: str,
                observer: str) -> dict | None:
    """The CH:ATC AuditEvent (as FHIR JSON) of one stored AuditMessage, or ``None`` if the record is
    no ATC event. ``observer``: the OID of the system that recorded it (the community)."""
    from fhir.resources.R4B.auditevent import AuditEvent
    hit = ATC_EVENTS.get(transaction)
    if hit is None:
        return None
    code, display, profile = hit
    ident = message.find("EventIdentification")
    event_id = ident.find("EventID")
    purpose = ident.find("PurposeOfUse")
    recorded = _dt.datetime.fromisoformat(ident.get("EventDateTime"))
    agents = []
    for p in message.findall("ActiveParticipant"):
        role = p.find("RoleIDCode")
        if role is None or role.get("codeSystemName") != EPR_ROLE_SYSTEM[len("urn:oid:"):]:
            continue
        r = role.get("csd-code")
        agent: dict = {"role": [{"coding": [{"system": EPR_ROLE_SYSTEM, "code": r,
                                             "display": ROLE_NAMES.get(r, r)}]}],
                       "requestor": p.get("UserIsRequestor") == "true"}
        who = p.get("UserID")
        if who:
            system = GLN_SYSTEM if r in ("HCP", "ASS") and who.isdigit() and len(who) == 13 else None
            agent["who"] = {"identifier": {"system": system, "value": who} if system else {"value": who}}
        if p.get("UserName"):
            agent["name"] = p.get("UserName")
        agents.append(agent)
    if not agents:   # the system that called (no XUA user known)
        first = message.find("ActiveParticipant")
        agents.append({"who": {"identifier": {"value": first.get("UserID")}}, "requestor": True})
    entities = [{"what": {"identifier": {"system": EPR_SPID_SYSTEM, "value": epr_spid}},
                 "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
                 "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"}}]
    for obj in message.findall("ParticipantObjectIdentification"):
        if obj.get("ParticipantObjectTypeCodeRole") != "3":
            continue
        details = []
        for kind, name in (("Repository Unique Id", "Repository Unique Id"), ("ihe:homeCommunityID", "homeCommunityID")):
            value = _b64(obj, kind)
            if value:
                details.append({"type": name, "valueBase64Binary": value})
        entity = {"what": {"identifier": {
                      "type": {"coding": [{"system": "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab",
                                           "code": "IHE XDS Metadata", "display": "XDSDocumentEntry.uniqueId"}]},
                      "system": "urn:ietf:rfc:3986", "value": "urn:oid:" + obj.get("ParticipantObjectID")}},
                  "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
                  "role": {"system": OBJECT_ROLE, "code": "3", "display": "Report"}}
        if obj.get("ParticipantObjectSensitivity"):
            entity["securityLabel"] = [{"system": "http://snomed.info/sct",
                                        "code": obj.get("ParticipantObjectSensitivity")}]
        if details:
            entity["detail"] = details
        entities.append(entity)
    emergency = purpose is not None and purpose.get("csd-code") == "EMER"
    text = f"{display} on {recorded.strftime('%d.%m.%Y %H:%M')} UTC"
    if emergency:
        text += ", Emergency Access"
    resource = {
        "resourceType": "AuditEvent", "id": record_id,
        "meta": {"profile": [PROFILE + profile]},
        "text": {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{_escape(text)}</div>'},
        "type": {"system": DCM, "code": event_id.get("csd-code"), "display": event_id.get("displayName")},
        "subtype": [{"system": ATC_SYSTEM, "code": code, "display": display}],
        "action": ident.get("EventActionCode"),
        "recorded": recorded.isoformat(),
        "outcome": ident.get("EventOutcomeIndicator"),
        "agent": agents,
        "source": {"observer": {"identifier": {"system": "urn:ietf:rfc:3986", "value": "urn:oid:" + observer}}},
        "entity": entities,
    }
    if ident.findtext("EventOutcomeDescription"):
        resource["outcomeDesc"] = ident.findtext("EventOutcomeDescription")
    if purpose is not None:
        p = purpose.get("csd-code")
        resource["purposeOfEvent"] = [{"coding": [{"system": EPR_PURPOSE_SYSTEM, "code": p,
                                                   "display": PURPOSE_NAMES.get(p, p)}]}]
    return AuditEvent.model_validate(resource).model_dump(mode="json", exclude_none=True)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def searchset(entries: list[dict], *, total: int, self_url: str, next_url: str | None, base: str) -> dict:
    """A FHIR searchset Bundle of AuditEvents (ITI-81 response), validated by fhir.resources."""
    from fhir.resources.R4B.bundle import Bundle
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links,
              "entry": [{"fullUrl": f"{base}/AuditEvent/{e['id']}", "resource": e, "search": {"mode": "match"}}
                        for e in entries]}
    return Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)


def decode_detail(value: str) -> str:
    return base64.b64decode(value).decode("utf-8")
