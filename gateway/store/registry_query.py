"""The stored-query port on SQLAlchemy Core: one indexed statement per question, no N+1.

``SqlRegistryQuery(engine)`` implements ``profiles.xds.query_ports.RegistryQueryPort``. ``with
port.session() as bound:`` gives a port bound to **one** read connection, so all statements of one
stored query share it; unbound, each method takes its own short read connection.
``SqlQueryStore(engine, mpi)`` is the ITI-18 use case's ``RegistryQueryStore``: each ``session()`` is
one read connection for the registry reads and the MPI check of one query (built once, in
``gateway/app.py``). On PostgreSQL reads run in autocommit: at READ COMMITTED every statement takes its own
snapshot anyway, so a BEGIN/ROLLBACK pair around them only costs two round trips. On SQLite a session
is one deferred read transaction (one snapshot for the whole query).

* DocumentEntries: one SELECT on ``xds_document`` with every criterion in the WHERE clause (multi-valued
  attributes -- eventCodeList, confidentialityCode, authorPerson, referenceIdList -- as correlated
  EXISTS on their side tables), LEFT JOINed to the confidentiality codes of the rows found (the LIMIT
  applies to the documents, in a subquery), so documents and their codes come in one round trip.
* Associations with either end in a set: one SELECT with ``source IN (..) OR target IN (..)``.
* Long id lists are split into chunks of :data:`IN_CHUNK` (SQLite's bound-parameter limit) and the
  chunks' rows merged back into registration order.
* authorPerson patterns: ebRS LIKE, case-sensitive on both backends (PostgreSQL ``LIKE``; SQLite ``GLOB``,
  since SQLite's LIKE ignores ASCII case).
"""
from __future__ import annotations

import heapq
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

from sqlalchemy import and_, bindparam, exists, literal, or_, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from profiles.xds.query_model import CodeSet, DocumentCriteria, FolderCriteria, Selector, SubmissionSetCriteria, TimeRange
from profiles.xds.query_ports import AssociationRow, DocumentRow, FolderRow, PatientDirectory, SubmissionSetRow

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


def _doc_rows(rows: Iterable[Any]) -> list[DocumentRow]:
    """Rows of the documents LEFT JOIN confidentiality codes query (ordered by document) -> DocumentRows."""
    out: list[DocumentRow] = []
    current = None
    conf: list[tuple[str, str]] = []
    for r in rows:
        if current is None or r.entry_uuid != current.entry_uuid:
            if current is not None:
                out.append(_doc_row(current, tuple(conf)))
            current, conf = r, []
        if r.conf_code is not None:
            conf.append((r.conf_code, r.conf_scheme))
    if current is not None:
        out.append(_doc_row(current, tuple(conf)))
    return out


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


def _by_scheme(codes: CodeSet) -> list[tuple[str, list[str]]]:
    by_scheme: dict[str, list[str]] = {}
    for code, scheme in codes:
        by_scheme.setdefault(scheme, []).append(code)
    return [(scheme, sorted(values)) for scheme, values in sorted(by_scheme.items())]


def _code_in(code_col, scheme_col, codes: CodeSet) -> ColumnElement[bool]:
    """``(code, scheme)`` in ``codes``; grouped by scheme so it stays a short IN list per scheme."""
    groups = _by_scheme(codes)
    if not groups:
        return literal(False)  # type: ignore[return-value]
    return or_(*(and_(scheme_col == scheme, code_col.in_(values)) for scheme, values in groups))


