"""Envelope parsing, WS-Addressing headers, mustUnderstand, faults, xop:Include resolution."""
from __future__ import annotations

import base64

import pytest
from lxml import etree

from gateway.soap.attachments import PartSink
from gateway.soap.envelope import (NS_SOAP12, NS_WSA, NS_WSSE, NS_XOP, WSA_FAULT_ACTION, SoapFault,
                                   build_envelope, check_must_understand, cid_from_href, cid_href,
                                   fault_envelope, parse_envelope, read_fault, serialize, xop_include)
from gateway.soap.xml import parse_xml

REQ = b"""<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing">
  <soap:Header>
    <wsa:Action soap:mustUnderstand="true">urn:ihe:iti:2007:RetrieveDocumentSet</wsa:Action>
    <wsa:MessageID>urn:uuid:abc</wsa:MessageID>
    <wsa:ReplyTo><wsa:Address>http://www.w3.org/2005/08/addressing/anonymous</wsa:Address></wsa:ReplyTo>
    <wsa:To>http://gw/repo</wsa:To>
    %(extra)s
  </soap:Header>
  <soap:Body><!-- comment first --><x:Req xmlns:x="urn:x">%(content)s</x:Req><x:Second xmlns:x="urn:x"/></soap:Body>
</soap:Envelope>"""


def _req(extra: str = "", content: str = ""):
    return parse_xml(REQ % {b"extra": extra.encode(), b"content": content.encode()})


def test_parse_envelope_reads_wsa_headers_and_first_body_child():
    req = parse_envelope(_req())
    assert req.action == "urn:ihe:iti:2007:RetrieveDocumentSet"
    assert req.message_id == "urn:uuid:abc"
    assert req.reply_to == "http://www.w3.org/2005/08/addressing/anonymous"
    assert req.to == "http://gw/repo"
    assert req.body.tag == "{urn:x}Req"
    assert req.header is not None and req.attachments == {}


