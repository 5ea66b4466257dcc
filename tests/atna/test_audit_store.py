"""The stored audit trail on both backends: chained records, tamper evidence, concurrency, outbox."""
from __future__ import annotations

import threading

import sqlalchemy as sa

from gateway.audit.store import AuditStore
from gateway.audit.tables import audit_record
from gateway.store.db import make_engine
from profiles.atna.messages import AuditSite
from profiles.audit import audit_event
from profiles.context import Principal, RequestContext
from profiles.outcome import SUCCESS, AuditFacts, Outcome

SITE = AuditSite("2.16.756.5.30.1.999.1", "test")


def _event(i: int, spid: str | None = None):
    ctx = RequestContext(transaction="ITI-18", principal=Principal(user_id=f"u{i}", patient_epr_spid=spid))
    return audit_event(ctx, outcome=Outcome(None, SUCCESS, (), AuditFacts(patient_ids=(f"p{i}^^^&1.2&ISO",),
                                                                          query_id="q")))


def test_chain_verifies_and_detects_tampering(db_url):
    engine = make_engine(db_url)
    store = AuditStore(engine, SITE)
    for i in range(5):
        store.append(_event(i, "761337610411353650" if i % 2 else None))
    assert store.verify() == (5, [])
    assert [r.seq for r in store.records(epr_spid="761337610411353650")] == [2, 4]
    assert [r.seq for r in store.records(patient_ids=("p3^^^&1.2&ISO",))] == [4]
    with engine.begin() as c:
        c.execute(audit_record.update().where(audit_record.c.seq == 3)
                  .values(message=sa.func.replace(audit_record.c.message, "u2", "u9")))
    checked, breaks = store.verify()
    assert checked == 5 and [b.seq for b in breaks] == [3] and "altered" in breaks[0].reason
    with engine.begin() as c:
        c.execute(audit_record.delete().where(audit_record.c.seq == 4))
    _checked, breaks = store.verify()
    assert {b.seq for b in breaks} >= {3, 5}
    engine.dispose()


def test_concurrent_appends_keep_one_chain(db_url):
    engine = make_engine(db_url)
    store = AuditStore(engine, SITE)
    errors = []

    def work(k):
        try:
            for i in range(10):
                store.append(_event(k * 100 + i))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.verify() == (40, [])
    engine.dispose()


def test_outbox(db_url):
    engine = make_engine(db_url)
    store = AuditStore(engine, SITE)
    for i in range(3):
        store.append(_event(i))
    pending = store.pending()
    assert [r.seq for r in pending] == [1, 2, 3] and store.count_pending() == 3
    store.mark_sent([1, 2])
    assert [r.seq for r in store.pending()] == [3]
    assert store.verify() == (3, [])   # forwarding state is not part of the chain
    engine.dispose()


def test_record_rolls_back_with_the_change(db_url):
    engine = make_engine(db_url)
    store = AuditStore(engine, SITE)
    try:
        with engine.begin() as conn:
            store.append(_event(1), conn=conn)
            raise RuntimeError("the change failed")
    except RuntimeError:
        pass
    assert store.records() == []
    store.append(_event(2))
    assert store.verify() == (1, [])
    engine.dispose()
