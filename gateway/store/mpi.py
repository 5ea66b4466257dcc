"""The master patient index on SQLAlchemy Core: tables, and :class:`MpiStore` (the MPI port).

One row in ``mpi_patient`` per person, unique on the EPR-SPID and on the MPI-PID (the id part
under ``mpi_oid``, the patient id of all XDS metadata). Local ids of the source systems sit in
``mpi_local_id`` (unique per id + assigning authority OID). Names and addresses are repeated,
normalised (case- and accent-insensitive), in ``mpi_name`` / ``mpi_address`` for the PDQ hot
paths; the full demographics are kept as JSON on the patient row. ``mpi_merge`` is the merge
history, ``mpi_query_state`` holds PDQ continuations so that any gateway process can serve them.

Every public method that writes runs in one transaction. The tables are created by the Alembic
migration ``0002_mpi``; this module only describes them.
"""
from __future__ import annotations

import datetime as _dt
import itertools
import json
import time
import uuid
from collections import OrderedDict
from typing import Any, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from gateway.store.db import metadata, write_transaction
from profiles.ch.identifiers import CX, EPR_SPID_OID, looks_like_navs13
from profiles.hl7v3.errors import (
    ConflictingIdentifier,
    DuplicateIdentifier,
    InvalidIdentifier,
    UnknownPatient,
)
from profiles.hl7v3.mpi import (
    GENDERS,
    NAVS13_MESSAGE,
    STATUS_ACTIVE,
    STATUS_MERGED,
    Address,
    Demographics,
    Patient,
    PatientFeed,
    PersonName,
    Telecom,
    epr_spid_entry_problem,
    identifier_problem,
    normalize,
    prefix_upper_bound,
)
from profiles.hl7v3.ports import DemographicQuery, NameCriterion, QueryState, SearchHit

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

