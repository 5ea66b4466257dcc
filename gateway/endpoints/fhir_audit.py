"""ITI-81 Retrieve ATNA Audit Event (CH:ATC): ``GET /fhir/AuditEvent`` for the patient's own trail.

    GET /fhir/AuditEvent?entity.identifier=urn:oid:2.16.756.5.30.1.127.3.10.3|<EPR-SPID>
                        [&date=geYYYY-MM-DD][&date=leYYYY-MM-DD][&_count=N][&_format=json|xml]
    Authorization: Bearer <base64url of the X-User Assertion>      (CH:ATC, IUA SAML token option)

The answer is a FHIR R4 searchset Bundle of CH:ATC AuditEvents (JSON, or XML on request), newest
records last, paged with ``_count`` and a ``next`` link. Without ``entity.identifier``: 400
(OperationOutcome), as CH:ATC says; the parameters CH:ATC forbids the consumer to use are refused
the same way. No or a bad token: 401; a caller who may not read this patient's trail: 403. The read
runs through the pipeline as transaction ITI-81, so it leaves its own audit record (ATC_LOG_READ)
in the patient's trail.
"""
from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from typing import Callable
from urllib.parse import parse_qsl, urlencode

from twisted.internet.threads import deferToThread
from twisted.web import resource, server

from gateway.pipeline import Pipeline, Transaction
from profiles.context import Principal, RequestContext
from profiles.outcome import FAILURE, SUCCESS, AuditFacts, Outcome, Problem

SPID_SYSTEM = "urn:oid:2.16.756.5.30.1.127.3.10.3"
FORBIDDEN_PARAMETERS = ("address", "patient.identifier", "source", "type", "outcome")
FHIR_JSON = "application/fhir+json; charset=UTF-8"
FHIR_XML = "application/fhir+xml; charset=UTF-8"


