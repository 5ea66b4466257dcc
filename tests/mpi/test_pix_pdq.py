"""PIX V3 (ITI-44, ITI-45) and PDQ V3 (ITI-47) logic over the real MpiStore on SQLite."""
from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from gateway.store.db import make_engine
from gateway.store.mpi import MpiStore
from profiles.ch.identifiers import CX, EPR_SPID_OID
from profiles.hl7v3.messages import ResponseContext
from profiles.hl7v3.pdq import InMemoryQueryStates, PdqSupplier
from profiles.hl7v3.pix import PixManager

from hl7v3_samples import (SAMPLE_COMMUNITY_OID, ack_code, continuation, details, feed, name_param, pdq_query,
                           person_xml, pix_query, sample_body, shape, spid, xp)

MPI = "2.16.756.5.30.1.999.1.1"
SRC = "1.3.6.1.4.1.21367.2017.2.5.89"
SRC2 = "1.3.6.1.4.1.21367.2017.2.5.103"
CTX = ResponseContext(device_oid="2.16.756.5.30.1.999.1")


@pytest.fixture
def store(sqlite_url):
    engine = make_engine(sqlite_url)
    yield MpiStore(engine, MPI)
    engine.dispose()


@pytest.fixture
def pix(store):
    return PixManager(store, CTX)


@pytest.fixture
def pdq(store):
    return PdqSupplier(store, store, CTX)


def add(pix, n, local="L1", root=SRC, **person):
    return pix.feed(feed("PRPA_IN201301UV02", [(root, local), (EPR_SPID_OID, spid(n))],
                         person_xml(**person) if person else None))


# -- ITI-44 -------------------------------------------------------------------------------------

def test_add_ack_swaps_sender_receiver(pix, store):
    ack = add(pix, 1)
    assert etree.QName(ack).localname == "MCCI_IN000002UV01"
    assert ack_code(ack) == "AA", details(ack)
    assert xp(ack, "hl7:receiver/hl7:device/hl7:id/@root") == ["9.9.9.2"]
    assert xp(ack, "hl7:sender/hl7:device/hl7:id/@root") == ["9.9.9.1"]
    assert xp(ack, "hl7:acknowledgement/hl7:targetMessage/hl7:id/@extension") == ["m1"]
    p = store.find(CX("L1", SRC))
    assert p.epr_spid == spid(1) and p.demographics.birth_date == dt.date(1960, 6, 18)
    assert p.demographics.addresses[0].city == "Wettingen"
    assert store.is_known_mpi_pid(p.mpi_pid)


def test_sample_iti44_has_a_bad_check_digit(pix, store):
    """The EPR-by-example feed carries 761337610435201235, whose GS1 check digit is wrong (…1234)."""
    ack = pix.feed(sample_body("ITI-44_request_raw.xml"))
    assert ack_code(ack) == "AE"
    (code, text, loc), = details(ack)
    assert "check digit" in text and loc.endswith("hl7:patient/hl7:id[2]")
    assert store.find(CX("TestSystemId", SRC)) is None


def test_sample_iti44_with_fixed_spid_feeds(pix, store):
    body = sample_body("ITI-44_request_raw.xml")
    xp(body, "//hl7:patient/hl7:id[2]")[0].set("extension", "761337610435201234")
    ack = pix.feed(body)
    assert ack_code(ack) == "AA", details(ack)
    p = store.find(CX("TestSystemId", SRC))
    assert p.epr_spid == "761337610435201234"
    names = p.demographics.names
    assert [n.family for n in names] == ["Muster", "Tauxe"] and names[1].qualifier == "BR"
    assert shape(ack) >= {s for s in shape(sample_body("ITI-44_response_raw.xml"))
                          if "acknowledgementDetail" not in s}


@pytest.mark.parametrize("ids,needle,loc", [
    ([(SRC, "L1"), ("2.16.756.5.32", "7561234567897")], "AHV", "id[2]"),
    ([(SRC, "7561234567897"), (EPR_SPID_OID, spid(1))], "AHV", "id[1]"),
    ([(SRC, "L1"), (EPR_SPID_OID, "761337610435201235")], "check digit", "id[2]"),
    ([(SRC, "L1")], "EPR-SPID", "hl7:id"),
    ([(EPR_SPID_OID, spid(1))], "local id", "hl7:id"),
    ([(SRC, ""), (EPR_SPID_OID, spid(1))], "extension", "id[1]"),
])
def test_add_refused(pix, store, ids, needle, loc):
    ack = pix.feed(feed("PRPA_IN201301UV02", ids))
    assert ack_code(ack) == "AE"
    (code, text, location), = details(ack)
    assert needle in text and location.endswith(loc), (text, location)
    assert store.find(CX(spid(1), EPR_SPID_OID)) is None


