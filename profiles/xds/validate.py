"""IHE rules on a submission's metadata (ITI TF-3 4.3.1, Table 4.3.1-3: XDS.b, Register).

Every problem is reported (the submission is refused whole); each message names the object, the
attribute and, where it helps, the offending value. National rules (annex 3) plug in through
``extra`` validators: ``Callable[[Submission], list[XdsError]]``.
"""
from __future__ import annotations

from typing import Callable, Iterable

from . import constants as C
from .datatypes import is_cx_with_oid, is_document_unique_id, is_dtm, is_oid, is_sha1
from . import messages as M
from .errors import XdsError
from .metadata import Code, DocumentEntry, Folder, Submission, SubmissionSet

Validator = Callable[[Submission], list[XdsError]]


def _code(errors, obj_id: str, kind: str, attr: str, code: Code | None, required: bool = True) -> None:
    name = f"{kind}.{attr}"
    if code is None:
        if required:
            errors.append(M.MISSING_ATTRIBUTE(obj_id, attr=name))
        return
    if not code.code:
        errors.append(M.CODE_WITHOUT_VALUE(obj_id, attr=name))
    if not code.scheme:
        errors.append(M.CODE_WITHOUT_SCHEME(obj_id, attr=name, code=code.code))


def _time(errors, obj_id: str, attr: str, value: str | None, required: bool) -> None:
    if value is None:
        if required:
            errors.append(M.MISSING_ATTRIBUTE(obj_id, attr=attr))
    elif not is_dtm(value):
        errors.append(M.NOT_A_DTM(obj_id, attr=attr, value=value))


def _required(errors, obj_id: str, attr: str, value, check=None, message: M.Message = M.NOT_AN_OID) -> None:
    """A required attribute: missing, or (with ``check``) of the wrong form."""
    if not value:
        errors.append(M.MISSING_ATTRIBUTE(obj_id, attr=attr))
    elif check is not None and not check(value):
        errors.append(message(obj_id, attr=attr, value=value))


def validate_document(d: DocumentEntry, *, for_register: bool) -> list[XdsError]:
    e: list[XdsError] = []
    oid = d.entry_uuid
    kind = "XDSDocumentEntry"
    if d.object_type not in (C.DOC_ENTRY_STABLE, C.DOC_ENTRY_ON_DEMAND):
        e.append(M.BAD_OBJECT_TYPE(oid, attr=f"{kind}.objectType", value=d.object_type))
    _required(e, oid, f"{kind}.mimeType", d.mime_type)
    _required(e, oid, f"{kind}.uniqueId", d.unique_id, is_document_unique_id, M.NOT_A_DOCUMENT_UNIQUE_ID)
    _required(e, oid, f"{kind}.patientId", d.patient_id, is_cx_with_oid, M.NOT_A_CX)
    _required(e, oid, f"{kind}.sourcePatientId", d.source_patient_id, is_cx_with_oid, M.NOT_A_CX)
    _code(e, oid, kind, "classCode", d.class_code)
    _code(e, oid, kind, "typeCode", d.type_code)
    _code(e, oid, kind, "formatCode", d.format_code)
    _code(e, oid, kind, "healthcareFacilityTypeCode", d.healthcare_facility_type_code)
    _code(e, oid, kind, "practiceSettingCode", d.practice_setting_code)
    if not d.confidentiality_codes:
        e.append(M.MISSING_ATTRIBUTE(oid, attr=f"{kind}.confidentialityCode"))
    for c in d.confidentiality_codes:
        _code(e, oid, kind, "confidentialityCode", c)
    for c in d.event_codes:
        _code(e, oid, kind, "eventCodeList", c)
    _required(e, oid, f"{kind}.languageCode", d.language_code)
    # creationTime: R for stable entries, absent for on-demand (ITI TF-3 Table 4.3.1-3)
    _time(e, oid, f"{kind}.creationTime", d.creation_time, required=d.object_type != C.DOC_ENTRY_ON_DEMAND)
    _time(e, oid, f"{kind}.serviceStartTime", d.service_start_time, required=False)
    _time(e, oid, f"{kind}.serviceStopTime", d.service_stop_time, required=False)
    if d.hash is not None and not is_sha1(d.hash):
        e.append(M.NOT_A_SHA1(oid, attr=f"{kind}.hash", value=d.hash))
    if d.size is not None and not d.size.isdigit():
        e.append(M.NOT_A_SIZE(oid, attr=f"{kind}.size", value=d.size))
    if for_register and d.object_type != C.DOC_ENTRY_ON_DEMAND:
        for attr, value in (("hash", d.hash), ("size", d.size), ("repositoryUniqueId", d.repository_unique_id)):
            if value is None:
                e.append(M.MISSING_IN_REGISTER(oid, attr=f"{kind}.{attr}"))
    if d.repository_unique_id is not None and not is_oid(d.repository_unique_id):
        e.append(M.NOT_AN_OID(oid, attr=f"{kind}.repositoryUniqueId", value=d.repository_unique_id))
    for a in d.authors:
        if not (a.person or a.institutions or a.roles or a.specialties or a.telecoms):
            e.append(M.EMPTY_AUTHOR(oid, kind=kind))
    return e