class TrailAccessDenied(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class TrailQuery:
    epr_spid: str
    since: str | None
    until: str | None
    count: int
    offset: int
    xml: bool
    base_url: str
    query: str


def _outcome(code: str, text: str) -> dict:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": text}]}


def parse_trail_query(args: list[tuple[str, str]], base_url: str, accept: str | None) -> TrailQuery:
    """The ITI-81 search parameters; ``ValueError`` (-> 400) for what CH:ATC does not allow."""
    spid = None
    since = until = None
    count, offset, fmt = 100, 0, None
    for name, value in args:
        if name in FORBIDDEN_PARAMETERS:
            raise ValueError(f"the search parameter {name!r} is not supported (CH:ATC)")
        if name == "entity.identifier":
            system, _, val = value.partition("|")
            if system != SPID_SYSTEM or not (val.isdigit() and len(val) == 18):
                raise ValueError("entity.identifier must be urn:oid:2.16.756.5.30.1.127.3.10.3|<EPR-SPID>")
            spid = val
        elif name == "date":
            prefix, day = value[:2], value[2:]
            try:
                when = _dt.date.fromisoformat(day[:10]) if len(day) >= 10 else None
            except ValueError:
                when = None
            if prefix not in ("ge", "le", "gt", "lt") or when is None:
                raise ValueError(f"date={value!r}: expected geYYYY-MM-DD or leYYYY-MM-DD")
            if prefix in ("ge", "gt"):
                since = day if len(day) > 10 else day + "T00:00:00"
            else:
                until = day if len(day) > 10 else day + "T23:59:59.999999+00:00"
        elif name == "_count":
            if not value.isdigit() or not 1 <= int(value) <= 1000:
                raise ValueError("_count must be between 1 and 1000")
            count = int(value)
        elif name == "_offset":
            if not value.isdigit():
                raise ValueError("_offset must be a number")
            offset = int(value)
        elif name == "_format":
            fmt = value
    if spid is None:
        raise ValueError("entity.identifier (the patient's EPR-SPID) is required")
    xml = (fmt or "").endswith("xml") or (fmt is None and "fhir+xml" in (accept or ""))
    query = urlencode([(k, v) for k, v in args if k not in ("_offset",)])
    return TrailQuery(spid, since, until, count, offset, xml, base_url, query)


def default_may_read(principal: Principal, epr_spid: str) -> bool:
    """The patient reads his own trail; a representative the trail of the patient his assertion
    names (the access-rights policies narrow this further where they are wired)."""
    return principal.role in ("PAT", "REP") and principal.patient_epr_spid == epr_spid


class AuditTrailResource(resource.Resource):
    isLeaf = True

    def __init__(self, *, store, mpi, pipeline: Pipeline, observer_oid: str,
                 authenticate: Callable[[bytes], Principal] | None,
                 may_read: Callable[[Principal, str], bool] = default_may_read) -> None:
        super().__init__()
        self.store = store
        self.mpi = mpi
        self.pipeline = pipeline
        self.observer = observer_oid
        self.authenticate = authenticate
        self.may_read = may_read
        self.transaction = Transaction("ITI-81", lambda req: req, self._use_case, lambda outcome, req: outcome)

    def render_GET(self, request: server.Request):
        d = deferToThread(self._answer, request.uri.decode("latin-1"), request.getHeader(b"authorization"),
                          request.getHeader(b"accept"), self._base_url(request),
                          getattr(request.getClientAddress(), "host", None))
        d.addCallback(self._write, request)
        d.addErrback(lambda f: self._write((500, FHIR_JSON, json.dumps(_outcome("exception", "internal error"))
                                            .encode(), ()), request))
        return server.NOT_DONE_YET

    @staticmethod
    def _base_url(request: server.Request) -> str:
        return str(request.URLPath()).split("?", 1)[0].rsplit("/", 1)[0]

    def _answer(self, uri: str, authorization: bytes | None, accept: bytes | None, base: str, remote: str | None):
        args = parse_qsl(uri.partition("?")[2], keep_blank_values=True)
        try:
            query = parse_trail_query(args, base, accept.decode("latin-1") if accept else None)
        except ValueError as exc:
            return 400, FHIR_JSON, json.dumps(_outcome("invalid", str(exc))).encode(), ()
        try:
            principal = self._principal(authorization)
        except TrailAccessDenied as exc:
            return exc.status, FHIR_JSON, json.dumps(_outcome("security", str(exc))).encode(), (
                ("WWW-Authenticate", 'Bearer realm="epd-gateway"'),)
        ctx = RequestContext(principal=principal, remote_addr=remote, endpoint="fhir-audit")
        result = self.pipeline.run(self.transaction, query, ctx)
        if result.fault is not None:
            return 500, FHIR_JSON, json.dumps(_outcome("exception", result.fault.reason)).encode(), ()
        outcome: Outcome = result.reply
        if outcome.status != SUCCESS:
            return 403, FHIR_JSON, json.dumps(_outcome("forbidden", outcome.problems[0].message)).encode(), ()
        bundle = outcome.reply
        if query.xml:
            return 200, FHIR_XML, _bundle_xml(bundle), ()
        return 200, FHIR_JSON, json.dumps(bundle).encode(), ()

    def _principal(self, authorization: bytes | None) -> Principal:
        if not authorization or not authorization.lower().startswith(b"bearer "):
            raise TrailAccessDenied(401, "an X-User Assertion is required: Authorization: Bearer <base64url>")
        if self.authenticate is None:
            raise TrailAccessDenied(401, "this gateway verifies no X-User Assertions (EPD_XUA_TRUST is not set)")
        import base64
        token = authorization[7:].strip()
        try:
            assertion = base64.urlsafe_b64decode(token + b"=" * (-len(token) % 4))
        except ValueError:
            raise TrailAccessDenied(401, "the bearer token is not base64url") from None
        try:
            return self.authenticate(assertion)
        except Exception as exc:   # the verifier's own fault names the problem
            raise TrailAccessDenied(401, f"the X-User Assertion was refused: {getattr(exc, 'reason', exc)}") from None

    def _use_case(self, ctx: RequestContext, query: TrailQuery) -> Outcome:
        from profiles.atna.atc import searchset, trail_event
        facts = AuditFacts(transaction="ITI-81", patient_ids=(f"{query.epr_spid}^^^&{SPID_SYSTEM[8:]}&ISO",),
                           query_id="ITI-81", query_text=query.query)
        if not self.may_read(ctx.principal, query.epr_spid):
            return Outcome(None, FAILURE, (Problem("forbidden", "the caller may not read this patient's audit trail"),),
                           facts)
        cx = self.mpi.find_by_epr_spid(query.epr_spid)
        pids = (f"{cx.id}^^^&{cx.oid}&ISO",) if cx is not None else ()
        records = self.store.records(since=query.since, until=query.until, epr_spid=query.epr_spid, patient_ids=pids)
        events = []
        for r in records:
            from lxml import etree
            ev = trail_event(etree.fromstring(r.message), record_id=r.record_id, transaction=r.transaction,
                             epr_spid=query.epr_spid, observer=self.observer)
            if ev is not None:
                events.append(ev)
        page = events[query.offset:query.offset + query.count]
        self_url = f"{query.base_url}/AuditEvent?{query.query}"
        nxt = None
        if query.offset + query.count < len(events):
            nxt = f"{self_url}&_offset={query.offset + query.count}"
        bundle = searchset(page, total=len(events), self_url=self_url, next_url=nxt, base=query.base_url)
        return Outcome(bundle, SUCCESS, (), AuditFacts(**{**facts.__dict__, "entries_returned": len(page)}))

    @staticmethod
    def _write(answer, request: server.Request) -> None:
        status, ctype, body, headers = answer
        if request.finished or request._disconnected:  # type: ignore[attr-defined]
            return
        request.setResponseCode(status)
        request.setHeader(b"content-type", ctype.encode())
        for k, v in headers:
            request.setHeader(k.encode(), v.encode())
        request.setHeader(b"content-length", str(len(body)).encode())
        request.write(body)
        request.finish()


def _bundle_xml(bundle: dict) -> bytes:
    """The Bundle in FHIR's XML form (fhir.resources renders it)."""
    from fhir.resources.R4B.bundle import Bundle
    return Bundle.model_validate(bundle).model_dump_xml()
