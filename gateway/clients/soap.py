"""A small SOAP 1.2 client that sends and receives MTOM (zeep cannot send XOP attachments).

For HIS integrators and the gateway's own tests::

    client = SoapClient("http://127.0.0.1:8080/services/repository")
    body = etree.fromstring(b'<ProvideAndRegisterDocumentSetRequest .../>')  # with xop:Include
    resp = client.call("urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b", body,
                       attachments=[OutgoingAttachment("doc1@x", "application/pdf", path="a.pdf")])

Uploads stream (a generator body with a known Content-Length); MTOM replies stream through the
same decoder as the server's, large parts spooled to disk.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence, Union

import requests
from lxml import etree

from gateway.soap.attachments import DEFAULT_SPOOL_THRESHOLD, Attachment, OutgoingAttachment
from gateway.soap.envelope import (NS_SOAP12, NS_WSA, WSA_ANONYMOUS, build_envelope, new_message_id,
                                   read_fault)
from gateway.soap.fault import SoapFault
from gateway.soap.message import decode_message, encode_message

__all__ = ["SoapClient", "SoapResponse", "SoapFaultError", "SoapTransportError", "add_security_header",
           "ConfiguredSession"]

NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"

#: an X-User Assertion as the caller has it: the bytes of the signed saml2:Assertion, or the element
Assertion = Union[bytes, str, etree._Element]


class ConfiguredSession(requests.Session):
    """A ``requests.Session`` whose own ``verify`` (CA bundle) wins over ``REQUESTS_CA_BUNDLE`` /
    ``CURL_CA_BUNDLE``: plain requests lets those environment variables replace a session's CA
    bundle for every call that does not pass ``verify`` itself (zeep's transport does not)."""

    def merge_environment_settings(self, url, proxies, stream, verify, cert):  # noqa: D102
        merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None and self.verify is not True:
            merged["verify"] = self.verify
        return merged


def add_security_header(envelope: etree._Element, assertion: Assertion) -> etree._Element:
    """Put ``assertion`` (a signed saml2:Assertion) into a ``wsse:Security`` header of ``envelope``.

    The assertion is copied byte for byte (a signed element must not be re-serialized differently);
    no mustUnderstand, as in the eHealth Suisse samples (a gateway without XUA ignores the header).
    """
    from gateway.soap.xml import parse_xml
    if isinstance(assertion, etree._Element):
        # through bytes: tostring keeps the in-scope namespace declarations (xsi:type="xsd:...")
        data = etree.tostring(assertion, with_tail=False)
    else:
        data = assertion.encode("utf-8") if isinstance(assertion, str) else assertion
    element = parse_xml(data.strip())
    header = envelope.find(f"{{{NS_SOAP12}}}Header")
    if header is None:
        header = etree.Element(f"{{{NS_SOAP12}}}Header")
        envelope.insert(0, header)
    security = etree.SubElement(header, f"{{{NS_WSSE}}}Security", nsmap={"wsse": NS_WSSE})
    security.append(element)
    return security


class SoapFaultError(Exception):
    """The peer answered with a SOAP fault."""

    def __init__(self, code: str, reason: str, subcode: str | None, http_status: int,
                 detail: etree._Element | None = None, envelope: etree._Element | None = None) -> None:
        super().__init__(f"{code}{' / ' + subcode if subcode else ''}: {reason} (HTTP {http_status})")
        self.code = code
        self.reason = reason
        self.subcode = subcode
        self.http_status = http_status
        self.detail = detail
        self.envelope = envelope


class SoapTransportError(Exception):
    """The answer was not a SOAP message (wrong content type, malformed body, HTTP error page)."""

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


@dataclass(eq=False)
class SoapResponse:
    envelope: etree._Element
    body: etree._Element | None
    action: str | None
    relates_to: str | None
    attachments: dict[str, Attachment] = field(default_factory=dict)
    http_status: int = 200
    message_id: str | None = None

    def close(self) -> None:
        """Remove spooled attachment files."""
        for att in self.attachments.values():
            att.close()


def _header_text(envelope: etree._Element, local: str) -> str | None:
    el = envelope.find(f"{{{NS_SOAP12}}}Header/{{{NS_WSA}}}{local}")
    return el.text.strip() if el is not None and el.text else None


class SoapClient:
    """SOAP 1.2 over HTTP(S) with WS-Addressing and MTOM/XOP, on ``requests``.

    TLS: ``verify`` is the CA bundle (a PEM file path) the server's certificate must chain to
    (``True``: the system's); ``cert`` the client certificate for mutual TLS, ``(cert.pem, key.pem)``
    or one PEM file holding both. ``assertion``: a signed X-User Assertion (CH:XUA) sent in
    ``wsse:Security`` with every request; set :attr:`assertion` to renew it.
    """

    def __init__(self, url: str, timeout: float = 60, *, session: requests.Session | None = None,
                 spool_threshold: int = DEFAULT_SPOOL_THRESHOLD, verify: bool | str = True,
                 cert: str | tuple[str, str] | None = None, assertion: Assertion | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self.session = session or requests.Session()
        self.spool_threshold = spool_threshold
        self.verify = verify
        self.cert = cert
        self.assertion = assertion

    def call(self, action: str, body: etree._Element, attachments: Sequence[OutgoingAttachment] = (),
             mtom: bool = False, *, message_id: str | None = None) -> SoapResponse:
        """Send ``body`` with wsa:Action ``action``; return the reply or raise :class:`SoapFaultError`.

        ``body`` is moved into the envelope. With attachments (or ``mtom=True``) the request is
        MTOM; the body should then contain ``xop:Include`` elements
        (:func:`gateway.soap.envelope.xop_include`).
        """
        envelope = build_envelope(body, action, None, message_id or new_message_id(), to=self.url,
                                  reply_to=WSA_ANONYMOUS)
        if self.assertion is not None:
            add_security_header(envelope, self.assertion)
        message = encode_message(envelope, attachments, mtom=mtom, action=action)
        headers = {"Content-Type": message.content_type, "Content-Length": str(message.length),
                   "Accept": "application/soap+xml, multipart/related"}
        resp = self.session.post(self.url, data=message.body, headers=headers, timeout=self.timeout,
                                 stream=True, verify=self.verify, cert=self.cert)
        try:
            return self._read(resp)
        finally:
            resp.close()

    def _read(self, resp: requests.Response) -> SoapResponse:
        content_type = resp.headers.get("Content-Type")
        resp.raw.decode_content = True
        try:
            decoded = decode_message(content_type, resp.raw, threshold=self.spool_threshold)
        except SoapFault as exc:
            raise SoapTransportError(f"HTTP {resp.status_code}: not a SOAP 1.2 reply ({exc.reason})",
                                     resp.status_code) from None
        envelope = decoded.envelope
        fault = read_fault(envelope)
        if fault is not None:
            decoded.close()
            raise SoapFaultError(fault.code, fault.reason, fault.subcode, resp.status_code,
                                 fault.detail, envelope)
        body_el = envelope.find(f"{{{NS_SOAP12}}}Body")
        body = next((c for c in body_el if isinstance(c.tag, str)), None) if body_el is not None else None
        return SoapResponse(envelope=envelope, body=body, action=_header_text(envelope, "Action"),
                            relates_to=_header_text(envelope, "RelatesTo"),
                            attachments=decoded.attachments, http_status=resp.status_code,
                            message_id=_header_text(envelope, "MessageID"))
