"""Issue 14, items 1 and 2 (HL7 part): bounded PDQ statement cache, configurable input limits."""
from __future__ import annotations

import datetime as dt

import pytest

from gateway.store.db import make_engine
from gateway.store.mpi import MpiStore
from gateway.store.mpi_search import build_search, search_shape
from profiles.hl7v3.ports import DemographicQuery, NameCriterion

MPI = "2.16.756.5.30.1.999.1.1"


@pytest.fixture
def store(db_url):
    engine = make_engine(db_url)
    yield MpiStore(engine, MPI)
    engine.dispose()


def test_search_statement_cache_stays_bounded(store):
    """Each distinct query shape compiled one statement, kept forever (issue 14 item 1)."""
    store.add_patient("761337610411353650", "Muster", "Anna", dt.date(1980, 1, 2), "F")
    shapes = set()
    for n in range(1, 300):   # 4 criteria, each with or without a given name, exact or prefix: 256 x 2 shapes
        names = tuple(NameCriterion(family=f"F{k}", given="G" if (n >> (2 * k)) & 1 else "",
                                    prefix=bool((n >> (2 * k + 1)) & 1)) for k in range(4))
        birth = dt.date(1980, 1, 2) if n % 3 else None
        shapes.add((names, birth))
        store.search(DemographicQuery(names=names, birth_from=birth, birth_to=birth), 10)
    assert len(shapes) > 128
    assert len(store._search_cache) == 128 == store.SEARCH_CACHE_SIZE


def test_many_values_do_not_exhaust_the_parameter_counter(sqlite_url):
    """An ITI-47 with 10,000 names ended in StopIteration from the fixed counter of bind names (more
    than 10,000 values bound). The statement is only built here: no database plans 2,600 EXISTS
    clauses in reasonable time, which is why the profile limits the values per parameter."""
    engine = make_engine(sqlite_url)
    store = MpiStore(engine, MPI)
    names = tuple(NameCriterion(family=f"F{k}", given=f"G{k}") for k in range(2600))   # 4 values each
    shape, params = search_shape(DemographicQuery(names=names), MPI)
    stmt = build_search(shape)
    assert len(params) > 10_000 and stmt is not None
    engine.dispose()


def test_repeated_criteria_are_one_criterion(store):
    """A criterion given twice is the same criterion: the statement does not grow with repetitions."""
    store.add_patient("761337610411353650", "Muster", "Anna", dt.date(1980, 1, 2), "F")
    names = tuple(NameCriterion(family="Muster") for _ in range(5001))
    assert [h.patient.epr_spid for h in store.search(DemographicQuery(names=names), 10)] == ["761337610411353650"]
    one = DemographicQuery(names=(NameCriterion(family="Muster"),))
    assert store.search(one, 10)[0].patient.epr_spid == "761337610411353650"
    assert len(store._search_cache) == 1


def test_a_failing_statement_is_not_cached(store, monkeypatch):
    import sqlalchemy.engine

    def boom(*a, **k):
        raise RuntimeError("database gone")
    q = DemographicQuery(names=(NameCriterion(family="Nobody"),))
    monkeypatch.setattr(sqlalchemy.engine.Connection, "execute", boom)
    with pytest.raises(RuntimeError):
        store.search(q, 10)
    assert len(store._search_cache) == 0


# -- item 2: limits on HL7 V3 input -------------------------------------------------------------

from profiles.ch.identifiers import CX, EPR_SPID_OID  # noqa: E402
from profiles.hl7v3.messages import ResponseContext  # noqa: E402
from profiles.hl7v3.pdq import InMemoryQueryStates, PdqSupplier  # noqa: E402
from profiles.hl7v3.pix import PixManager  # noqa: E402

from hl7v3_samples import ack_code, details, feed, name_param, pdq_query, person_xml, pix_query, spid  # noqa: E402

SRC = "1.3.6.1.4.1.21367.2017.2.5.89"
CTX = ResponseContext(device_oid="2.16.756.5.30.1.999.1")


@pytest.fixture
def sqlite_store(sqlite_url):
    engine = make_engine(sqlite_url)
    yield MpiStore(engine, MPI)
    engine.dispose()


def _only_detail(reply):
    (code, text, location), = details(reply)
    return code, text, location


def test_a_4_mib_family_name_is_refused_and_not_stored(sqlite_store):
    """A 4 MiB family name was stored (AA)."""
    pix = PixManager(sqlite_store, CTX)
    ack = pix.feed(feed("PRPA_IN201301UV02", [(SRC, "L1"), (EPR_SPID_OID, spid(1))],
                        person_xml(family="x" * (4 << 20))))
    assert ack_code(ack) == "AE"
    code, text, location = _only_detail(ack)
    assert code == "102" and "hl7_max_name_part_length" in text and "255" in text
    assert location.endswith("hl7:patientPerson/hl7:name[1]")
    assert sqlite_store.find(CX("L1", SRC)) is None


def test_an_iti44_with_10000_ids_is_refused_and_not_stored(sqlite_store):
    """An ITI-44 with 10,000 ids was accepted after 13.6 s."""
    pix = PixManager(sqlite_store, CTX)
    ids = [(SRC, f"L{k}") for k in range(10_000)] + [(EPR_SPID_OID, spid(1))]
    ack = pix.feed(feed("PRPA_IN201301UV02", ids))
    assert ack_code(ack) == "AE"
    code, text, _location = _only_detail(ack)
    assert "hl7_max_identifiers_per_person" in text and "20" in text
    assert sqlite_store.find(CX(spid(1), EPR_SPID_OID)) is None and sqlite_store.find(CX("L0", SRC)) is None


