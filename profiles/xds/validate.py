"""IHE rules on a submission's metadata (ITI TF-3 4.3.1, Table 4.3.1-3: XDS.b, Register).

Every problem is reported (the submission is refused whole); each message names the object, the
attribute and, where it helps, the offending value. National rules (annex 3) plug in through
``extra`` validators: ``Callable[[Submission], list[XdsError]]``.
"""
from __future__ import annotations

from typing import Callable, Iterable

from . import constants as C
from .datatypes import is_cx_with_oid, is_document_unique_id, is_dtm, is_oid, is_sha1
from .errors import XDS_REGISTRY_METADATA_ERROR, XdsError
from .metadata import Code, DocumentEntry, Folder, Submission, SubmissionSet

Validator = Callable[[Submission], list[XdsError]]


def _err(errors: list[XdsError], obj_id: str, what: str) -> None:
    errors.append(XdsError(XDS_REGISTRY_METADATA_ERROR, what, obj_id))


def _code(errors, obj_id: str, kind: str, attr: str, code: Code | None, required: bool = True) -> None:
    if code is None:
        if required:
            _err(errors, obj_id, f"{kind}.{attr} is required and missing")
        return
    if not code.code:
        _err(errors, obj_id, f"{kind}.{attr} has no code (nodeRepresentation)")
    if not code.scheme:
        _err(errors, obj_id, f"{kind}.{attr} {code.code!r} has no codingScheme slot")


def _time(errors, obj_id: str, attr: str, value: str | None, required: bool) -> None:
    if value is None:
        if required:
            _err(errors, obj_id, f"{attr} is required and missing")
    elif not is_dtm(value):
        _err(errors, obj_id, f"{attr} {value!r} is not an HL7 DTM (YYYY[MM[DD[hh[mm[ss]]]]])")


def validate_document(d: DocumentEntry, *, for_register: bool) -> list[XdsError]:
    e: list[XdsError] = []
    oid = d.entry_uuid
    kind = "XDSDocumentEntry"
    if d.object_type not in (C.DOC_ENTRY_STABLE, C.DOC_ENTRY_ON_DEMAND):
        _err(e, oid, f"{kind}.objectType {d.object_type!r} is neither stable nor on-demand")
    if not d.mime_type:
        _err(e, oid, f"{kind}.mimeType is required and missing")
    if not d.unique_id:
        _err(e, oid, f"{kind}.uniqueId is required and missing")
    elif not is_document_unique_id(d.unique_id):
        _err(e, oid, f"{kind}.uniqueId {d.unique_id!r} is not an OID (or OID^extension) of at most 128 characters")
    if not d.patient_id:
        _err(e, oid, f"{kind}.patientId is required and missing")
    elif not is_cx_with_oid(d.patient_id):
        _err(e, oid, f"{kind}.patientId {d.patient_id!r} is not a CX id^^^&OID&ISO")
    if not d.source_patient_id:
        _err(e, oid, f"{kind}.sourcePatientId is required and missing")
    elif not is_cx_with_oid(d.source_patient_id):
        _err(e, oid, f"{kind}.sourcePatientId {d.source_patient_id!r} is not a CX id^^^&OID&ISO")
    _code(e, oid, kind, "classCode", d.class_code)
    _code(e, oid, kind, "typeCode", d.type_code)
    _code(e, oid, kind, "formatCode", d.format_code)
    _code(e, oid, kind, "healthcareFacilityTypeCode", d.healthcare_facility_type_code)
    _code(e, oid, kind, "practiceSettingCode", d.practice_setting_code)
    if not d.confidentiality_codes:
        _err(e, oid, f"{kind}.confidentialityCode is required and missing")
    for c in d.confidentiality_codes:
        _code(e, oid, kind, "confidentialityCode", c)
    for c in d.event_codes:
        _code(e, oid, kind, "eventCodeList", c)
    if not d.language_code:
        _err(e, oid, f"{kind}.languageCode is required and missing")
    # creationTime: R for stable entries, absent for on-demand (ITI TF-3 Table 4.3.1-3)
    _time(e, oid, f"{kind}.creationTime", d.creation_time, required=d.object_type != C.DOC_ENTRY_ON_DEMAND)
    _time(e, oid, f"{kind}.serviceStartTime", d.service_start_time, required=False)
    _time(e, oid, f"{kind}.serviceStopTime", d.service_stop_time, required=False)
    if d.hash is not None and not is_sha1(d.hash):
        _err(e, oid, f"{kind}.hash {d.hash!r} is not 40 hexadecimal digits (SHA-1)")
    if d.size is not None and not d.size.isdigit():
        _err(e, oid, f"{kind}.size {d.size!r} is not a non-negative integer")
    if for_register and d.object_type != C.DOC_ENTRY_ON_DEMAND:
        for attr, value in (("hash", d.hash), ("size", d.size), ("repositoryUniqueId", d.repository_unique_id)):
            if value is None:
                _err(e, oid, f"{kind}.{attr} is required in Register Document Set-b and missing")
    if d.repository_unique_id is not None and not is_oid(d.repository_unique_id):
        _err(e, oid, f"{kind}.repositoryUniqueId {d.repository_unique_id!r} is not an OID")
    for a in d.authors:
        if not (a.person or a.institutions or a.roles or a.specialties or a.telecoms):
            _err(e, oid, f"{kind}.author has none of authorPerson, authorInstitution, authorRole, authorSpecialty, authorTelecommunication")
    return e


