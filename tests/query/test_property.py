"""Property: FindDocuments with random parameter combinations returns exactly what a straightforward
Python filter over the registered entries returns (SQLite and PostgreSQL)."""
from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.config import Settings
from gateway.store.db import make_engine
from profiles.context import RequestContext
from profiles.xds import constants as C
from profiles.xds import stored_queries as S
from profiles.xds.datatypes import pad_dtm

from support.db import empty_database
from .registry_fixture import (HOME, MPI_OID, Doc, KnownPatients, Sub, code, pid, q, qlist, query_xml, register,
                               stored_query_body)

SCHEME = "2.999.42"
CLASSES = [(c, SCHEME) for c in ("c1", "c2", "c3")]
TYPES = [(c, SCHEME) for c in ("t1", "t2")]
FORMATS = [(c, SCHEME) for c in ("f1", "f2")]
PRACTICES = [(c, SCHEME) for c in ("p1", "p2")]
FACILITIES = [(c, SCHEME) for c in ("h1", "h2")]
CONFS = [(c, SCHEME) for c in ("N", "R", "V")]
EVENTS = [(c, SCHEME) for c in ("e1", "e2", "e3")]
AUTHORS = ["^Muster^Max^^^", "^Meier^Anna^^^Dr.", "^Muller^Max^^^", "^Smith^Bob^^^"]
PATTERNS = ["%Max%", "^M%", "^Meier^Anna^^^Dr.", "%muster%", "^Mu_ter%", "%^^^", "^S%B_b%"]
TIMES = ["2023", "202306", "20230615", "2023061512", "202306151230", "20230615123045", "2024", "20240101"]
STATUS = {"Approved": C.STATUS_APPROVED, "Deprecated": C.STATUS_DEPRECATED}
P = pid(77)


def _docs(rng: random.Random) -> list[Doc]:
    docs = []
    for i in range(40):
        def t():
            return rng.choice([None] + TIMES + [f"2023{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"])
        docs.append(Doc(P, class_code=rng.choice(CLASSES), type_code=rng.choice(TYPES),
                        format_code=rng.choice(FORMATS), practice_setting=rng.choice(PRACTICES),
                        facility_type=rng.choice(FACILITIES),
                        confidentiality=rng.sample(CONFS, rng.randint(1, 2)),
                        events=rng.sample(EVENTS, rng.randint(0, 2)),
                        authors=rng.sample(AUTHORS, rng.randint(0, 2)),
                        creation_time=rng.choice(TIMES + ["20230301101010"]), service_start=t(),
                        service_stop=t(), reference_ids=rng.sample(["r1", "r2", "r3"], rng.randint(0, 2)),
                        on_demand=rng.random() < 0.15, title=f"doc {i}"))
        if docs[-1].on_demand:
            docs[-1].creation_time = None
    return docs


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def population(request, tmp_path_factory):
    url = empty_database(request, request.param, tmp_path_factory.mktemp("prop"))
    engine = make_engine(url)
    rng = random.Random(1234)
    docs = _docs(rng)
    status = {}
    for i in range(0, len(docs), 8):
        register(engine, Sub(P, docs=docs[i:i + 8]))
        status.update({d.entry_uuid: "Approved" for d in docs[i:i + 8]})
    # a few replacements: the replaced entries become Deprecated
    for old in rng.sample([d for d in docs if not d.on_demand], 5):
        new = Doc(P, class_code=old.class_code, confidentiality=old.confidentiality, authors=old.authors,
                  creation_time="20240101", events=old.events, title="replacement")
        register(engine, Sub(P, docs=[new], associations=[(C.ASSOC_RPLC, new.entry_uuid, old.entry_uuid)]))
        status[old.entry_uuid] = "Deprecated"
        status[new.entry_uuid] = "Approved"
        docs.append(new)
    yield engine, docs, status
    engine.dispose()


