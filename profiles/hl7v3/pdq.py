"""PDQ V3 Supplier: Patient Demographics Query (ITI-47), CH:PDQ flavour, with continuations.

Query (PRPA_IN201305UV02 -> PRPA_IN201306UV02) by name, birth date, gender, address, telecom,
mother's maiden name and identifiers (a local id, the MPI-PID or the EPR-SPID). Every criterion
given must match. Matching rules for names (one place, :func:`parse_query`):

- default: case- and accent-insensitive equality of family name; the given name matches the
  whole given names or the first of them (``"Anna"`` matches ``"Anna Lea"``);
- fuzzy (prefix, case- and accent-insensitive) when the name value has ``use="SRCH"``, or the
  query carries a ``matchAlgorithm``, or a ``minimumDegreeMatch`` below 90;
- score per hit, in ``queryMatchObservation``: 100 literal, 90 case/accent-insensitive, 80 first
  given name in fuzzy mode, 70 prefix; ``minimumDegreeMatch`` filters on it.

Responses carry only the MPI-PID and the EPR-SPID as identifiers (restricted by
``otherIDsScopingOrganization`` when given; an unknown domain there is AE/204, ITI TF-2b
3.47.4.2.3). ``initialQuantity`` limits the first answer; the rest is kept through the
:class:`QueryStatePort` for QUQI_IN000003UV01 continuations (``continuationQuantity``) and cancels.
"""
from __future__ import annotations

import copy
import datetime as _dt
import logging
from dataclasses import dataclass

from lxml import etree

from profiles.ch.identifiers import CX, EPR_SPID_OID
from profiles.context import RequestContext
from profiles.hl7v3.errors import (
    ACK_ACCEPT,
    ACK_ERROR,
    QUERY_ERROR,
    QUERY_NOT_FOUND,
    QUERY_OK,
    QUERY_QUALIFICATION_ERROR,
    Hl7v3Error,
)
from profiles.hl7v3.limits import DEFAULT_LIMITS, Hl7v3Limits, check_text
from profiles.hl7v3.matching import rank
from profiles.hl7v3.messages import (
    CONTINUATION,
    INTERACTION_ROOT,
    PDQ_QUERY,
    PDQ_RESPONSE,
    XSI_NS,
    AckDetail,
    MessageHeader,
    ResponseContext,
    add_acknowledgement,
    build_ack,
    child,
    children,
    header_or_none,
    local_name,
    new_message,
    parse,
    read_header,
    require,
    sub,
    text,
)
from profiles.hl7v3.messages_catalogue import M
from profiles.hl7v3.mpi import Address, Patient
from profiles.hl7v3.outcomes import (MAX_RESULTS, Hl7v3Ports, Refusal, outcome, query_id_text, query_text,
                                     request_message_id)
from profiles.hl7v3.person import build_person, parse_address, parse_gender
from profiles.hl7v3.pix import SPID_AUTHORITY_NAME, ii_to_cx
from profiles.hl7v3.ports import DemographicQuery, MpiPort, NameCriterion, QueryState, QueryStatePort, SearchHit
from profiles.outcome import AuditFacts, Outcome

log = logging.getLogger(__name__)

ITI47 = "ITI-47"
DEFAULT_MIN_DEGREE = 0
FUZZY_THRESHOLD = 90

_P = f"/hl7:{PDQ_QUERY}/hl7:controlActProcess/hl7:queryByParameter"
_PL = f"{_P}/hl7:parameterList"
_QC = f"/hl7:{CONTINUATION}/hl7:controlActProcess/hl7:queryContinuation"


@dataclass(frozen=True)
class PdqQuery:
    """A parsed ITI-47 query. ``identifier_locations``: where each identifier criterion sits (its
    domain is checked against the MPI by the use case)."""
    criteria: DemographicQuery
    return_domains: tuple[str, ...]
    initial_quantity: int | None
    minimum_degree: int
    identifier_locations: tuple[str, ...] = ()


def _int_value(el: etree._Element | None, location: str, minimum: int, maximum: int | None = None) -> int | None:
    if el is None:
        return None
    raw = el.get("value")
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise M.NOT_AN_INTEGER.error(location, raw=raw) from None
    if value < minimum or (maximum is not None and value > maximum):
        raise M.OUT_OF_RANGE.error(location, value=value)
    return value


