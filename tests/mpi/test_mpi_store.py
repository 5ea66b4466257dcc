"""MpiStore on SQLite and PostgreSQL: the public API, feeds, merges, search, continuation state."""
from __future__ import annotations

import datetime as dt

import pytest

from gateway.store.db import make_engine
from gateway.store.mpi import MpiStore
from profiles.ch.identifiers import CX, EPR_SPID_OID, gs1_check_digit
from profiles.hl7v3.errors import ConflictingIdentifier, DuplicateIdentifier, UnknownPatient
from profiles.hl7v3.mpi import Address, Demographics, PatientFeed, PersonName
from profiles.hl7v3.ports import DemographicQuery, NameCriterion, QueryState

MPI_OID = "2.16.756.5.30.1.999.1.1"
SRC = "1.3.6.1.4.1.21367.2017.2.5.89"
SRC2 = "1.3.6.1.4.1.21367.2017.2.5.103"


def spid(n: int) -> str:
    body = f"76133761{n:09d}"
    return body + str(gs1_check_digit(body))


@pytest.fixture
def store(db_url):
    engine = make_engine(db_url)
    yield MpiStore(engine, MPI_OID)
    engine.dispose()


def test_add_patient_and_known(store):
    cx = store.add_patient(spid(1), "Muster", "Maja", dt.date(1960, 6, 18), "F", [CX("A1", SRC)])
    assert cx.oid == MPI_OID and str(cx) == f"{cx.id}^^^&{MPI_OID}&ISO"
    assert store.is_known_mpi_pid(cx.id)
    assert not store.is_known_mpi_pid("nope")
    assert not store.is_known_mpi_pid("")
    assert store.find_by_epr_spid(spid(1)) == cx
    assert store.find_by_epr_spid(spid(2)) is None
    assert store.find_by_epr_spid("761337610435201235") is None   # bad check digit
    found = store.find(CX("A1", SRC))
    assert found.mpi_pid == cx.id and found.epr_spid == spid(1)


def test_add_patient_given_mpi_pid(store):
    cx = store.add_patient(spid(3), "A", "B", None, "U", mpi_pid="MIGRATED-7")
    assert cx == CX("MIGRATED-7", MPI_OID)
    with pytest.raises(DuplicateIdentifier):
        store.add_patient(spid(4), "A", "B", None, "U", mpi_pid="MIGRATED-7")


@pytest.mark.parametrize("bad,needle", [
    ("761337610435201235", "check digit"),
    ("7561234567897", "AHV"),
    ("756.1234.5678.97", "AHV"),
    ("12345", "18 digits"),
    ("", "required"),
])
def test_add_patient_bad_spid(store, bad, needle):
    with pytest.raises(ValueError, match=needle):
        store.add_patient(bad, "A", "B", None, "F")


def test_add_patient_refuses_navs13_local_id(store):
    with pytest.raises(ValueError, match="AHV"):
        store.add_patient(spid(5), "A", "B", None, "F", [CX("7561234567897", SRC)])
    with pytest.raises(ValueError, match="AHV"):
        store.add_patient(spid(5), "A", "B", None, "F", [CX("123", "2.16.756.5.32")])
    assert store.find_by_epr_spid(spid(5)) is None   # nothing half-written


def test_add_patient_duplicates(store):
    store.add_patient(spid(6), "A", "B", None, "F", [CX("X", SRC)])
    with pytest.raises(DuplicateIdentifier, match="already in the MPI"):
        store.add_patient(spid(6), "A", "B", None, "F")
    with pytest.raises(DuplicateIdentifier, match="another patient"):
        store.add_patient(spid(7), "C", "D", None, "F", [CX("X", SRC)])
    assert store.find_by_epr_spid(spid(7)) is None
    with pytest.raises(ValueError, match="gender"):
        store.add_patient(spid(8), "C", "D", None, "Q")


def _feed(n, family="Muster", given=("Maja",), local=(), birth=dt.date(1960, 6, 18), **kw):
    return PatientFeed(epr_spid=spid(n), demographics=Demographics(
        names=(PersonName(family=family, given=tuple(given)),), birth_date=birth, gender="F", **kw),
        local_ids=tuple(local))


def test_feed_add_links_same_spid(store):
    p1 = store.feed_add(_feed(10, local=[CX("L1", SRC)]))
    p2 = store.feed_add(_feed(10, family="Muster-Tauxe", local=[CX("H9", SRC2)]))
    assert p1.mpi_pid == p2.mpi_pid
    assert set(p2.local_ids) == {CX("L1", SRC), CX("H9", SRC2)}
    assert p2.demographics.primary_name.family == "Muster-Tauxe"
    assert store.is_known_domain(SRC2) and store.is_known_domain(MPI_OID) and store.is_known_domain(EPR_SPID_OID)
    assert not store.is_known_domain("1.2.3.999")


