"""Registration (ITI-41, ITI-42): a submission's checks, and the plan that writes it.

Transport- and storage-free, in the order of the transaction:

1. :func:`check_submission`: every rule that needs no database (IHE rules, the national rules
   plugged in through ``RegistryPolicy.extra_validators``, patient id consistency). The one place
   where a submission is validated; it runs before any blob is written.
2. Inside the one write transaction, :func:`plan_checked`: what needs the registry (patient known
   to the MPI, uniqueIds, association targets and their status) against a ``RegistryReader`` over
   that transaction; it returns the ``RegistrationPlan`` (the model with the registry's
   attributes set and rendered to the stored ebRIM text) that the store writes in the same
   transaction. Every refusal raises ``XdsFailure``.

:func:`plan_registration` is both in one call (tests, fixtures).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Protocol

from . import constants as C
from . import messages as M
from .datatypes import pad_dtm
from .ebrim import is_uuid_urn, new_uuid, parse_object, render_text
from .errors import XdsError, XdsFailure
from .metadata import Association, Classification, DocumentEntry, Folder, RegistryObject, Submission
from .validate import Validator, validate_submission


@dataclass(frozen=True)
class StoredDocument:
    entry_uuid: str
    unique_id: str
    patient_id: str
    status: str          # Approved | Deprecated
    lid: str
    version: int
    hash: str | None
    size: int | None = None


@dataclass(frozen=True)
class StoredFolder:
    entry_uuid: str
    unique_id: str
    patient_id: str
    status: str


class RegistryReader(Protocol):
    """What registration needs to know of the registry (read in the writing transaction)."""

    def documents_by_uuid(self, uuids: Iterable[str]) -> dict[str, StoredDocument]: ...
    def claim_document_unique_ids(self, claims: dict[str, tuple[str | None, int | None]]
                                  ) -> dict[str, tuple[str | None, int | None]]:
        """Register the DocumentEntry uniqueIds of ``claims`` (uniqueId -> (hash, size)) that are not
        registered yet (inside this transaction: rolled back with it); for the others, return the
        (hash, size) they were first registered with. Racing claims of one uniqueId see each other."""
    def folders_by_uuid(self, uuids: Iterable[str]) -> dict[str, StoredFolder]: ...
    def package_unique_ids_in_use(self, unique_ids: Iterable[str]) -> set[str]: ...
    def associations_exist(self, uuids: Iterable[str]) -> set[str]: ...
    def folders_containing(self, doc_uuids: Iterable[str]) -> dict[str, list[str]]: ...
    def folder_texts(self, uuids: Iterable[str]) -> dict[str, str]:
        """The stored ebRIM text of registered folders (to render their new lastUpdateTime)."""


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
    # registered folders whose lastUpdateTime changes: entryUUID -> their new stored text
    folder_texts: dict[str, str] = field(default_factory=dict)
    # uniqueIds of documents registered again with the same hash and size (IHE resubmission)
    resubmitted_unique_ids: set[str] = field(default_factory=set)
    submission_time: str = ""
    texts: dict[int, str] = field(default_factory=dict)

    def xml(self, obj: RegistryObject) -> str:
        """The stored text of a planned object, rendered from the model."""
        text = self.texts.get(id(obj))
        if text is None:
            text = self.texts[id(obj)] = render_text(obj)
        return text


def _resolve_symbolic_ids(sub: Submission) -> dict[str, str]:
    """Give every non-UUID id a fresh urn:uuid and rewrite every reference to it (ITI TF-3 4.1.12.3):
    on each object, its own Classifications and ExternalIdentifiers, and the associations' ends."""
    mapping: dict[str, str] = {}
    for obj in sub.objects():
        for i in [obj.entry_uuid] + obj.inner_ids:
            if i and not is_uuid_urn(i) and i not in mapping:
                mapping[i] = new_uuid()
    if not mapping:
        return mapping
    get = lambda v: mapping.get(v, v) if v is not None else None  # noqa: E731
    for obj in sub.objects():
        obj.entry_uuid = get(obj.entry_uuid)
        if obj.lid is not None:
            obj.lid = get(obj.lid)
        for cl in obj.classifications:
            cl.id, cl.classified_object = get(cl.id), get(cl.classified_object)
        for ei in obj.external_identifiers:
            ei.id, ei.registry_object = get(ei.id), get(ei.registry_object)
    for a in sub.associations:
        a.source = get(a.source)
        a.target = get(a.target)
    sub.classified_submission_sets = {get(i) for i in sub.classified_submission_sets}
    sub.classified_folders = {get(i) for i in sub.classified_folders}
    return mapping


