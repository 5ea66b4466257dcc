"""The stored-query model: the typed criteria and the one frozen dataclass per stored query that
:mod:`.query_request` reads an AdhocQueryRequest into and :mod:`.query_execution` evaluates.

Time parameters: ``...From`` is inclusive, ``...To`` exclusive, both at the precision given. Both the
stored times and the parameters are padded the same way (``datatypes.pad_dtm``), so comparing the padded
strings is comparing instants at the parameter's precision (:class:`TimeRange`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from . import constants as C
from .query_catalogue import QUERY_NAMES, ReturnType

Code = tuple[str, str]                    # (code, codingScheme)
CodeSet = frozenset[Code]


@dataclass(frozen=True)
class TimeRange:
    """``start <= t < end`` on 14-digit padded DTMs; ``None``: open on that side."""

    start: str | None = None
    end: str | None = None

    @property
    def open(self) -> bool:
        return self.start is None and self.end is None

    def contains(self, value: str | None) -> bool:
        if self.open:
            return True
        if value is None:
            return False
        return (self.start is None or value >= self.start) and (self.end is None or value < self.end)


ALL_ENTRY_TYPES = frozenset({C.DOC_ENTRY_STABLE, C.DOC_ENTRY_ON_DEMAND})
#: TF-2a 3.18.4.1.2.3.6.2: without $XDSDocumentEntryType only stable entries are returned.
DEFAULT_ENTRY_TYPES = frozenset({C.DOC_ENTRY_STABLE})


@dataclass(frozen=True)
class DocumentCriteria:
    """What DocumentEntries to find. Every field given must match (AND); ``None``/empty: no constraint.

    ``event_codes``/``confidentiality_codes`` are ANDed groups of ORed codes. ``author_persons`` are
    ebRS LIKE patterns (``%`` any run, ``_`` one character, case-sensitive), ORed; a document matches
    when one of its authors matches one pattern. ``entry_uuids`` restricts to given entries (contents
    of a submission set or folder).
    """

    patient_id: str | None = None
    statuses: frozenset[str] | None = None            # short forms: Approved, Deprecated...
    object_types: frozenset[str] | None = DEFAULT_ENTRY_TYPES
    class_codes: CodeSet | None = None
    type_codes: CodeSet | None = None
    practice_setting_codes: CodeSet | None = None
    facility_type_codes: CodeSet | None = None
    format_codes: CodeSet | None = None
    event_codes: tuple[CodeSet, ...] = ()
    confidentiality_codes: tuple[CodeSet, ...] = ()
    author_persons: tuple[str, ...] = ()
    creation_time: TimeRange = TimeRange()
    service_start_time: TimeRange = TimeRange()
    service_stop_time: TimeRange = TimeRange()
    reference_ids: frozenset[str] | None = None
    entry_uuids: frozenset[str] | None = None


@dataclass(frozen=True)
class SubmissionSetCriteria:
    patient_id: str
    statuses: frozenset[str] | None = None
    source_ids: frozenset[str] | None = None
    submission_time: TimeRange = TimeRange()
    author_persons: tuple[str, ...] = ()
    content_type_codes: CodeSet | None = None


@dataclass(frozen=True)
class FolderCriteria:
    patient_id: str
    statuses: frozenset[str] | None = None
    last_update_time: TimeRange = TimeRange()
    codes: tuple[CodeSet, ...] = ()


SelectorField = Literal["uuid", "unique_id", "lid"]


@dataclass(frozen=True)
class Selector:
    """Objects named by entryUUID, uniqueId or logical id (the either-or parameters of the Get queries)."""

    by: SelectorField
    values: tuple[str, ...]


@dataclass(frozen=True)
class ContentFilter:
    """The DocumentEntry filters of GetAll / GetSubmissionSetAndContents / GetFolderAndContents."""

    format_codes: CodeSet | None = None
    confidentiality_codes: tuple[CodeSet, ...] = ()
    object_types: frozenset[str] | None = DEFAULT_ENTRY_TYPES

    def criteria(self, **kw) -> DocumentCriteria:
        return DocumentCriteria(format_codes=self.format_codes, confidentiality_codes=self.confidentiality_codes,
                                object_types=self.object_types, **kw)


@dataclass(frozen=True)
class PatientRef:
    """A patientId parameter: the CX as sent and its parts."""

    cx: str
    id: str
    oid: str

    @property
    def canonical(self) -> str:
        return f"{self.id}^^^&{self.oid}&ISO"


@dataclass(frozen=True)
class FindDocuments:
    patient: PatientRef
    criteria: DocumentCriteria


@dataclass(frozen=True)
class FindDocumentsByReferenceId(FindDocuments):
    pass


@dataclass(frozen=True)
class FindSubmissionSets:
    patient: PatientRef
    criteria: SubmissionSetCriteria


@dataclass(frozen=True)
class FindFolders:
    patient: PatientRef
    criteria: FolderCriteria


@dataclass(frozen=True)
class GetAll:
    patient: PatientRef
    document_statuses: frozenset[str]
    submission_set_statuses: frozenset[str]
    folder_statuses: frozenset[str]
    content: ContentFilter


@dataclass(frozen=True)
class GetDocuments:
    selector: Selector


@dataclass(frozen=True)
class GetFolders:
    selector: Selector


@dataclass(frozen=True)
class GetAssociations:
    uuids: tuple[str, ...]


@dataclass(frozen=True)
class GetDocumentsAndAssociations:
    selector: Selector


@dataclass(frozen=True)
class GetSubmissionSets:
    uuids: tuple[str, ...]


@dataclass(frozen=True)
class GetSubmissionSetAndContents:
    selector: Selector
    content: ContentFilter


@dataclass(frozen=True)
class GetFolderAndContents:
    selector: Selector
    content: ContentFilter


@dataclass(frozen=True)
class GetFoldersForDocument:
    selector: Selector


@dataclass(frozen=True)
class GetRelatedDocuments:
    selector: Selector
    association_types: frozenset[str]


StoredQuery = (FindDocuments | FindSubmissionSets | FindFolders | GetAll | GetDocuments | GetFolders
               | GetAssociations | GetDocumentsAndAssociations | GetSubmissionSets | GetSubmissionSetAndContents
               | GetFolderAndContents | GetFoldersForDocument | GetRelatedDocuments)


@dataclass(frozen=True)
class QueryRequest:
    """A parsed AdhocQueryRequest."""

    query_id: str
    return_type: ReturnType
    query: StoredQuery
    #: every Slot as read: (name, values), in request order (the audit record's query parameters)
    parameters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: the request's $homeCommunityId, when it names one
    home_community_id: str | None = None

    @property
    def name(self) -> str:
        return QUERY_NAMES[self.query_id]

    @property
    def patient(self) -> PatientRef | None:
        return getattr(self.query, "patient", None)


