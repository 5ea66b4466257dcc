"""XDS over mutual TLS with CH:XUA against the real server (``epd-gateway serve``, 127.0.0.1):
ITI-41, ITI-18 (zeep) and ITI-43 with an assertion succeed; without one, or with a foreign, expired or
wrong one, each is a WS-Security fault; an assertion for another patient finds nothing; PIX (mutual
TLS alone) needs no assertion. Then ``serve --demo`` with ``epd-gateway xua issue``."""
from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from gateway.clients.soap import SoapClient, SoapFaultError
from gateway.clients.submission import DocumentSpec, provide_and_register_request
from gateway.clients.xds import XdsClient, registry_errors, response_status
from gateway.config import Settings
from gateway.security import faults
from gateway.security.provider import AssertionRequest, build_assertion
from profiles.xds import constants as C
from support.gateway_proc import make_gateway
from support.pki import TestCA, self_signed
from support.xua import make_assertion, resign

pytestmark = pytest.mark.integration
REPOSITORY_UID = Settings().repository_unique_id
SPID = "761337610411353650"
SPID2 = "761337610433933946"
GLN = "7601000000019"     # make_assertion's default HCP


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = tmp_path_factory.mktemp("xua-gw")
    pki = d / "pki"
    ca = TestCA("community test CA")
    server_cert, server_key = ca.issue("127.0.0.1", server=True).write(pki, "server")
    client = ca.issue("his.spital.example", client=True)
    client_cert, client_key = client.write(pki, "client")
    signer = ca.issue("test X-Assertion Provider")
    (pki / "ca.pem").write_bytes(ca.cert_pem)
    (pki / "xua-trust.pem").write_bytes(signer.cert_pem)
    gw = make_gateway(d / "data", tls_cert=str(server_cert), tls_key=str(server_key),
                      tls_client_ca=str(pki / "ca.pem"), xua_trust=str(pki / "xua-trust.pem"))
    gw.verify = str(pki / "ca.pem")
    gw.cert = (str(client_cert), str(client_key))
    gw.pid = gw.add_patient(SPID)
    gw.pid2 = gw.add_patient(SPID2, "Other", "Otto")
    for spid in (SPID, SPID2):   # the patients let the assertions' professional read normal documents (CH:ADR)
        gw.cli("policy", "grant", "--patient", spid, "--gln", GLN, "--level", "normal")
    gw.start("--workers", "2")
    yield gw, signer
    gw.stop()


def _xds(gw, assertion):
    return XdsClient(gw.repository_url, gw.registry_url, timeout=30, verify=gw.verify, cert=gw.cert,
                     assertion=assertion)


def _find(patient_id: str) -> etree._Element:
    Q, R = "{%s}" % C.NS_QUERY, "{%s}" % C.NS_RIM
    req = etree.Element(Q + "AdhocQueryRequest", nsmap={"query": C.NS_QUERY, "rim": C.NS_RIM})
    etree.SubElement(req, Q + "ResponseOption", returnType="LeafClass", returnComposedObjects="true")
    aq = etree.SubElement(req, R + "AdhocQuery", id="urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d")
    for name, value in (("$XDSDocumentEntryPatientId", f"'{patient_id}'"),
                        ("$XDSDocumentEntryStatus", f"('{C.STATUS_APPROVED}')")):
        slot = etree.SubElement(aq, R + "Slot", name=name)
        etree.SubElement(etree.SubElement(slot, R + "ValueList"), R + "Value").text = value
    return req


def _uids(response) -> set[str]:
    return {ei.get("value") for ei in response.iter("{%s}ExternalIdentifier" % C.NS_RIM)
            if ei.get("identificationScheme") == C.DE_UNIQUE_ID}


def test_xds_over_mutual_tls_with_an_assertion(env):
    gw, signer = env
    assertion = make_assertion(signer, patient=SPID, name="Dr. Anna Beispiel")
    doc = DocumentSpec(b"%PDF-1.4 Austrittsbericht", mime_type="application/pdf")
    with _xds(gw, assertion) as xds:
        body, parts = provide_and_register_request(gw.pid, [doc])
        rr = xds.provide_and_register(body, parts)
        assert response_status(rr) == C.RESPONSE_SUCCESS, registry_errors(rr)
        found = xds.stored_query(_find(gw.pid))            # zeep, same assertion reused
        assert response_status(found) == C.RESPONSE_SUCCESS
        assert doc.unique_id in _uids(found)
        rr, docs = xds.retrieve([(REPOSITORY_UID, doc.unique_id)])
        assert response_status(rr) == C.RESPONSE_SUCCESS
        assert [d.read_bytes() for d in docs] == [doc.content]


