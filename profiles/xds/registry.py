"""Register Document Set-b (ITI-42) logic: a validated submission becomes a registration plan.

Transport- and storage-free. The gateway opens one database transaction, hands this module a
``RegistryReader`` over it, and writes the returned ``RegistrationPlan`` in the same transaction:
the submission is stored whole or not at all. Every refusal raises ``XdsFailure``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Protocol

from lxml import etree

from . import constants as C
from .datatypes import pad_dtm
from .ebrim import is_uuid_urn, new_uuid, set_slot
from .errors import (XDS_DUPLICATE_UNIQUE_ID, XDS_NON_IDENTICAL_HASH, XDS_PATIENT_ID_DOES_NOT_MATCH,
                     XDS_REGISTRY_ERROR, XDS_REGISTRY_METADATA_ERROR, XDS_UNKNOWN_PATIENT_ID, XdsError,
                     XdsFailure)
from .metadata import Association, DocumentEntry, Folder, RegistryObject, Submission
from .validate import Validator, validate_submission

R = C.rim


@dataclass(frozen=True)
class StoredDocument:
    entry_uuid: str
    unique_id: str
    patient_id: str
    status: str          # Approved | Deprecated
    lid: str
    version: int
    hash: str | None


@dataclass(frozen=True)
class StoredFolder:
    entry_uuid: str
    unique_id: str
    patient_id: str
    status: str


class RegistryReader(Protocol):
    """What registration needs to know of the registry (read in the writing transaction)."""

    def documents_by_uuid(self, uuids: Iterable[str]) -> dict[str, StoredDocument]: ...
    def documents_by_unique_id(self, unique_ids: Iterable[str]) -> dict[str, StoredDocument]: ...
    def folders_by_uuid(self, uuids: Iterable[str]) -> dict[str, StoredFolder]: ...
    def package_unique_ids_in_use(self, unique_ids: Iterable[str]) -> set[str]: ...
    def associations_exist(self, uuids: Iterable[str]) -> set[str]: ...
    def folders_containing(self, doc_uuids: Iterable[str]) -> dict[str, list[str]]: ...


class PatientIndex(Protocol):
    def is_known_mpi_pid(self, pid: str) -> bool: ...


@dataclass
class RegistryPolicy:
    mpi_oid: str
    extra_validators: tuple[Validator, ...] = ()


@dataclass
class RegistrationPlan:
    submission: Submission
    documents: list[DocumentEntry] = field(default_factory=list)
    folders: list[Folder] = field(default_factory=list)
    associations: list[Association] = field(default_factory=list)
    deprecate: list[str] = field(default_factory=list)           # entryUUIDs Approved -> Deprecated
    folder_updates: dict[str, str] = field(default_factory=dict)  # folder entryUUID -> lastUpdateTime
    submission_time: str = ""

    def xml(self, obj: RegistryObject) -> str:
        return etree.tostring(obj.element, encoding="unicode")


def _resolve_symbolic_ids(sub: Submission) -> dict[str, str]:
    """Give every non-UUID id a fresh urn:uuid and rewrite every reference to it (ITI TF-3 4.1.12.3)."""
    mapping: dict[str, str] = {}
    for obj in sub.objects():
        for i in [obj.entry_uuid] + list(getattr(obj, "inner_ids", [])):
            if i and not is_uuid_urn(i) and i not in mapping:
                mapping[i] = new_uuid()
    if not mapping:
        return mapping
    ref_attrs = ("id", "classifiedObject", "registryObject", "sourceObject", "targetObject", "lid")
    for obj in sub.objects():
        # references live on the object itself and on its own Classifications and
        # ExternalIdentifiers (its direct children); slots and names hold none
        for el in (obj.element, *obj.element.iterchildren(R("Classification"), R("ExternalIdentifier"))):
            for attr in ref_attrs:
                v = el.get(attr)
                if v in mapping:
                    el.set(attr, mapping[v])
        obj.entry_uuid = mapping.get(obj.entry_uuid, obj.entry_uuid)
        if hasattr(obj, "inner_ids"):
            obj.inner_ids = [mapping.get(i, i) for i in obj.inner_ids]
    for a in sub.associations:
        a.source = mapping.get(a.source, a.source)
        a.target = mapping.get(a.target, a.target)
    sub.classified_submission_sets = {mapping.get(i, i) for i in sub.classified_submission_sets}
    sub.classified_folders = {mapping.get(i, i) for i in sub.classified_folders}
    return mapping


def _set_version(el, lid: str, version: int, status: str) -> None:
    el.set("lid", lid)
    el.set("status", status)
    vi = el.find(R("VersionInfo"))
    if vi is None:
        vi = etree.Element(R("VersionInfo"))
        # VersionInfo follows Slot, Name, Description (ebRIM 3.0 RegistryObjectType sequence)
        anchor = None
        for tag in ("Description", "Name", "Slot"):
            found = el.findall(R(tag))
            if found:
                anchor = found[-1]
                break
        if anchor is None:
            el.insert(0, vi)
        else:
            anchor.addnext(vi)
    vi.set("versionName", str(version))


def _ensure_node_classification(el, obj_id: str, node: str) -> None:
    """Keep the SubmissionSet/Folder classification inside the package, as registries return it."""
    for cl in el.findall(R("Classification")):
        if cl.get("classificationNode") == node:
            return
    cl = etree.Element(R("Classification"), id=new_uuid(), classifiedObject=obj_id, classificationNode=node)
    cl.set("objectType", C.OBJECT_TYPE_CLASSIFICATION)
    ext = el.find(R("ExternalIdentifier"))
    if ext is not None:
        ext.addprevious(cl)
    else:
        el.append(cl)


def normalize_patient_id(value: str) -> str:
    """The registry's form of a patient id: ``ID^^^&OID&ISO`` (no namespace, no type code), so that
    queries find it whatever optional CX components the submitter sent."""
    from profiles.ch.identifiers import CX
    try:
        cx = CX.parse(value)
    except ValueError:
        return value
    return f"{cx.id}^^^&{cx.oid}&ISO"


def _normalize_patient_ids(sub: Submission) -> None:
    for obj in [sub.submission_set, *sub.documents, *sub.folders]:
        if obj is not None and obj.patient_id:
            obj.patient_id = normalize_patient_id(obj.patient_id)


def _check_patients(sub: Submission, patients: PatientIndex, policy: RegistryPolicy) -> list[XdsError]:
    from profiles.ch.identifiers import CX
    errors: list[XdsError] = []
    ss = sub.submission_set
    if ss is None or not ss.patient_id:
        return errors
    expected = ss.patient_id
    for obj in list(sub.documents) + list(sub.folders):
        if obj.patient_id and obj.patient_id != expected:
            errors.append(XdsError(XDS_PATIENT_ID_DOES_NOT_MATCH,
                                   f"patientId {obj.patient_id!r} of {obj.entry_uuid} differs from the "
                                   f"SubmissionSet's {expected!r}", obj.entry_uuid))
    try:
        cx = CX.parse(expected)
    except ValueError:
        return errors  # already reported by validation
    if cx.oid != policy.mpi_oid or not patients.is_known_mpi_pid(cx.id):
        errors.append(XdsError(XDS_UNKNOWN_PATIENT_ID,
                               f"patient {expected!r} is not known to this community's MPI "
                               f"(patient ids are MPI-PIDs under {policy.mpi_oid})", ss.entry_uuid))
    return errors


def plan_registration(sub: Submission, reader: RegistryReader, patients: PatientIndex,
                      policy: RegistryPolicy, *, for_register: bool, now: str) -> RegistrationPlan:
    """Validate ``sub`` against the IHE rules, the national rules and the registry's content.

    ``now`` is the registration time (DTM, 14 digits) used for folder lastUpdateTime.
    Raises ``XdsFailure`` with every error found; returns the plan to write otherwise.
    """
    errors = validate_submission(sub, for_register=for_register, extra=policy.extra_validators)
    if errors:
        raise XdsFailure(errors)
    _normalize_patient_ids(sub)
    errors = _check_patients(sub, patients, policy)
    if errors:
        raise XdsFailure(errors)

    _resolve_symbolic_ids(sub)
    ss = sub.submission_set
    assert ss is not None
    plan = RegistrationPlan(submission=sub, submission_time=now)
    new_docs = {d.entry_uuid: d for d in sub.documents}
    new_folders = {f.entry_uuid: f for f in sub.folders}
    new_assocs = {a.entry_uuid: a for a in sub.associations}

    # -- uniqueness against the registry
    existing_by_uid = reader.documents_by_unique_id([d.unique_id for d in sub.documents])
    for d in sub.documents:
        old = existing_by_uid.get(d.unique_id)
        if old is None:
            continue
        if old.hash and d.hash and old.hash.lower() != d.hash.lower():
            errors.append(XdsError(XDS_NON_IDENTICAL_HASH, f"document {d.unique_id} is already registered "
                                   f"with hash {old.hash}, this submission says {d.hash}", d.entry_uuid))
        else:
            errors.append(XdsError(XDS_DUPLICATE_UNIQUE_ID, f"DocumentEntry.uniqueId {d.unique_id} is already "
                                   "registered", d.entry_uuid))
    pkg_uids = [ss.unique_id] + [f.unique_id for f in sub.folders]
    for uid in reader.package_unique_ids_in_use(pkg_uids):
        errors.append(XdsError(XDS_DUPLICATE_UNIQUE_ID, f"uniqueId {uid} is already registered", uid))
    uuids = list(new_docs) + list(new_folders) + list(new_assocs) + [ss.entry_uuid]
    if set(reader.documents_by_uuid(uuids)) | set(reader.folders_by_uuid(uuids)) | reader.associations_exist(uuids):
        errors.append(XdsError(XDS_REGISTRY_ERROR, "an entryUUID of this submission is already registered", ""))

    # -- associations: targets, relationships, lifecycle
    refs = {a.target for a in sub.associations} | {a.source for a in sub.associations}
    stored_docs = reader.documents_by_uuid([r for r in refs if r not in new_docs])
    stored_folders = reader.folders_by_uuid([r for r in refs if r not in new_folders])
    stored_assocs = reader.associations_exist([r for r in refs if r not in new_assocs])
    lid_version: dict[str, tuple[str, int]] = {}
    for a in sub.associations:
        if a.type == C.ASSOC_HAS_MEMBER:
            if a.source == ss.entry_uuid:
                known = (a.target in new_docs or a.target in new_folders or a.target in new_assocs
                         or a.target in stored_docs or a.target in stored_folders or a.target in stored_assocs)
                if not known:
                    errors.append(XdsError(XDS_REGISTRY_ERROR, f"HasMember target {a.target} is neither in the "
                                           "submission nor in the registry", a.entry_uuid))
                elif a.target in stored_docs and stored_docs[a.target].patient_id != ss.patient_id:
                    errors.append(XdsError(XDS_PATIENT_ID_DOES_NOT_MATCH, f"referenced document {a.target} "
                                           "belongs to another patient", a.entry_uuid))
            elif a.source in new_folders or a.source in stored_folders:
                target_doc = new_docs.get(a.target) or stored_docs.get(a.target)
                if target_doc is None:
                    errors.append(XdsError(XDS_REGISTRY_ERROR, f"folder member {a.target} is not a DocumentEntry "
                                           "of the submission or the registry", a.entry_uuid))
                    continue
                folder_pid = (new_folders[a.source].patient_id if a.source in new_folders
                              else stored_folders[a.source].patient_id)
                if target_doc.patient_id != folder_pid:
                    errors.append(XdsError(XDS_PATIENT_ID_DOES_NOT_MATCH, f"document {a.target} and folder "
                                           f"{a.source} belong to different patients", a.entry_uuid))
                plan.folder_updates[a.source] = now
            else:
                errors.append(XdsError(XDS_REGISTRY_ERROR, f"HasMember source {a.source} is neither the "
                                       "SubmissionSet nor a Folder", a.entry_uuid))
        elif a.type in C.DOCUMENT_RELATIONSHIPS:
            if a.source not in new_docs:
                errors.append(XdsError(XDS_REGISTRY_ERROR, f"{a.type.rsplit(':', 1)[-1]} source {a.source} must be "
                                       "a DocumentEntry of this submission", a.entry_uuid))
                continue
            target = stored_docs.get(a.target)
            if target is None:
                errors.append(XdsError(XDS_REGISTRY_ERROR, f"{a.type.rsplit(':', 1)[-1]} target {a.target} is not "
                                       "in the registry", a.entry_uuid))
                continue
            if target.patient_id != new_docs[a.source].patient_id:
                errors.append(XdsError(XDS_PATIENT_ID_DOES_NOT_MATCH, f"{a.type.rsplit(':', 1)[-1]} target "
                                       f"{a.target} belongs to patient {target.patient_id}", a.entry_uuid))
                continue
            if a.type in C.REPLACING_RELATIONSHIPS or a.type == C.ASSOC_APND:
                if target.status != "Approved":
                    errors.append(XdsError(XDS_REGISTRY_ERROR, f"{a.type.rsplit(':', 1)[-1]} target {a.target} is "
                                           "not Approved (it was already replaced)", a.entry_uuid))
                    continue
            if a.type in C.REPLACING_RELATIONSHIPS:
                if a.target in plan.deprecate:
                    errors.append(XdsError(XDS_REGISTRY_ERROR, f"document {a.target} is replaced twice in one "
                                           "submission", a.entry_uuid))
                    continue
                plan.deprecate.append(a.target)
                lid_version[a.source] = (target.lid, target.version + 1)
        else:
            errors.append(XdsError(XDS_REGISTRY_METADATA_ERROR, f"association type {a.type} is not supported",
                                   a.entry_uuid))
    # every new document must be a member of the submission set
    members = {a.target for a in sub.associations if a.type == C.ASSOC_HAS_MEMBER and a.source == ss.entry_uuid}
    for d in sub.documents:
        if d.entry_uuid not in members:
            errors.append(XdsError(XDS_REGISTRY_METADATA_ERROR, f"DocumentEntry {d.entry_uuid} is not linked to "
                                   "the SubmissionSet by a HasMember association", d.entry_uuid))
    for f in sub.folders:
        if f.entry_uuid not in members:
            errors.append(XdsError(XDS_REGISTRY_METADATA_ERROR, f"Folder {f.entry_uuid} is not linked to "
                                   "the SubmissionSet by a HasMember association", f.entry_uuid))
    if errors:
        raise XdsFailure(errors)

    # -- replaced documents' folders receive the replacement (ITI TF-3 4.1.6.1? RPLC and folders)
    replaced_by = {a.target: a.source for a in sub.associations if a.type in C.REPLACING_RELATIONSHIPS}
    if replaced_by:
        for old_uuid, folder_ids in reader.folders_containing(list(replaced_by)).items():
            for fid in folder_ids:
                assoc = etree.Element(R("Association"), id=new_uuid(), associationType=C.ASSOC_HAS_MEMBER,
                                      sourceObject=fid, targetObject=replaced_by[old_uuid])
                extra = Association(entry_uuid=assoc.get("id"), element=assoc, type=C.ASSOC_HAS_MEMBER,
                                    source=fid, target=replaced_by[old_uuid])
                sub.associations.append(extra)
                plan.folder_updates[fid] = now

    # -- registry-set attributes
    for d in sub.documents:
        lid, version = lid_version.get(d.entry_uuid, (d.entry_uuid, 1))
        d.lid, d.version, d.status = lid, str(version), C.STATUS_APPROVED
        _set_version(d.element, lid, version, C.STATUS_APPROVED)
        plan.documents.append(d)
    for f in sub.folders:
        f.lid, f.status = f.entry_uuid, C.STATUS_APPROVED
        f.last_update_time = now
        _set_version(f.element, f.entry_uuid, 1, C.STATUS_APPROVED)
        set_slot(f.element, "lastUpdateTime", [now])
        plan.folders.append(f)
    ss.status = C.STATUS_APPROVED
    _set_version(ss.element, ss.entry_uuid, 1, C.STATUS_APPROVED)
    _ensure_node_classification(ss.element, ss.entry_uuid, C.SUBMISSION_SET_NODE)
    for f in sub.folders:
        _ensure_node_classification(f.element, f.entry_uuid, C.FOLDER_NODE)
    for a in sub.associations:
        a.status = C.STATUS_APPROVED
        a.element.set("status", C.STATUS_APPROVED)
        plan.associations.append(a)
    plan.submission_time = pad_dtm(ss.submission_time) or now
    return plan
