"""Audit tables: the records (hash-chained, in insertion order) and the chain's head."""
from __future__ import annotations

import sqlalchemy as sa

from gateway.store.db import metadata

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

audit_record = sa.Table(
    "audit_record", metadata,
    sa.Column("seq", _PK, primary_key=True, autoincrement=False),   # 1, 2, 3 ... the chain's order
    sa.Column("record_id", sa.String(36), nullable=False, unique=True),  # stable id, sent in the syslog SD
    sa.Column("event_time", sa.String(40), nullable=False),         # ISO 8601 UTC
    sa.Column("transaction", sa.String(16), nullable=False),
    sa.Column("outcome", sa.Integer, nullable=False),               # EventOutcomeIndicator
    sa.Column("user_id", sa.String(255), nullable=True),
    sa.Column("patient_ids", sa.Text, nullable=False),              # space separated CX (MPI-PIDs...)
    sa.Column("epr_spid", sa.String(18), nullable=True),            # the XUA resource-id, when present
    sa.Column("message", sa.Text, nullable=False),                  # the AuditMessage XML
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("sent_at", sa.String(40), nullable=True),             # NULL: still in the outbox
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_audit_record_outbox", "sent_at", "seq"),
    sa.Index("ix_audit_record_time", "event_time"),
    sa.Index("ix_audit_record_spid", "epr_spid", "event_time"),
)

audit_head = sa.Table(
    "audit_head", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),   # always 1
    sa.Column("seq", _PK, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

GENESIS = "0" * 64
