"""CH:PPQ (Annex 5, amendment 2.1): the Policy Repository's transactions, transport-free.

* PPQ-1 Privacy Policy Feed: ``epr:AddPolicyRequest``, ``epr:UpdatePolicyRequest`` (a SAML 2.0
  Assertion whose ``XACMLPolicyStatement`` carries XACML 2.0 PolicySets) and ``epr:DeletePolicyRequest``
  (a ``XACMLPolicySetIdReferenceStatement`` with PolicySetIdReferences); answered by
  ``epr:EprPolicyRepositoryResponse/@status`` success or failure, or an ``UnknownPolicySetId`` fault.
* PPQ-2 Privacy Policy Retrieve: ``xacml-samlp:XACMLPolicyQuery`` with an XACML Request naming the
  patient (``urn:e-health-suisse:2015:epr-spid`` as II) or PolicySetIdReferences; answered by a
  ``samlp:Response`` with an Assertion holding the policy sets.

Only PAT, REP and PADM use these transactions (each for the patients whose policies it may manage:
the engine's ``Action.POLICY``). :func:`handle_ppq1` / :func:`handle_ppq2` are the use cases; the
store is a port (:class:`PolicyRepository`).
"""
from __future__ import annotations

import datetime as _dt
import uuid
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from lxml import etree

from profiles.adr import model as M
from profiles.adr.xacml import NS_HL7, NS_XACML, parse_policy_set, policy_set_element
from profiles.context import RequestContext
from profiles.outcome import FAILURE, SUCCESS, AuditFacts, Outcome

NS_EPR = "urn:e-health-suisse:2015:policy-administration"
NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
NS_SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
NS_XACML_SAML = "urn:oasis:names:tc:xacml:2.0:profile:saml2.0:v2:schema:assertion"
NS_XACML_SAMLP = "urn:oasis:names:tc:xacml:2.0:profile:saml2.0:v2:schema:protocol"
NS_XACML_CONTEXT = "urn:oasis:names:tc:xacml:2.0:context:schema:os"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"

_A = "urn:e-health-suisse:2015:policy-administration:"
ACTION_ADD, ACTION_UPDATE, ACTION_DELETE = _A + "AddPolicy", _A + "UpdatePolicy", _A + "DeletePolicy"
ACTION_QUERY = _A + "PolicyQuery"
RESPONSE_ACTION = {a: a + "Response" for a in (ACTION_ADD, ACTION_UPDATE, ACTION_DELETE, ACTION_QUERY)}
FAULT_ACTION = {ACTION_UPDATE: _A + "UpdatePolicyFault", ACTION_DELETE: _A + "DeletePolicyFault"}
OPERATION = {ACTION_ADD: "add", ACTION_UPDATE: "update", ACTION_DELETE: "delete"}
REQUEST_ELEMENT = {"add": "AddPolicyRequest", "update": "UpdatePolicyRequest", "delete": "DeletePolicyRequest"}

STATUS_SUCCESS = "urn:e-health-suisse:2015:response-status:success"
STATUS_FAILURE = "urn:e-health-suisse:2015:response-status:failure"
SAML_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
SAML_REQUESTER = "urn:oasis:names:tc:SAML:2.0:status:Requester"
SAML_RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"

#: The roles that use CH:PPQ.
PPQ_ROLES = (M.PAT, M.REP, M.PADM)


class PpqError(ValueError):
    """A request that is not a well-formed PPQ message (answered with a Sender fault)."""


class UnknownPolicySetId(LookupError):
    """Update or delete of a policy set id the repository does not hold (for this caller)."""

    def __init__(self, policy_set_id: str) -> None:
        super().__init__(policy_set_id)
        self.policy_set_id = policy_set_id


@dataclass(frozen=True)
class Ppq1Request:
    operation: str                        # add | update | delete
    policy_sets: tuple[M.PolicySet, ...] = ()
    policy_set_ids: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()        # policy sets that do not follow a template


@dataclass(frozen=True)
class Ppq2Request:
    query_id: str
    epr_spid: str | None = None
    policy_set_ids: tuple[str, ...] = ()


def _statements(assertion) -> list:
    return [s for s in assertion.iter("{%s}Statement" % NS_SAML)]


