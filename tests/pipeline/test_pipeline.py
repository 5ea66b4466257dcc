"""The pipeline's stations, in-process: one audit event per transaction, outcomes audited as they are."""
from __future__ import annotations

import pytest
from lxml import etree

from gateway.pipeline import MemoryAuditSink, Pipeline, Transaction
from gateway.soap.envelope import SoapReply, SoapRequest
from gateway.soap.fault import SoapFault
from profiles.authorization import Decision, deny
from profiles.context import Principal, RequestContext
from profiles.outcome import (EVENT_MAJOR_FAILURE, EVENT_MINOR_FAILURE, EVENT_SERIOUS_FAILURE, EVENT_SUCCESS,
                              FAILURE, HL7_AE, PARTIAL_SUCCESS, SUCCESS, AuditFacts, Outcome, Problem)


def _request() -> SoapRequest:
    env = etree.Element("{http://www.w3.org/2003/05/soap-envelope}Envelope")
    body = etree.SubElement(env, "{http://www.w3.org/2003/05/soap-envelope}Body")
    payload = etree.SubElement(body, "{urn:t}q")
    return SoapRequest(env, None, payload, "urn:t:q")


def _tx(status=SUCCESS, *, use_case=None, policy=None, refuse=None) -> Transaction:
    def parse(req):
        return req.body.tag

    def run(ctx, model):
        problems = () if status in (SUCCESS,) else (Problem("XDSRegistryError", "boom"),)
        return Outcome({"model": model}, status, problems, AuditFacts(patient_ids=("p^^^&1.2&ISO",)))

    def render(outcome, req):
        return SoapReply(etree.Element("{urn:t}r", status=outcome.status), "urn:t:r")

    kw = {}
    if policy is not None:
        kw["policy"] = policy
    return Transaction("ITI-T", parse, use_case or run, render, refuse=refuse, **kw)


@pytest.mark.parametrize("status,indicator", [(SUCCESS, EVENT_SUCCESS), (PARTIAL_SUCCESS, EVENT_MINOR_FAILURE),
                                              (FAILURE, EVENT_SERIOUS_FAILURE), (HL7_AE, EVENT_SERIOUS_FAILURE)])
def test_outcome_audited_as_answered(status, indicator):
    sink = MemoryAuditSink()
    result = Pipeline(audit=sink).run(_tx(status), _request(), RequestContext())
    assert result.fault is None and result.reply.body.get("status") == status
    assert [e.ihe_status for e in sink.events] == [status]
    event = sink.events[0]
    assert event.event_outcome == indicator and event.transaction == "ITI-T"
    assert event.facts.patient_ids == ("p^^^&1.2&ISO",) and event.facts.transaction == "ITI-T"


def test_fault_in_use_case_is_one_failure_event():
    def refuse_all(ctx, model):
        raise SoapFault("Sender", "bad")
    sink = MemoryAuditSink()
    result = Pipeline(audit=sink).run(_tx(use_case=refuse_all), _request(), RequestContext())
    assert result.reply is None and result.fault.code == "Sender"
    assert [(e.fault_code, e.event_outcome) for e in sink.events] == [("Sender", EVENT_SERIOUS_FAILURE)]


def test_internal_error_is_a_receiver_fault_naming_the_request():
    def crash(ctx, model):
        raise RuntimeError("secret detail")
    sink = MemoryAuditSink()
    ctx = RequestContext()
    result = Pipeline(audit=sink).run(_tx(use_case=crash), _request(), ctx)
    assert result.fault.code == "Receiver" and ctx.request_id in result.fault.reason
    assert "secret" not in result.fault.reason
    assert [(e.fault_code, e.event_outcome) for e in sink.events] == [("Receiver", EVENT_MAJOR_FAILURE)]


def test_denied_request_never_reaches_the_use_case():
    class DenyAll:
        def decide(self, ctx, request):
            return deny("no right", "XDSRegistryError")

        def result_filter(self, ctx):
            return None

    def must_not_run(ctx, model):
        raise AssertionError("use case ran")

    sink = MemoryAuditSink()
    result = Pipeline(audit=sink).run(_tx(use_case=must_not_run, policy=DenyAll()), _request(), RequestContext())
    assert result.fault.code == "Sender" and result.fault.reason == "no right"
    assert len(sink.events) == 1

    def refuse(ctx, model, decision: Decision):
        return Outcome(None, FAILURE, (Problem(decision.code, decision.reason),))
    sink = MemoryAuditSink()
    result = Pipeline(audit=sink).run(_tx(use_case=must_not_run, policy=DenyAll(), refuse=refuse), _request(),
                                      RequestContext())
    assert result.fault is None and [e.ihe_status for e in sink.events] == [FAILURE]


def test_security_seam_principal_reaches_use_case_and_event():
    class Fixed:
        understood = frozenset()

        def authenticate(self, request, transaction, ctx):
            return Principal(user_id="7601000000000", role="HCP", purpose_of_use="NORM")

    seen = []

    def run(ctx, model):
        seen.append(ctx.principal.user_id)
        return Outcome(None, SUCCESS)
    sink = MemoryAuditSink()
    Pipeline(security=Fixed(), audit=sink).run(_tx(use_case=run), _request(), RequestContext())
    assert seen == ["7601000000000"] and sink.events[0].principal.role == "HCP"


def test_audit_sink_failure_withholds_the_answer():
    class Broken:
        def record(self, event):
            raise OSError("disk full")
    result = Pipeline(audit=Broken()).run(_tx(), _request(), RequestContext())
    assert result.reply is None and result.fault.code == "Receiver" and "audited" in result.fault.reason
