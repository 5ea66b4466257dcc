"""The registry store on SQLite and PostgreSQL: one transaction per submission, conflicts caught at write."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from gateway.clients.submission import DocumentSpec, submit_objects_request
from gateway.store.db import make_engine
from gateway.store.registry import SqlRegistryStore
from profiles.xds.ebrim import parse_submission
from profiles.xds.errors import XdsFailure
from profiles.xds.registry import RegistryPolicy, plan_registration

MPI = "2.16.756.5.30.1.999.1.1"
PID = f"4711^^^&{MPI}&ISO"


class Patients:
    def is_known_mpi_pid(self, pid):
        return pid == "4711"


def register(store, sor, extra_rows=None):
    sub, errors = parse_submission(sor)
    assert not errors
    with store.transaction() as tx:
        plan = plan_registration(sub, tx, Patients(), RegistryPolicy(MPI), for_register=True, now="20261122000000")
        tx.apply(plan)
        if extra_rows is not None:
            tx.add_repository_documents(extra_rows)
    return plan


def count(engine, table):
    with engine.connect() as c:
        return c.execute(sa.text(f"select count(*) from {table}")).scalar()


def test_registration_round_trip_and_rollback(db_url):
    engine = make_engine(db_url)
    store = SqlRegistryStore(engine)
    d = DocumentSpec(b"x")
    plan = register(store, submit_objects_request(PID, [d], for_register=True))
    assert count(engine, "xds_document") == 1 and count(engine, "xds_association") == 1
    row = dict(repository_unique_id="1.2.3", unique_id=d.unique_id, sha1="a" * 40, sha256="b" * 64, size=1,
               mime_type="text/plain")
    # a failure late in the transaction (duplicate repository row) rolls back the whole submission
    with store.transaction() as tx:
        tx.add_repository_documents([row])
    before = {t: count(engine, t) for t in ("xds_document", "xds_submission_set", "xds_association",
                                            "xds_document_code", "xds_document_author")}
    with pytest.raises(XdsFailure):
        register(store, submit_objects_request(PID, [DocumentSpec(b"y")], for_register=True), extra_rows=[row])
    assert before == {t: count(engine, t) for t in before}
    # the stored XML is the registered element with its resolved ids and registry attributes
    with engine.connect() as c:
        xml = c.execute(sa.text("select xml from xds_document")).scalar()
    assert plan.documents[0].entry_uuid in xml and 'status="urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"' in xml
    engine.dispose()


def test_concurrent_replacements_of_one_document_let_exactly_one_win(db_url):
    engine = make_engine(db_url)
    store = SqlRegistryStore(engine)
    base = DocumentSpec(b"v1")
    register(store, submit_objects_request(PID, [base], for_register=True))
    results = []
    barrier = threading.Barrier(4)

    def replace(i):
        sor = submit_objects_request(PID, [DocumentSpec(f"v2-{i}".encode(), replaces=base.entry_id)],
                                     for_register=True)
        barrier.wait()
        try:
            register(store, sor)
            results.append("ok")
        except XdsFailure as exc:
            results.append(exc.errors[0].code)

    threads = [threading.Thread(target=replace, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 1, results
    assert set(results) - {"ok"} <= {"XDSRegistryError"}
    with engine.connect() as c:
        statuses = sorted(r[0] for r in c.execute(sa.text("select status from xds_document")))
    assert statuses == ["Approved", "Deprecated"]
    engine.dispose()


def test_concurrent_same_unique_id_registers_once(db_url):
    """Racing submissions of one uniqueId with different documents: exactly one is registered
    (an identical resubmission is a second entry, issue 14 item 9; different content never is)."""
    engine = make_engine(db_url)
    store = SqlRegistryStore(engine)
    d = DocumentSpec(b"same")
    results = []
    barrier = threading.Barrier(3)
    contents = iter([b"first", b"second", b"third"])

    def go(content):
        sor = submit_objects_request(PID, [DocumentSpec(content, unique_id=d.unique_id)], for_register=True)
        barrier.wait()
        try:
            register(store, sor)
            results.append("ok")
        except XdsFailure as exc:
            results.append(exc.errors[0].code)

    threads = [threading.Thread(target=go, args=(next(contents),)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 1 and count(engine, "xds_document") == 1, results
    assert set(results) - {"ok"} <= {"XDSNonIdenticalHash", "XDSDuplicateUniqueIdInRegistry"}, results
    engine.dispose()


def test_identical_resubmission_is_a_second_entry_and_different_hash_is_refused(db_url):
    """Issue 14 item 9 (IHE, NIST XDS test 12004): same uniqueId, hash and size -> accepted, both
    entries registered; a different hash -> XDSNonIdenticalHash, nothing stored."""
    engine = make_engine(db_url)
    store = SqlRegistryStore(engine)
    d = DocumentSpec(b"identical")
    first = register(store, submit_objects_request(PID, [d], for_register=True))
    again = register(store, submit_objects_request(PID, [DocumentSpec(b"identical", unique_id=d.unique_id)],
                                                   for_register=True))
    assert first.documents[0].entry_uuid != again.documents[0].entry_uuid
    with engine.connect() as c:
        assert c.execute(sa.text("select count(*) from xds_document where unique_id = :u"),
                         {"u": d.unique_id}).scalar() == 2
    before = {t: count(engine, t) for t in ("xds_document", "xds_submission_set", "xds_association")}
    with pytest.raises(XdsFailure) as exc:
        register(store, submit_objects_request(PID, [DocumentSpec(b"different", unique_id=d.unique_id)],
                                               for_register=True))
    assert [e.code for e in exc.value.errors] == ["XDSNonIdenticalHash"]
    assert before == {t: count(engine, t) for t in before}
    engine.dispose()


def test_racing_identical_submissions_of_one_unique_id_are_all_registered(db_url):
    """The uniqueId claim waits for a racing transaction instead of failing on it: identical
    submissions racing for one uniqueId are all accepted (each a registry entry)."""
    engine = make_engine(db_url)
    store = SqlRegistryStore(engine)
    d = DocumentSpec(b"raced")
    results = []
    barrier = threading.Barrier(3)

    def go():
        sor = submit_objects_request(PID, [DocumentSpec(b"raced", unique_id=d.unique_id)], for_register=True)
        barrier.wait()
        try:
            register(store, sor)
            results.append("ok")
        except XdsFailure as exc:
            results.append(exc.errors[0].code)

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["ok"] * 3 and count(engine, "xds_document") == 3 and count(engine, "xds_document_unique_id") == 1
    engine.dispose()
