"""Durable first: an ITI-41/42 that commits has its audit record, stored in the same database
transaction as the change; one that rolls back leaves no Success record and has a failure record;
exactly one record per transaction either way."""
from __future__ import annotations

import datetime as _dt

import pytest
import sqlalchemy as sa
from lxml import etree

from gateway.audit.store import AuditStore, StoreAuditSink
from gateway.clients.submission import DocumentSpec, provide_and_register_request, submit_objects_request
from gateway.config import Settings
from gateway.endpoints.xds import iti41_transaction, iti42_transaction
from gateway.pipeline import MemoryAuditSink, Pipeline
from gateway.soap.envelope import SoapRequest
from gateway.store.blobs import BlobStore, DocumentBlobs
from gateway.store.db import make_engine
from gateway.store.mpi import MpiStore
from gateway.store.registry import RegistryTx, SqlRegistryStore
from profiles.atna.messages import AuditSite
from profiles.context import RequestContext
from profiles.outcome import EVENT_MAJOR_FAILURE, EVENT_SERIOUS_FAILURE, EVENT_SUCCESS
from profiles.xds import constants as C
from profiles.xds.provide_register import ProvideAndRegisterPorts
from profiles.xds.register import RegisterPorts
from profiles.xds.registry import RegistryPolicy
from support.xds_memory import MemoryBlobs, MemoryPatients, MemoryRegistry

MPI = "2.16.756.5.30.1.999.1.1"
REPO = "2.16.756.5.30.1.999.1.2"
SITE = AuditSite("2.16.756.5.30.1.999.1", "test")


def _soap(body, action):
    env = etree.Element("{http://www.w3.org/2003/05/soap-envelope}Envelope")
    etree.SubElement(env, "{http://www.w3.org/2003/05/soap-envelope}Body").append(body)
    return SoapRequest(env, None, body, action)


def _status(result):
    return result.reply.body.get("status").rsplit(":", 1)[-1]


class Stack:
    """The ITI-41/42 write path on a real database, wired as gateway.app wires it."""

    def __init__(self, db_url, tmp_path):
        self.engine = make_engine(db_url)
        self.mpi = MpiStore(self.engine, MPI)
        self.pid = str(self.mpi.add_patient("761337610411353650", "Muster", "Anna", _dt.date(1970, 1, 1), "F"))
        self.audit = AuditStore(self.engine, SITE)
        self.notified = []
        self.sink = StoreAuditSink(self.audit, self.notified.append)
        self.registry = SqlRegistryStore(self.engine, patients=self.mpi, audit=self.sink)
        policy = RegistryPolicy(mpi_oid=MPI)
        self.provide = ProvideAndRegisterPorts(self.registry, DocumentBlobs(BlobStore(tmp_path / "blobs"),
                                                                            self.registry.referenced_blobs),
                                               policy, REPO)
        self.register = RegisterPorts(self.registry, policy)
        self.pipeline = Pipeline(audit=self.sink)

    def iti41(self, docs):
        body, _ = provide_and_register_request(self.pid, docs, inline=True)
        return self.pipeline.run(iti41_transaction(Settings(), self.provide), _soap(body, C.ACTION_ITI41),
                                 RequestContext())

    def iti42(self, docs):
        sor = submit_objects_request(self.pid, docs, for_register=True)
        return self.pipeline.run(iti42_transaction(Settings(), self.register), _soap(sor, C.ACTION_ITI42),
                                 RequestContext())

    def registered(self):
        with self.engine.connect() as c:
            return {r[0] for r in c.execute(sa.text("select unique_id from xds_document"))}


@pytest.fixture
def stack(db_url, tmp_path):
    s = Stack(db_url, tmp_path)
    yield s
    s.engine.dispose()


def _in_tx_recorder(monkeypatch):
    """Which audit records were inserted while a registry transaction was open."""
    inside = []
    original = RegistryTx.record_audit

    def record_audit(self, event):
        stored = original(self, event)
        inside.append((event.transaction, event.event_outcome, stored))
        return stored
    monkeypatch.setattr(RegistryTx, "record_audit", record_audit)
    return inside


@pytest.mark.parametrize("transaction", ["ITI-41", "ITI-42"])
def test_a_committed_submission_has_exactly_one_record_stored_inside_its_transaction(stack, monkeypatch,
                                                                                      transaction):
    inside = _in_tx_recorder(monkeypatch)
    doc = DocumentSpec(b"durable first")
    result = (stack.iti41 if transaction == "ITI-41" else stack.iti42)([doc])
    assert result.fault is None and _status(result) == C.RESPONSE_SUCCESS.rsplit(":", 1)[-1]
    assert stack.registered() == {doc.unique_id}
    assert inside == [(transaction, EVENT_SUCCESS, True)]
    (rec,) = stack.audit.records()
    assert rec.transaction == transaction and rec.outcome == EVENT_SUCCESS
    assert result.event.transaction == transaction and result.event.event_outcome == EVENT_SUCCESS
    assert [r.seq for r in stack.notified] == [rec.seq]      # the forwarder is woken after the commit
    assert stack.audit.verify() == (1, [])


