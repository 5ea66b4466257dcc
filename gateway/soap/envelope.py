"""SOAP 1.2 envelope and WS-Addressing 1.0: parsing requests, building replies and faults.

Everything here works on lxml elements; bytes and MIME are the business of :mod:`.message` and
:mod:`.mtom`. Attachments never enter the XML tree: the body keeps its ``xop:Include`` elements and
:meth:`SoapRequest.resolve_include` hands out the matching :class:`Attachment`.
"""
from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass, field
from typing import Iterable, Mapping
from urllib.parse import quote, unquote

from lxml import etree

from .attachments import Attachment, OutgoingAttachment
from .fault import NS_SOAP12, SoapFault

__all__ = [
    "NS_SOAP12", "NS_SOAP11", "NS_WSA", "NS_XOP", "NS_WSSE", "WSA_ANONYMOUS", "WSA_FAULT_ACTION",
    "SoapFault", "Attachment", "OutgoingAttachment", "SoapRequest", "SoapReply",
    "build_envelope", "fault_envelope", "parse_envelope", "check_must_understand", "xop_include",
    "cid_href", "cid_from_href", "new_message_id", "serialize",
]

NS_SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
NS_WSA = "http://www.w3.org/2005/08/addressing"
NS_XOP = "http://www.w3.org/2004/08/xop/include"
NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS_XML = "http://www.w3.org/XML/1998/namespace"
WSA_ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"
WSA_FAULT_ACTION = "http://www.w3.org/2005/08/addressing/soap/fault"

ROLE_NEXT = "http://www.w3.org/2003/05/soap-envelope/role/next"
ROLE_NONE = "http://www.w3.org/2003/05/soap-envelope/role/none"
ROLE_ULTIMATE = "http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver"

#: Header namespaces the SOAP layer processes itself (mustUnderstand is satisfied for them). The
#: WS-Security namespace is not among them: the pipeline's security seam claims it once it verifies it.
UNDERSTOOD_HEADER_NAMESPACES = frozenset({NS_WSA})

_NSMAP = {"soap": NS_SOAP12, "wsa": NS_WSA}


def _q(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}"


def new_message_id() -> str:
    """A fresh ``urn:uuid:`` message id."""
    return f"urn:uuid:{uuid.uuid4()}"


def cid_href(content_id: str) -> str:
    """The ``cid:`` URL for a Content-ID (RFC 2392: percent-encoded)."""
    return "cid:" + quote(content_id, safe="@.-_~!$&'()*+,;=")


def cid_from_href(href: str) -> str:
    """The Content-ID a ``cid:`` URL points at (``cid:`` stripped, percent-decoded)."""
    href = href.strip()
    if href[:4].lower() == "cid:":
        href = href[4:]
    return unquote(href)


def xop_include(content_id: str) -> etree._Element:
    """An ``<xop:Include href="cid:..."/>`` element to put where an attachment's bytes belong."""
    el = etree.Element(_q(NS_XOP, "Include"), nsmap={"xop": NS_XOP})
    el.set("href", cid_href(content_id))
    return el


def serialize(envelope: etree._Element) -> bytes:
    """UTF-8 bytes of an envelope, without XML declaration."""
    return etree.tostring(envelope, encoding="UTF-8", xml_declaration=False)


@dataclass(eq=False)
class SoapRequest:
    """A received SOAP 1.2 request, decoded and checked, ready for a handler."""

    envelope: etree._Element
    header: etree._Element | None
    body: etree._Element
    action: str
    message_id: str | None = None
    reply_to: str | None = None
    to: str | None = None
    attachments: dict[str, Attachment] = field(default_factory=dict)
    remote_addr: str | None = None
    raw_headers: Mapping[str, str] = field(default_factory=dict)
    mtom: bool = False

    def attachment(self, content_id_or_href: str) -> Attachment:
        """The attachment for a Content-ID or a ``cid:`` href; unknown -> ``SoapFault`` Sender."""
        cid = cid_from_href(content_id_or_href)
        att = self.attachments.get(cid)
        if att is None:
            # Content-IDs that themselves contain %xx: try the href undecoded as well.
            raw = content_id_or_href.strip()
            att = self.attachments.get(raw[4:] if raw[:4].lower() == "cid:" else raw)
        if att is None:
            raise SoapFault("Sender", f"no MIME part with Content-ID {cid!r} in the message")
        return att

    def resolve_include(self, element: etree._Element) -> Attachment | bytes:
        """The content of an element that is, or holds, ``xop:Include`` -- or inline base64 text.

        Returns the :class:`Attachment` for an include, the decoded bytes for base64 text.
        """
        include = element if element.tag == _q(NS_XOP, "Include") else element.find(_q(NS_XOP, "Include"))
        if include is not None:
            href = include.get("href")
            if not href:
                raise SoapFault("Sender", "xop:Include without href")
            return self.attachment(href)
        text = "".join(element.itertext())
        try:
            return base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise SoapFault("Sender", f"{etree.QName(element).localname}: neither xop:Include nor base64 content") from None

    def close(self) -> None:
        """Release spooled attachments."""
        for att in self.attachments.values():
            att.close()


