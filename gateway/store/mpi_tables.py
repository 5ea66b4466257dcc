"""The MPI's tables (created by the Alembic migration ``0002_mpi``; this module only describes them)
and the statements that read patients with their local ids.

One row in ``mpi_patient`` per person, unique on the EPR-SPID and on the MPI-PID. Local ids of the
source systems sit in ``mpi_local_id`` (unique per id + assigning authority OID). Names and
addresses are repeated, normalised (case- and accent-insensitive), in ``mpi_name`` /
``mpi_address`` for the PDQ hot paths (:func:`name_rows`, :func:`address_rows`); the full
demographics are kept as JSON on the patient row. ``mpi_merge`` is the merge history,
``mpi_query_state`` holds PDQ continuations so that any gateway process can serve them.
"""
from __future__ import annotations

from typing import Any, Iterable

import sqlalchemy as sa

from gateway.store.db import metadata
from gateway.store.mpi_codec import demographics_from_json
from profiles.ch.identifiers import CX
from profiles.hl7v3.mpi import STATUS_ACTIVE, Demographics, Patient, normalize

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



def name_rows(key: int, d: Demographics) -> list[dict[str, Any]]:
    """The ``mpi_name`` rows of a person (distinct normalised names)."""
    rows, seen = [], set()
    for n in d.names:
        fam, giv = normalize(n.family)[:255], normalize(n.given_text)[:255]
        if (fam, giv) not in seen:
            seen.add((fam, giv))
            rows.append(dict(patient_id=key, family_norm=fam, given_norm=giv, birth_date=d.birth_date))
    return rows


def address_rows(key: int, d: Demographics) -> list[dict[str, Any]]:
    """The ``mpi_address`` rows of a person (normalised, empty addresses left out)."""
    return [dict(patient_id=key, street_norm=normalize(" ".join(a.street_lines))[:255],
                 city_norm=normalize(a.city)[:255], postal_code=a.postal_code.strip()[:32],
                 state_norm=normalize(a.state)[:255], country_norm=normalize(a.country)[:64])
            for a in d.addresses if not a.is_empty()]


def patients_statement(where: Any) -> sa.Select:
    """Active patients matching ``where`` with their local ids (outer join: one row per local id,
    in key then local-id order); read with :func:`patients_from_rows`."""
    return (sa.select(mpi_patient.c.id, mpi_patient.c.mpi_pid, mpi_patient.c.epr_spid, mpi_patient.c.status,
                      mpi_patient.c.demographics, mpi_local_id.c.oid, mpi_local_id.c.id_value,
                      mpi_local_id.c.namespace)
            .select_from(mpi_patient.outerjoin(mpi_local_id, mpi_local_id.c.patient_id == mpi_patient.c.id))
            .where(mpi_patient.c.status == sa.bindparam("status"), where)
            .order_by(mpi_patient.c.id, mpi_local_id.c.id))


def patients_from_rows(rows: Iterable[Any]) -> list["Patient"]:
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


LOAD_STATEMENT = patients_statement(mpi_patient.c.id.in_(sa.bindparam("keys", expanding=True)))
FIND_STATEMENTS = {
    "mpi": patients_statement(mpi_patient.c.mpi_pid == sa.bindparam("id")),
    "spid": patients_statement(mpi_patient.c.epr_spid == sa.bindparam("id")),
    "local": patients_statement(mpi_patient.c.id == sa.select(mpi_local_id.c.patient_id).where(
        mpi_local_id.c.oid == sa.bindparam("oid"), mpi_local_id.c.id_value == sa.bindparam("id")).scalar_subquery()),
}


