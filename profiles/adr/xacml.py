"""Patient policy sets <-> XACML 2.0 (the wire form of CH:PPQ), shaped like the official templates.

:func:`policy_set_element` writes a :class:`~profiles.adr.model.PolicySet` the way its template
(201-304) is written; :func:`parse_policy_set` reads one back and refuses anything that is not a
template-shaped policy set (the role of the stack's Schematron): unknown attributes, a target that
fits no template, a reference its template does not allow.
"""
from __future__ import annotations

import datetime as _dt

from lxml import etree

from profiles.adr import model as M

NS_XACML = "urn:oasis:names:tc:xacml:2.0:policy:schema:os"
NS_HL7 = "urn:hl7-org:v3"
X = "{%s}" % NS_XACML
NSMAP = {None: NS_XACML, "hl7": NS_HL7}

DENY_OVERRIDES = "urn:oasis:names:tc:xacml:1.0:policy-combining-algorithm:deny-overrides"
STRING = "http://www.w3.org/2001/XMLSchema#string"
ANY_URI = "http://www.w3.org/2001/XMLSchema#anyURI"
DATE = "http://www.w3.org/2001/XMLSchema#date"
CV = "urn:hl7-org:v3#CV"
II = "urn:hl7-org:v3#II"
F_STRING_EQUAL = "urn:oasis:names:tc:xacml:1.0:function:string-equal"
F_ANYURI_EQUAL = "urn:oasis:names:tc:xacml:1.0:function:anyURI-equal"
F_CV_EQUAL = "urn:hl7-org:v3:function:CV-equal"
F_II_EQUAL = "urn:hl7-org:v3:function:II-equal"
F_DATE_GE = "urn:oasis:names:tc:xacml:1.0:function:date-greater-than-or-equal"
F_DATE_LE = "urn:oasis:names:tc:xacml:1.0:function:date-less-than-or-equal"
A_SUBJECT_ID = "urn:oasis:names:tc:xacml:1.0:subject:subject-id"
A_QUALIFIER = "urn:oasis:names:tc:xacml:1.0:subject:subject-id-qualifier"
A_ROLE = "urn:oasis:names:tc:xacml:2.0:subject:role"
A_PURPOSE = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"
A_ORGANIZATION = "urn:oasis:names:tc:xspa:1.0:subject:organization-id"
A_EPR_SPID = "urn:e-health-suisse:2015:epr-spid"
A_CURRENT_DATE = "urn:oasis:names:tc:xacml:1.0:environment:current-date"
A_POLICY_START = "urn:e-health-suisse:2023:policy-attributes:start-date"
A_POLICY_END = "urn:e-health-suisse:2023:policy-attributes:end-date"

_DESCRIPTIONS = {
    201: "Patient specific PolicySet for EPD Setup 201 - full access of the patient",
    202: "Patient specific PolicySet for EPD Setup 202 - emergency access level",
    203: "Patient specific PolicySet for EPD Setup 203 - provide level (default confidentiality)",
    301: "Patient specific PolicySet for User Assignment 301 - a healthcare professional",
    302: "Patient specific PolicySet for Group Assignment 302 - a group of healthcare professionals",
    303: "Patient specific PolicySet for User Assignment 303 - a representative",
    304: "Patient specific PolicySet for User Assignment 304 - a healthcare professional, with delegation",
}


def _match(parent, kind: str, function: str, datatype: str, attribute: str, value=None, cv: str | None = None,
           cv_system: str | None = None):
    m = etree.SubElement(parent, X + f"{kind}Match", MatchId=function)
    av = etree.SubElement(m, X + "AttributeValue", DataType=datatype)
    if cv is not None:
        etree.SubElement(av, "{%s}CodedValue" % NS_HL7, code=cv, codeSystem=cv_system)
    elif datatype == II:
        etree.SubElement(av, "{%s}InstanceIdentifier" % NS_HL7, root=M.EPR_SPID_ROOT, extension=value)
    else:
        av.text = value
    etree.SubElement(m, X + f"{kind}AttributeDesignator", AttributeId=attribute, DataType=datatype)


def _role(subject, role: str) -> None:
    _match(subject, "Subject", F_CV_EQUAL, CV, A_ROLE, cv=role, cv_system=M.ROLE_OID)


def _qualifier(subject, q: str) -> None:
    _match(subject, "Subject", F_STRING_EQUAL, STRING, A_QUALIFIER, q)


