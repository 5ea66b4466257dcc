"""The value sets are data: the packaged release, its API, and a newer release honoured without code change."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from profiles.ch.annex3 import check_submission
from profiles.ch.valuesets import REQUIRED_SETS, ValueSetError, ValueSets
from profiles.xds import constants as C

from . import builder as B

PACKAGED = Path(__file__).resolve().parents[2] / "profiles" / "ch" / "data" / "annex3-valuesets.json"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "epr" / "annex3-valuesets.json"  # ../shared beside the checkout


def _raw():
    return json.loads(PACKAGED.read_text(encoding="utf-8"))


def test_packaged_release_loads_with_its_version(vs):
    assert vs.version == "CH Term 3.3.0 (788e193, 2026-04-07)"
    assert vs.source.startswith("packaged:") and len(vs.sha256) == 64
    for name in REQUIRED_SETS:
        assert len(vs.get(name)) > 0
    assert vs.enforces_class_type_pairing


@pytest.mark.skipif(not SHARED.exists(), reason="shared data not present")
def test_packaged_file_is_the_shared_release():
    assert json.loads(SHARED.read_text(encoding="utf-8")) == _raw()


def test_contains_checks_code_and_scheme(vs):
    assert vs.contains("classCode", "184216000", B.SNOMED)
    assert not vs.contains("classCode", "184216000", "2.16.756.5.30.1.127.3.4")
    assert vs.contains("classCode", "184216000")                   # code alone
    assert not vs.contains("classCode", "41000179103", B.SNOMED)   # a typeCode, not a classCode
    assert vs.contains("formatCode", "urn:ihe:rad:PDF", "1.3.6.1.4.1.19376.1.2.3")
    assert not vs.contains("formatCode", "urn:ihe:rad:PDF", "2.16.756.5.30.1.127.3.10.10")
    assert vs.contains("mimeType", "Application/PDF") and vs.contains("languageCode", "DE-ch")
    assert not vs.contains("sourcePatientInfoPID8", "Male")


def test_describe_and_get(vs):
    d = vs.describe("confidentialityCode")
    assert "DocumentEntry.confidentialityCode" in d and "2.16.756.5.30.1.127.3.10.1.5" in d
    with pytest.raises(KeyError, match="nope"):
        vs.get("nope")
    rows = {r["name"]: r for r in vs.summary()}
    assert rows["practiceSettingCode"]["codes"] == 65 and rows["classCode"]["oid"] == "2.16.756.5.30.1.127.3.10.1.3"


def test_newer_release_is_honoured_without_code_change(tmp_path):
    data = _raw()
    data["_meta"]["release"] = "annex 3 2027-01 (test)"
    new = copy.deepcopy(data["classCode"]["codes"][0])
    new.update(code="9990001000195100", display={"en": "New class"})
    data["classCode"]["codes"].append(new)
    data["_maps"]["classCodeToTypeCode"]["mappings"].append(
        {"source": {"system": B.SNOMED, "code": "9990001000195100"},
         "target": {"system": B.SNOMED, "code": "419891008"}, "equivalence": "specializes"})
    data["mimeType"]["codes"] = [c for c in data["mimeType"]["codes"] if c["code"] != "application/fhir+json"]
    path = tmp_path / "annex3-2027.json"
    path.write_text(json.dumps(data), encoding="utf-8")

    old, newer = ValueSets.load(), ValueSets.load(str(path))
    assert newer.version == "annex 3 2027-01 (test)" and newer.source == str(path)
    sor = B.build_sor(1)
    doc = B.documents(sor)[0]
    B.set_code(doc, C.DE_CLASS_CODE, "9990001000195100", B.SNOMED)
    B.set_code(doc, C.DE_TYPE_CODE, "419891008", B.SNOMED)
    sub = B.parse(sor)
    assert [f.attribute for f in check_submission(sub, old)] == ["classCode"]
    # new class accepted; the sample's application/fhir+json is gone from the newer mimeType set
    assert [f.attribute for f in check_submission(sub, newer)] == ["mimeType"]


def test_release_without_pairing_map_does_not_enforce_it(tmp_path):
    data = _raw()
    data["_maps"]["classCodeToTypeCode"]["normative"] = False
    path = tmp_path / "vs.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    vs = ValueSets.load(path)
    assert not vs.enforces_class_type_pairing
    sor = B.build_sor(1)
    doc = B.documents(sor)[0]
    B.set_code(doc, C.DE_CLASS_CODE, "721927009", B.SNOMED)
    B.set_code(doc, C.DE_TYPE_CODE, "373942005", B.SNOMED)
    assert check_submission(B.parse(sor), vs) == []
    assert [f.attribute for f in check_submission(B.parse(sor), ValueSets.load())] == ["typeCode"]


@pytest.mark.parametrize("mutate,match", [
    (lambda d: d.pop("typeCode"), "typeCode"),
    (lambda d: d["formatCode"].update(codes=[]), "formatCode"),
    (lambda d: d["mimeType"].pop("valueSetOid"), "valueSetOid"),
])
def test_unusable_release_is_refused_at_load(tmp_path, mutate, match):
    data = _raw()
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueSetError, match=match):
        ValueSets.load(path)


def test_unreadable_release_is_refused(tmp_path):
    with pytest.raises(ValueSetError):
        ValueSets.load(tmp_path / "missing.json")
    (tmp_path / "x.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueSetError, match="JSON"):
        ValueSets.load(tmp_path / "x.json")
