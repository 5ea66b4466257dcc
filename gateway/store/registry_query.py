"""The stored-query port on SQLAlchemy Core: one indexed statement per question, no N+1.

``SqlRegistryQuery(engine)`` implements ``profiles.xds.query_ports.RegistryQueryPort``. Each method runs
on its own short read connection:

* DocumentEntries: one SELECT on ``xds_document`` with every criterion in the WHERE clause (multi-valued
  attributes -- eventCodeList, confidentialityCode, authorPerson, referenceIdList -- as correlated
  EXISTS on their side tables), then one batched SELECT of the confidentiality codes of the rows found.
* Long id lists are split into chunks of :data:`IN_CHUNK` (SQLite's bound-parameter limit) and the
  chunks' rows merged back into registration order.
* authorPerson patterns: ebRS LIKE, case-sensitive on both backends (PostgreSQL ``LIKE``; SQLite ``GLOB``,
  since SQLite's LIKE ignores ASCII case).
"""
from __future__ import annotations

import heapq
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

from sqlalchemy import and_, exists, literal, or_, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from profiles.xds.query_ports import AssociationRow, DocumentRow, FolderRow, SubmissionSetRow
from profiles.xds.stored_queries import (CodeSet, DocumentCriteria, FolderCriteria, Selector,
                                         SubmissionSetCriteria, TimeRange)

from . import registry_tables as T

IN_CHUNK = 500
Row = TypeVar("Row")

_d = T.documents.c
_s = T.submission_sets.c
_f = T.folders.c
_a = T.associations.c

_DOC_COLUMNS = (_d.entry_uuid, _d.lid, _d.version, _d.unique_id, _d.patient_id, _d.status, _d.object_type,
                _d.class_code, _d.class_scheme, _d.type_code, _d.type_scheme, _d.format_code, _d.format_scheme,
                _d.practice_setting_code, _d.practice_setting_scheme, _d.facility_type_code,
                _d.facility_type_scheme, _d.creation_time, _d.service_start_time, _d.service_stop_time,
                _d.repository_unique_id, _d.submission_set, _d.seq, _d.xml)
_SS_COLUMNS = (_s.entry_uuid, _s.unique_id, _s.patient_id, _s.status, _s.source_id, _s.submission_time,
               _s.seq, _s.xml)
_FOL_COLUMNS = (_f.entry_uuid, _f.lid, _f.unique_id, _f.patient_id, _f.status, _f.last_update_time, _f.seq, _f.xml)
_ASSOC_COLUMNS = (_a.entry_uuid, _a.type, _a.source, _a.target, _a.status, _a.submission_set, _a.seq, _a.xml)


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    unique = sorted({v for v in values if v})
    for i in range(0, len(unique), IN_CHUNK):
        yield unique[i:i + IN_CHUNK]


def _code(code: str | None, scheme: str | None) -> tuple[str, str] | None:
    return (code, scheme or "") if code is not None else None


def _doc_row(r: Any, conf: tuple[tuple[str, str], ...] = ()) -> DocumentRow:
    return DocumentRow(
        entry_uuid=r.entry_uuid, lid=r.lid, version=r.version, unique_id=r.unique_id, patient_id=r.patient_id,
        status=r.status, object_type=r.object_type, class_code=_code(r.class_code, r.class_scheme),
        type_code=_code(r.type_code, r.type_scheme), format_code=_code(r.format_code, r.format_scheme),
        practice_setting_code=_code(r.practice_setting_code, r.practice_setting_scheme),
        facility_type_code=_code(r.facility_type_code, r.facility_type_scheme),
        creation_time=r.creation_time, service_start_time=r.service_start_time,
        service_stop_time=r.service_stop_time, repository_unique_id=r.repository_unique_id,
        submission_set=r.submission_set, seq=r.seq, xml=r.xml, confidentiality_codes=conf)


def _ss_row(r: Any) -> SubmissionSetRow:
    return SubmissionSetRow(r.entry_uuid, r.unique_id, r.patient_id, r.status, r.source_id, r.submission_time,
                            r.seq, r.xml)