def validate_submission_set(ss: SubmissionSet) -> list[XdsError]:
    e: list[XdsError] = []
    oid = ss.entry_uuid
    kind = "XDSSubmissionSet"
    if not ss.unique_id:
        _err(e, oid, f"{kind}.uniqueId is required and missing")
    elif not is_oid(ss.unique_id):
        _err(e, oid, f"{kind}.uniqueId {ss.unique_id!r} is not an OID")
    if not ss.source_id:
        _err(e, oid, f"{kind}.sourceId is required and missing")
    elif not is_oid(ss.source_id):
        _err(e, oid, f"{kind}.sourceId {ss.source_id!r} is not an OID")
    if not ss.patient_id:
        _err(e, oid, f"{kind}.patientId is required and missing")
    elif not is_cx_with_oid(ss.patient_id):
        _err(e, oid, f"{kind}.patientId {ss.patient_id!r} is not a CX id^^^&OID&ISO")
    _time(e, oid, f"{kind}.submissionTime", ss.submission_time, required=True)
    _code(e, oid, kind, "contentTypeCode", ss.content_type_code)
    return e


def validate_folder(f: Folder) -> list[XdsError]:
    e: list[XdsError] = []
    oid = f.entry_uuid
    kind = "XDSFolder"
    if not f.unique_id:
        _err(e, oid, f"{kind}.uniqueId is required and missing")
    elif not is_oid(f.unique_id):
        _err(e, oid, f"{kind}.uniqueId {f.unique_id!r} is not an OID")
    if not f.patient_id:
        _err(e, oid, f"{kind}.patientId is required and missing")
    if not f.codes:
        _err(e, oid, f"{kind}.codeList is required and missing")
    for c in f.codes:
        _code(e, oid, kind, "codeList", c)
    if not f.title:
        _err(e, oid, f"{kind}.title is required and missing")
    return e


def validate_ids(sub: Submission) -> list[XdsError]:
    """Every id present and unique inside the submission."""
    e: list[XdsError] = []
    seen: set[str] = set()
    for obj in sub.objects():
        ids: Iterable[str] = [obj.entry_uuid] + list(getattr(obj, "inner_ids", []))
        for i in ids:
            if not i:
                _err(e, obj.entry_uuid, "an object in the submission has no id")
            elif i in seen:
                _err(e, obj.entry_uuid, f"id {i!r} is used twice in the submission")
            seen.add(i)
    for a in sub.associations:
        if a.type not in C.ASSOCIATION_TYPES:
            _err(e, a.entry_uuid, f"Association.associationType {a.type!r} is not an XDS association type")
        if not a.source or not a.target:
            _err(e, a.entry_uuid, "Association needs sourceObject and targetObject")
        if a.type == C.ASSOC_HAS_MEMBER and sub.submission_set and a.source == sub.submission_set.entry_uuid:
            doc_ids = {d.entry_uuid for d in sub.documents}
            if a.target in doc_ids and a.slot("SubmissionSetStatus") not in ("Original", "Reference"):
                _err(e, a.entry_uuid, "HasMember from the SubmissionSet to a DocumentEntry needs the slot "
                                      "SubmissionSetStatus = Original or Reference")
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
