"""An identical resubmission of a document is a second entry (IHE, NIST XDS test 12004).

Revision ID: 0003_identical_resubmission
Revises: 0002_mpi

``xds_document.unique_id`` is no longer unique (an index instead); ``xds_document_unique_id`` holds
one row per DocumentEntry uniqueId with the hash and size it was first registered with, so that
every entry of one uniqueId is the same document, also between racing submissions. Filled from
the documents already registered. Decision 002.
"""
from alembic import op
import sqlalchemy as sa

revision = "0003_identical_resubmission"
down_revision = "0002_mpi"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "xds_document_unique_id",
        sa.Column("unique_id", sa.String(length=128), nullable=False),
        sa.Column("hash", sa.String(length=40), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("unique_id"),
    )
    op.execute("INSERT INTO xds_document_unique_id (unique_id, hash, size) "
               "SELECT unique_id, MIN(hash), MIN(size) FROM xds_document GROUP BY unique_id")
    with op.batch_alter_table("xds_document") as batch:
        batch.drop_constraint("uq_xds_document_unique_id", type_="unique")
        batch.create_index("ix_xds_document_unique_id", ["unique_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("xds_document") as batch:
        batch.drop_index("ix_xds_document_unique_id")
        batch.create_unique_constraint("uq_xds_document_unique_id", ["unique_id"])
    op.drop_table("xds_document_unique_id")