def birth_range(value: str, location: str) -> tuple[_dt.date, _dt.date]:
    """YYYY, YYYYMM or YYYYMMDD(...) as an inclusive date range."""
    digits = (value or "").strip()
    try:
        if len(digits) >= 8 and digits[:8].isdigit():
            d = _dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
            return d, d
        if len(digits) == 6 and digits.isdigit():
            start = _dt.date(int(digits[:4]), int(digits[4:6]), 1)
            nxt = _dt.date(start.year + (start.month == 12), start.month % 12 + 1, 1)
            return start, nxt - _dt.timedelta(days=1)
        if len(digits) == 4 and digits.isdigit():
            return _dt.date(int(digits), 1, 1), _dt.date(int(digits), 12, 31)
    except ValueError:
        pass
    raise M.BIRTH_TIME_FORMAT.error(location, value=value)


def check_parameter_counts(params: etree._Element, limits: Hl7v3Limits) -> None:
    """At most ``max_parameter_values`` values per query parameter, all its occurrences together
    (an occurrence without a value element counts as one)."""
    counts: dict[str, int] = {}
    for p in params:
        if not isinstance(p.tag, str):
            continue
        name = local_name(p)
        counts[name] = counts.get(name, 0) + max(1, len(children(p, "value")))
        if counts[name] > limits.max_parameter_values:
            raise M.TOO_MANY_VALUES.error(f"{_PL}/hl7:{name}", parameter=name, limit=limits.max_parameter_values)


def parse_query(msg: etree._Element, mpi_oid: str, limits: Hl7v3Limits = DEFAULT_LIMITS) -> PdqQuery:
    """The criteria of a PRPA_IN201305UV02; Hl7v3Error locates what is wrong (pure: no port)."""
    qbp = require(child(msg, "controlActProcess", "queryByParameter"), "queryByParameter", _P)
    params = require(child(qbp, "parameterList"), "parameterList", _PL)
    check_parameter_counts(params, limits)
    initial = _int_value(child(qbp, "initialQuantity"), f"{_P}/hl7:initialQuantity", 1)
    mcl = child(qbp, "matchCriterionList")
    algorithm = text(child(mcl, "matchAlgorithm", "value"))
    min_degree = _int_value(child(mcl, "minimumDegreeMatch", "value"),
                            f"{_P}/hl7:matchCriterionList/hl7:minimumDegreeMatch/hl7:value", 0, 100)
    fuzzy = bool(algorithm) or (min_degree is not None and min_degree < FUZZY_THRESHOLD)

    names = []
    for i, p in enumerate(children(params, "livingSubjectName"), 1):
        for j, value in enumerate(children(p, "value"), 1):
            loc = f"{_PL}/hl7:livingSubjectName[{i}]/hl7:value[{j}]"
            fam = " ".join(text(f) for f in children(value, "family") if text(f))
            giv = " ".join(text(g) for g in children(value, "given") if text(g))
            if not fam and not giv:
                raise M.NAME_NEEDS_PART.error(loc)
            check_text(fam, "name part family", loc, limits)
            check_text(giv, "name part given", loc, limits)
            prefix = fuzzy or "SRCH" in (value.get("use") or "").split()
            names.append(NameCriterion(family=fam, given=giv, prefix=prefix))

    birth_from = birth_to = None
    for i, p in enumerate(children(params, "livingSubjectBirthTime"), 1):
        value = child(p, "value")
        loc = f"{_PL}/hl7:livingSubjectBirthTime[{i}]/hl7:value"
        birth_from, birth_to = birth_range(value.get("value") if value is not None else "", loc)

    gender = None
    for i, p in enumerate(children(params, "livingSubjectAdministrativeGender"), 1):
        value = child(p, "value")
        gender = parse_gender(value.get("code") if value is not None else None,
                              f"{_PL}/hl7:livingSubjectAdministrativeGender[{i}]/hl7:value")

    identifiers, id_locations = [], []
    for i, p in enumerate(children(params, "livingSubjectId"), 1):
        for j, value in enumerate(children(p, "value"), 1):
            loc = f"{_PL}/hl7:livingSubjectId[{i}]/hl7:value[{j}]"
            identifiers.append(ii_to_cx(value, loc, mpi_oid, limits))
            id_locations.append(loc)

    address: Address | None = None
    for i, p in enumerate(children(params, "patientAddress"), 1):
        value = child(p, "value")
        if value is not None:
            address = parse_address(value)
            loc = f"{_PL}/hl7:patientAddress[{i}]/hl7:value"
            for part in (*address.street_lines, address.city, address.postal_code, address.state, address.country):
                check_text(part, "address part", loc, limits)
    telecom = ""
    for i, p in enumerate(children(params, "patientTelecom"), 1):
        value = child(p, "value")
        telecom = (value.get("value") if value is not None else "") or telecom
        check_text(telecom, "telecom", f"{_PL}/hl7:patientTelecom[{i}]/hl7:value", limits)
    mmn = ""
    for i, p in enumerate(children(params, "mothersMaidenName"), 1):
        value = child(p, "value")
        mmn = text(child(value, "family")) or text(value)
        check_text(mmn, "mother's maiden name", f"{_PL}/hl7:mothersMaidenName[{i}]/hl7:value", limits)

    domains: list[str] = []
    bad: list[AckDetail] = []
    for i, p in enumerate(children(params, "otherIDsScopingOrganization"), 1):
        value = child(p, "value")
        root = (value.get("root") if value is not None else "") or ""
        if root in (mpi_oid, EPR_SPID_OID):
            domains.append(root)
        else:
            bad.append(M.DOMAIN_UNKNOWN.detail(f"{_PL}/hl7:otherIDsScopingOrganization[{i}]/hl7:value",
                                               root=root, known=f"{mpi_oid}, {EPR_SPID_OID}"))
    if bad:
        raise _DomainErrors(bad)

    criteria = DemographicQuery(names=tuple(names), birth_from=birth_from, birth_to=birth_to, gender=gender,
                                address=address if address is not None and not address.is_empty() else None,
                                identifiers=tuple(identifiers), mothers_maiden_name=mmn, telecom=telecom)
    if not (criteria.names or criteria.birth_from or criteria.identifiers or criteria.address):
        raise M.QUERY_NEEDS_CRITERION.error(_PL)
    return PdqQuery(criteria, tuple(domains), initial,
                    min_degree if min_degree is not None else DEFAULT_MIN_DEGREE, tuple(id_locations))


