"""HL7 V3 message plumbing shared by PIX V3 and PDQ V3: namespaces, parsing helpers, the
transmission wrapper of responses (sender and receiver swapped), and acknowledgements.

Transport-free: works on lxml elements (the SOAP body's first child) and returns lxml elements.
"""
from __future__ import annotations

import copy
import datetime as _dt
import uuid
from dataclasses import dataclass, field
from typing import Iterable

from lxml import etree

from profiles.hl7v3.errors import (
    ACK_ACCEPT,
    DATA_TYPE_ERROR,
    DETAIL_ERROR,
    ERROR_CODE_SYSTEM,
    ERROR_NAMES,
    Hl7v3Error,
)
from profiles.hl7v3.messages_catalogue import M

HL7_NS = "urn:hl7-org:v3"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {None: HL7_NS}
NS = {"hl7": HL7_NS}

#: HL7 interaction code system.
INTERACTION_ROOT = "2.16.840.1.113883.1.6"

# Interactions
ADD = "PRPA_IN201301UV02"
REVISE = "PRPA_IN201302UV02"
DUPLICATES_RESOLVED = "PRPA_IN201304UV02"
PIX_QUERY = "PRPA_IN201309UV02"
PIX_RESPONSE = "PRPA_IN201310UV02"
PDQ_QUERY = "PRPA_IN201305UV02"
PDQ_RESPONSE = "PRPA_IN201306UV02"
CONTINUATION = "QUQI_IN000003UV01"
ACK = "MCCI_IN000002UV01"

#: wsa:Action of each interaction (ITI TF-2b 3.44/3.45/3.47, Appendix V).
ACTION_PREFIX = "urn:hl7-org:v3:"
ACTION_CANCEL = ACTION_PREFIX + "QUQI_IN000003UV01_Cancel"
ACTION_CONTINUE = ACTION_PREFIX + "QUQI_IN000003UV01_Continue"

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                          remove_comments=True, remove_pis=True)


def q(local: str) -> str:
    """Clark name of an element in the HL7 V3 namespace."""
    return f"{{{HL7_NS}}}{local}"


def parse(data: bytes) -> etree._Element:
    """Parse an HL7 V3 message from bytes (safe parser); MessageRejected if it is not XML."""
    try:
        return etree.fromstring(data, _PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise M.NOT_WELL_FORMED.error(reason=exc) from None


def child(el: etree._Element | None, *path: str) -> etree._Element | None:
    """The first element down ``path`` (local names in the HL7 namespace), or None."""
    for step in path:
        if el is None:
            return None
        el = el.find(q(step))
    return el


def children(el: etree._Element | None, local: str) -> list[etree._Element]:
    return [] if el is None else el.findall(q(local))


def text(el: etree._Element | None) -> str:
    """Whitespace-normalised text content of an element (mixed content flattened)."""
    if el is None:
        return ""
    return " ".join("".join(el.itertext()).split())


def local_name(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


@dataclass(frozen=True)
class II:
    """An HL7 V3 instance identifier."""
    root: str = ""
    extension: str = ""
    assigning_authority_name: str = ""
    null_flavor: str = ""


def read_ii(el: etree._Element | None) -> II | None:
    if el is None:
        return None
    return II(root=(el.get("root") or "").strip(), extension=(el.get("extension") or "").strip(),
              assigning_authority_name=el.get("assigningAuthorityName") or "",
              null_flavor=el.get("nullFlavor") or "")


def parse_ts_date(value: str | None, location: str) -> _dt.date | None:
    """An HL7 TS as a date (YYYYMMDD, more digits ignored); None when empty."""
    value = (value or "").strip()
    if not value:
        return None
    digits = value[:8]
    if len(digits) < 8 or not digits.isdigit():
        raise M.TIMESTAMP_FORMAT.error(location, value=value)
    try:
        return _dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise M.TIMESTAMP_INVALID.error(location, value=value) from None


def format_date(d: _dt.date) -> str:
    return d.strftime("%Y%m%d")


@dataclass(frozen=True)
class Device:
    """A sender or receiver device: its id plus the represented organisation, copied verbatim."""
    element: etree._Element | None


@dataclass(frozen=True)
class MessageHeader:
    """The transmission wrapper of a request."""
    interaction: str
    message_id: II | None
    interaction_id: str
    processing_code: str
    sender: etree._Element | None        # <device> of the sender
    receiver: etree._Element | None      # <device> of the receiver
    sender_id: str = ""

    @property
    def location_root(self) -> str:
        return f"/hl7:{self.interaction}"


def read_header(msg: etree._Element, expected: Iterable[str]) -> MessageHeader:
    """Check the root is one of ``expected`` HL7 V3 interactions and read the wrapper.

    MessageRejected (AR) when the message is not HL7 V3 or not an expected interaction.
    """
    expected = tuple(expected)
    if not isinstance(msg.tag, str) or etree.QName(msg).namespace != HL7_NS:
        raise M.NOT_HL7V3.error(expected=", ".join(expected), namespace=HL7_NS, tag=msg.tag)
    name = local_name(msg)
    if name not in expected:
        raise M.INTERACTION_UNSUPPORTED.error(name=name, expected=", ".join(expected))
    iid = child(msg, "interactionId")
    iid_ext = (iid.get("extension") if iid is not None else "") or ""
    if iid_ext and iid_ext != name:
        raise M.INTERACTION_ID_MISMATCH.error(f"/hl7:{name}/hl7:interactionId", interaction_id=iid_ext, name=name)
    proc = child(msg, "processingCode")
    sender = child(msg, "sender", "device")
    receiver = child(msg, "receiver", "device")
    sender_ii = read_ii(child(sender, "id")) if sender is not None else None
    return MessageHeader(interaction=name, message_id=read_ii(child(msg, "id")), interaction_id=iid_ext or name,
                         processing_code=(proc.get("code") if proc is not None else "") or "P",
                         sender=sender, receiver=receiver,
                         sender_id=(sender_ii.root + "^" + sender_ii.extension) if sender_ii else "")


@dataclass
class AckDetail:
    """One acknowledgementDetail."""
    text: str
    code: str = DATA_TYPE_ERROR
    location: str | None = None
    type_code: str = DETAIL_ERROR

    @classmethod
    def from_error(cls, err: Hl7v3Error) -> "AckDetail":
        return cls(text=err.text, code=err.code, location=err.location)


@dataclass
class ResponseContext:
    """Who we are when answering: our device id (and optional organisation id)."""
    device_oid: str
    organization_oid: str = ""
    extra: dict = field(default_factory=dict)


def _sub(parent: etree._Element, local: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{HL7_NS}}}{local}",
                            {k: v for k, v in attrs.items() if v is not None and v != ""})


