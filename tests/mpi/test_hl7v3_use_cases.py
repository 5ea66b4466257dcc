"""The PIX/PDQ use cases on in-memory ports: (RequestContext, parsed request, ports) -> Outcome."""
from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from profiles.ch.identifiers import CX, EPR_SPID_OID
from profiles.context import RequestContext
from profiles.hl7v3.matching import rank, score
from profiles.hl7v3.messages import ResponseContext
from profiles.hl7v3.messages_catalogue import M, entries
from profiles.hl7v3.mpi import Demographics, Patient, PersonName
from profiles.hl7v3.outcomes import Hl7v3Ports
from profiles.hl7v3.pdq import (InMemoryQueryStates, parse_continuation, parse_pdq_query, pdq_cancel, pdq_continue,
                                pdq_query)
from profiles.hl7v3.pix import parse_feed, parse_pix_query, patient_identity_feed, pix_query
from profiles.hl7v3.ports import DemographicQuery, NameCriterion

from hl7v3_samples import ack_code, continuation, feed, name_param, pdq_query as pdq_msg, person_xml, pix_query as pix_msg, spid
from memory_ports import MPI, MemoryMpi

SRC = "1.3.6.1.4.1.21367.2017.2.5.89"
ADD, REVISE, MERGE = "PRPA_IN201301UV02", "PRPA_IN201302UV02", "PRPA_IN201304UV02"
CTX = RequestContext()


@pytest.fixture
def ports():
    return Hl7v3Ports(mpi=MemoryMpi(), responder=ResponseContext(device_oid="2.16.756.5.30.1.999.1"),
                      states=InMemoryQueryStates())


def add(ports, n, local="L1", **person):
    msg = feed(ADD, [(SRC, local), (EPR_SPID_OID, spid(n))], person_xml(**person) if person else None)
    return patient_identity_feed(CTX, parse_feed(msg, (ADD,), MPI), ports)


# -- ITI-44 ---------------------------------------------------------------------------------------

def test_feed_add_outcome(ports):
    out = add(ports, 1)
    assert out.status == "AA" and out.problems == () and ack_code(out.reply) == "AA"
    assert etree.QName(out.reply).localname == "MCCI_IN000002UV01"
    pid = ports.mpi.find(CX("L1", SRC)).mpi_pid
    assert out.audit.transaction == "ITI-44" and out.audit.message_id == "1.2.3.4.5^m1"
    assert out.audit.patient_ids == (f"L1^^^&{SRC}&ISO", f"{spid(1)}^^^&{EPR_SPID_OID}&ISO", f"{pid}^^^&{MPI}&ISO")


def test_feed_refused_in_parse_never_reaches_the_port(ports):
    ports.mpi.fail_with = AssertionError("port called")
    out = add(ports, 1, gender="X")
    assert out.status == "AE" and ack_code(out.reply) == "AE"
    (problem,) = out.problems
    assert problem.code == "103" and problem.location.endswith("hl7:administrativeGenderCode")
    request = parse_feed(feed(ADD, [(SRC, "L1")]), (ADD,), MPI)
    assert request.refusal.details[0].code == M.FEED_NEEDS_EPR_SPID.code
    out = patient_identity_feed(CTX, parse_feed(pix_msg((SRC, "x"), []), (ADD,), MPI), ports)
    assert out.status == "AR" and ack_code(out.reply) == "AR"


def test_feed_store_refusal_and_internal_error(ports):
    assert add(ports, 1, "L1").status == "AA"
    out = add(ports, 2, "L1")                # L1 names spid(1) already
    assert out.status == "AE" and out.problems[0].code == "205"
    assert out.problems[0].location.endswith("hl7:patient/hl7:id")
    ports.mpi.fail_with = RuntimeError("disk gone")
    out = add(ports, 3, "L3")
    assert out.status == "AE" and out.problems[0].code == "207" and "disk" not in out.problems[0].message


def test_revise_and_merge(ports):
    add(ports, 1, "S1")
    add(ports, 2, "O1")
    out = patient_identity_feed(CTX, parse_feed(feed(REVISE, [(SRC, "nobody")]), (REVISE,), MPI), ports)
    assert out.status == "AE" and out.problems[0].code == M.REVISE_UNKNOWN.code == "204"
    out = patient_identity_feed(CTX, parse_feed(feed(REVISE, [(SRC, "S1")], person_xml(family="Neu")), (REVISE,), MPI),
                                ports)
    assert out.status == "AA" and ports.mpi.find(CX("S1", SRC)).demographics.primary_name.family == "Neu"
    out = patient_identity_feed(CTX, parse_feed(feed(MERGE, [(SRC, "S1")], prior=(SRC, "O1")), (MERGE,), MPI), ports)
    assert out.status == "AA"
    assert out.audit.patient_ids[:2] == (f"S1^^^&{SRC}&ISO", f"O1^^^&{SRC}&ISO")
    out = patient_identity_feed(CTX, parse_feed(feed(MERGE, [(SRC, "S1")], prior=(SRC, "O1")), (MERGE,), MPI), ports)
    assert out.status == "AE" and out.problems[0].code == M.SAME_PATIENT.code   # O1 now names the survivor


# -- ITI-45 ---------------------------------------------------------------------------------------