mpi_patient = sa.Table(
    "mpi_patient", metadata,
    sa.Column("id", _PK, primary_key=True, autoincrement=True),
    sa.Column("mpi_pid", sa.String(64), nullable=False, unique=True),
    sa.Column("epr_spid", sa.String(18), nullable=False, unique=True),
    sa.Column("status", sa.String(16), nullable=False, default=STATUS_ACTIVE),
    sa.Column("merged_into", _PK, sa.ForeignKey("mpi_patient.id"), nullable=True),
    sa.Column("family_norm", sa.String(255), nullable=False, default=""),
    sa.Column("given_norm", sa.String(255), nullable=False, default=""),
    sa.Column("birth_date", sa.Date, nullable=True),
    sa.Column("gender", sa.String(1), nullable=False, default="U"),
    sa.Column("demographics", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_mpi_patient_birth_date", "birth_date"),
    sa.Index("ix_mpi_patient_merged_into", "merged_into"),
)

mpi_local_id = sa.Table(
    "mpi_local_id", metadata,
    sa.Column("id", _PK, primary_key=True, autoincrement=True),
    sa.Column("patient_id", _PK, sa.ForeignKey("mpi_patient.id", ondelete="CASCADE"), nullable=False),
    sa.Column("oid", sa.String(64), nullable=False),
    sa.Column("id_value", sa.String(255), nullable=False),
    sa.Column("namespace", sa.String(255), nullable=False, default=""),
    sa.UniqueConstraint("oid", "id_value", name="uq_mpi_local_id_oid_value"),
    sa.Index("ix_mpi_local_id_patient", "patient_id"),
)

mpi_name = sa.Table(
    "mpi_name", metadata,
    sa.Column("id", _PK, primary_key=True, autoincrement=True),
    sa.Column("patient_id", _PK, sa.ForeignKey("mpi_patient.id", ondelete="CASCADE"), nullable=False),
    sa.Column("family_norm", sa.String(255), nullable=False),
    sa.Column("given_norm", sa.String(255), nullable=False),
    sa.Column("birth_date", sa.Date, nullable=True),          # copy of the patient's, for the index
    sa.Index("ix_mpi_name_family_birth", "family_norm", "birth_date"),
    sa.Index("ix_mpi_name_patient", "patient_id"),
)

mpi_address = sa.Table(
    "mpi_address", metadata,
    sa.Column("id", _PK, primary_key=True, autoincrement=True),
    sa.Column("patient_id", _PK, sa.ForeignKey("mpi_patient.id", ondelete="CASCADE"), nullable=False),
    sa.Column("street_norm", sa.String(255), nullable=False, default=""),
    sa.Column("city_norm", sa.String(255), nullable=False, default=""),
    sa.Column("postal_code", sa.String(32), nullable=False, default=""),
    sa.Column("state_norm", sa.String(255), nullable=False, default=""),
    sa.Column("country_norm", sa.String(64), nullable=False, default=""),
    sa.Index("ix_mpi_address_postal_city", "postal_code", "city_norm"),
    sa.Index("ix_mpi_address_city", "city_norm"),
    sa.Index("ix_mpi_address_patient", "patient_id"),
)

mpi_merge = sa.Table(
    "mpi_merge", metadata,
    sa.Column("id", _PK, primary_key=True, autoincrement=True),
    sa.Column("survivor_id", _PK, sa.ForeignKey("mpi_patient.id"), nullable=False),
    sa.Column("merged_id", _PK, sa.ForeignKey("mpi_patient.id"), nullable=False),
    sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("message_id", sa.String(255), nullable=False, default=""),
    sa.Column("moved_local_ids", sa.JSON, nullable=False),
    sa.Index("ix_mpi_merge_survivor", "survivor_id"),
    sa.Index("ix_mpi_merge_merged", "merged_id"),
)

mpi_query_state = sa.Table(
    "mpi_query_state", metadata,
    sa.Column("query_key", sa.String(512), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Index("ix_mpi_query_state_created", "created_at"),
)

#: Hard cap on candidate rows one search reads before post-filtering.
SEARCH_CANDIDATE_CAP = 5000


def _patients_statement(where: Any) -> sa.Select:
    """Active patients matching ``where`` with their local ids (outer join: one row per local id,
    in key then local-id order); read with :func:`_patients_from_rows`."""
    return (sa.select(mpi_patient.c.id, mpi_patient.c.mpi_pid, mpi_patient.c.epr_spid, mpi_patient.c.status,
                      mpi_patient.c.demographics, mpi_local_id.c.oid, mpi_local_id.c.id_value,
                      mpi_local_id.c.namespace)
            .select_from(mpi_patient.outerjoin(mpi_local_id, mpi_local_id.c.patient_id == mpi_patient.c.id))
            .where(mpi_patient.c.status == sa.bindparam("status"), where)
            .order_by(mpi_patient.c.id, mpi_local_id.c.id))


def _patients_from_rows(rows: Iterable[Any]) -> list["Patient"]:
    out: list[Patient] = []
    cur = None
    local: list[CX] = []
    for key, mpi_pid, epr_spid, status, demo, oid, id_value, namespace in rows:
        if cur is None or cur[0] != key:
            if cur is not None:
                out.append(Patient(mpi_pid=cur[1], epr_spid=cur[2], demographics=demographics_from_json(cur[4]),
                                   local_ids=tuple(local), status=cur[3], key=cur[0]))
            cur, local = (key, mpi_pid, epr_spid, status, demo), []
        if oid is not None:
            local.append(CX(id=id_value, oid=oid, namespace=namespace or ""))
    if cur is not None:
        out.append(Patient(mpi_pid=cur[1], epr_spid=cur[2], demographics=demographics_from_json(cur[4]),
                           local_ids=tuple(local), status=cur[3], key=cur[0]))
    return out


_LOAD_STATEMENT = _patients_statement(mpi_patient.c.id.in_(sa.bindparam("keys", expanding=True)))
_FIND_STATEMENTS = {
    "mpi": _patients_statement(mpi_patient.c.mpi_pid == sa.bindparam("id")),
    "spid": _patients_statement(mpi_patient.c.epr_spid == sa.bindparam("id")),
    "local": _patients_statement(mpi_patient.c.id == sa.select(mpi_local_id.c.patient_id).where(
        mpi_local_id.c.oid == sa.bindparam("oid"), mpi_local_id.c.id_value == sa.bindparam("id")).scalar_subquery()),
}


#: SQLite answers "database is locked" to concurrent writers now and then (seen with several
#: gateway processes on one file even under BEGIN IMMEDIATE): writes are retried with backoff.
LOCK_RETRIES = 6


def _retry_or_raise(exc: OperationalError, attempt: int) -> None:
    if "locked" not in str(exc.orig).lower() or attempt == LOCK_RETRIES - 1:
        raise exc
    time.sleep(0.02 * (2 ** attempt))


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


# -- demographics <-> JSON ---------------------------------------------------------------------

def demographics_to_json(d: Demographics) -> dict[str, Any]:
    return {
        "names": [{"family": n.family, "given": list(n.given), "prefix": n.prefix, "suffix": n.suffix,
                   "use": n.use, "qualifier": n.qualifier} for n in d.names],
        "birth_date": d.birth_date.isoformat() if d.birth_date else None,
        "gender": d.gender,
        "addresses": [{"street_lines": list(a.street_lines), "city": a.city, "postal_code": a.postal_code,
                       "state": a.state, "country": a.country, "use": a.use} for a in d.addresses],
        "telecoms": [{"value": t.value, "use": t.use} for t in d.telecoms],
        "mothers_maiden_name": d.mothers_maiden_name,
        "multiple_birth": d.multiple_birth,
        "multiple_birth_order": d.multiple_birth_order,
        "deceased": d.deceased,
        "deceased_date": d.deceased_date.isoformat() if d.deceased_date else None,
    }


def demographics_dumps(d: Demographics) -> str:
    """The JSON text of ``demographics`` (what the JSON column holds)."""
    return json.dumps(demographics_to_json(d), ensure_ascii=False, separators=(",", ":"))


def demographics_from_json(data: dict[str, Any] | str) -> Demographics:
    if isinstance(data, str):
        data = json.loads(data)
    return Demographics(
        names=tuple(PersonName(family=n.get("family", ""), given=tuple(n.get("given", ())),
                               prefix=n.get("prefix", ""), suffix=n.get("suffix", ""),
                               use=n.get("use", ""), qualifier=n.get("qualifier", ""))
                    for n in data.get("names", ())),
        birth_date=_dt.date.fromisoformat(data["birth_date"]) if data.get("birth_date") else None,
        gender=data.get("gender") or "U",
        addresses=tuple(Address(street_lines=tuple(a.get("street_lines", ())), city=a.get("city", ""),
                                postal_code=a.get("postal_code", ""), state=a.get("state", ""),
                                country=a.get("country", ""), use=a.get("use", ""))
                        for a in data.get("addresses", ())),
        telecoms=tuple(Telecom(value=t.get("value", ""), use=t.get("use", "")) for t in data.get("telecoms", ())),
        mothers_maiden_name=data.get("mothers_maiden_name", ""),
        multiple_birth=data.get("multiple_birth"),
        multiple_birth_order=data.get("multiple_birth_order"),
        deceased=data.get("deceased"),
        deceased_date=_dt.date.fromisoformat(data["deceased_date"]) if data.get("deceased_date") else None,
    )


class MpiStore:
    """The MPI on a SQLAlchemy engine; implements ``profiles.hl7v3.ports.MpiPort`` and
    ``QueryStatePort`` and the small API the rest of the gateway uses (``add_patient``,
    ``is_known_mpi_pid``, ``find_by_epr_spid``)."""

    #: Search statements kept (one per query shape, least recently used dropped first).
    SEARCH_CACHE_SIZE = 128

    def __init__(self, engine: Engine, mpi_oid: str) -> None:
        self.engine = engine
        self.mpi_oid = mpi_oid
        self._known_domains: set[str] = {mpi_oid, EPR_SPID_OID}
        #: Search statements by query shape, least recently used dropped first (bounded memory
        #: whatever the sequence of queries; a statement is kept only once it has run).
        self._search_cache: "OrderedDict[tuple, sa.Select]" = OrderedDict()
        # Reads are single statements: on PostgreSQL they run in autocommit, which saves the
        # BEGIN and ROLLBACK round trips of a pooled connection (2 instead of 4 per read).
        self._reader = (engine.execution_options(isolation_level="AUTOCOMMIT")
                        if engine.dialect.name == "postgresql" else engine)

    # -- API for the rest of the gateway -----------------------------------------------------

    def add_patient(self, epr_spid: str, family: str, given: str, birth_date: _dt.date | None,
                    gender: str, local_ids: Iterable[CX] = (), mpi_pid: str | None = None) -> CX:
        """Create a person; returns the MPI-PID as CX ``ID^^^&mpi_oid&ISO``.

        Raises ``ValueError`` (an :class:`~profiles.hl7v3.errors.MpiError`) with a clear message
        on a bad EPR-SPID, a NAVS13, an EPR-SPID or local id already in the MPI.
        """
        gender = (gender or "U").upper()
        if gender not in GENDERS:
            raise InvalidIdentifier(f"gender must be one of {', '.join(GENDERS)}, not {gender!r}")
        given_parts = tuple(g for g in (given or "").split() if g)
        feed = PatientFeed(
            epr_spid=epr_spid,
            demographics=Demographics(names=(PersonName(family=family or "", given=given_parts),),
                                      birth_date=birth_date, gender=gender),
            local_ids=tuple(local_ids), mpi_pid=mpi_pid)
        try:
            with write_transaction(self.engine) as conn:
                existing = self._row_by_spid(conn, epr_spid) if not epr_spid_entry_problem(epr_spid) else None
                if existing is not None:
                    raise DuplicateIdentifier(
                        f"EPR-SPID {epr_spid} is already in the MPI (MPI-PID {existing.mpi_pid})")
                patient = self._feed_add(conn, feed)
        except IntegrityError as exc:   # lost a race with a concurrent add of the same identifiers
            raise DuplicateIdentifier(f"EPR-SPID, MPI-PID or local id already in the MPI: {exc.orig}") from None
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

    def mpi_cx(self, pid: str) -> CX:
        return CX(id=pid, oid=self.mpi_oid)

    # -- MpiPort -------------------------------------------------------------------------------

    def feed_add(self, feed: PatientFeed) -> Patient:
        for attempt in range(LOCK_RETRIES):
            try:
                with write_transaction(self.engine) as conn:
                    return self._feed_add(conn, feed)
            except IntegrityError as exc:  # a concurrent feed of the same person: retry, then explain
                if attempt >= 2:
                    raise DuplicateIdentifier(f"identifier already in the MPI (concurrent update): {exc.orig}") from None
            except OperationalError as exc:
                _retry_or_raise(exc, attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def feed_revise(self, key_id: CX, feed: PatientFeed) -> Patient:
        self._check_feed(feed, require_spid=False)
        with write_transaction(self.engine) as conn:
            row = self._find_row(conn, key_id)
            if row is None:
                raise UnknownPatient(f"no patient with identifier {key_id}")
            if feed.epr_spid and feed.epr_spid != row.epr_spid:
                raise ConflictingIdentifier(
                    f"EPR-SPID {feed.epr_spid} differs from the patient's EPR-SPID; a revise cannot change it")
            if feed.mpi_pid and feed.mpi_pid != row.mpi_pid:
                raise ConflictingIdentifier(f"MPI-PID {feed.mpi_pid} differs from the patient's MPI-PID")
            self._attach_local_ids(conn, row.id, feed.local_ids)
            self._write_demographics(conn, row.id, feed.demographics)
            return self._load(conn, [row.id])[0]

    def merge(self, survivor_id: CX, obsolete_id: CX, message_id: str = "") -> Patient:
        with write_transaction(self.engine) as conn:
            survivor = self._find_row(conn, survivor_id)
            if survivor is None:
                raise UnknownPatient(f"no patient with the surviving identifier {survivor_id}")
            obsolete = self._find_row(conn, obsolete_id)
            if obsolete is None:
                raise UnknownPatient(f"no patient with the obsolete identifier {obsolete_id}")
            if obsolete.id == survivor.id:
                raise ConflictingIdentifier(f"{survivor_id} and {obsolete_id} already name the same patient")
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
            return self._load(conn, [survivor.id])[0]

    def find(self, identifier: CX) -> Patient | None:
        """One statement: the patient row joined with all its local ids."""
        kind = self._id_kind(identifier.oid)
        stmt = _FIND_STATEMENTS[kind]
        params = {"status": STATUS_ACTIVE, "id": identifier.id}
        if kind == "local":
            params["oid"] = identifier.oid
        with self._reader.connect() as conn:
            found = _patients_from_rows(conn.execute(stmt, params))
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

    def search(self, query: DemographicQuery, limit: int) -> list[SearchHit]:
        """One statement: the candidates (indexed criteria, at most SEARCH_CANDIDATE_CAP) with
        their local ids; the statement is built once per query shape and reused (bound values)."""
        shape, params = self._search_shape(query)
        cache = self._search_cache
        stmt = cache.get(shape)
        if stmt is None:
            stmt = self._build_search(shape)
        else:
            cache.move_to_end(shape)
        with self._reader.connect() as conn:
            patients = _patients_from_rows(conn.execute(stmt, params))
        if shape not in cache:   # only a statement that ran is kept
            cache[shape] = stmt
            while len(cache) > self.SEARCH_CACHE_SIZE:
                cache.popitem(last=False)
        hits = []
        for patient in patients:
            score = _score(patient, query)
            if score is not None:
                hits.append(SearchHit(patient, score))
        hits.sort(key=lambda h: (-h.score, h.patient.key or 0))
        return hits[:limit]

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

    # -- QueryStatePort (PDQ continuations, shared by all gateway processes) ------------------

    def save(self, query_key: str, state: QueryState) -> None:
        data = {"keys": state.keys, "scores": state.scores, "position": state.position,
                "return_domains": list(state.return_domains),
                "qbp": state.query_by_parameter.decode("utf-8"), "extra": state.extra}
        with write_transaction(self.engine) as conn:
            conn.execute(mpi_query_state.delete().where(mpi_query_state.c.query_key == query_key))
            conn.execute(mpi_query_state.insert().values(query_key=query_key, created_at=_now(), state=data))

    def load(self, query_key: str) -> QueryState | None:
        with self._reader.connect() as conn:
            row = conn.execute(sa.select(mpi_query_state.c.state)
                               .where(mpi_query_state.c.query_key == query_key)).first()
        if row is None:
            return None
        data = row.state if isinstance(row.state, dict) else json.loads(row.state)
        return QueryState(keys=list(data["keys"]), scores=list(data["scores"]), position=data["position"],
                          return_domains=tuple(data.get("return_domains", ())),
                          query_by_parameter=data.get("qbp", "").encode("utf-8"), extra=data.get("extra", {}))

    def delete(self, query_key: str) -> bool:
        with write_transaction(self.engine) as conn:
            return conn.execute(mpi_query_state.delete()
                                .where(mpi_query_state.c.query_key == query_key)).rowcount > 0

    def purge_query_states(self, older_than: _dt.timedelta) -> int:
        """Drop continuations older than ``older_than`` (housekeeping)."""
        with write_transaction(self.engine) as conn:
            return conn.execute(mpi_query_state.delete()
                                .where(mpi_query_state.c.created_at < _now() - older_than)).rowcount

    # -- bulk load (benchmarks, migrations) ----------------------------------------------------

    def bulk_load(self, feeds: Sequence[PatientFeed]) -> int:
        """Insert many new persons in one transaction (no linking: all identifiers must be new).

        Fast path for benchmarks and migrations: patient keys are allocated up front (the PostgreSQL
        sequence; max(id) under SQLite's write lock), then every table is written in one go
        (``COPY ... FROM STDIN`` on PostgreSQL, ``executemany`` on SQLite)."""
        for feed in feeds:
            self._check_feed(feed, require_spid=True)
        if not feeds:
            return 0
        now = _now()
        with write_transaction(self.engine) as conn:
            pg = conn.dialect.name == "postgresql"
            n = len(feeds)
            if pg:
                keys = list(conn.execute(sa.text(
                    "SELECT nextval(pg_get_serial_sequence('mpi_patient', 'id')) FROM generate_series(1, :n)"),
                    {"n": n}).scalars())
            else:
                top = conn.execute(sa.select(sa.func.max(mpi_patient.c.id))).scalar() or 0
                keys = list(range(top + 1, top + 1 + n))
            patients, names, addrs, lids = [], [], [], []
            for key, feed in zip(keys, feeds):
                d = feed.demographics
                primary = d.primary_name
                patients.append((key, feed.mpi_pid or str(uuid.uuid4()), feed.epr_spid, STATUS_ACTIVE,
                                 normalize(primary.family)[:255], normalize(primary.given_text)[:255],
                                 d.birth_date, d.gender, demographics_dumps(d), now, now))
                names += [(r["patient_id"], r["family_norm"], r["given_norm"], r["birth_date"])
                          for r in self._name_rows(key, d)]
                addrs += [(r["patient_id"], r["street_norm"], r["city_norm"], r["postal_code"], r["state_norm"],
                           r["country_norm"]) for r in self._address_rows(key, d)]
                lids += [(key, cx.oid, cx.id, cx.namespace or "") for cx in feed.local_ids]
            plan = ((mpi_patient, ("id", "mpi_pid", "epr_spid", "status", "family_norm", "given_norm",
                                   "birth_date", "gender", "demographics", "created_at", "updated_at"), patients),
                    (mpi_name, ("patient_id", "family_norm", "given_norm", "birth_date"), names),
                    (mpi_address, ("patient_id", "street_norm", "city_norm", "postal_code", "state_norm",
                                   "country_norm"), addrs),
                    (mpi_local_id, ("patient_id", "oid", "id_value", "namespace"), lids))
            dbapi = conn.connection.dbapi_connection
            for table, cols, rows in plan:
                if not rows:
                    continue
                if pg:
                    with dbapi.cursor() as cur, cur.copy(
                            f"COPY {table.name} ({', '.join(cols)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                else:   # the SQLite column types' own bind processing (dates, datetimes)
                    procs = [None if c == "demographics" else table.c[c].type._cached_bind_processor(conn.dialect)
                             for c in cols]
                    if any(procs):
                        rows = [tuple(p(v) if p else v for p, v in zip(procs, row)) for row in rows]
                    cur = dbapi.cursor()
                    cur.executemany(f"INSERT INTO {table.name} ({', '.join(cols)}) "
                                    f"VALUES ({', '.join('?' * len(cols))})", rows)
                    cur.close()
        return n

    # -- internals -----------------------------------------------------------------------------

    def _check_feed(self, feed: PatientFeed, *, require_spid: bool) -> None:
        if require_spid or feed.epr_spid is not None:
            problem = epr_spid_entry_problem(feed.epr_spid)
            if problem:
                raise InvalidIdentifier(problem)
        if feed.mpi_pid is not None:
            if not feed.mpi_pid.strip() or len(feed.mpi_pid) > 64:
                raise InvalidIdentifier(f"MPI-PID {feed.mpi_pid!r} must be 1 to 64 characters")
            if looks_like_navs13(feed.mpi_pid):
                raise InvalidIdentifier(NAVS13_MESSAGE)
        seen: set[tuple[str, str]] = set()
        for cx in feed.local_ids:
            if cx.oid in (self.mpi_oid, EPR_SPID_OID):
                raise InvalidIdentifier(f"{cx} is not a local id: its assigning authority is the "
                                        f"{'MPI' if cx.oid == self.mpi_oid else 'EPR-SPID'} domain")
            problem = identifier_problem(cx.id, cx.oid, mpi_oid=self.mpi_oid)
            if problem:
                raise InvalidIdentifier(f"local id {cx}: {problem}" if problem != NAVS13_MESSAGE else problem)
            if (cx.oid, cx.id) in seen:
                raise DuplicateIdentifier(f"local id {cx} given twice")
            seen.add((cx.oid, cx.id))
        gender = feed.demographics.gender
        if gender not in GENDERS:
            raise InvalidIdentifier(f"gender must be one of {', '.join(GENDERS)}, not {gender!r}")

    def _feed_add(self, conn: Connection, feed: PatientFeed) -> Patient:
        self._check_feed(feed, require_spid=True)
        row = self._row_by_spid(conn, feed.epr_spid or "")
        if row is not None and row.status != STATUS_ACTIVE:
            survivor = conn.execute(sa.select(mpi_patient.c.mpi_pid)
                                    .where(mpi_patient.c.id == row.merged_into)).scalar()
            raise DuplicateIdentifier(f"EPR-SPID {feed.epr_spid} belongs to a record merged into MPI-PID {survivor}")
        if feed.mpi_pid is not None:
            owner = conn.execute(sa.select(mpi_patient.c.id).where(mpi_patient.c.mpi_pid == feed.mpi_pid)).scalar()
            if owner is not None and (row is None or owner != row.id):
                raise DuplicateIdentifier(f"MPI-PID {feed.mpi_pid} already names another patient")
            if row is not None and row.mpi_pid != feed.mpi_pid:
                raise ConflictingIdentifier(f"the patient with EPR-SPID {feed.epr_spid} has MPI-PID "
                                            f"{row.mpi_pid}, not {feed.mpi_pid}")
        if row is None:
            for cx in feed.local_ids:
                if self._local_owner(conn, cx) is not None:
                    raise DuplicateIdentifier(f"local id {cx} already names another patient")
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
                raise DuplicateIdentifier(f"local id {cx} already names another patient")
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

    @staticmethod
    def _name_rows(key: int, d: Demographics) -> list[dict[str, Any]]:
        rows, seen = [], set()
        for n in d.names:
            fam, giv = normalize(n.family)[:255], normalize(n.given_text)[:255]
            if (fam, giv) not in seen:
                seen.add((fam, giv))
                rows.append(dict(patient_id=key, family_norm=fam, given_norm=giv, birth_date=d.birth_date))
        return rows

    @staticmethod
    def _address_rows(key: int, d: Demographics) -> list[dict[str, Any]]:
        return [dict(patient_id=key, street_norm=normalize(" ".join(a.street_lines))[:255],
                     city_norm=normalize(a.city)[:255], postal_code=a.postal_code.strip()[:32],
                     state_norm=normalize(a.state)[:255], country_norm=normalize(a.country)[:64])
                for a in d.addresses if not a.is_empty()]

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
        found = {p.key: p for p in _patients_from_rows(conn.execute(
            _LOAD_STATEMENT, {"keys": list(keys), "status": STATUS_ACTIVE}))}
        return [found[k] for k in keys if k in found]

    def _id_kind(self, oid: str) -> str:
        return "mpi" if oid == self.mpi_oid else "spid" if oid == EPR_SPID_OID else "local"

    def _search_shape(self, q: DemographicQuery) -> tuple[tuple, dict[str, Any]]:
        """The structure of a query (which criteria, which matching) and its values, in the order
        :meth:`_build_search` binds them (``p0``, ``p1``...)."""
        values: list[Any] = [STATUS_ACTIVE]
        ids = []
        # every criterion must match: one given twice is the same criterion (the statement does not
        # grow with repetitions)
        for cx in dict.fromkeys(q.identifiers):
            kind = self._id_kind(cx.oid)
            ids.append(kind)
            values += [cx.id] if kind != "local" else [cx.oid, cx.id]
        names = []
        distinct = dict.fromkeys((normalize(c.family), normalize(c.given), c.prefix) for c in q.names)
        for fam, giv, prefix in distinct:
            with_birth = bool(fam) and q.birth_from is not None
            names.append((bool(fam), prefix, bool(giv), with_birth))
            if fam:
                values += [fam, prefix_upper_bound(fam)] if prefix else [fam]
                if with_birth:
                    values += [q.birth_from, q.birth_to or q.birth_from]
            if giv:
                values += ([giv, prefix_upper_bound(giv)] if prefix
                           else [giv, giv + " ", prefix_upper_bound(giv + " ")])
        birth = q.birth_from is not None
        if birth:
            values += [q.birth_from, q.birth_to or q.birth_from]
        if q.gender:
            values.append(q.gender)
        addr = None
        if q.address is not None and not q.address.is_empty():
            a = q.address
            street = normalize(" ".join(a.street_lines))
            parts = [("postal", a.postal_code.strip() if a.postal_code else ""),
                     ("city", normalize(a.city) if a.city else ""),
                     ("country", normalize(a.country) if a.country else ""),
                     ("state", normalize(a.state) if a.state else "")]
            addr = tuple(bool(v) for _, v in parts) + (bool(street),)
            values += [v for _, v in parts if v]
            if street:
                values += [street, prefix_upper_bound(street)]
        shape = (tuple(ids), tuple(names), birth, bool(q.gender), addr)
        params = {f"p{i}": v for i, v in enumerate(values)}
        params["status"] = STATUS_ACTIVE
        return shape, params

    def _build_search(self, shape: tuple) -> sa.Select:
        """The search statement of a query shape (see :meth:`_search_shape`): the indexed criteria
        select at most SEARCH_CANDIDATE_CAP candidate keys; the outer select reads them with their
        local ids. Names, telecom and mother's maiden name are scored on the candidates in Python."""
        ids, names, birth, gender, addr = shape
        counter = itertools.count()

        def bp(type_: Any = None) -> sa.BindParameter:
            return sa.bindparam(f"p{next(counter)}", type_=type_ if type_ is not None else sa.String())

        conds: list[Any] = [mpi_patient.c.status == bp()]
        for kind in ids:   # every identifier given must belong to the person
            if kind == "mpi":
                conds.append(mpi_patient.c.id.in_(sa.select(mpi_patient.c.id).where(mpi_patient.c.mpi_pid == bp())))
            elif kind == "spid":
                conds.append(mpi_patient.c.id.in_(sa.select(mpi_patient.c.id).where(mpi_patient.c.epr_spid == bp())))
            else:
                conds.append(mpi_patient.c.id.in_(sa.select(mpi_local_id.c.patient_id).where(
                    mpi_local_id.c.oid == bp(), mpi_local_id.c.id_value == bp())))
        for has_fam, prefix, has_giv, with_birth in names:
            n = mpi_name.alias()
            nconds = [n.c.patient_id == mpi_patient.c.id]
            if has_fam:
                nconds.append(n.c.family_norm.between(bp(), bp()) if prefix else n.c.family_norm == bp())
                if with_birth:   # lets the (family_norm, birth_date) index serve both
                    nconds.append(n.c.birth_date.between(bp(sa.Date()), bp(sa.Date())))
            if has_giv:
                if prefix:
                    nconds.append(n.c.given_norm.between(bp(), bp()))
                else:   # the whole given names, or the first of them
                    nconds.append(sa.or_(n.c.given_norm == bp(), n.c.given_norm.between(bp(), bp())))
            conds.append(sa.exists().where(*nconds))
        if birth:
            conds.append(mpi_patient.c.birth_date.between(bp(sa.Date()), bp(sa.Date())))
        if gender:
            conds.append(mpi_patient.c.gender == bp())
        if addr is not None:
            a = mpi_address.alias()
            aconds = [a.c.patient_id == mpi_patient.c.id]
            for flag, col in zip(addr, (a.c.postal_code, a.c.city_norm, a.c.country_norm, a.c.state_norm)):
                if flag:
                    aconds.append(col == bp())
            if addr[4]:
                aconds.append(a.c.street_norm.between(bp(), bp()))
            conds.append(sa.exists().where(*aconds))
        keys = (sa.select(mpi_patient.c.id).where(*conds).order_by(mpi_patient.c.id)
                .limit(SEARCH_CANDIDATE_CAP).scalar_subquery())
        return _patients_statement(mpi_patient.c.id.in_(keys))


def _score(patient: Patient, q: DemographicQuery) -> int | None:
    """Match score of a candidate (None: not a match): 100 literal, 90 case/accent-insensitive,
    70 prefix. Telecom and mother's maiden name are checked here."""
    d = patient.demographics
    if q.telecom and not any(normalize(t.value) == normalize(q.telecom) for t in d.telecoms):
        return None
    if q.mothers_maiden_name and normalize(d.mothers_maiden_name) != normalize(q.mothers_maiden_name):
        return None
    score = 100
    for crit in q.names:
        best = 0
        for n in d.names:
            best = max(best, _name_score(n, crit))
        if best == 0:
            return None
        score = min(score, best)
    return score


def _name_score(n: PersonName, crit: NameCriterion) -> int:
    def one(stored: str, wanted: str, prefix: bool) -> int:
        if not wanted:
            return 100
        if stored == wanted:
            return 100
        s, w = normalize(stored), normalize(wanted)
        if s == w:
            return 90
        if s.startswith(w + " "):   # first given name(s)
            return 90 if not prefix else 80
        if prefix and s.startswith(w):
            return 70
        return 0
    return min(one(n.family, crit.family, crit.prefix), one(n.given_text, crit.given, crit.prefix))


class BoundPatientIndex:
    """``MpiStore.is_known_mpi_pid`` on one connection: the registry's patient check inside the
    transaction that registers (no second pooled connection, no extra round trips)."""

    def __init__(self, store: MpiStore, conn: Connection) -> None:
        self._store = store
        self._conn = conn

    def is_known_mpi_pid(self, pid: str) -> bool:
        return self._store.is_known_mpi_pid(pid, self._conn)
