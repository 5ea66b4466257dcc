"""The rights as stored, read back and applied by the ITI-18 and ITI-43 filters, against the
reference model, on SQLite and PostgreSQL: no document reaches a caller the model denies, none is
withheld that it allows, and emergency reads are told apart exactly."""
from __future__ import annotations

import datetime as _dt

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings

from gateway.access import EmergencyLog, ReadFilter, RetrieveFilter, RightsSource
from gateway.store import policies as P
from gateway.store import registry_tables as T
from gateway.store.db import make_engine
from gateway.store.mpi import MpiStore
from profiles.adr import model as M
from profiles.context import RequestContext
from profiles.xds.query_ports import DocumentRow

from . import reference_model as R
from .scenarios import LEVELS, OTHER_SPID, SPID, TODAY, callers, choices, principal

MPI_OID = "2.16.756.5.30.1.999.1.1"
CASES = {"sqlite": 250, "postgresql": 150}


def write_choices(store: P.PolicyStore, c: R.Choices) -> None:
    """Through the operator's API where it covers the choice, else as a policy set (PPQ add)."""
    store.open_record(c.spid, c.emergency)
    if c.provide != "normal":
        store.set_default_confidentiality(c.spid, c.provide)
    for g in c.grants:
        if g.start is not None:
            kind = {"hcp": 301, "exclude": 301, "group": 302, "rep": 303, "delegate": 304}[g.kind]
            ref = {"exclude": M.EXCLUSION_LIST, "rep": M.ACCESS_FULL,
                   "delegate": M.ACCESS_DELEGATION_NORMAL if g.level == "normal" else M.ACCESS_DELEGATION_RESTRICTED
                   }.get(g.kind, M.ACCESS_OF_LEVEL[g.level])
            store.add([M.PolicySet(M.new_policy_set_id(), kind, c.spid, ref, subject=g.subject, start=g.start,
                                   end=g.end)])
        elif g.kind == "hcp":
            store.grant(c.spid, g.subject, g.level, g.end)
        elif g.kind == "exclude":
            store.exclude(c.spid, g.subject, g.end)
        elif g.kind == "group":
            store.grant_group(c.spid, g.subject, g.level, g.end)
        elif g.kind == "rep":
            store.set_representative(c.spid, g.subject, g.end)
        else:
            store.add([M.delegation(c.spid, g.subject, g.level, until=g.end)])


def doc_row(uid: str, pid: str, level: str) -> DocumentRow:
    return DocumentRow(entry_uuid=f"urn:uuid:{uid}", lid=f"urn:uuid:{uid}", version=1, unique_id=uid, patient_id=pid,
                       status="Approved", object_type="", class_code=None, type_code=None, format_code=None,
                       practice_setting_code=None, facility_type_code=None, creation_time=None,
                       service_start_time=None, service_stop_time=None, repository_unique_id="1.2.3",
                       submission_set="urn:uuid:ss", seq=0, xml="", confidentiality_codes=(M.CONFIDENTIALITY_CODES[level],))


@pytest.fixture
def world(db_url, request):
    engine = make_engine(db_url)
    mpi = MpiStore(engine, MPI_OID)
    pids = {spid: str(mpi.add_patient(spid, "Muster", "Anna", None, "F")) for spid in (SPID, OTHER_SPID)}
    docs = [doc_row(f"1.2.{i}.{j}", pids[spid], level)
            for i, spid in enumerate((SPID, OTHER_SPID)) for j, level in enumerate(LEVELS)]
    with engine.begin() as conn:
        conn.execute(T.documents.insert(), [dict(
            entry_uuid=d.entry_uuid, lid=d.lid, version=1, unique_id=d.unique_id, patient_id=d.patient_id,
            status="Approved", object_type="x", submission_set="urn:uuid:ss", seq=n, xml="<x/>")
            for n, d in enumerate(docs)])
        conn.execute(T.document_codes.insert(), [dict(document=d.entry_uuid, kind="conf", code=d.confidentiality_codes[0][0],
                                                     scheme=d.confidentiality_codes[0][1]) for d in docs])
    store = P.PolicyStore(engine)
    store.open_record(OTHER_SPID, "restricted")   # the other patient's record is open, with emergency access
    store.grant(OTHER_SPID, "7601000000001", "restricted")
    yield engine, store, mpi, docs
    engine.dispose()


def _reset(engine, spid):
    with engine.begin() as conn:
        conn.execute(P.adr_policy_set.delete().where(P.adr_policy_set.c.epr_spid == spid))
        conn.execute(P.adr_record.delete().where(P.adr_record.c.epr_spid == spid))


def test_stored_rights_filter_exactly_what_the_model_allows(world, db_url):
    engine, store, mpi, docs = world
    backend = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    rights = RightsSource(store, mpi, MPI_OID, today=lambda: TODAY)
    log = EmergencyLog()
    read, retrieve = ReadFilter(rights, log), RetrieveFilter(rights, engine, log)
    mine = {d.unique_id: lvl for d, lvl in zip(docs[:3], LEVELS)}

    @settings(max_examples=CASES[backend], deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(c=choices(opened=True), who=callers())
    def check(c, who):
        _reset(engine, SPID)
        write_choices(store, c)
        ctx = RequestContext(principal=principal(who, urn_orgs=True))
        expected = {uid for uid, lvl in mine.items() if R.may(c, who, "read", lvl, TODAY)}
        emergency = {uid for uid, lvl in mine.items() if R.emergency_only(c, who, lvl, TODAY)}
        got = {d.unique_id for d in read.allowed_documents(ctx, docs)}
        assert got == expected, (c, who)                    # the other patient's documents never appear
        assert set(sum((r.documents for r in log.take(ctx.request_id)), [])) == emergency
        assert retrieve.allowed(ctx, [d.unique_id for d in docs] + ["9.9.9"]) == expected
        assert set(sum((r.documents for r in log.take(ctx.request_id)), [])) == emergency

    check()


def test_a_record_known_to_the_mpi_is_opened_on_first_use_with_the_defaults(world):
    engine, store, mpi, docs = world
    assert not store.is_open(SPID)
    rights = RightsSource(store, mpi, MPI_OID, today=lambda: TODAY).for_spid(SPID)
    assert rights.opened and sorted(p.template for p in rights.policy_sets) == [201, 202, 203]
    assert rights.emergency_level == "normal" and rights.default_confidentiality == "normal"
    # unknown to the MPI: stays closed
    assert not RightsSource(store, mpi, MPI_OID).for_spid("761337610000000033").opened
