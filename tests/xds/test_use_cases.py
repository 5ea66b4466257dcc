"""The ITI-41 and ITI-42 use cases with in-memory ports (no database, no SOAP), and each through an
in-process Pipeline: the audit event's outcome is the IHE outcome of the reply."""
from __future__ import annotations

import base64

import pytest
from lxml import etree

from gateway.clients.submission import DocumentSpec, provide_and_register_request, submit_objects_request
from gateway.config import Settings
from gateway.endpoints.xds import iti41_transaction, iti42_transaction, read_provide_and_register, read_submission
from gateway.pipeline import MemoryAuditSink, Pipeline
from gateway.soap.envelope import SoapRequest
from profiles.context import RequestContext
from profiles.outcome import EVENT_SERIOUS_FAILURE, EVENT_SUCCESS, FAILURE, SUCCESS
from profiles.xds import constants as C
from profiles.xds.provide_register import ProvideAndRegisterPorts, provide_and_register
from profiles.xds.register import RegisterPorts, register
from profiles.xds.registry import RegistryPolicy
from support.xds_memory import MemoryBlobs, MemoryPatients, MemoryRegistry

MPI = "2.16.756.5.30.1.999.1.1"
PID = f"4711^^^&{MPI}&ISO"
REPO = "2.16.756.5.30.1.999.1.2"
NOW = "20261201120000"


def _resolve(el):
    return base64.b64decode(el.text or "")


@pytest.fixture
def ports():
    registry = MemoryRegistry(MemoryPatients("4711"))
    blobs = MemoryBlobs()
    policy = RegistryPolicy(mpi_oid=MPI)
    return (ProvideAndRegisterPorts(registry, blobs, policy, REPO, now=lambda: NOW),
            RegisterPorts(registry, policy, now=lambda: NOW))


def iti41(ports, docs, patient=PID, mutate=None):
    body, _ = provide_and_register_request(patient, docs, inline=True)
    if mutate is not None:
        mutate(body)
    return provide_and_register(RequestContext(), read_provide_and_register(body, _resolve), ports[0])


def codes(outcome):
    return sorted({e.code for e in outcome.reply})


def test_iti41_success_stores_blob_rows_and_reports_the_audit_facts(ports):
    d = DocumentSpec(b"a letter")
    out = iti41(ports, [d])
    assert out.status == SUCCESS and out.reply == [] and out.problems == ()
    registry, blobs = ports[0].registry, ports[0].blobs
    assert list(blobs.blobs.values()) == [b"a letter"]
    assert [x.unique_id for x in registry.documents.values()] == [d.unique_id]
    assert (REPO, d.unique_id) in registry.repository
    facts = out.audit
    assert facts.transaction == "ITI-41" and facts.patient_ids == (PID,)
    assert facts.document_unique_ids == (d.unique_id,) and facts.repository_unique_ids == (REPO,)
    assert facts.submission_set_unique_id
    # the stored text is rendered from the model: hash, size and repositoryUniqueId set by the repository
    text = next(registry.texts[u] for u, x in registry.documents.items())
    el = etree.fromstring(text)
    slots = {s.get("name"): s.findtext(f"{C.rim('ValueList')}/{C.rim('Value')}") for s in el.iter(C.rim("Slot"))}
    assert slots["size"] == "8" and slots["repositoryUniqueId"] == REPO and len(slots["hash"]) == 40


def test_iti41_invalid_metadata_writes_no_blob_and_opens_no_transaction(ports):
    out = iti41(ports, [DocumentSpec(b"x", language_code=None, creation_time="2023-01-01")])
    assert out.status == FAILURE and codes(out) == ["XDSRegistryMetadataError"]
    assert ports[0].blobs.stored == 0 and ports[0].registry.transactions == 0
    assert {p.code for p in out.problems} == {"XDSRegistryMetadataError"}


def test_iti41_hash_mismatch_is_refused_before_any_blob(ports):
    def wrong_hash(body):
        for slot in body.iter(C.rim("Slot")):
            if slot.get("name") == "hash":
                slot.find(f"{C.rim('ValueList')}/{C.rim('Value')}").text = "0" * 40
    out = iti41(ports, [DocumentSpec(b"x", include_hash=True)], mutate=wrong_hash)
    assert codes(out) == ["XDSRepositoryMetadataError"] and ports[0].blobs.stored == 0


def test_iti41_refused_by_the_registry_removes_the_blobs_it_created(ports):
    out = iti41(ports, [DocumentSpec(b"for nobody")], patient=f"NOPE^^^&{MPI}&ISO")
    assert codes(out) == ["XDSUnknownPatientId"] and out.status == FAILURE
    assert ports[0].blobs.stored == 1 and ports[0].blobs.blobs == {}
    assert ports[0].registry.documents == {} and ports[0].registry.repository == {}


