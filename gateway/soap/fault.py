"""SOAP 1.2 faults: the exception handlers raise and the wire form it turns into.

A :class:`SoapFault` is raised anywhere in the SOAP layer or in a handler; the server turns it into
a SOAP 1.2 ``env:Fault`` envelope (with WS-Addressing headers, see
:func:`gateway.soap.envelope.fault_envelope`) and the HTTP status of the SOAP 1.2 HTTP binding:
400 for ``Sender``, 500 for ``Receiver``/``MustUnderstand``, 500 for ``VersionMismatch``.
"""
from __future__ import annotations

from typing import Literal

from lxml import etree

NS_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"

FaultCode = Literal["Sender", "Receiver", "VersionMismatch", "MustUnderstand", "DataEncodingUnknown"]

#: HTTP status per fault code, SOAP 1.2 part 2, table 20 (HTTP binding).
_HTTP_STATUS = {
    "Sender": 400,
    "Receiver": 500,
    "VersionMismatch": 500,
    "MustUnderstand": 500,
    "DataEncodingUnknown": 500,
}


class SoapFault(Exception):
    """A SOAP 1.2 fault.

    :param code: ``Sender`` or ``Receiver`` (or ``VersionMismatch``/``MustUnderstand`` for the
        layer's own checks).
    :param reason: human readable text for ``env:Reason/env:Text`` (never a stack trace).
    :param subcode: a QName, either Clark notation ``{ns}local`` or ``prefix:local`` text
        (the latter is written verbatim; the prefix must be declared by the envelope, e.g. ``wsa``).
    :param subsubcode: a QName nested below ``subcode`` (WS-Addressing's ``InvalidCardinality``
        below ``InvalidAddressingHeader``, for example); same notations.
    :param detail: an element placed inside ``env:Detail``.
    :param http_status: override of the status derived from the code (e.g. 413 for a body that is
        too large, 415 for a wrong media type).
    :param not_understood: QNames of the headers behind a ``MustUnderstand`` fault; written as
        ``env:NotUnderstood`` header blocks.
    """

    def __init__(self, code: str, reason: str, subcode: str | None = None,
                 detail: etree._Element | None = None, *, http_status: int | None = None,
                 not_understood: tuple[str, ...] = (), subsubcode: str | None = None) -> None:
        if code not in _HTTP_STATUS:
            raise ValueError(f"unknown SOAP 1.2 fault code {code!r}")
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.subcode = subcode
        if subsubcode and not subcode:
            raise ValueError("a subsubcode needs a subcode")
        self.subsubcode = subsubcode
        self.detail = detail
        self._http_status = http_status
        self.not_understood = not_understood

    @property
    def http_status(self) -> int:
        """The HTTP status the fault is sent with."""
        return self._http_status or _HTTP_STATUS[self.code]

    def __repr__(self) -> str:
        return f"SoapFault({self.code!r}, {self.reason!r}, subcode={self.subcode!r})"
