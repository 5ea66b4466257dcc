"""Registry Stored Query (ITI-18, ITI TF-2a 3.18): the fourteen queries, their parameters, their semantics.

Two halves, both transport- and SQL-free:

* **Parsing** -- :func:`parse_query_request` reads a ``query:AdhocQueryRequest`` into a typed query
  (one frozen dataclass per stored query) after checking every parameter against the catalogue
  :data:`CATALOGUE` (TF-2a 3.18.4.1.2.3.7). Every problem becomes an :class:`~.errors.XdsError`:

  ============================================================  ===============================
  unknown AdhocQuery id                                         ``XDSUnknownStoredQuery``
  required parameter missing; a single-valued parameter with    ``XDSStoredQueryParamNumber``
  several values or given twice; a parameter without AND
  semantics repeated; both (or none) of an either-or group
  malformed value (time not a DTM, code without scheme, status  ``XDSRegistryError`` (names the
  not a status URN, bad patient id, bad returnType)             parameter)
  ``$MetadataLevel`` other than 1 (Swiss EPR)                   ``XDSRegistryError``
  ============================================================  ===============================

  Parameters that no stored query of this catalogue defines are ignored (ebRS leaves them to the
  registry; IPF's ``$ipfSortOrder`` and similar extensions then do no harm).

* **Execution** -- :func:`run_query` evaluates a typed query over a :class:`~.query_ports.RegistryQueryPort`
  (the SQL store implements it) and returns a :class:`~.query_ports.QueryResult`. All candidate
  DocumentEntries pass through **one** authorization seam, the ``ResultFilter`` (see
  ``query_ports.py``), before associations are chosen, so no association ever points the caller at a
  document it may not see.

Value encoding (TF-2a 3.18.4.1.2.3.5): strings in single quotes (``''`` escapes a quote), numbers bare,
lists in parentheses; a list may be split over several ``Value`` elements of one Slot. For the
parameters with AND/OR semantics (``$XDSDocumentEntryEventCodeList``, ``$XDSDocumentEntryConfidentialityCode``,
``$XDSFolderCodeList``) each Slot is one OR-group and repeated Slots are ANDed.

Time parameters: ``...From`` is inclusive, ``...To`` exclusive, both at the precision given. Both the
stored times and the parameters are padded the same way (``datatypes.pad_dtm``), so comparing the padded
strings is comparing instants at the parameter's precision.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Literal, Sequence

from profiles.ch.identifiers import CX
from profiles.context import RequestContext

from . import constants as C
from .datatypes import is_dtm, pad_dtm
from .errors import (XDS_REGISTRY_ERROR, XDS_STORED_QUERY_PARAM_NUMBER, XDS_TOO_MANY_RESULTS,
                     XDS_UNKNOWN_STORED_QUERY, XdsError, XdsFailure)
from .query_ports import (AllowAll, AssociationRow, DocumentRow, FolderRow, QueryResult, RegistryQueryPort,
                          ResultFilter)

# ---------------------------------------------------------------------------------------------
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

# ---------------------------------------------------------------------------------------------
# Typed criteria and queries

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

    @property
    def name(self) -> str:
        return QUERY_NAMES[self.query_id]

    @property
    def patient(self) -> PatientRef | None:
        return getattr(self.query, "patient", None)


# ---------------------------------------------------------------------------------------------
# Value syntax


def split_values(text: str) -> list[str]:
    """The values of one ``rim:Value``: ``'a'``, ``('a','b')``, ``123`` or ``(1,2)``.

    Raises ValueError on unbalanced quotes or parentheses.
    """
    s = (text or "").strip()
    if s.startswith("("):
        if not s.endswith(")"):
            raise ValueError(f"list value {s!r} lacks its closing parenthesis")
        s = s[1:-1]
        items: list[str] = []
        i, n = 0, len(s)
        while i < n:
            while i < n and s[i] in " \t\r\n":
                i += 1
            if i >= n:
                break
            value, i = _one_value(s, i)
            items.append(value)
            while i < n and s[i] in " \t\r\n":
                i += 1
            if i < n:
                if s[i] != ",":
                    raise ValueError(f"expected ',' in list value ({s})")
                i += 1
                if i >= n or not s[i:].strip():
                    raise ValueError(f"empty list item in ({s})")
        return items
    if not s:
        return []
    value, i = _one_value(s, 0)
    if s[i:].strip():
        raise ValueError(f"unexpected text after value in {s!r}")
    return [value]


def _one_value(s: str, i: int) -> tuple[str, int]:
    n = len(s)
    if s[i] == "'":
        out: list[str] = []
        i += 1
        while True:
            j = s.find("'", i)
            if j < 0:
                raise ValueError(f"unterminated quoted string in {s!r}")
            out.append(s[i:j])
            if j + 1 < n and s[j + 1] == "'":      # '' is an escaped quote
                out.append("'")
                i = j + 2
                continue
            return "".join(out), j + 1
    j = i
    while j < n and s[j] not in ", \t\r\n)":
        j += 1
    return s[i:j], j


def parse_code(value: str) -> Code | None:
    """``code^^scheme`` (HL7 CE with empty display) -> (code, scheme); None if either is missing."""
    parts = value.split("^")
    if len(parts) < 3 or not parts[0] or not parts[2] or len(parts) > 3:
        return None
    return parts[0], parts[2]


def author_pattern_matches(pattern: str, value: str) -> bool:
    """ebRS LIKE (``%``, ``_``), case-sensitive, over the whole value: the reference semantics."""
    import re
    rx = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(rx, value, re.DOTALL) is not None


# ---------------------------------------------------------------------------------------------
# Parsing the AdhocQueryRequest

NS_QUERY = C.NS_QUERY
_R = C.rim


class _Params:
    """Slots of an AdhocQuery checked against one query's catalogue entry."""

    def __init__(self, spec: QuerySpec, slots: list[tuple[str, list[str]]]):
        self.spec = spec
        self.errors: list[XdsError] = []
        self.raw: dict[str, list[list[str]]] = {}          # name -> one value list per Slot
        for name, values in slots:
            if spec.param(name) is None:
                continue                                   # not a parameter of this query: ignored
            self.raw.setdefault(name, []).append(values)
        self._check_numbers()

    def error(self, code: str, text: str) -> None:
        self.errors.append(XdsError(code, text, ""))

    def _check_numbers(self) -> None:
        q = self.spec.name
        for p in self.spec.params:
            groups = self.raw.get(p.name)
            if groups is None:
                if p.required:
                    self.error(XDS_STORED_QUERY_PARAM_NUMBER, f"{q}: required parameter {p.name} is missing")
                continue
            if len(groups) > 1 and not p.and_or:
                self.error(XDS_STORED_QUERY_PARAM_NUMBER,
                           f"{q}: parameter {p.name} is given {len(groups)} times; it may occur once")
            if not p.multiple and any(len(g) > 1 for g in groups):
                self.error(XDS_STORED_QUERY_PARAM_NUMBER,
                           f"{q}: parameter {p.name} takes a single value, got {max(len(g) for g in groups)}")
            if any(len(g) == 0 for g in groups):
                self.error(XDS_STORED_QUERY_PARAM_NUMBER, f"{q}: parameter {p.name} has no value")
        for group in self.spec.one_of:
            present = [n for n in group if n in self.raw]
            if len(present) > 1:
                self.error(XDS_STORED_QUERY_PARAM_NUMBER,
                           f"{q}: {' and '.join(present)} are alternatives; give only one of them")
            elif not present and self.spec.one_of_required:
                self.error(XDS_STORED_QUERY_PARAM_NUMBER,
                           f"{q}: one of {', '.join(group)} is required")

    # -- typed accessors (each reports malformed values as XDSRegistryError naming the parameter)
    def has(self, name: str) -> bool:
        return name in self.raw

    def strings(self, name: str) -> tuple[str, ...] | None:
        groups = self.raw.get(name)
        if groups is None:
            return None
        return tuple(dict.fromkeys(v for g in groups for v in g))

    def string(self, name: str) -> str | None:
        values = self.strings(name)
        return values[0] if values else None

    def _bad(self, name: str, value: str, why: str) -> None:
        self.error(XDS_REGISTRY_ERROR, f"{self.spec.name}: parameter {name}: {value!r} {why}")

    def patient(self, name: str) -> PatientRef | None:
        value = self.string(name)
        if value is None:
            return None
        try:
            cx = CX.parse(value)
        except ValueError as exc:
            self._bad(name, value, f"is not a patient id ID^^^&OID&ISO ({exc})")
            return None
        return PatientRef(cx=value, id=cx.id, oid=cx.oid)

    def statuses(self, name: str) -> frozenset[str] | None:
        values = self.strings(name)
        if values is None:
            return None
        out = set()
        for v in values:
            short = v[len(STATUS_PREFIX):] if v.startswith(STATUS_PREFIX) else ""
            if not short or not short.isalpha():
                self._bad(name, v, f"is not a status ({STATUS_PREFIX}Approved, ...)")
            else:
                out.add(short)
        return frozenset(out)

    def _codes(self, name: str, values: Iterable[str]) -> CodeSet:
        out = set()
        for v in values:
            code = parse_code(v)
            if code is None:
                self._bad(name, v, "is not a code with its coding scheme (code^^scheme)")
            else:
                out.add(code)
        return frozenset(out)

    def codes(self, name: str) -> CodeSet | None:
        groups = self.raw.get(name)
        if groups is None:
            return None
        return self._codes(name, (v for g in groups for v in g))

    def code_groups(self, name: str) -> tuple[CodeSet, ...]:
        return tuple(self._codes(name, g) for g in self.raw.get(name, []))

    def time(self, name: str) -> str | None:
        value = self.string(name)
        if value is None:
            return None
        if not is_dtm(value):
            self._bad(name, value, "is not an HL7 DTM (YYYY[MM[DD[hh[mm[ss]]]]], UTC)")
            return None
        return pad_dtm(value)

    def time_range(self, prefix: str) -> TimeRange:
        return TimeRange(self.time(prefix + "From"), self.time(prefix + "To"))

    def entry_types(self, name: str) -> frozenset[str]:
        values = self.strings(name)
        if values is None:
            return DEFAULT_ENTRY_TYPES
        for v in values:
            if v not in ALL_ENTRY_TYPES:
                self._bad(name, v, f"is neither {C.DOC_ENTRY_STABLE} (stable) nor {C.DOC_ENTRY_ON_DEMAND} "
                                   "(on-demand)")
        return frozenset(v for v in values if v in ALL_ENTRY_TYPES)

    def metadata_level(self) -> None:
        value = self.string("$MetadataLevel")
        if value is not None and value.strip() != "1":
            self.error(XDS_REGISTRY_ERROR, f"{self.spec.name}: $MetadataLevel {value!r} is not supported; "
                                           "the Swiss EPR registry serves metadata level 1 only")

    def selector(self, uuid: str, unique_id: str, lid: str | None = None) -> Selector:
        for by, name in (("uuid", uuid), ("unique_id", unique_id), ("lid", lid)):
            if name and self.has(name):
                values = self.strings(name) or ()
                if any(not v for v in values):
                    self._bad(name, "", "is empty")
                return Selector(by, tuple(v for v in values if v))  # type: ignore[arg-type]
        return Selector("uuid", ())

    def content(self) -> ContentFilter:
        return ContentFilter(format_codes=self.codes("$XDSDocumentEntryFormatCode"),
                             confidentiality_codes=self.code_groups("$XDSDocumentEntryConfidentialityCode"),
                             object_types=self.entry_types("$XDSDocumentEntryType"))


