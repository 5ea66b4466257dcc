"""Access rights (CH:ADR / CH:PPQ): opened records, policy sets, emergency-access notifications,
read rate-limit counters.

Revision ID: 0004_policies
Revises: 0003_identical_resubmission

(The integrator chains this after 0003 when that lands: down_revision = its revision id.)
The schema is written out here, not taken from gateway/store/policies.py.
"""
from alembic import op
import sqlalchemy as sa

revision = "0004_policies"
down_revision = "0003_identical_resubmission"
branch_labels = None
depends_on = None

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "adr_record",
        sa.Column("epr_spid", sa.String(18), primary_key=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "adr_policy_set",
        sa.Column("id", _PK, primary_key=True, autoincrement=True),
        sa.Column("policy_set_id", sa.String(128), nullable=False),
        sa.Column("epr_spid", sa.String(18), nullable=False),
        sa.Column("template", sa.Integer, nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("reference", sa.String(128), nullable=False),
        sa.Column("start_date", sa.Date, nullable=True),
        sa.Column("end_date", sa.Date, nullable=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("policy_set_id", name="uq_adr_policy_set_id"),
    )
    op.create_index("ix_adr_policy_set_patient", "adr_policy_set", ["epr_spid", "template"])
    op.create_table(
        "adr_notification",
        sa.Column("id", _PK, primary_key=True, autoincrement=True),
        sa.Column("epr_spid", sa.String(18), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("transaction", sa.String(16), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("user_name", sa.String(255), nullable=False),
        sa.Column("acting_id", sa.String(255), nullable=False),
        sa.Column("organisation", sa.String(512), nullable=False),
        sa.Column("documents", sa.JSON, nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivery_error", sa.Text, nullable=True),
    )
    op.create_index("ix_adr_notification_patient", "adr_notification", ["epr_spid", "occurred_at"])
    op.create_table(
        "ratelimit_usage",
        sa.Column("user_id", sa.String(255), primary_key=True),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("ratelimit_usage")
    op.drop_table("adr_notification")
    op.drop_table("adr_policy_set")
    op.drop_table("adr_record")