def validate_submission_set(ss: SubmissionSet) -> list[XdsError]:
    e: list[XdsError] = []
    oid = ss.entry_uuid
    kind = "XDSSubmissionSet"
    _required(e, oid, f"{kind}.uniqueId", ss.unique_id, is_oid)
    _required(e, oid, f"{kind}.sourceId", ss.source_id, is_oid)
    _required(e, oid, f"{kind}.patientId", ss.patient_id, is_cx_with_oid, M.NOT_A_CX)
    _time(e, oid, f"{kind}.submissionTime", ss.submission_time, required=True)
    _code(e, oid, kind, "contentTypeCode", ss.content_type_code)
    return e


def validate_folder(f: Folder) -> list[XdsError]:
    e: list[XdsError] = []
    oid = f.entry_uuid
    kind = "XDSFolder"
    _required(e, oid, f"{kind}.uniqueId", f.unique_id, is_oid)
    _required(e, oid, f"{kind}.patientId", f.patient_id)
    if not f.codes:
        e.append(M.MISSING_ATTRIBUTE(oid, attr=f"{kind}.codeList"))
    for c in f.codes:
        _code(e, oid, kind, "codeList", c)
    _required(e, oid, f"{kind}.title", f.title)
    return e


def validate_ids(sub: Submission) -> list[XdsError]:
    """Every id present and unique inside the submission."""
    e: list[XdsError] = []
    seen: set[str] = set()
    for obj in sub.objects():
        ids: Iterable[str] = [obj.entry_uuid] + obj.inner_ids
        for i in ids:
            if not i:
                e.append(M.OBJECT_WITHOUT_ID(obj.entry_uuid))
            elif i in seen:
                e.append(M.ID_USED_TWICE(obj.entry_uuid, id=i))
            seen.add(i)
    for a in sub.associations:
        if a.type not in C.ASSOCIATION_TYPES:
            e.append(M.BAD_ASSOCIATION_TYPE(a.entry_uuid, value=a.type))
        if not a.source or not a.target:
            e.append(M.ASSOCIATION_ENDS_MISSING(a.entry_uuid))
        if a.type == C.ASSOC_HAS_MEMBER and sub.submission_set and a.source == sub.submission_set.entry_uuid:
            doc_ids = {d.entry_uuid for d in sub.documents}
            if a.target in doc_ids and a.slot("SubmissionSetStatus") not in ("Original", "Reference"):
                e.append(M.MISSING_SUBMISSION_SET_STATUS(a.entry_uuid))
    return e


def validate_submission(sub: Submission, *, for_register: bool,
                        extra: Iterable[Validator] = ()) -> list[XdsError]:
    """All IHE checks plus the ``extra`` (national) validators; every error, in document order."""
    errors = validate_ids(sub)
    if sub.submission_set is not None:
        errors += validate_submission_set(sub.submission_set)
    for d in sub.documents:
        errors += validate_document(d, for_register=for_register)
    for f in sub.folders:
        errors += validate_folder(f)
    for v in extra:
        errors += v(sub)
    return errors
