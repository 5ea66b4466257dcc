"""One spec per annex 3 attribute: where it lives in the wire form and how to set it (tests only)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from profiles.xds import constants as C
from profiles.xds.ebrim import set_slot

from . import builder as B


@dataclass(frozen=True)
class Spec:
    attribute: str            # the attribute name the finding must carry
    value_set: str            # key in the release file
    kind: str                 # "code" (classification), "coded_slot" (CODE^^^&OID&ISO), "plain", "bare"
    apply: Callable           # apply(sor, code, scheme)
    on: str = "doc"           # "doc" (first DocumentEntry) or "ss"


def _doc(sor):
    return B.documents(sor)[0]


def _code(scheme):
    def apply(sor, code, cs):
        B.set_code(_doc(sor), scheme, code, cs)
    return apply


def _ss_code(scheme):
    def apply(sor, code, cs):
        B.set_code(B.submission_set(sor), scheme, code, cs)
    return apply


def _cx(code, cs):
    return f"{code}^^^&{cs}&ISO"


def _author_slot(target, author_scheme, slot):
    def apply(sor, code, cs):
        el = _doc(sor) if target == "doc" else B.submission_set(sor)
        B.set_author(el, author_scheme, slot, [_cx(code, cs)])
    return apply


def _mime(sor, code, cs):
    _doc(sor).set("mimeType", code)


def _lang(sor, code, cs):
    set_slot(_doc(sor), "languageCode", [code])


def _opr(sor, code, cs):
    set_slot(_doc(sor), C.SLOT_ORIGINAL_PROVIDER_ROLE, [_cx(code, cs)])


def _deletion(sor, code, cs):
    set_slot(_doc(sor), C.SLOT_DELETION_STATUS, [code])


def _pid8(sor, code, cs):
    set_slot(_doc(sor), "sourcePatientInfo", [f"PID-3|L-4711^^^&{B.LOCAL_OID}&ISO", f"PID-8|{code}"])


def _class(sor, code, cs):
    doc = _doc(sor)
    B.set_code(doc, C.DE_CLASS_CODE, code, cs)
    B.set_code(doc, C.DE_TYPE_CODE, "419891008", B.SNOMED)      # Record artifact: allowed under every class


def _type_with_class(vs):
    def apply(sor, code, cs):
        doc = _doc(sor)
        B.set_code(doc, C.DE_TYPE_CODE, code, cs)
        # a classCode this typeCode belongs to (when the code is a member; else keep the sample's)
        for m in vs.maps["classCodeToTypeCode"]["mappings"]:
            if m["target"]["code"] == code and m["target"]["system"] == cs:
                B.set_code(doc, C.DE_CLASS_CODE, m["source"]["code"], m["source"]["system"])
                break
    return apply


def specs(vs) -> list[Spec]:
    return [
        Spec("classCode", "classCode", "code", _class),
        Spec("typeCode", "typeCode", "code", _type_with_class(vs)),
        Spec("formatCode", "formatCode", "code", _code(C.DE_FORMAT_CODE)),
        Spec("confidentialityCode", "confidentialityCode", "code", _code(C.DE_CONFIDENTIALITY_CODE)),
        Spec("healthcareFacilityTypeCode", "healthcareFacilityTypeCode", "code",
             _code(C.DE_HEALTHCARE_FACILITY_TYPE_CODE)),
        Spec("practiceSettingCode", "practiceSettingCode", "code", _code(C.DE_PRACTICE_SETTING_CODE)),
        Spec("eventCodeList", "eventCodeList", "code", _code(C.DE_EVENT_CODE)),
        Spec("mimeType", "mimeType", "plain", _mime),
        Spec("languageCode", "languageCode", "plain", _lang),
        Spec("author.authorRole", "authorRole", "coded_slot", _author_slot("doc", C.DE_AUTHOR, "authorRole")),
        Spec("author.authorSpecialty", "authorSpeciality", "coded_slot",
             _author_slot("doc", C.DE_AUTHOR, "authorSpecialty")),
        Spec(C.SLOT_ORIGINAL_PROVIDER_ROLE, "originalProviderRole", "coded_slot", _opr),
        Spec(C.SLOT_DELETION_STATUS, "deletionStatus", "bare", _deletion),
        Spec("sourcePatientInfo.PID-8", "sourcePatientInfoPID8", "plain", _pid8),
        Spec("contentTypeCode", "contentTypeCode", "code", _ss_code(C.SS_CONTENT_TYPE_CODE), on="ss"),
        Spec("author.authorRole", "submissionSetAuthorRole", "coded_slot",
             _author_slot("ss", C.SS_AUTHOR, "authorRole"), on="ss"),
        Spec("author.authorSpecialty", "authorSpeciality", "coded_slot",
             _author_slot("ss", C.SS_AUTHOR, "authorSpecialty"), on="ss"),
    ]


def spec_id(s: Spec) -> str:
    return f"{s.on}:{s.attribute}:{s.value_set}"


def wrong_pairing(vs, spec: Spec):
    """A (code, scheme) whose code and scheme both occur in the set, but not together; failing that,
    a code of another annex 3 value set presented under one of this set's schemes. None if neither."""
    target = vs.get(spec.value_set)
    for code, schemes in target.schemes_by_code.items():
        for s in sorted(target.schemes - schemes):
            return code, s
    for other in vs:
        if other.name == spec.value_set:
            continue
        for code, scheme in sorted(other.pairs):
            if scheme in target.schemes and (code, scheme) not in target.pairs and not target.has_code(code):
                return code, scheme
    return None