def test_add_bad_demographics(pix):
    ack = pix.feed(feed("PRPA_IN201301UV02", [(SRC, "L1"), (EPR_SPID_OID, spid(1))],
                        person_xml(gender="X")))
    assert ack_code(ack) == "AE" and details(ack)[0][0] == "103"
    ack = pix.feed(feed("PRPA_IN201301UV02", [(SRC, "L1"), (EPR_SPID_OID, spid(1))],
                        person_xml(birth="1960")))
    assert ack_code(ack) == "AE" and details(ack)[0][2].endswith("hl7:birthTime")


def test_add_second_source_links_and_duplicate_local_id(pix, store):
    assert ack_code(add(pix, 1, "L1")) == "AA"
    assert ack_code(add(pix, 1, "H1", root=SRC2)) == "AA"
    p = store.find(CX("H1", SRC2))
    assert set(p.local_ids) == {CX("L1", SRC), CX("H1", SRC2)}
    ack = add(pix, 2, "L1")          # L1 already belongs to spid(1)
    assert ack_code(ack) == "AE" and details(ack)[0][0] == "205"


def test_revise(pix, store):
    add(pix, 1)
    ack = pix.feed(feed("PRPA_IN201302UV02", [(SRC, "L1")], person_xml(family="Neu", given="Maja Anna")))
    assert ack_code(ack) == "AA", details(ack)
    p = store.find(CX("L1", SRC))
    assert p.demographics.primary_name.family == "Neu" and p.demographics.primary_name.given == ("Maja Anna",)
    ack = pix.feed(feed("PRPA_IN201302UV02", [(SRC, "nobody")]))
    assert ack_code(ack) == "AE" and details(ack)[0][0] == "204"
    ack = pix.feed(feed("PRPA_IN201302UV02", [(SRC, "L1"), (EPR_SPID_OID, spid(9))]))
    assert ack_code(ack) == "AE" and "EPR-SPID" in details(ack)[0][1]


def test_merge(pix, store):
    add(pix, 1, "S1")
    add(pix, 2, "O1")
    add(pix, 2, "O2", root=SRC2)
    obsolete = store.find(CX("O1", SRC))
    ack = pix.feed(feed("PRPA_IN201304UV02", [(SRC, "S1")], prior=(SRC, "O1")))
    assert ack_code(ack) == "AA", details(ack)
    survivor = store.find(CX("S1", SRC))
    assert set(survivor.local_ids) == {CX("S1", SRC), CX("O1", SRC), CX("O2", SRC2)}
    assert not store.is_known_mpi_pid(obsolete.mpi_pid)
    # the merged record answers no query any more
    resp = pix.query(pix_query((MPI, obsolete.mpi_pid), []))
    assert ack_code(resp) == "AE"
    resp = pix.query(pix_query((SRC2, "O2"), []))
    assert xp(resp, "//hl7:patient/hl7:id/@extension") == [survivor.mpi_pid, spid(1)]
    again = pix.feed(feed("PRPA_IN201304UV02", [(SRC, "S1")], prior=(MPI, obsolete.mpi_pid)))
    assert ack_code(again) == "AE" and details(again)[0][0] == "204"
    missing = pix.feed(feed("PRPA_IN201304UV02", [(SRC, "S1")]))
    assert ack_code(missing) == "AE" and "priorRegisteredRole" in details(missing)[0][2]


def test_feed_wrong_interaction_is_rejected(pix):
    ack = pix.feed(pix_query((SRC, "x"), []), expected=("PRPA_IN201301UV02",))
    assert ack_code(ack) == "AR"
    ack = pix.feed(etree.fromstring(b"<foo/>"))
    assert ack_code(ack) == "AR"


# -- ITI-45 -------------------------------------------------------------------------------------

