"""ITI-18 and ITI-43 through the in-process pipeline: exactly one audit event per request, and its
outcome is the IHE outcome of the reply on the wire (a Failure audited as a failure, a PartialSuccess
as such), with the transaction's audit facts."""
from __future__ import annotations

import pytest
from lxml import etree

from gateway.config import Settings
from gateway.endpoints.registry_query import stored_query_transaction
from gateway.endpoints.retrieve import retrieve_transaction
from gateway.pipeline import MemoryAuditSink, Pipeline
from gateway.soap.envelope import RawXml, SoapRequest
from gateway.store.blobs import BlobStore
from profiles.context import RequestContext
from profiles.outcome import EVENT_MINOR_FAILURE, EVENT_SERIOUS_FAILURE, EVENT_SUCCESS
from profiles.xds import constants as C
from profiles.xds import query_catalogue as Q
from profiles.xds.registry_query import RegistryQueryConfig, StoredQueryPorts
from profiles.xds.retrieve import RetrievePorts
from support.memory_xds import MemoryQueryStore, MemoryRegistry, MemoryRepository, doc_row

from query.registry_fixture import APPROVED, q, qlist, query_xml

MPI = "2.999.1.1"
HOME = "urn:oid:2.999.1"
REPO = "2.999.1.2"
P1, P2 = f"P1^^^&{MPI}&ISO", f"P2^^^&{MPI}&ISO"
SETTINGS = Settings(mpi_oid=MPI, home_community_id=HOME, repository_unique_id=REPO, max_query_results=100,
                    max_query_parameter_values=5, max_retrieve_documents=3)
#: the audit EventOutcomeIndicator each ebRS status on the wire means
WIRE_OUTCOME = {C.RESPONSE_SUCCESS: EVENT_SUCCESS, C.RESPONSE_PARTIAL: EVENT_MINOR_FAILURE,
                C.RESPONSE_FAILURE: EVENT_SERIOUS_FAILURE}


def _soap(body, action) -> SoapRequest:
    env = etree.Element("{http://www.w3.org/2003/05/soap-envelope}Envelope")
    return SoapRequest(envelope=env, header=None, body=body, action=action)


def _registry() -> MemoryRegistry:
    reg = MemoryRegistry()
    reg.documents_ = [doc_row("urn:uuid:d1", P1, seq=1), doc_row("urn:uuid:d2", P2, seq=2)]
    return reg


def _iti18():
    ports = StoredQueryPorts(MemoryQueryStore(_registry(), known={"P1", "P2"}),
                             RegistryQueryConfig(MPI, HOME, SETTINGS.max_query_results))
    return stored_query_transaction(SETTINGS, ports)


ITI18_CASES = {
    "success": (Q.FIND_DOCUMENTS, [("$XDSDocumentEntryPatientId", q(P1)), ("$XDSDocumentEntryStatus", APPROVED)],
                "LeafClass", C.RESPONSE_SUCCESS),
    "not-single-patient": (Q.GET_DOCUMENTS, {"$XDSDocumentEntryEntryUUID": qlist(["urn:uuid:d1", "urn:uuid:d2"])},
                           "LeafClass", C.RESPONSE_FAILURE),
    "unknown-query": ("urn:uuid:00000000-0000-0000-0000-000000000000", [], "ObjectRef", C.RESPONSE_FAILURE),
    "too-many-values": (Q.GET_DOCUMENTS, {"$XDSDocumentEntryEntryUUID": qlist([f"urn:uuid:x{i}" for i in range(6)])},
                        "ObjectRef", C.RESPONSE_FAILURE),
}


@pytest.mark.parametrize("case", sorted(ITI18_CASES))
def test_iti18_audit_outcome_is_the_reply_outcome(case):
    query_id, slots, return_type, expected = ITI18_CASES[case]
    sink = MemoryAuditSink()
    result = Pipeline(audit=sink).run(_iti18(), _soap(query_xml(query_id, slots, return_type), C.ACTION_ITI18),
                                      RequestContext())
    assert result.fault is None and result.reply.action == C.ACTION_ITI18_RESPONSE
    body = result.reply.body
    if isinstance(body, RawXml):
        body = etree.fromstring(body.data)
    wire_status = body.get("status")
    assert wire_status == expected
    assert len(sink.events) == 1
    event = sink.events[0]
    assert event.transaction == "ITI-18" and event.event_outcome == WIRE_OUTCOME[wire_status]
    assert event.facts.query_id == query_id
    wire_errors = [e.get("errorCode") for e in body.iter("{%s}RegistryError" % C.NS_RS)]
    assert [p.code for p in event.problems] == wire_errors
    if case == "success":
        assert event.facts.patient_ids == (P1,) and event.facts.entries_returned == 1


def _iti43(tmp_path):
    reader = MemoryRepository({(REPO, "1.1"): ("text/plain", "a" * 64), (REPO, "1.2"): ("text/plain", "b" * 64)})
    return retrieve_transaction(SETTINGS, RetrievePorts(reader, REPO, HOME), BlobStore(tmp_path))