class _Shape:
    """The WHERE clause of one statement as a *shape* (hashable key), bound parameters, and builders.

    Building SQLAlchemy expressions (and their cache keys) is most of the Python cost of a short
    query, so statements are built once per shape with ``bindparam``s and kept in :data:`_STATEMENTS`;
    a later query of the same shape only computes its key and parameter values (``add``), and the
    builders (lambdas receiving the bind parameters) run on a cache miss only.
    """

    __slots__ = ("key", "params", "builders")

    def __init__(self, *key: Any) -> None:
        self.key: list[Any] = list(key)
        self.params: dict[str, Any] = {}
        self.builders: list[tuple[Callable[..., ColumnElement[bool]], list[str]]] = []

    def add(self, tag: Any, build: Callable[..., ColumnElement[bool]], *values: Any) -> None:
        names = []
        for v in values:
            name = f"p{len(self.params)}"
            self.params[name] = v
            names.append(name)
        self.key.append(tag)
        self.builders.append((build, names))

    def codes(self, tag: str, code_col, scheme_col, codes: CodeSet) -> None:
        """``(code, scheme) in codes`` as one parameter pair per scheme."""
        groups = _by_scheme(codes)
        flat = [x for scheme, values in groups for x in (scheme, values)]
        self.add((tag, len(groups)), lambda *ps: _codes_expr(code_col, scheme_col, ps), *flat)

    def conditions(self) -> list[ColumnElement[bool]]:
        return [build(*(bindparam(n, expanding=isinstance(self.params[n], list)) for n in names))
                for build, names in self.builders]

    def statement(self, make: Callable[[list[ColumnElement[bool]]], Any]):
        key = tuple(self.key)
        stmt = _STATEMENTS.get(key)
        if stmt is None:
            if len(_STATEMENTS) >= _MAX_STATEMENTS:
                _STATEMENTS.clear()
            stmt = _STATEMENTS[key] = make(self.conditions())
        return stmt


def _codes_expr(code_col, scheme_col, ps: Sequence[Any]) -> ColumnElement[bool]:
    if not ps:
        return literal(False)  # type: ignore[return-value]
    return or_(*(and_(scheme_col == ps[i], code_col.in_(ps[i + 1])) for i in range(0, len(ps), 2)))


#: statements by shape (see :class:`_Shape`); a plain dict, emptied when full (shapes are few in practice)
_STATEMENTS: dict[tuple, Any] = {}
_MAX_STATEMENTS = 2000


def _time(shape: _Shape, tag: str, col, rng: TimeRange) -> None:
    if rng.start is not None:
        shape.add(tag + ">=", lambda p: col >= p, rng.start)
    if rng.end is not None:
        shape.add(tag + "<", lambda p: col < p, rng.end)