def test_pix_query_sample_shape(sqlite_url):
    engine = make_engine(sqlite_url)
    store = MpiStore(engine, SAMPLE_COMMUNITY_OID)
    pix = PixManager(store, CTX, mpi_authority_name="XDS Affinity Domain")
    store.add_patient("761337610435209810", "Muster", "Maja", None, "F",
                      [CX("900010", "1.3.6.1.4.1.21367.2017.2.5.103")], mpi_pid="7f2e05e6-673e-44b6-8b76-e17ac58ea80f")
    resp = pix.query(sample_body("ITI-45_request_raw.xml"))
    expected = sample_body("ITI-45_response_raw.xml")
    assert ack_code(resp) == "AA"
    assert xp(resp, "hl7:controlActProcess/hl7:queryAck/hl7:queryResponseCode/@code") == ["OK"]
    got = [(i.get("root"), i.get("extension"), i.get("assigningAuthorityName")) for i in xp(resp, "//hl7:patient/hl7:id")]
    want = [(i.get("root"), i.get("extension"), i.get("assigningAuthorityName")) for i in xp(expected, "//hl7:patient/hl7:id")]
    assert got == want
    ignore = ("versionCode", "asAgent", "assignedOrganization")
    missing = {s for s in shape(expected) if not any(k in s for k in ignore)} - shape(resp)
    assert not missing
    assert xp(resp, "//hl7:queryAck/hl7:queryId/@extension") == ["1694523036421"]
    engine.dispose()


def test_pix_query_cases(pix, store):
    add(pix, 1)
    p = store.find(CX("L1", SRC))
    # case 1, with and without dataSource
    r = pix.query(pix_query((SRC, "L1"), [MPI, EPR_SPID_OID]))
    assert ack_code(r) == "AA"
    assert [(i.get("root"), i.get("extension")) for i in xp(r, "//hl7:patient/hl7:id")] == \
        [(MPI, p.mpi_pid), (EPR_SPID_OID, spid(1))]
    assert xp(r, "//hl7:patient/hl7:id[2]/@assigningAuthorityName") == ["SPID"]
    r = pix.query(pix_query((SRC, "L1"), [EPR_SPID_OID]))
    assert xp(r, "//hl7:patient/hl7:id/@extension") == [spid(1)]
    # by EPR-SPID: the queried-for id is not repeated
    r = pix.query(pix_query((EPR_SPID_OID, spid(1)), []))
    assert xp(r, "//hl7:patient/hl7:id/@extension") == [p.mpi_pid]
    # case 2: known patient, nothing in the requested domains
    r = pix.query(pix_query((EPR_SPID_OID, spid(1)), [EPR_SPID_OID]))
    assert ack_code(r) == "AA" and not xp(r, "//hl7:registrationEvent")
    assert xp(r, "//hl7:queryAck/hl7:queryResponseCode/@code") == ["NF"]
    # case 3: unknown patient id (known domain) and unknown domain of the patient id
    for pid in ((SRC, "unknown"), ("1.2.3.4.5.6", "L1")):
        r = pix.query(pix_query(pid, [MPI]))
        assert ack_code(r) == "AE" and not xp(r, "//hl7:registrationEvent")
        assert xp(r, "//hl7:queryAck/hl7:queryResponseCode/@code") == ["AE"]
        (code, _t, loc), = details(r)
        assert code == "204" and loc.endswith("hl7:patientIdentifier/hl7:value")
        assert xp(r, "hl7:controlActProcess/hl7:queryByParameter/hl7:parameterList/hl7:patientIdentifier")
    # case 4: unknown dataSource, one detail per unknown domain
    r = pix.query(pix_query((SRC, "L1"), [MPI, "1.2.3", "4.5.6"]))
    assert ack_code(r) == "AE"
    assert [(c, l[-40:]) for c, _t, l in details(r)] == [
        ("204", "arameterList/hl7:dataSource[2]/hl7:value"), ("204", "arameterList/hl7:dataSource[3]/hl7:value")]


def test_pix_query_refuses_navs13_and_bad_spid(pix):
    r = pix.query(pix_query(("2.16.756.5.32", "7561234567897"), []))
    assert ack_code(r) == "AE" and "AHV" in details(r)[0][1]
    r = pix.query(pix_query((EPR_SPID_OID, "761337610435201235"), []))
    assert ack_code(r) == "AE" and "check digit" in details(r)[0][1]


# -- ITI-47 -------------------------------------------------------------------------------------

