"""The catalogue of the fourteen Registry Stored Queries (ITI TF-2a 3.18.4.1.2.3.7): their ids and every
parameter of each (kind, required, multiple values, AND/OR semantics, either-or groups).

Pure data; the AdhocQueryRequest is checked against it in :mod:`.query_request`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Query ids (TF-2a 3.18.4.1.2.3.7)

FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
FIND_SUBMISSION_SETS = "urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9"
FIND_FOLDERS = "urn:uuid:958f3006-baad-4929-a4de-ff1114824431"
GET_ALL = "urn:uuid:10b545ea-725c-446d-9b95-8aeb444eddf3"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
GET_FOLDERS = "urn:uuid:5737b14c-8a1a-4539-b659-e03a34a5e1e4"
GET_ASSOCIATIONS = "urn:uuid:a7ae438b-4bc2-4642-93e9-be891f7bb155"
GET_DOCUMENTS_AND_ASSOCIATIONS = "urn:uuid:bab9529a-4a10-40b3-a01f-f68a615d247a"
GET_SUBMISSION_SETS = "urn:uuid:51224314-5390-4169-9b91-b1980040715a"
GET_SUBMISSION_SET_AND_CONTENTS = "urn:uuid:e8e3cb2c-e39c-46b9-99e4-c12f57260b83"
GET_FOLDER_AND_CONTENTS = "urn:uuid:b909a503-523d-4517-8acf-8e5834dfc4c7"
GET_FOLDERS_FOR_DOCUMENT = "urn:uuid:10cae35a-c7f9-4cf5-b61e-fc3278ffb578"
GET_RELATED_DOCUMENTS = "urn:uuid:d90e5407-b356-4d91-a89f-873917b4b0e6"
FIND_DOCUMENTS_BY_REFERENCE_ID = "urn:uuid:12941a89-e02e-4be5-967c-ce4bfc8fe492"

QUERY_NAMES = {
    FIND_DOCUMENTS: "FindDocuments", FIND_SUBMISSION_SETS: "FindSubmissionSets", FIND_FOLDERS: "FindFolders",
    GET_ALL: "GetAll", GET_DOCUMENTS: "GetDocuments", GET_FOLDERS: "GetFolders",
    GET_ASSOCIATIONS: "GetAssociations", GET_DOCUMENTS_AND_ASSOCIATIONS: "GetDocumentsAndAssociations",
    GET_SUBMISSION_SETS: "GetSubmissionSets", GET_SUBMISSION_SET_AND_CONTENTS: "GetSubmissionSetAndContents",
    GET_FOLDER_AND_CONTENTS: "GetFolderAndContents", GET_FOLDERS_FOR_DOCUMENT: "GetFoldersForDocument",
    GET_RELATED_DOCUMENTS: "GetRelatedDocuments", FIND_DOCUMENTS_BY_REFERENCE_ID: "FindDocumentsByReferenceId",
}
QUERY_IDS = {name: qid for qid, name in QUERY_NAMES.items()}

RETURN_LEAF_CLASS = "LeafClass"
RETURN_OBJECT_REF = "ObjectRef"
ReturnType = Literal["LeafClass", "ObjectRef"]

STATUS_PREFIX = "urn:oasis:names:tc:ebxml-regrep:StatusType:"

# ---------------------------------------------------------------------------------------------
# The catalogue: every parameter of every query


ParamKind = Literal["patient", "status", "code", "time", "string", "author", "entry_type", "level"]


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a stored query.

    ``multiple``: accepts a list of values (OR). ``and_or``: may also be repeated as several Slots,
    which are ANDed (TF-2a 3.18.4.1.2.3.6).
    """

    name: str
    kind: ParamKind
    required: bool = False
    multiple: bool = False
    and_or: bool = False


