"""ATNA: the audit record of each transaction (DICOM PS3.15 AuditMessage), transport-free."""