class _DomainErrors(Hl7v3Error):
    """Several unknown otherIDsScopingOrganization: one acknowledgementDetail each."""

    def __init__(self, details: list[AckDetail]) -> None:
        super().__init__(details[0].text, details[0].code, details[0].location)
        self.entry = M.DOMAIN_UNKNOWN
        self.details = details


# -- parsed requests ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class PdqQueryRequest:
    header: MessageHeader | None
    refusal: Refusal | None = None
    qbp: etree._Element | None = None
    query: PdqQuery | None = None


def parse_pdq_query(msg: etree._Element, mpi_oid: str, limits: Hl7v3Limits = DEFAULT_LIMITS) -> PdqQueryRequest:
    header: MessageHeader | None = None
    qbp = None
    try:
        header = read_header(msg, (PDQ_QUERY,))
        qbp = child(msg, "controlActProcess", "queryByParameter")
        return PdqQueryRequest(header, None, qbp, parse_query(msg, mpi_oid, limits))
    except Hl7v3Error as err:
        return PdqQueryRequest(header or header_or_none(msg), Refusal.of(err), qbp)


@dataclass(frozen=True)
class ContinuationRequest:
    """A QUQI_IN000003UV01 (continue or cancel) of the query ``query_id``."""
    header: MessageHeader | None
    refusal: Refusal | None = None
    query_id: etree._Element | None = None
    quantity: int | None = None


def _query_id_or_none(msg: etree._Element) -> etree._Element | None:
    try:
        return child(msg, "controlActProcess", "queryContinuation", "queryId")
    except Exception:   # noqa: BLE001
        return None