def _slots(query_el) -> list[tuple[str, list[str]]]:
    """(name, values) per Slot; a value that does not parse raises XdsFailure naming the slot."""
    out = []
    for slot in query_el.findall(_R("Slot")):
        name = (slot.get("name") or "").strip()
        values: list[str] = []
        for v in slot.iterfind(f"{_R('ValueList')}/{_R('Value')}"):
            try:
                values.extend(split_values(v.text or ""))
            except ValueError as exc:
                raise XdsFailure(XdsError(XDS_REGISTRY_ERROR, f"parameter {name}: {exc}", "")) from exc
        out.append((name, values))
    return out


def parse_query_request(request_el) -> QueryRequest:
    """Read a ``query:AdhocQueryRequest`` element; raises ``XdsFailure`` with every error found."""
    if request_el is None or request_el.tag != f"{{{NS_QUERY}}}AdhocQueryRequest":
        raise XdsFailure(XdsError(XDS_REGISTRY_ERROR, "the body is not a query:AdhocQueryRequest", ""))
    errors: list[XdsError] = []
    option = request_el.find(f"{{{NS_QUERY}}}ResponseOption")
    return_type = RETURN_LEAF_CLASS
    if option is None:
        errors.append(XdsError(XDS_REGISTRY_ERROR, "AdhocQueryRequest has no ResponseOption", ""))
    else:
        return_type = option.get("returnType", RETURN_LEAF_CLASS)
        if return_type not in (RETURN_LEAF_CLASS, RETURN_OBJECT_REF):
            errors.append(XdsError(XDS_REGISTRY_ERROR, f"ResponseOption returnType {return_type!r} is not "
                                   "supported (LeafClass or ObjectRef)", ""))
    query_el = request_el.find(_R("AdhocQuery"))
    if query_el is None:
        raise XdsFailure(errors + [XdsError(XDS_REGISTRY_ERROR, "AdhocQueryRequest has no rim:AdhocQuery", "")])
    query_id = (query_el.get("id") or "").strip()
    spec = CATALOGUE.get(query_id)
    if spec is None:
        raise XdsFailure(XdsError(XDS_UNKNOWN_STORED_QUERY, f"unknown stored query id {query_id!r}", query_id))
    params = _Params(spec, _slots(query_el))
    if params.errors:          # count errors first: values of a wrongly counted parameter are moot
        raise XdsFailure(errors + params.errors)
    params.metadata_level()
    query = _BUILDERS[query_id](params)
    errors += params.errors
    if errors:
        raise XdsFailure(errors)
    return QueryRequest(query_id=query_id, return_type=return_type, query=query)  # type: ignore[arg-type]


