"""Swiss rules beyond membership: identifiers, GLN, title, folders, cardinalities, all errors at once."""
from __future__ import annotations

import pytest
from lxml import etree

from profiles.ch.annex3 import check_submission, validate_submission
from profiles.xds import constants as C
from profiles.xds.ebrim import set_slot
from profiles.xds.errors import XDS_REGISTRY_METADATA_ERROR, XDS_UNKNOWN_PATIENT_ID

from . import builder as B

R = C.rim
SPID = B.make_spid()
NAVS = B.make_navs()
SPID_CX = f"{SPID}^^^&2.16.756.5.30.1.127.3.10.3&ISO"
NAVS_CX = f"{NAVS}^^^&2.16.756.5.32&ISO"
NAVS_SHAPED_LOCAL = f"{NAVS}^^^&{B.LOCAL_OID}&ISO"        # an AHV number under a local assigning authority


def _findings(sor, vs, **kw):
    return check_submission(B.parse(sor), vs, **kw)


def _one(sor, vs, attribute, **kw):
    findings = _findings(sor, vs, **kw)
    assert [f.attribute for f in findings] == [attribute], [f.context for f in findings]
    return findings[0]


# ------------------------------------------------------------------ patient identifiers

@pytest.mark.parametrize("value,needle", [(SPID_CX, "EPR-SPID"), (NAVS_CX, "AHV"), (NAVS_SHAPED_LOCAL, "AHV")])
def test_patient_id_refuses_epr_spid_and_navs13(vs, value, needle):
    sor = B.build_sor(1)
    B.set_external_id(B.documents(sor)[0], C.DE_PATIENT_ID, value)
    f = _one(sor, vs, "patientId")
    assert needle in f.message and f.value == value


def test_submission_set_patient_id_refuses_epr_spid(vs):
    sor = B.build_sor(1)
    ss = B.submission_set(sor)
    B.set_external_id(ss, C.SS_PATIENT_ID, SPID_CX)
    f = _one(sor, vs, "patientId")
    assert f.object_kind == "SubmissionSet" and f.object_id == ss.get("id")


@pytest.mark.parametrize("value,needle", [(SPID_CX, "EPR-SPID"), (NAVS_CX, "AHV"), (NAVS_SHAPED_LOCAL, "AHV"),
                                          (f"{SPID}^^^&{B.LOCAL_OID}&ISO", "EPR-SPID")])
def test_source_patient_id_refuses_epr_spid_and_navs13(vs, value, needle):
    sor = B.build_sor(1)
    set_slot(B.documents(sor)[0], "sourcePatientId", [value])
    assert needle in _one(sor, vs, "sourcePatientId").message


@pytest.mark.parametrize("field,value", [
    ("PID-3", SPID_CX), ("PID-3", NAVS_CX), ("PID-3", f"L-1^^^&{B.LOCAL_OID}&ISO~{SPID_CX}"),
    ("PID-2", NAVS_SHAPED_LOCAL), ("PID-4", SPID_CX), ("PID-19", NAVS), ("PID-19", "756.1234.5678.97"),
])
def test_source_patient_info_refuses_epr_spid_and_navs13(vs, field, value):
    sor = B.build_sor(1)
    set_slot(B.documents(sor)[0], "sourcePatientInfo", [f"PID-3|L-4711^^^&{B.LOCAL_OID}&ISO",
                                                         "PID-5|Muster^Franz", f"{field}|{value}"])
    _one(sor, vs, f"sourcePatientInfo.{field}")


def test_reference_id_list_refuses_epr_spid(vs):
    sor = B.build_sor(1)
    set_slot(B.documents(sor)[0], "urn:ihe:iti:xds:2013:referenceIdList", [SPID_CX + "^urn:ihe:iti:xds:2013:uniqueId"])
    _one(sor, vs, "referenceIdList")


def test_epr_spid_in_any_other_slot_is_refused(vs):
    sor = B.build_sor(1)
    set_slot(B.documents(sor)[0], "urn:example:custom", [SPID_CX])
    _one(sor, vs, "urn:example:custom")


def test_local_ids_pass(vs):
    sor = B.build_sor(1)
    set_slot(B.documents(sor)[0], "sourcePatientId", [f"7561234^^^&{B.LOCAL_OID}&ISO"])   # 756 prefix, not 13 digits
    assert _findings(sor, vs) == []


def test_patient_id_must_be_the_mpi_pid_when_the_mpi_domain_is_known(vs):
    sor = B.build_sor(1)
    B.set_external_id(B.documents(sor)[0], C.DE_PATIENT_ID, f"L-4711^^^&{B.LOCAL_OID}&ISO")
    assert _findings(sor, vs) == []                     # no MPI domain given: not checked
    [f] = _findings(sor, vs, mpi_oid=B.MPI_OID)
    assert f.attribute == "patientId" and f.code == XDS_UNKNOWN_PATIENT_ID
    assert B.MPI_OID in f.expected


# ------------------------------------------------------------------ GLN