def parse_continuation(msg: etree._Element, *, cancel: bool = False) -> ContinuationRequest:
    header: MessageHeader | None = None
    try:
        header = read_header(msg, (CONTINUATION,))
        qc = require(child(msg, "controlActProcess", "queryContinuation"), "queryContinuation", _QC)
        qid = require(child(qc, "queryId"), "queryId", f"{_QC}/hl7:queryId")
        if cancel:
            return ContinuationRequest(header, None, qid)
        status_el = child(qc, "statusCode")
        if ((status_el.get("code") if status_el is not None else "") or "") == "aborted":
            raise M.ABORTED_IS_CANCEL.error(f"{_QC}/hl7:statusCode")
        qty = _int_value(child(qc, "continuationQuantity"), f"{_QC}/hl7:continuationQuantity", 1)
        return ContinuationRequest(header, None, qid, qty)
    except Hl7v3Error as err:
        return ContinuationRequest(header or header_or_none(msg), Refusal.of(err), _query_id_or_none(msg))


# -- use cases ---------------------------------------------------------------------------------------

def _state_key(header: MessageHeader, qid: etree._Element | None) -> str:
    root = qid.get("root", "") if qid is not None else ""
    ext = qid.get("extension", "") if qid is not None else ""
    return f"{header.sender_id}|{root}|{ext}"[:512]


def _facts(header, qbp, hits: list[SearchHit], mpi_oid: str, qid=None) -> AuditFacts:
    qid = qid if qid is not None else (child(qbp, "queryId") if qbp is not None else None)
    return AuditFacts(transaction=ITI47, patient_ids=tuple(str(CX(h.patient.mpi_pid, mpi_oid)) for h in hits),
                      message_id=request_message_id(header), query_id=query_id_text(qid),
                      query_text=query_text(qbp), entries_returned=len(hits))


def pdq_query(ctx: RequestContext, request: PdqQueryRequest, ports: Hl7v3Ports) -> Outcome:
    """ITI-47 query: candidates from the MPI, matched and scored by the PDQ rule, the first
    ``initialQuantity`` answered, the rest kept for continuations."""
    header, qbp, mpi = request.header, request.qbp, ports.mpi

    def answer(ack, code, hits=(), domains=(), details=(), **kw) -> Outcome:
        hits = list(hits)
        reply = pdq_response(ports, header, qbp, ack, code, hits, domains, details=details, **kw)
        return outcome(reply, ack, details, _facts(header, qbp, hits, mpi.mpi_oid))

    if request.refusal is not None:
        return answer(request.refusal.ack, QUERY_ERROR, details=request.refusal.details)
    pq = request.query
    try:
        for cx, loc in zip(pq.criteria.identifiers, pq.identifier_locations):
            if not mpi.is_known_domain(cx.oid):
                raise M.AUTHORITY_UNKNOWN.error(loc, oid=cx.oid, what="livingSubjectId")
        hits = [h for h in rank(mpi.candidates(pq.criteria), pq.criteria) if h.score >= pq.minimum_degree]
        if len(hits) > ports.max_results:
            return answer(ACK_ERROR, QUERY_QUALIFICATION_ERROR, total=0,
                          details=(M.TOO_MANY_MATCHES.detail(_PL, limit=ports.max_results),))
        if not hits:
            return answer(ACK_ACCEPT, QUERY_NOT_FOUND, (), pq.return_domains, total=0)
        first = hits[: pq.initial_quantity] if pq.initial_quantity else hits
        rest = hits[len(first):]
        if rest and qbp is not None and ports.states is not None:
            ports.states.save(_state_key(header, child(qbp, "queryId")), QueryState(
                keys=[h.patient.key for h in hits], scores=[h.score for h in hits], position=len(first),
                return_domains=pq.return_domains, query_by_parameter=etree.tostring(qbp)))
        return answer(ACK_ACCEPT, QUERY_OK, first, pq.return_domains, total=len(hits), remaining=len(rest))
    except Hl7v3Error as err:
        return answer(err.ack, QUERY_ERROR, details=(AckDetail.from_error(err),))
    except Exception:   # noqa: BLE001 - never a stack trace on the wire
        log.exception("ITI-47 failed (request id %s)", ctx.request_id)
        return answer(ACK_ERROR, QUERY_ERROR, details=(M.QUERY_INTERNAL_ERROR.detail(),))