def _document_criteria(p: _Params, patient: PatientRef | None, *, reference_ids: bool) -> DocumentCriteria:
    de = "$XDSDocumentEntry"
    return DocumentCriteria(
        patient_id=patient.canonical if patient else None,
        statuses=p.statuses(de + "Status"),
        object_types=p.entry_types(de + "Type"),
        class_codes=p.codes(de + "ClassCode"),
        type_codes=p.codes(de + "TypeCode"),
        practice_setting_codes=p.codes(de + "PracticeSettingCode"),
        facility_type_codes=p.codes(de + "HealthcareFacilityTypeCode"),
        format_codes=p.codes(de + "FormatCode"),
        event_codes=p.code_groups(de + "EventCodeList"),
        confidentiality_codes=p.code_groups(de + "ConfidentialityCode"),
        author_persons=p.strings(de + "AuthorPerson") or (),
        creation_time=p.time_range(de + "CreationTime"),
        service_start_time=p.time_range(de + "ServiceStartTime"),
        service_stop_time=p.time_range(de + "ServiceStopTime"),
        reference_ids=frozenset(p.strings(de + "ReferenceIdList") or ()) if reference_ids else None,
    )


def _find_documents(p: _Params) -> FindDocuments:
    patient = p.patient("$XDSDocumentEntryPatientId")
    return FindDocuments(patient, _document_criteria(p, patient, reference_ids=False))  # type: ignore[arg-type]


