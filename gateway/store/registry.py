"""The registry and repository on SQLAlchemy: the write path of ITI-41/ITI-42 and the lookups of ITI-43.

``SqlRegistryStore.transaction()`` opens one database transaction; inside it the profile logic reads
through ``RegistryTx`` (the ``RegistryReader`` port) and ``RegistryTx.apply`` writes the plan.
Conflicts found only at write time (a concurrent submission with the same uniqueId, a concurrent
replacement of the same document) raise ``XdsFailure`` and roll the whole submission back.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable, Iterator

from sqlalchemy import and_, bindparam, literal_column, null, select, union_all, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from profiles.xds import constants as C
from profiles.xds import messages as M
from profiles.xds.datatypes import pad_dtm
from profiles.xds.errors import XdsFailure
from profiles.xds.registry import RegistrationPlan, StoredDocument, StoredFolder

from . import registry_tables as T
from .db import write_transaction

_IN_CHUNK = 500


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    values = [v for v in dict.fromkeys(values) if v]
    for i in range(0, len(values), _IN_CHUNK):
        yield values[i:i + _IN_CHUNK]


def short_status(status: str | None) -> str:
    return (status or C.STATUS_APPROVED).rsplit(":", 1)[-1]


@dataclass(frozen=True)
class StoredBlob:
    unique_id: str
    repository_unique_id: str
    sha1: str
    sha256: str
    size: int
    mime_type: str


# Statements built once per process: SQLAlchemy memoizes the cache key of a statement object, so a
# prebuilt statement with an expanding IN parameter skips construction and cache-key generation on
# every call (they were most of the Python time of an ITI-41 before this, see bench/README.md).
_VALUES = bindparam("values", expanding=True)
_d, _f, _a, _s = T.documents.c, T.folders.c, T.associations.c, T.submission_sets.c
_DOC_COLS = (_d.entry_uuid, _d.unique_id, _d.patient_id, _d.status, _d.lid, _d.version, _d.hash)
_u = T.document_unique_ids.c
_REGISTERED_UNIQUE_IDS = select(_u.unique_id, _u.hash, _u.size).where(_u.unique_id.in_(_VALUES))
_CLAIM: dict[str, object] = {}


def _claim_statement(dialect: str):
    """INSERT ... ON CONFLICT DO NOTHING RETURNING unique_id (SQLite 3.35+ and PostgreSQL): the
    uniqueIds this statement registered; a conflicting row of a concurrent transaction is waited
    for, so the uniqueIds not returned are registered and committed (or ours already)."""
    stmt = _CLAIM.get(dialect)
    if stmt is None:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = _CLAIM[dialect] = (insert(T.document_unique_ids).on_conflict_do_nothing(index_elements=["unique_id"])
                                  .returning(_u.unique_id))
    return stmt


_FOLDER_TEXTS = select(_f.entry_uuid, _f.xml).where(_f.entry_uuid.in_(_VALUES))
_r = T.repository_documents.c
_REPOSITORY_UIDS = select(_r.unique_id).where(_r.repository_unique_id == bindparam("repository"),
                                              _r.unique_id.in_(_VALUES))
_PACKAGE_UIDS_IN_USE = union_all(*(select(t.c.unique_id).where(t.c.unique_id.in_(_VALUES))
                                   for t in (T.submission_sets, T.folders, T.documents)))
_FOLDERS_CONTAINING = (select(_a.target, _a.source).join(T.folders, T.folders.c.entry_uuid == _a.source)
                       .where(_a.type == C.ASSOC_HAS_MEMBER, _a.target.in_(_VALUES)))
_DEPRECATE = (update(T.documents).where(and_(_d.entry_uuid == bindparam("uuid"), _d.status == "Approved"))
              .values(status="Deprecated"))
_INSERT = {t.name: t.insert() for t in (T.submission_sets, T.documents, T.folders, T.folder_codes,
                                        T.document_codes, T.document_authors, T.document_reference_ids,
                                        T.submission_set_authors, T.associations, T.repository_documents)}


# One round trip answers "which of these entryUUIDs exist, and as what": plan_registration asks
# documents_by_uuid, folders_by_uuid and associations_exist for the same ids, then again for the
# ids its associations reference (mostly the same ones).
_OBJECTS_BY_UUID = union_all(
    select(literal_column("'D'").label("kind"), *_DOC_COLS).where(_d.entry_uuid.in_(_VALUES)),
    select(literal_column("'F'"), _f.entry_uuid, _f.unique_id, _f.patient_id, _f.status, null(), null(), null())
    .where(_f.entry_uuid.in_(_VALUES)),
    select(literal_column("'A'"), _a.entry_uuid, null(), null(), null(), null(), null(), null())
    .where(_a.entry_uuid.in_(_VALUES)),
    select(literal_column("'S'"), _s.entry_uuid, null(), null(), null(), null(), null(), null())
    .where(_s.entry_uuid.in_(_VALUES)))


class RegistryTx:
    """The registry as seen from inside one write transaction.

    Lookups by entryUUID are answered for documents, folders, associations and submission sets at
    once and remembered until the next write through this object (``apply``,
    ``add_repository_documents``), so planning a submission costs one query for all its ids.
    """

    def __init__(self, conn: Connection, patients=None, audit=None):
        self.conn = conn
        #: the MPI's patient check on this transaction's connection (the PatientIndex port)
        self.patients = patients
        #: the audit sink storing records on this connection (``gateway.audit.store.StoreAuditSink``)
        self.audit = audit
        #: the audit records stored in this transaction (the forwarder is told once it committed)
        self.audited: list = []
        self._looked_up: set[str] = set()
        self._objects: dict[str, dict[str, StoredDocument | StoredFolder | None]] = {
            "D": {}, "F": {}, "A": {}, "S": {}}

    def _forget(self) -> None:
        self._looked_up.clear()
        for found in self._objects.values():
            found.clear()

    def _lookup(self, uuids, kind: str) -> tuple[list[str], dict]:
        uuids = [u for u in dict.fromkeys(uuids) if u]
        missing = [u for u in uuids if u not in self._looked_up]
        for chunk in _chunks(missing):
            for r in self.conn.execute(_OBJECTS_BY_UUID, {"values": chunk}):
                if r.kind == "D":
                    obj = StoredDocument(r.entry_uuid, r.unique_id, r.patient_id, r.status, r.lid, r.version, r.hash)
                elif r.kind == "F":
                    obj = StoredFolder(r.entry_uuid, r.unique_id, r.patient_id, r.status)
                else:
                    obj = None
                self._objects[r.kind][r.entry_uuid] = obj
        self._looked_up.update(missing)
        return uuids, self._objects[kind]

    # -- RegistryReader -------------------------------------------------------------
    def documents_by_uuid(self, uuids):
        uuids, found = self._lookup(uuids, "D")
        return {u: found[u] for u in uuids if u in found}

    def claim_document_unique_ids(self, claims):
        claimed: set[str] = set()
        stmt = _claim_statement(self.conn.dialect.name)
        for chunk in _chunks(claims):
            rows = [dict(unique_id=u, hash=claims[u][0], size=claims[u][1]) for u in chunk]
            claimed.update(self.conn.scalars(stmt, _rows(rows)) if len(rows) == 1 else
                           (r.unique_id for r in self.conn.execute(stmt, rows)))
        taken = [u for u in claims if u not in claimed]
        out: dict[str, tuple[str | None, int | None]] = {}
        for chunk in _chunks(taken):
            for r in self.conn.execute(_REGISTERED_UNIQUE_IDS, {"values": chunk}):
                out[r.unique_id] = (r.hash, r.size)
        return out

    def folders_by_uuid(self, uuids):
        uuids, found = self._lookup(uuids, "F")
        return {u: found[u] for u in uuids if u in found}

    def package_unique_ids_in_use(self, unique_ids):
        used: set[str] = set()
        for chunk in _chunks(unique_ids):
            used.update(self.conn.scalars(_PACKAGE_UIDS_IN_USE, {"values": chunk}))
        return used

    def associations_exist(self, uuids):
        uuids, assocs = self._lookup(uuids, "A")
        sets = self._objects["S"]
        return {u for u in uuids if u in assocs or u in sets}

    def folders_containing(self, doc_uuids):
        out: dict[str, list[str]] = {}
        for chunk in _chunks(doc_uuids):
            for r in self.conn.execute(_FOLDERS_CONTAINING, {"values": chunk}):
                out.setdefault(r.target, []).append(r.source)
        return out

    def folder_texts(self, uuids):
        out: dict[str, str] = {}
        for chunk in _chunks(uuids):
            for r in self.conn.execute(_FOLDER_TEXTS, {"values": chunk}):
                out[r.entry_uuid] = r.xml
        return out

    def repository_unique_ids_stored(self, repository_unique_id: str, unique_ids: Iterable[str]) -> set[str]:
        """Which of these document uniqueIds the repository already stores (an identical resubmission)."""
        found: set[str] = set()
        for chunk in _chunks(unique_ids):
            found.update(self.conn.scalars(_REPOSITORY_UIDS, {"repository": repository_unique_id, "values": chunk}))
        return found

    # -- writing --------------------------------------------------------------------
    def apply(self, plan: RegistrationPlan) -> None:
        self._forget()
        conn = self.conn
        seq = time.time_ns()
        ss = plan.submission.submission_set
        assert ss is not None
        for uuid in plan.deprecate:
            res = conn.execute(_DEPRECATE, {"uuid": uuid})
            if res.rowcount != 1:
                raise XdsFailure(M.REPLACED_CONCURRENTLY(uuid, target=uuid))
        doc_rows, code_rows, author_rows, ref_rows = [], [], [], []
        for i, d in enumerate(plan.documents):
            doc_rows.append(dict(
                entry_uuid=d.entry_uuid, lid=d.lid, version=int(d.version or 1), unique_id=d.unique_id,
                patient_id=d.patient_id, status="Approved", object_type=d.object_type,
                class_code=_c(d.class_code), class_scheme=_s(d.class_code),
                type_code=_c(d.type_code), type_scheme=_s(d.type_code),
                format_code=_c(d.format_code), format_scheme=_s(d.format_code),
                practice_setting_code=_c(d.practice_setting_code), practice_setting_scheme=_s(d.practice_setting_code),
                facility_type_code=_c(d.healthcare_facility_type_code),
                facility_type_scheme=_s(d.healthcare_facility_type_code),
                creation_time=pad_dtm(d.creation_time), service_start_time=pad_dtm(d.service_start_time),
                service_stop_time=pad_dtm(d.service_stop_time), mime_type=d.mime_type, hash=d.hash,
                size=int(d.size) if d.size and d.size.isdigit() else None,
                repository_unique_id=d.repository_unique_id, submission_set=ss.entry_uuid, seq=seq + i,
                xml=plan.xml(d)))
            code_rows += [dict(document=d.entry_uuid, kind="conf", code=c.code, scheme=c.scheme)
                          for c in d.confidentiality_codes]
            code_rows += [dict(document=d.entry_uuid, kind="event", code=c.code, scheme=c.scheme)
                          for c in d.event_codes]
            author_rows += [dict(document=d.entry_uuid, person=a.person) for a in d.authors if a.person]
            ref_rows += [dict(document=d.entry_uuid, value=v) for v in d.reference_ids]
        try:
            conn.execute(_INSERT[T.submission_sets.name], dict(
                entry_uuid=ss.entry_uuid, unique_id=ss.unique_id, patient_id=ss.patient_id, status="Approved",
                source_id=ss.source_id, submission_time=pad_dtm(ss.submission_time),
                content_type_code=_c(ss.content_type_code), content_type_scheme=_s(ss.content_type_code),
                seq=seq, xml=plan.xml(ss)))
            if doc_rows:
                conn.execute(_INSERT[T.documents.name], _rows(doc_rows))
            for f in plan.folders:
                conn.execute(_INSERT[T.folders.name], dict(
                    entry_uuid=f.entry_uuid, lid=f.lid, unique_id=f.unique_id, patient_id=f.patient_id,
                    status="Approved", last_update_time=f.last_update_time,
                    seq=seq, xml=plan.xml(f)))
                if f.codes:
                    conn.execute(_INSERT[T.folder_codes.name], [dict(folder=f.entry_uuid, code=c.code, scheme=c.scheme)
                                                           for c in f.codes])
        except IntegrityError as exc:
            raise XdsFailure(M.REGISTERED_CONCURRENTLY()) from exc
        if code_rows:
            conn.execute(_INSERT[T.document_codes.name], _rows(code_rows))
        if author_rows:
            conn.execute(_INSERT[T.document_authors.name], _rows(author_rows))
        if ref_rows:
            conn.execute(_INSERT[T.document_reference_ids.name], _rows(ref_rows))
        ss_authors = [dict(submission_set=ss.entry_uuid, person=a.person) for a in ss.authors if a.person]
        if ss_authors:
            conn.execute(_INSERT[T.submission_set_authors.name], _rows(ss_authors))
        if plan.associations:
            conn.execute(_INSERT[T.associations.name], _rows([dict(
                entry_uuid=a.entry_uuid, type=a.type, source=a.source, target=a.target, status="Approved",
                submission_set=ss.entry_uuid, seq=seq, xml=plan.xml(a)) for a in plan.associations]))
        for fid, when in plan.folder_updates.items():
            if any(f.entry_uuid == fid for f in plan.folders):
                continue
            values = {"last_update_time": when}
            if fid in plan.folder_texts:
                values["xml"] = plan.folder_texts[fid]
            conn.execute(update(T.folders).where(T.folders.c.entry_uuid == fid).values(**values))

    # -- audit ----------------------------------------------------------------------
    def record_audit(self, event) -> bool:
        """The change's audit record, inserted in this transaction (durable first: they commit or
        roll back together; the record takes the audit chain's head lock until the commit, so it is
        the transaction's last statement). False when audit is off."""
        if self.audit is None:
            return False
        self.audited.append(self.audit.record_in(self.conn, event))
        return True

    # -- repository -----------------------------------------------------------------
    def add_repository_documents(self, rows: list) -> None:
        """The repository's records (``profiles.xds.ports.RepositoryDocument`` or plain dicts)."""
        self._forget()
        rows = [r if isinstance(r, dict) else dict(
            repository_unique_id=r.repository_unique_id, unique_id=r.unique_id, sha1=r.sha1, sha256=r.sha256,
            size=r.size, mime_type=r.mime_type) for r in rows]
        if rows:
            try:
                self.conn.execute(_INSERT[T.repository_documents.name], _rows(rows))
            except IntegrityError as exc:
                raise XdsFailure(M.ALREADY_IN_REPOSITORY()) from exc