def _register(obj: RegistryObject, lid: str, version: int) -> None:
    """The registry's attributes of a registered object: lid, versionName, status Approved."""
    obj.lid, obj.version, obj.status = lid, str(version), C.STATUS_APPROVED


def _ensure_node_classification(obj: RegistryObject, node: str) -> None:
    """Keep the SubmissionSet/Folder classification inside the package, as registries return it."""
    if any(cl.node == node for cl in obj.classifications):
        return
    obj.classifications.append(Classification(id=new_uuid(), node=node, classified_object=obj.entry_uuid,
                                              object_type=C.OBJECT_TYPE_CLASSIFICATION))


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


def _patient_consistency(sub: Submission) -> list[XdsError]:
    """Every DocumentEntry and Folder names the SubmissionSet's patient."""
    ss = sub.submission_set
    if ss is None or not ss.patient_id:
        return []
    return [M.PATIENT_ID_DIFFERS(obj.entry_uuid, value=obj.patient_id, id=obj.entry_uuid, expected=ss.patient_id)
            for obj in list(sub.documents) + list(sub.folders) if obj.patient_id and obj.patient_id != ss.patient_id]


def _membership(sub: Submission) -> list[XdsError]:
    """Every new DocumentEntry and Folder is a member of the SubmissionSet."""
    ss = sub.submission_set
    if ss is None:
        return []
    members = {a.target for a in sub.associations if a.type == C.ASSOC_HAS_MEMBER and a.source == ss.entry_uuid}
    errors = [M.NOT_A_MEMBER(d.entry_uuid, kind="DocumentEntry", id=d.entry_uuid)
              for d in sub.documents if d.entry_uuid not in members]
    errors += [M.NOT_A_MEMBER(f.entry_uuid, kind="Folder", id=f.entry_uuid)
               for f in sub.folders if f.entry_uuid not in members]
    errors += [M.UNSUPPORTED_ASSOCIATION(a.entry_uuid, type=a.type) for a in sub.associations
               if a.type != C.ASSOC_HAS_MEMBER and a.type not in C.DOCUMENT_RELATIONSHIPS]
    seen: set[str] = set()
    for d in sub.documents:
        if d.unique_id and d.unique_id in seen:
            errors.append(M.UNIQUE_ID_TWICE(d.entry_uuid, uid=d.unique_id))
        seen.add(d.unique_id)
    return errors


def check_submission(sub: Submission, policy: RegistryPolicy, *, for_register: bool) -> list[XdsError]:
    """Every check of ``sub`` that needs no database: the IHE rules, the national rules, patient id
    consistency, membership. Returns every error found (empty: go on to the registry's checks).
    Patient ids are brought to the registry's form (``ID^^^&OID&ISO``) on the way."""
    errors = validate_submission(sub, for_register=for_register, extra=policy.extra_validators)
    if errors:
        return errors
    _normalize_patient_ids(sub)
    return _patient_consistency(sub) + _membership(sub)


def _check_patient_known(sub: Submission, patients: PatientIndex, policy: RegistryPolicy) -> list[XdsError]:
    from profiles.ch.identifiers import CX
    ss = sub.submission_set
    if ss is None or not ss.patient_id:
        return []
    try:
        cx = CX.parse(ss.patient_id)
    except ValueError:
        return []  # already reported by validation
    if cx.oid != policy.mpi_oid or not patients.is_known_mpi_pid(cx.id):
        return [M.UNKNOWN_PATIENT(ss.entry_uuid, pid=ss.patient_id, mpi_oid=policy.mpi_oid)]
    return []