def _find_documents_by_reference_id(p: _Params) -> FindDocumentsByReferenceId:
    patient = p.patient("$XDSDocumentEntryPatientId")
    return FindDocumentsByReferenceId(patient, _document_criteria(p, patient, reference_ids=True))  # type: ignore[arg-type]


def _find_submission_sets(p: _Params) -> FindSubmissionSets:
    patient = p.patient("$XDSSubmissionSetPatientId")
    ss = "$XDSSubmissionSet"
    sources = p.strings(ss + "SourceId")
    return FindSubmissionSets(patient, SubmissionSetCriteria(  # type: ignore[arg-type]
        patient_id=patient.canonical if patient else "",
        statuses=p.statuses(ss + "Status"),
        source_ids=frozenset(sources) if sources is not None else None,
        submission_time=p.time_range(ss + "SubmissionTime"),
        author_persons=p.strings(ss + "AuthorPerson") or (),
        content_type_codes=p.codes(ss + "ContentType")))


def _find_folders(p: _Params) -> FindFolders:
    patient = p.patient("$XDSFolderPatientId")
    return FindFolders(patient, FolderCriteria(  # type: ignore[arg-type]
        patient_id=patient.canonical if patient else "",
        statuses=p.statuses("$XDSFolderStatus"),
        last_update_time=p.time_range("$XDSFolderLastUpdateTime"),
        codes=p.code_groups("$XDSFolderCodeList")))


def _get_all(p: _Params) -> GetAll:
    return GetAll(p.patient("$patientId"),  # type: ignore[arg-type]
                  document_statuses=p.statuses("$XDSDocumentEntryStatus") or frozenset(),
                  submission_set_statuses=p.statuses("$XDSSubmissionSetStatus") or frozenset(),
                  folder_statuses=p.statuses("$XDSFolderStatus") or frozenset(),
                  content=p.content())


