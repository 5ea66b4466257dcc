"""The audit record of each transaction: codes, participants, objects, and the DICOM schema."""
from __future__ import annotations

import base64
import datetime as dt

import pytest
from hypothesis import given, settings, strategies as st

from profiles.atna.messages import AuditSite, audit_message
from profiles.atna.schema import schema_errors
from profiles.audit import audit_event
from profiles.context import Principal, RequestContext
from profiles.outcome import FAILURE, HL7_AA, HL7_AE, PARTIAL_SUCCESS, SUCCESS, AuditFacts, Outcome, Problem

SITE = AuditSite("2.16.756.5.30.1.999.1", "epd-gateway@test", "urn:oid:2.16.756.5.30.1.999.1")
PID = "6f1c^^^&2.16.756.5.30.1.999.1.1&ISO"
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)
HCP = Principal(user_id="7601000000001", user_name="Dr. Muster", role="HCP", purpose_of_use="NORM",
                organisation_ids=("2.16.756.5.30.1.1",), patient_epr_spid="761337610411353650")


def _msg(tx, status=SUCCESS, principal=Principal(), problems=(), **facts):
    ctx = RequestContext(transaction=tx, principal=principal, remote_addr="127.0.0.1", endpoint="xds-repository")
    facts.setdefault("extra", {"reply_to": "http://his.example/reply", "endpoint_url": "https://gw/xds/repository"})
    outcome = Outcome(None, status, tuple(problems), AuditFacts(transaction=tx, **facts))
    el = audit_message(audit_event(ctx, outcome=outcome, now=NOW), SITE)
    assert schema_errors(el) == [], schema_errors(el)
    return el


def _code(el, path):
    c = el.find(path)
    return (c.get("csd-code"), c.get("codeSystemName"))


def _objects(el):
    return [(o.get("ParticipantObjectTypeCode"), o.get("ParticipantObjectTypeCodeRole"), o.get("ParticipantObjectID"))
            for o in el.findall("ParticipantObjectIdentification")]


def _roles(el):
    return [(p.get("UserID"), p.get("UserIsRequestor"), p.find("RoleIDCode").get("csd-code"))
            for p in el.findall("ActiveParticipant")]


def test_iti41_repository_import():
    el = _msg("ITI-41", principal=HCP, patient_ids=(PID,), document_unique_ids=("1.2.3",),
              submission_set_unique_id="1.2.9", repository_unique_ids=("2.16.756.5.30.1.999.1.2",))
    ev = el.find("EventIdentification")
    assert ev.get("EventActionCode") == "C" and ev.get("EventOutcomeIndicator") == "0"
    assert _code(el, "EventIdentification/EventID") == ("110107", "DCM")
    assert _code(el, "EventIdentification/EventTypeCode") == ("ITI-41", "IHE Transactions")
    assert _code(el, "EventIdentification/PurposeOfUse") == ("NORM", "2.16.756.5.30.1.127.3.10.5")
    assert _roles(el) == [("http://his.example/reply", "true", "110153"), ("https://gw/xds/repository", "false", "110152"),
                          ("7601000000001", "true", "HCP")]
    assert el.find("ActiveParticipant").get("NetworkAccessPointID") == "127.0.0.1"
    assert _objects(el) == [("1", "1", PID), ("2", "20", "1.2.9")]
    src = el.find("AuditSourceIdentification")
    assert src.get("AuditEnterpriseSiteID") == "2.16.756.5.30.1.999.1"


def test_iti42_failure_carries_the_errors():
    el = _msg("ITI-42", FAILURE, problems=[Problem("XDSUnknownPatientId", "patient unknown")], patient_ids=(PID,),
              submission_set_unique_id="1.2.9")
    ev = el.find("EventIdentification")
    assert ev.get("EventOutcomeIndicator") == "8"
    assert "XDSUnknownPatientId" in ev.findtext("EventOutcomeDescription")
    assert el.find("EventIdentification/PurposeOfUse") is None   # no XUA, no purpose of use


def test_iti18_query_object():
    query = "<query:AdhocQueryRequest xmlns:query='urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0'/>"
    el = _msg("ITI-18", principal=HCP, patient_ids=(PID,), query_id="urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d",
              query_text=query, entries_returned=3)
    assert _code(el, "EventIdentification/EventID") == ("110112", "DCM")
    assert el.find("EventIdentification").get("EventActionCode") == "E"
    q = el.findall("ParticipantObjectIdentification")[-1]
    assert (q.get("ParticipantObjectTypeCodeRole"), q.get("ParticipantObjectID")) == (
        "24", "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d")
    assert base64.b64decode(q.findtext("ParticipantObjectQuery")).decode() == query
    details = {d.get("type"): base64.b64decode(d.get("value")).decode() for d in q.findall("ParticipantObjectDetail")}
    assert details == {"QueryEncoding": "UTF-8", "urn:ihe:iti:xca:2010:homeCommunityId": SITE.community_id}


