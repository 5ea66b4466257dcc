"""The DICOM ``AuditMessage`` (PS3.15 A.5, RFC 3881) of one transaction, from its audit event.

:func:`audit_message` turns the pipeline's :class:`profiles.audit.AuditEvent` into the record the IHE
transaction specifies (ITI TF-2, each transaction's "Security Considerations"), seen from the side
this gateway plays (Document Repository, Document Registry, PIX Manager, PDQ Supplier...), with the
Swiss additions (eHealth Suisse, EPR-by-example ``Atna.md``): AuditEnterpriseSiteID is the community
OID, the purpose of use when the request carried XUA, the XUA user as an active participant with its
EPR role and, for ASS/TCU, the acting user as a second one, the confidentiality code of retrieved
documents as ParticipantObjectSensitivity, the homeCommunityId of queries.

Transport-free: an lxml element is built, nothing is sent or stored here.
"""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from lxml import etree

from profiles.audit import AuditEvent
from profiles.context import Principal

from . import codes as K

WSA_ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"

#: Characters XML 1.0 cannot carry (claims and query values come from callers).
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _safe(value: str) -> str:
    """``value`` with the characters XML cannot carry replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", value)


@dataclass(frozen=True)
class AuditSite:
    """Who reports: ``enterprise_site_id`` (the community OID), ``source_id`` (this gateway instance),
    ``community_id`` (the homeCommunityId, ``urn:oid:…``)."""

    enterprise_site_id: str
    source_id: str
    community_id: str = ""


# transaction -> (EventID, EventActionCode, the gateway's side: "destination" receives, "source" sends)
_EVENTS: dict[str, tuple[K.Code, str, str]] = {
    "ITI-18": (K.EV_QUERY, "E", "destination"),
    "ITI-38": (K.EV_QUERY, "E", "destination"),
    "ITI-39": (K.EV_EXPORT, "R", "source"),
    "ITI-41": (K.EV_IMPORT, "C", "destination"),
    "ITI-42": (K.EV_IMPORT, "C", "destination"),
    "ITI-43": (K.EV_EXPORT, "R", "source"),
    "ITI-44": (K.EV_PATIENT_RECORD, "C", "destination"),
    "ITI-45": (K.EV_QUERY, "E", "destination"),
    "ITI-47": (K.EV_QUERY, "E", "destination"),
    "ITI-55": (K.EV_QUERY, "E", "destination"),
    "ITI-57": (K.EV_PATIENT_RECORD, "U", "destination"),
    "ITI-81": (K.EV_QUERY, "E", "destination"),
    "PPQ-1": (K.EV_PATIENT_RECORD, "U", "destination"),
    "PPQ-2": (K.EV_QUERY, "E", "destination"),
}
_QUERIES = {"ITI-18", "ITI-38", "ITI-45", "ITI-47", "ITI-55", "ITI-81", "PPQ-2"}
_HL7V3 = {"ITI-44", "ITI-45", "ITI-47", "ITI-55"}
_DOCUMENT_SETS = {"ITI-41", "ITI-42"}
_RETRIEVES = {"ITI-39", "ITI-43"}
#: ITI-44 interactions -> EventActionCode (add C, revise U, duplicates resolved U for the survivor).
_FEED_ACTIONS = {"add": "C", "revise": "U", "merge": "U"}


def _code(parent: etree._Element, tag: str, code: K.Code) -> etree._Element:
    return etree.SubElement(parent, tag, {"csd-code": _safe(code[0]), "codeSystemName": code[1],
                                          "displayName": _safe(code[2]), "originalText": _safe(code[2])})


def _b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode("utf-8") if isinstance(text, str) else text).decode("ascii")


def _detail(parent: etree._Element, kind: str, value: str | bytes) -> None:
    etree.SubElement(parent, "ParticipantObjectDetail", type=kind, value=_b64(value))


def _participant(msg: etree._Element, user_id: str, *, requestor: bool, role: K.Code | None = None,
                 user_name: str | None = None, alt_user_id: str | None = None, nap: str | None = None,
                 nap_type: str = K.NAP_IP) -> etree._Element:
    attrs = {"UserID": _safe(user_id or "unknown")}
    if alt_user_id:
        attrs["AlternativeUserID"] = _safe(alt_user_id)
    if user_name:
        attrs["UserName"] = _safe(user_name)
    attrs["UserIsRequestor"] = "true" if requestor else "false"
    if nap:
        attrs["NetworkAccessPointID"] = _safe(nap)
        attrs["NetworkAccessPointTypeCode"] = nap_type
    el = etree.SubElement(msg, "ActiveParticipant", attrs)
    if role is not None:
        _code(el, "RoleIDCode", role)
    return el


def _epr_role(role: str) -> K.Code:
    return (role, K.EPR_ROLE_SYSTEM, K.EPR_ROLE_NAMES.get(role, role))


def _xua_subject_id(p: Principal) -> str:
    return p.user_id or "unknown"


def _humans(msg: etree._Element, p: Principal) -> None:
    """The XUA subject (and, for ASS/TCU, the acting user) as active participants."""
    if p.anonymous:
        return
    if p.acting_id and p.role in ("ASS", "TCU"):
        # the responsible professional (the assertion's subject), then the one who acts for him
        _participant(msg, _xua_subject_id(p), requestor=False, role=_epr_role("HCP"), user_name=p.user_name)
        _participant(msg, p.acting_id, requestor=True, role=_epr_role(p.role), user_name=p.acting_name)
    else:
        _participant(msg, _xua_subject_id(p), requestor=True,
                     role=_epr_role(p.role) if p.role else None, user_name=p.user_name)


def _patient(msg: etree._Element, patient_id: str, message_id: str | None = None) -> None:
    el = etree.SubElement(msg, "ParticipantObjectIdentification", ParticipantObjectID=_safe(patient_id),
                          ParticipantObjectTypeCode=K.TYPE_PERSON, ParticipantObjectTypeCodeRole=K.ROLE_PATIENT)
    _code(el, "ParticipantObjectIDTypeCode", K.OBJ_PATIENT_NUMBER)
    if message_id:
        _detail(el, "MSH-10", message_id)


def audit_message(event: AuditEvent, site: AuditSite) -> etree._Element:
    """The ``AuditMessage`` element for ``event`` as reported by ``site`` (schema: DICOM PS3.15 A.5.1)."""
    facts = event.facts
    tx = event.transaction or facts.transaction
    known = tx in _EVENTS
    event_id, action, side = _EVENTS.get(tx, (K.EV_SECURITY_ALERT, "E", "destination"))
    if tx == "ITI-44":
        action = _FEED_ACTIONS.get(str(facts.extra.get("action", "add")), "C")
    msg = etree.Element("AuditMessage")
    ident = etree.SubElement(msg, "EventIdentification", EventActionCode=action,
                             EventDateTime=event.time.isoformat(timespec="milliseconds"),
                             EventOutcomeIndicator=str(event.event_outcome))
    _code(ident, "EventID", event_id)
    if known:
        _code(ident, "EventTypeCode", (tx, K.IHE_TRANSACTIONS, K.TRANSACTION_NAMES.get(tx, tx)))
    description = _description(event)
    if description:
        etree.SubElement(ident, "EventOutcomeDescription").text = _safe(description)
    purpose = event.principal.purpose_of_use
    if purpose:
        _code(ident, "PurposeOfUse", (purpose, K.EPR_PURPOSE_SYSTEM, K.EPR_PURPOSE_NAMES.get(purpose, purpose)))

    remote = str(event.reply_to or facts.extra.get("reply_to") or WSA_ANONYMOUS)
    if tx in _HL7V3 and facts.extra.get("sender_device"):
        remote = str(facts.extra["sender_device"])
    ours = str(event.to or facts.extra.get("endpoint_url") or event.endpoint or site.source_id)
    if side == "destination":   # the caller sent to us
        _participant(msg, remote, requestor=True, role=K.ROLE_SOURCE, nap=event.remote_addr)
        _participant(msg, ours, requestor=False, role=K.ROLE_DESTINATION)
    else:                       # we sent the documents to the caller
        _participant(msg, ours, requestor=False, role=K.ROLE_SOURCE)
        _participant(msg, remote, requestor=True, role=K.ROLE_DESTINATION, nap=event.remote_addr)
    if event.principal.tls_subject:
        _participant(msg, event.principal.tls_subject, requestor=False, role=K.ROLE_APPLICATION,
                     nap=event.remote_addr)
    _humans(msg, event.principal)

    src = etree.SubElement(msg, "AuditSourceIdentification", AuditEnterpriseSiteID=site.enterprise_site_id,
                           AuditSourceID=_safe(site.source_id))
    etree.SubElement(src, "AuditSourceTypeCode", {"csd-code": K.SOURCE_TYPE_APPLICATION_SERVER})

    message_id = facts.message_id if tx in _HL7V3 else None
    for pid in dict.fromkeys(facts.patient_ids):
        _patient(msg, pid, message_id)
    if tx in _DOCUMENT_SETS and facts.submission_set_unique_id:
        el = etree.SubElement(msg, "ParticipantObjectIdentification",
                              ParticipantObjectID=_safe(facts.submission_set_unique_id),
                              ParticipantObjectTypeCode=K.TYPE_SYSTEM, ParticipantObjectTypeCodeRole=K.ROLE_JOB)
        _code(el, "ParticipantObjectIDTypeCode", K.OBJ_SUBMISSION_SET)
    if tx in _RETRIEVES or (tx not in _DOCUMENT_SETS and facts.document_unique_ids and tx not in _QUERIES):
        _documents(msg, facts, site)
    if tx in _QUERIES:
        _query(msg, tx, facts, site)
    return msg


def _documents(msg: etree._Element, facts, site: AuditSite) -> None:
    repos = facts.repository_unique_ids
    homes = facts.home_community_ids
    conf = facts.confidentiality_codes
    for i, uid in enumerate(facts.document_unique_ids):
        attrs = {"ParticipantObjectID": _safe(uid), "ParticipantObjectTypeCode": K.TYPE_SYSTEM,
                 "ParticipantObjectTypeCodeRole": K.ROLE_REPORT}
        if i < len(conf) and conf[i]:
            attrs["ParticipantObjectSensitivity"] = _safe(conf[i])
        el = etree.SubElement(msg, "ParticipantObjectIdentification", attrs)
        _code(el, "ParticipantObjectIDTypeCode", K.OBJ_REPORT_NUMBER)
        repo = repos[i] if i < len(repos) else (repos[0] if repos else "")
        if repo:
            _detail(el, "Repository Unique Id", repo)
        home = homes[i] if i < len(homes) else (homes[0] if homes else site.community_id)
        if home:
            _detail(el, "ihe:homeCommunityID", home)


def _query(msg: etree._Element, tx: str, facts, site: AuditSite) -> None:
    el = etree.SubElement(msg, "ParticipantObjectIdentification",
                          ParticipantObjectID=_safe(facts.query_id or tx), ParticipantObjectTypeCode=K.TYPE_SYSTEM,
                          ParticipantObjectTypeCodeRole=K.ROLE_QUERY)
    _code(el, "ParticipantObjectIDTypeCode", (tx, K.IHE_TRANSACTIONS, K.TRANSACTION_NAMES.get(tx, tx)))
    query = facts.query_text
    if query is None and facts.query_parameters:
        query = "&".join(f"{name}={'|'.join(values)}" for name, values in facts.query_parameters)
    etree.SubElement(el, "ParticipantObjectQuery").text = _b64(query or "")
    if tx in _HL7V3:
        if facts.message_id:
            _detail(el, "MSH-10", facts.message_id)
    else:
        _detail(el, "QueryEncoding", "UTF-8")
        for home in facts.home_community_ids or ((site.community_id,) if site.community_id else ()):
            _detail(el, "urn:ihe:iti:xca:2010:homeCommunityId", home)


def _description(event: AuditEvent) -> str | None:
    if event.fault_code is not None:
        return f"SOAP fault {event.fault_code}: {event.fault_reason or ''}".strip()
    errors = [p for p in event.problems if p.severity == "Error"]
    if not errors:
        return None
    return "; ".join(f"{p.code}: {p.message}" for p in errors[:5])[:2000]
