"""PIX V3 Manager: Patient Identity Feed (ITI-44) and PIX Query (ITI-45), CH:PIXV3 flavour.

- ITI-44 Add (PRPA_IN201301UV02), Revise (PRPA_IN201302UV02) and Duplicates Resolved
  (PRPA_IN201304UV02) answer MCCI_IN000002UV01: AA, or AE/AR with acknowledgementDetail naming
  what is wrong (code from HL7 table 0357, text, XPath location).
- ITI-45 (PRPA_IN201309UV02 -> PRPA_IN201310UV02) returns exactly the MPI-PID and the EPR-SPID
  (the Swiss dataSources), following ITI TF-2b 3.45.4.2.3:
    case 1 known patient, ids in the requested domains: AA / OK with one registrationEvent;
    case 2 known patient, no id in the requested domains: AA / NF, no registrationEvent;
    case 3 patient identifier not recognised (unknown domain or unknown id): AE / AE, detail 204
           located on the patientIdentifier value;
    case 4 a dataSource not recognised: AE / AE, one detail 204 per such dataSource value.
  The queried-for identifier itself is never repeated in Patient.id (3.45.4.2.3).

The EPR-SPID is checked (format, check digit) wherever it enters; a NAVS13 is refused.
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, replace

from lxml import etree

from profiles.audit import audit_event
from profiles.ch.identifiers import CX, EPR_SPID_OID, NAVS13_OID, looks_like_navs13
from profiles.context import RequestContext
from profiles.hl7v3.errors import (
    ACK_ACCEPT,
    ACK_ERROR,
    QUERY_ERROR,
    QUERY_NOT_FOUND,
    QUERY_OK,
    Hl7v3Error,
    MpiError,
)
from profiles.hl7v3.limits import DEFAULT_LIMITS, Hl7v3Limits, check_demographics
from profiles.hl7v3.messages import (
    ADD,
    DUPLICATES_RESOLVED,
    INTERACTION_ROOT,
    PIX_QUERY,
    PIX_RESPONSE,
    REVISE,
    AckDetail,
    MessageHeader,
    ResponseContext,
    add_acknowledgement,
    build_ack,
    child,
    children,
    header_or_none,
    new_message,
    read_header,
    read_ii,
    require,
    sub,
)
from profiles.hl7v3.messages_catalogue import M
from profiles.hl7v3.mpi import Demographics, Patient, PatientFeed, epr_spid_entry_problem, identifier_problem
from profiles.hl7v3.outcomes import Hl7v3Ports, Refusal, outcome, query_id_text, query_text, request_message_id
from profiles.hl7v3.person import parse_person
from profiles.hl7v3.ports import MpiPort
from profiles.outcome import AuditFacts, Outcome

log = logging.getLogger(__name__)

SPID_AUTHORITY_NAME = "SPID"
ITI44 = "ITI-44"
ITI45 = "ITI-45"

_SUBJECT = "hl7:controlActProcess/hl7:subject/hl7:registrationEvent/hl7:subject1/hl7:patient"
_PARAMS = "hl7:controlActProcess/hl7:queryByParameter/hl7:parameterList"
_PRIOR = ("hl7:controlActProcess/hl7:subject/hl7:registrationEvent/hl7:replacementOf/hl7:priorRegistration/"
          "hl7:subject1/hl7:priorRegisteredRole")


@dataclass(frozen=True)
class FeedIdentifiers:
    """The identifiers of a fed patient, sorted by domain."""
    epr_spid: str | None
    mpi_pid: str | None
    local_ids: tuple[CX, ...]
    first_location: str


def ii_to_cx(el: etree._Element, location: str, mpi_oid: str, limits: Hl7v3Limits = DEFAULT_LIMITS) -> CX:
    """An II that names a patient (local id, MPI-PID or EPR-SPID), checked; Hl7v3Error if not."""
    ii = read_ii(el)
    if ii is None or ii.null_flavor or not ii.root:
        raise M.PATIENT_ID_INCOMPLETE.error(location)
    if ii.root == NAVS13_OID or looks_like_navs13(ii.extension):
        raise M.NAVS13.error(location)
    if ii.root == EPR_SPID_OID:
        problem = epr_spid_entry_problem(ii.extension)
    else:
        problem = identifier_problem(ii.extension, ii.root, mpi_oid=mpi_oid, max_length=limits.max_identifier_length)
    if problem:
        err = Hl7v3Error(problem.text, problem.code, location)
        err.entry = problem.entry
        raise err
    return CX(id=ii.extension, oid=ii.root)


def split_identifiers(patient: etree._Element, base: str, mpi_oid: str,
                      limits: Hl7v3Limits = DEFAULT_LIMITS) -> FeedIdentifiers:
    """Patient.id and patientPerson/asOtherIDs/id sorted into EPR-SPID, MPI-PID and local ids."""
    located = [(el, f"{base}/hl7:id[{i}]") for i, el in enumerate(children(patient, "id"), 1)]
    person = child(patient, "patientPerson")
    for j, other in enumerate(children(person, "asOtherIDs"), 1):
        located += [(el, f"{base}/hl7:patientPerson/hl7:asOtherIDs[{j}]/hl7:id[{i}]")
                    for i, el in enumerate(children(other, "id"), 1)]
    if not located:
        raise M.NO_IDENTIFIER.error(f"{base}/hl7:id")
    if len(located) > limits.max_identifiers_per_person:
        raise M.TOO_MANY_IDENTIFIERS.error(f"{base}/hl7:id", limit=limits.max_identifiers_per_person)
    spid: str | None = None
    pid: str | None = None
    local: list[CX] = []
    for el, loc in located:
        cx = ii_to_cx(el, loc, mpi_oid, limits)
        if cx.oid == EPR_SPID_OID:
            if spid is not None and spid != cx.id:
                raise M.TWO_EPR_SPIDS.error(loc)
            spid = cx.id
        elif cx.oid == mpi_oid:
            if pid is not None and pid != cx.id:
                raise M.TWO_MPI_PIDS.error(loc)
            pid = cx.id
        elif cx not in local:
            local.append(cx)
    return FeedIdentifiers(spid, pid, tuple(local), located[0][1])


# -- ITI-44: parsed request ----------------------------------------------------------------------

@dataclass(frozen=True)
class FeedRequest:
    """A parsed ITI-44 message: Add/Revise (``ids``, ``demographics``) or Duplicates Resolved
    (``survivor``, ``obsolete``); ``refusal`` when it cannot be applied as it stands."""
    header: MessageHeader | None
    refusal: Refusal | None = None
    ids: FeedIdentifiers | None = None
    demographics: Demographics | None = None
    survivor: CX | None = None
    obsolete: CX | None = None
    mpi_oid: str = ""

    @property
    def interaction(self) -> str:
        return self.header.interaction if self.header is not None else ""

    @property
    def subject_location(self) -> str:
        return f"/hl7:{self.interaction}/{_SUBJECT}"

    def patient_ids(self) -> tuple[str, ...]:
        """The subject's identifiers in CX form (both records of a merge)."""
        if self.survivor is not None:
            return tuple(str(cx) for cx in (self.survivor, self.obsolete) if cx is not None)
        if self.ids is None:
            return ()
        out = [str(cx) for cx in self.ids.local_ids]
        if self.ids.mpi_pid:
            out.append(str(CX(self.ids.mpi_pid, self.mpi_oid)))
        if self.ids.epr_spid:
            out.append(str(CX(self.ids.epr_spid, EPR_SPID_OID)))
        return tuple(out)


