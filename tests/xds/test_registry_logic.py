"""Unit tests of the transport-free registration logic (profiles/xds/registry.py) over a fake registry."""
from __future__ import annotations

import copy

import pytest
from lxml import etree

from gateway.clients.submission import DocumentSpec, submit_objects_request
from profiles.xds import constants as C
from profiles.xds.ebrim import parse_submission
from profiles.xds.errors import XdsFailure
from profiles.xds.registry import RegistryPolicy, StoredDocument, StoredFolder, plan_registration

MPI = "2.16.756.5.30.1.999.1.1"
PID = f"4711^^^&{MPI}&ISO"
PID2 = f"4712^^^&{MPI}&ISO"
NOW = "20261122120000"


class FakeRegistry:
    def __init__(self, docs=(), folders=(), folder_members=None):
        self.docs = {d.entry_uuid: d for d in docs}
        self.folders = {f.entry_uuid: f for f in folders}
        self.folder_members = folder_members or {}

    def documents_by_uuid(self, uuids):
        return {u: self.docs[u] for u in uuids if u in self.docs}

    def claim_document_unique_ids(self, claims):
        by = {d.unique_id: d for d in self.docs.values()}
        return {u: (by[u].hash, by[u].size) for u in claims if u in by}

    def folders_by_uuid(self, uuids):
        return {u: self.folders[u] for u in uuids if u in self.folders}

    def package_unique_ids_in_use(self, uids):
        return set()

    def associations_exist(self, uuids):
        return set()

    def folders_containing(self, doc_uuids):
        return {d: f for d, f in self.folder_members.items() if d in doc_uuids}

    def folder_texts(self, uuids):
        return {}


class Patients:
    def __init__(self, *known):
        self.known = set(known)

    def is_known_mpi_pid(self, pid):
        return pid in self.known


POLICY = RegistryPolicy(mpi_oid=MPI)
PATIENTS = Patients("4711", "4712")


def plan(sor, reader=None, patients=PATIENTS):
    sub, errors = parse_submission(sor)
    assert not errors
    return plan_registration(sub, reader or FakeRegistry(), patients, POLICY, for_register=True, now=NOW)


def codes(exc):
    return sorted(e.code for e in exc.value.errors)


def test_a_valid_submission_plans_every_object_with_uuids_and_versions():
    d = DocumentSpec(b"x", entry_id="Doc1")
    p = plan(submit_objects_request(PID, [d], for_register=True))
    assert len(p.documents) == 1 and p.documents[0].entry_uuid.startswith("urn:uuid:")
    doc = p.documents[0]
    assert doc.lid == doc.entry_uuid and doc.version == "1" and doc.status == C.STATUS_APPROVED
    # the stored text is rendered from the model, with the resolved ids
    element = etree.fromstring(p.xml(doc))
    assert element.get("id") == doc.entry_uuid
    # inner references follow the resolved id
    for cl in element.iter(C.rim("Classification")):
        assert cl.get("classifiedObject") == doc.entry_uuid
    for ei in element.iter(C.rim("ExternalIdentifier")):
        assert ei.get("registryObject") == doc.entry_uuid
    assert "Doc1" not in p.xml(doc)
    assert element.get("lid") == doc.entry_uuid and element.get("status") == C.STATUS_APPROVED
    assert element.find(C.rim("VersionInfo")).get("versionName") == "1"
    ss = p.submission.submission_set
    assert all(a.source == ss.entry_uuid for a in p.associations)
    ss_element = etree.fromstring(p.xml(ss))
    assert any(c.get("classificationNode") == C.SUBMISSION_SET_NODE for c in ss_element.iter(C.rim("Classification")))


def test_unknown_patient_and_foreign_assigning_authority():
    with pytest.raises(XdsFailure) as exc:
        plan(submit_objects_request(PID, [DocumentSpec(b"x")], for_register=True), patients=Patients())
    assert codes(exc) == ["XDSUnknownPatientId"]
    with pytest.raises(XdsFailure) as exc:
        plan(submit_objects_request("4711^^^&1.2.3&ISO", [DocumentSpec(b"x")], for_register=True))
    assert codes(exc) == ["XDSUnknownPatientId"]


