"""The patient's access rights in the database: policy sets, opened records, emergency-access
notifications (tables, and :class:`PolicyStore`).

``adr_record`` marks a record as opened (the default policy sets 201, 203 and 202 were created);
``adr_policy_set`` holds one row per patient-specific policy set (template, subject, referenced base
policy set, validity), the same rows whether written by the ``policy`` CLI or by CH:PPQ;
``adr_notification`` records every emergency access for the patient (listed by
``epd-gateway notifications list``, sent by :mod:`gateway.notify`). The tables are created by the
Alembic migration ``0004_policies``; this module only describes them.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from gateway.store.db import metadata, write_transaction
from profiles.adr import model as M
from profiles.adr.model import PatientRights, PolicySet

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

adr_record = sa.Table(
    "adr_record", metadata,
    sa.Column("epr_spid", sa.String(18), primary_key=True),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
)

adr_policy_set = sa.Table(
    "adr_policy_set", metadata,
    sa.Column("id", _PK, primary_key=True, autoincrement=True),
    sa.Column("policy_set_id", sa.String(128), nullable=False),
    sa.Column("epr_spid", sa.String(18), nullable=False),
    sa.Column("template", sa.Integer, nullable=False),
    sa.Column("subject", sa.String(255), nullable=False, default=""),
    sa.Column("reference", sa.String(128), nullable=False),
    sa.Column("start_date", sa.Date, nullable=True),
    sa.Column("end_date", sa.Date, nullable=True),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("policy_set_id", name="uq_adr_policy_set_id"),
    sa.Index("ix_adr_policy_set_patient", "epr_spid", "template"),
)

adr_notification = sa.Table(
    "adr_notification", metadata,
    sa.Column("id", _PK, primary_key=True, autoincrement=True),
    sa.Column("epr_spid", sa.String(18), nullable=False),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("transaction", sa.String(16), nullable=False),
    sa.Column("user_id", sa.String(255), nullable=False),
    sa.Column("user_name", sa.String(255), nullable=False, default=""),
    sa.Column("acting_id", sa.String(255), nullable=False, default=""),
    sa.Column("organisation", sa.String(512), nullable=False, default=""),
    sa.Column("documents", sa.JSON, nullable=False),
    sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("delivery_error", sa.Text, nullable=True),
    sa.Index("ix_adr_notification_patient", "epr_spid", "occurred_at"),
)


def now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _aware(t: _dt.datetime | None) -> _dt.datetime | None:
    if t is not None and t.tzinfo is None:     # SQLite returns naive datetimes
        t = t.replace(tzinfo=_dt.timezone.utc)
    return t


def _row(ps: PolicySet) -> dict:
    return dict(policy_set_id=ps.policy_set_id, epr_spid=ps.epr_spid, template=ps.template, subject=ps.subject,
                reference=ps.reference, start_date=ps.start, end_date=ps.end, description=ps.description)


def _policy_set(r) -> PolicySet:
    return PolicySet(policy_set_id=r.policy_set_id, template=r.template, epr_spid=r.epr_spid,
                     reference=r.reference, subject=r.subject or "", start=r.start_date, end=r.end_date,
                     description=r.description or "")


@dataclass(frozen=True)
class Notification:
    id: int
    epr_spid: str
    occurred_at: _dt.datetime
    transaction: str
    user_id: str
    user_name: str
    acting_id: str
    organisation: str
    documents: tuple[str, ...]
    delivered_at: _dt.datetime | None
    delivery_error: str | None


class UnknownPolicySet(LookupError):
    pass


class PolicyStore:
    """The policy repository of the community (one per database).

    ``emergency_default``: the emergency level (normal, restricted, off) of the 202 a record gets
    when it is opened (``EPD_EMERGENCY_DEFAULT``).
    """

    _SETS = sa.select(adr_policy_set).where(adr_policy_set.c.epr_spid == sa.bindparam("spid")) \
        .order_by(adr_policy_set.c.id)
    _OPENED = sa.select(adr_record.c.epr_spid).where(adr_record.c.epr_spid == sa.bindparam("spid"))

    def __init__(self, engine: Engine, emergency_default: str = M.NORMAL) -> None:
        if emergency_default not in M.EMERGENCY_LEVELS:
            raise ValueError(f"emergency level must be one of {', '.join(M.EMERGENCY_LEVELS)}, "
                             f"not {emergency_default!r}")
        self.engine = engine
        self.emergency_default = emergency_default
        self._reader = (engine.execution_options(isolation_level="AUTOCOMMIT")
                        if engine.dialect.name == "postgresql" else engine)

    # -- records -------------------------------------------------------------------------------

    def open_record(self, spid: str, emergency_level: str | None = None) -> bool:
        """Open the patient's record: 201, 203 (provide level normal) and 202 (the emergency level,
        default ``emergency_default``; ``off``: none). Idempotent: False when it was already open."""
        level = emergency_level or self.emergency_default
        if level not in M.EMERGENCY_LEVELS:
            raise ValueError(f"emergency level must be one of {', '.join(M.EMERGENCY_LEVELS)}")
        try:
            with write_transaction(self.engine) as conn:
                if conn.execute(self._OPENED, {"spid": spid}).first() is not None:
                    return False
                conn.execute(adr_record.insert().values(epr_spid=spid, opened_at=now()))
                self._insert(conn, M.opening_policy_sets(spid, level))
                return True
        except IntegrityError:      # opened concurrently by another process
            return False

    def is_open(self, spid: str) -> bool:
        with self._reader.connect() as conn:
            return conn.execute(self._OPENED, {"spid": spid}).first() is not None

    def rights(self, spid: str, conn: Connection | None = None) -> PatientRights:
        if conn is None:
            with self._reader.connect() as own:
                return self.rights(spid, own)
        opened = conn.execute(self._OPENED, {"spid": spid}).first() is not None
        if not opened:
            return PatientRights(spid, opened=False)
        sets = tuple(_policy_set(r) for r in conn.execute(self._SETS, {"spid": spid}))
        return PatientRights(spid, opened=True, policy_sets=sets)

    # -- policy sets (CH:PPQ semantics) --------------------------------------------------------

    def _insert(self, conn: Connection, sets: Iterable[PolicySet]) -> None:
        t = now()
        rows = [dict(_row(ps), created_at=t, updated_at=t) for ps in sets]
        if rows:
            conn.execute(adr_policy_set.insert(), rows)

    def get(self, policy_set_id: str) -> PolicySet | None:
        with self._reader.connect() as conn:
            r = conn.execute(sa.select(adr_policy_set).where(
                adr_policy_set.c.policy_set_id == policy_set_id)).first()
        return _policy_set(r) if r is not None else None

    def add(self, sets: Sequence[PolicySet]) -> None:
        """PPQ AddPolicy: every set is new (an id already stored raises :class:`ValueError`). A set of
        a singleton template (201, 202, 203) replaces the patient's one (the onboarding feed of the
        policy administrator after the record was opened with the defaults). The record must be
        open."""
        try:
            with write_transaction(self.engine) as conn:
                for ps in sets:
                    self._require_open(conn, ps.epr_spid)
                    if ps.template in (201, 202, 203):
                        old = self._of_template(conn, ps.epr_spid, ps.template)
                        if old:
                            conn.execute(adr_policy_set.delete().where(
                                adr_policy_set.c.id.in_([r.id for r in old])))
                self._insert(conn, sets)
        except IntegrityError:
            raise ValueError("a policy set with this id is already stored") from None

    def update(self, sets: Sequence[PolicySet]) -> None:
        """PPQ UpdatePolicy: in place, same id and same patient (and template)."""
        with write_transaction(self.engine) as conn:
            for ps in sets:
                old = conn.execute(sa.select(adr_policy_set).where(
                    adr_policy_set.c.policy_set_id == ps.policy_set_id)).first()
                if old is None:
                    raise UnknownPolicySet(ps.policy_set_id)
                if old.epr_spid != ps.epr_spid or old.template != ps.template:
                    raise ValueError("an update keeps the policy set's patient and template")
                conn.execute(adr_policy_set.update().where(adr_policy_set.c.id == old.id)
                             .values(**_row(ps), updated_at=now()))

    def delete(self, policy_set_ids: Sequence[str]) -> None:
        """PPQ DeletePolicy. 201 and 203 are never deleted (the record needs them)."""
        with write_transaction(self.engine) as conn:
            for psid in policy_set_ids:
                old = conn.execute(sa.select(adr_policy_set.c.id, adr_policy_set.c.template).where(
                    adr_policy_set.c.policy_set_id == psid)).first()
                if old is None:
                    raise UnknownPolicySet(psid)
                if old.template in (201, 203):
                    raise ValueError(f"a policy set of template {old.template} cannot be deleted")
                conn.execute(adr_policy_set.delete().where(adr_policy_set.c.id == old.id))

    def _require_open(self, conn: Connection, spid: str) -> None:
        if conn.execute(self._OPENED, {"spid": spid}).first() is None:
            raise ValueError(f"the record of EPR-SPID {spid} is not open")

    def _of_template(self, conn: Connection, spid: str, template: int, subject: str | None = None,
                     references: Iterable[str] | None = None) -> list:
        q = sa.select(adr_policy_set).where(adr_policy_set.c.epr_spid == spid, adr_policy_set.c.template == template)
        if subject is not None:
            q = q.where(adr_policy_set.c.subject == subject)
        if references is not None:
            q = q.where(adr_policy_set.c.reference.in_(list(references)))
        return list(conn.execute(q))

    def _replace(self, spid: str, template: int, new: PolicySet | None, *, subject: str | None = None,
                 references: Iterable[str] | None = None) -> None:
        """Replace the patient's policy sets of ``template`` (for ``subject``, of ``references``)
        by ``new`` (None: delete them): at most one set per template, patient and subject."""
        with write_transaction(self.engine) as conn:
            self._require_open(conn, spid)
            old = self._of_template(conn, spid, template, subject, references)
            if old:
                conn.execute(adr_policy_set.delete().where(adr_policy_set.c.id.in_([r.id for r in old])))
            if new is not None:
                self._insert(conn, [new])

    # -- the operator's use cases (``epd-gateway policy ...``) ---------------------------------

    def grant(self, spid: str, gln: str, level: str, until: _dt.date | None = None) -> PolicySet:
        ps = M.hcp_access(spid, gln, level, until)
        self._replace(spid, 301, ps, subject=gln, references=(M.ACCESS_NORMAL, M.ACCESS_RESTRICTED))
        return ps

    def grant_group(self, spid: str, oid: str, level: str, until: _dt.date) -> PolicySet:
        ps = M.group_access(spid, oid, level, until)
        self._replace(spid, 302, ps, subject=ps.subject)
        return ps

    def revoke(self, spid: str, gln: str) -> int:
        """Withdraw an HCP's access grants (301 and 304; an exclusion stays)."""
        with write_transaction(self.engine) as conn:
            self._require_open(conn, spid)
            old = (self._of_template(conn, spid, 301, gln, (M.ACCESS_NORMAL, M.ACCESS_RESTRICTED))
                   + self._of_template(conn, spid, 304, gln))
            if old:
                conn.execute(adr_policy_set.delete().where(adr_policy_set.c.id.in_([r.id for r in old])))
            return len(old)

    def exclude(self, spid: str, gln: str, until: _dt.date | None = None) -> PolicySet:
        ps = M.exclusion(spid, gln, until)
        self._replace(spid, 301, ps, subject=gln, references=(M.EXCLUSION_LIST,))
        return ps

    def unexclude(self, spid: str, gln: str) -> None:
        self._replace(spid, 301, None, subject=gln, references=(M.EXCLUSION_LIST,))

    def set_emergency(self, spid: str, level: str) -> PolicySet | None:
        if level not in M.EMERGENCY_LEVELS:
            raise ValueError(f"emergency level must be one of {', '.join(M.EMERGENCY_LEVELS)}")
        ps = None if level == "off" else M.emergency_access(spid, level)
        self._replace(spid, 202, ps)
        return ps

    def set_representative(self, spid: str, rep_id: str, until: _dt.date | None = None) -> PolicySet:
        ps = M.representative(spid, rep_id, until)
        self._replace(spid, 303, ps, subject=rep_id)
        return ps

    def remove_representative(self, spid: str, rep_id: str) -> None:
        self._replace(spid, 303, None, subject=rep_id)

    def set_default_confidentiality(self, spid: str, level: str) -> PolicySet:
        ps = M.provide_level(spid, level)
        self._replace(spid, 203, ps)
        return ps

    # -- emergency-access notifications --------------------------------------------------------

    def record_notification(self, spid: str, transaction: str, user_id: str, user_name: str = "",
                            acting_id: str = "", organisation: str = "", documents: Sequence[str] = (),
                            at: _dt.datetime | None = None) -> int:
        with write_transaction(self.engine) as conn:
            res = conn.execute(adr_notification.insert().values(
                epr_spid=spid, occurred_at=at or now(), transaction=transaction, user_id=user_id,
                user_name=user_name or "", acting_id=acting_id or "", organisation=organisation or "",
                documents=list(documents)))
            return int(res.inserted_primary_key[0])

    def mark_delivered(self, notification_id: int, error: str | None = None) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(adr_notification.update().where(adr_notification.c.id == notification_id).values(
                delivered_at=None if error else now(), delivery_error=error))

    def notifications(self, spid: str) -> list[Notification]:
        with self._reader.connect() as conn:
            rows = conn.execute(sa.select(adr_notification).where(adr_notification.c.epr_spid == spid)
                                .order_by(adr_notification.c.occurred_at, adr_notification.c.id))
            return [Notification(r.id, r.epr_spid, _aware(r.occurred_at), r.transaction, r.user_id, r.user_name,
                                 r.acting_id, r.organisation, tuple(r.documents or ()), _aware(r.delivered_at),
                                 r.delivery_error) for r in rows]