def _subject(msg: etree._Element, header: MessageHeader) -> tuple[etree._Element, str]:
    base = f"/hl7:{header.interaction}/{_SUBJECT}"
    event = require(child(msg, "controlActProcess", "subject", "registrationEvent"), "registrationEvent",
                    f"/hl7:{header.interaction}/hl7:controlActProcess/hl7:subject/hl7:registrationEvent")
    patient = require(child(event, "subject1", "patient"), "subject1/patient", base)
    return patient, base


def parse_feed(msg: etree._Element, expected: tuple[str, ...], mpi_oid: str,
               limits: Hl7v3Limits = DEFAULT_LIMITS) -> FeedRequest:
    """An ITI-44 message (``expected``: the interactions its SOAP action allows) as a FeedRequest.
    Never raises for anything the message contains: what is wrong becomes the ``refusal``."""
    header: MessageHeader | None = None
    try:
        header = read_header(msg, expected)
        patient_el, base = _subject(msg, header)
        if header.interaction == DUPLICATES_RESOLVED:
            survivor_els = children(patient_el, "id")
            if not survivor_els:
                raise M.SURVIVOR_WITHOUT_ID.error(f"{base}/hl7:id")
            survivor = ii_to_cx(survivor_els[0], f"{base}/hl7:id[1]", mpi_oid, limits)
            prior_base = f"/hl7:{header.interaction}/{_PRIOR}"
            prior = child(msg, "controlActProcess", "subject", "registrationEvent", "replacementOf",
                          "priorRegistration", "subject1", "priorRegisteredRole")
            prior_ids = children(prior, "id")
            if not prior_ids:
                raise M.OBSOLETE_ID_MISSING.error(f"{prior_base}/hl7:id")
            obsolete = ii_to_cx(prior_ids[0], f"{prior_base}/hl7:id[1]", mpi_oid, limits)
            return FeedRequest(header, survivor=survivor, obsolete=obsolete, mpi_oid=mpi_oid)
        ids = split_identifiers(patient_el, base, mpi_oid, limits)
        person = require(child(patient_el, "patientPerson"), "patientPerson", f"{base}/hl7:patientPerson")
        demographics = parse_person(person, f"{base}/hl7:patientPerson")
        check_demographics(demographics, f"{base}/hl7:patientPerson", limits)
        if header.interaction == ADD:
            if ids.epr_spid is None:
                raise M.FEED_NEEDS_EPR_SPID.error(f"{base}/hl7:id")
            if not ids.local_ids:
                raise M.FEED_NEEDS_LOCAL_ID.error(f"{base}/hl7:id")
        return FeedRequest(header, ids=ids, demographics=demographics, mpi_oid=mpi_oid)
    except Hl7v3Error as err:
        return FeedRequest(header or header_or_none(msg), Refusal.of(err), mpi_oid=mpi_oid)