def test_pix_query_outcomes(ports):
    add(ports, 1)
    pid = ports.mpi.find(CX("L1", SRC)).mpi_pid
    out = pix_query(CTX, parse_pix_query(pix_msg((SRC, "L1"), [MPI, EPR_SPID_OID]), MPI), ports)
    assert out.status == "AA" and ack_code(out.reply) == "AA"
    facts = out.audit
    assert facts.transaction == "ITI-45" and facts.query_id == "1.2.3^q1" and facts.entries_returned == 1
    assert facts.patient_ids == (f"L1^^^&{SRC}&ISO", f"{pid}^^^&{MPI}&ISO", f"{spid(1)}^^^&{EPR_SPID_OID}&ISO")
    assert facts.query_text.startswith("<queryByParameter") and "patientIdentifier" in facts.query_text
    out = pix_query(CTX, parse_pix_query(pix_msg((SRC, "nobody"), []), MPI), ports)
    assert out.status == "AE" and out.problems[0].code == "204" and out.audit.entries_returned == 0
    request = parse_pix_query(pix_msg((SRC, "L1"), ["7.7.7", "8.8.8"]), MPI)
    assert [d.code for d in request.refusal.details] == ["204", "204"]
    out = pix_query(CTX, request, ports)
    assert out.status == "AE" and len(out.problems) == 2


# -- ITI-47 ---------------------------------------------------------------------------------------

def test_pdq_query_continue_cancel(ports):
    for n, fam in ((1, "Muster"), (2, "Musterli"), (3, "Meier")):
        add(ports, n, f"L{n}", family=fam)
    fuzzy = name_param("Muster", use="SRCH")
    out = pdq_query(CTX, parse_pdq_query(pdq_msg(fuzzy, query_id="Q1", initial=1), MPI), ports)
    assert out.status == "AA" and ack_code(out.reply) == "AA"
    assert out.audit.transaction == "ITI-47" and out.audit.entries_returned == 1
    assert out.audit.query_id == "1.2.840.114350.1.13.28.1.18.5.999^Q1" and "livingSubjectName" in out.audit.query_text
    assert out.audit.patient_ids == (f"P1^^^&{MPI}&ISO",)
    out = pdq_continue(CTX, parse_continuation(continuation("Q1", 5)), ports)
    assert out.status == "AA" and out.audit.entries_returned == 1 and out.audit.patient_ids == (f"P2^^^&{MPI}&ISO",)
    assert "livingSubjectName" in out.audit.query_text
    out = pdq_continue(CTX, parse_continuation(continuation("Q1", 5)), ports)
    assert out.status == "AE" and out.problems[0].code == M.NO_OPEN_QUERY.code
    pdq_query(CTX, parse_pdq_query(pdq_msg(fuzzy, query_id="Q2", initial=1), MPI), ports)
    out = pdq_cancel(CTX, parse_continuation(continuation("Q2", None, status="aborted"), cancel=True), ports)
    assert out.status == "AA" and etree.QName(out.reply).localname == "MCCI_IN000002UV01"
    out = pdq_cancel(CTX, parse_continuation(continuation("Q2", None, status="aborted"), cancel=True), ports)
    assert out.status == "AE"


def test_pdq_unknown_id_domain_and_too_many(ports):
    add(ports, 1)
    ident = '<livingSubjectId><value root="1.7.7.7" extension="x"/></livingSubjectId>'
    out = pdq_query(CTX, parse_pdq_query(pdq_msg(ident), MPI), ports)
    assert out.status == "AE" and out.problems[0].code == M.AUTHORITY_UNKNOWN.code
    add(ports, 2, "L2")
    small = Hl7v3Ports(mpi=ports.mpi, responder=ports.responder, states=ports.states, max_results=1)
    out = pdq_query(CTX, parse_pdq_query(pdq_msg(name_param("Muster")), MPI), small)
    assert out.status == "AE" and out.problems[0].code == M.TOO_MANY_MATCHES.code


# -- the PDQ match rule and the catalogue --------------------------------------------------------

def test_match_rule():
    p = Patient("P1", spid(1), Demographics(names=(PersonName("Müller", ("Anna", "Lea")),), birth_date=dt.date(1980, 1, 1)))
    assert score(p, DemographicQuery(names=(NameCriterion("Müller"),))) == 100
    assert score(p, DemographicQuery(names=(NameCriterion("MULLER"),))) == 90
    assert score(p, DemographicQuery(names=(NameCriterion("Müller", "anna"),))) == 90
    assert score(p, DemographicQuery(names=(NameCriterion("Mül", prefix=True),))) == 70
    assert score(p, DemographicQuery(names=(NameCriterion("Meier"),))) is None
    assert score(p, DemographicQuery(telecom="tel:1")) is None
    q = Patient("P2", spid(2), Demographics(names=(PersonName("muller"),)), key=2)
    assert [h.patient.mpi_pid for h in rank([q, p], DemographicQuery(names=(NameCriterion("Müller"),)))] == ["P1", "P2"]


def test_catalogue_entries_have_a_table_0357_code():
    from profiles.hl7v3.errors import ERROR_NAMES
    assert entries() and all(e.code in ERROR_NAMES for e in entries().values())
    assert all(e.ack in ("AE", "AR") for e in entries().values())
    err = M.PATIENT_UNKNOWN.error("/x", patient="p")
    assert err.entry is M.PATIENT_UNKNOWN and err.code == "204" and err.location == "/x"
