"""Registry and repository tables (SQLAlchemy Core), keyed for the stored queries' hot paths.

Times (creationTime, serviceStart/StopTime, submissionTime, lastUpdateTime) are stored padded
to 14 digits (YYYYMMDDhhmmss) so that range queries compare as strings; the XML keeps the value as
submitted. ``xml`` holds the object's ebRIM element exactly as registered (ids resolved, registry
attributes added); the status attribute is set from the ``status`` column when it is read.
"""
from __future__ import annotations

from sqlalchemy import Column, Index, Integer, BigInteger, String, Table, Text, UniqueConstraint

from .db import metadata

ID = 128  # ebRIM ids are URNs (urn:uuid:... is 45 characters); uniqueIds are OIDs up to 128 characters
PID = 256

documents = Table(
    "xds_document", metadata,
    Column("entry_uuid", String(ID), primary_key=True),
    Column("lid", String(ID), nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("unique_id", String(ID), nullable=False),
    Column("patient_id", String(PID), nullable=False),
    Column("status", String(16), nullable=False),            # Approved | Deprecated
    Column("object_type", String(64), nullable=False),
    Column("class_code", String(ID)), Column("class_scheme", String(ID)),
    Column("type_code", String(ID)), Column("type_scheme", String(ID)),
    Column("format_code", String(ID)), Column("format_scheme", String(ID)),
    Column("practice_setting_code", String(ID)), Column("practice_setting_scheme", String(ID)),
    Column("facility_type_code", String(ID)), Column("facility_type_scheme", String(ID)),
    Column("creation_time", String(14)),
    Column("service_start_time", String(14)),
    Column("service_stop_time", String(14)),
    Column("mime_type", String(ID)),
    Column("hash", String(40)),
    Column("size", BigInteger),
    Column("repository_unique_id", String(ID)),
    Column("submission_set", String(ID), nullable=False),
    Column("seq", BigInteger, nullable=False),               # registration order (stable answers)
    Column("xml", Text, nullable=False),
    Index("ix_xds_document_unique_id", "unique_id"),     # not unique: an identical resubmission is a second entry
    Index("ix_xds_document_patient_status", "patient_id", "status"),
    Index("ix_xds_document_patient_class", "patient_id", "class_code"),
    Index("ix_xds_document_lid", "lid"),
)

# One row per DocumentEntry uniqueId ever registered, with the hash and size it was registered with:
# the registry's guard that every entry of one uniqueId is the same document (an identical
# resubmission adds an entry, a different hash or size is refused, also between racing submissions).
document_unique_ids = Table(
    "xds_document_unique_id", metadata,
    Column("unique_id", String(ID), primary_key=True),
    Column("hash", String(40)),
    Column("size", BigInteger),
)

# multi-valued codes of a document: confidentialityCode (kind 'conf') and eventCodeList ('event')
document_codes = Table(
    "xds_document_code", metadata,
    Column("document", String(ID), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("code", String(ID), nullable=False),
    Column("scheme", String(ID), nullable=False),
    Index("ix_xds_document_code_doc", "document", "kind"),
    Index("ix_xds_document_code_value", "kind", "code", "scheme"),
)

document_authors = Table(
    "xds_document_author", metadata,
    Column("document", String(ID), nullable=False),
    Column("person", String(512), nullable=False),
    Index("ix_xds_document_author_doc", "document"),
)

document_reference_ids = Table(
    "xds_document_reference_id", metadata,
    Column("document", String(ID), nullable=False),
    Column("value", String(512), nullable=False),
    Index("ix_xds_document_reference_id_value", "value"),
    Index("ix_xds_document_reference_id_doc", "document"),
)

submission_sets = Table(
    "xds_submission_set", metadata,
    Column("entry_uuid", String(ID), primary_key=True),
    Column("unique_id", String(ID), nullable=False),
    Column("patient_id", String(PID), nullable=False),
    Column("status", String(16), nullable=False),
    Column("source_id", String(ID)),
    Column("submission_time", String(14)),
    Column("content_type_code", String(ID)), Column("content_type_scheme", String(ID)),
    Column("seq", BigInteger, nullable=False),
    Column("xml", Text, nullable=False),
    UniqueConstraint("unique_id", name="uq_xds_submission_set_unique_id"),
    Index("ix_xds_submission_set_patient", "patient_id", "status"),
)

submission_set_authors = Table(
    "xds_submission_set_author", metadata,
    Column("submission_set", String(ID), nullable=False),
    Column("person", String(512), nullable=False),
    Index("ix_xds_submission_set_author_ss", "submission_set"),
)

folders = Table(
    "xds_folder", metadata,
    Column("entry_uuid", String(ID), primary_key=True),
    Column("lid", String(ID), nullable=False),
    Column("unique_id", String(ID), nullable=False),
    Column("patient_id", String(PID), nullable=False),
    Column("status", String(16), nullable=False),
    Column("last_update_time", String(14)),
    Column("seq", BigInteger, nullable=False),
    Column("xml", Text, nullable=False),
    UniqueConstraint("unique_id", name="uq_xds_folder_unique_id"),
    Index("ix_xds_folder_patient", "patient_id", "status"),
)

folder_codes = Table(
    "xds_folder_code", metadata,
    Column("folder", String(ID), nullable=False),
    Column("code", String(ID), nullable=False),
    Column("scheme", String(ID), nullable=False),
    Index("ix_xds_folder_code_folder", "folder"),
)

associations = Table(
    "xds_association", metadata,
    Column("entry_uuid", String(ID), primary_key=True),
    Column("type", String(ID), nullable=False),
    Column("source", String(ID), nullable=False),
    Column("target", String(ID), nullable=False),
    Column("status", String(16), nullable=False),
    Column("submission_set", String(ID), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("xml", Text, nullable=False),
    Index("ix_xds_association_source", "source", "type"),
    Index("ix_xds_association_target", "target", "type"),
)

# The repository's own record of each stored document (blob content-addressed by SHA-256).
repository_documents = Table(
    "repo_document", metadata,
    Column("repository_unique_id", String(ID), primary_key=True),
    Column("unique_id", String(ID), primary_key=True),
    Column("sha1", String(40), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mime_type", String(ID), nullable=False),
    Index("ix_repo_document_sha256", "sha256"),
)

