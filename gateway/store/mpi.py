"""The master patient index on SQLAlchemy Core: :class:`MpiStore`, the MPI port.

Split along its seams: the tables and the statements reading patients (``mpi_tables``), the
demographics JSON codec (``mpi_codec``), the ITI-47 candidate search (``mpi_search``), the PDQ
continuation states (``mpi_query_states``) and the bulk load (``mpi_bulk``). The PDQ match rule
itself (which candidate matches, its score) is a profile rule: ``profiles.hl7v3.matching``.

Every public method that writes runs in one transaction. The names of the split modules are
re-exported here for the callers that imported them from this module.
"""
from __future__ import annotations

import datetime as _dt
import time
import uuid
from typing import Any, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from gateway.store.db import write_transaction
from gateway.store.mpi_bulk import bulk_load
from gateway.store.mpi_codec import demographics_dumps, demographics_from_json, demographics_to_json  # noqa: F401
from gateway.store.mpi_query_states import SqlQueryStates
from gateway.store.mpi_search import SEARCH_CANDIDATE_CAP, SearchStatements, search_shape  # noqa: F401
from gateway.store.mpi_tables import (  # noqa: F401  (re-exported)
    FIND_STATEMENTS,
    LOAD_STATEMENT,
    address_rows,
    mpi_address,
    mpi_local_id,
    mpi_merge,
    mpi_name,
    mpi_patient,
    mpi_query_state,
    name_rows,
    patients_from_rows,
)
from profiles.ch.identifiers import CX, EPR_SPID_OID, looks_like_navs13
from profiles.hl7v3.matching import rank
from profiles.hl7v3.messages_catalogue import M
from profiles.hl7v3.mpi import (
    GENDERS,
    STATUS_ACTIVE,
    STATUS_MERGED,
    Demographics,
    Patient,
    PatientFeed,
    PersonName,
    epr_spid_entry_problem,
    identifier_problem,
    normalize,
)
from profiles.hl7v3.ports import DemographicQuery, QueryState, SearchHit

#: SQLite answers "database is locked" to concurrent writers now and then (seen with several
#: gateway processes on one file even under BEGIN IMMEDIATE): writes are retried with backoff.
LOCK_RETRIES = 6


def _retry_or_raise(exc: OperationalError, attempt: int) -> None:
    if "locked" not in str(exc.orig).lower() or attempt == LOCK_RETRIES - 1:
        raise exc
    time.sleep(0.02 * (2 ** attempt))


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


