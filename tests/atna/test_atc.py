"""CH:ATC trail entries built from stored records (FHIR R4 AuditEvent via fhir.resources)."""
from __future__ import annotations

import datetime as dt

from profiles.atna.atc import atc_event_type, searchset, trail_event
from profiles.atna.messages import AuditSite, audit_message
from profiles.audit import audit_event
from profiles.context import Principal, RequestContext
from profiles.outcome import SUCCESS, AuditFacts, Outcome

SITE = AuditSite("2.16.756.5.30.1.999.1", "test", "urn:oid:2.16.756.5.30.1.999.1")
SPID = "761337610411353650"
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)


def _message(tx, principal, **facts):
    ctx = RequestContext(transaction=tx, principal=principal)
    return audit_message(audit_event(ctx, outcome=Outcome(None, SUCCESS, (), AuditFacts(**facts)), now=NOW), SITE)


def test_emergency_read_by_an_assistant():
    p = Principal(user_id="7601000234438", user_name="Dr. med. Hans Allzeitbereit", role="ASS", acting_id="7601000000099",
                  acting_name="Regula Fischer", purpose_of_use="EMER", patient_epr_spid=SPID)
    msg = _message("ITI-43", p, document_unique_ids=("1.2.3.4.5",), repository_unique_ids=("1.2.3",),
                   confidentiality_codes=("17621005",))
    ev = trail_event(msg, record_id="r1", transaction="ITI-43", epr_spid=SPID, observer=SITE.enterprise_site_id)
    assert ev["subtype"][0]["code"] == "ATC_DOC_READ" and ev["type"]["code"] == "110106"
    assert ev["purposeOfEvent"][0]["coding"][0]["code"] == "EMER" and "Emergency" in ev["text"]["div"]
    roles = [(a["role"][0]["coding"][0]["code"], a["requestor"]) for a in ev["agent"]]
    assert roles == [("HCP", False), ("ASS", True)]
    assert ev["agent"][0]["who"]["identifier"] == {"system": "urn:oid:2.51.1.3", "value": "7601000234438"}
    patient, doc = ev["entity"]
    assert patient["what"]["identifier"] == {"system": "urn:oid:2.16.756.5.30.1.127.3.10.3", "value": SPID}
    assert doc["what"]["identifier"]["value"] == "urn:oid:1.2.3.4.5"
    assert {d["type"] for d in doc["detail"]} == {"Repository Unique Id", "homeCommunityID"}
    assert ev["meta"]["profile"] == ["http://fhir.ch/ig/ch-atc/StructureDefinition/DocumentAuditEvent"]


def test_non_atc_transactions_are_not_in_the_trail():
    assert atc_event_type("ITI-44") is None and atc_event_type("") is None
    msg = _message("ITI-47", Principal(), query_id="q")
    assert trail_event(msg, record_id="r", transaction="ITI-47", epr_spid=SPID, observer="1.2") is None
    for tx, code in (("ITI-41", "ATC_DOC_CREATE"), ("ITI-18", "ATC_DOC_SEARCH"), ("ITI-81", "ATC_LOG_READ")):
        assert atc_event_type(tx) == code


def test_searchset_bundle():
    msg = _message("ITI-41", Principal(user_id=SPID, role="PAT", purpose_of_use="NORM"), patient_ids=("p",))
    ev = trail_event(msg, record_id="r2", transaction="ITI-41", epr_spid=SPID, observer="1.2")
    b = searchset([ev], total=1, self_url="http://gw/fhir/AuditEvent?x", next_url=None, base="http://gw/fhir")
    assert b["type"] == "searchset" and b["total"] == 1 and b["entry"][0]["resource"]["id"] == "r2"
