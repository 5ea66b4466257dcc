"""Property tests: encoder -> decoder round trip; the decoder fails only with SoapFault."""
from __future__ import annotations

import hashlib
import io

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from gateway.soap.attachments import OutgoingAttachment
from gateway.soap.envelope import SoapFault, cid_from_href, cid_href
from gateway.soap.message import decode_message
from gateway.soap.mtom import MtomBody, decode_mtom

ROOT = (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><x xmlns="urn:x"/>'
        b'</s:Body></s:Envelope>')

BCHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=?"
boundaries = st.text(BCHARS, min_size=1, max_size=70)
# Content-IDs: visible ASCII except <, >, and the characters ids never use in practice (quotes, space)
cid_chars = st.sampled_from([c for c in map(chr, range(0x21, 0x7f)) if c not in '<>"\\'])
content_ids = st.text(cid_chars, min_size=1, max_size=40)
attachment_lists = st.lists(st.tuples(content_ids, st.binary(max_size=3000)), max_size=5,
                            unique_by=lambda t: t[0])

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(boundary=boundaries, parts=attachment_lists, chunk=st.integers(1, 4096),
       threshold=st.sampled_from([0, 100, 1 << 20]))
@example(boundary="b", parts=[("x@y", b"\r\n--b\r")], chunk=1, threshold=0)
def test_round_trip(boundary, parts, chunk, threshold):
    delim = b"--" + boundary.encode()
    assume(all(delim not in data for _, data in parts) and delim not in ROOT)
    atts = [OutgoingAttachment(cid, "application/octet-stream", data=data) for cid, data in parts]
    body = MtomBody(ROOT, atts, boundary=boundary)
    wire = b"".join(body)
    assert len(wire) == body.length
    msg = decode_mtom(io.BytesIO(wire), body.content_type, threshold=threshold, chunk_size=chunk)
    try:
        assert msg.root.read() == ROOT
        assert list(msg.attachments) == [cid for cid, _ in parts]
        for cid, data in parts:
            att = msg.attachments[cid]
            assert att.read() == data and att.size == len(data)
            assert att.sha1 == hashlib.sha1(data).hexdigest()
            assert att.sha256 == hashlib.sha256(data).hexdigest()
    finally:
        msg.close()


@FAST
@given(content_ids)
def test_cid_href_round_trip(cid):
    assert cid_from_href(cid_href(cid)) == cid


def _valid_wire() -> tuple[str, bytes]:
    body = MtomBody(ROOT, [OutgoingAttachment("a@x", data=b"hello world"),
                           OutgoingAttachment("b@x", data=bytes(range(256)))], boundary="uuid:1234")
    return body.content_type, b"".join(body)


CTYPE, WIRE = _valid_wire()

mutations = st.lists(st.tuples(st.sampled_from(["flip", "insert", "delete", "truncate"]),
                               st.integers(0, len(WIRE) - 1), st.binary(min_size=1, max_size=8)),
                     min_size=1, max_size=6)


def _mutate(data: bytes, ops) -> bytes:
    buf = bytearray(data)
    for op, pos, payload in ops:
        pos = pos % (len(buf) or 1)
        if op == "flip" and buf:
            buf[pos] ^= payload[0] or 1
        elif op == "insert":
            buf[pos:pos] = payload
        elif op == "delete":
            del buf[pos:pos + len(payload)]
        elif op == "truncate":
            del buf[pos:]
    return bytes(buf)


@settings(max_examples=400, deadline=None)
@given(ops=mutations, chunk=st.integers(1, 512))
def test_mutated_input_only_soap_fault(ops, chunk):
    try:
        msg = decode_message(CTYPE, io.BytesIO(_mutate(WIRE, ops)), threshold=64, max_size=1 << 20)
    except SoapFault:
        return
    msg.close()


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=2000),
       ctype=st.one_of(st.just(CTYPE), st.text(max_size=120),
                       st.builds(lambda b, s: f'multipart/related; type="application/xop+xml"; boundary="{b}"; start="{s}"',
                                 st.text(max_size=80), st.text(max_size=20))))
def test_arbitrary_input_only_soap_fault(data, ctype):
    try:
        msg = decode_message(ctype, io.BytesIO(data), threshold=64)
    except SoapFault:
        return
    msg.close()
