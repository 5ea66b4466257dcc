"""Audit trail: hash-chained ATNA records with their outbox state, and the chain's head.

Revision ID: 0005_audit
Revises: 0004_policies
"""
from alembic import op
import sqlalchemy as sa

revision = "0005_audit"
down_revision = "0004_policies"
branch_labels = None
depends_on = None

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_record",
        sa.Column("seq", _PK, primary_key=True, autoincrement=False),
        sa.Column("record_id", sa.String(36), nullable=False, unique=True),
        sa.Column("event_time", sa.String(40), nullable=False),
        sa.Column("transaction", sa.String(16), nullable=False),
        sa.Column("outcome", sa.Integer, nullable=False),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("patient_ids", sa.Text, nullable=False),
        sa.Column("epr_spid", sa.String(18), nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("sent_at", sa.String(40), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_audit_record_outbox", "audit_record", ["sent_at", "seq"])
    op.create_index("ix_audit_record_time", "audit_record", ["event_time"])
    op.create_index("ix_audit_record_spid", "audit_record", ["epr_spid", "event_time"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", _PK, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.execute(sa.text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '" + "0" * 64 + "')"))


def downgrade() -> None:
    op.drop_table("audit_head")
    op.drop_index("ix_audit_record_spid", "audit_record")
    op.drop_index("ix_audit_record_time", "audit_record")
    op.drop_index("ix_audit_record_outbox", "audit_record")
    op.drop_table("audit_record")