@dataclass(frozen=True)
class RawXml:
    """A reply body that is already XML text: one element, UTF-8, no XML declaration, carrying its
    own namespace declarations. The server splices it into the envelope without parsing it again
    (ITI-18 LeafClass answers are built from the stored metadata text)."""

    data: bytes


_EMPTY_BODY = b"<soap:Body/>"


def serialize_with_body(envelope: etree._Element, body: RawXml) -> bytes:
    """Serialize ``envelope`` (built with an empty Body) with ``body`` as the Body's child."""
    xml = serialize(envelope)
    if xml.count(_EMPTY_BODY) != 1:
        raise ValueError("envelope must have exactly one empty soap:Body")
    return xml.replace(_EMPTY_BODY, b"<soap:Body>" + body.data + b"</soap:Body>", 1)


@dataclass
class SoapReply:
    """What a handler returns: the body element, the response wsa:Action, attachments to send.

    The body holds ``xop:Include`` elements (see :func:`xop_include`) where attachments go.
    ``mtom``: ``True``/``False`` forces the packaging; ``None`` chooses MTOM if there are
    attachments or the request was MTOM (IHE ITI-43 expects MTOM both ways).
    """

    body: etree._Element | RawXml
    action: str
    attachments: list[OutgoingAttachment] = field(default_factory=list)
    mtom: bool | None = None


def _text(parent: etree._Element | None, ns: str, local: str) -> str | None:
    if parent is None:
        return None
    el = parent.find(_q(ns, local))
    if el is None or el.text is None:
        return None
    return el.text.strip()


def check_must_understand(header: etree._Element | None,
                          understood: Iterable[str] = UNDERSTOOD_HEADER_NAMESPACES) -> None:
    """Raise a ``MustUnderstand`` fault for header blocks targeted at us that we do not process."""
    if header is None:
        return
    understood = set(understood)
    missing: list[str] = []
    for block in header:
        if not isinstance(block.tag, str):
            continue
        mu = (block.get(_q(NS_SOAP12, "mustUnderstand")) or "").strip()
        if mu not in ("true", "1"):
            continue
        role = (block.get(_q(NS_SOAP12, "role")) or ROLE_ULTIMATE).strip()
        if role not in (ROLE_ULTIMATE, ROLE_NEXT):
            continue
        if etree.QName(block).namespace not in understood:
            missing.append(block.tag)
    if missing:
        raise SoapFault("MustUnderstand",
                        "header block(s) not understood: " + ", ".join(missing),
                        not_understood=tuple(missing))


#: The message addressing properties a message carries at most once (WS-Addressing 1.0 Core, 3.1);
#: wsa:RelatesTo may repeat.
_SINGLE_WSA_HEADERS = tuple(_q(NS_WSA, n) for n in ("To", "From", "ReplyTo", "FaultTo", "Action", "MessageID"))


def _check_addressing_cardinality(header: etree._Element | None) -> None:
    """A repeated wsa:Action, wsa:MessageID... is refused (WS-Addressing 1.0 SOAP Binding 6.4.1:
    ``wsa:InvalidAddressingHeader`` / ``wsa:InvalidCardinality`` naming the header)."""
    if header is None:
        return
    seen: set[str] = set()
    for block in header:
        tag = block.tag
        if tag in _SINGLE_WSA_HEADERS:
            if tag in seen:
                local = etree.QName(tag).localname
                detail = etree.Element(_q(NS_WSA, "ProblemHeaderQName"), nsmap={"wsa": NS_WSA})
                detail.text = f"wsa:{local}"
                raise SoapFault("Sender", f"the wsa:{local} header occurs more than once",
                                subcode=_q(NS_WSA, "InvalidAddressingHeader"),
                                subsubcode=_q(NS_WSA, "InvalidCardinality"), detail=detail)
            seen.add(tag)