def _time_cond(col, rng: TimeRange) -> list[ColumnElement[bool]]:
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
        self._conn: Connection | None = None
        # PostgreSQL: reads in autocommit (no BEGIN/ROLLBACK round trips; READ COMMITTED gives every
        # statement its own snapshot either way). SQLite: the engine's deferred read transaction.
        self._read_engine = engine if self._sqlite else engine.execution_options(isolation_level="AUTOCOMMIT")

    # -- helpers --------------------------------------------------------------------------------
    def _like(self, col, pattern: str) -> ColumnElement[bool]:
        if self._sqlite:
            return col.op("GLOB")(glob_pattern(pattern))
        # PostgreSQL: LIKE's default escape is the backslash; a backslash in the pattern is literal
        return col.like(pattern.replace("\\", "\\\\"))

    def _read(self, fn: Callable[[Connection], list[Row]]) -> list[Row]:
        if self._conn is not None:
            return fn(self._conn)
        with self._read_engine.connect() as conn:
            return fn(conn)

    @contextmanager
    def session(self) -> Iterator["SqlRegistryQuery"]:
        """This port bound to one read connection for the block (all statements of one stored query)."""
        if self._conn is not None:
            yield self
            return
        with self._read_engine.connect() as conn:
            bound = SqlRegistryQuery.__new__(SqlRegistryQuery)
            bound.__dict__.update(self.__dict__)
            bound._conn = conn
            yield bound

    @property
    def connection(self):
        """The connection of this session (``session()``), or None outside one."""
        return self._conn

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

    @staticmethod
    def _with_conf(where: list[ColumnElement[bool]], limit: int | None):
        """Documents matching ``where`` (at most ``limit``) LEFT JOIN their confidentiality codes."""
        dc = T.document_codes
        if limit is None:
            docs = T.documents
            cols, seq, uuid = _DOC_COLUMNS, _d.seq, _d.entry_uuid
            stmt_where = where
        else:
            docs = select(*_DOC_COLUMNS).where(*where).order_by(_d.seq, _d.entry_uuid).limit(limit).subquery("d")
            cols, seq, uuid = tuple(docs.c), docs.c.seq, docs.c.entry_uuid
            stmt_where = []
        return (select(*cols, dc.c.code.label("conf_code"), dc.c.scheme.label("conf_scheme"))
                .select_from(docs.outerjoin(dc, and_(dc.c.document == uuid, dc.c.kind == "conf")))
                .where(*stmt_where).order_by(seq, uuid))

    def _documents(self, conn: Connection, shape_for: Callable[[list[str] | None], _Shape],
                   ids: Iterable[str] | None, limit: int | None) -> list[DocumentRow]:
        def run(chunk: list[str] | None) -> list[DocumentRow]:
            shape = shape_for(chunk)
            shape.key.append(("limit", limit))
            stmt = shape.statement(lambda where: self._with_conf(where, limit))
            return _doc_rows(conn.execute(stmt, shape.params))
        if ids is None:
            parts = [run(None)]
        else:
            parts = [run(chunk) for chunk in _chunks(ids)]
        return self._merge(parts, limit)

    # -- DocumentEntries ------------------------------------------------------------------------
    def document_shape(self, c: DocumentCriteria) -> _Shape:
        """The WHERE clause of a DocumentEntry query for ``c`` (see :class:`_Shape`)."""
        sh = _Shape("doc", self._sqlite)
        if c.patient_id is not None:
            sh.add("pid", lambda p: _d.patient_id == p, c.patient_id)
        if c.statuses is not None:
            sh.add("status", lambda p: _d.status.in_(p), sorted(c.statuses))
        if c.object_types is not None:
            sh.add("otype", lambda p: _d.object_type.in_(p), sorted(c.object_types))
        for tag, code_col, scheme_col, codes in (
                ("class", _d.class_code, _d.class_scheme, c.class_codes),
                ("type", _d.type_code, _d.type_scheme, c.type_codes),
                ("practice", _d.practice_setting_code, _d.practice_setting_scheme, c.practice_setting_codes),
                ("facility", _d.facility_type_code, _d.facility_type_scheme, c.facility_type_codes),
                ("format", _d.format_code, _d.format_scheme, c.format_codes)):
            if codes is not None:
                sh.codes(tag, code_col, scheme_col, codes)
        _time(sh, "ctime", _d.creation_time, c.creation_time)
        _time(sh, "start", _d.service_start_time, c.service_start_time)
        _time(sh, "stop", _d.service_stop_time, c.service_stop_time)
        dc = T.document_codes.c
        for kind, groups in (("event", c.event_codes), ("conf", c.confidentiality_codes)):
            for group in groups:
                pairs = _by_scheme(group)
                sh.add((kind, len(pairs)),
                       lambda *ps, kind=kind: exists(select(literal(1)).where(
                           dc.document == _d.entry_uuid, dc.kind == kind, _codes_expr(dc.code, dc.scheme, ps))),
                       *[x for scheme, values in pairs for x in (scheme, values)])
        if c.author_persons:
            da = T.document_authors.c
            patterns = [self._pattern(p) for p in c.author_persons]
            sh.add(("author", len(patterns)), lambda *ps: exists(select(literal(1)).where(
                da.document == _d.entry_uuid, or_(*(self._like_param(da.person, p) for p in ps)))), *patterns)
        if c.reference_ids is not None:
            dr = T.document_reference_ids.c
            sh.add("refid", lambda p: exists(select(literal(1)).where(dr.document == _d.entry_uuid, dr.value.in_(p))),
                   sorted(c.reference_ids))
        return sh

    def _pattern(self, like: str) -> str:
        # PostgreSQL: LIKE's default escape is the backslash; a backslash in the pattern is literal
        return glob_pattern(like) if self._sqlite else like.replace("\\", "\\\\")

    def _like_param(self, col, param) -> ColumnElement[bool]:
        return col.op("GLOB")(param) if self._sqlite else col.like(param)

    def find_documents(self, criteria: DocumentCriteria, limit: int | None) -> list[DocumentRow]:
        if criteria.entry_uuids is not None and not criteria.entry_uuids:
            return []

        def shape(chunk: list[str] | None) -> _Shape:
            sh = self.document_shape(criteria)
            if chunk is not None:
                sh.add("uuids", lambda p: _d.entry_uuid.in_(p), chunk)
            return sh

        return self._read(lambda conn: self._documents(conn, shape, criteria.entry_uuids, limit))

    def documents(self, selector: Selector) -> list[DocumentRow]:
        col = {"uuid": _d.entry_uuid, "unique_id": _d.unique_id, "lid": _d.lid}[selector.by]

        def shape(chunk: list[str] | None) -> _Shape:
            sh = _Shape("docs-by", selector.by)
            sh.add("in", lambda p: col.in_(p), chunk or [])
            return sh

        if not selector.values:
            return []
        return self._read(lambda conn: self._documents(conn, shape, selector.values, None))

    # -- SubmissionSets -------------------------------------------------------------------------
    def find_submission_sets(self, criteria: SubmissionSetCriteria, limit: int | None) -> list[SubmissionSetRow]:
        c = criteria
        cond: list[ColumnElement[bool]] = [_s.patient_id == c.patient_id]
        if c.statuses is not None:
            cond.append(_s.status.in_(sorted(c.statuses)))
        if c.source_ids is not None:
            cond.append(_s.source_id.in_(sorted(c.source_ids)))
        cond += _time_cond(_s.submission_time, c.submission_time)
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
        cond += _time_cond(_f.last_update_time, c.last_update_time)
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
        ends: list[tuple[str, Callable[..., ColumnElement[bool]], Iterable[str]]] = []
        if sources is not None:
            ends.append(("source", lambda p: _a.source.in_(p), sources))
        if targets is not None:
            ends.append(("target", lambda p: _a.target.in_(p), targets))
        if either is not None:
            ends.append(("either", lambda p, q: or_(_a.source.in_(p), _a.target.in_(q)), either))

        def run(conn: Connection) -> list[AssociationRow]:
            found: dict[str, Any] = {}
            for tag, end, ids in ends:
                for chunk in _chunks(ids):
                    sh = _Shape("assoc", tag, limit)
                    if tag == "either":
                        sh.add("ids", end, chunk, chunk)
                    else:
                        sh.add("ids", end, chunk)
                    if type_list is not None:
                        sh.add("types", lambda p: _a.type.in_(p), type_list)
                    stmt = sh.statement(lambda where: self._limited(
                        select(*_ASSOC_COLUMNS).where(*where).order_by(_a.seq, _a.entry_uuid), limit))
                    for r in conn.execute(stmt, sh.params):
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


class SqlQuerySession:
    """``profiles.xds.query_ports.QuerySession``: the registry reads and the MPI check of one query, on
    one read connection (the MPI check runs on it when the MPI offers ``bound(conn)``)."""

    __slots__ = ("registry", "_patients")

    def __init__(self, registry: SqlRegistryQuery, patients: PatientDirectory) -> None:
        self.registry = registry
        self._patients = patients

    def is_known_patient(self, pid: str) -> bool:
        bound = getattr(self._patients, "bound", None)
        if bound is not None and self.registry.connection is not None:
            return bound(self.registry.connection).is_known_mpi_pid(pid)
        return self._patients.is_known_mpi_pid(pid)


class SqlQueryStore:
    """``profiles.xds.query_ports.RegistryQueryStore`` over the registry tables and the MPI."""

    def __init__(self, engine: Engine, patients: PatientDirectory) -> None:
        self.port = SqlRegistryQuery(engine)
        self.patients = patients

    @property
    def engine(self) -> Engine:
        return self.port.engine

    @contextmanager
    def session(self) -> Iterator[SqlQuerySession]:
        with self.port.session() as bound:
            yield SqlQuerySession(bound, self.patients)
