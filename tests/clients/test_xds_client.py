"""gateway.clients.xds.XdsClient against the real gateway: ITI-41/43 over MTOM, ITI-42/18 over zeep."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from lxml import etree

from gateway.clients.soap import SoapFaultError, SoapTransportError
from gateway.clients.submission import DocumentSpec, provide_and_register_request, submit_objects_request
from gateway.clients.xds import (SameOriginTransport, XdsClient, registry_errors, response_status)
from gateway.config import Settings
from gateway.soap.envelope import NS_SOAP12, NS_WSA
from profiles.xds import constants as C

pytestmark = pytest.mark.integration

REPOSITORY_UID = Settings().repository_unique_id


@pytest.fixture(scope="module")
def patient_id(gateway_server):
    return gateway_server.add_patient("761337610411353650", "Muster", "Anna", birth_date="1980-01-02", gender="F")


@pytest.fixture()
def xds(gateway_server, tmp_path):
    # a small spool threshold so that the larger test document comes back as a file
    client = XdsClient(gateway_server.url("/xds/repository"), gateway_server.url("/xds/registry"),
                       timeout=30, spool_threshold=64 * 1024, download_dir=tmp_path / "downloads")
    yield client
    client.close()


def _find_documents_request(patient_id: str) -> etree._Element:
    Q, R = "{%s}" % C.NS_QUERY, "{%s}" % C.NS_RIM
    req = etree.Element(Q + "AdhocQueryRequest", nsmap={"query": C.NS_QUERY, "rim": C.NS_RIM})
    etree.SubElement(req, Q + "ResponseOption", returnType="LeafClass", returnComposedObjects="true")
    aq = etree.SubElement(req, R + "AdhocQuery", id="urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d")
    for name, value in (("$XDSDocumentEntryPatientId", f"'{patient_id}'"),
                        ("$XDSDocumentEntryStatus", f"('{C.STATUS_APPROVED}')")):
        slot = etree.SubElement(aq, R + "Slot", name=name)
        etree.SubElement(etree.SubElement(slot, R + "ValueList"), R + "Value").text = value
    return req


def test_provide_and_register_then_retrieve_byte_identical(xds, patient_id, tmp_path):
    small = b"%PDF-1.4\n" + os.urandom(3000) + b"\n%%EOF\n"
    large = os.urandom(300 * 1024)                      # past the spool threshold both ways
    large_file = tmp_path / "scan.png"
    large_file.write_bytes(large)
    docs = [DocumentSpec(small, mime_type="application/pdf", title="Austrittsbericht"),
            DocumentSpec(large, mime_type="image/png", title="Scan")]
    body, parts = provide_and_register_request(patient_id, docs)
    # the second attachment is sent from its file (streamed), the first from memory
    parts = [parts[0], (parts[1][0], parts[1][1], large_file)]

    response = xds.provide_and_register(body, parts)
    assert response.tag == "{%s}RegistryResponse" % C.NS_RS
    assert response_status(response) == C.RESPONSE_SUCCESS, registry_errors(response)

    rr, got = xds.retrieve([(REPOSITORY_UID, d.unique_id) for d in docs])
    assert response_status(rr) == C.RESPONSE_SUCCESS, registry_errors(rr)
    assert [g.document_unique_id for g in got] == [d.unique_id for d in docs]
    assert [g.mime_type for g in got] == ["application/pdf", "image/png"]
    assert all(g.repository_unique_id == REPOSITORY_UID for g in got)
    assert isinstance(got[0].content, bytes) and got[0].content == small
    assert isinstance(got[1].content, Path)               # spooled: handed over as a file
    assert got[1].content.parent == tmp_path / "downloads"
    assert got[1].content.read_bytes() == large
    assert got[1].read_bytes() == large


def test_retrieve_partial_and_unknown(xds, patient_id):
    doc = DocumentSpec(b"hello " * 50, mime_type="text/plain")
    body, parts = provide_and_register_request(patient_id, [doc])
    assert response_status(xds.provide_and_register(body, parts)) == C.RESPONSE_SUCCESS

    unknown = "2.25." + str(uuid.uuid4().int)
    rr, got = xds.retrieve([(REPOSITORY_UID, doc.unique_id), (REPOSITORY_UID, unknown)])
    assert response_status(rr) == C.RESPONSE_PARTIAL
    assert [g.content for g in got] == [doc.content]
    assert any(e["location"] == unknown or unknown in e["codeContext"] for e in registry_errors(rr))

    rr, got = xds.retrieve([(REPOSITORY_UID, unknown)])
    assert response_status(rr) == C.RESPONSE_FAILURE and got == []


def test_provide_and_register_refused_returns_failure(xds):
    doc = DocumentSpec(b"x" * 100, mime_type="text/plain")
    body, parts = provide_and_register_request("nobody^^^&2.16.756.5.30.1.999.1.1&ISO", [doc])
    response = xds.provide_and_register(body, parts)
    assert response_status(response) == C.RESPONSE_FAILURE
    assert registry_errors(response)


def test_register_via_zeep(xds, patient_id):
    sor = submit_objects_request(patient_id, [DocumentSpec(b"registered elsewhere", mime_type="text/plain")],
                                 for_register=True, repository_unique_id="2.16.756.5.30.1.999.9")
    response = xds.register(sor)
    assert response.tag == "{%s}RegistryResponse" % C.NS_RS
    assert response_status(response) == C.RESPONSE_SUCCESS, registry_errors(response)


def test_register_refused_returns_failure_with_errors(xds):
    unknown_patient = "nobody-%s^^^&2.16.756.5.30.1.999.1.1&ISO" % uuid.uuid4().hex[:8]
    sor = submit_objects_request(unknown_patient, [DocumentSpec(b"abc", mime_type="text/plain")],
                                 for_register=True)
    response = xds.register(sor)
    assert response_status(response) == C.RESPONSE_FAILURE
    errors = registry_errors(response)
    assert errors and all(e["errorCode"] for e in errors)
    assert any(e["errorCode"] == "XDSUnknownPatientId" for e in errors), errors


def test_register_rejects_wrong_element(xds):
    with pytest.raises(ValueError):
        xds.register(etree.Element("{%s}AdhocQueryRequest" % C.NS_QUERY))


def test_zeep_envelope_has_one_set_of_addressing_headers(xds):
    """zeep adds WS-Addressing by itself for WSDL operations with wsam:Action (hence no plugin)."""
    client = xds.zeep_client
    from zeep.xsd import SkipValue
    env = client.create_message(client.service, "DocumentRegistry_RegisterDocumentSet-b",
                                RegistryObjectList=SkipValue)
    header = env.find("{%s}Header" % NS_SOAP12)
    assert env.tag == "{%s}Envelope" % NS_SOAP12
    assert [a.text for a in header.findall("{%s}Action" % NS_WSA)] == [C.ACTION_ITI42]
    assert len(header.findall("{%s}MessageID" % NS_WSA)) == 1
    assert [t.text for t in header.findall("{%s}To" % NS_WSA)] == [xds.registry_url]


def test_stored_query_via_zeep(xds, patient_id):
    doc = DocumentSpec(b"to be found", mime_type="text/plain")
    body, parts = provide_and_register_request(patient_id, [doc])
    assert response_status(xds.provide_and_register(body, parts)) == C.RESPONSE_SUCCESS
    try:
        response = xds.stored_query(_find_documents_request(patient_id))
    except SoapFaultError as exc:
        if exc.subcode and exc.subcode.endswith("ActionNotSupported"):
            pytest.xfail("ITI-18 is not wired into the registry endpoint yet (ActionNotSupported)")
        raise
    assert response.tag == "{%s}AdhocQueryResponse" % C.NS_QUERY
    assert response_status(response) == C.RESPONSE_SUCCESS, registry_errors(response)
    uids = {ei.get("value") for ei in response.iter("{%s}ExternalIdentifier" % C.NS_RIM)
            if ei.get("identificationScheme") == C.DE_UNIQUE_ID}
    assert doc.unique_id in uids


def test_same_origin_transport_refuses_other_origins():
    from zeep.exceptions import ExternalReferenceForbidden
    t = SameOriginTransport("http://127.0.0.1:8080/xds/registry")
    for url in ("http://127.0.0.1:8081/x.xsd", "http://evil.example/x.xsd", "https://127.0.0.1:8080/x.xsd",
                "file:///etc/passwd", "/etc/passwd"):
        with pytest.raises(ExternalReferenceForbidden):
            t.load(url)


def test_require_action_refuses_a_reply_without_wsa_action():
    body = etree.Element("{%s}RegistryResponse" % C.NS_RS)
    lenient = XdsClient("http://127.0.0.1:9/r", "http://127.0.0.1:9/g")
    assert lenient._check(body, None, C.ACTION_ITI41_RESPONSE, body.tag, 200) is body
    strict = XdsClient("http://127.0.0.1:9/r", "http://127.0.0.1:9/g", require_action=True)
    with pytest.raises(SoapTransportError, match="without wsa:Action"):
        strict._check(body, None, C.ACTION_ITI41_RESPONSE, body.tag, 200)
    assert strict._check(body, C.ACTION_ITI41_RESPONSE, C.ACTION_ITI41_RESPONSE, body.tag, 200) is body
    with pytest.raises(SoapTransportError, match="expected"):
        lenient._check(body, "urn:wrong", C.ACTION_ITI41_RESPONSE, body.tag, 200)