def parse_envelope(root: etree._Element, *, attachments: dict[str, Attachment] | None = None,
                   remote_addr: str | None = None, raw_headers: Mapping[str, str] | None = None,
                   mtom: bool = False, require_action: bool = True) -> SoapRequest:
    """Check the envelope structure and read the WS-Addressing headers into a :class:`SoapRequest`.

    Faults: SOAP 1.1 envelope -> ``VersionMismatch``; not an envelope, no Body, empty Body, no
    wsa:Action (when required), a repeated addressing header -> ``Sender``. mustUnderstand is *not*
    checked here (see :func:`check_must_understand`).
    """
    if not isinstance(root.tag, str):
        raise SoapFault("Sender", "not a SOAP envelope")
    qn = etree.QName(root)
    if qn.localname == "Envelope" and qn.namespace == NS_SOAP11:
        raise SoapFault("VersionMismatch", "SOAP 1.1 envelope received; this endpoint speaks SOAP 1.2")
    if root.tag != _q(NS_SOAP12, "Envelope"):
        if qn.localname == "Envelope":
            raise SoapFault("VersionMismatch", f"unknown envelope namespace {qn.namespace!r}")
        raise SoapFault("Sender", "not a SOAP envelope")
    header = None
    body_el = None
    for child in root:
        if not isinstance(child.tag, str):
            continue
        if child.tag == _q(NS_SOAP12, "Header") and header is None and body_el is None:
            header = child
        elif child.tag == _q(NS_SOAP12, "Body") and body_el is None:
            body_el = child
        else:
            raise SoapFault("Sender", f"unexpected element {child.tag} in the envelope")
    if body_el is None:
        raise SoapFault("Sender", "SOAP envelope without Body")
    body = next((c for c in body_el if isinstance(c.tag, str)), None)
    if body is None:
        raise SoapFault("Sender", "empty SOAP Body")
    _check_addressing_cardinality(header)
    action = _text(header, NS_WSA, "Action")
    if not action and require_action:
        raise SoapFault("Sender", "wsa:Action header missing",
                        subcode=_q(NS_WSA, "MessageAddressingHeaderRequired"))
    reply_to_el = header.find(_q(NS_WSA, "ReplyTo")) if header is not None else None
    return SoapRequest(
        envelope=root, header=header, body=body, action=action or "",
        message_id=_text(header, NS_WSA, "MessageID"),
        reply_to=_text(reply_to_el, NS_WSA, "Address"),
        to=_text(header, NS_WSA, "To"),
        attachments=dict(attachments or {}), remote_addr=remote_addr,
        raw_headers=dict(raw_headers or {}), mtom=mtom,
    )


def build_envelope(body: etree._Element | None, action: str, relates_to: str | None = None,
                   message_id: str | None = None, *, to: str | None = WSA_ANONYMOUS,
                   reply_to: str | None = None) -> etree._Element:
    """A SOAP 1.2 envelope around ``body`` (moved into it) with WS-Addressing headers.

    wsa:Action (mustUnderstand), wsa:MessageID (fresh ``urn:uuid`` unless given), wsa:RelatesTo
    when ``relates_to``, wsa:To (anonymous by default, as in a reply on the back channel; a client
    passes the endpoint URL), wsa:ReplyTo when ``reply_to``.
    """
    env = etree.Element(_q(NS_SOAP12, "Envelope"), nsmap=_NSMAP)
    header = etree.SubElement(env, _q(NS_SOAP12, "Header"))
    act = etree.SubElement(header, _q(NS_WSA, "Action"))
    act.set(_q(NS_SOAP12, "mustUnderstand"), "true")
    act.text = action
    etree.SubElement(header, _q(NS_WSA, "MessageID")).text = message_id or new_message_id()
    if relates_to:
        etree.SubElement(header, _q(NS_WSA, "RelatesTo")).text = relates_to
    if reply_to:
        rt = etree.SubElement(header, _q(NS_WSA, "ReplyTo"))
        etree.SubElement(rt, _q(NS_WSA, "Address")).text = reply_to
    if to:
        etree.SubElement(header, _q(NS_WSA, "To")).text = to
    body_el = etree.SubElement(env, _q(NS_SOAP12, "Body"))
    if body is not None:
        body_el.append(body)
    return env


