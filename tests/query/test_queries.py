"""Every stored query and parameter against the fixture registry, on SQLite and PostgreSQL.

Runs through ``registry_fixture.stored_query_body`` (the ITI-18 transaction without the pipeline): parse ->
use case (MPI check, SQL) -> response.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from lxml import etree

from gateway.config import Settings
from gateway.endpoints.registry_query import stored_query_ports, stored_query_transaction
from gateway.pipeline import Pipeline
from gateway.soap.envelope import SoapRequest
from gateway.store.registry_query import SqlQueryStore
from profiles.context import RequestContext
from profiles.xds import constants as C
from profiles.xds import stored_queries as S
from profiles.xds.errors import XDS_REGISTRY_ERROR, XDS_TOO_MANY_RESULTS, XDS_UNKNOWN_STORED_QUERY
from profiles.xds.query_ports import DocumentRow

from .conftest import A, CC, E1, E2, FC1, FC2, N, R
from .registry_fixture import (APPROVED, BOTH, DEPRECATED, HOME, MPI_OID, KnownPatients, code, pid, q, qlist,
                               query_xml, stored_query_body)

SETTINGS = Settings(mpi_oid=MPI_OID, home_community_id=HOME, max_query_results=100)
NS = {"rim": C.NS_RIM, "rs": C.NS_RS, "query": C.NS_QUERY}


class Answer:
    def __init__(self, el):
        self.el = el
        self.status = el.get("status")
        self.objects = el.find("rim:RegistryObjectList", NS)
        self.ids = [o.get("id") for o in self.objects] if self.objects is not None else []
        self.errors = [(e.get("errorCode"), e.get("codeContext")) for e in el.iterfind(".//rs:RegistryError", NS)]

    @property
    def ok(self) -> bool:
        return self.status == C.RESPONSE_SUCCESS

    def error_codes(self):
        return [e[0] for e in self.errors]


def ask(world, query_id, slots, return_type="ObjectRef", settings=SETTINGS, result_filter=None) -> Answer:
    el = stored_query_body(query_xml(query_id, slots, return_type), RequestContext(), settings=settings,
                           engine=world.engine, mpi=KnownPatients(), result_filter=result_filter)
    return Answer(el)


def ids(*objs) -> list[str]:
    return [o.entry_uuid for o in objs]


P1 = q(pid(1))


def find_docs(world, status=APPROVED, **extra):
    slots = [("$XDSDocumentEntryPatientId", P1), ("$XDSDocumentEntryStatus", status)]
    for k, v in extra.items():
        if isinstance(v, list):
            slots += [(k, x) for x in v]
        else:
            slots.append((k, v))
    a = ask(world, S.FIND_DOCUMENTS, slots)
    assert a.ok, a.errors
    return a.ids


def codes(*cs) -> str:
    return qlist([code(c) for c in cs])


# -- FindDocuments --------------------------------------------------------------------------------

def test_find_documents_status(world):
    d = world.d
    assert find_docs(world) == ids(d.d2, d.d4, d.d5, d.d6)
    assert find_docs(world, DEPRECATED) == ids(d.d1)
    assert find_docs(world, BOTH) == ids(d.d1, d.d2, d.d4, d.d5, d.d6)


def test_find_documents_entry_type(world):
    d = world.d
    assert find_docs(world, **{"$XDSDocumentEntryType": qlist([C.DOC_ENTRY_ON_DEMAND])}) == ids(d.d3)
    assert find_docs(world, **{"$XDSDocumentEntryType": qlist([C.DOC_ENTRY_STABLE, C.DOC_ENTRY_ON_DEMAND])}) == \
        ids(d.d2, d.d3, d.d4, d.d5, d.d6)


def test_find_documents_codes(world):
    d = world.d
    assert find_docs(world, **{"$XDSDocumentEntryClassCode": codes(A)}) == ids(d.d4, d.d6)
    assert find_docs(world, **{"$XDSDocumentEntryClassCode": codes(A, CC)}) == ids(d.d4, d.d5, d.d6)
    # the same code in another scheme does not match
    assert find_docs(world, **{"$XDSDocumentEntryClassCode": codes((A[0], "1.2.3.4"))}) == []
    assert find_docs(world, BOTH, **{"$XDSDocumentEntryTypeCode": codes(("T1", "2.16.840.1.113883.6.1"))}) == ids(d.d1)
    assert find_docs(world, BOTH, **{"$XDSDocumentEntryFormatCode": codes(("F2", "1.2.3"))}) == ids(d.d2)
    assert find_docs(world, BOTH, **{"$XDSDocumentEntryPracticeSettingCode": codes(
        ("PS1", "2.16.840.1.113883.6.96"), ("PS2", "2.16.840.1.113883.6.96"))}) == ids(d.d1, d.d2)
    assert find_docs(world, BOTH, **{"$XDSDocumentEntryHealthcareFacilityTypeCode": codes(
        ("H2", "2.16.840.1.113883.6.96"))}) == ids(d.d2)


def test_find_documents_and_or_codes(world):
    d = world.d
    ev = "$XDSDocumentEntryEventCodeList"
    assert find_docs(world, BOTH, **{ev: codes(E1)}) == ids(d.d1, d.d2)
    assert find_docs(world, BOTH, **{ev: codes(E2)}) == ids(d.d2)
    assert find_docs(world, BOTH, **{ev: [codes(E1), codes(E2)]}) == ids(d.d2)          # E1 AND E2
    assert find_docs(world, BOTH, **{ev: codes(E2, ("E9", "2.999.5"))}) == ids(d.d2)     # E2 OR E9
    conf = "$XDSDocumentEntryConfidentialityCode"
    assert find_docs(world, **{conf: codes(N)}) == ids(d.d4, d.d5, d.d6)
    assert find_docs(world, **{conf: codes(R)}) == ids(d.d2, d.d4)
    assert find_docs(world, **{conf: [codes(N), codes(R)]}) == ids(d.d4)                 # N AND R
    assert find_docs(world, **{conf: codes(N, R)}) == ids(d.d2, d.d4, d.d5, d.d6)        # N OR R


def test_find_documents_times(world):
    d = world.d
    ct = "$XDSDocumentEntryCreationTime"
    assert find_docs(world, **{ct + "From": "20240201", ct + "To": "20240202"}) == ids(d.d4)  # To exclusive
    assert find_docs(world, **{ct + "From": "20240201", ct + "To": "20240203"}) == ids(d.d4, d.d5)
    assert find_docs(world, BOTH, **{ct + "From": "2024", ct + "To": "202402"}) == ids(d.d1)
    assert find_docs(world, BOTH, **{ct + "From": "2024", ct + "To": "202403"}) == ids(d.d1, d.d4, d.d5)
    assert find_docs(world, BOTH, **{ct + "To": "2024"}) == ids(d.d2)
    assert find_docs(world, BOTH, **{ct + "From": "20240105103000"}) == ids(d.d1, d.d4, d.d5, d.d6)
    assert find_docs(world, BOTH, **{ct + "From": "20240105103001"}) == ids(d.d4, d.d5, d.d6)
    # entries without the attribute never match a range on it
    st = "$XDSDocumentEntryServiceStartTime"
    assert find_docs(world, BOTH, **{st + "From": "20240101", st + "To": "20240102"}) == ids(d.d1)
    assert find_docs(world, BOTH, **{st + "From": "20240102"}) == []
    sp = "$XDSDocumentEntryServiceStopTime"
    assert find_docs(world, BOTH, **{sp + "From": "2024010200", sp + "To": "2025"}) == ids(d.d1)
    assert find_docs(world, BOTH, **{sp + "To": "20240102"}) == []


def test_find_documents_author(world):
    d = world.d
    au = "$XDSDocumentEntryAuthorPerson"
    assert find_docs(world, BOTH, **{au: "'%Muster%'"}) == ids(d.d1, d.d2)
    assert find_docs(world, **{au: "'%Muster%'"}) == ids(d.d2)
    assert find_docs(world, BOTH, **{au: "'^Muster^Ma_^^^Dr.'"}) == ids(d.d1)
    assert find_docs(world, BOTH, **{au: "'%muster%'"}) == []                     # case-sensitive
    assert find_docs(world, BOTH, **{au: "('^Smith%', '%Max%')"}) == ids(d.d1, d.d2)
    assert find_docs(world, BOTH, **{au: "'^Smith'"}) == []                        # whole value


def test_find_documents_by_reference_id(world):
    d = world.d
    base = [("$XDSDocumentEntryPatientId", P1), ("$XDSDocumentEntryStatus", BOTH)]
    a = ask(world, S.FIND_DOCUMENTS_BY_REFERENCE_ID,
            base + [("$XDSDocumentEntryReferenceIdList", qlist(["R1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:accession"]))])
    assert a.ok and a.ids == ids(d.d1)
    a = ask(world, S.FIND_DOCUMENTS_BY_REFERENCE_ID, base + [
        ("$XDSDocumentEntryReferenceIdList", qlist(["R2", "R1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:accession"])),
        ("$XDSDocumentEntryClassCode", codes(("B1", "2.16.840.1.113883.6.96")))])
    assert a.ids == ids(d.d2)


def test_find_documents_other_patient_and_unknown(world):
    a = ask(world, S.FIND_DOCUMENTS, [("$XDSDocumentEntryPatientId", q(pid(2))), ("$XDSDocumentEntryStatus", APPROVED)])
    assert a.ids == ids(world.d.d7)
    # unknown to the MPI: empty Success
    a = ask(world, S.FIND_DOCUMENTS, [("$XDSDocumentEntryPatientId", q(f"X9^^^&{MPI_OID}&ISO")),
                                      ("$XDSDocumentEntryStatus", APPROVED)], "LeafClass")
    assert a.ok and a.ids == [] and a.errors == []
    # another assigning authority: not a patient of this community
    a = ask(world, S.FIND_DOCUMENTS, [("$XDSDocumentEntryPatientId", q("P1^^^&1.2.3.4&ISO")),
                                      ("$XDSDocumentEntryStatus", APPROVED)])
    assert a.ok and a.ids == []


# -- FindSubmissionSets / FindFolders -------------------------------------------------------------

def test_find_submission_sets(world):
    s = world.ss
    base = [("$XDSSubmissionSetPatientId", P1), ("$XDSSubmissionSetStatus", APPROVED)]
    assert ask(world, S.FIND_SUBMISSION_SETS, base).ids == ids(s.s1, s.s2, s.s3)
    assert ask(world, S.FIND_SUBMISSION_SETS, base + [("$XDSSubmissionSetSourceId", "('2.999.1.2')")]).ids == ids(s.s2)
    assert ask(world, S.FIND_SUBMISSION_SETS, base + [("$XDSSubmissionSetSubmissionTimeFrom", "20240201"),
                                                      ("$XDSSubmissionSetSubmissionTimeTo", "20240301080000")]
               ).ids == ids(s.s2)
    assert ask(world, S.FIND_SUBMISSION_SETS, base + [("$XDSSubmissionSetAuthorPerson", "'%Other%'")]).ids == ids(s.s2)
    assert ask(world, S.FIND_SUBMISSION_SETS, base + [("$XDSSubmissionSetContentType",
                                                       codes(("CT2", "2.16.840.1.113883.6.96")))]).ids == ids(s.s2)
    assert ask(world, S.FIND_SUBMISSION_SETS, [("$XDSSubmissionSetPatientId", P1),
                                               ("$XDSSubmissionSetStatus", DEPRECATED)]).ids == []


def test_find_folders(world):
    f = world.f
    base = [("$XDSFolderPatientId", P1), ("$XDSFolderStatus", APPROVED)]
    assert ask(world, S.FIND_FOLDERS, base).ids == ids(f.f1, f.f2)
    assert ask(world, S.FIND_FOLDERS, base + [("$XDSFolderCodeList", codes(FC2))]).ids == ids(f.f2)
    assert ask(world, S.FIND_FOLDERS, base + [("$XDSFolderCodeList", codes(FC1))]).ids == ids(f.f1, f.f2)
    assert ask(world, S.FIND_FOLDERS, base + [("$XDSFolderCodeList", codes(FC1)),
                                              ("$XDSFolderCodeList", codes(FC2))]).ids == ids(f.f2)
    # F1 was updated when d4 replaced d1 (the replacement joined the folder): lastUpdateTime moved
    assert ask(world, S.FIND_FOLDERS, base + [("$XDSFolderLastUpdateTimeFrom", "20240201080000")]).ids == ids(f.f1, f.f2)
    assert ask(world, S.FIND_FOLDERS, base + [("$XDSFolderLastUpdateTimeTo", "20240201080000")]).ids == []


# -- GetAll ---------------------------------------------------------------------------------------

def test_get_all(world):
    d, s, f = world.d, world.ss, world.f
    a = ask(world, S.GET_ALL, {"$patientId": P1, "$XDSDocumentEntryStatus": BOTH,
                               "$XDSSubmissionSetStatus": APPROVED, "$XDSFolderStatus": APPROVED}, "LeafClass")
    assert a.ok
    objs = {o.get("id"): o for o in a.objects}
    assert set(ids(s.s1, s.s2, s.s3, f.f1, f.f2, d.d1, d.d2, d.d4, d.d5, d.d6)) <= set(objs)
    assert d.d3.entry_uuid not in objs and d.d7.entry_uuid not in objs
    assoc_ids = {i for i, o in objs.items() if etree.QName(o).localname == "Association"}
    expected = {s.s1.association_ids[(C.ASSOC_HAS_MEMBER, s.s1.entry_uuid, d.d1.entry_uuid)],
                s.s2.association_ids[(C.ASSOC_RPLC, d.d4.entry_uuid, d.d1.entry_uuid)],
                s.s3.association_ids[(C.ASSOC_XFRM, d.d6.entry_uuid, d.d4.entry_uuid)]}
    assert expected <= assoc_ids
    # the HasMember to d3 (on-demand, filtered by the default $XDSDocumentEntryType) is not returned
    assert s.s1.association_ids[(C.ASSOC_HAS_MEMBER, s.s1.entry_uuid, d.d3.entry_uuid)] not in assoc_ids
    for o in a.objects:
        if etree.QName(o).localname == "Association":
            assert o.get("sourceObject") in objs and (o.get("targetObject") in objs)
    # Approved only
    a = ask(world, S.GET_ALL, {"$patientId": P1, "$XDSDocumentEntryStatus": APPROVED,
                               "$XDSSubmissionSetStatus": APPROVED, "$XDSFolderStatus": APPROVED,
                               "$XDSDocumentEntryConfidentialityCode": codes(R)})
    assert d.d1.entry_uuid not in a.ids and d.d2.entry_uuid in a.ids and d.d5.entry_uuid not in a.ids
    a = ask(world, S.GET_ALL, {"$patientId": P1, "$XDSDocumentEntryStatus": APPROVED,
                               "$XDSSubmissionSetStatus": APPROVED, "$XDSFolderStatus": APPROVED,
                               "$XDSDocumentEntryFormatCode": codes(("F2", "1.2.3"))})
    assert [i for i in a.ids if i in ids(*vars(d).values())] == ids(d.d2)


# -- Get* by id -----------------------------------------------------------------------------------

def test_get_documents(world):
    d = world.d
    a = ask(world, S.GET_DOCUMENTS, {"$XDSDocumentEntryEntryUUID": qlist(ids(d.d4, d.d1))}, "LeafClass")
    assert a.ids == ids(d.d1, d.d4)
    el = {o.get("id"): o for o in a.objects}
    assert el[d.d1.entry_uuid].get("status") == C.STATUS_DEPRECATED
    assert el[d.d4.entry_uuid].get("status") == C.STATUS_APPROVED
    assert all(o.get("home") == HOME for o in a.objects)
    assert el[d.d4.entry_uuid].get("lid") == d.d1.entry_uuid           # the replacement continues d1's lid
    assert ask(world, S.GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": qlist([d.d2.unique_id, d.d3.unique_id])}
               ).ids == ids(d.d2, d.d3)                                  # Get ignores status and type
    assert ask(world, S.GET_DOCUMENTS, {"$XDSDocumentEntryLogicalID": q(d.d1.entry_uuid)}).ids == ids(d.d1, d.d4)
    assert ask(world, S.GET_DOCUMENTS, {"$XDSDocumentEntryEntryUUID": q("urn:uuid:no-such")}).ids == []
    a = ask(world, S.GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": q(d.d2.unique_id), "$homeCommunityId": q(HOME)})
    assert a.ok and a.ids == ids(d.d2)


def test_leaf_class_is_metadata_as_registered(world):
    from sqlalchemy import select

    from gateway.store.registry_tables import documents
    d = world.d
    a = ask(world, S.GET_DOCUMENTS, {"$XDSDocumentEntryEntryUUID": q(d.d2.entry_uuid)}, "LeafClass")
    got = a.objects[0]
    with world.engine.connect() as conn:
        stored = etree.fromstring(conn.execute(select(documents.c.xml)
                                               .where(documents.c.entry_uuid == d.d2.entry_uuid)).scalar().encode())
    stored.set("home", HOME)
    assert etree.tostring(got, method="c14n", exclusive=True) == etree.tostring(stored, method="c14n", exclusive=True)
    assert got.tag == C.rim("ExtrinsicObject")
    # the registered metadata is there: the classifications, external identifiers and slots
    schemes = {c.get("classificationScheme") for c in got.findall(C.rim("Classification"))}
    assert {C.DE_CLASS_CODE, C.DE_CONFIDENTIALITY_CODE, C.DE_EVENT_CODE, C.DE_AUTHOR} <= schemes


def test_get_folders(world):
    f = world.f
    assert ask(world, S.GET_FOLDERS, {"$XDSFolderEntryUUID": qlist(ids(f.f2, f.f1))}).ids == ids(f.f1, f.f2)
    a = ask(world, S.GET_FOLDERS, {"$XDSFolderUniqueId": q(f.f2.unique_id)}, "LeafClass")
    assert a.ids == ids(f.f2)
    pkg = a.objects[0]
    assert pkg.tag == C.rim("RegistryPackage") and pkg.get("home") == HOME
    assert any(c.get("classificationNode") == C.FOLDER_NODE for c in pkg.findall(C.rim("Classification")))


def test_get_associations(world):
    d, s = world.d, world.ss
    a = ask(world, S.GET_ASSOCIATIONS, {"$uuid": qlist([d.d2.entry_uuid])}, "LeafClass")
    assert set(a.ids) == {s.s1.association_ids[(C.ASSOC_HAS_MEMBER, s.s1.entry_uuid, d.d2.entry_uuid)],
                          s.s2.association_ids[(C.ASSOC_APND, d.d5.entry_uuid, d.d2.entry_uuid)]}
    assert all(o.tag == C.rim("Association") and o.get("status") == C.STATUS_APPROVED for o in a.objects)


def test_get_documents_and_associations(world):
    d, s = world.d, world.ss
    a = ask(world, S.GET_DOCUMENTS_AND_ASSOCIATIONS, {"$XDSDocumentEntryUniqueId": q(d.d6.unique_id)})
    assert a.ids[:1] == ids(d.d6)
    assert set(a.ids[1:]) == {s.s3.association_ids[(C.ASSOC_HAS_MEMBER, s.s3.entry_uuid, d.d6.entry_uuid)],
                              s.s3.association_ids[(C.ASSOC_XFRM, d.d6.entry_uuid, d.d4.entry_uuid)]}
    assert ask(world, S.GET_DOCUMENTS_AND_ASSOCIATIONS, {"$XDSDocumentEntryEntryUUID": q("urn:uuid:none")}).ids == []


def test_get_submission_sets(world):
    d, s = world.d, world.ss
    a = ask(world, S.GET_SUBMISSION_SETS, {"$uuid": qlist(ids(d.d4, d.d2))})
    assert a.ids[:2] == ids(s.s1, s.s2) and set(a.ids[2:]) == {
        s.s1.association_ids[(C.ASSOC_HAS_MEMBER, s.s1.entry_uuid, d.d2.entry_uuid)],
        s.s2.association_ids[(C.ASSOC_HAS_MEMBER, s.s2.entry_uuid, d.d4.entry_uuid)]}
    # a folder's HasMember source is not a submission set
    assert ask(world, S.GET_SUBMISSION_SETS, {"$uuid": q(world.f.f2.entry_uuid)}).ids[:1] == ids(s.s2)


def test_get_submission_set_and_contents(world):
    d, s, f = world.d, world.ss, world.f
    a = ask(world, S.GET_SUBMISSION_SET_AND_CONTENTS, {"$XDSSubmissionSetEntryUUID": q(s.s1.entry_uuid)}, "LeafClass")
    hm = s.s1.association_ids
    fol_member = hm[(C.ASSOC_HAS_MEMBER, f.f1.entry_uuid, d.d1.entry_uuid)]
    assert a.ids[:4] == ids(s.s1, f.f1, d.d1, d.d2) and set(a.ids[4:]) == {
        hm[(C.ASSOC_HAS_MEMBER, s.s1.entry_uuid, d.d1.entry_uuid)],
        hm[(C.ASSOC_HAS_MEMBER, s.s1.entry_uuid, d.d2.entry_uuid)],
        hm[(C.ASSOC_HAS_MEMBER, s.s1.entry_uuid, f.f1.entry_uuid)],
        fol_member, hm[(C.ASSOC_HAS_MEMBER, s.s1.entry_uuid, fol_member)]}
    ss_el = a.objects[0]
    assert any(c.get("classificationNode") == C.SUBMISSION_SET_NODE for c in ss_el.findall(C.rim("Classification")))
    # content filter: only d2's format; d1 and the associations naming it are left out
    a = ask(world, S.GET_SUBMISSION_SET_AND_CONTENTS, {"$XDSSubmissionSetUniqueId": q(s.s1.unique_id),
                                                       "$XDSDocumentEntryFormatCode": codes(("F2", "1.2.3"))})
    assert a.ids[:3] == ids(s.s1, f.f1, d.d2) and set(a.ids[3:]) == {
        hm[(C.ASSOC_HAS_MEMBER, s.s1.entry_uuid, d.d2.entry_uuid)], hm[(C.ASSOC_HAS_MEMBER, s.s1.entry_uuid, f.f1.entry_uuid)]}
    a = ask(world, S.GET_SUBMISSION_SET_AND_CONTENTS, {"$XDSSubmissionSetUniqueId": q(s.s1.unique_id),
                                                       "$XDSDocumentEntryType": qlist([C.DOC_ENTRY_ON_DEMAND]),
                                                       "$XDSDocumentEntryConfidentialityCode": codes(N)})
    assert d.d3.entry_uuid in a.ids and d.d1.entry_uuid not in a.ids
    assert ask(world, S.GET_SUBMISSION_SET_AND_CONTENTS, {"$XDSSubmissionSetUniqueId": q("1.2.3.4.5")}).ids == []


def test_get_folder_and_contents(world):
    d, s, f = world.d, world.ss, world.f
    a = ask(world, S.GET_FOLDER_AND_CONTENTS, {"$XDSFolderEntryUUID": q(f.f1.entry_uuid)})
    assert a.ids[:3] == ids(f.f1, d.d1, d.d4)
    assert s.s1.association_ids[(C.ASSOC_HAS_MEMBER, f.f1.entry_uuid, d.d1.entry_uuid)] in a.ids
    assert len(a.ids) == 5                       # F1, d1, d4 and the two HasMember associations
    a = ask(world, S.GET_FOLDER_AND_CONTENTS, {"$XDSFolderUniqueId": q(f.f1.unique_id),
                                               "$XDSDocumentEntryConfidentialityCode": codes(R)})
    assert a.ids[:2] == ids(f.f1, d.d4) and len(a.ids) == 3


def test_get_folders_for_document(world):
    d, f = world.d, world.f
    assert ask(world, S.GET_FOLDERS_FOR_DOCUMENT, {"$XDSDocumentEntryEntryUUID": q(d.d1.entry_uuid)}).ids == ids(f.f1)
    assert ask(world, S.GET_FOLDERS_FOR_DOCUMENT, {"$XDSDocumentEntryUniqueId": q(d.d5.unique_id)}).ids == ids(f.f2)
    assert ask(world, S.GET_FOLDERS_FOR_DOCUMENT, {"$XDSDocumentEntryEntryUUID": q(d.d2.entry_uuid)}).ids == []


def test_get_related_documents(world):
    d, s = world.d, world.ss
    rplc = s.s2.association_ids[(C.ASSOC_RPLC, d.d4.entry_uuid, d.d1.entry_uuid)]
    xfrm = s.s3.association_ids[(C.ASSOC_XFRM, d.d6.entry_uuid, d.d4.entry_uuid)]
    apnd = s.s2.association_ids[(C.ASSOC_APND, d.d5.entry_uuid, d.d2.entry_uuid)]

    def related(doc_param, value, types, rt="ObjectRef"):
        return ask(world, S.GET_RELATED_DOCUMENTS, {doc_param: q(value), "$AssociationTypes": qlist(types)}, rt)

    uid = "$XDSDocumentEntryEntryUUID"
    assert related(uid, d.d4.entry_uuid, [C.ASSOC_RPLC]).ids == ids(d.d4, d.d1) + [rplc]
    assert related(uid, d.d4.entry_uuid, [C.ASSOC_XFRM]).ids == ids(d.d4, d.d6) + [xfrm]
    assert related(uid, d.d4.entry_uuid, [C.ASSOC_RPLC, C.ASSOC_XFRM, C.ASSOC_APND]).ids == \
        ids(d.d4, d.d1, d.d6) + [rplc, xfrm]
    a = related("$XDSDocumentEntryUniqueId", d.d1.unique_id, [C.ASSOC_RPLC], "LeafClass")
    assert a.ids == ids(d.d1, d.d4) + [rplc]
    assert a.objects[0].get("status") == C.STATUS_DEPRECATED
    assert related(uid, d.d2.entry_uuid, [C.ASSOC_APND]).ids == ids(d.d2, d.d5) + [apnd]
    # nothing related: nothing at all, not even the document
    assert related(uid, d.d2.entry_uuid, [C.ASSOC_RPLC]).ids == []
    assert related(uid, "urn:uuid:none", [C.ASSOC_RPLC]).ids == []


# -- errors, limits, authorization ----------------------------------------------------------------

def test_errors_are_failure_responses(world):
    a = ask(world, "urn:uuid:deadbeef-0000-0000-0000-000000000000", {})
    assert a.status == C.RESPONSE_FAILURE and a.error_codes() == [XDS_UNKNOWN_STORED_QUERY] and a.ids == []
    a = ask(world, S.FIND_DOCUMENTS, [("$XDSDocumentEntryPatientId", P1), ("$XDSDocumentEntryStatus", APPROVED),
                                      ("$XDSDocumentEntryCreationTimeFrom", "'2024-01-01'")])
    assert a.error_codes() == [XDS_REGISTRY_ERROR] and "$XDSDocumentEntryCreationTimeFrom" in a.errors[0][1]
    a = ask(world, S.FIND_DOCUMENTS, [("$XDSDocumentEntryPatientId", P1), ("$XDSDocumentEntryStatus", APPROVED),
                                      ("$MetadataLevel", "2")])
    assert a.error_codes() == [XDS_REGISTRY_ERROR]


def test_too_many_results(world):
    small = replace(SETTINGS, max_query_results=3)
    a = ask(world, S.FIND_DOCUMENTS, [("$XDSDocumentEntryPatientId", P1), ("$XDSDocumentEntryStatus", BOTH)],
            settings=small)
    assert a.status == C.RESPONSE_FAILURE and a.error_codes() == [XDS_TOO_MANY_RESULTS] and a.ids == []
    a = ask(world, S.FIND_DOCUMENTS, [("$XDSDocumentEntryPatientId", P1), ("$XDSDocumentEntryStatus", DEPRECATED)],
            settings=small)
    assert a.ok
    a = ask(world, S.GET_ALL, {"$patientId": P1, "$XDSDocumentEntryStatus": BOTH,
                               "$XDSSubmissionSetStatus": APPROVED, "$XDSFolderStatus": APPROVED},
            settings=replace(SETTINGS, max_query_results=10))
    assert a.error_codes() == [XDS_TOO_MANY_RESULTS]


class HideRestricted:
    """A ResultFilter hiding documents with confidentiality 'restricted' (R)."""

    def __init__(self):
        self.seen: list[str] = []

    def allowed_documents(self, ctx, documents: Sequence[DocumentRow]):
        self.seen += [d.entry_uuid for d in documents]
        return [d for d in documents if R not in d.confidentiality_codes]


def test_result_filter_is_applied_everywhere(world):
    d, s = world.d, world.ss
    flt = HideRestricted()
    a = ask(world, S.FIND_DOCUMENTS, [("$XDSDocumentEntryPatientId", P1), ("$XDSDocumentEntryStatus", APPROVED)],
            result_filter=flt)
    assert a.ids == ids(d.d5, d.d6) and set(ids(d.d2, d.d4)) <= set(flt.seen)
    assert ask(world, S.GET_DOCUMENTS, {"$XDSDocumentEntryEntryUUID": qlist(ids(d.d2, d.d5))},
               result_filter=flt).ids == ids(d.d5)
    # associations pointing at a hidden document are not returned either
    a = ask(world, S.GET_ASSOCIATIONS, {"$uuid": q(d.d5.entry_uuid)}, result_filter=flt)
    assert s.s2.association_ids[(C.ASSOC_APND, d.d5.entry_uuid, d.d2.entry_uuid)] not in a.ids
    assert ask(world, S.GET_RELATED_DOCUMENTS, {"$XDSDocumentEntryEntryUUID": q(d.d5.entry_uuid),
                                                "$AssociationTypes": qlist([C.ASSOC_APND])},
               result_filter=flt).ids == []
    a = ask(world, S.GET_SUBMISSION_SET_AND_CONTENTS, {"$XDSSubmissionSetEntryUUID": q(s.s2.entry_uuid)},
            result_filter=flt)
    assert d.d4.entry_uuid not in a.ids and d.d5.entry_uuid in a.ids
    assert s.s2.association_ids[(C.ASSOC_RPLC, d.d4.entry_uuid, d.d1.entry_uuid)] not in a.ids
    assert ask(world, S.GET_SUBMISSION_SETS, {"$uuid": q(d.d4.entry_uuid)}, result_filter=flt).ids == []
    # XDSTooManyResults counts what the caller may see
    small = replace(SETTINGS, max_query_results=2)
    a = ask(world, S.FIND_DOCUMENTS, [("$XDSDocumentEntryPatientId", P1), ("$XDSDocumentEntryStatus", APPROVED)],
            settings=small, result_filter=flt)
    assert a.ok and a.ids == ids(d.d5, d.d6)


def test_soap_handler(world):
    body = query_xml(S.FIND_DOCUMENTS, [("$XDSDocumentEntryPatientId", P1), ("$XDSDocumentEntryStatus", APPROVED)])
    env = etree.Element("{http://www.w3.org/2003/05/soap-envelope}Envelope")
    req = SoapRequest(envelope=env, header=None, body=body, action=C.ACTION_ITI18)
    ports = stored_query_ports(SETTINGS, SqlQueryStore(world.engine, KnownPatients()))
    result = Pipeline().run(stored_query_transaction(SETTINGS, ports), req, RequestContext())
    assert result.fault is None
    reply = result.reply
    assert reply.action == C.ACTION_ITI18_RESPONSE
    # a LeafClass answer leaves the handler as text built from the stored metadata, spliced as is
    from gateway.soap.envelope import RawXml
    assert isinstance(reply.body, RawXml)
    body = etree.fromstring(reply.body.data)
    assert Answer(body).ids == ids(world.d.d2, world.d.d4, world.d.d5, world.d.d6)


# -- issue 14 item 8: LeafClass answers carry one patient's metadata (NIST test 12368) -------------

def test_get_documents_leaf_class_of_several_patients_is_refused(world):
    d = world.d
    two = {"$XDSDocumentEntryEntryUUID": qlist([d.d2.entry_uuid, d.d7.entry_uuid])}
    a = ask(world, S.GET_DOCUMENTS, two, return_type="LeafClass")
    assert a.status == C.RESPONSE_FAILURE and a.error_codes() == ["XDSResultNotSinglePatient"] and a.ids == []
    assert ask(world, S.GET_DOCUMENTS, two).ids == ids(d.d2, d.d7)          # ObjectRef: no restriction
    one = ask(world, S.GET_DOCUMENTS, {"$XDSDocumentEntryEntryUUID": qlist([d.d2.entry_uuid, d.d4.entry_uuid])},
              return_type="LeafClass")
    assert one.ok and one.ids == ids(d.d2, d.d4)


def test_get_submission_sets_leaf_class_of_several_patients_is_refused(world):
    d, s = world.d, world.ss
    two = {"$uuid": qlist([d.d2.entry_uuid, d.d7.entry_uuid])}
    a = ask(world, S.GET_SUBMISSION_SETS, two, return_type="LeafClass")
    assert a.status == C.RESPONSE_FAILURE and a.error_codes() == ["XDSResultNotSinglePatient"] and a.ids == []
    refs = ask(world, S.GET_SUBMISSION_SETS, two)
    assert refs.ok and {s.s1.entry_uuid, s.s4.entry_uuid} <= set(refs.ids)
    assert ask(world, S.GET_SUBMISSION_SETS, {"$uuid": q(d.d7.entry_uuid)}, return_type="LeafClass").ok


# -- issue 14 item 2: values per stored-query parameter are limited -------------------------------

def test_values_per_parameter_are_limited(world):
    small = replace(SETTINGS, max_query_parameter_values=3)
    uuids = [world.d.d2.entry_uuid, world.d.d4.entry_uuid, world.d.d5.entry_uuid, world.d.d6.entry_uuid]
    assert ask(world, S.GET_DOCUMENTS, {"$XDSDocumentEntryEntryUUID": qlist(uuids[:3])}, settings=small).ok
    for slots in ([("$XDSDocumentEntryEntryUUID", qlist(uuids))],
                  # split over several Value elements of one Slot
                  [("$XDSDocumentEntryEntryUUID", [qlist(uuids[:2]), qlist(uuids[2:])])]):
        a = ask(world, S.GET_DOCUMENTS, slots, settings=small)
        assert a.status == C.RESPONSE_FAILURE and a.error_codes() == [XDS_REGISTRY_ERROR]
        assert "max_query_parameter_values" in a.errors[0][1] and "$XDSDocumentEntryEntryUUID" in a.errors[0][1]
    # AND-ed Slots of one parameter count together
    events = [("$XDSDocumentEntryEventCodeList", codes(E1, E2)), ("$XDSDocumentEntryEventCodeList", codes(E1, E2))]
    a = ask(world, S.FIND_DOCUMENTS, [("$XDSDocumentEntryPatientId", P1), ("$XDSDocumentEntryStatus", APPROVED),
                                      *events], settings=small)
    assert a.error_codes() == [XDS_REGISTRY_ERROR] and "max_query_parameter_values" in a.errors[0][1]
    assert SETTINGS.max_query_parameter_values == 1000            # the default keeps real queries working
