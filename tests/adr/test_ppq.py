"""CH:PPQ: policy sets <-> XACML (round trip, template checks), and PPQ-1/PPQ-2 through the pipeline
on the policy store (PAT, REP, PADM only; nothing revealed about other patients' policy sets)."""
from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.access import RightsSource
from gateway.endpoints.ppq import ppq_transactions
from gateway.pipeline import MemoryAuditSink, Pipeline
from gateway.soap.envelope import SoapRequest
from gateway.store.db import make_engine
from gateway.store.mpi import MpiStore
from gateway.store.policies import PolicyStore
from profiles.adr import engine as E
from profiles.adr import model as M
from profiles.adr import ppq as Q
from profiles.adr import xacml as X
from profiles.context import Principal, RequestContext

from .scenarios import TODAY, choices, policy_sets

SPID, OTHER = "761337610000000019", "761337610000000026"
GLN = "7601000000019"
MPI_OID = "2.16.756.5.30.1.999.1.1"


@settings(max_examples=300, deadline=None)
@given(c=choices(opened=True))
def test_policy_sets_survive_the_xacml_round_trip(c):
    for ps in policy_sets(c):
        el = X.policy_set_element(ps)
        back = X.parse_policy_set(etree.fromstring(etree.tostring(el)))
        assert back.with_changes(description="") == ps


def _broken(ps, edit):
    el = X.policy_set_element(ps)
    edit(el)
    return el


@pytest.mark.parametrize("edit, message", [
    (lambda el: el.set("PolicyCombiningAlgId", "urn:oasis:names:tc:xacml:1.0:policy-combining-algorithm:permit-overrides"),
     "deny-overrides"),
    (lambda el: el.find(X.X + "PolicySetIdReference").__setattr__("text", M.ACCESS_FULL), "cannot reference"),
    (lambda el: el.append(copy.deepcopy(el.find(X.X + "PolicySetIdReference"))), "exactly one"),
    (lambda el: el.find(f".//{X.X}ResourceMatch//{{{X.NS_HL7}}}InstanceIdentifier").set("root", "1.2.3"), "EPR-SPID"),
    (lambda el: el.find(f".//{X.X}SubjectAttributeDesignator").set("AttributeId", "urn:example:other"), "fits no"),
    (lambda el: el.remove(el.find(X.X + "Target")), "no Target"),
])
def test_policy_sets_off_template_are_refused(edit, message):
    with pytest.raises(M.PolicyError, match=message):
        X.parse_policy_set(_broken(M.hcp_access(SPID, GLN, "normal"), edit))


@pytest.fixture
def ppq(db_url):
    engine = make_engine(db_url)
    mpi = MpiStore(engine, MPI_OID)
    for spid in (SPID, OTHER):
        mpi.add_patient(spid, "Muster", "Anna", None, "F")
    store = PolicyStore(engine)
    rights = RightsSource(store, mpi, MPI_OID, today=lambda: TODAY)
    transactions = ppq_transactions(store, rights)
    audit = MemoryAuditSink()

    def call(principal: Principal, action: str, body):
        class Fixed:                                  # the XUA seam stands in: a verified principal
            understood = frozenset()

            def authenticate(self, request, transaction, ctx):
                return principal
        env = etree.Element("{http://www.w3.org/2003/05/soap-envelope}Envelope")
        req = SoapRequest(envelope=env, header=None, body=body, action=action)
        return Pipeline(Fixed(), audit).run(transactions[action], req, RequestContext())

    yield call, store, rights, audit
    engine.dispose()


def pat(spid=SPID):
    return Principal(user_id=spid, role="PAT", purpose_of_use="NORM", patient_epr_spid=spid)


PADM = Principal(user_id="padm-1", role="PADM", purpose_of_use="NORM")


def status(result):
    assert result.fault is None, result.fault and result.fault.reason
    return result.reply.body.get("status")


def returned_sets(result):
    assert result.fault is None, result.fault and result.fault.reason
    body = result.reply.body
    assert body.find(f"{{{Q.NS_SAMLP}}}Status/{{{Q.NS_SAMLP}}}StatusCode").get("Value") == Q.SAML_SUCCESS
    return [X.parse_policy_set(e) for e in body.iter(X.X + "PolicySet")]


def test_the_patient_grants_a_professional_and_queries_its_policy_sets(ppq):
    call, store, rights, audit = ppq
    grant = M.hcp_access(SPID, GLN, "restricted")
    assert status(call(pat(), Q.ACTION_ADD, Q.ppq1_request("add", [grant]))) == Q.STATUS_SUCCESS
    hcp = E.Subject("HCP", GLN, "NORM")
    assert E.read_access(rights.for_spid(SPID), hcp, TODAY).levels == {"normal", "restricted"}
    sets = returned_sets(call(pat(), Q.ACTION_QUERY, Q.ppq2_request(SPID)))
    assert sorted(s.template for s in sets) == [201, 202, 203, 301]
    assert [s.with_changes(description="") for s in sets if s.template == 301] == [grant]
    # update in place, then delete
    assert status(call(pat(), Q.ACTION_UPDATE, Q.ppq1_request(
        "update", [grant.with_changes(reference=M.EXCLUSION_LIST)]))) == Q.STATUS_SUCCESS
    assert E.read_access(rights.for_spid(SPID), E.Subject("HCP", GLN, "EMER"), TODAY).levels == frozenset()
    assert status(call(pat(), Q.ACTION_DELETE, Q.ppq1_request("delete", ids=[grant.policy_set_id]))) == \
        Q.STATUS_SUCCESS
    assert [s.template for s in returned_sets(call(pat(), Q.ACTION_QUERY, Q.ppq2_request(ids=[grant.policy_set_id])))] == []
    assert [e.transaction for e in audit.events] == ["PPQ-1", "PPQ-2", "PPQ-1", "PPQ-1", "PPQ-2"]