def test_gln_helper_values_are_what_they_claim():
    from profiles.ch.identifiers import is_gln
    assert is_gln(B.VALID_GLN) and not is_gln(B.BAD_GLN)


@pytest.mark.parametrize("target,attribute", [
    ("author", "author.authorPerson"), ("legal", "legalAuthenticator"),
    ("institution", "author.authorInstitution"), ("recipient", "intendedRecipient"),
    ("ss_author", "author.authorPerson"),
])
def test_gln_check_digit(vs, target, attribute):
    sor = B.build_sor(1)
    doc = B.documents(sor)[0]
    xcn = f"{B.BAD_GLN}^Mustermann^Max^^^Dr.^^^&{B.GLN_OID}&ISO"
    xon = f"Spital Muster^^^^^&{B.GLN_OID}&ISO^^^^{B.BAD_GLN}"
    if target == "author":
        B.set_author(doc, C.DE_AUTHOR, "authorPerson", [xcn])
    elif target == "legal":
        set_slot(doc, "legalAuthenticator", [xcn])
    elif target == "institution":
        B.set_author(doc, C.DE_AUTHOR, "authorInstitution", [xon])
    elif target == "recipient":
        set_slot(B.submission_set(sor), "intendedRecipient", [xon])
    else:
        B.set_author(B.submission_set(sor), C.SS_AUTHOR, "authorPerson", [xcn])
    f = _one(sor, vs, attribute)
    assert "GLN" in f.message and B.BAD_GLN in f.message


def test_person_ids_under_other_authorities_are_not_gln_checked(vs):
    sor = B.build_sor(1)
    B.set_author(B.documents(sor)[0], C.DE_AUTHOR, "authorPerson", [f"123^Muster^Max^^^^^^&{B.LOCAL_OID}&ISO"])
    assert _findings(sor, vs) == []


def test_epr_spid_as_author_id_is_refused(vs):
    sor = B.build_sor(1)
    B.set_author(B.documents(sor)[0], C.DE_AUTHOR, "authorPerson",
                 [f"{SPID}^Muster^Franz^^^^^^&2.16.756.5.30.1.127.3.10.3&ISO"])
    assert "EPR-SPID" in _one(sor, vs, "author.authorPerson").message


# ------------------------------------------------------------------ title, cardinalities, slots

@pytest.mark.parametrize("title", [None, "", "   "])
def test_title_is_required(vs, title):
    sor = B.build_sor(1)
    B.set_title(B.documents(sor)[0], title)
    _one(sor, vs, "title")


@pytest.mark.parametrize("n", [0, 2])
def test_exactly_one_confidentiality_code(vs, n):
    sor = B.build_sor(1)
    doc = B.documents(sor)[0]
    B.remove_codes(doc, C.DE_CONFIDENTIALITY_CODE)
    for code in ("17621005", "263856008")[:n]:
        B.add_code(doc, C.DE_CONFIDENTIALITY_CODE, code, B.SNOMED)
    f = _one(sor, vs, "confidentialityCode")
    assert "exactly one" in f.message and "2.16.756.5.30.1.127.3.10.1.5" in f.expected


def test_hl7v2_confidentiality_code_is_refused(vs):
    sor = B.build_sor(1)
    B.set_code(B.documents(sor)[0], C.DE_CONFIDENTIALITY_CODE, "N", "2.16.840.1.113883.5.25")
    _one(sor, vs, "confidentialityCode")


@pytest.mark.parametrize("slot,values", [
    (C.SLOT_ORIGINAL_PROVIDER_ROLE, ["HCP^^^&2.16.756.5.30.1.127.3.10.6&ISO", "PAT^^^&2.16.756.5.30.1.127.3.10.6&ISO"]),
    (C.SLOT_DELETION_STATUS, ["urn:e-health-suisse:2019:deletionStatus:deletionRequested",
                              "urn:e-health-suisse:2019:deletionStatus:deletionProhibited"]),
])
def test_swiss_slots_take_a_single_value(vs, slot, values):
    sor = B.build_sor(1)
    set_slot(B.documents(sor)[0], slot, values)
    assert "single value" in _one(sor, vs, slot).message


@pytest.mark.parametrize("value", ["HCP", "Healthcare professional", "HCP^^^2.16.756.5.30.1.127.3.10.6"])
def test_coded_slots_need_the_cx_like_form(vs, value):
    sor = B.build_sor(1)
    B.set_author(B.documents(sor)[0], C.DE_AUTHOR, "authorRole", [value])
    assert "CODE^^^&OID&ISO" in _one(sor, vs, "author.authorRole").message


@pytest.mark.parametrize("value,ok", [("M", True), ("F", True), ("O", True), ("U", True), ("male", True),
                                      ("A", False), ("X", False), ("m", False), ("Male", False)])
