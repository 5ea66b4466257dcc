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
from dataclasses import dataclass

from lxml import etree

from profiles.ch.identifiers import CX, EPR_SPID_OID, NAVS13_OID, looks_like_navs13
from profiles.hl7v3.errors import (
    ACK_ACCEPT,
    ACK_ERROR,
    APPLICATION_INTERNAL_ERROR,
    DATA_TYPE_ERROR,
    QUERY_ERROR,
    QUERY_NOT_FOUND,
    QUERY_OK,
    REQUIRED_FIELD_MISSING,
    UNKNOWN_KEY_IDENTIFIER,
    Hl7v3Error,
    MpiError,
)
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
from profiles.hl7v3.mpi import NAVS13_MESSAGE, Patient, PatientFeed, epr_spid_entry_problem, identifier_problem
from profiles.hl7v3.person import parse_person
from profiles.hl7v3.ports import MpiPort

log = logging.getLogger(__name__)

SPID_AUTHORITY_NAME = "SPID"

_SUBJECT = "hl7:controlActProcess/hl7:subject/hl7:registrationEvent/hl7:subject1/hl7:patient"
_PARAMS = "hl7:controlActProcess/hl7:queryByParameter/hl7:parameterList"


@dataclass(frozen=True)
class FeedIdentifiers:
    """The identifiers of a fed patient, sorted by domain."""
    epr_spid: str | None
    mpi_pid: str | None
    local_ids: tuple[CX, ...]
    first_location: str


def ii_to_cx(el: etree._Element, location: str, mpi_oid: str) -> CX:
    """An II that names a patient (local id, MPI-PID or EPR-SPID), checked; Hl7v3Error if not."""
    ii = read_ii(el)
    if ii is None or ii.null_flavor or not ii.root:
        raise Hl7v3Error("patient identifier needs a root (assigning authority OID) and an extension",
                         REQUIRED_FIELD_MISSING, location)
    if ii.root == NAVS13_OID or looks_like_navs13(ii.extension):
        raise Hl7v3Error(NAVS13_MESSAGE, DATA_TYPE_ERROR, location)
    if ii.root == EPR_SPID_OID:
        problem = epr_spid_entry_problem(ii.extension)
        if problem:
            raise Hl7v3Error(problem, DATA_TYPE_ERROR, location)
    else:
        problem = identifier_problem(ii.extension, ii.root, mpi_oid=mpi_oid)
        if problem:
            raise Hl7v3Error(problem, REQUIRED_FIELD_MISSING if not ii.extension else DATA_TYPE_ERROR, location)
    return CX(id=ii.extension, oid=ii.root)


def split_identifiers(patient: etree._Element, base: str, mpi_oid: str) -> FeedIdentifiers:
    """Patient.id and patientPerson/asOtherIDs/id sorted into EPR-SPID, MPI-PID and local ids."""
    located = [(el, f"{base}/hl7:id[{i}]") for i, el in enumerate(children(patient, "id"), 1)]
    person = child(patient, "patientPerson")
    for j, other in enumerate(children(person, "asOtherIDs"), 1):
        located += [(el, f"{base}/hl7:patientPerson/hl7:asOtherIDs[{j}]/hl7:id[{i}]")
                    for i, el in enumerate(children(other, "id"), 1)]
    if not located:
        raise Hl7v3Error("the patient has no identifier", REQUIRED_FIELD_MISSING, f"{base}/hl7:id")
    spid: str | None = None
    pid: str | None = None
    local: list[CX] = []
    for el, loc in located:
        cx = ii_to_cx(el, loc, mpi_oid)
        if cx.oid == EPR_SPID_OID:
            if spid is not None and spid != cx.id:
                raise Hl7v3Error("two different EPR-SPIDs for one patient", DATA_TYPE_ERROR, loc)
            spid = cx.id
        elif cx.oid == mpi_oid:
            if pid is not None and pid != cx.id:
                raise Hl7v3Error("two different MPI-PIDs for one patient", DATA_TYPE_ERROR, loc)
            pid = cx.id
        elif cx not in local:
            local.append(cx)
    return FeedIdentifiers(spid, pid, tuple(local), located[0][1])


