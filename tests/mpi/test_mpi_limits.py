"""Issue 14, items 1 and 2 (HL7 part): bounded PDQ statement cache, configurable input limits."""
from __future__ import annotations

import datetime as dt

import pytest

from gateway.store.db import make_engine
from gateway.store.mpi import MpiStore
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
    for n in range(1, 300):
        names = tuple(NameCriterion(family=f"F{k}", given="G" if (n >> k) & 1 else "", prefix=bool(n & 1))
                      for k in range(n % 9 + 1))
        birth = dt.date(1980, 1, 2) if n % 3 else None
        store.search(DemographicQuery(names=names, birth_from=birth, birth_to=birth), 10)
    assert 0 < len(store._search_cache) <= 128 == store.SEARCH_CACHE_SIZE


def test_many_values_do_not_exhaust_the_parameter_counter(sqlite_url):
    """An ITI-47 with 10,000 names ended in StopIteration from the fixed counter of bind names (more
    than 10,000 values bound). The statement is only built here: no database plans 2,600 EXISTS
    clauses in reasonable time, which is why the profile limits the values per parameter."""
    engine = make_engine(sqlite_url)
    store = MpiStore(engine, MPI)
    names = tuple(NameCriterion(family=f"F{k}", given=f"G{k}") for k in range(2600))   # 4 values each
    shape, params = store._search_shape(DemographicQuery(names=names))
    stmt = store._build_search(shape)
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
