"""Registry and repository tables.

Revision ID: 0001_registry
Revises:

Frozen: later schema changes go into new revisions, never here.
"""
from alembic import op
import sqlalchemy as sa

revision = "0001_registry"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('repo_document',
    sa.Column('repository_unique_id', sa.String(length=128), nullable=False),
    sa.Column('unique_id', sa.String(length=128), nullable=False),
    sa.Column('sha1', sa.String(length=40), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('mime_type', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('repository_unique_id', 'unique_id')
    )
    op.create_index('ix_repo_document_sha256', 'repo_document', ['sha256'], unique=False)
    op.create_table('xds_association',
    sa.Column('entry_uuid', sa.String(length=128), nullable=False),
    sa.Column('type', sa.String(length=128), nullable=False),
    sa.Column('source', sa.String(length=128), nullable=False),
    sa.Column('target', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('submission_set', sa.String(length=128), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('xml', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('entry_uuid')
    )
    op.create_index('ix_xds_association_source', 'xds_association', ['source', 'type'], unique=False)
    op.create_index('ix_xds_association_target', 'xds_association', ['target', 'type'], unique=False)
    op.create_table('xds_document',
    sa.Column('entry_uuid', sa.String(length=128), nullable=False),
    sa.Column('lid', sa.String(length=128), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('unique_id', sa.String(length=128), nullable=False),
    sa.Column('patient_id', sa.String(length=256), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('object_type', sa.String(length=64), nullable=False),
    sa.Column('class_code', sa.String(length=128), nullable=True),
    sa.Column('class_scheme', sa.String(length=128), nullable=True),
    sa.Column('type_code', sa.String(length=128), nullable=True),
    sa.Column('type_scheme', sa.String(length=128), nullable=True),
    sa.Column('format_code', sa.String(length=128), nullable=True),
    sa.Column('format_scheme', sa.String(length=128), nullable=True),
    sa.Column('practice_setting_code', sa.String(length=128), nullable=True),
    sa.Column('practice_setting_scheme', sa.String(length=128), nullable=True),
    sa.Column('facility_type_code', sa.String(length=128), nullable=True),
    sa.Column('facility_type_scheme', sa.String(length=128), nullable=True),
    sa.Column('creation_time', sa.String(length=14), nullable=True),
    sa.Column('service_start_time', sa.String(length=14), nullable=True),
    sa.Column('service_stop_time', sa.String(length=14), nullable=True),
    sa.Column('mime_type', sa.String(length=128), nullable=True),
    sa.Column('hash', sa.String(length=40), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=True),
    sa.Column('repository_unique_id', sa.String(length=128), nullable=True),
    sa.Column('submission_set', sa.String(length=128), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('xml', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('entry_uuid'),
    sa.UniqueConstraint('unique_id', name='uq_xds_document_unique_id')
    )
    op.create_index('ix_xds_document_lid', 'xds_document', ['lid'], unique=False)
    op.create_index('ix_xds_document_patient_class', 'xds_document', ['patient_id', 'class_code'], unique=False)
    op.create_index('ix_xds_document_patient_status', 'xds_document', ['patient_id', 'status'], unique=False)
    op.create_table('xds_document_author',
    sa.Column('document', sa.String(length=128), nullable=False),
    sa.Column('person', sa.String(length=512), nullable=False)
    )
    op.create_index('ix_xds_document_author_doc', 'xds_document_author', ['document'], unique=False)
    op.create_table('xds_document_code',
    sa.Column('document', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('code', sa.String(length=128), nullable=False),
    sa.Column('scheme', sa.String(length=128), nullable=False)
    )
    op.create_index('ix_xds_document_code_doc', 'xds_document_code', ['document', 'kind'], unique=False)
    op.create_index('ix_xds_document_code_value', 'xds_document_code', ['kind', 'code', 'scheme'], unique=False)
    op.create_table('xds_document_reference_id',
    sa.Column('document', sa.String(length=128), nullable=False),
    sa.Column('value', sa.String(length=512), nullable=False)
    )
    op.create_index('ix_xds_document_reference_id_doc', 'xds_document_reference_id', ['document'], unique=False)
    op.create_index('ix_xds_document_reference_id_value', 'xds_document_reference_id', ['value'], unique=False)
    op.create_table('xds_folder',
    sa.Column('entry_uuid', sa.String(length=128), nullable=False),
    sa.Column('lid', sa.String(length=128), nullable=False),
    sa.Column('unique_id', sa.String(length=128), nullable=False),
    sa.Column('patient_id', sa.String(length=256), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('last_update_time', sa.String(length=14), nullable=True),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('xml', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('entry_uuid'),
    sa.UniqueConstraint('unique_id', name='uq_xds_folder_unique_id')
    )
    op.create_index('ix_xds_folder_patient', 'xds_folder', ['patient_id', 'status'], unique=False)
    op.create_table('xds_folder_code',
    sa.Column('folder', sa.String(length=128), nullable=False),
    sa.Column('code', sa.String(length=128), nullable=False),
    sa.Column('scheme', sa.String(length=128), nullable=False)
    )
    op.create_index('ix_xds_folder_code_folder', 'xds_folder_code', ['folder'], unique=False)
    op.create_table('xds_submission_set',
    sa.Column('entry_uuid', sa.String(length=128), nullable=False),
    sa.Column('unique_id', sa.String(length=128), nullable=False),
    sa.Column('patient_id', sa.String(length=256), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source_id', sa.String(length=128), nullable=True),
    sa.Column('submission_time', sa.String(length=14), nullable=True),
    sa.Column('content_type_code', sa.String(length=128), nullable=True),
    sa.Column('content_type_scheme', sa.String(length=128), nullable=True),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('xml', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('entry_uuid'),
    sa.UniqueConstraint('unique_id', name='uq_xds_submission_set_unique_id')
    )
    op.create_index('ix_xds_submission_set_patient', 'xds_submission_set', ['patient_id', 'status'], unique=False)
    op.create_table('xds_submission_set_author',
    sa.Column('submission_set', sa.String(length=128), nullable=False),
    sa.Column('person', sa.String(length=512), nullable=False)
    )
    op.create_index('ix_xds_submission_set_author_ss', 'xds_submission_set_author', ['submission_set'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_xds_submission_set_author_ss', table_name='xds_submission_set_author')
    op.drop_table('xds_submission_set_author')
    op.drop_index('ix_xds_submission_set_patient', table_name='xds_submission_set')
    op.drop_table('xds_submission_set')
    op.drop_index('ix_xds_folder_code_folder', table_name='xds_folder_code')
    op.drop_table('xds_folder_code')
    op.drop_index('ix_xds_folder_patient', table_name='xds_folder')
    op.drop_table('xds_folder')
    op.drop_index('ix_xds_document_reference_id_value', table_name='xds_document_reference_id')
    op.drop_index('ix_xds_document_reference_id_doc', table_name='xds_document_reference_id')
    op.drop_table('xds_document_reference_id')
    op.drop_index('ix_xds_document_code_value', table_name='xds_document_code')
    op.drop_index('ix_xds_document_code_doc', table_name='xds_document_code')
    op.drop_table('xds_document_code')
    op.drop_index('ix_xds_document_author_doc', table_name='xds_document_author')
    op.drop_table('xds_document_author')
    op.drop_index('ix_xds_document_patient_status', table_name='xds_document')
    op.drop_index('ix_xds_document_patient_class', table_name='xds_document')
    op.drop_index('ix_xds_document_lid', table_name='xds_document')
    op.drop_table('xds_document')
    op.drop_index('ix_xds_association_target', table_name='xds_association')
    op.drop_index('ix_xds_association_source', table_name='xds_association')
    op.drop_table('xds_association')
    op.drop_index('ix_repo_document_sha256', table_name='repo_document')
    op.drop_table('repo_document')
