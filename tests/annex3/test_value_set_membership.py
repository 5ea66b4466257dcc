"""Each annex 3 value set: every member accepted; a wrong code, a wrong scheme, a wrong pairing refused."""
from __future__ import annotations

import pytest

from profiles.ch.annex3 import check_submission, validate_submission
from profiles.ch.valuesets import ValueSets
from profiles.xds import constants as C
from profiles.xds.errors import XDS_REGISTRY_METADATA_ERROR

from . import builder as B
from .specs import spec_id, specs, wrong_pairing

VS = ValueSets.load()
SPECS = specs(VS)
CODED = [s for s in SPECS if s.kind in ("code", "coded_slot")]
PAIRABLE = [s for s in CODED if wrong_pairing(VS, s) is not None]


def _obj_id(sub, spec):
    return sub.submission_set.entry_uuid if spec.on == "ss" else sub.documents[0].entry_uuid


def _only(findings, spec, sub):
    assert len(findings) == 1, [f.context for f in findings]
    f = findings[0]
    assert f.attribute == spec.attribute
    assert f.object_id == _obj_id(sub, spec)
    return f


def test_the_real_swiss_sample_passes(vs):
    sub = B.parse(B.sample_sor())
    assert check_submission(sub, vs) == []
    assert check_submission(sub, vs, mpi_oid=B.MPI_OID) == []


def test_the_rich_fixture_passes(vs):
    assert check_submission(B.parse(B.build_sor(3)), vs, mpi_oid=B.MPI_OID) == []


def test_every_attribute_spec_covers_a_required_value_set():
    from profiles.ch.valuesets import REQUIRED_SETS
    assert {s.value_set for s in SPECS} == set(REQUIRED_SETS)


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_every_code_of_the_value_set_is_accepted(vs, spec):
    sor = B.build_sor(1)
    codes = vs.get(spec.value_set).codes
    assert codes
    for c in codes:
        spec.apply(sor, c["code"], c["system"])
        findings = check_submission(B.parse(sor), vs)
        assert findings == [], (c["code"], [f.context for f in findings])


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_wrong_code_is_refused_naming_the_attribute(vs, spec):
    sor = B.build_sor(1)
    target = vs.get(spec.value_set)
    scheme = sorted(target.schemes)[0]
    bad = "application/x-not-annex3" if spec.value_set == "mimeType" else "NOT-IN-ANNEX3-42"
    spec.apply(sor, bad, scheme)
    sub = B.parse(sor)
    f = _only(check_submission(sub, vs), spec, sub)
    assert bad in f.value
    assert target.oid in f.expected and target.title in f.expected
    err = validate_submission(sub, vs)[0]
    assert err.code == XDS_REGISTRY_METADATA_ERROR
    assert err.location == _obj_id(sub, spec)
    for part in (spec.attribute, bad, target.oid, target.title, _obj_id(sub, spec)):
        assert part in err.context


@pytest.mark.parametrize("spec", CODED + [s for s in SPECS if s.kind == "bare"], ids=spec_id)
def test_member_code_under_a_wrong_scheme_is_refused(vs, spec):
    sor = B.build_sor(1)
    c = vs.get(spec.value_set).codes[0]
    if spec.kind == "bare":          # deletionStatus: a CX-like form is not the slot's form
        spec.apply(sor, f"{c['code']}^^^&{c['system']}&ISO", None)
    else:
        spec.apply(sor, c["code"], "1.2.3.4.5.6.7")
    sub = B.parse(sor)
    f = _only(check_submission(sub, vs), spec, sub)
    assert c["code"] in f.value


@pytest.mark.parametrize("spec", PAIRABLE, ids=spec_id)
def test_wrong_code_scheme_pairing_is_refused(vs, spec):
    code, scheme = wrong_pairing(vs, spec)
    sor = B.build_sor(1)
    spec.apply(sor, code, scheme)
    sub = B.parse(sor)
    f = _only(check_submission(sub, vs), spec, sub)
    assert code in f.value and scheme in f.value


def test_pairing_candidates_exist_for_the_multi_scheme_sets(vs):
    names = {s.value_set for s in PAIRABLE}
    # formatCode (3 schemes), authorSpeciality (MedReg/NAReg), authorRole (DADM is EPR role, not author role)
    assert {"formatCode", "authorSpeciality", "authorRole", "classCode", "typeCode"} <= names


# ------------------------------------------------------------------ classCode / typeCode pairing

def test_every_pairing_of_the_map_is_accepted(vs):
    sor = B.build_sor(1)
    doc = B.documents(sor)[0]
    mappings = vs.maps["classCodeToTypeCode"]["mappings"]
    assert len(mappings) >= 40
    for m in mappings:
        B.set_code(doc, C.DE_CLASS_CODE, m["source"]["code"], m["source"]["system"])
        B.set_code(doc, C.DE_TYPE_CODE, m["target"]["code"], m["target"]["system"])
        assert check_submission(B.parse(sor), vs) == [], m


def test_type_code_of_another_class_is_refused(vs):
    sor = B.build_sor(1)
    doc = B.documents(sor)[0]
    B.set_code(doc, C.DE_CLASS_CODE, "721927009", B.SNOMED)      # Referral note
    B.set_code(doc, C.DE_TYPE_CODE, "373942005", B.SNOMED)       # Discharge summary (a Summary type)
    sub = B.parse(sor)
    [f] = check_submission(sub, vs)
    assert f.attribute == "typeCode"
    assert "373942005" in f.value and "721927009" in f.message
    assert "419891008" in f.expected          # what the class does allow


def test_pairing_is_not_checked_when_a_code_is_already_wrong(vs):
    sor = B.build_sor(1)
    doc = B.documents(sor)[0]
    B.set_code(doc, C.DE_CLASS_CODE, "999999", B.SNOMED)
    sub = B.parse(sor)
    [f] = check_submission(sub, vs)
    assert f.attribute == "classCode"