def plan_registration(sub: Submission, reader: RegistryReader, patients: PatientIndex,
                      policy: RegistryPolicy, *, for_register: bool, now: str) -> RegistrationPlan:
    """:func:`check_submission` then :func:`plan_checked` (one call for tests and fixtures)."""
    errors = check_submission(sub, policy, for_register=for_register)
    if errors:
        raise XdsFailure(errors)
    return plan_checked(sub, reader, patients, policy, now=now)


def _short(assoc_type: str) -> str:
    return assoc_type.rsplit(":", 1)[-1]


def plan_checked(sub: Submission, reader: RegistryReader, patients: PatientIndex,
                 policy: RegistryPolicy, *, now: str) -> RegistrationPlan:
    """The registry's checks of a submission that passed :func:`check_submission`, and its plan.

    ``reader`` and ``patients`` read inside the write transaction; ``now`` is the registration
    time (DTM, 14 digits) used for folder lastUpdateTime. Raises ``XdsFailure`` with every error
    found; returns the plan to write otherwise.
    """
    errors = _check_patient_known(sub, patients, policy)
    if errors:
        raise XdsFailure(errors)

    _resolve_symbolic_ids(sub)
    ss = sub.submission_set
    assert ss is not None
    plan = RegistrationPlan(submission=sub, submission_time=now)
    new_docs = {d.entry_uuid: d for d in sub.documents}
    new_folders = {f.entry_uuid: f for f in sub.folders}
    new_assocs = {a.entry_uuid: a for a in sub.associations}

    # -- uniqueness against the registry: a document registered again with the same hash and size
    # is accepted (ITI TF-3 4.2.3.2.26, NIST test 12004), another hash is XDSNonIdenticalHash
    claims = {d.unique_id: (d.hash, int(d.size) if d.size and d.size.isdigit() else None) for d in sub.documents}
    registered = reader.claim_document_unique_ids(claims)
    for d in sub.documents:
        if d.unique_id not in registered:
            continue
        old_hash, old_size = registered[d.unique_id]
        if not (old_hash and d.hash):
            errors.append(M.DOCUMENT_UNIQUE_ID_IN_USE(d.entry_uuid, uid=d.unique_id))
        elif old_hash.lower() != d.hash.lower():
            errors.append(M.NON_IDENTICAL_HASH(d.entry_uuid, uid=d.unique_id, old=old_hash, new=d.hash))
        elif old_size is not None and d.size is not None and str(old_size) != d.size:
            errors.append(M.NON_IDENTICAL_SIZE(d.entry_uuid, uid=d.unique_id, old=old_size, new=d.size))
        else:
            plan.resubmitted_unique_ids.add(d.unique_id)
    pkg_uids = [ss.unique_id] + [f.unique_id for f in sub.folders]
    for uid in reader.package_unique_ids_in_use(pkg_uids):
        errors.append(M.UNIQUE_ID_IN_USE(uid, uid=uid))
    uuids = list(new_docs) + list(new_folders) + list(new_assocs) + [ss.entry_uuid]
    if set(reader.documents_by_uuid(uuids)) | set(reader.folders_by_uuid(uuids)) | reader.associations_exist(uuids):
        errors.append(M.ENTRY_UUID_IN_USE())

    # -- associations: targets, relationships, lifecycle
    refs = {a.target for a in sub.associations} | {a.source for a in sub.associations}
    stored_docs = reader.documents_by_uuid([r for r in refs if r not in new_docs])
    stored_folders = reader.folders_by_uuid([r for r in refs if r not in new_folders])
    stored_assocs = reader.associations_exist([r for r in refs if r not in new_assocs])
    lid_version: dict[str, tuple[str, int]] = {}
    for a in sub.associations:
        loc = a.entry_uuid
        if a.type == C.ASSOC_HAS_MEMBER:
            if a.source == ss.entry_uuid:
                known = (a.target in new_docs or a.target in new_folders or a.target in new_assocs
                         or a.target in stored_docs or a.target in stored_folders or a.target in stored_assocs)
                if not known:
                    errors.append(M.HAS_MEMBER_TARGET_UNKNOWN(loc, target=a.target))
                elif a.target in stored_docs and stored_docs[a.target].patient_id != ss.patient_id:
                    errors.append(M.MEMBER_OF_OTHER_PATIENT(loc, target=a.target))
            elif a.source in new_folders or a.source in stored_folders:
                target_doc = new_docs.get(a.target) or stored_docs.get(a.target)
                if target_doc is None:
                    errors.append(M.FOLDER_MEMBER_NOT_A_DOCUMENT(loc, target=a.target))
                    continue
                folder_pid = (new_folders[a.source].patient_id if a.source in new_folders
                              else stored_folders[a.source].patient_id)
                if target_doc.patient_id != folder_pid:
                    errors.append(M.FOLDER_MEMBER_OF_OTHER_PATIENT(loc, target=a.target, folder=a.source))
                plan.folder_updates[a.source] = now
            else:
                errors.append(M.HAS_MEMBER_SOURCE_UNKNOWN(loc, source=a.source))
        elif a.type in C.DOCUMENT_RELATIONSHIPS:
            kind = _short(a.type)
            if a.source not in new_docs:
                errors.append(M.RELATIONSHIP_SOURCE_NOT_NEW(loc, type=kind, source=a.source))
                continue
            target = stored_docs.get(a.target)
            if target is None:
                errors.append(M.RELATIONSHIP_TARGET_UNKNOWN(loc, type=kind, target=a.target))
                continue
            if target.patient_id != new_docs[a.source].patient_id:
                errors.append(M.RELATIONSHIP_TARGET_OTHER_PATIENT(loc, type=kind, target=a.target,
                                                                  pid=target.patient_id))
                continue
            # a replacement, an addendum or a transformation of a Deprecated document is refused
            # (ITI TF-3 4.2.2.2; NIST XDS test 11994 for XFRM)
            if a.type in C.REPLACING_RELATIONSHIPS or a.type in (C.ASSOC_APND, C.ASSOC_XFRM):
                if target.status != "Approved":
                    errors.append(M.RELATIONSHIP_TARGET_DEPRECATED(loc, type=kind, target=a.target))
                    continue
            if a.type in C.REPLACING_RELATIONSHIPS:
                if a.target in plan.deprecate:
                    errors.append(M.REPLACED_TWICE(loc, target=a.target))
                    continue
                plan.deprecate.append(a.target)
                lid_version[a.source] = (target.lid, target.version + 1)
    if errors:
        raise XdsFailure(errors)

    # -- replaced documents' folders receive the replacement (ITI TF-3 4.1.9.2)
    replaced_by = {a.target: a.source for a in sub.associations if a.type in C.REPLACING_RELATIONSHIPS}
    if replaced_by:
        for old_uuid, folder_ids in reader.folders_containing(list(replaced_by)).items():
            for fid in folder_ids:
                sub.associations.append(Association(entry_uuid=new_uuid(), type=C.ASSOC_HAS_MEMBER,
                                                    source=fid, target=replaced_by[old_uuid]))
                plan.folder_updates[fid] = now

    # -- registry-set attributes, on the model; the stored text is rendered from it
    for d in sub.documents:
        lid, version = lid_version.get(d.entry_uuid, (d.entry_uuid, 1))
        _register(d, lid, version)
        plan.documents.append(d)
    for f in sub.folders:
        _register(f, f.entry_uuid, 1)
        f.touch(now)
        _ensure_node_classification(f, C.FOLDER_NODE)
        plan.folders.append(f)
    _register(ss, ss.entry_uuid, 1)
    _ensure_node_classification(ss, C.SUBMISSION_SET_NODE)
    for a in sub.associations:
        a.status = C.STATUS_APPROVED
        plan.associations.append(a)
    stored_touched = [fid for fid in plan.folder_updates if fid not in new_folders]
    if stored_touched:
        for fid, text in reader.folder_texts(stored_touched).items():
            folder = parse_object(text)
            if isinstance(folder, Folder):
                folder.touch(plan.folder_updates[fid])
                plan.folder_texts[fid] = render_text(folder)
    plan.submission_time = pad_dtm(ss.submission_time) or now
    return plan