def sub(parent: etree._Element, local: str, text_value: str | None = None, **attrs: str) -> etree._Element:
    """Append an HL7 V3 element with attributes (empty ones skipped) and optional text."""
    el = _sub(parent, local, **attrs)
    if text_value:
        el.text = text_value
    return el


def _device_copy(device: etree._Element | None, fallback_oid: str) -> etree._Element:
    if device is not None:
        return copy.deepcopy(device)
    dev = etree.Element(q("device"), classCode="DEV", determinerCode="INSTANCE")
    _sub(dev, "id", root=fallback_oid)
    return dev


def new_message(interaction: str, request: MessageHeader | None, ctx: ResponseContext) -> etree._Element:
    """A response wrapper: id, creationTime, interactionId, codes, and the request's sender as
    receiver and its receiver as sender (our device when the request did not name one)."""
    root = etree.Element(q(interaction), nsmap=NSMAP)
    root.set("ITSVersion", "XML_1.0")
    _sub(root, "id", root=ctx.device_oid, extension=str(uuid.uuid4()))
    _sub(root, "creationTime", value=_dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d%H%M%S"))
    _sub(root, "interactionId", root=INTERACTION_ROOT, extension=interaction)
    _sub(root, "processingCode", code=request.processing_code if request and request.processing_code in ("P", "D", "T") else "P")
    _sub(root, "processingModeCode", code="T")
    _sub(root, "acceptAckCode", code="NE")
    receiver = _sub(root, "receiver", typeCode="RCV")
    receiver.append(_device_copy(request.sender if request else None, "0.0"))
    sender = _sub(root, "sender", typeCode="SND")
    sender.append(_device_copy(request.receiver if request else None, ctx.device_oid))
    return root


def add_acknowledgement(msg: etree._Element, type_code: str, request: MessageHeader | None,
                        details: Iterable[AckDetail] = ()) -> etree._Element:
    ack = _sub(msg, "acknowledgement")
    _sub(ack, "typeCode", code=type_code)
    target = _sub(ack, "targetMessage")
    mid = request.message_id if request else None
    if mid is not None and (mid.root or mid.extension):
        _sub(target, "id", root=mid.root, extension=mid.extension)
    else:
        _sub(target, "id", nullFlavor="UNK")
    for d in details:
        det = _sub(ack, "acknowledgementDetail", typeCode=d.type_code)
        _sub(det, "code", code=d.code, codeSystem=ERROR_CODE_SYSTEM,
             displayName=ERROR_NAMES.get(d.code, ""))
        sub(det, "text", d.text)
        if d.location:
            sub(det, "location", d.location)
    return ack


def build_ack(request: MessageHeader | None, ctx: ResponseContext, type_code: str = ACK_ACCEPT,
              details: Iterable[AckDetail] = ()) -> etree._Element:
    """MCCI_IN000002UV01 answering ``request``."""
    msg = new_message(ACK, request, ctx)
    add_acknowledgement(msg, type_code, request, details)
    return msg


def header_or_none(msg: etree._Element | None) -> MessageHeader | None:
    """Best-effort wrapper of a message we reject, so the AR still names sender and message id."""
    if msg is None or not isinstance(msg.tag, str):
        return None
    try:
        sender = child(msg, "sender", "device")
        receiver = child(msg, "receiver", "device")
        return MessageHeader(interaction=local_name(msg), message_id=read_ii(child(msg, "id")),
                             interaction_id="", processing_code="P", sender=sender, receiver=receiver)
    except Exception:   # noqa: BLE001 - only used to decorate an error answer
        return None


def require(el: etree._Element | None, what: str, location: str) -> etree._Element:
    if el is None:
        raise M.MISSING.error(location, what=what)
    return el
