"""The SOAP 1.2 HTTP binding: from (Content-Type, body stream) to an envelope and back.

Shared by the server and :mod:`gateway.clients.soap`: plain ``application/soap+xml`` or MTOM
(``multipart/related; type="application/xop+xml"``) in both directions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO, Iterator, Sequence

from lxml import etree

from .attachments import DEFAULT_SPOOL_THRESHOLD, Attachment, OutgoingAttachment
from .envelope import RawXml, SoapReply, build_envelope, serialize, serialize_with_body
from .fault import SoapFault
from .mtom import SOAP12_TYPE, XOP_TYPE, MtomBody, decode_mtom, parse_content_type
from .xml import parse_xml

PLAIN_CONTENT_TYPE = "application/soap+xml; charset=UTF-8"


@dataclass
class DecodedMessage:
    """An envelope off the wire, with the MIME parts around it (empty unless MTOM)."""

    envelope: etree._Element
    attachments: dict[str, Attachment] = field(default_factory=dict)
    mtom: bool = False

    def close(self) -> None:
        for att in self.attachments.values():
            att.close()


def classify_content_type(content_type: str | None) -> str:
    """``"soap"``, ``"mtom"``, or raise the fault for anything this SOAP 1.2 node does not take.

    ``text/xml`` (SOAP 1.1) -> VersionMismatch, other types -> Sender; both with HTTP 415.
    """
    ctype, params = parse_content_type(content_type)
    if ctype == SOAP12_TYPE:
        return "soap"
    if ctype == "multipart/related":
        inner = params.get("type", "").strip().lower()
        if inner == XOP_TYPE:
            return "mtom"
        if inner == SOAP12_TYPE:
            return "mtom"  # SwA-style packaging of a SOAP 1.2 envelope: same decoder
        raise SoapFault("Sender", f"multipart/related with type {inner!r}: expected {XOP_TYPE!r}",
                        http_status=415)
    if ctype == "text/xml":
        raise SoapFault("VersionMismatch",
                        "SOAP 1.1 (text/xml) is not supported: send SOAP 1.2 (application/soap+xml)",
                        http_status=415)
    raise SoapFault("Sender", f"unsupported media type {ctype or '(none)'!r}: expected "
                    f"{SOAP12_TYPE!r} or multipart/related; type={XOP_TYPE!r}", http_status=415)


def decode_message(content_type: str | None, stream: BinaryIO, *,
                   threshold: int = DEFAULT_SPOOL_THRESHOLD, spool_dir: str | None = None,
                   max_size: int | None = None) -> DecodedMessage:
    """Read a SOAP message body (plain or MTOM) from ``stream``; faults for anything malformed."""
    kind = classify_content_type(content_type)
    if kind == "soap":
        return DecodedMessage(parse_xml(stream))
    msg = decode_mtom(stream, content_type or "", threshold=threshold, spool_dir=spool_dir,
                      max_size=max_size)
    try:
        with msg.root.open() as fh:
            envelope = parse_xml(fh)
    except BaseException:
        msg.close()
        raise
    finally:
        msg.root.close()
    return DecodedMessage(envelope, msg.attachments, mtom=True)


@dataclass
class EncodedMessage:
    """A message ready to send: headers and a lazily produced body of known length."""

    content_type: str
    length: int
    _body: bytes | MtomBody

    def chunks(self) -> Iterator[bytes]:
        if isinstance(self._body, bytes):
            yield self._body
        else:
            yield from self._body

    @property
    def body(self) -> bytes | MtomBody:
        """``bytes`` or a file-like :class:`MtomBody` (has ``read`` and ``len``)."""
        return self._body


def encode_message(envelope: etree._Element, attachments: Sequence[OutgoingAttachment] = (),
                   mtom: bool = False, action: str | None = None, raw_body: RawXml | None = None) -> EncodedMessage:
    """Serialize an envelope, as MTOM when ``mtom`` or when there are attachments.

    ``raw_body``: a body already serialized, spliced into the envelope's empty soap:Body.
    """
    xml = serialize(envelope) if raw_body is None else serialize_with_body(envelope, raw_body)
    if not mtom and not attachments:
        return EncodedMessage(PLAIN_CONTENT_TYPE, len(xml), xml)
    body = MtomBody(xml, attachments, action=action)
    return EncodedMessage(body.content_type, body.length, body)


def encode_reply(reply: SoapReply, relates_to: str, *, request_was_mtom: bool = False) -> EncodedMessage:
    """A handler's reply on the wire: WS-Addressing headers, MTOM when it has attachments (or was
    asked for MTOM, or the request was MTOM and the reply does not say), a ``RawXml`` body spliced."""
    mtom = reply.mtom if reply.mtom is not None else bool(reply.attachments) or request_was_mtom
    raw = reply.body if isinstance(reply.body, RawXml) else None
    envelope = build_envelope(None if raw else reply.body, reply.action, relates_to)
    return encode_message(envelope, reply.attachments, mtom=mtom, action=reply.action, raw_body=raw)
