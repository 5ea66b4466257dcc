"""PIX/PDQ over the real gateway (subprocess on 127.0.0.1, port 0)."""
from __future__ import annotations

import http.client

import pytest
from lxml import etree

from gateway.clients.soap import SoapClient, SoapFaultError
from support.gateway_proc import make_gateway

from hl7v3_samples import SAMPLE_COMMUNITY_OID, SAMPLES, ack_code, details, feed, name_param, pdq_query, pix_query, spid, xp

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The real gateway (``epd-gateway serve``), its MPI-PIDs in the samples' community domain."""
    gw = make_gateway(tmp_path_factory.mktemp("mpi"), mpi_oid=SAMPLE_COMMUNITY_OID)
    gw.start("--workers", "1")
    host, port = gw.base_url.rsplit("//", 1)[1].rsplit(":", 1)
    yield host.strip("[]"), int(port)
    gw.stop()


def post(server, path: str, data: bytes) -> tuple[int, etree._Element]:
    conn = http.client.HTTPConnection(*server, timeout=30)
    conn.request("POST", path, body=data, headers={"Content-Type": "application/soap+xml; charset=UTF-8"})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, etree.fromstring(body)


WSA = "{http://www.w3.org/2005/08/addressing}"
SOAP = "{http://www.w3.org/2003/05/soap-envelope}"


def test_sample_feed_then_query(server):
    raw = (SAMPLES / "ITI-44_request_raw.xml").read_bytes()
    status, env = post(server, "/pix", raw)                       # the sample's SPID check digit is wrong
    assert status == 200
    assert env.findtext(f"{SOAP}Header/{WSA}Action") == "urn:hl7-org:v3:MCCI_IN000002UV01"
    assert env.findtext(f"{SOAP}Header/{WSA}RelatesTo") == "urn:uuid:c12e1f14-c2c9-4a94-ba27-6511e8c90b78"
    body = env.find(f"{SOAP}Body")[0]
    assert xp(body, "hl7:acknowledgement/hl7:typeCode/@code") == ["AE"]
    assert "check digit" in xp(body, "string(hl7:acknowledgement/hl7:acknowledgementDetail/hl7:text)")
    fixed = raw.replace(b"761337610435201235", b"761337610435201234").replace(
        b"TestSystemId", b"900010").replace(b"1.3.6.1.4.1.21367.2017.2.5.89", b"1.3.6.1.4.1.21367.2017.2.5.103")
    status, env = post(server, "/pix", fixed)
    assert xp(env.find(f"{SOAP}Body")[0], "hl7:acknowledgement/hl7:typeCode/@code") == ["AA"]
    # ITI-45 sample (local id 900010) with the SOAP client
    req = etree.fromstring((SAMPLES / "ITI-45_request_raw.xml").read_bytes()).find(f"{SOAP}Body")[0]
    resp = SoapClient(f"http://{server[0]}:{server[1]}/pix").call("urn:hl7-org:v3:PRPA_IN201309UV02", req)
    assert resp.action == "urn:hl7-org:v3:PRPA_IN201310UV02"
    assert xp(resp.body, "hl7:acknowledgement/hl7:typeCode/@code") == ["AA"]
    assert xp(resp.body, "//hl7:patient/hl7:id/@root") == [SAMPLE_COMMUNITY_OID, "2.16.756.5.30.1.127.3.10.3"]
    assert xp(resp.body, "//hl7:patient/hl7:id[2]/@extension") == ["761337610435201234"]
    # ITI-47 by name
    client = SoapClient(f"http://{server[0]}:{server[1]}/pdq")
    resp = client.call("urn:hl7-org:v3:PRPA_IN201305UV02", pdq_query(name_param("muster")))
    assert resp.action == "urn:hl7-org:v3:PRPA_IN201306UV02"
    assert xp(resp.body, "//hl7:patient/hl7:id[2]/@extension") == ["761337610435201234"]


def test_invalid_hl7_is_an_ack_broken_envelope_a_fault(server):
    client = SoapClient(f"http://{server[0]}:{server[1]}/pix")
    resp = client.call("urn:hl7-org:v3:PRPA_IN201309UV02", etree.fromstring(b"<x:junk xmlns:x='urn:x'/>"))
    assert xp(resp.body, "hl7:acknowledgement/hl7:typeCode/@code") == ["AR"]
    resp = client.call("urn:hl7-org:v3:PRPA_IN201301UV02", pix_query(("1.2.3", "x"), []))
    assert resp.action == "urn:hl7-org:v3:MCCI_IN000002UV01"
    assert xp(resp.body, "hl7:acknowledgement/hl7:typeCode/@code") == ["AR"]
    status, env = post(server, "/pix", b"<not-soap")
    assert status == 400 and env.find(f"{SOAP}Body/{SOAP}Fault") is not None
    with pytest.raises(SoapFaultError):
        client.call("urn:hl7-org:v3:Nope", pix_query(("1.2.3", "x"), []))


def test_wsdl(server):
    for path in ("/pix?wsdl", "/pdq?wsdl"):
        conn = http.client.HTTPConnection(*server, timeout=10)
        conn.request("GET", path)
        resp = conn.getresponse()
        doc = etree.fromstring(resp.read())
        assert resp.status == 200
        actions = doc.xpath("//wsdl:input/@wsaw:Action", namespaces={
            "wsdl": "http://schemas.xmlsoap.org/wsdl/", "wsaw": "http://www.w3.org/2006/05/addressing/wsdl"})
        assert actions and all(a.startswith("urn:hl7-org:v3:") for a in actions)


def test_limits_over_the_wire(server):
    """Issue 14 item 2 on the real gateway: past a limit, AE naming it, nothing stored."""
    pix = SoapClient(f"http://{server[0]}:{server[1]}/pix")
    src = "1.3.6.1.4.1.21367.2017.2.5.89"
    many = [(src, f"W{k}") for k in range(10_000)] + [("2.16.756.5.30.1.127.3.10.3", spid(777))]
    ack = pix.call("urn:hl7-org:v3:PRPA_IN201301UV02", feed("PRPA_IN201301UV02", many)).body
    assert ack_code(ack) == "AE" and "hl7_max_identifiers_per_person" in details(ack)[0][1]
    r = pix.call("urn:hl7-org:v3:PRPA_IN201309UV02", pix_query((src, "W1"), [])).body
    assert ack_code(r) == "AE" and details(r)[0][0] == "204"          # nothing was stored
    pdq = SoapClient(f"http://{server[0]}:{server[1]}/pdq")
    r = pdq.call("urn:hl7-org:v3:PRPA_IN201305UV02",
                 pdq_query("".join(name_param(f"N{k}") for k in range(10_000)))).body
    assert ack_code(r) == "AE"
    (code, text, _loc), = details(r)
    assert code != "207" and "hl7_max_parameter_values" in text
