"""The policy store on SQLite and PostgreSQL: opening records, the operator's use cases, PPQ-style
add/update/delete, notifications."""
from __future__ import annotations

import datetime as _dt

import pytest

from gateway.store.db import make_engine
from gateway.store.policies import PolicyStore, UnknownPolicySet
from profiles.adr import model as M

SPID = "761337610000000019"
GLN = "7601000000019"


@pytest.fixture
def store(db_url):
    engine = make_engine(db_url)
    yield PolicyStore(engine)
    engine.dispose()


def templates(store, spid=SPID):
    return sorted((p.template, p.reference, p.subject) for p in store.rights(spid).policy_sets)


def test_opening_a_record_creates_201_203_and_202_at_the_default_level(store):
    assert not store.rights(SPID).opened
    assert store.open_record(SPID) is True
    assert store.open_record(SPID) is False          # idempotent
    assert templates(store) == [(201, M.ACCESS_FULL, SPID), (202, M.EMERGENCY_NORMAL, ""), (203, M.PROVIDE_NORMAL, "")]
    other = PolicyStore(store.engine, emergency_default="off")
    other.open_record("761337610000000026")
    assert [t for t, _r, _s in templates(other, "761337610000000026")] == [201, 203]
    restricted = PolicyStore(store.engine, emergency_default="restricted")
    restricted.open_record("761337610000000033")
    assert restricted.rights("761337610000000033").emergency_level == "restricted"
    with pytest.raises(ValueError):
        PolicyStore(store.engine, emergency_default="full")


def test_operator_use_cases_keep_one_set_per_template_and_subject(store):
    store.open_record(SPID)
    until = _dt.date(2027, 1, 31)
    store.grant(SPID, GLN, "normal")
    store.grant(SPID, GLN, "restricted", until)             # replaces the first grant
    grants = [p for p in store.rights(SPID).policy_sets if p.template == 301]
    assert [(g.reference, g.end) for g in grants] == [(M.ACCESS_RESTRICTED, until)]
    store.exclude(SPID, GLN)
    assert store.revoke(SPID, GLN) == 1                      # the grant goes, the exclusion stays
    assert [(p.template, p.reference) for p in store.rights(SPID).policy_sets if p.subject == GLN] == \
        [(301, M.EXCLUSION_LIST)]
    store.unexclude(SPID, GLN)
    assert not [p for p in store.rights(SPID).policy_sets if p.subject == GLN]
    store.grant_group(SPID, "urn:oid:2.999.1", "normal", until)
    assert [p.subject for p in store.rights(SPID).policy_sets if p.template == 302] == ["2.999.1"]
    store.set_emergency(SPID, "restricted")
    assert store.rights(SPID).emergency_level == "restricted"
    store.set_emergency(SPID, "off")
    assert store.rights(SPID).emergency_level == "off" and not store.rights(SPID).of_template(202)
    store.set_representative(SPID, "rep-1", until)
    assert [(p.subject, p.end) for p in store.rights(SPID).of_template(303)] == [("rep-1", until)]
    store.set_default_confidentiality(SPID, "secret")
    assert store.rights(SPID).default_confidentiality == "secret"
    assert len(store.rights(SPID).of_template(203)) == 1


def test_operations_on_a_closed_record_are_refused(store):
    with pytest.raises(ValueError, match="not open"):
        store.grant(SPID, GLN, "normal")
    with pytest.raises(ValueError, match="not open"):
        store.add([M.hcp_access(SPID, GLN, "normal")])


def test_ppq_add_update_delete(store):
    store.open_record(SPID)
    ps = M.hcp_access(SPID, GLN, "normal")
    store.add([ps])
    with pytest.raises(ValueError):
        store.add([ps])                                  # same id twice
    store.add([M.emergency_access(SPID, "restricted")])  # a singleton replaces the record's one
    assert [p.reference for p in store.rights(SPID).of_template(202)] == [M.EMERGENCY_RESTRICTED]
    store.update([ps.with_changes(reference=M.ACCESS_RESTRICTED)])
    assert store.get(ps.policy_set_id).reference == M.ACCESS_RESTRICTED
    with pytest.raises(ValueError):
        store.update([M.PolicySet(ps.policy_set_id, 301, "761337610000000026", M.ACCESS_NORMAL, subject=GLN)])
    with pytest.raises(UnknownPolicySet):
        store.update([M.hcp_access(SPID, GLN, "normal")])
    store.delete([ps.policy_set_id])
    assert store.get(ps.policy_set_id) is None
    with pytest.raises(UnknownPolicySet):
        store.delete([ps.policy_set_id])
    p201 = store.rights(SPID).of_template(201)[0]
    with pytest.raises(ValueError, match="cannot be deleted"):
        store.delete([p201.policy_set_id])


def test_notifications_are_recorded_and_listed_in_order(store):
    a = store.record_notification(SPID, "ITI-43", GLN, "Dr. Hans Muster", "", "Spital Bern", ["1.2.3", "1.2.4"],
                                  at=_dt.datetime(2026, 5, 1, 10, 0, tzinfo=_dt.timezone.utc))
    b = store.record_notification(SPID, "ITI-18", GLN, "Dr. Hans Muster", "7601000000026", "Spital Bern", ["1.2.3"],
                                  at=_dt.datetime(2026, 5, 1, 9, 0, tzinfo=_dt.timezone.utc))
    store.mark_delivered(a)
    store.mark_delivered(b, error="connection refused")
    rows = store.notifications(SPID)
    assert [(n.id, n.transaction, n.documents) for n in rows] == [(b, "ITI-18", ("1.2.3",)),
                                                                  (a, "ITI-43", ("1.2.3", "1.2.4"))]
    assert rows[1].delivered_at is not None and rows[0].delivery_error == "connection refused"
    assert rows[0].occurred_at == _dt.datetime(2026, 5, 1, 9, 0, tzinfo=_dt.timezone.utc)
    assert store.notifications("761337610000000026") == []


def test_concurrent_reads_are_counted_once_each(db_url):
    """Threads charging the same user: every document counted, the limit never exceeded."""
    import threading
    from gateway.ratelimit import ReadLimiter
    engine = make_engine(db_url)
    limiter = ReadLimiter(engine, 20, _dt.timedelta(hours=1), _dt.timedelta(hours=1))
    results = []

    def worker():
        for _ in range(5):
            results.append(limiter.charge("7601000000019", 1).allowed)
    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.dispose()
    assert results.count(True) == 20 and results.count(False) == 10