@dataclass(frozen=True)
class QuerySpec:
    name: str
    params: tuple[ParamSpec, ...]
    #: groups of which exactly one parameter must be given (``required``) or at most one
    one_of: tuple[tuple[str, ...], ...] = ()
    one_of_required: bool = True

    def param(self, name: str) -> ParamSpec | None:
        for p in self.params:
            if p.name == name:
                return p
        return None


def _p(name: str, kind: ParamKind, required: bool = False, multiple: bool = False,
       and_or: bool = False) -> ParamSpec:
    return ParamSpec(name, kind, required, multiple, and_or)


_LEVEL = _p("$MetadataLevel", "level")
_HOME = _p("$homeCommunityId", "string")

# The DocumentEntry filter parameters FindDocuments and FindDocumentsByReferenceId share.
_DE_FILTERS = (
    _p("$XDSDocumentEntryPatientId", "patient", required=True),
    _p("$XDSDocumentEntryClassCode", "code", multiple=True),
    _p("$XDSDocumentEntryTypeCode", "code", multiple=True),
    _p("$XDSDocumentEntryPracticeSettingCode", "code", multiple=True),
    _p("$XDSDocumentEntryCreationTimeFrom", "time"),
    _p("$XDSDocumentEntryCreationTimeTo", "time"),
    _p("$XDSDocumentEntryServiceStartTimeFrom", "time"),
    _p("$XDSDocumentEntryServiceStartTimeTo", "time"),
    _p("$XDSDocumentEntryServiceStopTimeFrom", "time"),
    _p("$XDSDocumentEntryServiceStopTimeTo", "time"),
    _p("$XDSDocumentEntryHealthcareFacilityTypeCode", "code", multiple=True),
    _p("$XDSDocumentEntryEventCodeList", "code", multiple=True, and_or=True),
    _p("$XDSDocumentEntryConfidentialityCode", "code", multiple=True, and_or=True),
    _p("$XDSDocumentEntryAuthorPerson", "author", multiple=True),
    _p("$XDSDocumentEntryFormatCode", "code", multiple=True),
    _p("$XDSDocumentEntryStatus", "status", required=True, multiple=True),
    _p("$XDSDocumentEntryType", "entry_type", multiple=True),
    _LEVEL,
)
# The content filters of GetAll, GetSubmissionSetAndContents and GetFolderAndContents.
_CONTENT_FILTERS = (
    _p("$XDSDocumentEntryFormatCode", "code", multiple=True),
    _p("$XDSDocumentEntryConfidentialityCode", "code", multiple=True, and_or=True),
    _p("$XDSDocumentEntryType", "entry_type", multiple=True),
)