def pdq_continue(ctx: RequestContext, request: ContinuationRequest, ports: Hl7v3Ports) -> Outcome:
    """QUQI_IN000003UV01 (Continue) -> PRPA_IN201306UV02 with the next results."""
    header, qid, mpi = request.header, request.query_id, ports.mpi

    def answer(ack, code, hits=(), domains=(), qbp=None, details=(), **kw) -> Outcome:
        hits = list(hits)
        reply = pdq_response(ports, header, qbp, ack, code, hits, domains, details=details, query_id=qid, **kw)
        return outcome(reply, ack, details, _facts(header, qbp, hits, mpi.mpi_oid, qid))

    if request.refusal is not None:
        return answer(request.refusal.ack, QUERY_ERROR, details=request.refusal.details)
    try:
        key = _state_key(header, qid)
        state = ports.states.load(key) if ports.states is not None else None
        if state is None:
            raise M.NO_OPEN_QUERY.error(f"{_QC}/hl7:queryId")
        qty = request.quantity
        end = len(state.keys) if qty is None else min(len(state.keys), state.position + qty)
        batch_keys = state.keys[state.position:end]
        scores = dict(zip(state.keys, state.scores))
        hits = [SearchHit(p, scores.get(p.key, 100)) for p in mpi.get_many(batch_keys)]
        state.position = end
        remaining = len(state.keys) - end
        if remaining:
            ports.states.save(key, state)
        else:
            ports.states.delete(key)
        qbp = parse(state.query_by_parameter) if state.query_by_parameter else None
        return answer(ACK_ACCEPT, QUERY_OK, hits, state.return_domains, qbp, total=len(state.keys),
                      remaining=remaining)
    except Hl7v3Error as err:
        return answer(err.ack, QUERY_ERROR, details=(AckDetail.from_error(err),))
    except Exception:   # noqa: BLE001
        log.exception("ITI-47 continuation failed (request id %s)", ctx.request_id)
        return answer(ACK_ERROR, QUERY_ERROR, details=(M.QUERY_INTERNAL_ERROR.detail(),))


def pdq_cancel(ctx: RequestContext, request: ContinuationRequest, ports: Hl7v3Ports) -> Outcome:
    """QUQI_IN000003UV01 (Cancel) -> MCCI_IN000002UV01; the query's state is dropped."""
    header, qid = request.header, request.query_id
    facts = AuditFacts(transaction=ITI47, message_id=request_message_id(header), query_id=query_id_text(qid))

    def answer(ack, details=()) -> Outcome:
        return outcome(build_ack(header, ports.responder, ack, details), ack, details, facts)

    if request.refusal is not None:
        return answer(request.refusal.ack, request.refusal.details)
    try:
        if ports.states is None or not ports.states.delete(_state_key(header, qid)):
            raise M.NO_OPEN_QUERY.error(f"{_QC}/hl7:queryId")
        return answer(ACK_ACCEPT)
    except Hl7v3Error as err:
        return answer(err.ack, (AckDetail.from_error(err),))
    except Exception:   # noqa: BLE001
        log.exception("ITI-47 cancel failed (request id %s)", ctx.request_id)
        return answer(ACK_ERROR, (M.QUERY_INTERNAL_ERROR.detail(),))


# -- the response ------------------------------------------------------------------------------------

def _ids(patient: Patient, domains: tuple[str, ...], mpi_oid: str) -> list[CX]:
    ids = [CX(patient.mpi_pid, mpi_oid), CX(patient.epr_spid, EPR_SPID_OID)]
    return [cx for cx in ids if not domains or cx.oid in domains]


