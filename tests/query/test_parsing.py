"""AdhocQueryRequest parsing and parameter validation (no database)."""
from __future__ import annotations

from pathlib import Path
import pytest
from lxml import etree

from profiles.xds import constants as C
from profiles.xds import stored_queries as S
from profiles.xds.errors import (XDS_REGISTRY_ERROR, XDS_STORED_QUERY_PARAM_NUMBER, XDS_UNKNOWN_STORED_QUERY,
                                 XdsFailure)

from .registry_fixture import APPROVED, BOTH, MPI_OID, pid, q, qlist, query_xml

PID = q(pid(1))
SAMPLE = str(Path(__file__).resolve().parents[1] / "vectors" / "epr-by-example" / "samples" / "ITI-18_request_raw.xml")


def parse(query_id, slots, return_type="LeafClass") -> S.QueryRequest:
    return S.parse_query_request(query_xml(query_id, slots, return_type))


def errors(query_id, slots, return_type="LeafClass"):
    with pytest.raises(XdsFailure) as exc:
        parse(query_id, slots, return_type)
    return exc.value.errors


def find(**extra):
    slots = [("$XDSDocumentEntryPatientId", PID), ("$XDSDocumentEntryStatus", APPROVED)]
    slots += [(k, v) for k, v in extra.items()]
    return slots


# -- value syntax -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, values", [
    ("'a'", ["a"]),
    ("('a')", ["a"]),
    ("('a', 'b','c' )", ["a", "b", "c"]),
    ("'it''s'", ["it's"]),
    ("('x,y', 'z')", ["x,y", "z"]),
    ("200412252300", ["200412252300"]),
    ("(1, 2)", ["1", "2"]),
    ("  ", []),
])
def test_split_values(text, values):
    assert S.split_values(text) == values


@pytest.mark.parametrize("text", ["('a'", "'abc", "('a' 'b')", "('a',)", "'a' junk"])
def test_split_values_malformed(text):
    with pytest.raises(ValueError):
        S.split_values(text)


def test_parse_code():
    assert S.parse_code("X^^1.2.3") == ("X", "1.2.3")
    assert S.parse_code("X") is None
    assert S.parse_code("X^^") is None
    assert S.parse_code("^^1.2") is None


@pytest.mark.parametrize("pattern, value, ok", [
    ("%Muster%", "^Muster^Max^^^", True),
    ("%muster%", "^Muster^Max^^^", False),          # case-sensitive
    ("^Muster^Ma_^^^", "^Muster^Max^^^", True),
    ("^Muster^M_^^^", "^Muster^Max^^^", False),
    ("^Muster^Max^^^", "^Muster^Max^^^", True),
    ("Muster", "^Muster^Max^^^", False),             # whole value
    ("%.%", "a.b", True), ("%.%", "ab", False),      # regex characters are literal
])
def test_author_pattern(pattern, value, ok):
    assert S.author_pattern_matches(pattern, value) is ok


# -- the sample and the typed queries -----------------------------------------------------------

def test_epr_by_example_request():
    root = etree.parse(SAMPLE).getroot()
    body = root.find(f".//{{{C.NS_QUERY}}}AdhocQueryRequest")
    req = S.parse_query_request(body)
    assert req.name == "FindDocuments" and req.return_type == "ObjectRef"
    assert req.query.patient.id == "7e1c6e78-58f1-4a43-ae88-0d5a5c4ab43e"
    assert req.query.criteria.statuses == {"Approved"}
    assert req.query.criteria.object_types == {C.DOC_ENTRY_STABLE}


def test_all_fourteen_ids_known():
    assert len(S.CATALOGUE) == 14 == len(S.QUERY_NAMES)
    assert S.QUERY_IDS["FindDocumentsByReferenceId"] == "urn:uuid:12941a89-e02e-4be5-967c-ce4bfc8fe492"