# -- ITI-44: the use case --------------------------------------------------------------------------

def patient_identity_feed(ctx: RequestContext, request: FeedRequest, ports: Hl7v3Ports) -> Outcome:
    """ITI-44 Add, Revise or Duplicates Resolved: one port call (one database transaction); the
    reply is MCCI_IN000002UV01 (AA, or AE/AR with the acknowledgementDetails)."""
    header = request.header
    facts = AuditFacts(transaction=ITI44, patient_ids=request.patient_ids(), message_id=request_message_id(header))

    def answer(ack: str, details: tuple[AckDetail, ...] = (), patient: Patient | None = None) -> Outcome:
        nonlocal facts
        if patient is not None:
            pid = str(CX(patient.mpi_pid, ports.mpi.mpi_oid))
            if pid not in facts.patient_ids:
                facts = AuditFacts(transaction=ITI44, patient_ids=facts.patient_ids + (pid,),
                                   message_id=facts.message_id)
        return outcome(build_ack(header, ports.responder, ack, details), ack, details, facts)

    recorded: list[Outcome] = []

    def record(patient: Patient):
        """The AA's audit event, built when the MPI port asks, inside its write transaction
        (durable first: the record commits or rolls back with the change)."""
        accepted = answer(ACK_ACCEPT, patient=patient)
        recorded.append(replace(accepted, recorded=audit_event(ctx, outcome=accepted)))
        return recorded[-1].recorded

    if request.refusal is not None:
        return answer(request.refusal.ack, request.refusal.details)
    mpi = ports.mpi
    try:
        if request.survivor is not None:
            base = request.subject_location
            if mpi.find(request.survivor) is None:
                raise M.SURVIVOR_UNKNOWN.error(f"{base}/hl7:id[1]", patient=request.survivor)
            if mpi.find(request.obsolete) is None:
                raise M.OBSOLETE_UNKNOWN.error(f"/hl7:{request.interaction}/{_PRIOR}/hl7:id[1]",
                                               patient=request.obsolete)
            patient = mpi.merge(request.survivor, request.obsolete, request_message_id(header) or "", audit=record)
        elif request.interaction == ADD:
            ids = request.ids
            patient = mpi.feed_add(PatientFeed(epr_spid=ids.epr_spid, demographics=request.demographics,
                                               local_ids=ids.local_ids, mpi_pid=ids.mpi_pid), audit=record)
        else:   # Revise: the first identifier the MPI knows names the person
            ids = request.ids
            key = None
            for cx in list(ids.local_ids) + ([CX(ids.mpi_pid, mpi.mpi_oid)] if ids.mpi_pid else []) \
                    + ([CX(ids.epr_spid, EPR_SPID_OID)] if ids.epr_spid else []):
                if mpi.find(cx) is not None:
                    key = cx
                    break
            if key is None:
                raise M.REVISE_UNKNOWN.error(ids.first_location)
            patient = mpi.feed_revise(key, PatientFeed(epr_spid=ids.epr_spid, demographics=request.demographics,
                                                       local_ids=ids.local_ids, mpi_pid=ids.mpi_pid), audit=record)
        if recorded:   # stored with the change (the last attempt's, when the port retried)
            return recorded[-1]
        return answer(ACK_ACCEPT, patient=patient)
    except Hl7v3Error as err:
        return answer(err.ack, (AckDetail.from_error(err),))
    except MpiError as err:
        return answer(ACK_ERROR, (AckDetail(str(err), err.code, f"{request.subject_location}/hl7:id"),))
    except Exception:   # noqa: BLE001 - never a stack trace on the wire
        log.exception("ITI-44 failed (request id %s)", ctx.request_id)
        return answer(ACK_ERROR, (M.FEED_INTERNAL_ERROR.detail(),))