def test_soap11_is_version_mismatch():
    env = parse_xml(b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><a/></e:Body></e:Envelope>')
    with pytest.raises(SoapFault) as exc:
        parse_envelope(env)
    assert exc.value.code == "VersionMismatch" and exc.value.http_status == 500


@pytest.mark.parametrize("doc", [
    b"<a/>",
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"/>',
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>',
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><a/></s:Body><junk/></s:Envelope>',
])
def test_structure_errors_are_sender_faults(doc):
    with pytest.raises(SoapFault) as exc:
        parse_envelope(parse_xml(doc))
    assert exc.value.code == "Sender" and exc.value.http_status == 400


def test_missing_action():
    env = parse_xml(b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><a/></s:Body></s:Envelope>')
    with pytest.raises(SoapFault) as exc:
        parse_envelope(env)
    assert exc.value.subcode == f"{{{NS_WSA}}}MessageAddressingHeaderRequired"
    assert parse_envelope(env, require_action=False).action == ""


@pytest.mark.parametrize("extra,local", [
    ("<wsa:Action>urn:other</wsa:Action>", "Action"),
    ("<wsa:MessageID>urn:uuid:def</wsa:MessageID>", "MessageID"),
    ("<wsa:To>http://gw/other</wsa:To>", "To"),
    ("<wsa:ReplyTo><wsa:Address>http://x</wsa:Address></wsa:ReplyTo>", "ReplyTo"),
    ("<wsa:FaultTo><wsa:Address>http://x</wsa:Address></wsa:FaultTo>"
     "<wsa:FaultTo><wsa:Address>http://y</wsa:Address></wsa:FaultTo>", "FaultTo"),
])
def test_repeated_addressing_header_is_invalid_cardinality(extra, local):
    with pytest.raises(SoapFault) as exc:
        parse_envelope(_req(extra))
    fault = exc.value
    assert (fault.code, fault.http_status) == ("Sender", 400)
    assert fault.subcode == f"{{{NS_WSA}}}InvalidAddressingHeader"
    assert fault.subsubcode == f"{{{NS_WSA}}}InvalidCardinality"
    assert fault.detail.tag == f"{{{NS_WSA}}}ProblemHeaderQName" and fault.detail.text == f"wsa:{local}"
    # on the wire: Subcode/Subcode, read back by the client side
    info = read_fault(parse_xml(serialize(fault_envelope(fault, "urn:uuid:abc"))))
    assert info.subcode == f"{{{NS_WSA}}}InvalidAddressingHeader"
    assert info.subsubcode == f"{{{NS_WSA}}}InvalidCardinality"


def test_repeatable_relates_to_and_single_headers_pass():
    req = parse_envelope(_req("<wsa:RelatesTo>urn:uuid:1</wsa:RelatesTo><wsa:RelatesTo>urn:uuid:2</wsa:RelatesTo>"))
    assert req.action == "urn:ihe:iti:2007:RetrieveDocumentSet"


@pytest.mark.parametrize("extra,fails", [
    ('<u:H xmlns:u="urn:unknown" soap:mustUnderstand="true"/>', True),
    ('<u:H xmlns:u="urn:unknown" soap:mustUnderstand="1"/>', True),
    ('<u:H xmlns:u="urn:unknown" soap:mustUnderstand="false"/>', False),
    ('<u:H xmlns:u="urn:unknown"/>', False),
    ('<u:H xmlns:u="urn:unknown" soap:mustUnderstand="true" soap:role="http://www.w3.org/2003/05/soap-envelope/role/none"/>', False),
    ('<u:H xmlns:u="urn:unknown" soap:mustUnderstand="true" soap:role="urn:some-other-node"/>', False),
    ('<u:H xmlns:u="urn:unknown" soap:mustUnderstand="true" soap:role="http://www.w3.org/2003/05/soap-envelope/role/next"/>', True),
    # nothing verifies WS-Security yet: a wsse:Security header marked mustUnderstand is not understood
    (f'<wsse:Security xmlns:wsse="{NS_WSSE}" soap:mustUnderstand="true"/>', True),
])
def test_must_understand(extra, fails):
    req = parse_envelope(_req(extra))
    if fails:
        with pytest.raises(SoapFault) as exc:
            check_must_understand(req.header)
        assert exc.value.code == "MustUnderstand" and exc.value.http_status == 500
        expected = f"{{{NS_WSSE}}}Security" if "wsse:Security" in extra else "{urn:unknown}H"
        assert exc.value.not_understood == (expected,)
    else:
        check_must_understand(req.header)


def test_fault_http_status():
    assert SoapFault("Sender", "x").http_status == 400
    assert SoapFault("Receiver", "x").http_status == 500
    assert SoapFault("VersionMismatch", "x").http_status == 500
    assert SoapFault("MustUnderstand", "x").http_status == 500
    assert SoapFault("Sender", "x", http_status=413).http_status == 413
    with pytest.raises(ValueError):
        SoapFault("Client", "SOAP 1.1 code")


def test_fault_envelope_carries_wsa_headers_and_subcode():
    fault = SoapFault("Sender", "no such action", subcode=f"{{{NS_WSA}}}ActionNotSupported",
                      detail=etree.Element("{urn:d}Detail"))
    env = parse_xml(serialize(fault_envelope(fault, "urn:uuid:req")))  # through the wire form
    hdr = env.find(f"{{{NS_SOAP12}}}Header")
    assert hdr.findtext(f"{{{NS_WSA}}}Action") == WSA_FAULT_ACTION
    assert hdr.find(f"{{{NS_WSA}}}Action").get(f"{{{NS_SOAP12}}}mustUnderstand") == "true"
    assert hdr.findtext(f"{{{NS_WSA}}}RelatesTo") == "urn:uuid:req"
    assert hdr.findtext(f"{{{NS_WSA}}}MessageID").startswith("urn:uuid:")
    info = read_fault(env)
    assert (info.code, info.subcode, info.reason) == ("Sender", f"{{{NS_WSA}}}ActionNotSupported", "no such action")
    assert info.detail.tag == "{urn:d}Detail"
    assert env.find(f".//{{{NS_SOAP12}}}Code/{{{NS_SOAP12}}}Value").text == "soap:Sender"


def test_fault_envelope_foreign_and_prefixed_subcodes():
    env = parse_xml(serialize(fault_envelope(SoapFault("Receiver", "r", subcode="{urn:ihe:x}Err"), None)))
    assert read_fault(env).subcode == "{urn:ihe:x}Err"
    assert read_fault(env).code == "Receiver"
    env = parse_xml(serialize(fault_envelope(SoapFault("Sender", "r", subcode="wsa:InvalidAddressingHeader"), None)))
    assert read_fault(env).subcode == f"{{{NS_WSA}}}InvalidAddressingHeader"
    assert env.find(f".//{{{NS_WSA}}}RelatesTo") is None


def test_must_understand_fault_lists_not_understood_headers():
    env = fault_envelope(SoapFault("MustUnderstand", "x", not_understood=("{urn:u}H",)), "urn:uuid:1")
    env = parse_xml(serialize(env))
    nu = env.find(f"{{{NS_SOAP12}}}Header/{{{NS_SOAP12}}}NotUnderstood")
    prefix, local = nu.get("qname").split(":")
    assert nu.nsmap[prefix] == "urn:u" and local == "H"


def test_build_envelope():
    env = build_envelope(etree.Element("{urn:x}Resp"), "urn:x:resp", "urn:uuid:rel", "urn:uuid:mine")
    env = parse_xml(serialize(env))
    req = parse_envelope(env)
    assert (req.action, req.message_id, req.to) == ("urn:x:resp", "urn:uuid:mine",
                                                    "http://www.w3.org/2005/08/addressing/anonymous")
    assert env.findtext(f".//{{{NS_WSA}}}RelatesTo") == "urn:uuid:rel"
    assert req.body.tag == "{urn:x}Resp"


def test_cid_href_round_trip():
    cid = "8ba22b9e-1@urn:ihe:iti:xds-b:2007"
    assert cid_href(cid) == "cid:8ba22b9e-1@urn%3Aihe%3Aiti%3Axds-b%3A2007"
    assert cid_from_href(cid_href(cid)) == cid
    assert cid_from_href("CID:a%40b") == "a@b"


def _attachment(cid: str, data: bytes):
    sink = PartSink()
    sink.write(data)
    return sink.finish(cid, "application/pdf", {})


def test_resolve_include_attachment_inline_and_unknown():
    att = _attachment("doc@urn:ihe:iti:xds-b:2007", b"%PDF")
    content = (f'<x:Doc><xop:Include xmlns:xop="{NS_XOP}" href="cid:doc@urn%3Aihe%3Aiti%3Axds-b%3A2007"/></x:Doc>'
               f'<x:Inline>{base64.b64encode(b"inline bytes").decode()}\n</x:Inline>'
               f'<x:Missing><xop:Include xmlns:xop="{NS_XOP}" href="cid:nope@x"/></x:Missing>'
               f'<x:Bad>!!!</x:Bad>')
    req = parse_envelope(_req(content=content), attachments={att.content_id: att})
    assert req.resolve_include(req.body.find("{urn:x}Doc")) is att
    assert req.resolve_include(req.body.find(f"{{urn:x}}Doc/{{{NS_XOP}}}Include")) is att
    assert req.resolve_include(req.body.find("{urn:x}Inline")) == b"inline bytes"
    for name in ("Missing", "Bad"):
        with pytest.raises(SoapFault) as exc:
            req.resolve_include(req.body.find(f"{{urn:x}}{name}"))
        assert exc.value.code == "Sender"


def test_xop_include_element():
    el = xop_include("a b@c")
    assert el.tag == f"{{{NS_XOP}}}Include" and el.get("href") == "cid:a%20b@c"


def test_raw_body_is_spliced_into_the_envelope_unchanged():
    from gateway.soap.envelope import RawXml, build_envelope, serialize_with_body
    raw = b'<q:R xmlns:q="urn:q" a="1"><x xmlns="urn:y">t&amp;u</x></q:R>'
    xml = serialize_with_body(build_envelope(None, "urn:act", "urn:uuid:1"), RawXml(raw))
    assert raw in xml
    env = etree.fromstring(xml)
    body = env.find("{http://www.w3.org/2003/05/soap-envelope}Body")
    assert [c.tag for c in body] == ["{urn:q}R"] and body[0][0].text == "t&u"