def test_patient_id_must_match_throughout():
    sor = submit_objects_request(PID, [DocumentSpec(b"x")], for_register=True)
    for ei in sor.iter(C.rim("ExternalIdentifier")):
        if ei.get("identificationScheme") == C.DE_PATIENT_ID:
            ei.set("value", PID2)
    with pytest.raises(XdsFailure) as exc:
        plan(sor)
    assert codes(exc) == ["XDSPatientIdDoesNotMatch"]


def _stored(uuid, uid="1.2.3", pid=PID, status="Approved", lid=None, version=1, hash_="a" * 40):
    return StoredDocument(uuid, uid, pid, status, lid or uuid, version, hash_)


def test_rplc_takes_lid_and_next_version_and_deprecates_target():
    old = _stored("urn:uuid:aaaaaaaa-0000-4000-8000-000000000001", lid="urn:uuid:aaaaaaaa-0000-4000-8000-00000000000f",
                  version=3)
    p = plan(submit_objects_request(PID, [DocumentSpec(b"x", replaces=old.entry_uuid)], for_register=True),
             FakeRegistry([old]))
    assert p.deprecate == [old.entry_uuid]
    assert p.documents[0].lid == old.lid and p.documents[0].version == "4"


@pytest.mark.parametrize("status,pid,code", [("Deprecated", PID, "XDSRegistryError"),
                                             ("Approved", PID2, "XDSPatientIdDoesNotMatch")])
def test_rplc_target_must_be_approved_and_same_patient(status, pid, code):
    old = _stored("urn:uuid:aaaaaaaa-0000-4000-8000-000000000002", status=status, pid=pid)
    with pytest.raises(XdsFailure) as exc:
        plan(submit_objects_request(PID, [DocumentSpec(b"x", replaces=old.entry_uuid)], for_register=True),
             FakeRegistry([old]))
    assert codes(exc) == [code]


def test_rplc_adds_the_replacement_to_the_folders_of_the_original():
    old = _stored("urn:uuid:aaaaaaaa-0000-4000-8000-000000000003")
    folder = "urn:uuid:ffffffff-0000-4000-8000-000000000001"
    reader = FakeRegistry([old], [StoredFolder(folder, "1.2.9", PID, "Approved")], {old.entry_uuid: [folder]})
    p = plan(submit_objects_request(PID, [DocumentSpec(b"x", replaces=old.entry_uuid)], for_register=True), reader)
    new_uuid = p.documents[0].entry_uuid
    assert any(a.source == folder and a.target == new_uuid and a.type == C.ASSOC_HAS_MEMBER for a in p.associations)
    assert p.folder_updates == {folder: NOW}


def test_uniqueid_reuse_identical_or_different_hash():
    """An identical resubmission (same uniqueId, hash and size) is accepted as a second entry (IHE,
    NIST XDS test 12004; issue 14 item 9); a different hash is XDSNonIdenticalHash."""
    d = DocumentSpec(b"x")
    import hashlib
    same = StoredDocument("urn:uuid:aaaaaaaa-0000-4000-8000-000000000004", d.unique_id, PID, "Approved",
                          "urn:uuid:aaaaaaaa-0000-4000-8000-000000000004", 1, hashlib.sha1(b"x").hexdigest(), 1)
    p = plan(submit_objects_request(PID, [d], for_register=True), FakeRegistry([same]))
    assert p.resubmitted_unique_ids == {d.unique_id} and len(p.documents) == 1
    assert p.documents[0].entry_uuid != same.entry_uuid
    other_size = StoredDocument(same.entry_uuid, d.unique_id, PID, "Approved", same.lid, 1, same.hash, 2)
    with pytest.raises(XdsFailure) as exc:
        plan(submit_objects_request(PID, [d], for_register=True), FakeRegistry([other_size]))
    assert codes(exc) == ["XDSNonIdenticalSize"]
    other = _stored("urn:uuid:aaaaaaaa-0000-4000-8000-000000000005", uid=d.unique_id, hash_="b" * 40)
    with pytest.raises(XdsFailure) as exc:
        plan(submit_objects_request(PID, [d], for_register=True), FakeRegistry([other]))
    assert codes(exc) == ["XDSNonIdenticalHash"]