def test_iti43_export_with_confidentiality():
    el = _msg("ITI-43", PARTIAL_SUCCESS, principal=HCP, patient_ids=(PID,), document_unique_ids=("1.1", "1.2"),
              repository_unique_ids=("2.16.756.5.30.1.999.1.2",) * 2, home_community_ids=(SITE.community_id,) * 2,
              confidentiality_codes=("17621005", "263856008"))
    assert _code(el, "EventIdentification/EventID") == ("110106", "DCM")
    assert el.find("EventIdentification").get("EventOutcomeIndicator") == "4"
    roles = _roles(el)
    assert roles[0][1:] == ("false", "110153") and roles[1][1:] == ("true", "110152")
    docs = [o for o in el.findall("ParticipantObjectIdentification") if o.get("ParticipantObjectTypeCodeRole") == "3"]
    assert [d.get("ParticipantObjectSensitivity") for d in docs] == ["17621005", "263856008"]
    details = {d.get("type") for d in docs[0].findall("ParticipantObjectDetail")}
    assert details == {"Repository Unique Id", "ihe:homeCommunityID"}


def test_assistant_and_acting_user():
    ass = Principal(user_id="7601000000001", user_name="Dr. Muster", role="ASS", acting_id="7601000000099",
                    acting_name="Anna Assist", purpose_of_use="NORM")
    el = _msg("ITI-18", principal=ass, query_id="q")
    humans = _roles(el)[2:]
    assert humans == [("7601000000001", "false", "HCP"), ("7601000000099", "true", "ASS")]


@pytest.mark.parametrize("action,code", [("add", "C"), ("revise", "U"), ("merge", "U")])
def test_iti44_patient_record(action, code):
    el = _msg("ITI-44", HL7_AA, patient_ids=(PID,), message_id="1.2.3^msg1",
              extra={"action": action, "sender_device": "1.2.840.114350.1.13.99998.8734"})
    assert _code(el, "EventIdentification/EventID") == ("110110", "DCM")
    assert el.find("EventIdentification").get("EventActionCode") == code
    assert _roles(el)[0][0] == "1.2.840.114350.1.13.99998.8734"
    pat = el.find("ParticipantObjectIdentification")
    assert base64.b64decode(pat.find("ParticipantObjectDetail").get("value")).decode() == "1.2.3^msg1"


@pytest.mark.parametrize("tx", ["ITI-45", "ITI-47"])
def test_hl7_queries(tx):
    el = _msg(tx, HL7_AE, problems=[Problem("204", "unknown")], query_id="q-1", query_text="<queryByParameter/>",
              message_id="m-1")
    assert el.find("EventIdentification").get("EventOutcomeIndicator") == "8"
    q = el.findall("ParticipantObjectIdentification")[-1]
    assert _code(q, "ParticipantObjectIDTypeCode") == (tx, "IHE Transactions")
    assert {d.get("type") for d in q.findall("ParticipantObjectDetail")} == {"MSH-10"}


def test_fault_before_dispatch_is_a_security_alert():
    ctx = RequestContext(remote_addr="127.0.0.1", endpoint="pix")
    el = audit_message(audit_event(ctx, fault_code="Sender", fault_reason="not well-formed", now=NOW), SITE)
    assert schema_errors(el) == []
    assert _code(el, "EventIdentification/EventID") == ("110113", "DCM")
    assert el.find("EventIdentification").get("EventOutcomeIndicator") == "8"


_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)


@settings(max_examples=200, deadline=None)
@given(tx=st.sampled_from(["ITI-18", "ITI-41", "ITI-42", "ITI-43", "ITI-44", "ITI-45", "ITI-47", "PPQ-1", "X"]),
       status=st.sampled_from([SUCCESS, PARTIAL_SUCCESS, FAILURE]), uid=_text, name=_text,
       docs=st.lists(st.from_regex(r"[0-9]{1,5}(\.[0-9]{1,5}){1,4}", fullmatch=True), max_size=3),
       role=st.sampled_from([None, "HCP", "ASS", "TCU", "PAT", "REP"]))
def test_every_record_validates(tx, status, uid, name, docs, role):
    p = Principal(user_id=uid or None, user_name=name or None, role=role,
                  acting_id="x" if role in ("ASS", "TCU") else None, purpose_of_use="NORM" if role else None)
    ctx = RequestContext(transaction=tx, principal=p)
    outcome = Outcome(None, status, (Problem("E", name),) if status != SUCCESS else (),
                      AuditFacts(patient_ids=(PID,), document_unique_ids=tuple(docs), query_id=name or None,
                                 query_text=name))
    el = audit_message(audit_event(ctx, outcome=outcome), SITE)
    assert schema_errors(el) == []
