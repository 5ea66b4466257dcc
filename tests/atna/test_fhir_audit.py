"""ITI-81 (CH:ATC) request handling: parameters, access, paging, the read audited in the trail."""
from __future__ import annotations

import base64
import json

import pytest

from gateway.audit.store import AuditStore, StoreAuditSink
from gateway.endpoints.fhir_audit import AuditTrailResource, parse_trail_query
from gateway.pipeline import Pipeline
from gateway.store.db import make_engine
from profiles.atna.messages import AuditSite
from profiles.audit import audit_event
from profiles.context import Principal, RequestContext
from profiles.outcome import SUCCESS, AuditFacts, Outcome

SPID = "761337610411353650"
OTHER = "761337610433933946"
Q = f"/fhir/AuditEvent?entity.identifier=urn:oid:2.16.756.5.30.1.127.3.10.3|{SPID}"


class Mpi:
    def find_by_epr_spid(self, spid):
        class CX:
            id, oid = ("pid-" + spid[-4:]), "2.16.756.5.30.1.999.1.1"
        return CX()


PRINCIPALS = {b"pat": Principal(user_id=SPID, role="PAT", purpose_of_use="NORM", patient_epr_spid=SPID),
              b"rep": Principal(user_id="rep-1", role="REP", purpose_of_use="NORM", patient_epr_spid=SPID),
              b"hcp": Principal(user_id="7601000000001", role="HCP", purpose_of_use="NORM", patient_epr_spid=SPID)}


def _auth(assertion: bytes) -> Principal:
    if assertion not in PRINCIPALS:
        raise ValueError("bad signature")
    return PRINCIPALS[assertion]


def _bearer(name: bytes) -> bytes:
    return b"Bearer " + base64.urlsafe_b64encode(name).rstrip(b"=")


@pytest.fixture
def trail(sqlite_url):
    engine = make_engine(sqlite_url)
    store = AuditStore(engine, AuditSite("2.16.756.5.30.1.999.1", "t", "urn:oid:2.16.756.5.30.1.999.1"))
    for i, tx in enumerate(["ITI-41", "ITI-43", "ITI-44", "ITI-18", "ITI-43"]):
        p = Principal(user_id="7601000000001", role="HCP", purpose_of_use="EMER" if i == 4 else "NORM",
                      patient_epr_spid=SPID)
        store.append(audit_event(RequestContext(transaction=tx, principal=p), outcome=Outcome(
            None, SUCCESS, (), AuditFacts(patient_ids=("pid-3650^^^&2.16.756.5.30.1.999.1.1&ISO",),
                                          document_unique_ids=("1.2.3",)))))
    store.append(audit_event(RequestContext(transaction="ITI-43", principal=Principal(patient_epr_spid=OTHER)),
                             outcome=Outcome(None, SUCCESS, (), AuditFacts(document_unique_ids=("9.9",)))))
    res = AuditTrailResource(store=store, mpi=Mpi(), pipeline=Pipeline(audit=StoreAuditSink(store)),
                             observer_oid="2.16.756.5.30.1.999.1", authenticate=_auth)
    yield res, store
    engine.dispose()


def _get(res, uri, auth=b"pat", accept=None):
    status, ctype, body, headers = res._answer(uri, _bearer(auth) if auth else None, accept, "http://gw/fhir",
                                               "127.0.0.1")
    return status, ctype, body, dict(headers)


def test_patient_reads_own_trail_and_the_read_is_audited(trail):
    res, store = trail
    status, ctype, body, _ = _get(res, Q)
    assert status == 200 and ctype.startswith("application/fhir+json")
    bundle = json.loads(body)
    codes = [e["resource"]["subtype"][0]["code"] for e in bundle["entry"]]
    assert codes == ["ATC_DOC_CREATE", "ATC_DOC_READ", "ATC_DOC_SEARCH", "ATC_DOC_READ"]   # no PIX, no other patient
    emergency = bundle["entry"][-1]["resource"]
    assert emergency["purposeOfEvent"][0]["coding"][0]["code"] == "EMER"
    last = store.records()[-1]
    assert last.transaction == "ITI-81" and last.epr_spid == SPID
    status, _ct, body, _ = _get(res, Q)
    assert "ATC_LOG_READ" in [e["resource"]["subtype"][0]["code"] for e in json.loads(body)["entry"]]


def test_paging(trail):
    res, _store = trail
    bundle = json.loads(_get(res, Q + "&_count=3")[2])
    assert bundle["total"] == 4 and len(bundle["entry"]) == 3
    nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"][0]
    rest = json.loads(_get(res, nxt.replace("http://gw", ""))[2])
    assert len(rest["entry"]) == 2   # the last one, and the ATC_LOG_READ of the first page


@pytest.mark.parametrize("uri,status", [
    ("/fhir/AuditEvent", 400),
    ("/fhir/AuditEvent?date=ge2026-01-01", 400),
    (Q + "&outcome=0", 400),
    (Q + "&date=xx2026", 400),
    (f"/fhir/AuditEvent?entity.identifier=urn:oid:1.2|{SPID}", 400),
])
def test_bad_requests(trail, uri, status):
    res, _ = trail
    assert _get(res, uri)[0] == status


def test_access(trail):
    res, store = trail
    n = len(store.records())
    assert _get(res, Q, auth=None)[0] == 401
    assert _get(res, Q, auth=b"forged")[0] == 401
    assert _get(res, Q, auth=b"hcp")[0] == 403
    assert _get(res, Q, auth=b"rep")[0] == 200
    other = Q.replace(SPID, OTHER)
    assert _get(res, other, auth=b"pat")[0] == 403      # another patient's trail
    assert [r.transaction for r in store.records()[n:]] == ["ITI-81"] * 3   # refused reads are audited too


def test_xml_on_request(trail):
    res, _ = trail
    status, ctype, body, _ = _get(res, Q + "&_format=xml")
    assert status == 200 and ctype.startswith("application/fhir+xml") and b"<Bundle" in body


def test_parse_query_dates():
    q = parse_trail_query([("entity.identifier", f"urn:oid:2.16.756.5.30.1.127.3.10.3|{SPID}"),
                           ("date", "ge2026-01-01"), ("date", "le2026-01-31")], "http://gw/fhir", None)
    assert (q.since, q.until) == ("2026-01-01T00:00:00", "2026-01-31T23:59:59.999999+00:00")