def _doc_selector(p: _Params, uuid_param: str = "$XDSDocumentEntryEntryUUID") -> Selector:
    return p.selector(uuid_param, "$XDSDocumentEntryUniqueId", "$XDSDocumentEntryLogicalID")


def _folder_selector(p: _Params) -> Selector:
    return p.selector("$XDSFolderEntryUUID", "$XDSFolderUniqueId", "$XDSFolderLogicalID")


_BUILDERS: dict[str, Callable[[_Params], StoredQuery]] = {
    FIND_DOCUMENTS: _find_documents,
    FIND_DOCUMENTS_BY_REFERENCE_ID: _find_documents_by_reference_id,
    FIND_SUBMISSION_SETS: _find_submission_sets,
    FIND_FOLDERS: _find_folders,
    GET_ALL: _get_all,
    GET_DOCUMENTS: lambda p: GetDocuments(_doc_selector(p)),
    GET_FOLDERS: lambda p: GetFolders(_folder_selector(p)),
    GET_ASSOCIATIONS: lambda p: GetAssociations(p.strings("$uuid") or ()),
    GET_DOCUMENTS_AND_ASSOCIATIONS: lambda p: GetDocumentsAndAssociations(_doc_selector(p)),
    GET_SUBMISSION_SETS: lambda p: GetSubmissionSets(p.strings("$uuid") or ()),
    GET_SUBMISSION_SET_AND_CONTENTS: lambda p: GetSubmissionSetAndContents(
        p.selector("$XDSSubmissionSetEntryUUID", "$XDSSubmissionSetUniqueId"), p.content()),
    GET_FOLDER_AND_CONTENTS: lambda p: GetFolderAndContents(_folder_selector(p), p.content()),
    GET_FOLDERS_FOR_DOCUMENT: lambda p: GetFoldersForDocument(_doc_selector(p)),
    GET_RELATED_DOCUMENTS: lambda p: GetRelatedDocuments(_doc_selector(p),
                                                         frozenset(p.strings("$AssociationTypes") or ())),
}

# ---------------------------------------------------------------------------------------------
# Execution


def too_many(count: int, limit: int) -> XdsFailure:
    return XdsFailure(XdsError(XDS_TOO_MANY_RESULTS, f"the query matches {count if count <= limit else 'more than ' + str(limit)} "
                               f"objects; this registry returns at most {limit}. Narrow the query.", ""))


@dataclass
class _Run:
    port: RegistryQueryPort
    ctx: RequestContext
    result_filter: ResultFilter
    max_results: int

    # -- documents through the authorization seam ---------------------------------------------
    def allowed(self, rows: Sequence[DocumentRow]) -> list[DocumentRow]:
        """THE place where authorization filters query results (see ``query_ports.ResultFilter``)."""
        if not rows:
            return []
        return list(self.result_filter.allowed_documents(self.ctx, rows))

    def find_documents(self, criteria: DocumentCriteria) -> list[DocumentRow]:
        rows = self.port.find_documents(criteria, limit=self.max_results + 1)
        if len(rows) > self.max_results and not isinstance(self.result_filter, AllowAll):
            rows = self.port.find_documents(criteria, limit=None)   # count what the caller may see
        rows = self.allowed(rows)
        self.check(len(rows))
        return rows

    def documents(self, selector: Selector) -> list[DocumentRow]:
        return self.allowed(self.port.documents(selector))

    def check(self, count: int) -> None:
        if count > self.max_results:
            raise too_many(count, self.max_results)

    def result(self, **kw) -> QueryResult:
        res = QueryResult(**kw)
        self.check(res.count)
        return res


def run_query(query: StoredQuery, port: RegistryQueryPort, ctx: RequestContext, *,
              max_results: int, result_filter: ResultFilter | None = None) -> QueryResult:
    """Evaluate ``query``; raises ``XdsFailure`` (XDSTooManyResults) past ``max_results`` objects.

    The patient check against the MPI is the caller's (it knows the MPI); this function assumes the
    patient of a Find/GetAll query is known.
    """
    run = _Run(port, ctx, result_filter or AllowAll(), max_results)
    handler = _EXECUTORS[type(query)]
    return handler(run, query)


def _x_find_documents(run: _Run, q: FindDocuments) -> QueryResult:
    return run.result(documents=run.find_documents(q.criteria))