def test_an_assertion_for_another_patient_finds_nothing(env):
    gw, signer = env
    doc = DocumentSpec(b"only for the first patient", mime_type="text/plain")
    with _xds(gw, make_assertion(signer, patient=SPID)) as xds:
        body, parts = provide_and_register_request(gw.pid, [doc])
        assert response_status(xds.provide_and_register(body, parts)) == C.RESPONSE_SUCCESS
    with _xds(gw, make_assertion(signer, patient=SPID2)) as other:
        found = other.stored_query(_find(gw.pid))
        assert response_status(found) == C.RESPONSE_SUCCESS
        assert _uids(found) == set()


@pytest.mark.parametrize("case,subcode", [
    ("none", faults.SECURITY_TOKEN_UNAVAILABLE),
    ("foreign", faults.FAILED_AUTHENTICATION),
    ("tampered", faults.FAILED_CHECK),
    ("expired", faults.MESSAGE_EXPIRED),
    ("ass-role", faults.INVALID_SECURITY_TOKEN),
])
def test_every_xds_transaction_refuses_without_a_valid_assertion(env, case, subcode):
    gw, signer = env
    if case == "none":
        assertion = None
    elif case == "foreign":
        assertion = make_assertion(self_signed("rogue provider"))
    elif case == "tampered":
        assertion = make_assertion(signer, name="Dr. Anna").replace(b"Dr. Anna", b"Dr. Evil")
    elif case == "expired":
        a = build_assertion(AssertionRequest(role="PAT", subject=SPID, patient=SPID,
                                             home_community_id="urn:oid:2.16.756.5.30.1.999.1",
                                             now=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)))
        assertion = resign(a, signer)
    else:
        a = etree.fromstring(make_assertion(signer))
        a.find(".//{urn:hl7-org:v3}Role").set("code", "ASS")
        assertion = resign(a, signer)
    doc = DocumentSpec(b"refused", mime_type="text/plain")
    with _xds(gw, assertion) as xds:
        body, parts = provide_and_register_request(gw.pid, [doc])
        calls = [lambda: xds.provide_and_register(body, parts),
                 lambda: xds.stored_query(_find(gw.pid)),
                 lambda: xds.retrieve([(REPOSITORY_UID, "1.2.3.4")])]
        for call in calls:
            with pytest.raises(SoapFaultError) as info:
                call()
            assert (info.value.code, info.value.subcode, info.value.http_status) == ("Sender", subcode, 400)


def test_pix_needs_mutual_tls_only(env):
    gw, _signer = env
    from lxml import etree as ET
    body = ET.Element("{urn:hl7-org:v3}PRPA_IN201309UV02", nsmap={None: "urn:hl7-org:v3"})
    client = SoapClient(gw.url("/pix"), timeout=30, verify=gw.verify, cert=gw.cert)
    try:
        resp = client.call("urn:hl7-org:v3:PRPA_IN201309UV02", body)
        assert resp.body is not None
    except SoapFaultError as exc:   # an HL7 refusal of the empty query is fine: no WS-Security fault
        assert exc.subcode is None or "wss" not in exc.subcode


def test_serve_demo_trusts_the_development_provider(tmp_path):
    import re
    gw = make_gateway(tmp_path)
    gw.start("--workers", "1", "--demo")
    try:
        text = "".join(gw.output)
        assert "NOT FOR PRODUCTION" in text
        pid = re.search(r"demo patient Franz Muster: MPI-PID (\S+),", text).group(1)
        issued = gw.cli("xua", "issue", "--role", "HCP", "--subject", "7601000000019", "--name", "Dr. Demo",
                        "--patient", "761337610411353650", "--organization", "2.16.756.5.30.1.999.7")
        assertion = issued.stdout.strip().encode()
        assert "NOT FOR PRODUCTION" in issued.stderr
        # the patient lets the professional read normal documents (CH:ADR, enforced with XUA)
        gw.cli("policy", "grant", "--patient", "761337610411353650", "--gln", "7601000000019", "--level", "normal")
        with XdsClient(gw.repository_url, gw.registry_url, timeout=30) as anonymous:
            with pytest.raises(SoapFaultError) as info:
                anonymous.stored_query(_find(pid))
            assert info.value.subcode == faults.SECURITY_TOKEN_UNAVAILABLE
        with XdsClient(gw.repository_url, gw.registry_url, timeout=30, assertion=assertion) as xds:
            found = xds.stored_query(_find(pid))
            assert response_status(found) == C.RESPONSE_SUCCESS
            assert len(_uids(found)) == 2
    finally:
        gw.stop()