def _retrieve_body(*uids):
    X = "{%s}" % C.NS_XDS
    body = etree.Element(X + "RetrieveDocumentSetRequest", nsmap={"xds": C.NS_XDS})
    for uid in uids:
        dr = etree.SubElement(body, X + "DocumentRequest")
        etree.SubElement(dr, X + "RepositoryUniqueId").text = REPO
        etree.SubElement(dr, X + "DocumentUniqueId").text = uid
    return body


ITI43_CASES = {"success": (("1.1", "1.2"), C.RESPONSE_SUCCESS),
               "partial": (("1.1", "9.9"), C.RESPONSE_PARTIAL),
               "failure": (("9.9",), C.RESPONSE_FAILURE),
               "too-many-documents": (("1.1", "1.2", "1.1", "1.2"), C.RESPONSE_FAILURE)}


@pytest.mark.parametrize("case", sorted(ITI43_CASES))
def test_iti43_audit_outcome_is_the_reply_outcome(case, tmp_path):
    uids, expected = ITI43_CASES[case]
    sink = MemoryAuditSink()
    result = Pipeline(audit=sink).run(_iti43(tmp_path), _soap(_retrieve_body(*uids), C.ACTION_ITI43),
                                      RequestContext())
    assert result.fault is None and result.reply.action == C.ACTION_ITI43_RESPONSE
    rr = result.reply.body.find("{%s}RegistryResponse" % C.NS_RS)
    assert rr.get("status") == expected
    assert len(result.reply.attachments) == len(result.reply.body.findall("{%s}DocumentResponse" % C.NS_XDS))
    assert len(sink.events) == 1
    event = sink.events[0]
    assert event.transaction == "ITI-43" and event.event_outcome == WIRE_OUTCOME[expected]
    assert [p.code for p in event.problems] == [e.get("errorCode") for e in rr.iter("{%s}RegistryError" % C.NS_RS)]
    if case != "too-many-documents":
        assert event.facts.document_unique_ids == uids and event.facts.repository_unique_ids == (REPO,)
        assert event.facts.entries_returned == len(result.reply.attachments)


class DenyAll:
    def __init__(self, code=""):
        self.code = code

    def decide(self, ctx, request):
        from profiles.authorization import deny
        return deny("no access right for this patient", self.code)

    def result_filter(self, ctx):
        raise AssertionError("a denied request never reaches the use case")


@pytest.mark.parametrize("code,answered", [("", "XDSRegistryError"), ("XDSUnknownPatientId", "XDSUnknownPatientId")])
def test_iti18_denied_is_a_failure_answer_audited_as_such(code, answered):
    store = MemoryQueryStore(_registry(), known={"P1"})
    ports = StoredQueryPorts(store, RegistryQueryConfig(MPI, HOME, 100), policy=DenyAll(code))
    sink = MemoryAuditSink()
    slots = [("$XDSDocumentEntryPatientId", q(P1)), ("$XDSDocumentEntryStatus", APPROVED)]
    result = Pipeline(audit=sink).run(stored_query_transaction(SETTINGS, ports),
                                      _soap(query_xml(Q.FIND_DOCUMENTS, slots), C.ACTION_ITI18), RequestContext())
    assert result.fault is None and store.sessions == 0
    body = result.reply.body
    assert body.get("status") == C.RESPONSE_FAILURE
    errors = [(e.get("errorCode"), e.get("codeContext")) for e in body.iter("{%s}RegistryError" % C.NS_RS)]
    assert errors == [(answered, "no access right for this patient")]
    assert [e.event_outcome for e in sink.events] == [EVENT_SERIOUS_FAILURE]
    assert sink.events[0].facts.patient_ids == (P1,) and sink.events[0].facts.query_id == Q.FIND_DOCUMENTS


def test_iti43_denied_is_a_failure_answer_audited_as_such(tmp_path):
    reader = MemoryRepository({(REPO, "1.1"): ("text/plain", "a" * 64)})
    tx = retrieve_transaction(SETTINGS, RetrievePorts(reader, REPO, HOME, policy=DenyAll()), BlobStore(tmp_path))
    sink = MemoryAuditSink()
    result = Pipeline(audit=sink).run(tx, _soap(_retrieve_body("1.1"), C.ACTION_ITI43), RequestContext())
    assert result.fault is None and result.reply.attachments == []
    rr = result.reply.body.find("{%s}RegistryResponse" % C.NS_RS)
    assert rr.get("status") == C.RESPONSE_FAILURE
    assert [e.get("errorCode") for e in rr.iter("{%s}RegistryError" % C.NS_RS)] == ["XDSRepositoryError"]
    assert [e.event_outcome for e in sink.events] == [EVENT_SERIOUS_FAILURE]
    assert sink.events[0].facts.document_unique_ids == ("1.1",)
