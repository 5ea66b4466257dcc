"""The ITI-47 candidate search on the MPI tables: one statement per query *shape* (which criteria,
which matching), its values bound; the statements kept in a bounded LRU (:class:`SearchStatements`).

The statement selects at most :data:`SEARCH_CANDIDATE_CAP` candidate keys on the indexed criteria and
reads them with their local ids; the PDQ match rule (``profiles.hl7v3.matching``) scores them.
A criterion given twice is one criterion, so the statement does not grow with repetitions; the
profile bounds the number of values per parameter (``Hl7v3Limits.max_parameter_values``).
"""
from __future__ import annotations

import itertools
from collections import OrderedDict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.util import LRUCache

from gateway.store.mpi_tables import mpi_address, mpi_local_id, mpi_name, mpi_patient, patients_statement
from profiles.ch.identifiers import EPR_SPID_OID
from profiles.hl7v3.mpi import STATUS_ACTIVE, normalize, prefix_upper_bound
from profiles.hl7v3.ports import DemographicQuery

#: Hard cap on candidate rows one search reads before the match rule runs.
SEARCH_CANDIDATE_CAP = 5000


def _id_kind(oid: str, mpi_oid: str) -> str:
    return "mpi" if oid == mpi_oid else "spid" if oid == EPR_SPID_OID else "local"

def search_shape(q: DemographicQuery, mpi_oid: str) -> tuple[tuple, dict[str, Any]]:
    """The structure of a query (which criteria, which matching) and its values, in the order
    :func:`build_search` binds them (``p0``, ``p1``...)."""
    values: list[Any] = [STATUS_ACTIVE]
    ids = []
    # every criterion must match: one given twice is the same criterion (the statement does not
    # grow with repetitions)
    for cx in dict.fromkeys(q.identifiers):
        kind = _id_kind(cx.oid, mpi_oid)
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


def build_search(shape: tuple) -> sa.Select:
    """The search statement of a query shape (see :func:`search_shape`): the indexed criteria
    select at most SEARCH_CANDIDATE_CAP candidate keys; the outer select reads them with their
    local ids. Names, telecom and mother's maiden name are matched and scored by the PDQ rule."""
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
    return patients_statement(mpi_patient.c.id.in_(keys))



#: Shapes with at most this many name and identifier criteria are kept (the everyday queries: a
#: name, a name and a birth date, an identifier); bigger ones are built, run and dropped.
CACHEABLE_CRITERIA = 4


def cacheable(shape: tuple) -> bool:
    ids, names = shape[0], shape[1]
    return len(ids) + len(names) <= CACHEABLE_CRITERIA


class SearchStatements:
    """Search statements by query shape, least recently used dropped first: memory stays bounded
    whatever the sequence of queries. A statement is kept only once it has run (:meth:`keep`), and
    only a small one (:func:`cacheable`): a statement of many criteria weighs up to megabytes
    compiled and is rare, so it is rebuilt each time rather than kept."""

    def __init__(self, capacity: int = 128) -> None:
        self.capacity = capacity
        self._cache: "OrderedDict[tuple, sa.Select]" = OrderedDict()
        #: SQLAlchemy's compiled forms of these statements, apart from the engine's own cache (500
        #: entries, filled at compile time, also by statements that then fail): bounded like them.
        self.compiled = LRUCache(capacity)

    def get(self, shape: tuple) -> sa.Select:
        stmt = self._cache.get(shape)
        if stmt is None:
            return build_search(shape)
        self._cache.move_to_end(shape)
        return stmt

    def compiled_cache(self, shape: tuple) -> LRUCache | None:
        """The compiled cache to run ``shape``'s statement with (``None``: not kept compiled)."""
        return self.compiled if cacheable(shape) else None

    def keep(self, shape: tuple, stmt: sa.Select) -> None:
        if shape in self._cache or not cacheable(shape):
            return
        self._cache[shape] = stmt
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)

    def __len__(self) -> int:
        return len(self._cache)