def policy_set_element(ps: M.PolicySet) -> etree._Element:
    """The XACML 2.0 PolicySet of ``ps``, in its template's shape."""
    root = etree.Element(X + "PolicySet", nsmap=NSMAP, PolicySetId=ps.policy_set_id,
                         PolicyCombiningAlgId=DENY_OVERRIDES)
    etree.SubElement(root, X + "Description").text = ps.description or _DESCRIPTIONS[ps.template]
    target = etree.SubElement(root, X + "Target")
    subjects = etree.SubElement(target, X + "Subjects")
    t = ps.template
    if t == 201:
        s = etree.SubElement(subjects, X + "Subject")
        _match(s, "Subject", F_STRING_EQUAL, STRING, A_SUBJECT_ID, ps.subject)
        _qualifier(s, M.Q_SPID)
        _role(s, M.PAT)
    elif t == 202:
        s = etree.SubElement(subjects, X + "Subject")
        _role(s, M.HCP)
        _qualifier(s, M.Q_GLN)
        _match(s, "Subject", F_CV_EQUAL, CV, A_PURPOSE, cv=M.EMER, cv_system=M.PURPOSE_OID)
    elif t == 203:
        for purpose in (M.NORM, M.AUTO, M.DICOM_AUTO):
            s = etree.SubElement(subjects, X + "Subject")
            _role(s, M.HCP)
            _qualifier(s, M.Q_GLN)
            _match(s, "Subject", F_CV_EQUAL, CV, A_PURPOSE, cv=purpose, cv_system=M.PURPOSE_OID)
    elif t in (301, 304):
        s = etree.SubElement(subjects, X + "Subject")
        _match(s, "Subject", F_STRING_EQUAL, STRING, A_SUBJECT_ID, ps.subject)
        _qualifier(s, M.Q_GLN)
        _role(s, M.HCP)
    elif t == 302:
        s = etree.SubElement(subjects, X + "Subject")
        _match(s, "Subject", F_ANYURI_EQUAL, ANY_URI, A_ORGANIZATION, "urn:oid:" + ps.subject)
        _role(s, M.HCP)
    elif t == 303:
        s = etree.SubElement(subjects, X + "Subject")
        _match(s, "Subject", F_STRING_EQUAL, STRING, A_SUBJECT_ID, ps.subject)
        _qualifier(s, M.Q_REP)
        _role(s, M.REP)
    resource = etree.SubElement(etree.SubElement(target, X + "Resources"), X + "Resource")
    _match(resource, "Resource", F_II_EQUAL, II, A_EPR_SPID, ps.epr_spid)
    if t == 304:
        if ps.start:
            _match(resource, "Resource", F_DATE_LE, DATE, A_POLICY_START, ps.start.isoformat())
        _match(resource, "Resource", F_DATE_GE, DATE, A_POLICY_END, ps.end.isoformat())
    if ps.end is not None:
        env = etree.SubElement(etree.SubElement(target, X + "Environments"), X + "Environment")
        if ps.start is not None:
            _match(env, "Environment", F_DATE_LE, DATE, A_CURRENT_DATE, ps.start.isoformat())
        _match(env, "Environment", F_DATE_GE, DATE, A_CURRENT_DATE, ps.end.isoformat())
    etree.SubElement(root, X + "PolicySetIdReference").text = ps.reference
    return root


def _value(match) -> tuple[str, str | None]:
    """(attribute id, value) of one *Match element."""
    av = match.find(X + "AttributeValue")
    designator = next((c for c in match if isinstance(c.tag, str) and c.tag.endswith("AttributeDesignator")), None)
    if av is None or designator is None:
        raise M.PolicyError("a match needs an AttributeValue and an AttributeDesignator")
    attribute = designator.get("AttributeId") or ""
    coded = av.find("{%s}CodedValue" % NS_HL7)
    ii = av.find("{%s}InstanceIdentifier" % NS_HL7)
    if coded is not None:
        return attribute, coded.get("code")
    if ii is not None:
        if ii.get("root") != M.EPR_SPID_ROOT:
            raise M.PolicyError(f"the patient must be an EPR-SPID (root {M.EPR_SPID_ROOT})")
        return attribute, ii.get("extension")
    return attribute, (av.text or "").strip()


def _date(text: str | None) -> _dt.date:
    try:
        return _dt.date.fromisoformat((text or "").strip())
    except ValueError:
        raise M.PolicyError(f"not a date: {text!r}") from None


