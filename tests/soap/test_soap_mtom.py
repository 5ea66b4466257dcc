"""MTOM/XOP decoding and encoding: the eHealth Suisse ITI-41 sample, edge cases, large parts."""
from __future__ import annotations

import base64
import hashlib
import io
import os

import pytest

from gateway.soap.attachments import OutgoingAttachment
from gateway.soap.envelope import NS_XOP, SoapFault, parse_envelope
from gateway.soap.message import decode_message, encode_message
from gateway.soap.mtom import MtomBody, decode_mtom, encode_mtom, parse_content_type
from samples import ITI41_DOC_CID, ITI41_ROOT_CID, iti41_mtom

XDS = "urn:ihe:iti:xds-b:2007"


def test_iti41_sample_mime_structure():
    ctype, body, document = iti41_mtom()
    msg = decode_mtom(io.BytesIO(body), ctype)
    assert msg.root.content_id == ITI41_ROOT_CID
    assert msg.root.read().lstrip().startswith(b"<soap:Envelope")
    assert list(msg.attachments) == [ITI41_DOC_CID]
    att = msg.attachments[ITI41_DOC_CID]
    assert att.content_type == "application/fhir+json"
    assert att.read() == document and att.size == len(document) == 6705
    assert att.sha1 == hashlib.sha1(document).hexdigest()
    assert att.sha256 == hashlib.sha256(document).hexdigest()


def test_iti41_sample_root_is_not_namespace_well_formed():
    # The published sample uses wsse: without declaring it: refused, as a Sender fault.
    ctype, body, _ = iti41_mtom()
    with pytest.raises(SoapFault) as exc:
        decode_message(ctype, io.BytesIO(body))
    assert exc.value.code == "Sender" and "wsse" in exc.value.reason


@pytest.mark.parametrize("with_start", [True, False])
def test_iti41_sample_full_decode_with_percent_encoded_cid(with_start):
    ctype, body, document = iti41_mtom(fix_wsse_prefix=True)
    if not with_start:
        ctype = ctype.replace(f'start="<{ITI41_ROOT_CID}>"; ', "")
    msg = decode_message(ctype, io.BytesIO(body), threshold=1024)
    assert msg.mtom
    req = parse_envelope(msg.envelope, attachments=msg.attachments)
    assert req.action == "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
    doc_el = req.body.find(f"{{{XDS}}}Document")
    assert doc_el.find(f"{{{NS_XOP}}}Include").get("href").endswith("@urn%3Aihe%3Aiti%3Axds-b%3A2007")
    att = req.resolve_include(doc_el)
    assert att.read() == document
    assert att.spool_path is not None and os.path.exists(att.spool_path)  # 6.7 KB > threshold 1 KB
    req.close()
    assert not os.path.exists(att.spool_path)


def _mtom(root: bytes, parts: list[tuple[str, bytes]], boundary: str = "MIME_b0undary", *,
          quoted: bool = True, start: str | None = "root@x", preamble: bytes = b"",
          epilogue: bytes = b"", root_headers: str = "") -> tuple[str, bytes]:
    b = boundary.encode()
    out = preamble + b"--" + b + b"\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\"\r\n"
    out += root_headers.encode() + b"Content-ID: <root@x>\r\n\r\n" + root
    for cid, data in parts:
        out += b"\r\n--" + b + b"\r\nContent-Type: application/octet-stream\r\nContent-ID: <" + cid.encode() + b">\r\n\r\n" + data
    out += b"\r\n--" + b + b"--\r\n" + epilogue
    bparam = f'"{boundary}"' if quoted else boundary
    ctype = f'multipart/related; type="application/xop+xml"; boundary={bparam}'
    if start:
        ctype += f'; start="<{start}>"'
    return ctype, out


ENV = (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing">'
       b'<s:Header><a:Action>urn:a</a:Action></s:Header><s:Body><x xmlns="urn:x">'
       b'<xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:p1%40urn%3Ax"/></x></s:Body></s:Envelope>')


def test_xml_declaration_preamble_unquoted_boundary_epilogue():
    root = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ENV
    ctype, body = _mtom(root, [("p1@urn:x", b"\x00\xffdata\r\n--not-a-boundary")], quoted=False, start=None,
                        preamble=b"\r\n\r\n  This is a preamble\r\n", epilogue=b"trailing junk")
    msg = decode_message(ctype, io.BytesIO(body))
    req = parse_envelope(msg.envelope, attachments=msg.attachments)
    assert req.resolve_include(req.body[0]).read() == b"\x00\xffdata\r\n--not-a-boundary"


def test_small_chunks_feed():
    ctype, body = _mtom(ENV, [("p1@urn:x", os.urandom(5000))])
    msg = decode_mtom(io.BytesIO(body), ctype, chunk_size=7)
    assert msg.root.read() == ENV and msg.attachments["p1@urn:x"].size == 5000


def test_base64_transfer_encoding():
    data = os.urandom(3000)
    b64 = base64.encodebytes(data)  # with line breaks
    ctype, body = _mtom(ENV, [])
    body = body.replace(b"\r\n--MIME_b0undary--", b"\r\n--MIME_b0undary\r\nContent-ID: <p1@urn:x>\r\n"
                        b"Content-Transfer-Encoding: base64\r\n\r\n" + b64 + b"\r\n--MIME_b0undary--")
    msg = decode_mtom(io.BytesIO(body), ctype, chunk_size=100)
    assert msg.attachments["p1@urn:x"].read() == data