def _rows(rows: list[dict]) -> list[dict] | dict:
    """One row as a plain execute (cheaper in SQLAlchemy than an executemany of one)."""
    return rows[0] if len(rows) == 1 else rows


def _c(code) -> str | None:
    return code.code if code is not None else None


def _s(code) -> str | None:
    return code.scheme if code is not None else None


class SqlRegistryStore:
    """The ``profiles.xds.ports.Registry`` port on SQLAlchemy. ``patients``: the MPI; when it offers
    ``bound(conn)``, the patient check runs on the registry transaction's own connection.
    ``audit``: the pipeline's audit sink when it stores records (``StoreAuditSink``): a use case's
    ``record_audit`` then stores its record inside the registry transaction."""

    def __init__(self, engine: Engine, patients=None, audit=None):
        self.engine = engine
        self.patients = patients
        self.audit = audit

    @contextmanager
    def transaction(self) -> Iterator[RegistryTx]:
        with write_transaction(self.engine) as conn:
            patients = self.patients
            bound = getattr(patients, "bound", None)
            tx = RegistryTx(conn, bound(conn) if bound is not None else patients, self.audit)
            yield tx
        for rec in tx.audited:   # committed
            self.audit.stored(rec)

    def repository_document(self, repository_unique_id: str, unique_id: str) -> StoredBlob | None:
        r = T.repository_documents.c
        with self.engine.connect() as conn:
            row = conn.execute(select(r.unique_id, r.repository_unique_id, r.sha1, r.sha256, r.size, r.mime_type)
                               .where(r.repository_unique_id == repository_unique_id, r.unique_id == unique_id)).first()
        return StoredBlob(*row) if row else None

    def referenced_blobs(self, keys: Iterable[str]) -> set[str]:
        r = T.repository_documents.c
        found: set[str] = set()
        with self.engine.connect() as conn:
            for chunk in _chunks(keys):
                found.update(conn.scalars(select(r.sha256).where(r.sha256.in_(chunk))))
        return found

    def is_blob_referenced(self, key: str) -> bool:
        return bool(self.referenced_blobs([key]))