def test_a_rolled_back_iti41_leaves_no_success_record_and_has_a_failure_record(stack, monkeypatch):
    """The Success record is inserted, then the commit fails: the record rolls back with the
    submission, and the pipeline records the failure (one record)."""
    original = RegistryTx.record_audit

    def record_then_fail(self, event):
        assert original(self, event)
        raise sa.exc.OperationalError("COMMIT", {}, Exception("the database went away"))
    monkeypatch.setattr(RegistryTx, "record_audit", record_then_fail)
    doc = DocumentSpec(b"rolled back")
    result = stack.iti41([doc])
    assert result.reply is None and result.fault.code == "Receiver"
    assert stack.registered() == set()
    (rec,) = stack.audit.records()
    assert rec.outcome == EVENT_MAJOR_FAILURE and rec.transaction == "ITI-41"
    assert stack.audit.verify() == (1, [])


def test_a_refused_iti41_rolls_back_and_has_one_failure_record(stack):
    """A conflict found inside the write transaction (the repository already holds the uniqueId)
    rolls the submission back: no Success record, one Failure record written after."""
    first = DocumentSpec(b"first")
    assert _status(stack.iti41([first])) == "Success"
    again = DocumentSpec(b"other bytes", unique_id=first.unique_id)
    result = stack.iti41([again])
    assert _status(result) == "Failure"
    outcomes = [(r.transaction, r.outcome) for r in stack.audit.records()]
    assert outcomes == [("ITI-41", EVENT_SUCCESS), ("ITI-41", EVENT_SERIOUS_FAILURE)]
    assert stack.audit.verify() == (2, [])


# ------------------------------------------------------------------ the seam, without a database

def test_memory_ports_record_with_the_change_and_the_pipeline_writes_no_second_event():
    registry = MemoryRegistry(MemoryPatients("4711"), audit=True)
    ports = ProvideAndRegisterPorts(registry, MemoryBlobs(), RegistryPolicy(mpi_oid=MPI), REPO)
    sink = MemoryAuditSink()
    body, _ = provide_and_register_request(f"4711^^^&{MPI}&ISO", [DocumentSpec(b"x")], inline=True)
    result = Pipeline(audit=sink).run(iti41_transaction(Settings(), ports), _soap(body, C.ACTION_ITI41),
                                      RequestContext())
    assert _status(result) == "Success"
    assert sink.events == []                         # not recorded a second time
    assert registry.audit == [result.event]          # stored with the change


def test_without_a_transactional_recorder_the_pipeline_records_as_before():
    registry = MemoryRegistry(MemoryPatients("4711"))   # audit off in the port
    ports = ProvideAndRegisterPorts(registry, MemoryBlobs(), RegistryPolicy(mpi_oid=MPI), REPO)
    sink = MemoryAuditSink()
    body, _ = provide_and_register_request(f"4711^^^&{MPI}&ISO", [DocumentSpec(b"x")], inline=True)
    result = Pipeline(audit=sink).run(iti41_transaction(Settings(), ports), _soap(body, C.ACTION_ITI41),
                                      RequestContext())
    assert _status(result) == "Success" and sink.events == [result.event]


def test_a_failure_is_not_recorded_inside_the_transaction():
    registry = MemoryRegistry(MemoryPatients("4711"), audit=True)
    ports = ProvideAndRegisterPorts(registry, MemoryBlobs(), RegistryPolicy(mpi_oid=MPI), REPO)
    sink = MemoryAuditSink()
    body, _ = provide_and_register_request(f"UNKNOWN^^^&{MPI}&ISO", [DocumentSpec(b"x")], inline=True)
    result = Pipeline(audit=sink).run(iti41_transaction(Settings(), ports), _soap(body, C.ACTION_ITI41),
                                      RequestContext())
    assert _status(result) == "Failure"
    assert registry.audit == [] and [e.event_outcome for e in sink.events] == [EVENT_SERIOUS_FAILURE]


def test_a_reply_that_fails_to_render_after_the_commit_keeps_the_one_stored_record():
    """The change committed with its Success record; only the wire reply failed: the answer is a
    Receiver fault and no second (failure) record is written for the same transaction."""
    import dataclasses
    registry = MemoryRegistry(MemoryPatients("4711"), audit=True)
    ports = ProvideAndRegisterPorts(registry, MemoryBlobs(), RegistryPolicy(mpi_oid=MPI), REPO)
    sink = MemoryAuditSink()

    def broken_render(outcome, request):
        raise RuntimeError("the reply could not be rendered")
    transaction = dataclasses.replace(iti41_transaction(Settings(), ports), render=broken_render)
    body, _ = provide_and_register_request(f"4711^^^&{MPI}&ISO", [DocumentSpec(b"x")], inline=True)
    result = Pipeline(audit=sink).run(transaction, _soap(body, C.ACTION_ITI41), RequestContext())
    assert result.reply is None and result.fault.code == "Receiver"
    assert sink.events == [] and registry.audit == [result.event]
    assert result.event.event_outcome == EVENT_SUCCESS
