"""The durable audit trail: every record stored before the answer leaves, hash-chained.

Durable first: the Success record of a change (ITI-41, ITI-42, ITI-44) is inserted in the change's
own write transaction (:meth:`StoreAuditSink.record_in`, called by the registry's and the MPI's
write ports through :func:`profiles.audit.record_with_change` or their ``audit=`` builder), so the
two commit or roll back together; a refused or rolled-back change gets its failure record from the
pipeline afterwards, and a read gets its record before its answer leaves.

Each record's ``hash`` is SHA-256 over the previous record's hash and the record's own fields
(:func:`record_hash`); the chain's head (``audit_head``, one row) is read and moved in the same
write transaction as the insert, so concurrent writers (threads and worker processes) append one
after the other and the chain has no fork. ``verify`` recomputes the whole chain: an edited, removed
or reordered record breaks it at that point.

Records not yet forwarded (``sent_at`` NULL) are the outbox of :mod:`gateway.audit.forwarder`.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import uuid
from dataclasses import dataclass
from typing import Iterator

import sqlalchemy as sa
from lxml import etree
from sqlalchemy.engine import Connection, Engine

from gateway.store.db import write_transaction
from profiles.atna.messages import AuditSite, audit_message
from profiles.audit import AuditEvent

from .tables import GENESIS, audit_head, audit_record


def record_hash(prev_hash: str, seq: int, record_id: str, event_time: str, transaction: str, outcome: int,
                message: str) -> str:
    h = hashlib.sha256()
    for part in (prev_hash, str(seq), record_id, event_time, transaction, str(outcome)):
        h.update(part.encode("utf-8"))
        h.update(b"\n")
    h.update(message.encode("utf-8"))
    return h.hexdigest()


@dataclass(frozen=True)
class StoredRecord:
    seq: int
    record_id: str
    event_time: str
    transaction: str
    outcome: int
    user_id: str | None
    patient_ids: tuple[str, ...]
    epr_spid: str | None
    message: str
    prev_hash: str
    hash: str
    sent_at: str | None


def _row(r) -> StoredRecord:
    return StoredRecord(r.seq, r.record_id, r.event_time, r.transaction, r.outcome, r.user_id,
                        tuple(r.patient_ids.split()) if r.patient_ids else (), r.epr_spid, r.message, r.prev_hash,
                        r.hash, r.sent_at)


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    reason: str


# The write path's statements, built once per process (SQLAlchemy memoizes a statement object's
# cache key: no construction per record; the same reason as gateway/store/registry.py's).
_HEAD_FOR_UPDATE = (sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update())
_INSERT_RECORD = audit_record.insert()
_MOVE_HEAD = (audit_head.update().where(audit_head.c.id == 1)
              .values(seq=sa.bindparam("new_seq"), hash=sa.bindparam("new_hash")))


class AuditStore:
    def __init__(self, engine: Engine, site: AuditSite) -> None:
        self.engine = engine
        self.site = site

    # -- writing -----------------------------------------------------------------------------
    def append(self, event: AuditEvent, conn: Connection | None = None) -> StoredRecord:
        """Store ``event``'s AuditMessage; on ``conn`` (the caller's write transaction, so the record
        commits or rolls back with the change it describes) or in a transaction of its own."""
        message = etree.tostring(audit_message(event, self.site), encoding="unicode")
        if conn is not None:
            return self._insert(conn, event, message)
        with write_transaction(self.engine) as own:
            return self._insert(own, event, message)

    def _insert(self, conn: Connection, event: AuditEvent, message: str) -> StoredRecord:
        head = conn.execute(_HEAD_FOR_UPDATE).one_or_none()
        if head is None:  # a new (or emptied) trail: the migration's head row is gone with it
            if conn.dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert
            else:
                from sqlalchemy.dialects.sqlite import insert
            conn.execute(insert(audit_head).values(id=1, seq=0, hash=GENESIS).on_conflict_do_nothing())
            head = conn.execute(_HEAD_FOR_UPDATE).one()
        seq = head.seq + 1
        record_id = str(uuid.uuid4())
        event_time = event.time.astimezone(_dt.timezone.utc).isoformat(timespec="microseconds")
        digest = record_hash(head.hash, seq, record_id, event_time, event.transaction or "", event.event_outcome,
                             message)
        values = dict(seq=seq, record_id=record_id, event_time=event_time, transaction=event.transaction or "",
                      outcome=event.event_outcome, user_id=event.principal.user_id,
                      patient_ids=" ".join(dict.fromkeys(event.facts.patient_ids)),
                      epr_spid=event.principal.patient_epr_spid, message=message, prev_hash=head.hash, hash=digest,
                      sent_at=None, attempts=0)
        conn.execute(_INSERT_RECORD, values)
        conn.execute(_MOVE_HEAD, {"new_seq": seq, "new_hash": digest})
        return StoredRecord(seq, record_id, event_time, values["transaction"], event.event_outcome,
                            values["user_id"], tuple(values["patient_ids"].split()), values["epr_spid"], message,
                            head.hash, digest, None)

    # -- reading -----------------------------------------------------------------------------
    def records(self, *, since: str | None = None, until: str | None = None, epr_spid: str | None = None,
                patient_ids: tuple[str, ...] = (), after_seq: int = 0, limit: int | None = None) -> list[StoredRecord]:
        q = sa.select(audit_record).where(audit_record.c.seq > after_seq).order_by(audit_record.c.seq)
        if since:
            q = q.where(audit_record.c.event_time >= since)
        if until:
            q = q.where(audit_record.c.event_time <= until)
        if epr_spid or patient_ids:
            conds = []
            if epr_spid:
                conds.append(audit_record.c.epr_spid == epr_spid)
            for pid in patient_ids:
                conds.append(audit_record.c.patient_ids.contains(pid))
            q = q.where(sa.or_(*conds))
        if limit:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(q)]

    def verify(self, batch: int = 5000) -> tuple[int, list[ChainBreak]]:
        """Recompute the chain: (records checked, breaks found)."""
        prev, expected_seq, checked, breaks = GENESIS, 1, 0, []
        last = 0
        with self.engine.connect() as conn:
            while True:
                rows = conn.execute(sa.select(audit_record).where(audit_record.c.seq > last)
                                    .order_by(audit_record.c.seq).limit(batch)).all()
                if not rows:
                    break
                for r in rows:
                    checked += 1
                    if r.seq != expected_seq:
                        breaks.append(ChainBreak(r.seq, f"record {expected_seq} is missing"))
                    if r.prev_hash != prev:
                        breaks.append(ChainBreak(r.seq, "does not chain to the record before it"))
                    digest = record_hash(r.prev_hash, r.seq, r.record_id, r.event_time, r.transaction, r.outcome,
                                         r.message)
                    if digest != r.hash:
                        breaks.append(ChainBreak(r.seq, "content does not match its hash (altered)"))
                    prev, expected_seq, last = r.hash, r.seq + 1, r.seq
            head = conn.execute(sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).one_or_none()
        if head is None:
            if checked:
                breaks.append(ChainBreak(last, "the chain's head is missing"))
        elif head.seq != last or head.hash != prev:
            breaks.append(ChainBreak(head.seq, f"the chain's head ({head.seq}) is not its last record ({last})"))
        return checked, breaks

    # -- outbox ------------------------------------------------------------------------------
    def pending(self, limit: int = 100) -> list[StoredRecord]:
        q = (sa.select(audit_record).where(audit_record.c.sent_at.is_(None)).order_by(audit_record.c.seq)
             .limit(limit))
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(q)]

    def mark_sent(self, seqs: list[int], when: str | None = None) -> None:
        if not seqs:
            return
        when = when or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        with write_transaction(self.engine) as conn:
            conn.execute(audit_record.update().where(audit_record.c.seq.in_(seqs)).values(sent_at=when))

    def count_pending(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(audit_record)
                                .where(audit_record.c.sent_at.is_(None))).scalar_one()


class StoreAuditSink:
    """The pipeline's audit sink: each event becomes a stored, chained record (then forwarded)."""

    def __init__(self, store: AuditStore, on_stored=None) -> None:
        self.store = store
        self.on_stored = on_stored

    def record(self, event: AuditEvent) -> None:
        self.stored(self.store.append(event))

    # -- durable first: a write transaction's record stored inside it --------------------------
    def record_in(self, conn: Connection, event: AuditEvent) -> StoredRecord:
        """Store ``event`` on ``conn``, the write transaction of the change it describes (they commit
        or roll back together); call :meth:`stored` once that transaction has committed."""
        return self.store.append(event, conn=conn)

    def stored(self, rec: StoredRecord) -> None:
        """A record is committed: wake the forwarder."""
        if self.on_stored is not None:
            self.on_stored(rec)


def iter_messages(records: list[StoredRecord]) -> Iterator[etree._Element]:
    for r in records:
        yield etree.fromstring(r.message)