def test_pid8_accepts_annex_codes_and_their_v2_equivalents_only(vs, value, ok):
    sor = B.build_sor(1)
    set_slot(B.documents(sor)[0], "sourcePatientInfo", [f"PID-3|L-4711^^^&{B.LOCAL_OID}&ISO", f"PID-8|{value}"])
    if ok:
        assert _findings(sor, vs) == []
    else:
        _one(sor, vs, "sourcePatientInfo.PID-8")


# ------------------------------------------------------------------ folders

def _add_folder(sor, *, doc_member=True):
    rol = sor.find(R("RegistryObjectList"))
    fid = B.new_id()
    pkg = etree.SubElement(rol, R("RegistryPackage"), id=fid)
    # a complete IHE folder (title, codeList), so only the Swiss rule can refuse it
    etree.SubElement(etree.SubElement(pkg, R("Name")), R("LocalizedString"), value="Episode")
    code = etree.SubElement(pkg, R("Classification"), classificationScheme=C.FOL_CODE_LIST, classifiedObject=fid,
                            nodeRepresentation="371531000", id=B.new_id())
    slot = etree.SubElement(code, R("Slot"), name="codingScheme")
    etree.SubElement(etree.SubElement(slot, R("ValueList")), R("Value")).text = "2.16.840.1.113883.6.96"
    etree.SubElement(pkg, R("ExternalIdentifier"), registryObject=fid, identificationScheme=C.FOL_PATIENT_ID,
                     value=f"CHPAM3946^^^&{B.MPI_OID}&ISO", id=B.new_id())
    etree.SubElement(pkg, R("ExternalIdentifier"), registryObject=fid, identificationScheme=C.FOL_UNIQUE_ID,
                     value="2.25.12345", id=B.new_id())
    etree.SubElement(rol, R("Classification"), classifiedObject=fid, classificationNode=C.FOLDER_NODE, id=B.new_id())
    ss_id = B.submission_set(sor).get("id")
    ids = [B.new_id()]
    etree.SubElement(rol, R("Association"), associationType=C.ASSOC_HAS_MEMBER, sourceObject=ss_id,
                     targetObject=fid, id=ids[0])
    if doc_member:
        ids.append(B.new_id())
        etree.SubElement(rol, R("Association"), associationType=C.ASSOC_HAS_MEMBER, sourceObject=fid,
                         targetObject=B.documents(sor)[0].get("id"), id=ids[1])
    return fid, ids


def test_folders_are_refused_by_default(vs):
    sor = B.build_sor(1)
    fid, assoc_ids = _add_folder(sor)
    findings = _findings(sor, vs)
    assert sorted((f.object_kind, f.object_id) for f in findings) == sorted(
        [("Folder", fid)] + [("Association", a) for a in assoc_ids])
    assert all("Folder" in f.message for f in findings)


def test_folders_are_allowed_behind_allow_folders(vs):
    sor = B.build_sor(1)
    _add_folder(sor)
    assert _findings(sor, vs, allow_folders=True) == []


def test_adding_a_document_to_an_existing_folder_is_refused(vs):
    sor = B.build_sor(1)
    rol = sor.find(R("RegistryObjectList"))
    aid = B.new_id()
    etree.SubElement(rol, R("Association"), associationType=C.ASSOC_HAS_MEMBER, sourceObject=B.new_id(),
                     targetObject=B.documents(sor)[0].get("id"), id=aid)
    [f] = _findings(sor, vs)
    assert f.object_id == aid
    assert _findings(sor, vs, allow_folders=True) == []


# ------------------------------------------------------------------ all errors together

def test_all_errors_of_a_submission_are_reported_together(vs):
    sor = B.build_sor(2)
    d1, d2 = B.documents(sor)
    ss = B.submission_set(sor)
    B.set_code(d1, C.DE_CLASS_CODE, "11111111", B.SNOMED)
    d1.set("mimeType", "application/msword")
    B.set_title(d1, None)
    B.set_external_id(d1, C.DE_PATIENT_ID, SPID_CX)
    B.set_code(d2, C.DE_FORMAT_CODE, "urn:ihe:rad:PDF", "2.16.756.5.30.1.127.3.10.10")   # wrong scheme
    B.set_author(d2, C.DE_AUTHOR, "authorRole", ["DADM^^^&2.16.756.5.30.1.127.3.10.6&ISO"])
    B.set_code(ss, C.SS_CONTENT_TYPE_CODE, "71388002", "2.16.840.1.113883.6.1")
    sub = B.parse(sor)
    errors = validate_submission(sub, vs)
    got = {(e.location, a) for e in errors for a in
           ["classCode", "mimeType", "title", "patientId", "formatCode", "author.authorRole", "contentTypeCode"]
           if f": {a} " in e.context}
    assert got == {(d1.get("id"), "classCode"), (d1.get("id"), "mimeType"), (d1.get("id"), "title"),
                   (d1.get("id"), "patientId"), (d2.get("id"), "formatCode"), (d2.get("id"), "author.authorRole"),
                   (ss.get("id"), "contentTypeCode")}
    assert len(errors) == 7
    assert all(e.code == XDS_REGISTRY_METADATA_ERROR for e in errors)