# -- ITI-45 ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PixQueryRequest:
    """A parsed ITI-45 query: the identifier asked about and the domains wanted."""
    header: MessageHeader | None
    refusal: Refusal | None = None
    qbp: etree._Element | None = None          # echoed in the response
    wanted: CX | None = None
    wanted_location: str = ""
    domains: tuple[str, ...] = ()


def parse_pix_query(msg: etree._Element, mpi_oid: str, limits: Hl7v3Limits = DEFAULT_LIMITS) -> PixQueryRequest:
    """A PRPA_IN201309UV02 as a PixQueryRequest (ITI TF-2b 3.45.4.2.3 case 4, an unknown
    dataSource, is decided here: it needs nothing but the configuration)."""
    header: MessageHeader | None = None
    qbp: etree._Element | None = None
    try:
        header = read_header(msg, (PIX_QUERY,))
        base = f"/hl7:{PIX_QUERY}/hl7:controlActProcess/hl7:queryByParameter"
        qbp = require(child(msg, "controlActProcess", "queryByParameter"), "queryByParameter", base)
        params = require(child(qbp, "parameterList"), "parameterList", f"{base}/hl7:parameterList")
        pid_params = children(params, "patientIdentifier")
        if len(pid_params) != 1:
            raise M.ONE_PATIENT_IDENTIFIER.error(f"/hl7:{PIX_QUERY}/{_PARAMS}/hl7:patientIdentifier")
        sources = children(params, "dataSource")
        if len(sources) > limits.max_parameter_values:
            raise M.TOO_MANY_VALUES.error(f"/hl7:{PIX_QUERY}/{_PARAMS}/hl7:dataSource", parameter="dataSource",
                                          limit=limits.max_parameter_values)
        pid_loc = f"/hl7:{PIX_QUERY}/{_PARAMS}/hl7:patientIdentifier/hl7:value"
        value = require(child(pid_params[0], "value"), "patientIdentifier/value", pid_loc)
        wanted = ii_to_cx(value, pid_loc, mpi_oid, limits)
        # case 4: every dataSource must be a domain we answer for (CH: the community, the EPR-SPID)
        domains: list[str] = []
        bad: list[AckDetail] = []
        for i, ds in enumerate(sources, 1):
            root = (child(ds, "value").get("root") if child(ds, "value") is not None else "") or ""
            if root in (mpi_oid, EPR_SPID_OID):
                domains.append(root)
            else:
                bad.append(M.DATA_SOURCE_UNKNOWN.detail(f"/hl7:{PIX_QUERY}/{_PARAMS}/hl7:dataSource[{i}]/hl7:value",
                                                        root=root, known=f"{mpi_oid}, {EPR_SPID_OID}"))
        if bad:
            return PixQueryRequest(header, Refusal(ACK_ERROR, tuple(bad)), qbp, wanted, pid_loc)
        return PixQueryRequest(header, None, qbp, wanted, pid_loc, tuple(domains))
    except Hl7v3Error as err:
        return PixQueryRequest(header or header_or_none(msg), Refusal.of(err), qbp)