def parse_ppq1(operation: str, body: etree._Element) -> Ppq1Request:
    if body is None or body.tag != "{%s}%s" % (NS_EPR, REQUEST_ELEMENT[operation]):
        raise PpqError(f"expected epr:{REQUEST_ELEMENT[operation]} in the Body")
    assertion = body.find("{%s}Assertion" % NS_SAML)
    if assertion is None:
        raise PpqError("the request carries no saml:Assertion")
    if operation == "delete":
        ids = tuple((r.text or "").strip() for r in assertion.iter("{%s}PolicySetIdReference" % NS_XACML))
        if not ids or not all(ids):
            raise PpqError("DeletePolicyRequest names no PolicySetIdReference")
        return Ppq1Request(operation, policy_set_ids=ids)
    sets, problems = [], []
    elements = [e for e in assertion.iter("{%s}PolicySet" % NS_XACML) if e.getparent().tag != "{%s}PolicySet" % NS_XACML]
    if not elements:
        raise PpqError(f"{REQUEST_ELEMENT[operation]} carries no PolicySet")
    for el in elements:
        try:
            sets.append(parse_policy_set(el))
        except M.PolicyError as exc:
            problems.append(f"{el.get('PolicySetId') or '?'}: {exc}")
    return Ppq1Request(operation, policy_sets=tuple(sets), problems=tuple(problems))


def parse_ppq2(body: etree._Element) -> Ppq2Request:
    if body is None or body.tag != "{%s}XACMLPolicyQuery" % NS_XACML_SAMLP:
        raise PpqError("expected xacml-samlp:XACMLPolicyQuery in the Body")
    qid = body.get("ID") or ""
    ids = tuple((r.text or "").strip() for r in body.findall("{%s}PolicySetIdReference" % NS_XACML))
    spid = None
    for attr in body.iter("{%s}Attribute" % NS_XACML_CONTEXT):
        if attr.get("AttributeId") == "urn:e-health-suisse:2015:epr-spid":
            ii = attr.find(".//{%s}InstanceIdentifier" % NS_HL7)
            if ii is None or ii.get("root") != M.EPR_SPID_ROOT or not ii.get("extension"):
                raise PpqError("the query's patient must be an EPR-SPID (II root 2.16.756.5.30.1.127.3.10.3)")
            spid = ii.get("extension")
    if spid is None and not ids:
        raise PpqError("XACMLPolicyQuery names neither a patient nor PolicySetIdReferences")
    return Ppq2Request(qid, spid, ids)


class PolicyRepository(Protocol):
    def get(self, policy_set_id: str) -> M.PolicySet | None: ...

    def add(self, sets: Sequence[M.PolicySet]) -> None: ...

    def update(self, sets: Sequence[M.PolicySet]) -> None: ...

    def delete(self, policy_set_ids: Sequence[str]) -> None: ...

    def rights(self, spid: str) -> M.PatientRights: ...


MayManage = Callable[[RequestContext, str], bool]


def repository_response(success: bool) -> etree._Element:
    return etree.Element("{%s}EprPolicyRepositoryResponse" % NS_EPR, nsmap={"epr": NS_EPR},
                         status=STATUS_SUCCESS if success else STATUS_FAILURE)


def handle_ppq1(ctx: RequestContext, request: Ppq1Request, repo: PolicyRepository,
                may_manage: MayManage) -> Outcome:
    """Add, update or delete policy sets; all or nothing. Raises :class:`UnknownPolicySetId` for an
    update/delete of an id not held, or held for a patient the caller may not manage (the same
    answer: nothing is revealed)."""
    facts = AuditFacts(extra={"policy_set_ids": [p.policy_set_id for p in request.policy_sets]
                              or list(request.policy_set_ids)})
    if request.problems:
        return Outcome(repository_response(False), FAILURE, audit=facts)
    if request.operation in ("update", "delete"):
        for psid in request.policy_set_ids or [p.policy_set_id for p in request.policy_sets]:
            held = repo.get(psid)
            if held is None or not may_manage(ctx, held.epr_spid):
                raise UnknownPolicySetId(psid)
    for ps in request.policy_sets:
        if not may_manage(ctx, ps.epr_spid):
            return Outcome(repository_response(False), FAILURE, audit=facts)
    try:
        if request.operation == "add":
            repo.add(request.policy_sets)
        elif request.operation == "update":
            repo.update(request.policy_sets)
        else:
            repo.delete(request.policy_set_ids)
    except LookupError as exc:
        raise UnknownPolicySetId(str(exc)) from None
    except ValueError:
        return Outcome(repository_response(False), FAILURE, audit=facts)
    return Outcome(repository_response(True), SUCCESS, audit=facts)