def test_find_documents_every_parameter():
    req = parse(S.FIND_DOCUMENTS, find(**{
        "$XDSDocumentEntryClassCode": ["('A^^1.1','B^^1.1')", "('C^^1.2')"],
        "$XDSDocumentEntryTypeCode": "('T^^1.3')",
        "$XDSDocumentEntryPracticeSettingCode": "('P^^1.4')",
        "$XDSDocumentEntryHealthcareFacilityTypeCode": "('H^^1.5')",
        "$XDSDocumentEntryFormatCode": "('F^^1.6')",
        "$XDSDocumentEntryCreationTimeFrom": "2004",
        "$XDSDocumentEntryCreationTimeTo": "200501",
        "$XDSDocumentEntryServiceStartTimeFrom": "20040101",
        "$XDSDocumentEntryServiceStartTimeTo": "2004010112",
        "$XDSDocumentEntryServiceStopTimeFrom": "200401011230",
        "$XDSDocumentEntryServiceStopTimeTo": "'20040101123045'",
        "$XDSDocumentEntryAuthorPerson": "('%Muster%', 'Dr_')",
        "$XDSDocumentEntryType": qlist([C.DOC_ENTRY_STABLE, C.DOC_ENTRY_ON_DEMAND]),
        "$MetadataLevel": "1",
    }) + [("$XDSDocumentEntryEventCodeList", "('E1^^2.1','E2^^2.1')"),
          ("$XDSDocumentEntryEventCodeList", "('E3^^2.1')"),
          ("$XDSDocumentEntryConfidentialityCode", "('N^^3.1')")])
    c = req.query.criteria
    assert c.class_codes == {("A", "1.1"), ("B", "1.1"), ("C", "1.2")}   # Values of one slot: OR
    assert c.event_codes == (frozenset({("E1", "2.1"), ("E2", "2.1")}), frozenset({("E3", "2.1")}))
    assert c.confidentiality_codes == (frozenset({("N", "3.1")}),)
    assert c.creation_time == S.TimeRange("20040101000000", "20050101000000")
    assert c.service_start_time == S.TimeRange("20040101000000", "20040101120000")
    assert c.service_stop_time == S.TimeRange("20040101123000", "20040101123045")
    assert c.author_persons == ("%Muster%", "Dr_")
    assert c.object_types == S.ALL_ENTRY_TYPES
    assert c.patient_id == f"P1^^^&{MPI_OID}&ISO"


def test_find_documents_by_reference_id():
    req = parse(S.FIND_DOCUMENTS_BY_REFERENCE_ID, find(**{"$XDSDocumentEntryReferenceIdList": "('R1','R2')"}))
    assert isinstance(req.query, S.FindDocumentsByReferenceId)
    assert req.query.criteria.reference_ids == {"R1", "R2"}
    codes = {e.code for e in errors(S.FIND_DOCUMENTS_BY_REFERENCE_ID, find())}
    assert codes == {XDS_STORED_QUERY_PARAM_NUMBER}


