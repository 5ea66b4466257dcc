"""CH:XUA claims (profiles/xua): the eHealth Suisse samples, re-signed with our test key, read into
exactly the principals they describe; the role / purpose / qualifier / delegation rules."""
from __future__ import annotations

import copy
import datetime as dt

import pytest
from hypothesis import given, settings, strategies as st
from lxml import etree

from profiles.ch.identifiers import CX
from profiles.context import ANONYMOUS, Principal
from profiles.xua import PatientMismatch, XuaError, check_patient, patient_matches, read_claims
from profiles.xua import constants as X
from profiles.xua.errors import EXPIRED, INVALID_CLAIMS, MALFORMED, NOT_YET_VALID
from support.xua import (SAMPLE_HOME, SAMPLE_PRINCIPALS, SAMPLE_SPID, SAML, resign, sample_assertion,
                         sample_instant)

HL7 = "{%s}" % X.NS_HL7


@pytest.mark.parametrize("name", sorted(SAMPLE_PRINCIPALS))
def test_sample_resigned_reads_into_its_principal(name, signer, verifier):
    a = sample_assertion(name)
    now = sample_instant(a)
    claims = verifier(now).verify_assertion_bytes(resign(a, signer))
    role, user, user_name, acting, acting_name, purpose, orgs = SAMPLE_PRINCIPALS[name]
    p = claims.principal
    assert (p.role, p.user_id, p.user_name, p.acting_id, p.acting_name, p.purpose_of_use,
            p.organisation_ids) == (role, user, user_name, acting, acting_name, purpose, orgs)
    assert p.patient_epr_spid == SAMPLE_SPID
    assert p.home_community_id == SAMPLE_HOME
    assert p.assertion_id == "_2cfcc382-7e60-44e0-99b5-18e3f718cbc6"
    assert claims.issuer == "xua.hin.ch"
    assert claims.audiences == (X.AUDIENCE_ALL_COMMUNITIES,)
    assert p.assertion and p.assertion.startswith(b"<saml2:Assertion")


def test_the_seven_samples_cover_the_seven_roles():
    assert sorted(v[0] for v in SAMPLE_PRINCIPALS.values()) == sorted(X.ROLE_NAMES)


# -- rules, on the (unsigned) sample elements: read_claims is the profile logic, transport-free ----

def hcp():
    return sample_assertion("1_Get_X-User_Assertion_Response-Healthcare_Provider.xml")


def assistant():
    return sample_assertion("2_Get_X-User_Assertion_Response-Assistant.xml")


def attr(a, name):
    return a.find(f"{SAML}AttributeStatement/{SAML}Attribute[@Name='{name}']")


def set_role(a, code):
    attr(a, X.ATTR_ROLE).find(f"{SAML}AttributeValue/{HL7}Role").set("code", code)


def set_purpose(a, code):
    attr(a, X.ATTR_PURPOSE_OF_USE).find(f"{SAML}AttributeValue/{HL7}PurposeOfUse").set("code", code)


def refused(a, kind=INVALID_CLAIMS) -> str:
    with pytest.raises(XuaError) as info:
        read_claims(a)
    assert info.value.kind == kind, info.value
    return info.value.message


@pytest.mark.parametrize("code", ["ASS", "TCU"])
def test_ass_and_tcu_codes_in_the_role_attribute_are_refused(code):
    a = assistant()
    set_role(a, code)
    assert "DelegationRestriction" in refused(a)
    a = hcp()
    set_role(a, code)
    refused(a)


def test_unknown_role_and_wrong_code_system_are_refused():
    a = hcp()
    set_role(a, "DOC")
    refused(a)
    a = hcp()
    attr(a, X.ATTR_ROLE).find(f"{SAML}AttributeValue/{HL7}Role").set("codeSystem", "2.16.840.1.113883.6.96")
    refused(a)


def test_delegate_with_a_role_other_than_hcp_is_refused():
    a = assistant()
    set_role(a, "PAT")
    assert "only with role HCP" in refused(a)


