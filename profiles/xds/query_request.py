"""Reading a ``query:AdhocQueryRequest`` into the stored-query model (:mod:`.query_model`), every
parameter checked against the catalogue (:mod:`.query_catalogue`). Every problem is a message of
:mod:`.messages`:

============================================================  ===============================
unknown AdhocQuery id                                         ``XDSUnknownStoredQuery``
required parameter missing; a single-valued parameter with    ``XDSStoredQueryParamNumber``
several values or given twice; a parameter without AND
semantics repeated; both (or none) of an either-or group
malformed value (time not a DTM, code without scheme, status  ``XDSRegistryError`` (names the
not a status URN, bad patient id, bad returnType)             parameter)
more values for one parameter than the configured limit       ``XDSRegistryError`` (names it)
``$MetadataLevel`` other than 1 (Swiss EPR)                   ``XDSRegistryError``
============================================================  ===============================

Parameters that no stored query of this catalogue defines are ignored (ebRS leaves them to the
registry; IPF's ``$ipfSortOrder`` and similar extensions then do no harm).

A list may be split over several ``Value`` elements of one Slot. For the parameters with AND/OR
semantics (``$XDSDocumentEntryEventCodeList``, ``$XDSDocumentEntryConfidentialityCode``,
``$XDSFolderCodeList``) each Slot is one OR-group and repeated Slots are ANDed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from profiles.ch.identifiers import CX

from . import constants as C
from . import messages as M
from .datatypes import is_dtm, pad_dtm
from .errors import XdsError, XdsFailure
from .query_catalogue import (CATALOGUE, FIND_DOCUMENTS, FIND_DOCUMENTS_BY_REFERENCE_ID, FIND_FOLDERS,
                              FIND_SUBMISSION_SETS, GET_ALL, GET_ASSOCIATIONS, GET_DOCUMENTS,
                              GET_DOCUMENTS_AND_ASSOCIATIONS, GET_FOLDER_AND_CONTENTS, GET_FOLDERS,
                              GET_FOLDERS_FOR_DOCUMENT, GET_RELATED_DOCUMENTS, GET_SUBMISSION_SET_AND_CONTENTS,
                              GET_SUBMISSION_SETS, RETURN_LEAF_CLASS, RETURN_OBJECT_REF, STATUS_PREFIX, QuerySpec)
from .query_model import (ALL_ENTRY_TYPES, DEFAULT_ENTRY_TYPES, CodeSet, ContentFilter, DocumentCriteria,
                          FindDocuments, FindDocumentsByReferenceId, FindFolders, FindSubmissionSets,
                          FolderCriteria, GetAll, GetAssociations, GetDocuments, GetDocumentsAndAssociations,
                          GetFolderAndContents, GetFolders, GetFoldersForDocument, GetRelatedDocuments,
                          GetSubmissionSetAndContents, GetSubmissionSets, PatientRef, QueryRequest, Selector,
                          StoredQuery, SubmissionSetCriteria, TimeRange)
from .query_values import parse_code, split_values

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

    def error(self, message: M.Message, **values: object) -> None:
        self.errors.append(message.error("", query=self.spec.name, **values))

    def _check_numbers(self) -> None:
        for p in self.spec.params:
            groups = self.raw.get(p.name)
            if groups is None:
                if p.required:
                    self.error(M.PARAM_MISSING, param=p.name)
                continue
            if len(groups) > 1 and not p.and_or:
                self.error(M.PARAM_REPEATED, param=p.name, count=len(groups))
            if not p.multiple and any(len(g) > 1 for g in groups):
                self.error(M.PARAM_SINGLE_VALUED, param=p.name, count=max(len(g) for g in groups))
            if any(len(g) == 0 for g in groups):
                self.error(M.PARAM_WITHOUT_VALUE, param=p.name)
        for group in self.spec.one_of:
            present = [n for n in group if n in self.raw]
            if len(present) > 1:
                self.error(M.ALTERNATIVES_BOTH, present=" and ".join(present))
            elif not present and self.spec.one_of_required:
                self.error(M.ALTERNATIVES_NONE, group=", ".join(group))

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

    def patient(self, name: str) -> PatientRef | None:
        value = self.string(name)
        if value is None:
            return None
        try:
            cx = CX.parse(value)
        except ValueError as exc:
            self.error(M.BAD_PATIENT_ID, param=name, value=value, reason=exc)
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
                self.error(M.BAD_STATUS, param=name, value=v, prefix=STATUS_PREFIX)
            else:
                out.add(short)
        return frozenset(out)

    def _codes(self, name: str, values: Iterable[str]) -> CodeSet:
        out = set()
        for v in values:
            code = parse_code(v)
            if code is None:
                self.error(M.BAD_CODE, param=name, value=v)
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
            self.error(M.BAD_TIME, param=name, value=value)
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
                self.error(M.BAD_ENTRY_TYPE, param=name, value=v, stable=C.DOC_ENTRY_STABLE,
                           on_demand=C.DOC_ENTRY_ON_DEMAND)
        return frozenset(v for v in values if v in ALL_ENTRY_TYPES)

    def metadata_level(self) -> None:
        value = self.string("$MetadataLevel")
        if value is not None and value.strip() != "1":
            self.error(M.UNSUPPORTED_METADATA_LEVEL, value=value)

    def selector(self, uuid: str, unique_id: str, lid: str | None = None) -> Selector:
        for by, name in (("uuid", uuid), ("unique_id", unique_id), ("lid", lid)):
            if name and self.has(name):
                values = self.strings(name) or ()
                if any(not v for v in values):
                    self.error(M.EMPTY_VALUE, param=name)
                return Selector(by, tuple(v for v in values if v))  # type: ignore[arg-type]
        return Selector("uuid", ())

    def content(self) -> ContentFilter:
        return ContentFilter(format_codes=self.codes("$XDSDocumentEntryFormatCode"),
                             confidentiality_codes=self.code_groups("$XDSDocumentEntryConfidentialityCode"),
                             object_types=self.entry_types("$XDSDocumentEntryType"))


#: the default of ``Settings.max_query_parameter_values``
DEFAULT_MAX_PARAMETER_VALUES = 1000


def _slots(query_el, max_values: int) -> list[tuple[str, list[str]]]:
    """(name, values) per Slot; a value that does not parse, or more than ``max_values`` values for one
    parameter name (over all its Slots), raises XdsFailure naming the parameter."""
    out = []
    counts: dict[str, int] = {}
    for slot in query_el.findall(_R("Slot")):
        name = (slot.get("name") or "").strip()
        values: list[str] = []
        seen = counts.get(name, 0)
        for v in slot.iterfind(f"{_R('ValueList')}/{_R('Value')}"):
            try:
                values.extend(split_values(v.text or ""))
            except ValueError as exc:
                raise M.MALFORMED_VALUE.failure(param=name, reason=exc) from exc
            if seen + len(values) > max_values:
                raise M.TOO_MANY_VALUES.failure(param=name, limit=max_values)
        counts[name] = seen + len(values)
        out.append((name, values))
    return out


def parse_query_request(request_el, *, max_values: int = DEFAULT_MAX_PARAMETER_VALUES) -> QueryRequest:
    """Read a ``query:AdhocQueryRequest`` element; raises ``XdsFailure`` with every error found.

    ``max_values``: at most that many values per parameter (``Settings.max_query_parameter_values``).
    """
    if request_el is None or request_el.tag != f"{{{NS_QUERY}}}AdhocQueryRequest":
        raise M.NOT_AN_ADHOC_QUERY_REQUEST.failure()
    errors: list[XdsError] = []
    option = request_el.find(f"{{{NS_QUERY}}}ResponseOption")
    return_type = RETURN_LEAF_CLASS
    if option is None:
        errors.append(M.NO_RESPONSE_OPTION.error())
    else:
        return_type = option.get("returnType", RETURN_LEAF_CLASS)
        if return_type not in (RETURN_LEAF_CLASS, RETURN_OBJECT_REF):
            errors.append(M.UNSUPPORTED_RETURN_TYPE.error(return_type=return_type))
    query_el = request_el.find(_R("AdhocQuery"))
    if query_el is None:
        raise XdsFailure(errors + [M.NO_ADHOC_QUERY.error()])
    query_id = (query_el.get("id") or "").strip()
    spec = CATALOGUE.get(query_id)
    if spec is None:
        raise M.UNKNOWN_STORED_QUERY.failure(query_id, query_id=query_id)
    slots = _slots(query_el, max_values)
    params = _Params(spec, slots)
    if params.errors:          # count errors first: values of a wrongly counted parameter are moot
        raise XdsFailure(errors + params.errors)
    params.metadata_level()
    query = _BUILDERS[query_id](params)
    errors += params.errors
    if errors:
        raise XdsFailure(errors)
    return QueryRequest(query_id=query_id, return_type=return_type, query=query,  # type: ignore[arg-type]
                        parameters=tuple((name, tuple(values)) for name, values in slots),
                        home_community_id=params.string("$homeCommunityId"))


@dataclass(frozen=True)
class RefusedQuery:
    """An AdhocQueryRequest that could not be read: the errors it is answered with (status Failure), and
    what was known of it (for the audit record)."""

    errors: tuple[XdsError, ...]
    query_id: str | None = None


def read_query_request(request_el, *, max_values: int = DEFAULT_MAX_PARAMETER_VALUES) -> QueryRequest | RefusedQuery:
    """:func:`parse_query_request` as a model: the request, or the :class:`RefusedQuery` with its errors
    (what the pipeline's parse station hands to the use case, which answers it with a Failure)."""
    try:
        return parse_query_request(request_el, max_values=max_values)
    except XdsFailure as failure:
        query_el = request_el.find(_R("AdhocQuery")) if request_el is not None else None
        query_id = (query_el.get("id") or "").strip() or None if query_el is not None else None
        return RefusedQuery(tuple(failure.errors), query_id)


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