CATALOGUE: dict[str, QuerySpec] = {
    FIND_DOCUMENTS: QuerySpec("FindDocuments", _DE_FILTERS),
    FIND_DOCUMENTS_BY_REFERENCE_ID: QuerySpec("FindDocumentsByReferenceId", _DE_FILTERS + (
        _p("$XDSDocumentEntryReferenceIdList", "string", required=True, multiple=True),)),
    FIND_SUBMISSION_SETS: QuerySpec("FindSubmissionSets", (
        _p("$XDSSubmissionSetPatientId", "patient", required=True),
        _p("$XDSSubmissionSetSourceId", "string", multiple=True),
        _p("$XDSSubmissionSetSubmissionTimeFrom", "time"),
        _p("$XDSSubmissionSetSubmissionTimeTo", "time"),
        _p("$XDSSubmissionSetAuthorPerson", "author"),
        _p("$XDSSubmissionSetContentType", "code", multiple=True),
        _p("$XDSSubmissionSetStatus", "status", required=True, multiple=True),
        _LEVEL)),
    FIND_FOLDERS: QuerySpec("FindFolders", (
        _p("$XDSFolderPatientId", "patient", required=True),
        _p("$XDSFolderLastUpdateTimeFrom", "time"),
        _p("$XDSFolderLastUpdateTimeTo", "time"),
        _p("$XDSFolderCodeList", "code", multiple=True, and_or=True),
        _p("$XDSFolderStatus", "status", required=True, multiple=True),
        _LEVEL)),
    GET_ALL: QuerySpec("GetAll", (
        _p("$patientId", "patient", required=True),
        _p("$XDSDocumentEntryStatus", "status", required=True, multiple=True),
        _p("$XDSSubmissionSetStatus", "status", required=True, multiple=True),
        _p("$XDSFolderStatus", "status", required=True, multiple=True),
        *_CONTENT_FILTERS, _LEVEL)),
    GET_DOCUMENTS: QuerySpec("GetDocuments", (
        _p("$XDSDocumentEntryEntryUUID", "string", multiple=True),
        _p("$XDSDocumentEntryUniqueId", "string", multiple=True),
        _p("$XDSDocumentEntryLogicalID", "string", multiple=True),
        _HOME, _LEVEL),
        one_of=(("$XDSDocumentEntryEntryUUID", "$XDSDocumentEntryUniqueId", "$XDSDocumentEntryLogicalID"),)),
    GET_FOLDERS: QuerySpec("GetFolders", (
        _p("$XDSFolderEntryUUID", "string", multiple=True),
        _p("$XDSFolderUniqueId", "string", multiple=True),
        _p("$XDSFolderLogicalID", "string", multiple=True),
        _HOME, _LEVEL),
        one_of=(("$XDSFolderEntryUUID", "$XDSFolderUniqueId", "$XDSFolderLogicalID"),)),
    GET_ASSOCIATIONS: QuerySpec("GetAssociations", (
        _p("$uuid", "string", required=True, multiple=True), _HOME, _LEVEL)),
    GET_DOCUMENTS_AND_ASSOCIATIONS: QuerySpec("GetDocumentsAndAssociations", (
        _p("$XDSDocumentEntryEntryUUID", "string", multiple=True),
        _p("$XDSDocumentEntryUniqueId", "string", multiple=True),
        _HOME, _LEVEL),
        one_of=(("$XDSDocumentEntryEntryUUID", "$XDSDocumentEntryUniqueId"),)),
    GET_SUBMISSION_SETS: QuerySpec("GetSubmissionSets", (
        _p("$uuid", "string", required=True, multiple=True), _HOME, _LEVEL)),
    GET_SUBMISSION_SET_AND_CONTENTS: QuerySpec("GetSubmissionSetAndContents", (
        _p("$XDSSubmissionSetEntryUUID", "string"),
        _p("$XDSSubmissionSetUniqueId", "string"),
        *_CONTENT_FILTERS, _HOME, _LEVEL),
        one_of=(("$XDSSubmissionSetEntryUUID", "$XDSSubmissionSetUniqueId"),)),
    GET_FOLDER_AND_CONTENTS: QuerySpec("GetFolderAndContents", (
        _p("$XDSFolderEntryUUID", "string"),
        _p("$XDSFolderUniqueId", "string"),
        *_CONTENT_FILTERS, _HOME, _LEVEL),
        one_of=(("$XDSFolderEntryUUID", "$XDSFolderUniqueId"),)),
    GET_FOLDERS_FOR_DOCUMENT: QuerySpec("GetFoldersForDocument", (
        _p("$XDSDocumentEntryEntryUUID", "string"),
        _p("$XDSDocumentEntryUniqueId", "string"),
        _HOME, _LEVEL),
        one_of=(("$XDSDocumentEntryEntryUUID", "$XDSDocumentEntryUniqueId"),)),
    GET_RELATED_DOCUMENTS: QuerySpec("GetRelatedDocuments", (
        _p("$XDSDocumentEntryEntryUUID", "string"),
        _p("$XDSDocumentEntryUniqueId", "string"),
        _p("$AssociationTypes", "string", required=True, multiple=True),
        _HOME, _LEVEL),
        one_of=(("$XDSDocumentEntryEntryUUID", "$XDSDocumentEntryUniqueId"),)),
}