def test_large_attachment_spooled_with_hashes(tmp_path):
    data = os.urandom(1 << 20) * 20   # 20 MiB
    src = tmp_path / "doc.bin"
    src.write_bytes(data)
    envelope_bytes = ENV.replace(b"cid:p1%40urn%3Ax", b"cid:big@x")
    enc = encode_mtom(envelope_bytes, [OutgoingAttachment("big@x", "application/pdf", path=str(src))])
    spool = tmp_path / "spool"
    spool.mkdir()
    msg = decode_mtom(enc, enc.content_type, threshold=1 << 20, spool_dir=str(spool))
    att = msg.attachments["big@x"]
    assert att.size == len(data)
    assert att.sha1 == hashlib.sha1(data).hexdigest()
    assert att.sha256 == hashlib.sha256(data).hexdigest()
    assert att.spool_path and os.path.dirname(att.spool_path) == str(spool)
    with att.open() as fh:
        assert hashlib.sha1(fh.read()).hexdigest() == att.sha1
    assert msg.root.in_memory
    msg.close()
    assert os.listdir(spool) == []


@pytest.mark.parametrize("mutate", [
    lambda b: b[:-30],                                   # truncated: no closing boundary
    lambda b: b.replace(b"--MIME_b0undary", b"--OTHER", 1),  # opening boundary missing
    lambda b: b.replace(b"Content-ID: <root@x>\r\n", b"Content ID <root@x>\r\n"),  # bad header
    lambda b: b"",
])
def test_broken_multipart_is_sender_fault(mutate):
    ctype, body = _mtom(ENV, [("p1@urn:x", b"abc")])
    with pytest.raises(SoapFault) as exc:
        decode_mtom(io.BytesIO(mutate(body)), ctype)
    assert exc.value.code == "Sender"


def test_start_not_found_and_no_boundary_and_duplicates():
    ctype, body = _mtom(ENV, [("p1@urn:x", b"abc")], start="other@x")
    with pytest.raises(SoapFault, match="start"):
        decode_mtom(io.BytesIO(body), ctype)
    with pytest.raises(SoapFault, match="boundary"):
        decode_mtom(io.BytesIO(body), 'multipart/related; type="application/xop+xml"')
    ctype, body = _mtom(ENV, [("p1@urn:x", b"a"), ("p1@urn:x", b"b")])
    with pytest.raises(SoapFault, match="duplicate"):
        decode_mtom(io.BytesIO(body), ctype)


def test_max_size():
    ctype, body = _mtom(ENV, [("p1@urn:x", b"x" * 10000)])
    with pytest.raises(SoapFault) as exc:
        decode_mtom(io.BytesIO(body), ctype, max_size=5000)
    assert exc.value.http_status == 413


def test_parse_content_type_quoting():
    ctype, params = parse_content_type('Multipart/Related; boundary="a;b=c"; TYPE=application/xop+xml; start="<r@x>"')
    assert ctype == "multipart/related"
    assert params == {"boundary": "a;b=c", "type": "application/xop+xml", "start": "<r@x>"}


def test_encoder_length_and_read_match_iteration(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(os.urandom(200_000))
    atts = [OutgoingAttachment("a@x", "application/pdf", path=str(f)),
            OutgoingAttachment("<b@x>", "text/plain", data=b"hello")]
    assert atts[1].content_id == "b@x"
    enc = MtomBody(ENV, atts, boundary="uuid:fixed")
    joined = b"".join(enc)
    assert len(joined) == len(enc) == enc.length
    assert b"".join(iter(lambda: enc.read(1000), b"")) == joined
    assert 'boundary="uuid:fixed"' in enc.content_type and 'start-info="application/soap+xml"' in enc.content_type
    msg = decode_mtom(io.BytesIO(joined), enc.content_type)
    assert msg.attachments["a@x"].read() == f.read_bytes()
    assert msg.attachments["b@x"].read() == b"hello"


def test_encode_message_plain_vs_mtom():
    from lxml import etree
    env = etree.fromstring(ENV)
    plain = encode_message(env)
    assert plain.content_type.startswith("application/soap+xml") and plain.length == len(plain.body)
    mtom = encode_message(env, mtom=True)
    assert mtom.content_type.startswith("multipart/related") and mtom.length == len(b"".join(mtom.chunks()))


def test_encoder_refuses_boundary_in_data_and_bad_cid():
    with pytest.raises(ValueError):
        MtomBody(ENV, [OutgoingAttachment("a@x", data=b"x\r\n--B\r\n")], boundary="B")
    with pytest.raises(ValueError):
        MtomBody(ENV, [OutgoingAttachment("a b@x", data=b"x")])
    with pytest.raises(ValueError):
        OutgoingAttachment("a@x")


def test_an_attachment_reusing_the_root_content_id_is_refused():
    """Issue 14 item 6: a part with the root part's Content-ID would shadow or be shadowed by the
    root; a Sender fault, with or without the start parameter."""
    for start in ("root@x", None):
        ctype, body = _mtom(ENV, [("p1@urn:x", b"abc"), ("root@x", b"not the root")], start=start)
        with pytest.raises(SoapFault, match="root part") as exc:
            decode_mtom(io.BytesIO(body), ctype)
        assert exc.value.code == "Sender"
