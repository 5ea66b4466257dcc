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
from profiles.hl7v3.errors import (
    ACK_ACCEPT,
    ACK_ERROR,
    APPLICATION_INTERNAL_ERROR,
    DATA_TYPE_ERROR,
    QUERY_ERROR,
    QUERY_NOT_FOUND,
    QUERY_OK,
    QUERY_QUALIFICATION_ERROR,
    REQUIRED_FIELD_MISSING,
    UNKNOWN_KEY_IDENTIFIER,
    Hl7v3Error,
)
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
    new_message,
    parse,
    read_header,
    require,
    sub,
    text,
)
from profiles.hl7v3.mpi import Address, Patient
from profiles.hl7v3.person import build_person, parse_address, parse_gender
from profiles.hl7v3.pix import SPID_AUTHORITY_NAME, ii_to_cx
from profiles.hl7v3.ports import DemographicQuery, MpiPort, NameCriterion, QueryState, QueryStatePort, SearchHit

log = logging.getLogger(__name__)

#: Past this many matches the query must be refined (AE / QE).
MAX_RESULTS = 100
DEFAULT_MIN_DEGREE = 0
FUZZY_THRESHOLD = 90

_P = f"/hl7:{PDQ_QUERY}/hl7:controlActProcess/hl7:queryByParameter"
_PL = f"{_P}/hl7:parameterList"


@dataclass(frozen=True)
class PdqQuery:
    """A parsed ITI-47 query."""
    criteria: DemographicQuery
    return_domains: tuple[str, ...]
    initial_quantity: int | None
    minimum_degree: int


def _int_value(el: etree._Element | None, location: str, minimum: int, maximum: int | None = None) -> int | None:
    if el is None:
        return None
    raw = el.get("value")
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise Hl7v3Error(f"{raw!r} is not an integer", DATA_TYPE_ERROR, location) from None
    if value < minimum or (maximum is not None and value > maximum):
        raise Hl7v3Error(f"{value} is out of range", DATA_TYPE_ERROR, location)
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
    raise Hl7v3Error(f"birth time {value!r} must be YYYY, YYYYMM or YYYYMMDD", DATA_TYPE_ERROR, location)


def parse_query(msg: etree._Element, mpi: MpiPort) -> PdqQuery:
    """The criteria of a PRPA_IN201305UV02; Hl7v3Error locates what is wrong."""
    qbp = require(child(msg, "controlActProcess", "queryByParameter"), "queryByParameter", _P)
    params = require(child(qbp, "parameterList"), "parameterList", _PL)
    initial = _int_value(child(qbp, "initialQuantity"), f"{_P}/hl7:initialQuantity", 1)
    mcl = child(qbp, "matchCriterionList")
    algorithm = text(child(mcl, "matchAlgorithm", "value"))
    min_degree = _int_value(child(mcl, "minimumDegreeMatch", "value"),
                            f"{_P}/hl7:matchCriterionList/hl7:minimumDegreeMatch/hl7:value", 0, 100)
    fuzzy = bool(algorithm) or (min_degree is not None and min_degree < FUZZY_THRESHOLD)

    names = []
    for i, p in enumerate(children(params, "livingSubjectName"), 1):
        for j, value in enumerate(children(p, "value"), 1):
            fam = " ".join(text(f) for f in children(value, "family") if text(f))
            giv = " ".join(text(g) for g in children(value, "given") if text(g))
            if not fam and not giv:
                raise Hl7v3Error("livingSubjectName needs a family or a given name", REQUIRED_FIELD_MISSING,
                                 f"{_PL}/hl7:livingSubjectName[{i}]/hl7:value[{j}]")
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

    identifiers = []
    for i, p in enumerate(children(params, "livingSubjectId"), 1):
        for j, value in enumerate(children(p, "value"), 1):
            loc = f"{_PL}/hl7:livingSubjectId[{i}]/hl7:value[{j}]"
            cx = ii_to_cx(value, loc, mpi.mpi_oid)
            if not mpi.is_known_domain(cx.oid):
                raise Hl7v3Error(f"assigning authority {cx.oid} of livingSubjectId is not known",
                                 UNKNOWN_KEY_IDENTIFIER, loc)
            identifiers.append(cx)

    address: Address | None = None
    for p in children(params, "patientAddress"):
        value = child(p, "value")
        if value is not None:
            address = parse_address(value)
    telecom = ""
    for p in children(params, "patientTelecom"):
        value = child(p, "value")
        telecom = (value.get("value") if value is not None else "") or telecom
    mmn = ""
    for p in children(params, "mothersMaidenName"):
        value = child(p, "value")
        mmn = text(child(value, "family")) or text(value)

    domains: list[str] = []
    bad: list[AckDetail] = []
    for i, p in enumerate(children(params, "otherIDsScopingOrganization"), 1):
        value = child(p, "value")
        root = (value.get("root") if value is not None else "") or ""
        if root in (mpi.mpi_oid, EPR_SPID_OID):
            domains.append(root)
        else:
            bad.append(AckDetail(f"patient identification domain {root!r} is not known (known: {mpi.mpi_oid}, "
                                 f"{EPR_SPID_OID})", UNKNOWN_KEY_IDENTIFIER,
                                 f"{_PL}/hl7:otherIDsScopingOrganization[{i}]/hl7:value"))
    if bad:
        raise _DomainErrors(bad)

    criteria = DemographicQuery(names=tuple(names), birth_from=birth_from, birth_to=birth_to, gender=gender,
                                address=address if address is not None and not address.is_empty() else None,
                                identifiers=tuple(identifiers), mothers_maiden_name=mmn, telecom=telecom)
    if not (criteria.names or criteria.birth_from or criteria.identifiers or criteria.address):
        raise Hl7v3Error("the query needs a name, a birth date, an identifier or an address",
                         REQUIRED_FIELD_MISSING, _PL)
    return PdqQuery(criteria, tuple(domains), initial,
                    min_degree if min_degree is not None else DEFAULT_MIN_DEGREE)