def _x_find_submission_sets(run: _Run, q: FindSubmissionSets) -> QueryResult:
    return run.result(submission_sets=run.port.find_submission_sets(q.criteria, limit=run.max_results + 1))


def _x_find_folders(run: _Run, q: FindFolders) -> QueryResult:
    return run.result(folders=run.port.find_folders(q.criteria, limit=run.max_results + 1))


def _by_seq(rows: Iterable[AssociationRow]) -> list[AssociationRow]:
    return sorted({a.entry_uuid: a for a in rows}.values(), key=lambda a: (a.seq, a.entry_uuid))


def _x_get_all(run: _Run, q: GetAll) -> QueryResult:
    docs = run.find_documents(q.content.criteria(patient_id=q.patient.canonical, statuses=q.document_statuses))
    sets = run.port.find_submission_sets(SubmissionSetCriteria(q.patient.canonical, q.submission_set_statuses),
                                         limit=run.max_results + 1)
    folders = run.port.find_folders(FolderCriteria(q.patient.canonical, q.folder_statuses),
                                    limit=run.max_results + 1)
    run.check(len(docs) + len(sets) + len(folders))
    ids = {o.entry_uuid for o in (*docs, *sets, *folders)}
    fetched = run.port.associations(sources=ids, limit=run.max_results + 1) if ids else []
    between = [a for a in fetched if a.target in ids]
    between_ids = {a.entry_uuid for a in between}
    # HasMember from a submission set to an association it carries (e.g. the SS's RPLC association)
    between += [a for a in fetched if a.target in between_ids]
    return run.result(documents=docs, submission_sets=sets, folders=folders, associations=_by_seq(between))


def _x_get_documents(run: _Run, q: GetDocuments) -> QueryResult:
    return run.result(documents=run.documents(q.selector))


def _x_get_folders(run: _Run, q: GetFolders) -> QueryResult:
    return run.result(folders=run.port.folders(q.selector))


def _hidden_documents(run: _Run, ids: set[str]) -> set[str]:
    """Of ``ids``, the DocumentEntries the caller may not see (they are not to be hinted at)."""
    if isinstance(run.result_filter, AllowAll) or not ids:
        return set()
    rows = run.port.documents(Selector("uuid", tuple(sorted(ids))))
    visible = {r.entry_uuid for r in run.allowed(rows)}
    return {r.entry_uuid for r in rows} - visible


def _x_get_associations(run: _Run, q: GetAssociations) -> QueryResult:
    assocs = run.port.associations(either=set(q.uuids), limit=run.max_results + 1)
    hidden = _hidden_documents(run, {a.source for a in assocs} | {a.target for a in assocs})
    return run.result(associations=[a for a in assocs if a.source not in hidden and a.target not in hidden])


def _x_get_documents_and_associations(run: _Run, q: GetDocumentsAndAssociations) -> QueryResult:
    docs = run.documents(q.selector)
    if not docs:
        return QueryResult()
    assocs = run.port.associations(either={d.entry_uuid for d in docs}, limit=run.max_results + 1)
    hidden = _hidden_documents(run, ({a.source for a in assocs} | {a.target for a in assocs})
                               - {d.entry_uuid for d in docs})
    assocs = [a for a in assocs if a.source not in hidden and a.target not in hidden]
    return run.result(documents=docs, associations=assocs)


def _x_get_submission_sets(run: _Run, q: GetSubmissionSets) -> QueryResult:
    hidden = _hidden_documents(run, set(q.uuids))
    members = [a for a in run.port.associations(targets=set(q.uuids) - hidden, types={C.ASSOC_HAS_MEMBER},
                                                limit=run.max_results + 1)]
    sets = run.port.submission_sets(Selector("uuid", tuple(sorted({a.source for a in members}))))
    set_ids = {s.entry_uuid for s in sets}
    return run.result(submission_sets=sets, associations=[a for a in members if a.source in set_ids])