def test_twenty_ids_are_within_the_limit(sqlite_store):
    pix = PixManager(sqlite_store, CTX)
    ids = [(SRC, f"L{k}") for k in range(19)] + [(EPR_SPID_OID, spid(1))]
    assert ack_code(pix.feed(feed("PRPA_IN201301UV02", ids))) == "AA"
    assert len(sqlite_store.find(CX("L0", SRC)).local_ids) == 19


def test_an_identifier_longer_than_the_limit_is_refused(sqlite_store):
    pix = PixManager(sqlite_store, CTX)
    ack = pix.feed(feed("PRPA_IN201301UV02", [(SRC, "L" * 256), (EPR_SPID_OID, spid(1))]))
    assert ack_code(ack) == "AE" and "hl7_max_identifier_length" in _only_detail(ack)[1]
    r = pix.query(pix_query((SRC, "L" * 256), []))
    assert ack_code(r) == "AE" and "hl7_max_identifier_length" in _only_detail(r)[1]
    assert sqlite_store.find(CX(spid(1), EPR_SPID_OID)) is None


def test_an_iti47_with_10000_names_is_ae_naming_the_limit(sqlite_store):
    """An ITI-47 with 10,000 names ended in AE "internal error of the MPI" (StopIteration)."""
    pdq = PdqSupplier(sqlite_store, InMemoryQueryStates(), CTX)
    r = pdq.query(pdq_query("".join(name_param(f"Name{k}") for k in range(10_000))))
    assert ack_code(r) == "AE"
    code, text, location = _only_detail(r)
    assert code != "207" and "internal error" not in text
    assert "hl7_max_parameter_values" in text and "livingSubjectName" in text and location.endswith("livingSubjectName")
    assert len(sqlite_store._search_cache) == 0       # nothing reached the store


def test_limits_are_configurable(sqlite_store):
    from gateway.config import load_settings
    from gateway.endpoints.pix import hl7v3_limits
    settings = load_settings(env={"EPD_HL7_MAX_NAME_PART_LENGTH": "20", "EPD_HL7_MAX_PARAMETER_VALUES": "2",
                                  "EPD_HL7_MAX_IDENTIFIERS_PER_PERSON": "3", "EPD_HL7_MAX_IDENTIFIER_LENGTH": "4",
                                  "EPD_HL7_MAX_REPETITIONS": "1"})
    limits = hl7v3_limits(settings)
    assert (limits.max_name_part_length, limits.max_parameter_values, limits.max_identifiers_per_person,
            limits.max_identifier_length, limits.max_repetitions) == (20, 2, 3, 4, 1)
    pix = PixManager(sqlite_store, CTX, limits=limits)
    ack = pix.feed(feed("PRPA_IN201301UV02", [(SRC, "L1"), (EPR_SPID_OID, spid(1))], person_xml(family="Muster-Lüdenscheidt-X")))
    assert ack_code(ack) == "AE" and "limit hl7_max_name_part_length" in _only_detail(ack)[1]
    ack = pix.feed(feed("PRPA_IN201301UV02", [(SRC, "L1"), (EPR_SPID_OID, spid(1))], person_xml(family="Mu")))
    assert ack_code(ack) == "AA", details(ack)
    two_names = person_xml(family="Mu", extra="<name><family>Ab</family></name>")
    ack = pix.feed(feed("PRPA_IN201302UV02", [(SRC, "L1")], two_names))
    assert ack_code(ack) == "AE" and "hl7_max_repetitions" in _only_detail(ack)[1]
    pdq = PdqSupplier(sqlite_store, InMemoryQueryStates(), CTX, limits=limits)
    assert ack_code(pdq.query(pdq_query(name_param("Mu") + name_param("Mu")))) == "AA"
    r = pdq.query(pdq_query(name_param("Mu") + name_param("Mu") + name_param("Mu")))
    assert ack_code(r) == "AE" and "hl7_max_parameter_values" in _only_detail(r)[1]


def test_search_statements_stay_out_of_the_engines_compiled_cache(store):
    """The engine's compiled cache keeps every statement compiled (500 entries), failing ones too:
    the search's compiled forms live in a cache bounded like the statements."""
    store.add_patient("761337610411353650", "Muster", "Anna", dt.date(1980, 1, 2), "F")
    engine_cache = store.engine._compiled_cache
    before = len(engine_cache)
    for n in range(1, 200):
        names = tuple(NameCriterion(family=f"F{k}", prefix=bool((n >> k) & 1)) for k in range(n % 8 + 1))
        store.search(DemographicQuery(names=names), 10)
    assert len(engine_cache) - before < 10
    assert 0 < len(store._search_cache.compiled) <= 1.5 * store.SEARCH_CACHE_SIZE


def test_statements_of_many_criteria_are_not_kept(store):
    """A statement of many criteria weighs megabytes compiled: built, run, dropped."""
    store.add_patient("761337610411353650", "Muster", "Anna", dt.date(1980, 1, 2), "F")
    many = DemographicQuery(names=tuple(NameCriterion(family="Muster", given=f"G{k}") for k in range(12)))
    assert store.search(many, 10) == []
    assert len(store._search_cache) == 0 and len(store._search_cache.compiled) == 0
    one = DemographicQuery(names=(NameCriterion(family="Muster"),))
    assert store.search(one, 10)[0].patient.epr_spid == "761337610411353650"
    assert len(store._search_cache) == 1 and len(store._search_cache.compiled) == 1