def test_without_demo_the_development_provider_is_not_trusted(tmp_path, env):
    gw, _signer = env
    other = make_gateway(tmp_path)
    issued = other.cli("xua", "issue", "--role", "PAT", "--subject", SPID, "--patient", SPID)
    with _xds(gw, issued.stdout.strip().encode()) as xds:
        with pytest.raises(SoapFaultError) as info:
            xds.stored_query(_find(gw.pid))
        assert info.value.subcode == faults.FAILED_AUTHENTICATION


def test_provide_and_retrieve_for_another_patient_are_refused_revealing_nothing(env):
    gw, signer = env
    mine = DocumentSpec(b"patient two's document", mime_type="text/plain")
    with _xds(gw, make_assertion(signer, patient=SPID2)) as xds2:
        body, parts = provide_and_register_request(gw.pid2, [mine])
        assert response_status(xds2.provide_and_register(body, parts)) == C.RESPONSE_SUCCESS
    with _xds(gw, make_assertion(signer, patient=SPID)) as xds:
        # ITI-41 for patient two with patient one's assertion
        body, parts = provide_and_register_request(gw.pid2, [DocumentSpec(b"x", mime_type="text/plain")])
        rr = xds.provide_and_register(body, parts)
        assert response_status(rr) == C.RESPONSE_FAILURE
        assert [e["errorCode"] for e in registry_errors(rr)][0] == "XDSPatientIdDoesNotMatch"
        assert SPID2 not in str(registry_errors(rr))
        # ITI-43 of patient two's document: answered like an unknown document
        rr, docs = xds.retrieve([(REPOSITORY_UID, mine.unique_id)])
        unknown_rr, _ = xds.retrieve([(REPOSITORY_UID, "1.2.3.4.5.404")])
        assert docs == [] and response_status(rr) == C.RESPONSE_FAILURE
        assert [e["errorCode"] for e in registry_errors(rr)] == [e["errorCode"] for e in registry_errors(unknown_rr)] \
            == ["XDSDocumentUniqueIdError"]


def _get_documents(unique_id: str) -> etree._Element:
    Q, R = "{%s}" % C.NS_QUERY, "{%s}" % C.NS_RIM
    req = etree.Element(Q + "AdhocQueryRequest", nsmap={"query": C.NS_QUERY, "rim": C.NS_RIM})
    etree.SubElement(req, Q + "ResponseOption", returnType="LeafClass", returnComposedObjects="true")
    aq = etree.SubElement(req, R + "AdhocQuery", id="urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4")
    slot = etree.SubElement(aq, R + "Slot", name="$XDSDocumentEntryUniqueId")
    etree.SubElement(etree.SubElement(slot, R + "ValueList"), R + "Value").text = f"('{unique_id}')"
    return req


def test_get_documents_by_unique_id_leaves_out_another_patients_entries(env):
    gw, signer = env
    doc = DocumentSpec(b"patient two, by uniqueId", mime_type="text/plain")
    with _xds(gw, make_assertion(signer, patient=SPID2)) as xds2:
        body, parts = provide_and_register_request(gw.pid2, [doc])
        assert response_status(xds2.provide_and_register(body, parts)) == C.RESPONSE_SUCCESS
        assert _uids(xds2.stored_query(_get_documents(doc.unique_id))) == {doc.unique_id}
    with _xds(gw, make_assertion(signer, patient=SPID)) as xds:
        found = xds.stored_query(_get_documents(doc.unique_id))
        assert response_status(found) == C.RESPONSE_SUCCESS
        assert _uids(found) == set()