def parse_policy_set(el: etree._Element) -> M.PolicySet:
    """Read a template-shaped XACML PolicySet; raises :class:`~profiles.adr.model.PolicyError`."""
    if el.tag != X + "PolicySet":
        raise M.PolicyError("expected an XACML 2.0 PolicySet")
    psid = el.get("PolicySetId") or ""
    if el.get("PolicyCombiningAlgId") != DENY_OVERRIDES:
        raise M.PolicyError("an EPR policy set combines deny-overrides")
    refs = el.findall(X + "PolicySetIdReference")
    if len(refs) != 1 or el.findall(X + "Policy") or el.findall(X + "PolicySet") or el.findall(X + "PolicyIdReference"):
        raise M.PolicyError("an EPR policy set references exactly one base policy set")
    reference = (refs[0].text or "").strip()
    target = el.find(X + "Target")
    if target is None:
        raise M.PolicyError("the policy set has no Target")
    subjects = [dict(_value(m) for m in s.findall(X + "SubjectMatch"))
                for s in target.findall(f"{X}Subjects/{X}Subject")]
    resources = target.findall(f"{X}Resources/{X}Resource")
    if len(resources) != 1:
        raise M.PolicyError("the policy set names exactly one patient")
    res = {}
    for m in resources[0].findall(X + "ResourceMatch"):
        attribute, value = _value(m)
        res[(attribute, m.get("MatchId"))] = value
    spid = res.pop((A_EPR_SPID, F_II_EQUAL), None)
    if not spid:
        raise M.PolicyError("the policy set names no EPR-SPID")
    start = end = None
    for m in target.findall(f"{X}Environments/{X}Environment/{X}EnvironmentMatch"):
        attribute, value = _value(m)
        if attribute != A_CURRENT_DATE:
            raise M.PolicyError(f"unknown environment attribute {attribute}")
        if m.get("MatchId") == F_DATE_GE:
            end = _date(value)
        elif m.get("MatchId") == F_DATE_LE:
            start = _date(value)
        else:
            raise M.PolicyError(f"unknown environment match {m.get('MatchId')}")
    if res:
        # only 304 carries its validity in the resource too, and it must be the same
        r_start, r_end = res.pop((A_POLICY_START, F_DATE_LE), None), res.pop((A_POLICY_END, F_DATE_GE), None)
        if res or (r_end is not None and _date(r_end) != end) or (r_start is not None and _date(r_start) != start):
            raise M.PolicyError("unknown or inconsistent resource attributes")
    template, subject = _template(subjects, reference)
    return M.PolicySet(psid, template, spid, reference, subject=subject, start=start, end=end,
                       description=(el.findtext(X + "Description") or "").strip())


def _template(subjects: list[dict], reference: str) -> tuple[int, str]:
    if not subjects:
        raise M.PolicyError("the policy set names no subject")
    first = subjects[0]
    role, qualifier = first.get(A_ROLE), first.get(A_QUALIFIER)
    keys = set(first)
    if len(subjects) > 1:
        purposes = {s.get(A_PURPOSE) for s in subjects}
        if all(set(s) == {A_ROLE, A_QUALIFIER, A_PURPOSE} and s[A_ROLE] == M.HCP and s[A_QUALIFIER] == M.Q_GLN
               for s in subjects) and purposes <= {M.NORM, M.AUTO, M.DICOM_AUTO}:
            return 203, ""
        raise M.PolicyError("several Subject elements are only allowed in template 203")
    if keys == {A_ROLE, A_QUALIFIER, A_PURPOSE} and role == M.HCP and qualifier == M.Q_GLN:
        purpose = first[A_PURPOSE]
        if purpose == M.EMER:
            return 202, ""
        if purpose in (M.NORM, M.AUTO, M.DICOM_AUTO):
            return 203, ""
    if keys == {A_SUBJECT_ID, A_QUALIFIER, A_ROLE}:
        sid = first[A_SUBJECT_ID]
        if role == M.PAT and qualifier == M.Q_SPID:
            return 201, sid
        if role == M.REP and qualifier == M.Q_REP:
            return 303, sid
        if role == M.HCP and qualifier == M.Q_GLN:
            return (304 if reference in M.ALLOWED_REFERENCES[304] else 301), sid
    if keys == {A_ORGANIZATION, A_ROLE} and role == M.HCP:
        return 302, M.plain_oid(first[A_ORGANIZATION])
    raise M.PolicyError("the policy set's target fits no EPR template")
