"""ITI-44, ITI-45, ITI-47 through the in-process pipeline: the one audit event's outcome is the
acknowledgement code of the reply (an AE audited as a serious failure, an AR as a major one)."""
from __future__ import annotations

import pytest
from lxml import etree

from gateway.config import Settings
from gateway.endpoints.pdq import ACTION_PDQ_QUERY, ACTION_PDQ_RESPONSE, pdq_transactions
from gateway.endpoints.pix import (ACTION_ACK, ACTION_ADD, ACTION_PIX_QUERY, ACTION_PIX_RESPONSE, pix_transactions,
                                   response_context)
from gateway.pipeline import SECURITY_TLS, MemoryAuditSink, Pipeline
from gateway.soap.envelope import SoapRequest
from profiles.ch.identifiers import EPR_SPID_OID
from profiles.context import RequestContext
from profiles.hl7v3.messages import ACTION_CANCEL, ACTION_CONTINUE
from profiles.hl7v3.outcomes import Hl7v3Ports
from profiles.hl7v3.pdq import InMemoryQueryStates
from profiles.outcome import EVENT_MAJOR_FAILURE, EVENT_SERIOUS_FAILURE, EVENT_SUCCESS

from hl7v3_samples import ack_code, continuation, feed, name_param, pdq_query, pix_query, spid
from memory_ports import MPI, MemoryMpi

SRC = "1.3.6.1.4.1.21367.2017.2.5.89"
INDICATOR = {"AA": EVENT_SUCCESS, "AE": EVENT_SERIOUS_FAILURE, "AR": EVENT_MAJOR_FAILURE}


@pytest.fixture
def setup():
    ports = Hl7v3Ports(mpi=MemoryMpi(), responder=response_context(Settings(mpi_oid=MPI)), states=InMemoryQueryStates())
    transactions = {**pix_transactions(ports), **pdq_transactions(ports)}
    sink = MemoryAuditSink()
    return transactions, Pipeline(audit=sink), sink


def run(setup, action, body):
    transactions, pipeline, sink = setup
    env = etree.Element("{http://www.w3.org/2003/05/soap-envelope}Envelope")
    etree.SubElement(env, "{http://www.w3.org/2003/05/soap-envelope}Body").append(body)
    before = len(sink.events)
    result = pipeline.run(transactions[action], SoapRequest(env, None, body, action), RequestContext(action=action))
    assert result.fault is None and len(sink.events) == before + 1
    event = sink.events[-1]
    code = ack_code(result.reply.body)
    assert event.ihe_status == code and event.event_outcome == INDICATOR[code]
    assert event.facts.transaction == event.transaction
    return result, event


def test_every_hl7v3_transaction_demands_tls_identity(setup):
    transactions, _, _ = setup
    assert {t.security for t in transactions.values()} == {SECURITY_TLS}
    assert {a: t.name for a, t in transactions.items()}[ACTION_ADD] == "ITI-44"


def test_iti44_audited_as_acknowledged(setup):
    ok = feed("PRPA_IN201301UV02", [(SRC, "L1"), (EPR_SPID_OID, spid(1))])
    result, event = run(setup, ACTION_ADD, ok)
    assert result.reply.action == ACTION_ACK
    assert (event.transaction, event.ihe_status) == ("ITI-44", "AA")
    assert f"L1^^^&{SRC}&ISO" in event.facts.patient_ids and event.facts.message_id == "1.2.3.4.5^m1"
    _, event = run(setup, ACTION_ADD, feed("PRPA_IN201301UV02", [(SRC, "L2"), (EPR_SPID_OID, spid(2))] +
                                           [(SRC, f"X{k}") for k in range(30)]))
    assert event.ihe_status == "AE" and event.problems[0].code == "102"
    _, event = run(setup, ACTION_ADD, pix_query((SRC, "L1"), []))      # wrong interaction for the action
    assert event.ihe_status == "AR"


def test_iti45_audited_as_acknowledged(setup):
    run(setup, ACTION_ADD, feed("PRPA_IN201301UV02", [(SRC, "L1"), (EPR_SPID_OID, spid(1))]))
    result, event = run(setup, ACTION_PIX_QUERY, pix_query((SRC, "L1"), [MPI]))
    assert result.reply.action == ACTION_PIX_RESPONSE
    assert (event.transaction, event.ihe_status, event.facts.entries_returned) == ("ITI-45", "AA", 1)
    assert event.facts.query_id == "1.2.3^q1" and "patientIdentifier" in event.facts.query_text
    _, event = run(setup, ACTION_PIX_QUERY, pix_query((SRC, "nobody"), [MPI]))
    assert event.ihe_status == "AE" and event.problems[0].code == "204"


def test_iti47_audited_as_acknowledged(setup):
    for n in (1, 2):
        run(setup, ACTION_ADD, feed("PRPA_IN201301UV02", [(SRC, f"L{n}"), (EPR_SPID_OID, spid(n))]))
    result, event = run(setup, ACTION_PDQ_QUERY, pdq_query(name_param("Muster"), query_id="Q1", initial=1))
    assert result.reply.action == ACTION_PDQ_RESPONSE
    assert (event.transaction, event.ihe_status, event.facts.entries_returned) == ("ITI-47", "AA", 1)
    assert event.facts.query_id.endswith("^Q1") and "livingSubjectName" in event.facts.query_text
    _, event = run(setup, ACTION_CONTINUE, continuation("Q1", 1))
    assert (event.ihe_status, event.facts.entries_returned) == ("AA", 1)
    _, event = run(setup, ACTION_CONTINUE, continuation("Q1", 1))     # finished
    assert event.ihe_status == "AE"
    run(setup, ACTION_PDQ_QUERY, pdq_query(name_param("Muster"), query_id="Q2", initial=1))
    result, event = run(setup, ACTION_CANCEL, continuation("Q2", None, status="aborted"))
    assert result.reply.action == ACTION_ACK and event.ihe_status == "AA"
    _, event = run(setup, ACTION_PDQ_QUERY, pdq_query("".join(name_param(f"N{k}") for k in range(100))))
    assert event.ihe_status == "AE" and "hl7_max_parameter_values" in event.problems[0].message
    _, event = run(setup, ACTION_PDQ_QUERY, etree.fromstring(b"<x:junk xmlns:x='urn:x'/>"))
    assert event.ihe_status == "AR"