class _DomainErrors(Hl7v3Error):
    """Several unknown otherIDsScopingOrganization: one acknowledgementDetail each."""

    def __init__(self, details: list[AckDetail]) -> None:
        super().__init__(details[0].text, UNKNOWN_KEY_IDENTIFIER, details[0].location)
        self.details = details


class PdqSupplier:
    """The PDQ V3 Supplier over an :class:`MpiPort` and a :class:`QueryStatePort`."""

    def __init__(self, mpi: MpiPort, states: QueryStatePort, ctx: ResponseContext,
                 mpi_authority_name: str = "", max_results: int = MAX_RESULTS) -> None:
        self.mpi = mpi
        self.states = states
        self.ctx = ctx
        self.mpi_authority_name = mpi_authority_name
        self.max_results = max_results

    # -- ITI-47 query ------------------------------------------------------------------------------

    def query(self, msg: etree._Element) -> etree._Element:
        header: MessageHeader | None = None
        qbp = None
        try:
            header = read_header(msg, (PDQ_QUERY,))
            qbp = child(msg, "controlActProcess", "queryByParameter")
            pq = parse_query(msg, self.mpi)
            hits = [h for h in self.mpi.search(pq.criteria, self.max_results + 1) if h.score >= pq.minimum_degree]
            if len(hits) > self.max_results:
                return self._response(header, qbp, ACK_ERROR, QUERY_QUALIFICATION_ERROR, [], (), total=0,
                                      details=[AckDetail(f"more than {self.max_results} patients match; "
                                                         "refine the query", DATA_TYPE_ERROR, _PL)])
            if not hits:
                return self._response(header, qbp, ACK_ACCEPT, QUERY_NOT_FOUND, [], pq.return_domains, total=0)
            first = hits[: pq.initial_quantity] if pq.initial_quantity else hits
            rest = hits[len(first):]
            if rest and qbp is not None:
                self.states.save(self._key(header, child(qbp, "queryId")), QueryState(
                    keys=[h.patient.key for h in hits], scores=[h.score for h in hits], position=len(first),
                    return_domains=pq.return_domains, query_by_parameter=etree.tostring(qbp)))
            return self._response(header, qbp, ACK_ACCEPT, QUERY_OK, first, pq.return_domains,
                                  total=len(hits), remaining=len(rest))
        except _DomainErrors as err:
            return self._response(header, qbp, ACK_ERROR, QUERY_ERROR, [], (), details=err.details)
        except Hl7v3Error as err:
            return self._response(header or header_or_none(msg), qbp, err.ack, QUERY_ERROR, [], (),
                                  details=[AckDetail.from_error(err)])
        except Exception:   # noqa: BLE001 - never a stack trace on the wire
            log.exception("ITI-47 failed")
            return self._response(header or header_or_none(msg), qbp, ACK_ERROR, QUERY_ERROR, [], (),
                                  details=[AckDetail("internal error of the MPI", APPLICATION_INTERNAL_ERROR)])

    # -- continuation / cancel ---------------------------------------------------------------------

    def continue_query(self, msg: etree._Element) -> etree._Element:
        """QUQI_IN000003UV01 (Continue) -> PRPA_IN201306UV02 with the next results."""
        header: MessageHeader | None = None
        state: QueryState | None = None
        try:
            header = read_header(msg, (CONTINUATION,))
            qc, qid, status = self._continuation(msg)
            if status == "aborted":
                raise Hl7v3Error("statusCode aborted is a cancel; send it with the Cancel action",
                                 DATA_TYPE_ERROR, f"/hl7:{CONTINUATION}/hl7:controlActProcess/hl7:queryContinuation/hl7:statusCode")
            qty = _int_value(child(qc, "continuationQuantity"),
                             f"/hl7:{CONTINUATION}/hl7:controlActProcess/hl7:queryContinuation/hl7:continuationQuantity", 1)
            key = self._key(header, qid)
            state = self.states.load(key)
            if state is None:
                raise Hl7v3Error("no open query with this queryId (finished, cancelled or expired)",
                                 UNKNOWN_KEY_IDENTIFIER,
                                 f"/hl7:{CONTINUATION}/hl7:controlActProcess/hl7:queryContinuation/hl7:queryId")
            end = len(state.keys) if qty is None else min(len(state.keys), state.position + qty)
            batch_keys = state.keys[state.position:end]
            scores = dict(zip(state.keys, state.scores))
            patients = self.mpi.get_many(batch_keys)
            hits = [SearchHit(p, scores.get(p.key, 100)) for p in patients]
            state.position = end
            remaining = len(state.keys) - end
            if remaining:
                self.states.save(key, state)
            else:
                self.states.delete(key)
            qbp = parse(state.query_by_parameter) if state.query_by_parameter else None
            return self._response(header, qbp, ACK_ACCEPT, QUERY_OK, hits, state.return_domains,
                                  total=len(state.keys), remaining=remaining, query_id=qid)
        except Hl7v3Error as err:
            return self._response(header or header_or_none(msg), None, err.ack, QUERY_ERROR, [], (),
                                  details=[AckDetail.from_error(err)], query_id=self._qid_or_none(msg))
        except Exception:   # noqa: BLE001
            log.exception("ITI-47 continuation failed")
            return self._response(header or header_or_none(msg), None, ACK_ERROR, QUERY_ERROR, [], (),
                                  details=[AckDetail("internal error of the MPI", APPLICATION_INTERNAL_ERROR)])

    def cancel_query(self, msg: etree._Element) -> etree._Element:
        """QUQI_IN000003UV01 (Cancel) -> MCCI_IN000002UV01; the query's state is dropped."""
        header: MessageHeader | None = None
        try:
            header = read_header(msg, (CONTINUATION,))
            _qc, qid, _status = self._continuation(msg)
            if not self.states.delete(self._key(header, qid)):
                raise Hl7v3Error("no open query with this queryId (finished, cancelled or expired)",
                                 UNKNOWN_KEY_IDENTIFIER,
                                 f"/hl7:{CONTINUATION}/hl7:controlActProcess/hl7:queryContinuation/hl7:queryId")
            return build_ack(header, self.ctx, ACK_ACCEPT)
        except Hl7v3Error as err:
            return build_ack(header or header_or_none(msg), self.ctx, err.ack, [AckDetail.from_error(err)])
        except Exception:   # noqa: BLE001
            log.exception("ITI-47 cancel failed")
            return build_ack(header or header_or_none(msg), self.ctx, ACK_ERROR,
                             [AckDetail("internal error of the MPI", APPLICATION_INTERNAL_ERROR)])

    # -- helpers -----------------------------------------------------------------------------------

    @staticmethod
    def _continuation(msg: etree._Element) -> tuple[etree._Element, etree._Element, str]:
        base = f"/hl7:{CONTINUATION}/hl7:controlActProcess/hl7:queryContinuation"
        qc = require(child(msg, "controlActProcess", "queryContinuation"), "queryContinuation", base)
        qid = require(child(qc, "queryId"), "queryId", f"{base}/hl7:queryId")
        status_el = child(qc, "statusCode")
        return qc, qid, (status_el.get("code") if status_el is not None else "") or ""

    @staticmethod
    def _qid_or_none(msg: etree._Element) -> etree._Element | None:
        try:
            return child(msg, "controlActProcess", "queryContinuation", "queryId")
        except Exception:   # noqa: BLE001
            return None

    @staticmethod
    def _key(header: MessageHeader, qid: etree._Element | None) -> str:
        root = qid.get("root", "") if qid is not None else ""
        ext = qid.get("extension", "") if qid is not None else ""
        return f"{header.sender_id}|{root}|{ext}"[:512]

    def _ids(self, patient: Patient, domains: tuple[str, ...]) -> list[CX]:
        ids = [CX(patient.mpi_pid, self.mpi.mpi_oid), CX(patient.epr_spid, EPR_SPID_OID)]
        return [cx for cx in ids if not domains or cx.oid in domains]

    def _response(self, header: MessageHeader | None, qbp: etree._Element | None, ack: str, response_code: str,
                  hits: list[SearchHit], domains: tuple[str, ...], *, total: int | None = None,
                  remaining: int = 0, details=(), query_id: etree._Element | None = None) -> etree._Element:
        msg = new_message(PDQ_RESPONSE, header, self.ctx)
        add_acknowledgement(msg, ack, header, details)
        cap = sub(msg, "controlActProcess", classCode="CACT", moodCode="EVN")
        sub(cap, "code", code="PRPA_TE201306UV02", codeSystem=INTERACTION_ROOT)
        for hit in hits:
            subject = sub(cap, "subject", typeCode="SUBJ", contextConductionInd="false")
            event = sub(subject, "registrationEvent", classCode="REG", moodCode="EVN")
            sub(event, "id", nullFlavor="NA")
            sub(event, "statusCode", code="active")
            pat = sub(sub(event, "subject1", typeCode="SBJ"), "patient", classCode="PAT")
            for cx in self._ids(hit.patient, domains):
                name = SPID_AUTHORITY_NAME if cx.oid == EPR_SPID_OID else self.mpi_authority_name
                sub(pat, "id", root=cx.oid, extension=cx.id, assigningAuthorityName=name)
            sub(pat, "statusCode", code="active")
            build_person(pat, hit.patient.demographics)
            org = sub(pat, "providerOrganization", classCode="ORG", determinerCode="INSTANCE")
            sub(org, "id", root=self.ctx.organization_oid or self.mpi.mpi_oid)
            sub(org, "contactParty", classCode="CON")
            obs = sub(sub(pat, "subjectOf1"), "queryMatchObservation", classCode="COND", moodCode="EVN")
            sub(obs, "code", code="IHE_PDQ")
            value = sub(obs, "value", value=str(hit.score))
            value.set(f"{{{XSI_NS}}}type", "INT")
            cust = sub(event, "custodian", typeCode="CST")
            entity = sub(cust, "assignedEntity", classCode="ASSIGNED")
            sub(entity, "id", root=self.ctx.organization_oid or self.mpi.mpi_oid)
        query_ack = sub(cap, "queryAck")
        qid = query_id if query_id is not None else (child(qbp, "queryId") if qbp is not None else None)
        if qid is not None:
            query_ack.append(_copy(qid))
        sub(query_ack, "statusCode", code="deliveredResponse" if not remaining else "waitContinuedQueryResponse")
        sub(query_ack, "queryResponseCode", code=response_code)
        if total is not None:
            for local, n in (("resultTotalQuantity", total), ("resultCurrentQuantity", len(hits)),
                             ("resultRemainingQuantity", remaining)):
                sub(query_ack, local, value=str(n))
        if qbp is not None:
            cap.append(_copy(qbp))
        return msg


def _copy(el: etree._Element) -> etree._Element:
    return copy.deepcopy(el)


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