def test_pdq_sample(sqlite_url):
    engine = make_engine(sqlite_url)
    store = MpiStore(engine, SAMPLE_COMMUNITY_OID)
    pdq = PdqSupplier(store, InMemoryQueryStates(), CTX, mpi_authority_name="XDS Affinity Domain")
    store.add_patient("761337610411353650", "Dell", "Dylan Jose", dt.date(1989, 6, 22), "F",
                      [CX("08242eb8-dd47-4298-8d2f-25d60114f137", "1.1.1.2.2")],
                      mpi_pid="25f98b34-0e01-48b7-a06c-f706eb4c485f")
    resp = pdq.query(sample_body("ITI-47_request_raw.xml"))
    expected = sample_body("ITI-47_response_raw.xml")
    assert ack_code(resp) == "AA"
    got = [(i.get("root"), i.get("extension"), i.get("assigningAuthorityName")) for i in xp(resp, "//hl7:patient/hl7:id")]
    want = [(i.get("root"), i.get("extension"), i.get("assigningAuthorityName")) for i in xp(expected, "//hl7:patient/hl7:id")]
    assert got == want
    ignore = ("versionCode", "asAgent", "assignedOrganization", "streetName", "patientPerson/addr")
    missing = {s for s in shape(expected) if not any(k in s for k in ignore)} - shape(resp)
    assert not missing, missing
    assert xp(resp, "//hl7:queryAck/hl7:resultTotalQuantity/@value") == ["1"]
    assert xp(resp, "//hl7:queryMatchObservation/hl7:value/@value") == ["100"]
    engine.dispose()


def _seed(pix):
    rows = [(1, "Müller", "Anna Lea", "19800101"), (2, "Mueller", "Anna", "19800101"),
            (3, "Müllerson", "Bob", "19700101"), (4, "Meier", "Hans", "19800101"), (5, "muller", "Eva", "19900505")]
    for n, fam, giv, birth in rows:
        ack = add(pix, n, f"L{n}", family=fam, given=giv, birth=birth)
        assert ack_code(ack) == "AA", details(ack)


def families(resp):
    return [f.text for f in xp(resp, "//hl7:patientPerson/hl7:name[1]/hl7:family")]


def test_pdq_matching(pix, pdq):
    _seed(pix)
    assert families(pdq.query(pdq_query(name_param("Müller")))) == ["Müller", "muller"]
    r = pdq.query(pdq_query(name_param("MULLER")))
    assert families(r) == ["Müller", "muller"]
    assert xp(r, "//hl7:queryMatchObservation/hl7:value/@value") == ["90", "90"]
    assert families(pdq.query(pdq_query(name_param("Mül", use="SRCH")))) == ["Müller", "Müllerson", "muller"]
    fuzzy = '<matchCriterionList><minimumDegreeMatch><value value="50"/></minimumDegreeMatch></matchCriterionList>'
    assert families(pdq.query(pdq_query(name_param("mul"), match=fuzzy))) == ["Müller", "Müllerson", "muller"]
    birth = '<livingSubjectBirthTime><value value="19800101"/></livingSubjectBirthTime>'
    assert families(pdq.query(pdq_query(name_param("muller") + birth))) == ["Müller"]
    assert families(pdq.query(pdq_query(birth))) == ["Müller", "Mueller", "Meier"]
    year = '<livingSubjectBirthTime><value value="1970"/></livingSubjectBirthTime>'
    assert families(pdq.query(pdq_query(year))) == ["Müllerson"]
    gender = '<livingSubjectAdministrativeGender><value code="F"/></livingSubjectAdministrativeGender>'
    assert len(families(pdq.query(pdq_query(birth + gender)))) == 3
    addr = '<patientAddress><value><city>wettingen</city><postalCode>5430</postalCode></value></patientAddress>'
    assert len(families(pdq.query(pdq_query(addr)))) == 5
    ident = f'<livingSubjectId><value root="{SRC}" extension="L4"/></livingSubjectId>'
    r = pdq.query(pdq_query(ident))
    assert families(r) == ["Meier"]
    ids = xp(r, "//hl7:patient/hl7:id/@root")
    assert ids == [MPI, EPR_SPID_OID]          # never the local ids
    spid_q = f'<livingSubjectId><value root="{EPR_SPID_OID}" extension="{spid(3)}"/></livingSubjectId>'
    assert families(pdq.query(pdq_query(spid_q))) == ["Müllerson"]
    nf = pdq.query(pdq_query(name_param("Nobody")))
    assert ack_code(nf) == "AA" and xp(nf, "//hl7:queryAck/hl7:queryResponseCode/@code") == ["NF"]
    only = f'<otherIDsScopingOrganization><value root="{EPR_SPID_OID}"/></otherIDsScopingOrganization>'
    assert xp(pdq.query(pdq_query(ident + only)), "//hl7:patient/hl7:id/@root") == [EPR_SPID_OID]


