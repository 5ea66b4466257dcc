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

from sqlalchemy import and_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from profiles.xds import constants as C
from profiles.xds.datatypes import pad_dtm
from profiles.xds.errors import XDS_DUPLICATE_UNIQUE_ID, XDS_REGISTRY_ERROR, XdsError, XdsFailure
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


class RegistryTx:
    """The registry as seen from inside one write transaction."""

    def __init__(self, conn: Connection):
        self.conn = conn

    # -- RegistryReader -------------------------------------------------------------
    def _docs(self, column, values) -> dict[str, StoredDocument]:
        out: dict[str, StoredDocument] = {}
        d = T.documents.c
        for chunk in _chunks(values):
            for r in self.conn.execute(select(d.entry_uuid, d.unique_id, d.patient_id, d.status, d.lid,
                                              d.version, d.hash).where(column.in_(chunk))):
                doc = StoredDocument(r.entry_uuid, r.unique_id, r.patient_id, r.status, r.lid, r.version, r.hash)
                out[doc.entry_uuid if column is d.entry_uuid else doc.unique_id] = doc
        return out

    def documents_by_uuid(self, uuids):
        return self._docs(T.documents.c.entry_uuid, uuids)

    def documents_by_unique_id(self, unique_ids):
        return self._docs(T.documents.c.unique_id, unique_ids)

    def folders_by_uuid(self, uuids):
        f = T.folders.c
        out: dict[str, StoredFolder] = {}
        for chunk in _chunks(uuids):
            for r in self.conn.execute(select(f.entry_uuid, f.unique_id, f.patient_id, f.status)
                                       .where(f.entry_uuid.in_(chunk))):
                out[r.entry_uuid] = StoredFolder(r.entry_uuid, r.unique_id, r.patient_id, r.status)
        return out

    def package_unique_ids_in_use(self, unique_ids):
        used: set[str] = set()
        for chunk in _chunks(unique_ids):
            for table in (T.submission_sets, T.folders, T.documents):
                used.update(self.conn.scalars(select(table.c.unique_id).where(table.c.unique_id.in_(chunk))))
        return used

    def associations_exist(self, uuids):
        found: set[str] = set()
        a = T.associations.c
        for chunk in _chunks(uuids):
            found.update(self.conn.scalars(select(a.entry_uuid).where(a.entry_uuid.in_(chunk))))
            found.update(self.conn.scalars(select(T.submission_sets.c.entry_uuid)
                                           .where(T.submission_sets.c.entry_uuid.in_(chunk))))
        return found

    def folders_containing(self, doc_uuids):
        a = T.associations.c
        out: dict[str, list[str]] = {}
        for chunk in _chunks(doc_uuids):
            rows = self.conn.execute(
                select(a.target, a.source).join(T.folders, T.folders.c.entry_uuid == a.source)
                .where(a.type == C.ASSOC_HAS_MEMBER, a.target.in_(chunk)))
            for r in rows:
                out.setdefault(r.target, []).append(r.source)
        return out

    # -- writing --------------------------------------------------------------------
    def apply(self, plan: RegistrationPlan) -> None:
        conn = self.conn
        seq = time.time_ns()
        ss = plan.submission.submission_set
        assert ss is not None
        for uuid in plan.deprecate:
            res = conn.execute(update(T.documents)
                               .where(and_(T.documents.c.entry_uuid == uuid, T.documents.c.status == "Approved"))
                               .values(status="Deprecated"))
            if res.rowcount != 1:
                raise XdsFailure(XdsError(XDS_REGISTRY_ERROR, f"document {uuid} was replaced concurrently "
                                          "by another submission", uuid))
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
            conn.execute(T.submission_sets.insert().values(
                entry_uuid=ss.entry_uuid, unique_id=ss.unique_id, patient_id=ss.patient_id, status="Approved",
                source_id=ss.source_id, submission_time=pad_dtm(ss.submission_time),
                content_type_code=_c(ss.content_type_code), content_type_scheme=_s(ss.content_type_code),
                seq=seq, xml=plan.xml(ss)))
            if doc_rows:
                conn.execute(T.documents.insert(), doc_rows)
            for f in plan.folders:
                conn.execute(T.folders.insert().values(
                    entry_uuid=f.entry_uuid, lid=f.lid, unique_id=f.unique_id, patient_id=f.patient_id,
                    status="Approved", last_update_time=f.last_update_time,
                    seq=seq, xml=plan.xml(f)))
                if f.codes:
                    conn.execute(T.folder_codes.insert(), [dict(folder=f.entry_uuid, code=c.code, scheme=c.scheme)
                                                           for c in f.codes])
        except IntegrityError as exc:
            raise XdsFailure(XdsError(XDS_DUPLICATE_UNIQUE_ID, "a uniqueId or entryUUID of this submission was "
                                      "registered concurrently by another submission", "")) from exc
        if code_rows:
            conn.execute(T.document_codes.insert(), code_rows)
        if author_rows:
            conn.execute(T.document_authors.insert(), author_rows)
        if ref_rows:
            conn.execute(T.document_reference_ids.insert(), ref_rows)
        ss_authors = [dict(submission_set=ss.entry_uuid, person=a.person) for a in ss.authors if a.person]
        if ss_authors:
            conn.execute(T.submission_set_authors.insert(), ss_authors)
        if plan.associations:
            conn.execute(T.associations.insert(), [dict(
                entry_uuid=a.entry_uuid, type=a.type, source=a.source, target=a.target, status="Approved",
                submission_set=ss.entry_uuid, seq=seq, xml=plan.xml(a)) for a in plan.associations])
        for fid, when in plan.folder_updates.items():
            if any(f.entry_uuid == fid for f in plan.folders):
                continue
            self._touch_folder(fid, when)

    def _touch_folder(self, folder_uuid: str, when: str) -> None:
        from lxml import etree
        from profiles.xds.ebrim import set_slot
        row = self.conn.execute(select(T.folders.c.xml).where(T.folders.c.entry_uuid == folder_uuid)).first()
        if row is None:
            return
        el = etree.fromstring(row.xml.encode())
        set_slot(el, "lastUpdateTime", [when])
        self.conn.execute(update(T.folders).where(T.folders.c.entry_uuid == folder_uuid)
                          .values(last_update_time=when, xml=etree.tostring(el, encoding="unicode")))

    # -- repository -----------------------------------------------------------------
    def add_repository_documents(self, rows: list[dict]) -> None:
        if rows:
            try:
                self.conn.execute(T.repository_documents.insert(), rows)
            except IntegrityError as exc:
                raise XdsFailure(XdsError(XDS_DUPLICATE_UNIQUE_ID, "a document of this submission is already "
                                          "stored in the repository", "")) from exc


def _c(code) -> str | None:
    return code.code if code is not None else None


def _s(code) -> str | None:
    return code.scheme if code is not None else None


class SqlRegistryStore:
    def __init__(self, engine: Engine):
        self.engine = engine

    @contextmanager
    def transaction(self) -> Iterator[RegistryTx]:
        with write_transaction(self.engine) as conn:
            yield RegistryTx(conn)

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
