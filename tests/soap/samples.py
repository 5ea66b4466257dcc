"""Test vectors: the eHealth Suisse EPR-by-example ITI-41 MTOM request, re-wrapped for the wire."""
from __future__ import annotations

from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "vectors" / "epr-by-example" / "samples"
ITI41_RAW = SAMPLES / "ITI-41_request_raw.xml"
ITI41_BOUNDARY = b"uuid:df997b05-d075-415b-9cc8-0f68c74cd993"
ITI41_ROOT_CID = "root.message@cxf.apache.org"
ITI41_DOC_CID = "8ba22b9e-fcff-49d8-945e-438a11f25b0f-1@urn:ihe:iti:xds-b:2007"


WSSE_FIX = (b"<wsse:Security>",
            b'<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/'
            b'oasis-200401-wss-wssecurity-secext-1.0.xsd">')


def iti41_mtom(fix_wsse_prefix: bool = False) -> tuple[str, bytes, bytes]:
    """(Content-Type, body, document bytes) of the ITI-41 sample as a proper CRLF multipart body.

    The logged message has an HTTP header whose boundary and start do not match the body, LF line
    ends and junk after the closing delimiter: drop the HTTP header and the junk, rebuild the MIME
    structure with CRLF, keep the part contents byte for byte.

    The sample's root part uses the ``wsse`` prefix without declaring it (not namespace
    well-formed, our parser rightly refuses it); ``fix_wsse_prefix`` adds the declaration.
    """
    raw = ITI41_RAW.read_bytes()
    if fix_wsse_prefix:
        assert raw.count(WSSE_FIX[0]) == 1
        raw = raw.replace(*WSSE_FIX)
    delim = b"--" + ITI41_BOUNDARY
    start = raw.index(delim)
    end = raw.index(delim + b"--")
    assert raw[end - 1:end] == b"\n"
    inner = raw[start + len(delim):end - 1]
    out = bytearray()
    document = b""
    for chunk in inner.split(b"\n" + delim):
        assert chunk.startswith(b"\n")
        headers, sep, content = chunk[1:].partition(b"\n\n")
        assert sep
        out += delim + b"\r\n" + headers.replace(b"\n", b"\r\n") + b"\r\n\r\n" + content + b"\r\n"
        if ITI41_DOC_CID.encode() in headers:
            document = content
    out += delim + b"--\r\n"
    ctype = (f'multipart/related; boundary="{ITI41_BOUNDARY.decode()}"; type="application/xop+xml"; '
             f'start="<{ITI41_ROOT_CID}>"; start-info="application/soap+xml"')
    return ctype, bytes(out), document