def test_iti41_identical_resubmission_is_a_second_entry_with_one_repository_record(ports):
    d = DocumentSpec(b"twice")
    assert iti41(ports, [d]).status == SUCCESS
    again = iti41(ports, [DocumentSpec(b"twice", unique_id=d.unique_id)])
    assert again.status == SUCCESS, again.reply
    registry = ports[0].registry
    assert [x.unique_id for x in registry.documents.values()] == [d.unique_id, d.unique_id]
    assert list(registry.repository) == [(REPO, d.unique_id)]
    other = iti41(ports, [DocumentSpec(b"other bytes", unique_id=d.unique_id)])
    assert codes(other) == ["XDSNonIdenticalHash"] and len(registry.documents) == 2


def test_iti41_stray_attachment_is_missing_document_metadata(ports):
    body, _ = provide_and_register_request(PID, [DocumentSpec(b"x")], inline=True)
    request = read_provide_and_register(body, _resolve)
    request.unreferenced_parts = ["stray@x"]
    out = provide_and_register(RequestContext(), request, ports[0])
    assert codes(out) == ["XDSMissingDocumentMetadata"] and ports[0].blobs.stored == 0


def test_iti42_success_and_failure(ports):
    d = DocumentSpec(b"registered")
    out = register(RequestContext(), read_submission(submit_objects_request(PID, [d], for_register=True), None),
                   ports[1])
    assert out.status == SUCCESS and out.audit.transaction == "ITI-42"
    assert out.audit.document_unique_ids == (d.unique_id,) and out.audit.patient_ids == (PID,)
    assert out.audit.repository_unique_ids == ("2.999.1.2.3.5",)    # the entries' repositoryUniqueId (client default)
    sor = submit_objects_request(PID, [DocumentSpec(b"y")], for_register=False)   # no hash, size, repository
    out = register(RequestContext(), read_submission(sor, None), ports[1])
    assert out.status == FAILURE and codes(out) == ["XDSRegistryMetadataError"]
    assert ports[1].registry.transactions == 1


def test_iti42_object_limit(ports):
    sor = submit_objects_request(PID, [DocumentSpec(b"a"), DocumentSpec(b"b")], for_register=True)
    out = register(RequestContext(), read_submission(sor, 4), ports[1])
    assert codes(out) == ["XDSRegistryError"] and "limit of 4" in out.reply[0].context
    assert ports[1].registry.transactions == 0


# ------------------------------------------------------------------ through the pipeline: audit == reply

def _soap(body, action):
    env = etree.Element("{http://www.w3.org/2003/05/soap-envelope}Envelope")
    etree.SubElement(env, "{http://www.w3.org/2003/05/soap-envelope}Body").append(body)
    return SoapRequest(env, None, body, action)


def _wire_status(result):
    return result.reply.body.get("status").rsplit(":", 1)[-1]


@pytest.mark.parametrize("patient,expected,indicator", [(PID, SUCCESS, EVENT_SUCCESS),
                                                        (f"NOPE^^^&{MPI}&ISO", FAILURE, EVENT_SERIOUS_FAILURE)])
def test_iti41_audit_event_outcome_is_the_reply_outcome(ports, patient, expected, indicator):
    sink = MemoryAuditSink()
    body, _ = provide_and_register_request(patient, [DocumentSpec(b"audited")], inline=True)
    result = Pipeline(audit=sink).run(iti41_transaction(Settings(), ports[0]), _soap(body, C.ACTION_ITI41),
                                      RequestContext())
    assert result.fault is None and result.reply.action == C.ACTION_ITI41_RESPONSE
    assert _wire_status(result) == expected
    (event,) = sink.events
    assert event.ihe_status == expected and event.event_outcome == indicator and event.transaction == "ITI-41"
    assert event.facts.patient_ids == (patient,)
    assert [p.code for p in event.problems] == [e.get("errorCode") for e in result.reply.body.iter(
        f"{{{C.NS_RS}}}RegistryError")]


@pytest.mark.parametrize("for_register,expected,indicator", [(True, SUCCESS, EVENT_SUCCESS),
                                                             (False, FAILURE, EVENT_SERIOUS_FAILURE)])
def test_iti42_audit_event_outcome_is_the_reply_outcome(ports, for_register, expected, indicator):
    sink = MemoryAuditSink()
    sor = submit_objects_request(PID, [DocumentSpec(b"audited")],
                                 for_register=for_register)
    result = Pipeline(audit=sink).run(iti42_transaction(Settings(), ports[1]), _soap(sor, C.ACTION_ITI42),
                                      RequestContext())
    assert _wire_status(result) == expected
    (event,) = sink.events
    assert event.ihe_status == expected and event.event_outcome == indicator and event.transaction == "ITI-42"


def test_iti42_wrong_body_is_a_sender_fault_audited_once(ports):
    sink = MemoryAuditSink()
    result = Pipeline(audit=sink).run(iti42_transaction(Settings(), ports[1]),
                                      _soap(etree.Element("{urn:x}y"), C.ACTION_ITI42), RequestContext())
    assert result.reply is None and result.fault.code == "Sender"
    assert [(e.fault_code, e.ihe_status) for e in sink.events] == [("Sender", None)]