def test_delegate_qualifier_decides_ass_or_tcu_and_unknown_is_refused():
    a = assistant()
    delegate = a.find(f"{SAML}Conditions/{SAML}Condition/{{{X.NS_DELEGATION}}}Delegate/{SAML}NameID")
    delegate.set("NameQualifier", "urn:e-health-suisse:representative-id")
    refused(a)


def test_subject_confirmation_other_than_the_delegate_is_refused():
    a = assistant()
    a.find(f"{SAML}Subject/{SAML}SubjectConfirmation/{SAML}NameID").text = "7601000000002"
    assert "another user" in refused(a)


@pytest.mark.parametrize("role,qualifier", [("HCP", X.Q_EPR_SPID), ("PAT", X.Q_GLN), ("REP", X.Q_GLN),
                                            ("PADM", X.Q_DOCUMENT_ADMIN), ("DADM", X.Q_POLICY_ADMIN)])
def test_subject_nameid_qualifier_must_be_the_roles(role, qualifier):
    a = hcp()
    set_role(a, role)
    if role != "HCP":
        for name in (X.ATTR_ORGANIZATION, X.ATTR_ORGANIZATION_ID):
            for v in attr(a, name).findall(SAML + "AttributeValue"):
                v.getparent().remove(v)
    nid = a.find(f"{SAML}Subject/{SAML}NameID")
    nid.set("NameQualifier", qualifier)
    assert "qualifier" in refused(a)
    nid.set("NameQualifier", X.QUALIFIER_BY_ROLE[role])
    if role in ("HCP",):
        assert read_claims(a).principal.role == role


@pytest.mark.parametrize("role", sorted(X.ROLE_NAMES))
@pytest.mark.parametrize("purpose", ["NORM", "EMER", "AUTO", "DICOM_AUTO"])
def test_purpose_of_use_per_role(role, purpose):
    base = {"ASS": assistant, "TCU": lambda: sample_assertion(
        "3_Get_X-User_Assertion_Response-Technical_User.xml")}.get(role)
    if base is None:
        name = next(n for n, v in SAMPLE_PRINCIPALS.items() if v[0] == role)
        base = lambda: sample_assertion(name)  # noqa: E731
    a = base()
    set_purpose(a, purpose)
    if purpose in X.PURPOSES_BY_ROLE[role]:
        assert read_claims(a).principal.purpose_of_use == purpose
    else:
        assert "not allowed" in refused(a)


@pytest.mark.parametrize("value", ["761337610411353650", "761337610411353650^^^&2.16.756.5.30.1.123&ISO",
                                   "761337610411353651^^^&2.16.756.5.30.1.127.3.10.3&ISO",
                                   "7561234567897^^^&2.16.756.5.30.1.127.3.10.3&ISO"])
def test_resource_id_must_be_an_epr_spid(value):
    a = hcp()
    attr(a, X.ATTR_RESOURCE_ID).find(SAML + "AttributeValue").text = value
    refused(a)


def test_missing_required_attributes_and_elements_are_malformed():
    for name in (X.ATTR_ROLE, X.ATTR_PURPOSE_OF_USE, X.ATTR_RESOURCE_ID, X.ATTR_HOME_COMMUNITY_ID,
                 X.ATTR_SUBJECT_ID):
        a = hcp()
        el = attr(a, name)
        el.getparent().remove(el)
        refused(a, MALFORMED)
    for path in ("Conditions", "Subject", "Issuer"):
        a = hcp()
        el = a.find(SAML + path)
        a.remove(el)
        refused(a, MALFORMED)


def test_two_role_values_or_a_duplicated_attribute_are_refused():
    a = hcp()
    role = attr(a, X.ATTR_ROLE)
    role.append(copy.deepcopy(role[0]))
    refused(a)
    a = hcp()
    st_el = a.find(SAML + "AttributeStatement")
    st_el.append(copy.deepcopy(attr(a, X.ATTR_PURPOSE_OF_USE)))
    refused(a, MALFORMED)


def test_organisations_required_for_hcp_forbidden_for_patient():
    a = hcp()
    for v in attr(a, X.ATTR_ORGANIZATION_ID).findall(SAML + "AttributeValue"):
        v.getparent().remove(v)
    refused(a)
    a = sample_assertion("4_Get_X-User_Assertion_Response-Patient.xml")
    av = etree.SubElement(attr(a, X.ATTR_ORGANIZATION_ID), SAML + "AttributeValue")
    av.text = "urn:oid:2.2.2.1"
    refused(a)