def pix_query(ctx: RequestContext, request: PixQueryRequest, ports: Hl7v3Ports) -> Outcome:
    """ITI-45: the MPI-PID and the EPR-SPID of the patient an identifier names (cases 1 to 4 of
    ITI TF-2b 3.45.4.2.3; the queried-for identifier is never repeated)."""
    header, qbp, mpi = request.header, request.qbp, ports.mpi

    def answer(ack: str, code: str, patient: Patient | None = None, ids: tuple[CX, ...] = (),
               details: tuple[AckDetail, ...] = ()) -> Outcome:
        facts = AuditFacts(transaction=ITI45,
                           patient_ids=tuple(str(cx) for cx in ((request.wanted,) if request.wanted else ()) + ids),
                           message_id=request_message_id(header),
                           query_id=query_id_text(child(qbp, "queryId") if qbp is not None else None),
                           query_text=query_text(qbp), entries_returned=1 if patient is not None else 0)
        reply = pix_query_response(ports, header, qbp, ack, code, patient, ids, details)
        return outcome(reply, ack, details, facts)

    if request.refusal is not None:
        return answer(request.refusal.ack, QUERY_ERROR, details=request.refusal.details)
    wanted = request.wanted
    try:
        # case 3: the patient identifier (its domain, or the id in it) is not recognised
        if not mpi.is_known_domain(wanted.oid):
            raise M.AUTHORITY_UNKNOWN.error(request.wanted_location, oid=wanted.oid, what="patient identifier")
        patient = mpi.find(wanted)
        if patient is None:
            raise M.PATIENT_UNKNOWN.error(request.wanted_location, patient=wanted)
        ids = tuple(cx for cx in (CX(patient.mpi_pid, mpi.mpi_oid), CX(patient.epr_spid, EPR_SPID_OID))
                    if (not request.domains or cx.oid in request.domains) and cx != wanted)
        if not ids:   # case 2
            return answer(ACK_ACCEPT, QUERY_NOT_FOUND)
        return answer(ACK_ACCEPT, QUERY_OK, patient, ids)
    except Hl7v3Error as err:
        return answer(err.ack, QUERY_ERROR, details=(AckDetail.from_error(err),))
    except Exception:   # noqa: BLE001
        log.exception("ITI-45 failed (request id %s)", ctx.request_id)
        return answer(ACK_ERROR, QUERY_ERROR, details=(M.QUERY_INTERNAL_ERROR.detail(),))


def patient_ids(parent: etree._Element, ids, mpi_authority_name: str) -> None:
    for cx in ids:
        name = SPID_AUTHORITY_NAME if cx.oid == EPR_SPID_OID else mpi_authority_name
        sub(parent, "id", root=cx.oid, extension=cx.id, assigningAuthorityName=name)


def custodian(event: etree._Element, ports: Hl7v3Ports) -> None:
    cust = sub(event, "custodian", typeCode="CST")
    entity = sub(cust, "assignedEntity", classCode="ASSIGNED")
    sub(entity, "id", root=ports.responder.organization_oid or ports.mpi.mpi_oid)


def pix_query_response(ports: Hl7v3Ports, header: MessageHeader | None, qbp: etree._Element | None, ack: str,
                       response_code: str, patient: Patient | None, ids, details=()) -> etree._Element:
    msg = new_message(PIX_RESPONSE, header, ports.responder)
    add_acknowledgement(msg, ack, header, details)
    cap = sub(msg, "controlActProcess", classCode="CACT", moodCode="EVN")
    sub(cap, "code", code="PRPA_TE201310UV02", codeSystem=INTERACTION_ROOT)
    if patient is not None:
        subject = sub(cap, "subject", typeCode="SUBJ")
        event = sub(subject, "registrationEvent", classCode="REG", moodCode="EVN")
        sub(event, "id", nullFlavor="NA")
        sub(event, "statusCode", code="active")
        pat = sub(sub(event, "subject1", typeCode="SBJ"), "patient", classCode="PAT")
        patient_ids(pat, list(ids), ports.mpi_authority_name)
        sub(pat, "statusCode", code="active")
        person = sub(pat, "patientPerson", classCode="PSN", determinerCode="INSTANCE")
        sub(person, "name", nullFlavor="NA")
        custodian(event, ports)
    query_ack = sub(cap, "queryAck")
    qid = child(qbp, "queryId") if qbp is not None else None
    if qid is not None:
        query_ack.append(copy.deepcopy(qid))
    sub(query_ack, "statusCode", code="deliveredResponse")
    sub(query_ack, "queryResponseCode", code=response_code)
    if qbp is not None:
        cap.append(copy.deepcopy(qbp))
    return msg


class PixManager:
    """The PIX V3 Manager over an :class:`MpiPort`, element in, element out: parse and use case in
    one call (tests, in-process callers). Never raises for anything the message contains."""

    def __init__(self, mpi: MpiPort, ctx: ResponseContext, mpi_authority_name: str = "",
                 limits: Hl7v3Limits = DEFAULT_LIMITS) -> None:
        self.ports = Hl7v3Ports(mpi=mpi, responder=ctx, limits=limits, mpi_authority_name=mpi_authority_name)

    def feed(self, msg: etree._Element, expected: tuple[str, ...] = (ADD, REVISE, DUPLICATES_RESOLVED)) -> etree._Element:
        request = parse_feed(msg, expected, self.ports.mpi.mpi_oid, self.ports.limits)
        return patient_identity_feed(RequestContext(transaction=ITI44), request, self.ports).reply

    def query(self, msg: etree._Element) -> etree._Element:
        request = parse_pix_query(msg, self.ports.mpi.mpi_oid, self.ports.limits)
        return pix_query(RequestContext(transaction=ITI45), request, self.ports).reply