def test_document_without_hasmember_is_refused():
    sor = submit_objects_request(PID, [DocumentSpec(b"x")], for_register=True)
    for a in list(sor.iter(C.rim("Association"))):
        a.getparent().remove(a)
    with pytest.raises(XdsFailure) as exc:
        plan(sor)
    assert codes(exc) == ["XDSRegistryMetadataError"]


def test_every_required_attribute_is_named_when_missing():
    base = submit_objects_request(PID, [DocumentSpec(b"x")], for_register=True)
    eo = base.find(f".//{C.rim('ExtrinsicObject')}")
    schemes = {C.DE_CLASS_CODE: "classCode", C.DE_TYPE_CODE: "typeCode", C.DE_FORMAT_CODE: "formatCode",
               C.DE_CONFIDENTIALITY_CODE: "confidentialityCode",
               C.DE_HEALTHCARE_FACILITY_TYPE_CODE: "healthcareFacilityTypeCode",
               C.DE_PRACTICE_SETTING_CODE: "practiceSettingCode"}
    for scheme, name in schemes.items():
        sor = copy.deepcopy(base)
        e = sor.find(f".//{C.rim('ExtrinsicObject')}")
        for cl in list(e.iterchildren(C.rim("Classification"))):
            if cl.get("classificationScheme") == scheme:
                e.remove(cl)
        with pytest.raises(XdsFailure) as exc:
            plan(sor)
        assert any(name in err.context for err in exc.value.errors), name
    for slot in ("creationTime", "languageCode", "sourcePatientId", "hash", "size", "repositoryUniqueId"):
        sor = copy.deepcopy(base)
        e = sor.find(f".//{C.rim('ExtrinsicObject')}")
        for s in list(e.iterchildren(C.rim("Slot"))):
            if s.get("name") == slot:
                e.remove(s)
        with pytest.raises(XdsFailure) as exc:
            plan(sor)
        assert [err.code for err in exc.value.errors] == ["XDSRegistryMetadataError"]
        assert slot in exc.value.errors[0].context
    assert eo is not None


def test_patient_ids_are_kept_in_the_registry_form():
    """A namespace in the CX's assigning authority does not change which patient is meant: the
    registry keys the entry by ID^^^&OID&ISO so that queries find it."""
    p = plan(submit_objects_request(f"4711^^^MPI&{MPI}&ISO", [DocumentSpec(b"x")], for_register=True))
    assert p.documents[0].patient_id == PID and p.submission.submission_set.patient_id == PID


@pytest.mark.parametrize("kind", [C.ASSOC_XFRM, C.ASSOC_APND, C.ASSOC_RPLC, C.ASSOC_XFRM_RPLC])
def test_relationship_to_a_deprecated_target_is_refused(kind):
    """Issue 14 item 7: XFRM, like RPLC and APND, needs an Approved target."""
    old = _stored("urn:uuid:aaaaaaaa-0000-4000-8000-000000000009", status="Deprecated")
    sor = submit_objects_request(PID, [DocumentSpec(b"x", entry_id="New01")], for_register=True)
    rol = sor.find(C.rim("RegistryObjectList"))
    etree.SubElement(rol, C.rim("Association"), id="urn:uuid:aaaaaaaa-0000-4000-8000-0000000000a9",
                     associationType=kind, sourceObject="New01", targetObject=old.entry_uuid)
    with pytest.raises(XdsFailure) as exc:
        plan(sor, FakeRegistry([old]))
    assert codes(exc) == ["XDSRegistryError"]