def _folder_row(r: Any) -> FolderRow:
    return FolderRow(r.entry_uuid, r.lid, r.unique_id, r.patient_id, r.status, r.last_update_time, r.seq, r.xml)


def _assoc_row(r: Any) -> AssociationRow:
    return AssociationRow(r.entry_uuid, r.type, r.source, r.target, r.status, r.submission_set, r.seq, r.xml)


def _code_in(code_col, scheme_col, codes: CodeSet) -> ColumnElement[bool]:
    """``(code, scheme)`` in ``codes``; grouped by scheme so it stays a short IN list per scheme."""
    by_scheme: dict[str, list[str]] = {}
    for code, scheme in codes:
        by_scheme.setdefault(scheme, []).append(code)
    if not by_scheme:
        return literal(False)  # type: ignore[return-value]
    return or_(*(and_(scheme_col == scheme, code_col.in_(sorted(values)))
                 for scheme, values in sorted(by_scheme.items())))


def _time(col, rng: TimeRange) -> list[ColumnElement[bool]]:
    out = []
    if rng.start is not None:
        out.append(col >= rng.start)
    if rng.end is not None:
        out.append(col < rng.end)
    return out


def glob_pattern(like: str) -> str:
    """ebRS LIKE pattern -> SQLite GLOB pattern (case-sensitive)."""
    out = []
    for ch in like:
        if ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        elif ch in "*?[":
            out.append(f"[{ch}]")
        else:
            out.append(ch)
    return "".join(out)