def test_audience_restriction_accepted_not_required_other_audience_refused():
    a = hcp()
    cond = a.find(SAML + "Conditions")
    cond.remove(cond.find(SAML + "AudienceRestriction"))
    assert read_claims(a).audiences == ()
    a = hcp()
    a.find(f"{SAML}Conditions/{SAML}AudienceRestriction/{SAML}Audience").text = "urn:other:audience"
    refused(a)


def test_comment_inside_a_value_is_refused():
    """exc-c14n drops comments from the digest: 'Martina<!---->Evil' must not read as anything."""
    a = hcp()
    v = attr(a, X.ATTR_SUBJECT_ID).find(SAML + "AttributeValue")
    v.append(etree.Comment("x"))
    refused(a, MALFORMED)


def test_time_window_with_skew():
    claims = read_claims(hcp())
    nb, na = claims.not_before, claims.not_on_or_after
    claims.check_time(nb, 0)
    claims.check_time(na + dt.timedelta(seconds=59), 60)
    with pytest.raises(XuaError) as info:
        claims.check_time(na + dt.timedelta(seconds=60), 60)
    assert info.value.kind == EXPIRED
    with pytest.raises(XuaError) as info:
        claims.check_time(nb - dt.timedelta(seconds=61), 60)
    assert info.value.kind == NOT_YET_VALID
    claims.check_time(nb - dt.timedelta(seconds=59), 60)


@settings(max_examples=200, deadline=None)
@given(role=st.sampled_from(sorted(X.ROLE_ATTRIBUTE_CODES) + ["ASS", "TCU", "XYZ", ""]),
       purpose=st.sampled_from(["NORM", "EMER", "AUTO", "DICOM_AUTO", "", "norm"]),
       delegate=st.sampled_from([None, X.Q_GLN, X.Q_TECHNICAL_USER, "urn:x"]))
def test_property_roles_purposes_delegation(role, purpose, delegate):
    """Accepted exactly when the reference rules allow it; the derived role follows the Delegate."""
    a = assistant()
    cond = a.find(f"{SAML}Conditions/{SAML}Condition")
    subject = a.find(SAML + "Subject")
    sc = subject.find(SAML + "SubjectConfirmation")
    if delegate is None:
        cond.getparent().remove(cond)
        subject.remove(sc)
    else:
        cond.find(f"{{{X.NS_DELEGATION}}}Delegate/{SAML}NameID").set("NameQualifier", delegate)
        sc.find(SAML + "NameID").set("NameQualifier", delegate)
    set_role(a, role)
    set_purpose(a, purpose)
    nameid_q = {"PAT": X.Q_EPR_SPID, "REP": X.Q_REPRESENTATIVE, "PADM": X.Q_POLICY_ADMIN,
                "DADM": X.Q_DOCUMENT_ADMIN}.get(role, X.Q_GLN)
    subject.find(SAML + "NameID").set("NameQualifier", nameid_q)
    if role in ("PAT", "REP", "PADM", "DADM"):
        for name in (X.ATTR_ORGANIZATION, X.ATTR_ORGANIZATION_ID):
            for v in attr(a, name).findall(SAML + "AttributeValue"):
                v.getparent().remove(v)
    # the reference model, written apart from the engine
    if role not in ("HCP", "PAT", "REP", "PADM", "DADM"):
        expected = None
    elif delegate is None:
        expected = role
    elif role != "HCP" or delegate not in (X.Q_GLN, X.Q_TECHNICAL_USER):
        expected = None
    else:
        expected = "ASS" if delegate == X.Q_GLN else "TCU"
    allowed = {"HCP": {"NORM", "EMER"}, "ASS": {"NORM", "EMER"}, "TCU": {"AUTO", "DICOM_AUTO"}}
    if expected is not None and purpose not in allowed.get(expected, {"NORM"}):
        expected = None
    if expected == "TCU":
        sc_id = sc.find(SAML + "NameID")
        sc_id.text = "urn:oid:1.2.3"
        cond.find(f"{{{X.NS_DELEGATION}}}Delegate/{SAML}NameID").text = "urn:oid:1.2.3"
    try:
        got = read_claims(a).principal.role
    except XuaError:
        got = None
    assert got == expected