def _now_text() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def query_response(query_id: str, sets: Sequence[M.PolicySet], status: str = SAML_SUCCESS,
                   issuer: str = "") -> etree._Element:
    nsmap = {"samlp": NS_SAMLP, "saml": NS_SAML, "xacml-saml": NS_XACML_SAML, "xsi": NS_XSI}
    resp = etree.Element("{%s}Response" % NS_SAMLP, nsmap=nsmap, ID="_" + uuid.uuid4().hex, Version="2.0",
                         IssueInstant=_now_text())
    if query_id:
        resp.set("InResponseTo", query_id)
    if issuer:
        etree.SubElement(resp, "{%s}Issuer" % NS_SAML).text = issuer
    etree.SubElement(etree.SubElement(resp, "{%s}Status" % NS_SAMLP), "{%s}StatusCode" % NS_SAMLP, Value=status)
    if status == SAML_SUCCESS:
        assertion = etree.SubElement(resp, "{%s}Assertion" % NS_SAML, ID="_" + uuid.uuid4().hex, Version="2.0",
                                     IssueInstant=_now_text())
        etree.SubElement(assertion, "{%s}Issuer" % NS_SAML).text = issuer or "epd-gateway"
        st = etree.SubElement(assertion, "{%s}Statement" % NS_SAML)
        st.set("{%s}type" % NS_XSI, "xacml-saml:XACMLPolicyStatementType")
        for ps in sets:
            st.append(policy_set_element(ps))
    return resp


def handle_ppq2(ctx: RequestContext, request: Ppq2Request, repo: PolicyRepository, may_manage: MayManage,
                issuer: str = "") -> Outcome:
    """The policy sets of the patient (or of the ids) that the caller may manage; others are left out."""
    if request.epr_spid is not None:
        sets = list(repo.rights(request.epr_spid).policy_sets) if may_manage(ctx, request.epr_spid) else []
    else:
        sets = [ps for ps in (repo.get(i) for i in request.policy_set_ids)
                if ps is not None and may_manage(ctx, ps.epr_spid)]
    facts = AuditFacts(query_id=request.query_id or None, entries_returned=len(sets),
                       extra={"epr_spid": request.epr_spid})
    return Outcome(query_response(request.query_id, sets, issuer=issuer), SUCCESS, audit=facts)


# -- requests (clients, tests) ------------------------------------------------------------------

def _assertion(statement_type: str) -> tuple[etree._Element, etree._Element]:
    nsmap = {"saml": NS_SAML, "xsi": NS_XSI, "xacml-saml": NS_XACML_SAML, "epr": NS_EPR}
    a = etree.Element("{%s}Assertion" % NS_SAML, nsmap=nsmap, ID="_" + uuid.uuid4().hex, Version="2.0",
                      IssueInstant=_now_text())
    etree.SubElement(a, "{%s}Issuer" % NS_SAML).text = "epd-gateway"
    st = etree.SubElement(a, "{%s}Statement" % NS_SAML)
    st.set("{%s}type" % NS_XSI, statement_type)
    return a, st


def ppq1_request(operation: str, sets: Sequence[M.PolicySet] = (), ids: Sequence[str] = ()) -> etree._Element:
    body = etree.Element("{%s}%s" % (NS_EPR, REQUEST_ELEMENT[operation]), nsmap={"epr": NS_EPR})
    if operation == "delete":
        a, st = _assertion("epr:XACMLPolicySetIdReferenceStatementType")
        for i in ids:
            etree.SubElement(st, "{%s}PolicySetIdReference" % NS_XACML, nsmap={"xacml": NS_XACML}).text = i
    else:
        a, st = _assertion("xacml-saml:XACMLPolicyStatementType")
        for ps in sets:
            st.append(policy_set_element(ps))
    body.append(a)
    return body


def ppq2_request(epr_spid: str | None = None, ids: Sequence[str] = ()) -> etree._Element:
    nsmap = {"xacml-samlp": NS_XACML_SAMLP, "xacml-context": NS_XACML_CONTEXT, "xacml": NS_XACML, "hl7": NS_HL7}
    q = etree.Element("{%s}XACMLPolicyQuery" % NS_XACML_SAMLP, nsmap=nsmap, ID="_" + uuid.uuid4().hex,
                      Version="2.0", IssueInstant=_now_text())
    if epr_spid is not None:
        req = etree.SubElement(q, "{%s}Request" % NS_XACML_CONTEXT)
        etree.SubElement(req, "{%s}Subject" % NS_XACML_CONTEXT)
        res = etree.SubElement(req, "{%s}Resource" % NS_XACML_CONTEXT)
        attr = etree.SubElement(res, "{%s}Attribute" % NS_XACML_CONTEXT, AttributeId="urn:e-health-suisse:2015:epr-spid",
                                DataType="urn:hl7-org:v3#II")
        av = etree.SubElement(attr, "{%s}AttributeValue" % NS_XACML_CONTEXT)
        etree.SubElement(av, "{%s}InstanceIdentifier" % NS_HL7, root=M.EPR_SPID_ROOT, extension=epr_spid)
        etree.SubElement(req, "{%s}Action" % NS_XACML_CONTEXT)
        etree.SubElement(req, "{%s}Environment" % NS_XACML_CONTEXT)
    for i in ids:
        etree.SubElement(q, "{%s}PolicySetIdReference" % NS_XACML).text = i
    return q