def _contents(run: _Run, owner_id: str, content: ContentFilter, *, folders_too: bool
              ) -> tuple[list[DocumentRow], list[FolderRow], list[AssociationRow]]:
    """Members of a submission set or folder, DocumentEntries filtered, and the associations to keep."""
    hm = run.port.associations(sources={owner_id}, types={C.ASSOC_HAS_MEMBER}, limit=None)
    member_ids = {a.target for a in hm}
    docs = run.find_documents(content.criteria(entry_uuids=frozenset(member_ids))) if member_ids else []
    folders = run.port.folders(Selector("uuid", tuple(sorted(member_ids)))) if folders_too and member_ids else []
    member_assocs = (run.port.associations_by_uuid(member_ids - {d.entry_uuid for d in docs}
                                                   - {f.entry_uuid for f in folders})
                     if folders_too and member_ids else [])
    kept_ids = {d.entry_uuid for d in docs} | {f.entry_uuid for f in folders}
    # a member that is none of the kept objects is a DocumentEntry filtered out (or not visible)
    excluded = member_ids - kept_ids - {a.entry_uuid for a in member_assocs}
    member_assocs = [a for a in member_assocs if a.source not in excluded and a.target not in excluded]
    kept_ids |= {a.entry_uuid for a in member_assocs}
    assocs = [a for a in hm if a.target in kept_ids] + member_assocs
    return docs, folders, _by_seq(assocs)


def _x_get_submission_set_and_contents(run: _Run, q: GetSubmissionSetAndContents) -> QueryResult:
    sets = run.port.submission_sets(q.selector)
    if not sets:
        return QueryResult()
    ss = sets[0]
    docs, folders, assocs = _contents(run, ss.entry_uuid, q.content, folders_too=True)
    return run.result(submission_sets=[ss], documents=docs, folders=folders, associations=assocs)


def _x_get_folder_and_contents(run: _Run, q: GetFolderAndContents) -> QueryResult:
    folders = run.port.folders(q.selector)
    if not folders:
        return QueryResult()
    folder = folders[0]
    docs, _, assocs = _contents(run, folder.entry_uuid, q.content, folders_too=False)
    return run.result(folders=[folder], documents=docs, associations=assocs)


def _x_get_folders_for_document(run: _Run, q: GetFoldersForDocument) -> QueryResult:
    docs = run.documents(q.selector)
    if not docs:
        return QueryResult()
    hm = run.port.associations(targets={d.entry_uuid for d in docs}, types={C.ASSOC_HAS_MEMBER}, limit=None)
    folders = run.port.folders(Selector("uuid", tuple(sorted({a.source for a in hm})))) if hm else []
    return run.result(folders=folders)


def _x_get_related_documents(run: _Run, q: GetRelatedDocuments) -> QueryResult:
    docs = run.documents(q.selector)
    if not docs:
        return QueryResult()
    doc = docs[0]
    assocs = run.port.associations(either={doc.entry_uuid}, types=set(q.association_types),
                                   limit=run.max_results + 1)
    others = {a.target if a.source == doc.entry_uuid else a.source for a in assocs} - {doc.entry_uuid}
    related = run.documents(Selector("uuid", tuple(sorted(others)))) if others else []
    related_ids = {d.entry_uuid for d in related}
    assocs = [a for a in assocs if (a.target if a.source == doc.entry_uuid else a.source) in related_ids]
    if not assocs:
        return QueryResult()     # no related document: nothing, not even the document itself
    return run.result(documents=[doc] + related, associations=assocs)


_EXECUTORS: dict[type, Callable[[_Run, object], QueryResult]] = {
    FindDocuments: _x_find_documents,                     # type: ignore[dict-item]
    FindDocumentsByReferenceId: _x_find_documents,        # type: ignore[dict-item]
    FindSubmissionSets: _x_find_submission_sets,          # type: ignore[dict-item]
    FindFolders: _x_find_folders,                         # type: ignore[dict-item]
    GetAll: _x_get_all,                                   # type: ignore[dict-item]
    GetDocuments: _x_get_documents,                       # type: ignore[dict-item]
    GetFolders: _x_get_folders,                           # type: ignore[dict-item]
    GetAssociations: _x_get_associations,                 # type: ignore[dict-item]
    GetDocumentsAndAssociations: _x_get_documents_and_associations,  # type: ignore[dict-item]
    GetSubmissionSets: _x_get_submission_sets,            # type: ignore[dict-item]
    GetSubmissionSetAndContents: _x_get_submission_set_and_contents,  # type: ignore[dict-item]
    GetFolderAndContents: _x_get_folder_and_contents,     # type: ignore[dict-item]
    GetFoldersForDocument: _x_get_folders_for_document,   # type: ignore[dict-item]
    GetRelatedDocuments: _x_get_related_documents,        # type: ignore[dict-item]
}