class MpiStore:
    """The MPI on a SQLAlchemy engine; implements ``profiles.hl7v3.ports.MpiPort`` and
    ``QueryStatePort`` and the small API the rest of the gateway uses (``add_patient``,
    ``is_known_mpi_pid``, ``find_by_epr_spid``)."""

    #: Search statements kept (one per query shape, least recently used dropped first).
    SEARCH_CACHE_SIZE = 128

    def __init__(self, engine: Engine, mpi_oid: str, audit=None) -> None:
        self.engine = engine
        self.mpi_oid = mpi_oid
        #: the pipeline's audit sink when it stores records (``StoreAuditSink``): an ITI-44 write
        #: given ``audit=`` stores its record inside its own write transaction (durable first)
        self.audit = audit
        self._known_domains: set[str] = {mpi_oid, EPR_SPID_OID}
        self._search_cache = SearchStatements(self.SEARCH_CACHE_SIZE)
        # Reads are single statements: on PostgreSQL they run in autocommit, which saves the
        # BEGIN and ROLLBACK round trips of a pooled connection (2 instead of 4 per read).
        self._reader = (engine.execution_options(isolation_level="AUTOCOMMIT")
                        if engine.dialect.name == "postgresql" else engine)
        self.query_states = SqlQueryStates(engine, self._reader)

    # -- API for the rest of the gateway -----------------------------------------------------

    def add_patient(self, epr_spid: str, family: str, given: str, birth_date: _dt.date | None,
                    gender: str, local_ids: Iterable[CX] = (), mpi_pid: str | None = None,
                    telecoms: Iterable[Telecom] = ()) -> CX:
        """Create a person; returns the MPI-PID as CX ``ID^^^&mpi_oid&ISO``.

        ``telecoms``: e.g. ``Telecom("mailto:anna@example.ch")`` (the address emergency-access notices
        go to). Raises ``ValueError`` (an :class:`~profiles.hl7v3.errors.MpiError`) with a clear message
        on a bad EPR-SPID, a NAVS13, an EPR-SPID or local id already in the MPI.
        """
        gender = (gender or "U").upper()
        if gender not in GENDERS:
            raise M.GENDER_INVALID.store_error(allowed=", ".join(GENDERS), gender=gender)
        given_parts = tuple(g for g in (given or "").split() if g)
        feed = PatientFeed(
            epr_spid=epr_spid,
            demographics=Demographics(names=(PersonName(family=family or "", given=given_parts),),
                                      birth_date=birth_date, gender=gender, telecoms=tuple(telecoms)),
            local_ids=tuple(local_ids), mpi_pid=mpi_pid)
        try:
            with write_transaction(self.engine) as conn:
                existing = self._row_by_spid(conn, epr_spid) if not epr_spid_entry_problem(epr_spid) else None
                if existing is not None:
                    raise M.SPID_TAKEN.store_error(spid=epr_spid, mpi_pid=existing.mpi_pid)
                patient = self._feed_add(conn, feed)
        except IntegrityError as exc:   # lost a race with a concurrent add of the same identifiers
            raise M.IDENTIFIER_TAKEN.store_error(reason=exc.orig) from None
        return self.mpi_cx(patient.mpi_pid)

    _KNOWN_PID = sa.select(mpi_patient.c.status).where(mpi_patient.c.mpi_pid == sa.bindparam("pid"))

    def is_known_mpi_pid(self, pid: str, conn: Connection | None = None) -> bool:
        """True when ``pid`` (the id part under ``mpi_oid``) names an active, not merged, person.

        ``conn``: check on this connection (the caller's transaction) instead of taking one from
        the pool -- the registry checks the patient inside its own write or read transaction.
        """
        if not pid:
            return False
        if conn is not None:
            row = conn.execute(self._KNOWN_PID, {"pid": pid}).first()
        else:
            with self._reader.connect() as own:
                row = own.execute(self._KNOWN_PID, {"pid": pid}).first()
        return row is not None and row.status == STATUS_ACTIVE

    def bound(self, conn: Connection) -> "BoundPatientIndex":
        """This MPI's patient check on ``conn`` (the registry's ``PatientIndex`` port)."""
        return BoundPatientIndex(self, conn)

    def find_by_epr_spid(self, spid: str) -> CX | None:
        """The MPI-PID (CX) of the active person with this EPR-SPID, or None (also for a bad SPID)."""
        if epr_spid_entry_problem(spid):
            return None
        with self._reader.connect() as conn:
            row = self._row_by_spid(conn, spid)
        if row is None or row.status != STATUS_ACTIVE:
            return None
        return self.mpi_cx(row.mpi_pid)

    def email_of(self, spid: str) -> str | None:
        """The patient's e-mail address (the first ``mailto:`` telecom), or None."""
        if epr_spid_entry_problem(spid):
            return None
        patient = self.find(CX(id=spid, oid=EPR_SPID_OID))
        if patient is None:
            return None
        for t in patient.demographics.telecoms:
            if t.value.lower().startswith("mailto:"):
                return t.value[len("mailto:"):]
        return None

    def mpi_cx(self, pid: str) -> CX:
        return CX(id=pid, oid=self.mpi_oid)

    # -- MpiPort -------------------------------------------------------------------------------

    def _record_audit(self, conn: Connection, audit, patient: Patient):
        """Durable first: the audit event ``audit(patient)`` builds, stored on ``conn`` (the write's
        own transaction, as its last statement); None when no audit is asked for or stored."""
        if audit is None or self.audit is None:
            return None
        return self.audit.record_in(conn, audit(patient))

    def _audit_stored(self, rec) -> None:
        if rec is not None:
            self.audit.stored(rec)

    def feed_add(self, feed: PatientFeed, audit=None) -> Patient:
        for attempt in range(LOCK_RETRIES):
            try:
                with write_transaction(self.engine) as conn:
                    patient = self._feed_add(conn, feed)
                    rec = self._record_audit(conn, audit, patient)
                self._audit_stored(rec)
                return patient
            except IntegrityError as exc:  # a concurrent feed of the same person: retry, then explain
                if attempt >= 2:
                    raise M.CONCURRENT_UPDATE.store_error(reason=exc.orig) from None
            except OperationalError as exc:
                _retry_or_raise(exc, attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def feed_revise(self, key_id: CX, feed: PatientFeed, audit=None) -> Patient:
        self._check_feed(feed, require_spid=False)
        with write_transaction(self.engine) as conn:
            row = self._find_row(conn, key_id)
            if row is None:
                raise M.NO_PATIENT_WITH.store_error(role="", patient=key_id)
            if feed.epr_spid and feed.epr_spid != row.epr_spid:
                raise M.SPID_CHANGE.store_error(spid=feed.epr_spid)
            if feed.mpi_pid and feed.mpi_pid != row.mpi_pid:
                raise M.MPI_PID_CHANGE.store_error(mpi_pid=feed.mpi_pid)
            self._attach_local_ids(conn, row.id, feed.local_ids)
            self._write_demographics(conn, row.id, feed.demographics)
            patient = self._load(conn, [row.id])[0]
            rec = self._record_audit(conn, audit, patient)
        self._audit_stored(rec)
        return patient

    def merge(self, survivor_id: CX, obsolete_id: CX, message_id: str = "", audit=None) -> Patient:
        with write_transaction(self.engine) as conn:
            survivor = self._find_row(conn, survivor_id)
            if survivor is None:
                raise M.NO_PATIENT_WITH.store_error(role="the surviving ", patient=survivor_id)
            obsolete = self._find_row(conn, obsolete_id)
            if obsolete is None:
                raise M.NO_PATIENT_WITH.store_error(role="the obsolete ", patient=obsolete_id)
            if obsolete.id == survivor.id:
                raise M.SAME_PATIENT.store_error(survivor=survivor_id, obsolete=obsolete_id)
            moved = [f"{r.id_value}^^^&{r.oid}&ISO" for r in conn.execute(
                sa.select(mpi_local_id.c.id_value, mpi_local_id.c.oid)
                .where(mpi_local_id.c.patient_id == obsolete.id))]
            conn.execute(mpi_local_id.update().where(mpi_local_id.c.patient_id == obsolete.id)
                         .values(patient_id=survivor.id))
            conn.execute(mpi_name.delete().where(mpi_name.c.patient_id == obsolete.id))
            conn.execute(mpi_address.delete().where(mpi_address.c.patient_id == obsolete.id))
            conn.execute(mpi_patient.update().where(mpi_patient.c.merged_into == obsolete.id)
                         .values(merged_into=survivor.id))
            conn.execute(mpi_patient.update().where(mpi_patient.c.id == obsolete.id)
                         .values(status=STATUS_MERGED, merged_into=survivor.id, updated_at=_now()))
            conn.execute(mpi_patient.update().where(mpi_patient.c.id == survivor.id).values(updated_at=_now()))
            conn.execute(mpi_merge.insert().values(survivor_id=survivor.id, merged_id=obsolete.id,
                                                   merged_at=_now(), message_id=message_id or "",
                                                   moved_local_ids=moved))
            patient = self._load(conn, [survivor.id])[0]
            rec = self._record_audit(conn, audit, patient)
        self._audit_stored(rec)
        return patient

    def find(self, identifier: CX) -> Patient | None:
        """One statement: the patient row joined with all its local ids."""
        kind = "mpi" if identifier.oid == self.mpi_oid else "spid" if identifier.oid == EPR_SPID_OID else "local"
        stmt = FIND_STATEMENTS[kind]
        params = {"status": STATUS_ACTIVE, "id": identifier.id}
        if kind == "local":
            params["oid"] = identifier.oid
        with self._reader.connect() as conn:
            found = patients_from_rows(conn.execute(stmt, params))
        return found[0] if found else None

    def is_known_domain(self, oid: str) -> bool:
        if oid in self._known_domains:
            return True
        with self._reader.connect() as conn:
            found = conn.execute(sa.select(mpi_local_id.c.id).where(mpi_local_id.c.oid == oid).limit(1)).first()
        if found is not None:
            self._known_domains.add(oid)   # domains never disappear: positive answers are cached
            return True
        return False

    def candidates(self, query: DemographicQuery) -> list[Patient]:
        """One statement: the candidates (indexed criteria, at most SEARCH_CANDIDATE_CAP) with
        their local ids; the statement is built once per query shape and reused (bound values)."""
        shape, params = search_shape(query, self.mpi_oid)
        stmt = self._search_cache.get(shape)
        with self._reader.connect() as conn:
            conn = conn.execution_options(compiled_cache=self._search_cache.compiled_cache(shape))
            patients = patients_from_rows(conn.execute(stmt, params))
        self._search_cache.keep(shape, stmt)   # only a statement that ran is kept
        return patients

    def search(self, query: DemographicQuery, limit: int) -> list[SearchHit]:
        """The candidates matched and scored by the PDQ rule, best first, at most ``limit``."""
        return rank(self.candidates(query), query, limit)

    # -- QueryStatePort (PDQ continuations, shared by all gateway processes) ------------------

    def save(self, query_key: str, state: QueryState) -> None:
        self.query_states.save(query_key, state)

    def load(self, query_key: str) -> QueryState | None:
        return self.query_states.load(query_key)

    def delete(self, query_key: str) -> bool:
        return self.query_states.delete(query_key)

    def purge_query_states(self, older_than: _dt.timedelta) -> int:
        """Drop continuations older than ``older_than`` (housekeeping)."""
        return self.query_states.purge_query_states(older_than)

    def bulk_load(self, feeds: Sequence[PatientFeed]) -> int:
        """Insert many new persons in one transaction (``gateway.store.mpi_bulk``)."""
        return bulk_load(self, feeds)

    def get_many(self, keys: Sequence[int]) -> list[Patient]:
        with self._reader.connect() as conn:
            return self._load(conn, list(keys))

    def history(self, identifier: CX) -> list[dict[str, Any]]:
        """Merge history of the person ``identifier`` names (merges it survived)."""
        with self.engine.connect() as conn:
            row = self._find_row(conn, identifier)
            if row is None:
                return []
            merged = mpi_patient.alias("merged")
            rows = conn.execute(
                sa.select(mpi_merge.c.merged_at, mpi_merge.c.message_id, mpi_merge.c.moved_local_ids,
                          merged.c.mpi_pid, merged.c.epr_spid)
                .join(merged, merged.c.id == mpi_merge.c.merged_id)
                .where(mpi_merge.c.survivor_id == row.id).order_by(mpi_merge.c.id))
            return [dict(r._mapping) for r in rows]

    # -- internals -----------------------------------------------------------------------------

    def _check_feed(self, feed: PatientFeed, *, require_spid: bool) -> None:
        if require_spid or feed.epr_spid is not None:
            problem = epr_spid_entry_problem(feed.epr_spid)
            if problem:
                raise problem.store_error()
        if feed.mpi_pid is not None:
            if not feed.mpi_pid.strip() or len(feed.mpi_pid) > 64:
                raise M.MPI_PID_LENGTH.store_error(mpi_pid=feed.mpi_pid)
            if looks_like_navs13(feed.mpi_pid):
                raise M.NAVS13.store_error()
        seen: set[tuple[str, str]] = set()
        for cx in feed.local_ids:
            if cx.oid in (self.mpi_oid, EPR_SPID_OID):
                raise M.NOT_A_LOCAL_ID.store_error(cx=cx, domain="MPI" if cx.oid == self.mpi_oid else "EPR-SPID")
            problem = identifier_problem(cx.id, cx.oid, mpi_oid=self.mpi_oid)
            if problem:
                if problem.entry is M.NAVS13:
                    raise M.NAVS13.store_error()
                raise M.LOCAL_ID_INVALID.store_error(cx=cx, problem=problem)
            if (cx.oid, cx.id) in seen:
                raise M.LOCAL_ID_TWICE.store_error(cx=cx)
            seen.add((cx.oid, cx.id))
        gender = feed.demographics.gender
        if gender not in GENDERS:
            raise M.GENDER_INVALID.store_error(allowed=", ".join(GENDERS), gender=gender)

    def _feed_add(self, conn: Connection, feed: PatientFeed) -> Patient:
        self._check_feed(feed, require_spid=True)
        row = self._row_by_spid(conn, feed.epr_spid or "")
        if row is not None and row.status != STATUS_ACTIVE:
            survivor = conn.execute(sa.select(mpi_patient.c.mpi_pid)
                                    .where(mpi_patient.c.id == row.merged_into)).scalar()
            raise M.SPID_MERGED.store_error(spid=feed.epr_spid, survivor=survivor)
        if feed.mpi_pid is not None:
            owner = conn.execute(sa.select(mpi_patient.c.id).where(mpi_patient.c.mpi_pid == feed.mpi_pid)).scalar()
            if owner is not None and (row is None or owner != row.id):
                raise M.MPI_PID_TAKEN.store_error(mpi_pid=feed.mpi_pid)
            if row is not None and row.mpi_pid != feed.mpi_pid:
                raise M.SPID_HAS_OTHER_PID.store_error(spid=feed.epr_spid, mpi_pid=row.mpi_pid, wanted=feed.mpi_pid)
        if row is None:
            for cx in feed.local_ids:
                if self._local_owner(conn, cx) is not None:
                    raise M.LOCAL_ID_TAKEN.store_error(cx=cx)
            now = _now()
            primary = feed.demographics.primary_name
            key = conn.execute(mpi_patient.insert().values(
                mpi_pid=feed.mpi_pid or str(uuid.uuid4()), epr_spid=feed.epr_spid, status=STATUS_ACTIVE,
                family_norm=normalize(primary.family)[:255], given_norm=normalize(primary.given_text)[:255],
                birth_date=feed.demographics.birth_date, gender=feed.demographics.gender,
                demographics=demographics_to_json(feed.demographics), created_at=now, updated_at=now,
            ).returning(mpi_patient.c.id)).scalar_one()
            if feed.demographics.names:
                conn.execute(mpi_name.insert(), self._name_rows(key, feed.demographics))
            if any(not a.is_empty() for a in feed.demographics.addresses):
                conn.execute(mpi_address.insert(), self._address_rows(key, feed.demographics))
            self._attach_local_ids(conn, key, feed.local_ids)
        else:
            key = row.id
            self._attach_local_ids(conn, key, feed.local_ids)
            self._write_demographics(conn, key, feed.demographics)
        return self._load(conn, [key])[0]

    def _attach_local_ids(self, conn: Connection, key: int, local_ids: Iterable[CX]) -> None:
        new = []
        for cx in local_ids:
            owner = self._local_owner(conn, cx)
            if owner is None:
                new.append(dict(patient_id=key, oid=cx.oid, id_value=cx.id, namespace=cx.namespace))
            elif owner != key:
                raise M.LOCAL_ID_TAKEN.store_error(cx=cx)
        if new:
            conn.execute(mpi_local_id.insert(), new)
            self._known_domains.update(r["oid"] for r in new)

    def _write_demographics(self, conn: Connection, key: int, d: Demographics) -> None:
        primary = d.primary_name
        conn.execute(mpi_patient.update().where(mpi_patient.c.id == key).values(
            family_norm=normalize(primary.family)[:255], given_norm=normalize(primary.given_text)[:255],
            birth_date=d.birth_date, gender=d.gender, demographics=demographics_to_json(d), updated_at=_now()))
        conn.execute(mpi_name.delete().where(mpi_name.c.patient_id == key))
        conn.execute(mpi_address.delete().where(mpi_address.c.patient_id == key))
        if d.names:
            conn.execute(mpi_name.insert(), self._name_rows(key, d))
        addrs = self._address_rows(key, d)
        if addrs:
            conn.execute(mpi_address.insert(), addrs)

    _name_rows = staticmethod(name_rows)
    _address_rows = staticmethod(address_rows)

    @staticmethod
    def _row_by_spid(conn: Connection, spid: str):
        return conn.execute(sa.select(mpi_patient.c.id, mpi_patient.c.mpi_pid, mpi_patient.c.epr_spid,
                                      mpi_patient.c.status, mpi_patient.c.merged_into)
                            .where(mpi_patient.c.epr_spid == spid)).first()

    @staticmethod
    def _local_owner(conn: Connection, cx: CX) -> int | None:
        return conn.execute(sa.select(mpi_local_id.c.patient_id)
                            .where(mpi_local_id.c.oid == cx.oid, mpi_local_id.c.id_value == cx.id)).scalar()

    def _find_row(self, conn: Connection, cx: CX):
        """The active patient row a local id, MPI-PID or EPR-SPID names."""
        cols = (mpi_patient.c.id, mpi_patient.c.mpi_pid, mpi_patient.c.epr_spid, mpi_patient.c.status)
        if cx.oid == self.mpi_oid:
            where = mpi_patient.c.mpi_pid == cx.id
            stmt = sa.select(*cols).where(where)
        elif cx.oid == EPR_SPID_OID:
            stmt = sa.select(*cols).where(mpi_patient.c.epr_spid == cx.id)
        else:
            stmt = (sa.select(*cols).join(mpi_local_id, mpi_local_id.c.patient_id == mpi_patient.c.id)
                    .where(mpi_local_id.c.oid == cx.oid, mpi_local_id.c.id_value == cx.id))
        row = conn.execute(stmt).first()
        return row if row is not None and row.status == STATUS_ACTIVE else None

    def _load(self, conn: Connection, keys: list[int]) -> list[Patient]:
        """Patients by key in the order given; merged ones are skipped."""
        if not keys:
            return []
        found = {p.key: p for p in patients_from_rows(conn.execute(
            LOAD_STATEMENT, {"keys": list(keys), "status": STATUS_ACTIVE}))}
        return [found[k] for k in keys if k in found]

class BoundPatientIndex:
    """``MpiStore.is_known_mpi_pid`` on one connection: the registry's patient check inside the
    transaction that registers (no second pooled connection, no extra round trips)."""

    def __init__(self, store: MpiStore, conn: Connection) -> None:
        self._store = store
        self._conn = conn

    def is_known_mpi_pid(self, pid: str) -> bool:
        return self._store.is_known_mpi_pid(pid, self._conn)