def _subcode_value(parent: etree._Element, subcode: str) -> None:
    value = etree.SubElement(parent, _q(NS_SOAP12, "Value"))
    if subcode.startswith("{"):
        ns, local = subcode[1:].split("}", 1)
        prefix = next((p for p, u in _NSMAP.items() if u == ns), None)
        if prefix is None:
            prefix = "sc"
            # Re-create the Value element with the prefix declared on it.
            parent.remove(value)
            value = etree.SubElement(parent, _q(NS_SOAP12, "Value"), nsmap={prefix: ns})
        value.text = f"{prefix}:{local}"
    else:
        value.text = subcode


def fault_envelope(fault: SoapFault, relates_to: str | None,
                   action: str = WSA_FAULT_ACTION, message_id: str | None = None) -> etree._Element:
    """The SOAP 1.2 fault envelope for ``fault``, with wsa:Action/MessageID/RelatesTo headers."""
    env = build_envelope(None, action, relates_to, message_id)
    header = env[0]
    for qname in fault.not_understood:
        ns, local = qname[1:].split("}", 1) if qname.startswith("{") else ("", qname)
        nu = etree.SubElement(header, _q(NS_SOAP12, "NotUnderstood"), nsmap={"nu": ns} if ns else None)
        nu.set("qname", f"nu:{local}" if ns else local)
    f = etree.SubElement(env[1], _q(NS_SOAP12, "Fault"))
    code = etree.SubElement(f, _q(NS_SOAP12, "Code"))
    etree.SubElement(code, _q(NS_SOAP12, "Value")).text = f"soap:{fault.code}"
    if fault.subcode:
        sub = etree.SubElement(code, _q(NS_SOAP12, "Subcode"))
        _subcode_value(sub, fault.subcode)
        if fault.subsubcode:
            _subcode_value(etree.SubElement(sub, _q(NS_SOAP12, "Subcode")), fault.subsubcode)
    reason = etree.SubElement(f, _q(NS_SOAP12, "Reason"))
    text = etree.SubElement(reason, _q(NS_SOAP12, "Text"))
    text.set(_q(NS_XML, "lang"), "en")
    text.text = fault.reason
    if fault.detail is not None:
        etree.SubElement(f, _q(NS_SOAP12, "Detail")).append(fault.detail)
    return env


@dataclass
class FaultInfo:
    """A fault read back from an envelope (client side, tests)."""

    code: str
    subcode: str | None          # Clark notation when the prefix resolves
    reason: str
    detail: etree._Element | None
    subsubcode: str | None = None


def read_fault(envelope: etree._Element) -> FaultInfo | None:
    """The fault in an envelope's Body, or ``None`` when the Body is not a fault."""
    f = envelope.find(f"{_q(NS_SOAP12, 'Body')}/{_q(NS_SOAP12, 'Fault')}")
    if f is None:
        return None

    def resolve(el: etree._Element | None) -> str | None:
        if el is None or not el.text:
            return None
        txt = el.text.strip()
        prefix, _, local = txt.rpartition(":")
        ns = el.nsmap.get(prefix or None)
        return _q(ns, local) if ns else txt

    code_v = f.find(f"{_q(NS_SOAP12, 'Code')}/{_q(NS_SOAP12, 'Value')}")
    sub_v = f.find(f"{_q(NS_SOAP12, 'Code')}/{_q(NS_SOAP12, 'Subcode')}/{_q(NS_SOAP12, 'Value')}")
    subsub_v = f.find(f"{_q(NS_SOAP12, 'Code')}/{_q(NS_SOAP12, 'Subcode')}/{_q(NS_SOAP12, 'Subcode')}"
                      f"/{_q(NS_SOAP12, 'Value')}")
    code = resolve(code_v) or ""
    code = code.rpartition("}")[2] if code.startswith("{") else code.rpartition(":")[2]
    reason = f.find(f"{_q(NS_SOAP12, 'Reason')}/{_q(NS_SOAP12, 'Text')}")
    detail = f.find(_q(NS_SOAP12, "Detail"))
    return FaultInfo(code=code, subcode=resolve(sub_v),
                     reason=(reason.text or "").strip() if reason is not None else "",
                     detail=detail[0] if detail is not None and len(detail) else None,
                     subsubcode=resolve(subsub_v))