class SqlRegistryQuery:
    """``RegistryQueryPort`` over the registry tables (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._sqlite = engine.dialect.name == "sqlite"

    # -- helpers --------------------------------------------------------------------------------
    def _like(self, col, pattern: str) -> ColumnElement[bool]:
        if self._sqlite:
            return col.op("GLOB")(glob_pattern(pattern))
        # PostgreSQL: LIKE's default escape is the backslash; a backslash in the pattern is literal
        return col.like(pattern.replace("\\", "\\\\"))

    def _read(self, fn: Callable[[Connection], list[Row]]) -> list[Row]:
        with self.engine.connect() as conn:
            return fn(conn)

    @staticmethod
    def _limited(stmt, limit: int | None):
        return stmt.limit(limit) if limit is not None else stmt

    @staticmethod
    def _merge(parts: list[list[Any]], limit: int | None = None) -> list[Any]:
        if len(parts) == 1:
            rows = parts[0]
        else:
            rows = list(heapq.merge(*parts, key=lambda r: (r.seq, r.entry_uuid)))
        return rows[:limit] if limit is not None else rows

    def _conf_codes(self, conn: Connection, uuids: Sequence[str]) -> dict[str, tuple[tuple[str, str], ...]]:
        out: dict[str, list[tuple[str, str]]] = {}
        c = T.document_codes.c
        for chunk in _chunks(uuids):
            for r in conn.execute(select(c.document, c.code, c.scheme)
                                  .where(c.kind == "conf", c.document.in_(chunk))):
                out.setdefault(r.document, []).append((r.code, r.scheme))
        return {k: tuple(v) for k, v in out.items()}

    def _documents(self, conn: Connection, stmt_for: Callable[[list[str] | None], Any],
                   ids: Iterable[str] | None, limit: int | None) -> list[DocumentRow]:
        if ids is None:
            parts = [list(conn.execute(self._limited(stmt_for(None), limit)))]
        else:
            parts = [list(conn.execute(self._limited(stmt_for(chunk), limit))) for chunk in _chunks(ids)]
        rows = self._merge(parts, limit)
        conf = self._conf_codes(conn, [r.entry_uuid for r in rows])
        return [_doc_row(r, conf.get(r.entry_uuid, ())) for r in rows]

    # -- DocumentEntries ------------------------------------------------------------------------
    def document_conditions(self, c: DocumentCriteria) -> list[ColumnElement[bool]]:
        cond: list[ColumnElement[bool]] = []
        if c.patient_id is not None:
            cond.append(_d.patient_id == c.patient_id)
        if c.statuses is not None:
            cond.append(_d.status.in_(sorted(c.statuses)))
        if c.object_types is not None:
            cond.append(_d.object_type.in_(sorted(c.object_types)))
        for code_col, scheme_col, codes in (
                (_d.class_code, _d.class_scheme, c.class_codes),
                (_d.type_code, _d.type_scheme, c.type_codes),
                (_d.practice_setting_code, _d.practice_setting_scheme, c.practice_setting_codes),
                (_d.facility_type_code, _d.facility_type_scheme, c.facility_type_codes),
                (_d.format_code, _d.format_scheme, c.format_codes)):
            if codes is not None:
                cond.append(_code_in(code_col, scheme_col, codes))
        cond += _time(_d.creation_time, c.creation_time)
        cond += _time(_d.service_start_time, c.service_start_time)
        cond += _time(_d.service_stop_time, c.service_stop_time)
        dc = T.document_codes.c
        for kind, groups in (("event", c.event_codes), ("conf", c.confidentiality_codes)):
            for group in groups:
                cond.append(exists(select(literal(1)).where(
                    dc.document == _d.entry_uuid, dc.kind == kind, _code_in(dc.code, dc.scheme, group))))
        if c.author_persons:
            da = T.document_authors.c
            cond.append(exists(select(literal(1)).where(
                da.document == _d.entry_uuid, or_(*(self._like(da.person, p) for p in c.author_persons)))))
        if c.reference_ids is not None:
            dr = T.document_reference_ids.c
            cond.append(exists(select(literal(1)).where(
                dr.document == _d.entry_uuid, dr.value.in_(sorted(c.reference_ids)))))
        return cond

    def find_documents(self, criteria: DocumentCriteria, limit: int | None) -> list[DocumentRow]:
        cond = self.document_conditions(criteria)

        def stmt(chunk: list[str] | None):
            where = cond + ([_d.entry_uuid.in_(chunk)] if chunk is not None else [])
            return select(*_DOC_COLUMNS).where(*where).order_by(_d.seq, _d.entry_uuid)

        if criteria.entry_uuids is not None and not criteria.entry_uuids:
            return []
        return self._read(lambda conn: self._documents(conn, stmt, criteria.entry_uuids, limit))

    def documents(self, selector: Selector) -> list[DocumentRow]:
        col = {"uuid": _d.entry_uuid, "unique_id": _d.unique_id, "lid": _d.lid}[selector.by]

        def stmt(chunk: list[str] | None):
            return select(*_DOC_COLUMNS).where(col.in_(chunk or [])).order_by(_d.seq, _d.entry_uuid)

        if not selector.values:
            return []
        return self._read(lambda conn: self._documents(conn, stmt, selector.values, None))

    # -- SubmissionSets -------------------------------------------------------------------------
    def find_submission_sets(self, criteria: SubmissionSetCriteria, limit: int | None) -> list[SubmissionSetRow]:
        c = criteria
        cond: list[ColumnElement[bool]] = [_s.patient_id == c.patient_id]
        if c.statuses is not None:
            cond.append(_s.status.in_(sorted(c.statuses)))
        if c.source_ids is not None:
            cond.append(_s.source_id.in_(sorted(c.source_ids)))
        cond += _time(_s.submission_time, c.submission_time)
        if c.content_type_codes is not None:
            cond.append(_code_in(_s.content_type_code, _s.content_type_scheme, c.content_type_codes))
        if c.author_persons:
            sa = T.submission_set_authors.c
            cond.append(exists(select(literal(1)).where(
                sa.submission_set == _s.entry_uuid, or_(*(self._like(sa.person, p) for p in c.author_persons)))))
        stmt = self._limited(select(*_SS_COLUMNS).where(*cond).order_by(_s.seq, _s.entry_uuid), limit)
        return self._read(lambda conn: [_ss_row(r) for r in conn.execute(stmt)])

    def submission_sets(self, selector: Selector) -> list[SubmissionSetRow]:
        if selector.by == "lid":
            return []
        col = _s.entry_uuid if selector.by == "uuid" else _s.unique_id

        def run(conn: Connection) -> list[SubmissionSetRow]:
            parts = [list(conn.execute(select(*_SS_COLUMNS).where(col.in_(chunk)).order_by(_s.seq, _s.entry_uuid)))
                     for chunk in _chunks(selector.values)]
            return [_ss_row(r) for r in self._merge(parts)] if parts else []
        return self._read(run)

    # -- Folders --------------------------------------------------------------------------------
    def find_folders(self, criteria: FolderCriteria, limit: int | None) -> list[FolderRow]:
        c = criteria
        cond: list[ColumnElement[bool]] = [_f.patient_id == c.patient_id]
        if c.statuses is not None:
            cond.append(_f.status.in_(sorted(c.statuses)))
        cond += _time(_f.last_update_time, c.last_update_time)
        fc = T.folder_codes.c
        for group in c.codes:
            cond.append(exists(select(literal(1)).where(fc.folder == _f.entry_uuid,
                                                        _code_in(fc.code, fc.scheme, group))))
        stmt = self._limited(select(*_FOL_COLUMNS).where(*cond).order_by(_f.seq, _f.entry_uuid), limit)
        return self._read(lambda conn: [_folder_row(r) for r in conn.execute(stmt)])

    def folders(self, selector: Selector) -> list[FolderRow]:
        col = {"uuid": _f.entry_uuid, "unique_id": _f.unique_id, "lid": _f.lid}[selector.by]

        def run(conn: Connection) -> list[FolderRow]:
            parts = [list(conn.execute(select(*_FOL_COLUMNS).where(col.in_(chunk)).order_by(_f.seq, _f.entry_uuid)))
                     for chunk in _chunks(selector.values)]
            return [_folder_row(r) for r in self._merge(parts)] if parts else []
        return self._read(run)

    # -- Associations ---------------------------------------------------------------------------
    def associations(self, *, sources: Iterable[str] | None = None, targets: Iterable[str] | None = None,
                     either: Iterable[str] | None = None, types: Iterable[str] | None = None,
                     limit: int | None = None) -> list[AssociationRow]:
        type_list = sorted(set(types)) if types is not None else None
        if type_list is not None and not type_list:
            return []
        ends: list[tuple[Any, Iterable[str]]] = []
        if sources is not None:
            ends.append((_a.source, sources))
        if targets is not None:
            ends.append((_a.target, targets))
        if either is not None:
            ends += [(_a.source, either), (_a.target, either)]

        def run(conn: Connection) -> list[AssociationRow]:
            found: dict[str, Any] = {}
            for col, ids in ends:
                for chunk in _chunks(ids):
                    cond = [col.in_(chunk)]
                    if type_list is not None:
                        cond.append(_a.type.in_(type_list))
                    stmt = self._limited(select(*_ASSOC_COLUMNS).where(*cond).order_by(_a.seq, _a.entry_uuid),
                                         limit)
                    for r in conn.execute(stmt):
                        found[r.entry_uuid] = r
            rows = sorted(found.values(), key=lambda r: (r.seq, r.entry_uuid))
            return [_assoc_row(r) for r in (rows[:limit] if limit is not None else rows)]
        return self._read(run)

    def associations_by_uuid(self, uuids: Iterable[str]) -> list[AssociationRow]:
        def run(conn: Connection) -> list[AssociationRow]:
            parts = [list(conn.execute(select(*_ASSOC_COLUMNS).where(_a.entry_uuid.in_(chunk))
                                       .order_by(_a.seq, _a.entry_uuid))) for chunk in _chunks(uuids)]
            return [_assoc_row(r) for r in self._merge(parts)] if parts else []
        return self._read(run)