class PixManager:
    """The PIX V3 Manager over an :class:`MpiPort`. Every public method returns a response
    element and never raises for anything the message contains."""

    def __init__(self, mpi: MpiPort, ctx: ResponseContext, mpi_authority_name: str = "") -> None:
        self.mpi = mpi
        self.ctx = ctx
        self.mpi_authority_name = mpi_authority_name

    # -- ITI-44 ----------------------------------------------------------------------------------

    def feed(self, msg: etree._Element, expected: tuple[str, ...] = (ADD, REVISE, DUPLICATES_RESOLVED)) -> etree._Element:
        """Handle an ITI-44 message (``expected``: the interactions the SOAP action allows)."""
        header: MessageHeader | None = None
        try:
            header = read_header(msg, expected)
            if header.interaction == DUPLICATES_RESOLVED:
                self._merge(msg, header)
            else:
                self._add_or_revise(msg, header)
            return build_ack(header, self.ctx, ACK_ACCEPT)
        except Hl7v3Error as err:
            return build_ack(header or header_or_none(msg), self.ctx, err.ack, [AckDetail.from_error(err)])
        except MpiError as err:
            return build_ack(header, self.ctx, ACK_ERROR,
                             [AckDetail(str(err), err.code, f"/hl7:{header.interaction}/{_SUBJECT}/hl7:id" if header else None)])
        except Exception:   # noqa: BLE001 - never a stack trace on the wire
            log.exception("ITI-44 failed")
            return build_ack(header or header_or_none(msg), self.ctx, ACK_ERROR,
                             [AckDetail("internal error of the MPI; the message was not applied",
                                        APPLICATION_INTERNAL_ERROR)])

    def _subject(self, msg: etree._Element, header: MessageHeader) -> tuple[etree._Element, str]:
        base = f"/hl7:{header.interaction}/{_SUBJECT}"
        event = require(child(msg, "controlActProcess", "subject", "registrationEvent"), "registrationEvent",
                        f"/hl7:{header.interaction}/hl7:controlActProcess/hl7:subject/hl7:registrationEvent")
        patient = require(child(event, "subject1", "patient"), "subject1/patient", base)
        return patient, base

    def _add_or_revise(self, msg: etree._Element, header: MessageHeader) -> Patient:
        patient_el, base = self._subject(msg, header)
        ids = split_identifiers(patient_el, base, self.mpi.mpi_oid)
        person = require(child(patient_el, "patientPerson"), "patientPerson", f"{base}/hl7:patientPerson")
        demographics = parse_person(person, f"{base}/hl7:patientPerson")
        if header.interaction == ADD:
            if ids.epr_spid is None:
                raise Hl7v3Error("CH:PIX: the feed must carry the EPR-SPID (root 2.16.756.5.30.1.127.3.10.3)",
                                 REQUIRED_FIELD_MISSING, f"{base}/hl7:id")
            if not ids.local_ids:
                raise Hl7v3Error("the feed must carry the patient's local id of the source system",
                                 REQUIRED_FIELD_MISSING, f"{base}/hl7:id")
            return self.mpi.feed_add(PatientFeed(epr_spid=ids.epr_spid, demographics=demographics,
                                                 local_ids=ids.local_ids, mpi_pid=ids.mpi_pid))
        # Revise: the first identifier the MPI knows names the person.
        key = None
        for cx in list(ids.local_ids) + ([CX(ids.mpi_pid, self.mpi.mpi_oid)] if ids.mpi_pid else []) \
                + ([CX(ids.epr_spid, EPR_SPID_OID)] if ids.epr_spid else []):
            if self.mpi.find(cx) is not None:
                key = cx
                break
        if key is None:
            raise Hl7v3Error("no patient in the MPI has any of the identifiers of this revise",
                             UNKNOWN_KEY_IDENTIFIER, ids.first_location)
        return self.mpi.feed_revise(key, PatientFeed(epr_spid=ids.epr_spid, demographics=demographics,
                                                     local_ids=ids.local_ids, mpi_pid=ids.mpi_pid))

    def _merge(self, msg: etree._Element, header: MessageHeader) -> Patient:
        patient_el, base = self._subject(msg, header)
        survivor_els = children(patient_el, "id")
        if not survivor_els:
            raise Hl7v3Error("the surviving patient has no identifier", REQUIRED_FIELD_MISSING, f"{base}/hl7:id")
        survivor = ii_to_cx(survivor_els[0], f"{base}/hl7:id[1]", self.mpi.mpi_oid)
        prior_base = (f"/hl7:{header.interaction}/hl7:controlActProcess/hl7:subject/hl7:registrationEvent/"
                      "hl7:replacementOf/hl7:priorRegistration/hl7:subject1/hl7:priorRegisteredRole")
        prior = child(msg, "controlActProcess", "subject", "registrationEvent", "replacementOf",
                      "priorRegistration", "subject1", "priorRegisteredRole")
        prior_ids = children(prior, "id")
        if not prior_ids:
            raise Hl7v3Error("the obsolete patient identifier (priorRegisteredRole/id) is missing",
                             REQUIRED_FIELD_MISSING, f"{prior_base}/hl7:id")
        obsolete = ii_to_cx(prior_ids[0], f"{prior_base}/hl7:id[1]", self.mpi.mpi_oid)
        if self.mpi.find(survivor) is None:
            raise Hl7v3Error(f"surviving patient {survivor} is not in the MPI", UNKNOWN_KEY_IDENTIFIER,
                             f"{base}/hl7:id[1]")
        if self.mpi.find(obsolete) is None:
            raise Hl7v3Error(f"obsolete patient {obsolete} is not in the MPI (or already merged)",
                             UNKNOWN_KEY_IDENTIFIER, f"{prior_base}/hl7:id[1]")
        mid = header.message_id
        return self.mpi.merge(survivor, obsolete, f"{mid.root}^{mid.extension}" if mid else "")

    # -- ITI-45 ----------------------------------------------------------------------------------

    def query(self, msg: etree._Element) -> etree._Element:
        """Handle an ITI-45 PIX Query; returns PRPA_IN201310UV02."""
        header: MessageHeader | None = None
        qbp: etree._Element | None = None
        try:
            header = read_header(msg, (PIX_QUERY,))
            base = f"/hl7:{PIX_QUERY}/hl7:controlActProcess/hl7:queryByParameter"
            qbp = require(child(msg, "controlActProcess", "queryByParameter"), "queryByParameter", base)
            params = require(child(qbp, "parameterList"), "parameterList", f"{base}/hl7:parameterList")
            pid_params = children(params, "patientIdentifier")
            if len(pid_params) != 1:
                raise Hl7v3Error("exactly one patientIdentifier parameter is required", REQUIRED_FIELD_MISSING,
                                 f"/hl7:{PIX_QUERY}/{_PARAMS}/hl7:patientIdentifier")
            pid_loc = f"/hl7:{PIX_QUERY}/{_PARAMS}/hl7:patientIdentifier/hl7:value"
            value = require(child(pid_params[0], "value"), "patientIdentifier/value", pid_loc)
            wanted = ii_to_cx(value, pid_loc, self.mpi.mpi_oid)
            # case 4: every dataSource must be a domain we answer for (CH: the community, the EPR-SPID)
            domains: list[str] = []
            bad: list[AckDetail] = []
            for i, ds in enumerate(children(params, "dataSource"), 1):
                root = (child(ds, "value").get("root") if child(ds, "value") is not None else "") or ""
                if root in (self.mpi.mpi_oid, EPR_SPID_OID):
                    domains.append(root)
                else:
                    bad.append(AckDetail(f"data source {root!r} is not a domain of this PIX Manager "
                                         f"(known: {self.mpi.mpi_oid}, {EPR_SPID_OID})", UNKNOWN_KEY_IDENTIFIER,
                                         f"/hl7:{PIX_QUERY}/{_PARAMS}/hl7:dataSource[{i}]/hl7:value"))
            if bad:
                return self._query_response(header, qbp, ACK_ERROR, QUERY_ERROR, None, (), bad)
            # case 3: the patient identifier (its domain, or the id in it) is not recognised
            if not self.mpi.is_known_domain(wanted.oid):
                raise Hl7v3Error(f"assigning authority {wanted.oid} of the patient identifier is not known",
                                 UNKNOWN_KEY_IDENTIFIER, pid_loc)
            patient = self.mpi.find(wanted)
            if patient is None:
                raise Hl7v3Error(f"patient {wanted} is not known", UNKNOWN_KEY_IDENTIFIER, pid_loc)
            ids = [cx for cx in (CX(patient.mpi_pid, self.mpi.mpi_oid), CX(patient.epr_spid, EPR_SPID_OID))
                   if (not domains or cx.oid in domains) and cx != wanted]
            if not ids:   # case 2
                return self._query_response(header, qbp, ACK_ACCEPT, QUERY_NOT_FOUND, None, ())
            return self._query_response(header, qbp, ACK_ACCEPT, QUERY_OK, patient, ids)
        except Hl7v3Error as err:
            return self._query_response(header or header_or_none(msg), qbp, err.ack,
                                        QUERY_ERROR, None, (), [AckDetail.from_error(err)])
        except Exception:   # noqa: BLE001
            log.exception("ITI-45 failed")
            return self._query_response(header or header_or_none(msg), qbp, ACK_ERROR, QUERY_ERROR, None, (),
                                        [AckDetail("internal error of the MPI", APPLICATION_INTERNAL_ERROR)])

    def patient_ids(self, parent: etree._Element, ids: list[CX]) -> None:
        for cx in ids:
            name = SPID_AUTHORITY_NAME if cx.oid == EPR_SPID_OID else self.mpi_authority_name
            sub(parent, "id", root=cx.oid, extension=cx.id, assigningAuthorityName=name)

    def custodian(self, event: etree._Element) -> None:
        cust = sub(event, "custodian", typeCode="CST")
        entity = sub(cust, "assignedEntity", classCode="ASSIGNED")
        sub(entity, "id", root=self.ctx.organization_oid or self.mpi.mpi_oid)

    def _query_response(self, header: MessageHeader | None, qbp: etree._Element | None, ack: str,
                        response_code: str, patient: Patient | None, ids, details=()) -> etree._Element:
        msg = new_message(PIX_RESPONSE, header, self.ctx)
        add_acknowledgement(msg, ack, header, details)
        cap = sub(msg, "controlActProcess", classCode="CACT", moodCode="EVN")
        sub(cap, "code", code="PRPA_TE201310UV02", codeSystem=INTERACTION_ROOT)
        if patient is not None:
            subject = sub(cap, "subject", typeCode="SUBJ")
            event = sub(subject, "registrationEvent", classCode="REG", moodCode="EVN")
            sub(event, "id", nullFlavor="NA")
            sub(event, "statusCode", code="active")
            pat = sub(sub(event, "subject1", typeCode="SBJ"), "patient", classCode="PAT")
            self.patient_ids(pat, list(ids))
            sub(pat, "statusCode", code="active")
            person = sub(pat, "patientPerson", classCode="PSN", determinerCode="INSTANCE")
            sub(person, "name", nullFlavor="NA")
            self.custodian(event)
        query_ack = sub(cap, "queryAck")
        qid = child(qbp, "queryId") if qbp is not None else None
        if qid is not None:
            query_ack.append(_copy(qid))
        sub(query_ack, "statusCode", code="deliveredResponse")
        sub(query_ack, "queryResponseCode", code=response_code)
        if qbp is not None:
            cap.append(_copy(qbp))
        return msg


def _copy(el: etree._Element) -> etree._Element:
    return copy.deepcopy(el)

