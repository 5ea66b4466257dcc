"""Master patient index tables (PIX V3 / PDQ V3).

Revision ID: 0002_mpi
Revises: 0001_registry

The schema is written out here (not taken from gateway/store/mpi.py) so that this revision stays
what it was when later revisions change the module. Indexes serve the hot paths: local id + OID
(ITI-45, ITI-44), EPR-SPID and MPI-PID (unique), normalised family name + birth date (ITI-47).
"""
from alembic import op
import sqlalchemy as sa

revision = "0002_mpi"
down_revision = "0001_registry"
branch_labels = None
depends_on = None

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "mpi_patient",
        sa.Column("id", _PK, primary_key=True, autoincrement=True),
        sa.Column("mpi_pid", sa.String(64), nullable=False),
        sa.Column("epr_spid", sa.String(18), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("merged_into", _PK, sa.ForeignKey("mpi_patient.id"), nullable=True),
        sa.Column("family_norm", sa.String(255), nullable=False),
        sa.Column("given_norm", sa.String(255), nullable=False),
        sa.Column("birth_date", sa.Date, nullable=True),
        sa.Column("gender", sa.String(1), nullable=False),
        sa.Column("demographics", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("mpi_pid", name="uq_mpi_patient_mpi_pid"),
        sa.UniqueConstraint("epr_spid", name="uq_mpi_patient_epr_spid"),
    )
    op.create_index("ix_mpi_patient_birth_date", "mpi_patient", ["birth_date"])
    op.create_index("ix_mpi_patient_merged_into", "mpi_patient", ["merged_into"])

    op.create_table(
        "mpi_local_id",
        sa.Column("id", _PK, primary_key=True, autoincrement=True),
        sa.Column("patient_id", _PK, sa.ForeignKey("mpi_patient.id", ondelete="CASCADE"), nullable=False),
        sa.Column("oid", sa.String(64), nullable=False),
        sa.Column("id_value", sa.String(255), nullable=False),
        sa.Column("namespace", sa.String(255), nullable=False),
        sa.UniqueConstraint("oid", "id_value", name="uq_mpi_local_id_oid_value"),
    )
    op.create_index("ix_mpi_local_id_patient", "mpi_local_id", ["patient_id"])

    op.create_table(
        "mpi_name",
        sa.Column("id", _PK, primary_key=True, autoincrement=True),
        sa.Column("patient_id", _PK, sa.ForeignKey("mpi_patient.id", ondelete="CASCADE"), nullable=False),
        sa.Column("family_norm", sa.String(255), nullable=False),
        sa.Column("given_norm", sa.String(255), nullable=False),
        sa.Column("birth_date", sa.Date, nullable=True),
    )
    op.create_index("ix_mpi_name_family_birth", "mpi_name", ["family_norm", "birth_date"])
    op.create_index("ix_mpi_name_patient", "mpi_name", ["patient_id"])

    op.create_table(
        "mpi_address",
        sa.Column("id", _PK, primary_key=True, autoincrement=True),
        sa.Column("patient_id", _PK, sa.ForeignKey("mpi_patient.id", ondelete="CASCADE"), nullable=False),
        sa.Column("street_norm", sa.String(255), nullable=False),
        sa.Column("city_norm", sa.String(255), nullable=False),
        sa.Column("postal_code", sa.String(32), nullable=False),
        sa.Column("state_norm", sa.String(255), nullable=False),
        sa.Column("country_norm", sa.String(64), nullable=False),
    )
    op.create_index("ix_mpi_address_postal_city", "mpi_address", ["postal_code", "city_norm"])
    op.create_index("ix_mpi_address_city", "mpi_address", ["city_norm"])
    op.create_index("ix_mpi_address_patient", "mpi_address", ["patient_id"])

    op.create_table(
        "mpi_merge",
        sa.Column("id", _PK, primary_key=True, autoincrement=True),
        sa.Column("survivor_id", _PK, sa.ForeignKey("mpi_patient.id"), nullable=False),
        sa.Column("merged_id", _PK, sa.ForeignKey("mpi_patient.id"), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("moved_local_ids", sa.JSON, nullable=False),
    )
    op.create_index("ix_mpi_merge_survivor", "mpi_merge", ["survivor_id"])
    op.create_index("ix_mpi_merge_merged", "mpi_merge", ["merged_id"])

    op.create_table(
        "mpi_query_state",
        sa.Column("query_key", sa.String(512), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
    )
    op.create_index("ix_mpi_query_state_created", "mpi_query_state", ["created_at"])


def downgrade() -> None:
    op.drop_table("mpi_query_state")
    op.drop_table("mpi_merge")
    op.drop_table("mpi_address")
    op.drop_table("mpi_name")
    op.drop_table("mpi_local_id")
    op.drop_table("mpi_patient")