def _reference(docs, status, params) -> list[str]:
    """The straightforward filter, written from the TF-2a text, over the registered descriptions."""
    def rng(value, lo, hi):
        if lo is None and hi is None:
            return True
        v = pad_dtm(value)
        return v is not None and (lo is None or v >= pad_dtm(lo)) and (hi is None or v < pad_dtm(hi))

    out = []
    for d in docs:
        ok = status[d.entry_uuid] in params["status"]
        ok &= (C.DOC_ENTRY_ON_DEMAND if d.on_demand else C.DOC_ENTRY_STABLE) in params["types"]
        for attr, key in (("class_code", "class"), ("type_code", "type"), ("format_code", "format"),
                          ("practice_setting", "practice"), ("facility_type", "facility")):
            if params[key] is not None:
                ok &= getattr(d, attr) in params[key]
        for group in params["events"]:
            ok &= any(e in group for e in d.events)
        for group in params["confs"]:
            ok &= any(c in group for c in d.confidentiality)
        if params["authors"]:
            ok &= any(S.author_pattern_matches(p, a) for p in params["authors"] for a in d.authors)
        if params["refs"] is not None:
            ok &= any(r in params["refs"] for r in d.reference_ids)
        ok &= rng(d.creation_time, *params["creation"])
        ok &= rng(d.service_start, *params["start"])
        ok &= rng(d.service_stop, *params["stop"])
        if ok:
            out.append(d.entry_uuid)
    return out


def opt_subset(values):
    return st.one_of(st.none(), st.lists(st.sampled_from(values), min_size=1, max_size=len(values), unique=True))


time_range = st.tuples(st.one_of(st.none(), st.sampled_from(TIMES)), st.one_of(st.none(), st.sampled_from(TIMES)))
and_groups = st.lists(st.lists(st.sampled_from(EVENTS), min_size=1, max_size=2, unique=True), max_size=2)
conf_groups = st.lists(st.lists(st.sampled_from(CONFS), min_size=1, max_size=2, unique=True), max_size=2)

params_strategy = st.fixed_dictionaries({
    "status": st.lists(st.sampled_from(sorted(STATUS)), min_size=1, max_size=2, unique=True),
    "types": st.one_of(st.none(), st.lists(st.sampled_from([C.DOC_ENTRY_STABLE, C.DOC_ENTRY_ON_DEMAND]),
                                           min_size=1, max_size=2, unique=True)),
    "class": opt_subset(CLASSES), "type": opt_subset(TYPES), "format": opt_subset(FORMATS),
    "practice": opt_subset(PRACTICES), "facility": opt_subset(FACILITIES),
    "events": and_groups, "confs": conf_groups,
    "authors": st.lists(st.sampled_from(PATTERNS), max_size=2, unique=True),
    "refs": opt_subset(["r1", "r2", "r3"]),
    "creation": time_range, "start": time_range, "stop": time_range,
})


def _slots(p):
    slots = [("$XDSDocumentEntryPatientId", q(P)),
             ("$XDSDocumentEntryStatus", qlist(STATUS[s] for s in p["status"]))]
    if p["types"] is not None:
        slots.append(("$XDSDocumentEntryType", qlist(p["types"])))
    for key, name in (("class", "ClassCode"), ("type", "TypeCode"), ("format", "FormatCode"),
                      ("practice", "PracticeSettingCode"), ("facility", "HealthcareFacilityTypeCode")):
        if p[key] is not None:
            slots.append(("$XDSDocumentEntry" + name, qlist(code(c) for c in p[key])))
    slots += [("$XDSDocumentEntryEventCodeList", qlist(code(c) for c in g)) for g in p["events"]]
    slots += [("$XDSDocumentEntryConfidentialityCode", qlist(code(c) for c in g)) for g in p["confs"]]
    if p["authors"]:
        slots.append(("$XDSDocumentEntryAuthorPerson", qlist(p["authors"])))
    for key, name in (("creation", "CreationTime"), ("start", "ServiceStartTime"), ("stop", "ServiceStopTime")):
        lo, hi = p[key]
        if lo is not None:
            slots.append((f"$XDSDocumentEntry{name}From", lo))
        if hi is not None:
            slots.append((f"$XDSDocumentEntry{name}To", hi))
    if p["refs"] is not None:
        slots.append(("$XDSDocumentEntryReferenceIdList", qlist(p["refs"])))
    return slots


SETTINGS = Settings(mpi_oid=MPI_OID, home_community_id=HOME, max_query_results=1000)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=params_strategy)
def test_find_documents_matches_reference(population, params):
    engine, docs, status = population
    query_id = S.FIND_DOCUMENTS_BY_REFERENCE_ID if params["refs"] is not None else S.FIND_DOCUMENTS
    el = stored_query_body(query_xml(query_id, _slots(params), "ObjectRef"), RequestContext(), settings=SETTINGS,
                           engine=engine, mpi=KnownPatients())
    assert el.get("status") == C.RESPONSE_SUCCESS
    got = [o.get("id") for o in el.find(C.rim("RegistryObjectList"))]
    ref = dict(params, types=params["types"] or [C.DOC_ENTRY_STABLE])
    expected = _reference(docs, status, ref)
    assert sorted(got) == sorted(expected)