def test_get_queries_typed():
    r = parse(S.GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": "('1.2.3', '1.2.4')", "$homeCommunityId": "'urn:oid:1.2'"})
    assert r.query.selector == S.Selector("unique_id", ("1.2.3", "1.2.4"))
    r = parse(S.GET_RELATED_DOCUMENTS, {"$XDSDocumentEntryEntryUUID": "'urn:uuid:x'",
                                        "$AssociationTypes": qlist([C.ASSOC_RPLC, C.ASSOC_APND])})
    assert r.query.association_types == {C.ASSOC_RPLC, C.ASSOC_APND}
    r = parse(S.GET_SUBMISSION_SET_AND_CONTENTS, {"$XDSSubmissionSetUniqueId": "'1.2'",
                                                  "$XDSDocumentEntryFormatCode": "('F^^1')"})
    assert r.query.content.format_codes == {("F", "1")}
    r = parse(S.GET_ALL, {"$patientId": PID, "$XDSDocumentEntryStatus": BOTH,
                          "$XDSSubmissionSetStatus": APPROVED, "$XDSFolderStatus": APPROVED})
    assert r.query.document_statuses == {"Approved", "Deprecated"}


# -- errors ---------------------------------------------------------------------------------------

def codes_of(errs):
    return [e.code for e in errs]


def test_unknown_query():
    assert codes_of(errors("urn:uuid:00000000-0000-0000-0000-000000000000", {})) == [XDS_UNKNOWN_STORED_QUERY]


@pytest.mark.parametrize("query_id, slots", [
    (S.FIND_DOCUMENTS, [("$XDSDocumentEntryStatus", APPROVED)]),                     # patient missing
    (S.FIND_DOCUMENTS, [("$XDSDocumentEntryPatientId", PID)]),                        # status missing
    (S.FIND_DOCUMENTS, find() + [("$XDSDocumentEntryPatientId", PID)]),               # patient twice
    (S.FIND_DOCUMENTS, [("$XDSDocumentEntryPatientId", f"({PID}, {q(pid(2))})"),
                        ("$XDSDocumentEntryStatus", APPROVED)]),                       # two patients
    (S.FIND_DOCUMENTS, find(**{"$XDSDocumentEntryCreationTimeFrom": "(2004, 2005)"})),
    (S.FIND_DOCUMENTS, find() + [("$XDSDocumentEntryClassCode", "('A^^1')"),
                                 ("$XDSDocumentEntryClassCode", "('B^^1')")]),         # no AND semantics
    (S.FIND_SUBMISSION_SETS, [("$XDSSubmissionSetPatientId", PID), ("$XDSSubmissionSetStatus", APPROVED),
                              ("$XDSSubmissionSetAuthorPerson", "('a', 'b')")]),
    (S.GET_DOCUMENTS, {}),                                                              # neither variant
    (S.GET_DOCUMENTS, {"$XDSDocumentEntryEntryUUID": "'urn:uuid:a'", "$XDSDocumentEntryUniqueId": "'1.2'"}),
    (S.GET_FOLDERS, {"$XDSFolderEntryUUID": "'urn:uuid:a'", "$XDSFolderUniqueId": "'1.2'"}),
    (S.GET_SUBMISSION_SET_AND_CONTENTS, {"$XDSSubmissionSetEntryUUID": "('urn:uuid:a', 'urn:uuid:b')"}),
    (S.GET_RELATED_DOCUMENTS, {"$XDSDocumentEntryEntryUUID": "'urn:uuid:a'"}),          # $AssociationTypes
    (S.GET_ASSOCIATIONS, {}),
    (S.GET_SUBMISSION_SETS, {}),
    (S.GET_ALL, {"$patientId": PID, "$XDSDocumentEntryStatus": APPROVED, "$XDSFolderStatus": APPROVED}),
    (S.FIND_FOLDERS, [("$XDSFolderPatientId", PID)]),
    (S.GET_FOLDER_AND_CONTENTS, {"$XDSFolderEntryUUID": "'urn:uuid:a'", "$XDSFolderUniqueId": "'1.2'"}),
    (S.GET_FOLDERS_FOR_DOCUMENT, {}),
])
def test_param_number(query_id, slots):
    assert set(codes_of(errors(query_id, slots))) == {XDS_STORED_QUERY_PARAM_NUMBER}


@pytest.mark.parametrize("name, value", [
    ("$XDSDocumentEntryCreationTimeFrom", "2004-01-01"),
    ("$XDSDocumentEntryCreationTimeTo", "20041301"),
    ("$XDSDocumentEntryServiceStartTimeFrom", "'yesterday'"),
    ("$XDSDocumentEntryServiceStopTimeTo", "200401011"),
    ("$XDSDocumentEntryClassCode", "('A')"),
    ("$XDSDocumentEntryEventCodeList", "('E^^')"),
    ("$XDSDocumentEntryConfidentialityCode", "('N')"),
    ("$XDSDocumentEntryType", "('urn:uuid:nope')"),
    ("$MetadataLevel", "2"),
])
def test_registry_error_names_parameter(name, value):
    errs = errors(S.FIND_DOCUMENTS, find(**{name: value}))
    assert codes_of(errs) == [XDS_REGISTRY_ERROR]
    assert name in errs[0].context


def test_malformed_status_and_patient():
    errs = errors(S.FIND_DOCUMENTS, [("$XDSDocumentEntryPatientId", "'no-cx'"),
                                     ("$XDSDocumentEntryStatus", "('Approved')")])
    assert codes_of(errs) == [XDS_REGISTRY_ERROR, XDS_REGISTRY_ERROR]
    assert "$XDSDocumentEntryPatientId" in errs[0].context and "$XDSDocumentEntryStatus" in errs[1].context


def test_malformed_value_syntax():
    errs = errors(S.FIND_DOCUMENTS, find(**{"$XDSDocumentEntryClassCode": "('A^^1'"}))
    assert codes_of(errs) == [XDS_REGISTRY_ERROR] and "$XDSDocumentEntryClassCode" in errs[0].context


def test_metadata_level_on_every_query():
    for qid, spec in S.CATALOGUE.items():
        assert spec.param("$MetadataLevel") is not None, spec.name


def test_return_type():
    assert parse(S.GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": "'1.2'"}, "ObjectRef").return_type == "ObjectRef"
    assert codes_of(errors(S.GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": "'1.2'"}, "RegistryObject")) == [
        XDS_REGISTRY_ERROR]


def test_not_an_adhoc_query_request():
    with pytest.raises(XdsFailure) as exc:
        S.parse_query_request(etree.Element("foo"))
    assert codes_of(exc.value.errors) == [XDS_REGISTRY_ERROR]


def test_unknown_parameters_are_ignored():
    req = parse(S.FIND_DOCUMENTS, find(**{"$ipfSortOrder": "('x')", "$XDSFolderStatus": APPROVED}))
    assert req.name == "FindDocuments"


# -- issue 14 item 2: values per parameter (property) ---------------------------------------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from profiles.xds.query_request import RefusedQuery, read_query_request  # noqa: E402

# a parameter's values as Slots (AND-ed groups) of Value elements (parts of one list)
_layout = st.lists(st.lists(st.integers(1, 4), min_size=1, max_size=3), min_size=1, max_size=3)


@given(layout=_layout, limit=st.integers(1, 20), other=st.integers(0, 6))
def test_values_per_parameter_limit_property(layout, limit, other):
    """Read iff every parameter has at most ``limit`` values over all its Slots and Value elements;
    past it, exactly one XDSRegistryError naming the parameter and the limit."""
    n = iter(range(10_000))
    slots = [("$XDSDocumentEntryEventCodeList", [qlist(f"E{next(n)}^^2.999" for _ in range(k)) for k in values])
             for values in layout]
    classes = [f"C{i}^^2.999" for i in range(other)]
    if classes:
        slots.append(("$XDSDocumentEntryClassCode", qlist(classes)))
    got = read_query_request(query_xml(S.FIND_DOCUMENTS, find() + slots), max_values=limit)
    total = sum(sum(v) for v in layout)
    if total <= limit and other <= limit:
        assert isinstance(got, S.QueryRequest)
        assert sum(len(g) for g in got.query.criteria.event_codes) == total
    else:
        assert isinstance(got, RefusedQuery) and [e.code for e in got.errors] == [XDS_REGISTRY_ERROR]
        assert "max_query_parameter_values" in got.errors[0].context
        name = "$XDSDocumentEntryEventCodeList" if total > limit else "$XDSDocumentEntryClassCode"
        assert name in got.errors[0].context
