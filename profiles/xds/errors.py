"""XDS error codes (ITI TF-3 Table 4.2.4.1-2) and the error value the profiles report.

One catalogue: every IHE rule reports through ``XdsError`` with one of these codes.
"""
from __future__ import annotations

from dataclasses import dataclass

from .constants import SEVERITY_ERROR

XDS_REGISTRY_ERROR = "XDSRegistryError"
XDS_REGISTRY_METADATA_ERROR = "XDSRegistryMetadataError"
XDS_REPOSITORY_ERROR = "XDSRepositoryError"
XDS_REPOSITORY_METADATA_ERROR = "XDSRepositoryMetadataError"
XDS_MISSING_DOCUMENT = "XDSMissingDocument"
XDS_MISSING_DOCUMENT_METADATA = "XDSMissingDocumentMetadata"
XDS_UNKNOWN_PATIENT_ID = "XDSUnknownPatientId"
XDS_PATIENT_ID_DOES_NOT_MATCH = "XDSPatientIdDoesNotMatch"
XDS_NON_IDENTICAL_HASH = "XDSNonIdenticalHash"
XDS_NON_IDENTICAL_SIZE = "XDSNonIdenticalSize"
XDS_DUPLICATE_UNIQUE_ID = "XDSDuplicateUniqueIdInRegistry"
XDS_DOCUMENT_UNIQUE_ID_ERROR = "XDSDocumentUniqueIdError"
XDS_UNKNOWN_REPOSITORY_ID = "XDSUnknownRepositoryId"
XDS_UNKNOWN_COMMUNITY = "XDSUnknownCommunity"
XDS_UNKNOWN_STORED_QUERY = "XDSUnknownStoredQuery"
XDS_STORED_QUERY_PARAM_NUMBER = "XDSStoredQueryParamNumber"
XDS_STORED_QUERY_MISSING_PARAM = "XDSStoredQueryMissingParam"
XDS_TOO_MANY_RESULTS = "XDSTooManyResults"
XDS_REGISTRY_BUSY = "XDSRegistryBusy"
XDS_REPOSITORY_BUSY = "XDSRepositoryBusy"
XDS_REPLACE_FAILED = "XDSReplaceFailed"  # not in XDS.b final text; kept for completeness


@dataclass(frozen=True)
class XdsError:
    code: str
    context: str                 # codeContext: human-readable, names object/attribute/value
    location: str = ""           # the object id (entryUUID / symbolic id / uniqueId) concerned
    severity: str = SEVERITY_ERROR


class XdsFailure(Exception):
    """Raised inside a transaction to abort it with the given errors (nothing is stored)."""

    def __init__(self, errors: list[XdsError] | XdsError):
        self.errors = [errors] if isinstance(errors, XdsError) else list(errors)
        super().__init__("; ".join(f"{e.code}: {e.context}" for e in self.errors))

# added by the read side (ITI-18 LeafClass across patients, TF-3 Table 4.2.4.1-2)
XDS_RESULT_NOT_SINGLE_PATIENT = "XDSResultNotSinglePatient"