def test_pdq_errors(pix, pdq):
    _seed(pix)
    bad_domain = '<otherIDsScopingOrganization><value root="7.7.7"/></otherIDsScopingOrganization>'
    r = pdq.query(pdq_query(name_param("Meier") + bad_domain))
    assert ack_code(r) == "AE" and details(r)[0][0] == "204"
    assert details(r)[0][2].endswith("otherIDsScopingOrganization[1]/hl7:value")
    assert xp(r, "//hl7:queryAck/hl7:queryResponseCode/@code") == ["AE"]
    unknown_id_domain = '<livingSubjectId><value root="1.7.7.7" extension="x"/></livingSubjectId>'
    r = pdq.query(pdq_query(unknown_id_domain))
    assert ack_code(r) == "AE" and details(r)[0][0] == "204"
    navs = '<livingSubjectId><value root="2.16.756.5.32" extension="7561234567897"/></livingSubjectId>'
    r = pdq.query(pdq_query(navs))
    assert ack_code(r) == "AE" and "AHV" in details(r)[0][1]
    r = pdq.query(pdq_query('<livingSubjectAdministrativeGender><value code="F"/></livingSubjectAdministrativeGender>'))
    assert ack_code(r) == "AE" and details(r)[0][0] == "101"
    r = pdq.query(pdq_query(name_param("Meier"), initial=0))
    assert ack_code(r) == "AE"
    r = pdq.query(pdq_query('<livingSubjectBirthTime><value value="19801301"/></livingSubjectBirthTime>'))
    assert ack_code(r) == "AE" and details(r)[0][2].endswith("livingSubjectBirthTime[1]/hl7:value")


def test_pdq_too_many(pix, store):
    _seed(pix)
    pdq = PdqSupplier(store, store, CTX, max_results=2)
    r = pdq.query(pdq_query(name_param("m", use="SRCH")))
    assert ack_code(r) == "AE" and xp(r, "//hl7:queryAck/hl7:queryResponseCode/@code") == ["QE"]


@pytest.mark.parametrize("states", ["db", "memory"])
def test_pdq_continuation_and_cancel(pix, store, states):
    _seed(pix)
    pdq = PdqSupplier(store, store if states == "db" else InMemoryQueryStates(), CTX)
    birth = '<livingSubjectBirthTime><value value="19800101"/></livingSubjectBirthTime>'
    r = pdq.query(pdq_query(birth, query_id="Q1", initial=1))
    assert families(r) == ["Müller"]
    assert [xp(r, f"//hl7:queryAck/hl7:{k}/@value")[0] for k in
            ("resultTotalQuantity", "resultCurrentQuantity", "resultRemainingQuantity")] == ["3", "1", "2"]
    r = pdq.continue_query(continuation("Q1", 1))
    assert etree.QName(r).localname == "PRPA_IN201306UV02" and ack_code(r) == "AA"
    assert families(r) == ["Mueller"]
    assert xp(r, "//hl7:queryAck/hl7:resultRemainingQuantity/@value") == ["1"]
    assert xp(r, "hl7:controlActProcess/hl7:queryByParameter/hl7:queryId/@extension") == ["Q1"]
    r = pdq.continue_query(continuation("Q1", 5))
    assert families(r) == ["Meier"] and xp(r, "//hl7:queryAck/hl7:resultRemainingQuantity/@value") == ["0"]
    r = pdq.continue_query(continuation("Q1", 1))          # finished: state gone
    assert ack_code(r) == "AE" and details(r)[0][0] == "204"
    # cancel
    pdq.query(pdq_query(birth, query_id="Q2", initial=1))
    ack = pdq.cancel_query(continuation("Q2", None, status="aborted"))
    assert etree.QName(ack).localname == "MCCI_IN000002UV01" and ack_code(ack) == "AA"
    assert ack_code(pdq.continue_query(continuation("Q2", 1))) == "AE"
    assert ack_code(pdq.cancel_query(continuation("Q2", None, status="aborted"))) == "AE"
    r = pdq.continue_query(continuation("Q3", 0))
    assert ack_code(r) == "AE"
