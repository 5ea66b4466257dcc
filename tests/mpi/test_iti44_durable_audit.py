"""Durable first for ITI-44: an accepted feed (Add, Revise, Duplicates Resolved) stores its audit
record inside the MPI's write transaction; a feed whose transaction rolls back leaves no AA record
and has its failure record; one record per transaction either way (both backends)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from lxml import etree

from gateway.audit.store import AuditStore, StoreAuditSink
from gateway.config import Settings
from gateway.endpoints.pix import ACTION_ADD, ACTION_MERGE, ACTION_REVISE, pix_transactions, response_context
from gateway.pipeline import Pipeline
from gateway.soap.envelope import SoapRequest
from gateway.store.db import make_engine
from gateway.store.mpi import MpiStore
from profiles.atna.messages import AuditSite
from profiles.ch.identifiers import CX, EPR_SPID_OID
from profiles.context import RequestContext
from profiles.hl7v3.outcomes import Hl7v3Ports
from profiles.hl7v3.pdq import InMemoryQueryStates
from profiles.outcome import EVENT_SERIOUS_FAILURE, EVENT_SUCCESS

from hl7v3_samples import ack_code, feed, person_xml, spid
from memory_ports import MPI

SRC = "1.3.6.1.4.1.21367.2017.2.5.89"
ADD, REVISE, MERGE = "PRPA_IN201301UV02", "PRPA_IN201302UV02", "PRPA_IN201304UV02"


@pytest.fixture
def stack(db_url):
    engine = make_engine(db_url)
    audit = AuditStore(engine, AuditSite("2.16.756.5.30.1.999.1", "test"))
    notified = []
    sink = StoreAuditSink(audit, notified.append)
    mpi = MpiStore(engine, MPI, audit=sink)
    ports = Hl7v3Ports(mpi=mpi, responder=response_context(Settings(mpi_oid=MPI)), states=InMemoryQueryStates())
    yield pix_transactions(ports), Pipeline(audit=sink), audit, mpi, notified
    engine.dispose()


def run(stack, action, body):
    transactions, pipeline = stack[0], stack[1]
    env = etree.Element("{http://www.w3.org/2003/05/soap-envelope}Envelope")
    etree.SubElement(env, "{http://www.w3.org/2003/05/soap-envelope}Body").append(body)
    result = pipeline.run(transactions[action], SoapRequest(env, None, body, action), RequestContext(action=action))
    assert result.fault is None
    return ack_code(result.reply.body), result


def _track(monkeypatch):
    inside = []
    original = MpiStore._record_audit

    def record(self, conn, audit, patient):
        rec = original(self, conn, audit, patient)
        inside.append(rec.outcome if rec is not None else None)
        return rec
    monkeypatch.setattr(MpiStore, "_record_audit", record)
    return inside


def test_accepted_feeds_store_one_record_each_inside_their_transaction(stack, monkeypatch):
    _, _, audit, _, notified = stack
    inside = _track(monkeypatch)
    assert run(stack, ACTION_ADD, feed(ADD, [(SRC, "S1"), (EPR_SPID_OID, spid(1))]))[0] == "AA"
    assert run(stack, ACTION_ADD, feed(ADD, [(SRC, "O1"), (EPR_SPID_OID, spid(2))]))[0] == "AA"
    assert run(stack, ACTION_REVISE, feed(REVISE, [(SRC, "S1")], person_xml(family="Neu")))[0] == "AA"
    code, result = run(stack, ACTION_MERGE, feed(MERGE, [(SRC, "S1")], prior=(SRC, "O1")))
    assert code == "AA"
    assert inside == [EVENT_SUCCESS] * 4
    records = audit.records()
    assert [(r.transaction, r.outcome) for r in records] == [("ITI-44", EVENT_SUCCESS)] * 4
    assert f"S1^^^&{SRC}&ISO" in records[-1].patient_ids
    assert result.event.transaction == "ITI-44" and result.event.ihe_status == "AA"
    assert [r.seq for r in notified] == [r.seq for r in records]
    assert audit.verify() == (4, [])


def test_a_rolled_back_feed_leaves_no_aa_record_and_has_its_failure_record(stack, monkeypatch):
    _, _, audit, mpi, _ = stack
    original = MpiStore._record_audit

    def record_then_fail(self, conn, audit_, patient):
        assert original(self, conn, audit_, patient) is not None
        raise sa.exc.OperationalError("COMMIT", {}, Exception("the database went away"))
    monkeypatch.setattr(MpiStore, "_record_audit", record_then_fail)
    code, _ = run(stack, ACTION_ADD, feed(ADD, [(SRC, "S1"), (EPR_SPID_OID, spid(1))]))
    assert code == "AE"
    assert mpi.find(CX("S1", SRC)) is None
    assert [(r.transaction, r.outcome) for r in audit.records()] == [("ITI-44", EVENT_SERIOUS_FAILURE)]
    assert audit.verify() == (1, [])


def test_a_refused_feed_is_recorded_once_after(stack, monkeypatch):
    _, _, audit, _, _ = stack
    inside = _track(monkeypatch)
    code, _ = run(stack, ACTION_REVISE, feed(REVISE, [(SRC, "nobody")]))
    assert code == "AE" and inside == []
    assert [(r.transaction, r.outcome) for r in audit.records()] == [("ITI-44", EVENT_SERIOUS_FAILURE)]