def pdq_response(ports: Hl7v3Ports, header: MessageHeader | None, qbp: etree._Element | None, ack: str,
                 response_code: str, hits: list[SearchHit], domains: tuple[str, ...], *, total: int | None = None,
                 remaining: int = 0, details=(), query_id: etree._Element | None = None) -> etree._Element:
    """PRPA_IN201306UV02: one subject per hit (MPI-PID and EPR-SPID only), the queryAck, the query."""
    msg = new_message(PDQ_RESPONSE, header, ports.responder)
    add_acknowledgement(msg, ack, header, details)
    cap = sub(msg, "controlActProcess", classCode="CACT", moodCode="EVN")
    sub(cap, "code", code="PRPA_TE201306UV02", codeSystem=INTERACTION_ROOT)
    org_oid = ports.responder.organization_oid or ports.mpi.mpi_oid
    for hit in hits:
        subject = sub(cap, "subject", typeCode="SUBJ", contextConductionInd="false")
        event = sub(subject, "registrationEvent", classCode="REG", moodCode="EVN")
        sub(event, "id", nullFlavor="NA")
        sub(event, "statusCode", code="active")
        pat = sub(sub(event, "subject1", typeCode="SBJ"), "patient", classCode="PAT")
        for cx in _ids(hit.patient, domains, ports.mpi.mpi_oid):
            name = SPID_AUTHORITY_NAME if cx.oid == EPR_SPID_OID else ports.mpi_authority_name
            sub(pat, "id", root=cx.oid, extension=cx.id, assigningAuthorityName=name)
        sub(pat, "statusCode", code="active")
        build_person(pat, hit.patient.demographics)
        org = sub(pat, "providerOrganization", classCode="ORG", determinerCode="INSTANCE")
        sub(org, "id", root=org_oid)
        sub(org, "contactParty", classCode="CON")
        obs = sub(sub(pat, "subjectOf1"), "queryMatchObservation", classCode="COND", moodCode="EVN")
        sub(obs, "code", code="IHE_PDQ")
        value = sub(obs, "value", value=str(hit.score))
        value.set(f"{{{XSI_NS}}}type", "INT")
        cust = sub(event, "custodian", typeCode="CST")
        entity = sub(cust, "assignedEntity", classCode="ASSIGNED")
        sub(entity, "id", root=org_oid)
    query_ack = sub(cap, "queryAck")
    qid = query_id if query_id is not None else (child(qbp, "queryId") if qbp is not None else None)
    if qid is not None:
        query_ack.append(copy.deepcopy(qid))
    sub(query_ack, "statusCode", code="deliveredResponse" if not remaining else "waitContinuedQueryResponse")
    sub(query_ack, "queryResponseCode", code=response_code)
    if total is not None:
        for local, n in (("resultTotalQuantity", total), ("resultCurrentQuantity", len(hits)),
                         ("resultRemainingQuantity", remaining)):
            sub(query_ack, local, value=str(n))
    if qbp is not None:
        cap.append(copy.deepcopy(qbp))
    return msg


class PdqSupplier:
    """The PDQ V3 Supplier over an :class:`MpiPort` and a :class:`QueryStatePort`, element in,
    element out: parse and use case in one call (tests, in-process callers)."""

    def __init__(self, mpi: MpiPort, states: QueryStatePort, ctx: ResponseContext,
                 mpi_authority_name: str = "", max_results: int = MAX_RESULTS,
                 limits: Hl7v3Limits = DEFAULT_LIMITS) -> None:
        self.ports = Hl7v3Ports(mpi=mpi, responder=ctx, states=states, limits=limits,
                                mpi_authority_name=mpi_authority_name, max_results=max_results)

    def query(self, msg: etree._Element) -> etree._Element:
        request = parse_pdq_query(msg, self.ports.mpi.mpi_oid, self.ports.limits)
        return pdq_query(RequestContext(transaction=ITI47), request, self.ports).reply

    def continue_query(self, msg: etree._Element) -> etree._Element:
        return pdq_continue(RequestContext(transaction=ITI47), parse_continuation(msg), self.ports).reply

    def cancel_query(self, msg: etree._Element) -> etree._Element:
        return pdq_cancel(RequestContext(transaction=ITI47), parse_continuation(msg, cancel=True), self.ports).reply


class InMemoryQueryStates:
    """A :class:`QueryStatePort` in memory, bounded (oldest dropped first): for one process and tests."""

    def __init__(self, capacity: int = 1000) -> None:
        from collections import OrderedDict
        self.capacity = capacity
        self._states: "OrderedDict[str, QueryState]" = OrderedDict()

    def save(self, query_key: str, state: QueryState) -> None:
        self._states.pop(query_key, None)
        self._states[query_key] = state
        while len(self._states) > self.capacity:
            self._states.popitem(last=False)

    def load(self, query_key: str) -> QueryState | None:
        return self._states.get(query_key)

    def delete(self, query_key: str) -> bool:
        return self._states.pop(query_key, None) is not None
