"""XUA verification in gateway/security: every WS-Security fault code, the accepted signature shape,
the XSW1-XSW8 signature wrapping family, the verification cache."""
from __future__ import annotations

import base64
import copy
import datetime as dt

import pytest
from lxml import etree

from gateway.security import faults
from gateway.security.signature import NS_EC
from gateway.security.trust import TrustStore
from gateway.security.xua import AssertionVerifier
from gateway.soap.fault import SoapFault
from profiles.xua import constants as X
from support.xua import SAML, envelope_with, make_assertion, resign, soap_request

DS = "{%s}" % X.NS_DS
UTC = dt.timezone.utc


def fault_of(verifier, envelope) -> SoapFault:
    req = soap_request(envelope)
    with pytest.raises(SoapFault) as info:
        verifier.verify(req.envelope, req.header)
    assert info.value.code == "Sender"
    return info.value


def ok(verifier, envelope):
    req = soap_request(envelope)
    return verifier.verify(req.envelope, req.header)


@pytest.fixture
def good(signer):
    return make_assertion(signer, name="Dr. Anna Beispiel")


def test_a_good_assertion_is_accepted(verifier, good):
    claims = ok(verifier(), envelope_with(good))
    assert claims.principal.role == "HCP"
    assert claims.principal.user_name == "Dr. Anna Beispiel"


# -- every fault code -----------------------------------------------------------------------------

def test_no_security_header_is_security_token_unavailable(verifier):
    assert fault_of(verifier(), envelope_with()).subcode == faults.SECURITY_TOKEN_UNAVAILABLE


def test_empty_security_header_is_security_token_unavailable(verifier, good):
    env = envelope_with(good)
    sec = env.find(".//{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd}Security")
    for c in list(sec):
        sec.remove(c)
    assert fault_of(verifier(), env).subcode == faults.SECURITY_TOKEN_UNAVAILABLE


def test_other_token_is_unsupported_security_token(verifier):
    env = envelope_with()
    wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
    header = env[0]
    sec = etree.SubElement(header, f"{{{wsse}}}Security")
    etree.SubElement(sec, f"{{{wsse}}}UsernameToken")
    assert fault_of(verifier(), env).subcode == faults.UNSUPPORTED_SECURITY_TOKEN


def test_tampered_claim_is_failed_check(verifier, good):
    tampered = good.replace(b"Dr. Anna Beispiel", b"Dr. Evil Beispiel")
    assert fault_of(verifier(), envelope_with(tampered)).subcode == faults.FAILED_CHECK


def test_tampered_signature_value_is_failed_check(verifier, good):
    a = etree.fromstring(good)
    sv = a.find(f"{DS}Signature/{DS}SignatureValue")
    raw = bytearray(base64.b64decode("".join(sv.itertext())))
    raw[10] ^= 0xFF
    sv.text = base64.b64encode(bytes(raw)).decode()
    assert fault_of(verifier(), envelope_with(a)).subcode == faults.FAILED_CHECK


def test_unsigned_assertion_is_failed_check(verifier, good):
    a = etree.fromstring(good)
    a.remove(a.find(DS + "Signature"))
    assert fault_of(verifier(), envelope_with(a)).subcode == faults.FAILED_CHECK


def test_expired_is_message_expired(verifier, good):
    later = dt.datetime.now(UTC) + dt.timedelta(minutes=5, seconds=61)
    assert fault_of(verifier(later), envelope_with(good)).subcode == faults.MESSAGE_EXPIRED
    within_skew = dt.datetime.now(UTC) + dt.timedelta(minutes=5, seconds=30)
    assert ok(verifier(within_skew), envelope_with(good)).principal.role == "HCP"


def test_untrusted_signer_is_failed_authentication(verifier, stranger):
    foreign = make_assertion(stranger)
    assert fault_of(verifier(), envelope_with(foreign)).subcode == faults.FAILED_AUTHENTICATION