def test_feed_revise(store):
    store.feed_add(_feed(11, local=[CX("L1", SRC)]))
    p = store.feed_revise(CX("L1", SRC), PatientFeed(epr_spid=None, demographics=Demographics(
        names=(PersonName("Neu", ("Maja",)),), gender="F"), local_ids=(CX("L2", SRC),)))
    assert p.demographics.primary_name.family == "Neu" and len(p.local_ids) == 2
    with pytest.raises(UnknownPatient):
        store.feed_revise(CX("nope", SRC), _feed(11))
    with pytest.raises(ConflictingIdentifier):
        store.feed_revise(CX("L1", SRC), _feed(12))


def test_merge(store):
    a = store.feed_add(_feed(20, local=[CX("S1", SRC)]))
    b = store.feed_add(_feed(21, local=[CX("O1", SRC), CX("O2", SRC2)]))
    survivor = store.merge(CX("S1", SRC), CX("O1", SRC), "msg-1")
    assert survivor.mpi_pid == a.mpi_pid
    assert set(survivor.local_ids) == {CX("S1", SRC), CX("O1", SRC), CX("O2", SRC2)}
    assert not store.is_known_mpi_pid(b.mpi_pid)
    assert store.is_known_mpi_pid(a.mpi_pid)
    assert store.find(CX(b.mpi_pid, MPI_OID)) is None
    assert store.find(CX(spid(21), EPR_SPID_OID)) is None
    assert store.find(CX("O2", SRC2)).mpi_pid == a.mpi_pid
    assert store.find_by_epr_spid(spid(21)) is None
    hist = store.history(CX(a.mpi_pid, MPI_OID))
    assert hist[0]["mpi_pid"] == b.mpi_pid and hist[0]["message_id"] == "msg-1"
    assert store.search(DemographicQuery(names=(NameCriterion("Muster"),)), 10)[0].patient.mpi_pid == a.mpi_pid
    assert len(store.search(DemographicQuery(names=(NameCriterion("Muster"),)), 10)) == 1
    with pytest.raises(UnknownPatient):
        store.merge(CX("S1", SRC), CX(b.mpi_pid, MPI_OID))
    with pytest.raises(ConflictingIdentifier):
        store.merge(CX("S1", SRC), CX("O1", SRC))
    with pytest.raises(DuplicateIdentifier, match="merged"):
        store.feed_add(_feed(21))


def test_search(store):
    store.feed_add(_feed(30, family="Müller", given=("Anna", "Lea"), local=[CX("M1", SRC)],
                         addresses=(Address(("Bahnhofstrasse 1",), "Zürich", "8001", country="CH"),)))
    store.feed_add(_feed(31, family="Mueller", given=("Anna",), birth=dt.date(1970, 1, 1)))
    store.feed_add(_feed(32, family="Müllerson", given=("Bob",)))

    def names(q, limit=10):
        return [(h.patient.demographics.primary_name.family, h.score) for h in store.search(q, limit)]

    assert names(DemographicQuery(names=(NameCriterion("Müller"),))) == [("Müller", 100)]
    assert names(DemographicQuery(names=(NameCriterion("MULLER"),))) == [("Müller", 90)]
    assert names(DemographicQuery(names=(NameCriterion("mull", prefix=True),))) == [("Müller", 70), ("Müllerson", 70)]
    assert names(DemographicQuery(names=(NameCriterion("Müller", "anna"),))) == [("Müller", 90)]
    assert names(DemographicQuery(names=(NameCriterion("Müller", "Lea"),))) == []
    assert names(DemographicQuery(birth_from=dt.date(1970, 1, 1), birth_to=dt.date(1970, 12, 31))) == [("Mueller", 100)]
    assert names(DemographicQuery(names=(NameCriterion("mueller"),), birth_from=dt.date(1960, 6, 18),
                                  birth_to=dt.date(1960, 6, 18))) == []
    assert names(DemographicQuery(address=Address(city="zurich"))) == [("Müller", 100)]
    assert names(DemographicQuery(address=Address(postal_code="8001", street_lines=("bahnhof",)))) == [("Müller", 100)]
    assert names(DemographicQuery(identifiers=(CX("M1", SRC),))) == [("Müller", 100)]
    assert names(DemographicQuery(identifiers=(CX(spid(31), EPR_SPID_OID),))) == [("Mueller", 100)]
    assert names(DemographicQuery(gender="F", names=(NameCriterion("m", prefix=True),)), limit=2) == \
        [("Müller", 70), ("Mueller", 70)]


def test_query_state(store):
    st = QueryState(keys=[1, 2, 3], scores=[100, 90, 70], position=1, return_domains=(MPI_OID,),
                    query_by_parameter=b"<x/>")
    store.save("k1", st)
    got = store.load("k1")
    assert got.keys == [1, 2, 3] and got.position == 1 and got.query_by_parameter == b"<x/>"
    assert store.delete("k1") and store.load("k1") is None and not store.delete("k1")


def test_bulk_load(store):
    feeds = [_feed(100 + i, family=f"Fam{i}", local=[CX(f"B{i}", SRC)]) for i in range(50)]
    assert store.bulk_load(feeds) == 50
    assert store.find(CX("B7", SRC)).demographics.primary_name.family == "Fam7"
