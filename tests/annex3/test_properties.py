"""Property tests: mutate a valid submission one attribute at a time; exactly that attribute is named."""
from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profiles.ch.annex3 import check_submission
from profiles.ch.valuesets import ValueSets
from profiles.xds import constants as C
from profiles.xds.ebrim import set_slot

from . import builder as B
from .specs import specs

VS = ValueSets.load()
SPECS = specs(VS)
TOKEN = st.text(alphabet=string.ascii_letters + string.digits + "-.", min_size=1, max_size=16)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _bad_value(draw, spec):
    target = VS.get(spec.value_set)
    code = draw(TOKEN.filter(lambda c: not target.has_code(c) and c.upper() not in ("M", "F", "O", "U")))
    if spec.value_set == "mimeType":
        code = "application/" + code
    return code, draw(st.sampled_from(sorted(target.schemes)))


@st.composite
def one_bad_attribute(draw):
    """(sor, expected attribute, object id) with exactly one attribute of one object made invalid."""
    n = draw(st.integers(min_value=1, max_value=3))
    sor = B.build_sor(n)
    docs = B.documents(sor)
    kind = draw(st.sampled_from(["valueset", "wrong_scheme", "spid", "navs", "gln", "title"]))
    if kind in ("valueset", "wrong_scheme"):
        spec = draw(st.sampled_from([s for s in SPECS if kind == "valueset" or s.kind in ("code", "coded_slot")]))
        if kind == "valueset":
            code, scheme = _bad_value(draw, spec)
        else:
            c = draw(st.sampled_from(VS.get(spec.value_set).codes))
            code = c["code"]
            scheme = draw(st.sampled_from(["1.2.3.4", "2.16.840.1.113883.6.1", "2.16.756.5.30.1.127.3.10.99"]))
        # the spec mutates the first document; move a different one to the front to vary the target
        idx = draw(st.integers(min_value=0, max_value=n - 1))
        if idx and spec.on == "doc":
            docs[0].addprevious(docs[idx])
        spec.apply(sor, code, scheme)
        obj = B.submission_set(sor) if spec.on == "ss" else B.documents(sor)[0]
        return sor, spec.attribute, obj.get("id")
    doc = draw(st.sampled_from(docs))
    if kind == "spid":
        where = draw(st.sampled_from(["patientId", "sourcePatientId", "sourcePatientInfo.PID-3"]))
        body = draw(st.text(alphabet=string.digits, min_size=9, max_size=9))
        value = f"{B.make_spid('76133761' + body)}^^^&2.16.756.5.30.1.127.3.10.3&ISO"
    elif kind == "navs":
        where = draw(st.sampled_from(["patientId", "sourcePatientId", "sourcePatientInfo.PID-3"]))
        body = draw(st.text(alphabet=string.digits, min_size=9, max_size=9))
        oid = draw(st.sampled_from(["2.16.756.5.32", B.LOCAL_OID]))
        value = f"{B.make_navs('756' + body)}^^^&{oid}&ISO"
    elif kind == "gln":
        good = B.make_gln("76" + draw(st.text(alphabet=string.digits, min_size=10, max_size=10)))
        bad = good[:-1] + str((int(good[-1]) + draw(st.integers(1, 9))) % 10)
        B.set_author(doc, C.DE_AUTHOR, "authorPerson", [f"{bad}^Muster^Max^^^^^^&{B.GLN_OID}&ISO"])
        return sor, "author.authorPerson", doc.get("id")
    else:
        B.set_title(doc, draw(st.sampled_from([None, "", " ", "\t"])))
        return sor, "title", doc.get("id")
    if where == "patientId":
        B.set_external_id(doc, C.DE_PATIENT_ID, value)
    elif where == "sourcePatientId":
        set_slot(doc, "sourcePatientId", [value])
    else:
        set_slot(doc, "sourcePatientInfo", [f"PID-3|{value}", "PID-8|female"])
    return sor, where, doc.get("id")


@SETTINGS
@given(one_bad_attribute())
def test_one_mutation_is_reported_once_naming_that_attribute(case):
    sor, attribute, obj_id = case
    findings = check_submission(B.parse(sor), VS)
    assert [(f.attribute, f.object_id) for f in findings] == [(attribute, obj_id)], [f.context for f in findings]


@st.composite
def one_valid_replacement(draw):
    sor = B.build_sor(1)
    spec = draw(st.sampled_from(SPECS))
    c = draw(st.sampled_from(VS.get(spec.value_set).codes))
    spec.apply(sor, c["code"], c["system"])
    return sor


@SETTINGS
@given(one_valid_replacement())
def test_valid_replacements_stay_valid(sor):
    assert check_submission(B.parse(sor), VS) == []


@SETTINGS
@given(st.lists(st.sampled_from([s for s in SPECS if s.on == "doc"]), min_size=2, max_size=5, unique_by=id))
def test_several_mutations_are_all_reported(chosen):
    sor = B.build_sor(1)
    # the classCode spec also resets typeCode (to keep the pairing valid): apply it first
    for spec in sorted(chosen, key=lambda s: s.attribute != "classCode"):
        target = VS.get(spec.value_set)
        spec.apply(sor, "application/x-zz" if spec.value_set == "mimeType" else "ZZ-NOT-A-CODE", sorted(target.schemes)[0])
    got = sorted(f.attribute for f in check_submission(B.parse(sor), VS))
    assert got == sorted(s.attribute for s in chosen)
