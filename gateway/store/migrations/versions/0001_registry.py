"""Registry and repository tables.

Revision ID: 0001_registry
Revises:
"""
from alembic import op

revision = "0001_registry"
down_revision = None
branch_labels = None
depends_on = None

_TABLES = ["xds_document", "xds_document_code", "xds_document_author", "xds_document_reference_id",
           "xds_submission_set", "xds_submission_set_author", "xds_folder", "xds_folder_code",
           "xds_association", "repo_document"]


def upgrade() -> None:
    # The tables as defined in gateway/store/registry_tables.py at this revision.
    from gateway.store import registry_tables  # noqa: F401  (registers the tables)
    from gateway.store.db import metadata
    bind = op.get_bind()
    metadata.create_all(bind, tables=[metadata.tables[t] for t in _TABLES])


def downgrade() -> None:
    from gateway.store import registry_tables  # noqa: F401
    from gateway.store.db import metadata
    metadata.drop_all(op.get_bind(), tables=[metadata.tables[t] for t in reversed(_TABLES)])