# -- the patient check ----------------------------------------------------------------------------

class FakeMpi:
    def __init__(self, mapping):
        self.mapping = mapping

    def find_by_epr_spid(self, spid):
        return self.mapping.get(spid)


def test_check_patient_through_the_mpi():
    mpi = FakeMpi({SAMPLE_SPID: CX("42", "2.16.756.5.30.1.999.1.1")})
    p = Principal(user_id="7601000000019", role="HCP", patient_epr_spid=SAMPLE_SPID)
    assert patient_matches(p, "42", mpi)
    assert patient_matches(p, "42^^^&2.16.756.5.30.1.999.1.1&ISO", mpi)
    assert patient_matches(p, CX("42", "2.16.756.5.30.1.999.1.1"), mpi)
    assert not patient_matches(p, "43", mpi)
    assert not patient_matches(p, "42^^^&1.2.3&ISO", mpi)
    with pytest.raises(PatientMismatch) as info:
        check_patient(p, "43^^^&2.16.756.5.30.1.999.1.1&ISO", mpi)
    assert "43" not in str(info.value) and SAMPLE_SPID not in str(info.value)
    unknown = Principal(user_id="7601000000019", role="HCP", patient_epr_spid="761337610411353643")
    assert not patient_matches(unknown, "42", mpi)
    assert patient_matches(ANONYMOUS, "43", mpi)   # nothing to check without an assertion


def test_all_patients_match_for_a_submission():
    from profiles.xua.patient import all_patients_match
    calls = []

    class CountingMpi(FakeMpi):
        def find_by_epr_spid(self, spid):
            calls.append(spid)
            return super().find_by_epr_spid(spid)

    mpi = CountingMpi({SAMPLE_SPID: CX("42", "2.16.756.5.30.1.999.1.1")})
    p = Principal(user_id="7601000000019", role="HCP", patient_epr_spid=SAMPLE_SPID)
    ok = "42^^^&2.16.756.5.30.1.999.1.1&ISO"
    assert all_patients_match(p, [ok, ok, ok], mpi) and calls == [SAMPLE_SPID]   # one MPI look-up
    assert not all_patients_match(p, [ok, "43^^^&2.16.756.5.30.1.999.1.1&ISO"], mpi)
    assert all_patients_match(ANONYMOUS, ["43"], mpi)


def test_patient_scoped_filter_keeps_only_the_assertions_patient():
    from types import SimpleNamespace
    from profiles.context import RequestContext
    from profiles.xua.patient import PatientScopedFilter
    mpi = FakeMpi({SAMPLE_SPID: CX("42", "2.16.756.5.30.1.999.1.1")})
    rows = [SimpleNamespace(patient_id="42^^^&2.16.756.5.30.1.999.1.1&ISO", n=1),
            SimpleNamespace(patient_id="43^^^&2.16.756.5.30.1.999.1.1&ISO", n=2),
            SimpleNamespace(patient_id="42^^^&1.2.3&ISO", n=3)]
    hcp_ctx = RequestContext(principal=Principal(user_id="7601000000019", role="HCP", patient_epr_spid=SAMPLE_SPID))

    class DropFirst:
        def allowed_documents(self, ctx, documents):
            return documents[1:]

    assert [r.n for r in PatientScopedFilter(mpi).allowed_documents(hcp_ctx, rows)] == [1]
    assert [r.n for r in PatientScopedFilter(mpi, DropFirst()).allowed_documents(hcp_ctx, rows)] == []
    assert [r.n for r in PatientScopedFilter(mpi).allowed_documents(RequestContext(), rows)] == [1, 2, 3]
    unknown = RequestContext(principal=Principal(user_id="x", role="PAT", patient_epr_spid="761337610433933946"))
    assert PatientScopedFilter(mpi).allowed_documents(unknown, rows) == []
