"""The gateway's own SOAP 1.2 layer (see docs/decisions/001-own-soap-layer.md).

Modules: ``xml`` (hardened parser), ``fault`` (SoapFault), ``envelope`` (SOAP 1.2 + WS-Addressing,
request/reply types), ``attachments`` (spooled, hashed MIME parts), ``mtom`` (MTOM/XOP codec),
``message`` (the HTTP binding: content types <-> envelopes). The server is ``gateway.server``,
the client ``gateway.clients.soap``.
"""
from .attachments import Attachment, OutgoingAttachment
from .envelope import (NS_SOAP12, NS_WSA, NS_XOP, SoapReply, SoapRequest, build_envelope, fault_envelope,
                       xop_include)
from .fault import SoapFault
from .xml import parse_xml

__all__ = ["Attachment", "OutgoingAttachment", "NS_SOAP12", "NS_WSA", "NS_XOP", "SoapReply", "SoapRequest",
           "SoapFault", "build_envelope", "fault_envelope", "xop_include", "parse_xml"]
