"""Integration: the real server (subprocess, 127.0.0.1, port 0) spoken to by SoapClient and raw HTTP."""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import time

import pytest
from lxml import etree

from gateway.clients.soap import SoapClient, SoapFaultError
from gateway.soap.envelope import (NS_SOAP12, NS_WSA, OutgoingAttachment, build_envelope,
                                   read_fault, serialize, xop_include)
from gateway.soap.xml import parse_xml

from app import MAX_REQUEST_SIZE, start_echo

pytestmark = pytest.mark.integration
NS = "urn:test"
WSA_ACTION_NOT_SUPPORTED = f"{{{NS_WSA}}}ActionNotSupported"


def _echo_body(text: str = "hello") -> etree._Element:
    el = etree.Element(f"{{{NS}}}echo", nsmap={None: NS})
    el.text = text
    return el


def _raw_post(server, body: bytes, content_type: str, path: str = "/echo",
              headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": content_type, **(headers or {})})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _header(envelope: etree._Element, local: str) -> str | None:
    el = envelope.find(f"{{{NS_SOAP12}}}Header/{{{NS_WSA}}}{local}")
    return el.text if el is not None else None


def test_echo_plain_round_trip(server):
    client = SoapClient(server.echo_url, timeout=10)
    resp = client.call("urn:test:echo", _echo_body("grüezi"), message_id="urn:uuid:11111111-2222-3333-4444-555555555555")
    assert resp.http_status == 200
    assert resp.body.tag == f"{{{NS}}}echo" and resp.body.text == "grüezi"
    assert resp.body.get("transaction") == "TEST-1"
    assert resp.action == "urn:test:echoResponse"
    assert resp.relates_to == "urn:uuid:11111111-2222-3333-4444-555555555555"
    assert resp.message_id and resp.message_id.startswith("urn:uuid:")
    assert resp.attachments == {}


def test_plain_reply_content_type(server):
    env = build_envelope(_echo_body(), "urn:test:echo", None, "urn:uuid:x")
    status, headers, body = _raw_post(server, serialize(env), "application/soap+xml; charset=UTF-8")
    assert status == 200
    assert headers["content-type"].startswith("application/soap+xml")
    assert int(headers["content-length"]) == len(body)


def test_echo_mtom_round_trip_spooled(server):
    data = os.urandom(1_500_000)  # past the server's 256 KiB spool threshold
    body = _echo_body()
    doc = etree.SubElement(body, f"{{{NS}}}Document")
    doc.append(xop_include("doc-1@urn:ihe:iti:xds-b:2007"))   # percent-encoded ':' in the href
    resp = SoapClient(server.echo_url, timeout=20).call(
        "urn:test:echo", body, attachments=[OutgoingAttachment("doc-1@urn:ihe:iti:xds-b:2007", "application/pdf", data=data)])
    try:
        assert resp.http_status == 200
        att = resp.attachments["doc-1@urn:ihe:iti:xds-b:2007"]
        assert att.sha1 == hashlib.sha1(data).hexdigest()
        assert att.read() == data
        assert att.content_type == "application/pdf"
        assert resp.body.find(f"{{{NS}}}Document").get("sha1") == hashlib.sha1(data).hexdigest()
    finally:
        resp.close()


def test_mtom_request_without_attachments_gets_mtom_reply(server):
    env = build_envelope(_echo_body(), "urn:test:echo", None, "urn:uuid:m")
    from gateway.soap.mtom import encode_mtom
    mtom = encode_mtom(serialize(env))
    status, headers, body = _raw_post(server, mtom.read(), mtom.content_type)
    assert status == 200
    assert headers["content-type"].startswith("multipart/related")
    assert 'type="application/xop+xml"' in headers["content-type"]
    assert int(headers["content-length"]) == len(body)


def test_large_file_reply_streams(server, tmp_path):
    path = tmp_path / "big.bin"
    chunk = os.urandom(1 << 20)
    with open(path, "wb") as fh:
        for _ in range(20):
            fh.write(chunk)
    expected = hashlib.sha1(chunk * 20).hexdigest()
    body = etree.Element(f"{{{NS}}}file", nsmap={None: NS}, path=str(path))
    resp = SoapClient(server.echo_url, timeout=30).call("urn:test:file", body)
    try:
        att = resp.attachments["file-1@test"]
        assert att.size == 20 << 20
        assert att.sha1 == expected
        assert att.spool_path is not None  # the client spooled it to disk too
    finally:
        resp.close()


def test_unknown_action_fault(server):
    env = build_envelope(_echo_body(), "urn:test:nope", None, "urn:uuid:req-1")
    status, headers, body = _raw_post(server, serialize(env), "application/soap+xml; charset=UTF-8")
    assert status == 400
    envelope = parse_xml(body)
    fault = read_fault(envelope)
    assert fault.code == "Sender" and fault.subcode == WSA_ACTION_NOT_SUPPORTED
    assert _header(envelope, "Action") == "http://www.w3.org/2005/08/addressing/soap/fault"
    assert _header(envelope, "RelatesTo") == "urn:uuid:req-1"
    assert fault.detail is not None and fault.detail.findtext(f"{{{NS_WSA}}}Action") == "urn:test:nope"
    with pytest.raises(SoapFaultError) as exc:
        SoapClient(server.echo_url, timeout=10).call("urn:test:nope", _echo_body())
    assert exc.value.http_status == 400 and exc.value.subcode == WSA_ACTION_NOT_SUPPORTED


def test_repeated_action_header_fault(server):
    env = build_envelope(_echo_body(), "urn:test:echo", None, "urn:uuid:req-2")
    header = env.find(f"{{{NS_SOAP12}}}Header")
    etree.SubElement(header, f"{{{NS_WSA}}}Action").text = "urn:test:nope"
    status, _headers, body = _raw_post(server, serialize(env), "application/soap+xml; charset=UTF-8")
    assert status == 400
    envelope = parse_xml(body)
    fault = read_fault(envelope)
    assert fault.code == "Sender"
    assert (fault.subcode, fault.subsubcode) == (f"{{{NS_WSA}}}InvalidAddressingHeader",
                                                 f"{{{NS_WSA}}}InvalidCardinality")
    assert fault.detail is not None and fault.detail.text == "wsa:Action"
    assert _header(envelope, "Action") == "http://www.w3.org/2005/08/addressing/soap/fault"


def test_wrong_content_types(server):
    env = serialize(build_envelope(_echo_body(), "urn:test:echo", None))
    status, headers, body = _raw_post(server, env, "text/xml; charset=UTF-8")
    assert status == 415
    assert read_fault(parse_xml(body)).code == "VersionMismatch"
    status, headers, body = _raw_post(server, env, "application/json")
    assert status == 415
    fault = read_fault(parse_xml(body))
    assert fault.code == "Sender" and "unsupported media type" in fault.reason
    assert headers["content-type"].startswith("application/soap+xml")


def test_malformed_xml(server):
    status, _, body = _raw_post(server, b"<soap:Envelope xmlns:soap='x'><oops>", "application/soap+xml")
    assert status == 400
    fault = read_fault(parse_xml(body))
    assert fault.code == "Sender" and "malformed" in fault.reason


def test_doctype_refused(server):
    evil = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<r>&x;</r>')
    status, _, body = _raw_post(server, evil, "application/soap+xml")
    assert status == 400
    assert b"root:" not in body
    assert "DOCTYPE" in read_fault(parse_xml(body)).reason


def test_must_understand(server):
    env = build_envelope(_echo_body(), "urn:test:echo", None, "urn:uuid:mu")
    hdr = etree.SubElement(env[0], "{urn:unknown}Thing")
    hdr.set(f"{{{NS_SOAP12}}}mustUnderstand", "true")
    status, _, body = _raw_post(server, serialize(env), "application/soap+xml")
    assert status == 500
    envelope = parse_xml(body)
    assert read_fault(envelope).code == "MustUnderstand"
    assert envelope.find(f"{{{NS_SOAP12}}}Header/{{{NS_SOAP12}}}NotUnderstood") is not None
    assert _header(envelope, "RelatesTo") == "urn:uuid:mu"


def test_oversized_body_refused_before_reading(server):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.putrequest("POST", "/echo")
        conn.putheader("Content-Type", "application/soap+xml")
        conn.putheader("Content-Length", str(MAX_REQUEST_SIZE + 1))
        conn.endheaders()  # no body sent at all: the answer must come anyway
        resp = conn.getresponse()
        assert resp.status == 413
        fault = read_fault(parse_xml(resp.read()))
        assert fault.code == "Sender" and "larger than" in fault.reason
    finally:
        conn.close()


def test_oversized_chunked_body_refused(server):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.putrequest("POST", "/echo")
        conn.putheader("Content-Type", "application/soap+xml")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        piece = b"x" * 65536
        try:
            for _ in range(MAX_REQUEST_SIZE // len(piece) + 2):
                conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = conn.getresponse()
        assert resp.status == 413
    finally:
        conn.close()


def test_handler_exception_is_receiver_fault_without_traceback(server):
    env = build_envelope(_echo_body(), "urn:test:boom", None, "urn:uuid:boom")
    status, _, body = _raw_post(server, serialize(env), "application/soap+xml")
    assert status == 500
    assert b"SECRET-TRACEBACK-MARKER" not in body and b"Traceback" not in body
    envelope = parse_xml(body)
    fault = read_fault(envelope)
    assert fault.code == "Receiver" and "internal error" in fault.reason and "request id" in fault.reason
    assert _header(envelope, "RelatesTo") == "urn:uuid:boom"


def test_handler_soap_fault_passes_through(server):
    with pytest.raises(SoapFaultError) as exc:
        SoapClient(server.echo_url, timeout=10).call("urn:test:fault", _echo_body())
    assert exc.value.code == "Sender" and exc.value.subcode == "{urn:test}Custom"
    assert exc.value.reason == "custom refusal" and exc.value.http_status == 400


def test_audit_hook_once_per_request(server):
    client = SoapClient(server.echo_url, timeout=10)
    before = client.call("urn:test:audit", _echo_body())
    n_before = len(before.body)
    with pytest.raises(SoapFaultError):
        client.call("urn:test:fault", _echo_body())
    client.call("urn:test:echo", _echo_body())
    after = client.call("urn:test:audit", _echo_body())
    records = after.body[n_before:]
    # the previous audit call, the fault, the echo: one record each
    assert [(r.get("action"), r.get("outcome")) for r in records] == [
        ("urn:test:audit", "success"), ("urn:test:fault", "fault:Sender"), ("urn:test:echo", "success")]


def test_wsdl_and_xsd(server):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request("GET", "/echo?wsdl")
        resp = conn.getresponse()
        assert resp.status == 200
        wsdl = etree.fromstring(resp.read())
        imp = wsdl.find(".//{http://www.w3.org/2001/XMLSchema}import")
        assert imp.get("schemaLocation") == f"{server.echo_url}?xsd=schemas/echo.xsd"
        addr = wsdl.find(".//{http://schemas.xmlsoap.org/wsdl/soap12/}address")
        assert addr.get("location") == server.echo_url
        conn.request("GET", "/echo?xsd=schemas/echo.xsd")
        resp = conn.getresponse()
        assert resp.status == 200
        xsd = etree.fromstring(resp.read())
        inc = xsd.find("{http://www.w3.org/2001/XMLSchema}include")
        assert inc.get("schemaLocation") == f"{server.echo_url}?xsd=schemas/types.xsd"
        for bad in ("/echo?xsd=../app.py", "/echo?xsd=/etc/passwd", "/echo", "/echo?xsd=nope.xsd"):
            conn.request("GET", bad)
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 404, bad
    finally:
        conn.close()


def test_health(server):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request("GET", "/health")
        resp = conn.getresponse()
        data = json.loads(resp.read())
        assert resp.status == 200 and data["status"] == "ok" and isinstance(data["pid"], int)
    finally:
        conn.close()


def test_two_workers_share_the_socket(tmp_path):
    srv = start_echo(tmp_path, workers=2)
    try:
        pids: set[str] = set()
        deadline = time.monotonic() + 20
        while len(pids) < 2 and time.monotonic() < deadline:
            # a new connection each time, so the kernel hands it to either worker
            client = SoapClient(srv.echo_url, timeout=10)
            client.session.headers["Connection"] = "close"
            resp = client.call("urn:test:echo", _echo_body())
            pids.add(resp.body.get("pid"))
        assert len(pids) == 2, pids
        assert str(srv.proc.pid) not in pids  # the parent only supervises
    finally:
        code = srv.stop()
    assert code == 0