def test_only_pat_rep_and_padm_use_ppq_and_only_for_their_patients(ppq):
    call, store, rights, audit = ppq
    hcp = Principal(user_id=GLN, role="HCP", purpose_of_use="NORM", patient_epr_spid=SPID)
    r = call(hcp, Q.ACTION_QUERY, Q.ppq2_request(SPID))
    assert r.fault is not None and r.fault.code == "Sender"
    assert call(Principal(), Q.ACTION_ADD, Q.ppq1_request("add", [M.hcp_access(SPID, GLN, "normal")])).fault
    # the policy administrator feeds any patient (the onboarding: 201 and 203 replace the defaults)
    onboarding = [M.patient_full_access(OTHER), M.provide_level(OTHER, "restricted")]
    assert status(call(PADM, Q.ACTION_ADD, Q.ppq1_request("add", onboarding))) == Q.STATUS_SUCCESS
    assert rights.for_spid(OTHER).default_confidentiality == "restricted"
    # a patient sees nothing of another patient's policy sets, and cannot touch them
    other_sets = store.rights(OTHER).policy_sets
    assert returned_sets(call(pat(), Q.ACTION_QUERY, Q.ppq2_request(ids=[p.policy_set_id for p in other_sets]))) == []
    foreign = call(pat(), Q.ACTION_DELETE, Q.ppq1_request("delete", ids=[other_sets[-1].policy_set_id]))
    unknown = call(pat(), Q.ACTION_DELETE, Q.ppq1_request("delete", ids=["urn:uuid:00000000-0000-0000-0000-000000000000"]))
    assert foreign.fault is not None and unknown.fault is not None
    assert (foreign.fault.code, foreign.fault.detail.tag) == (unknown.fault.code, unknown.fault.detail.tag)
    assert foreign.fault.detail.tag == f"{{{Q.NS_EPR}}}UnknownPolicySetId"
    assert store.get(other_sets[-1].policy_set_id) is not None
    assert status(call(pat(), Q.ACTION_ADD, Q.ppq1_request("add", [M.hcp_access(OTHER, GLN, "normal")]))) == \
        Q.STATUS_FAILURE
    # a representative manages the patient who named it
    store.open_record(SPID)
    store.set_representative(SPID, "rep-1")
    rep = Principal(user_id="rep-1", role="REP", purpose_of_use="NORM", patient_epr_spid=SPID)
    assert status(call(rep, Q.ACTION_ADD, Q.ppq1_request("add", [M.hcp_access(SPID, GLN, "normal")]))) == \
        Q.STATUS_SUCCESS
    rep_other = Principal(user_id="rep-1", role="REP", purpose_of_use="NORM", patient_epr_spid=OTHER)
    assert returned_sets(call(rep_other, Q.ACTION_QUERY, Q.ppq2_request(OTHER))) == []


def test_malformed_requests_and_off_template_sets(ppq):
    call, store, rights, audit = ppq
    bad = _broken(M.hcp_access(SPID, GLN, "normal"),
                  lambda el: el.find(X.X + "PolicySetIdReference").__setattr__("text", M.ACCESS_FULL))
    body = Q.ppq1_request("add", [])
    body.find(f".//{{{Q.NS_SAML}}}Statement").append(bad)
    assert status(call(pat(), Q.ACTION_ADD, body)) == Q.STATUS_FAILURE
    assert not [p for p in store.rights(SPID).policy_sets if p.template == 301]
    r = call(pat(), Q.ACTION_ADD, etree.Element("{urn:example}Other"))
    assert r.fault is not None and "AddPolicyRequest" in r.fault.reason
    r = call(pat(), Q.ACTION_QUERY, Q.ppq2_request())
    assert r.fault is not None


@settings(max_examples=400, deadline=None)
@given(c=choices(opened=True), data=st.data())
def test_a_mutated_policy_set_is_refused_or_read_as_exactly_what_it_says(c, data):
    """Remove an element or change an attribute / text anywhere: the reader either refuses the policy
    set (PolicyError) or returns one that writes back to the same target and reference."""
    sets = policy_sets(c)
    ps = data.draw(st.sampled_from(sets))
    el = X.policy_set_element(ps)
    nodes = [n for n in el.iter() if isinstance(n.tag, str)]
    node = data.draw(st.sampled_from(nodes))
    how = data.draw(st.sampled_from(("remove", "attr", "text")))
    if how == "remove" and node is not el:
        node.getparent().remove(node)
    elif how == "attr" and node.attrib:
        name = data.draw(st.sampled_from(sorted(node.attrib)))
        node.set(name, data.draw(st.sampled_from(("", "x", "2.999", M.ACCESS_FULL, "HCP", "2027-01-01", GLN))))
    else:
        node.text = data.draw(st.sampled_from(("", "x", M.EXCLUSION_LIST, M.ACCESS_RESTRICTED, "2026-13-01")))
    try:
        back = X.parse_policy_set(el)
    except M.PolicyError:
        return
    again = X.policy_set_element(back)
    assert X.parse_policy_set(again).with_changes(description="") == back.with_changes(description="")
    M.check_policy_set(back)