def test_signer_issued_by_a_trusted_ca_is_accepted_and_expired_signer_refused(ca, signer):
    v = AssertionVerifier(TrustStore([ca.cert]))
    assert ok(v, envelope_with(make_assertion(signer))).principal.role == "HCP"
    old = ca.issue("expired provider", start=dt.datetime.now(UTC) - dt.timedelta(days=40), days=10)
    assert fault_of(v, envelope_with(make_assertion(old))).subcode == faults.FAILED_AUTHENTICATION


def test_wrong_content_is_invalid_security_token(verifier, signer):
    a = etree.fromstring(make_assertion(signer))
    role = a.find(f".//{{{X.NS_HL7}}}Role")
    role.set("code", "ASS")      # an ASS code in the role attribute, properly signed
    data = resign(a, signer)
    f = fault_of(verifier(), envelope_with(data))
    assert f.subcode == faults.INVALID_SECURITY_TOKEN
    assert "DelegationRestriction" in f.reason


def test_two_security_headers_or_two_assertions_is_invalid_security(verifier, signer, good):
    other = make_assertion(signer)
    assert fault_of(verifier(), envelope_with(good, other)).subcode == faults.INVALID_SECURITY
    env = envelope_with(good)
    header = env[0]
    header.append(copy.deepcopy(header[-1]))
    assert fault_of(verifier(), env).subcode == faults.INVALID_SECURITY


def test_sha1_is_unsupported_algorithm(verifier, signer):
    a = etree.fromstring(make_assertion(signer))
    for sig_method, digest in ((None, "http://www.w3.org/2000/09/xmldsig#sha1"),
                               ("http://www.w3.org/2000/09/xmldsig#rsa-sha1", None)):
        b = copy.deepcopy(a)
        if digest:
            b.find(f".//{DS}DigestMethod").set("Algorithm", digest)
        if sig_method:
            b.find(f".//{DS}SignatureMethod").set("Algorithm", sig_method)
        assert fault_of(verifier(), envelope_with(b)).subcode == faults.UNSUPPORTED_ALGORITHM


def test_stronger_algorithms_are_accepted(verifier, signer):
    from gateway.security.provider import AssertionRequest, build_assertion
    from gateway.security.signature import sign_assertion
    a = build_assertion(AssertionRequest(role="PAT", subject="761337610411353650",
                                         patient="761337610411353650",
                                         home_community_id="urn:oid:2.16.756.5.30.1.999.1"))
    sign_assertion(a, signer.key_pem, signer.cert_pem,
                   signature_method="http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
                   digest_method="http://www.w3.org/2001/04/xmlenc#sha512")
    assert ok(verifier(), envelope_with(a)).principal.role == "PAT"


def test_malformed_assertion_is_invalid_security_token(verifier, signer):
    a = etree.fromstring(make_assertion(signer))
    a.set("Version", "1.1")
    assert fault_of(verifier(), envelope_with(resign(a, signer))).subcode == faults.INVALID_SECURITY_TOKEN


# -- the accepted signature shape ------------------------------------------------------------------

