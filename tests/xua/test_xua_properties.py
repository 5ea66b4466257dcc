"""Property: whatever is changed in a signed assertion or around it in the envelope, the verifier
either refuses with a WS-Security fault or reads exactly what was signed -- never anything else."""
from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from lxml import etree

from gateway.security import faults
from gateway.soap.fault import SoapFault
from support.xua import envelope_with, make_assertion, soap_request

WS_SECURITY_SUBCODES = {faults.SECURITY_TOKEN_UNAVAILABLE, faults.UNSUPPORTED_SECURITY_TOKEN,
                        faults.UNSUPPORTED_ALGORITHM, faults.INVALID_SECURITY, faults.INVALID_SECURITY_TOKEN,
                        faults.FAILED_AUTHENTICATION, faults.FAILED_CHECK, faults.MESSAGE_EXPIRED}


@pytest.fixture(scope="module")
def signed(signer):
    return make_assertion(signer, name="Dr. Anna Beispiel")


def _elements(root):
    return [e for e in root.iter() if isinstance(e.tag, str)]


@st.composite
def mutation(draw):
    kind = draw(st.sampled_from(["text", "attr", "copy-in", "move", "remove", "comment", "wrap-outside"]))
    return kind, draw(st.integers(0, 10_000)), draw(st.integers(0, 10_000)), draw(st.text(min_size=1, max_size=8))


def _mutate(envelope, kind, i, j, text):
    sec_assertion = envelope.find(".//{urn:oasis:names:tc:SAML:2.0:assertion}Assertion")
    els = _elements(sec_assertion)
    a = els[i % len(els)]
    b = els[j % len(els)]
    if kind == "text":
        if len(a) == 0:
            a.text = (a.text or "") + text
    elif kind == "attr":
        names = list(a.attrib)
        if names:
            a.set(names[j % len(names)], a.get(names[j % len(names)]) + text)
        else:
            a.set("ID", sec_assertion.get("ID"))
    elif kind == "copy-in":
        if b is not sec_assertion:
            b.append(copy.deepcopy(sec_assertion if i % 3 == 0 else a))
    elif kind == "move":
        if a is not sec_assertion and b is not a and a not in b.iterancestors() and b is not sec_assertion.getparent():
            if not any(x is a for x in b.iterancestors()):
                b.append(a)
    elif kind == "remove":
        if a is not sec_assertion:
            a.getparent().remove(a)
    elif kind == "comment":
        a.append(etree.Comment(text.replace("--", "")))
    elif kind == "wrap-outside":
        envelope[1][0].append(copy.deepcopy(sec_assertion))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(mutation(), min_size=1, max_size=3))
def test_mutations_are_refused_or_read_unchanged(verifier, signed, steps):
    v = verifier()
    original = v.verify_assertion_bytes(signed).principal
    env = envelope_with(signed)
    for kind, i, j, text in steps:
        try:
            _mutate(env, kind, i, j, text)
        except (ValueError, TypeError):   # lxml refuses a cycle or an invalid value: no message
            continue
    try:
        req = soap_request(env)
    except SoapFault:
        return                            # not even a SOAP message any more
    try:
        claims = v.verify(req.envelope, req.header)
    except SoapFault as fault:
        assert fault.code == "Sender" and fault.subcode in WS_SECURITY_SUBCODES
        return
    got = claims.principal
    assert (got.user_id, got.user_name, got.role, got.acting_id, got.purpose_of_use, got.patient_epr_spid,
            got.organisation_ids, got.home_community_id) == \
        (original.user_id, original.user_name, original.role, original.acting_id, original.purpose_of_use,
         original.patient_epr_spid, original.organisation_ids, original.home_community_id)