def test_extra_transform_is_refused(verifier, good):
    a = etree.fromstring(good)
    transforms = a.find(f".//{DS}Transforms")
    etree.SubElement(transforms, DS + "Transform", Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116")
    assert fault_of(verifier(), envelope_with(a)).subcode == faults.FAILED_CHECK
    b = etree.fromstring(good)
    transforms = b.find(f".//{DS}Transforms")
    transforms.remove(transforms[1])    # enveloped only (inclusive c14n by default)
    assert fault_of(verifier(), envelope_with(b)).subcode == faults.FAILED_CHECK


def test_reference_to_another_id_or_empty_uri_is_refused(verifier, good):
    for uri in ("", "#other", None):
        a = etree.fromstring(good)
        ref = a.find(f".//{DS}Reference")
        if uri is None:
            del ref.attrib["URI"]
        else:
            ref.set("URI", uri)
        assert fault_of(verifier(), envelope_with(a)).subcode == faults.FAILED_CHECK


def test_signature_with_object_or_second_reference_is_refused(verifier, good):
    a = etree.fromstring(good)
    sig = a.find(DS + "Signature")
    etree.SubElement(sig, DS + "Object").text = "x"
    assert fault_of(verifier(), envelope_with(a)).subcode == faults.FAILED_CHECK
    b = etree.fromstring(good)
    si = b.find(f"{DS}Signature/{DS}SignedInfo")
    si.append(copy.deepcopy(si.find(DS + "Reference")))
    assert fault_of(verifier(), envelope_with(b)).subcode == faults.FAILED_CHECK


def test_duplicate_id_in_the_envelope_is_refused(verifier, good):
    a = etree.fromstring(good)
    env = envelope_with(a)
    body_child = env[1][0]
    body_child.set("ID", a.get("ID"))
    assert fault_of(verifier(), env).subcode == faults.INVALID_SECURITY


def test_inclusive_namespaces_prefix_list_is_honoured(verifier, signer):
    """The samples' shape: exc-c14n with PrefixList 'del xsd' (xsi:type values use xsd:)."""
    a = etree.fromstring(make_assertion(signer))
    assert a.find(f".//{{{NS_EC}}}InclusiveNamespaces").get("PrefixList") == "del xsd"


# -- XSW1-XSW8 (Somorovsky et al. 2012, as SAML Raider names them), with wsse:Security as the
# container that a samlp:Response is in the browser profile. Each is refused twice over: in the
# envelope (exactly one assertion, unique ID) and as a standalone token (the token element alone:
# nested assertion, duplicate ID, or a signature that does not verify over what would be read).

def _evil(original: etree._Element, *, keep_id: bool, keep_signature: bool) -> etree._Element:
    evil = copy.deepcopy(original)
    for v in evil.iter(SAML + "AttributeValue"):
        if v.text == "Dr. Anna Beispiel":
            v.text = "Dr. Mallory"
    evil.find(f"{SAML}Subject/{SAML}NameID").text = "7601000000033"
    if not keep_id:
        evil.set("ID", "_evil")
    if not keep_signature:
        evil.remove(evil.find(DS + "Signature"))
    return evil


def xsw1(orig):   # evil unsigned clone; the original inside the clone's copied Signature
    evil = _evil(orig, keep_id=False, keep_signature=True)
    evil.find(DS + "Signature").append(copy.deepcopy(orig))
    return [evil]


def xsw2(orig):   # like 1, the original as a detached sibling before the clone's Signature
    evil = _evil(orig, keep_id=False, keep_signature=True)
    evil.find(DS + "Signature").addprevious(copy.deepcopy(orig))
    return [evil]


def xsw3(orig):   # evil assertion with the same ID before the original, both in wsse:Security
    return [_evil(orig, keep_id=True, keep_signature=False), copy.deepcopy(orig)]


def xsw4(orig):   # evil assertion with the same ID wrapping the original
    evil = _evil(orig, keep_id=True, keep_signature=False)
    evil.append(copy.deepcopy(orig))
    return [evil]


def xsw5(orig):   # evil assertion keeping the signature; an unsigned copy of the original after it
    evil = _evil(orig, keep_id=True, keep_signature=True)
    copy_ = copy.deepcopy(orig)
    copy_.remove(copy_.find(DS + "Signature"))
    return [evil, copy_]


def xsw6(orig):   # evil assertion keeping the signature; the original inside that signature
    evil = _evil(orig, keep_id=True, keep_signature=True)
    evil.find(DS + "Signature").append(copy.deepcopy(orig))
    return [evil]


def xsw7(orig):   # evil assertion with an Advice (Extensions) holding the original
    evil = _evil(orig, keep_id=True, keep_signature=False)
    advice = etree.Element(SAML + "Advice")
    advice.append(copy.deepcopy(orig))
    evil.find(SAML + "Conditions").addnext(advice)
    return [evil]


def xsw8(orig):   # evil keeping the signature; a ds:Object in it holds the original, unsigned
    evil = _evil(orig, keep_id=True, keep_signature=True)
    inner = copy.deepcopy(orig)
    inner.remove(inner.find(DS + "Signature"))
    obj = etree.SubElement(evil.find(DS + "Signature"), DS + "Object")
    obj.append(inner)
    return [evil]


@pytest.mark.parametrize("attack", [xsw1, xsw2, xsw3, xsw4, xsw5, xsw6, xsw7, xsw8],
                         ids=lambda f: f.__name__.upper())
def test_xsw_attacks_are_refused(attack, verifier, good):
    v = verifier()
    orig = etree.fromstring(good)
    tokens = attack(orig)
    env = envelope_with(*[etree.tostring(t) for t in tokens])
    f = fault_of(v, env)
    assert f.subcode in (faults.INVALID_SECURITY, faults.FAILED_CHECK)
    # the token element alone (as if the envelope checks were not there) is refused too
    with pytest.raises(SoapFault) as info:
        v.verify_assertion_bytes(etree.tostring(tokens[0]))
    assert info.value.subcode in (faults.INVALID_SECURITY, faults.FAILED_CHECK)


@pytest.mark.parametrize("place", ["body", "other-header"])
def test_original_moved_out_of_security_with_evil_in_it_is_refused(place, verifier, good):
    orig = etree.fromstring(good)
    evil = _evil(orig, keep_id=False, keep_signature=False)
    env = envelope_with(etree.tostring(evil))
    target = env[1][0] if place == "body" else etree.SubElement(env[0], "{urn:x}Wrapper")
    target.append(copy.deepcopy(orig))
    assert fault_of(verifier(), env).subcode == faults.INVALID_SECURITY


def test_the_verified_element_is_the_one_read(verifier, good):
    """An attacker adding unsigned attributes next to the signed ones changes the digest."""
    a = etree.fromstring(good)
    st = a.find(SAML + "AttributeStatement")
    extra = copy.deepcopy(st.find(SAML + "Attribute"))
    st.append(extra)
    assert fault_of(verifier(), envelope_with(a)).subcode == faults.FAILED_CHECK


# -- cache -------------------------------------------------------------------------------------------

def test_reused_assertion_is_verified_once_and_time_still_checked(signer, good):
    clock = {"now": dt.datetime.now(UTC)}
    v = AssertionVerifier(TrustStore([signer.cert]), now=lambda: clock["now"], cache_size=2)
    for _ in range(3):
        ok(v, envelope_with(good))
    assert (v.stats.verified, v.stats.cache_hits) == (1, 2)
    clock["now"] += dt.timedelta(minutes=10)
    assert fault_of(v, envelope_with(good)).subcode == faults.MESSAGE_EXPIRED
    # bounded: three other assertions push the first out
    clock["now"] = dt.datetime.now(UTC)
    for i in range(3):
        ok(v, envelope_with(make_assertion(signer, name=f"user {i}")))
    ok(v, envelope_with(good))
    assert v.stats.verified == 5
    # a tampered copy of a cached assertion is not a cache hit
    assert fault_of(v, envelope_with(good.replace(b"Dr. Anna", b"Dr. Evil"))).subcode == faults.FAILED_CHECK


def test_without_keyinfo_the_trusted_keys_are_tried(verifier, signer, stranger):
    for who, expected in ((signer, None), (stranger, faults.FAILED_CHECK)):
        a = etree.fromstring(make_assertion(who))
        sig = a.find(DS + "Signature")
        sig.remove(sig.find(DS + "KeyInfo"))
        env = envelope_with(a)
        if expected is None:
            assert ok(verifier(), env).principal.role == "HCP"
        else:
            assert fault_of(verifier(), env).subcode == expected


def test_concurrent_verification_from_the_thread_pool(verifier, signer):
    """Handlers run in the reactor's thread pool: concurrent verifications (and the cache) agree."""
    from concurrent.futures import ThreadPoolExecutor
    v = verifier(cache_size=4)
    assertions = [make_assertion(signer, name=f"user {i}") for i in range(12)]
    envelopes = [soap_request(envelope_with(assertions[i % 12])) for i in range(96)]
    with ThreadPoolExecutor(8) as pool:
        names = list(pool.map(lambda r: v.verify(r.envelope, r.header).principal.user_name, envelopes))
    assert names == [f"user {i % 12}" for i in range(96)]


def test_signedinfo_c14n_with_inclusive_namespaces_is_accepted(verifier, signer):
    """Some providers give SignedInfo's exc-c14n a PrefixList too; it must then verify as signed."""
    import xmlsec
    from gateway.security.provider import AssertionRequest, build_assertion
    from gateway.security.signature import sign_assertion
    a = build_assertion(AssertionRequest(role="PAT", subject="761337610411353650", patient="761337610411353650",
                                         home_community_id="urn:oid:2.16.756.5.30.1.999.1"))
    sign_assertion(a, signer.key_pem, signer.cert_pem, inclusive_prefixes="del xsd")
    # re-sign with a PrefixList on SignedInfo's CanonicalizationMethod
    sig = a.find(DS + "Signature")
    etree.SubElement(sig.find(f"{DS}SignedInfo/{DS}CanonicalizationMethod"), "{%s}InclusiveNamespaces" % NS_EC,
                     nsmap={"ec": NS_EC}).set("PrefixList", "xsd")
    ctx = xmlsec.SignatureContext()
    ctx.register_id(a, "ID")
    key = xmlsec.Key.from_memory(signer.key_pem, xmlsec.constants.KeyDataFormatPem)
    key.load_cert_from_memory(signer.cert_pem, xmlsec.constants.KeyDataFormatCertPem)
    ctx.key = key
    ctx.sign(sig)
    assert ok(verifier(), envelope_with(a)).principal.role == "PAT"
    b = copy.deepcopy(a)
    etree.SubElement(b.find(f".//{DS}CanonicalizationMethod"), DS + "Transform")
    assert fault_of(verifier(), envelope_with(b)).subcode == faults.FAILED_CHECK


def test_ppq1_payload_assertions_in_the_body_are_not_the_x_user_assertion(verifier, good, signer):
    """Finding (issue 10 wiring): a CH:PPQ-1 request carries its policy sets in a saml2:Assertion
    in the Body (AddPolicyRequest, UpdatePolicyRequest, DeletePolicyRequest), next to the X-User
    Assertion in wsse:Security; counting assertions in the whole envelope refused every PPQ-1.
    With ``payload_assertions`` the Body's assertions are the payload: the header's one is still the
    only one verified and read, a second one in a header is still refused, and the Body may not
    carry the X-User Assertion's ID."""
    from profiles.adr import model as M
    from profiles.adr import ppq as Q
    body = Q.ppq1_request("add", [M.hcp_access("761337610411353650", "7601000000019", "normal")])
    env = envelope_with(good, body=body)
    assert fault_of(verifier(), env).subcode == faults.INVALID_SECURITY      # default: one in the envelope
    req = soap_request(env)
    claims = verifier().verify(req.envelope, req.header, payload_assertions=True)
    assert claims.principal.user_id == "7601000000019"
    # still exactly one in the headers
    two = envelope_with(good, make_assertion(signer, subject="7601000000026"), body=Q.ppq1_request("add", []))
    req = soap_request(two)
    with pytest.raises(SoapFault) as info:
        verifier().verify(req.envelope, req.header, payload_assertions=True)
    assert info.value.subcode == faults.INVALID_SECURITY
    # the signed original moved into the Body under an evil header token: the ID is not unique
    orig = etree.fromstring(good)
    evil = _evil(orig, keep_id=True, keep_signature=True)
    body = Q.ppq1_request("add", [])
    body.append(copy.deepcopy(orig))
    req = soap_request(envelope_with(etree.tostring(evil), body=body))
    with pytest.raises(SoapFault) as info:
        verifier().verify(req.envelope, req.header, payload_assertions=True)
    assert info.value.subcode in (faults.INVALID_SECURITY, faults.FAILED_CHECK)
